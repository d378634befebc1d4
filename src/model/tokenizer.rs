//! The caption tokenizer: BERT's WordPiece, as Hugging Face's `BertTokenizerFast` does it, through the
//! `tokenizers` crate (no Python).
//!
//! The reference's collate function calls
//! `tokenizer(captions, padding="max_length", max_length=30, truncation=True)`: every caption becomes
//! `[CLS] … [SEP]`, cut to `max_len` tokens (the `[SEP]` kept) and padded with `[PAD]` to exactly
//! `max_len`. [`CaptionTokenizer::encode_batch`] gives the same ids, attention mask and token type ids.
//!
//! A tokenizer comes from a Hugging Face tokenizer directory ([`CaptionTokenizer::from_dir`]: its
//! `tokenizer.json`, else its `vocab.txt`, with `tokenizer_config.json`'s `do_lower_case`,
//! `strip_accents` and `tokenize_chinese_chars` applied as transformers applies them), or from one file
//! ([`CaptionTokenizer::from_vocab`], [`CaptionTokenizer::from_tokenizer_json`]).

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use clap_tools_backends::burn;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{
    AddedToken, PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use crate::error::{Error, Result};

/// The caption length of the reference (`max_length=30`).
pub const DEFAULT_MAX_LEN: usize = 30;

/// The longest word WordPiece splits; a longer one becomes `[UNK]` (BERT's `max_input_chars_per_word`).
pub const MAX_INPUT_CHARS_PER_WORD: usize = 100;

const CLS: &str = "[CLS]";
const SEP: &str = "[SEP]";
const PAD: &str = "[PAD]";
const UNK: &str = "[UNK]";
const MASK: &str = "[MASK]";

/// Token ids of a batch of captions, row-major `[batch, seq_len]`, as the model takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub ids: Vec<i64>,
    /// 1 for a real token, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// 0 everywhere for single captions.
    pub token_type_ids: Vec<i64>,
    pub batch: usize,
    pub seq_len: usize,
}

impl Tokens {
    /// The ids of caption `i` (panics, like slice indexing, if `i >= batch`).
    pub fn row(&self, i: usize) -> &[i64] {
        &self.ids[i * self.seq_len..(i + 1) * self.seq_len]
    }

    /// The attention mask of caption `i` (panics if `i >= batch`).
    pub fn mask_row(&self, i: usize) -> &[i64] {
        &self.attention_mask[i * self.seq_len..(i + 1) * self.seq_len]
    }

    /// Captions `rows` only (panics if the range passes `batch`).
    pub fn rows(&self, rows: std::ops::Range<usize>) -> Tokens {
        let span = rows.start * self.seq_len..rows.end * self.seq_len;
        Tokens {
            ids: self.ids[span.clone()].to_vec(),
            attention_mask: self.attention_mask[span.clone()].to_vec(),
            token_type_ids: self.token_type_ids[span].to_vec(),
            batch: rows.len(),
            seq_len: self.seq_len,
        }
    }

    /// `(input_ids, attention_mask, token_type_ids)` as `[batch, seq_len]` integer tensors on `device`.
    pub fn to_tensors<B: Backend>(
        &self,
        device: &B::Device,
    ) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
        let shape = [self.batch, self.seq_len];
        let t = |v: &Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v.clone(), shape), device);
        (t(&self.ids), t(&self.attention_mask), t(&self.token_type_ids))
    }
}

/// Options of BERT's normaliser, as `tokenizer_config.json` states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NormOptions {
    lowercase: bool,
    strip_accents: Option<bool>,
    chinese_chars: bool,
}

/// WordPiece tokenizer for captions, padded and truncated to a fixed length.
#[derive(Clone)]
pub struct CaptionTokenizer {
    tokenizer: Tokenizer,
    max_len: usize,
    source: PathBuf,
}

impl std::fmt::Debug for CaptionTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptionTokenizer")
            .field("source", &self.source)
            .field("max_len", &self.max_len)
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

impl CaptionTokenizer {
    /// From a Hugging Face tokenizer directory: `tokenizer.json` if it is there, else `vocab.txt`. The
    /// options of `tokenizer_config.json` (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`)
    /// override those of the files, as in transformers; without them the tokenizer is uncased.
    pub fn from_dir(dir: &Path, max_len: usize) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::file(dir, "tokenizer directory not found"));
        }
        let options = read_tokenizer_config(&dir.join("tokenizer_config.json"))?;
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        if json.is_file() {
            let mut tok = Self::from_tokenizer_json(&json, max_len)?;
            if let Some(opts) = options {
                tok.override_normalizer(opts);
            }
            Ok(tok)
        } else if vocab.is_file() {
            let opts = options.unwrap_or(NormOptions { lowercase: true, strip_accents: None, chinese_chars: true });
            Self::build_from_vocab(&vocab, opts, max_len)
        } else {
            Err(Error::file(dir, "no tokenizer.json or vocab.txt in the tokenizer directory"))
        }
    }

    /// From a BERT `vocab.txt` (one token a line, the line number is the id), as `BertTokenizerFast`
    /// builds it: BERT normaliser (`lowercase` also strips accents), BERT pre-tokenizer, WordPiece with
    /// `[UNK]` and `##` continuations, `[CLS] … [SEP]`.
    pub fn from_vocab(path: &Path, lowercase: bool, max_len: usize) -> Result<Self> {
        Self::build_from_vocab(path, NormOptions { lowercase, strip_accents: None, chinese_chars: true }, max_len)
    }

    /// From a `tokenizer.json` of the `tokenizers` library (as `save_pretrained` writes it). Its own
    /// truncation and padding settings are replaced by truncation and padding to `max_len`.
    pub fn from_tokenizer_json(path: &Path, max_len: usize) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::file(path, "tokenizer.json not found"));
        }
        let tokenizer =
            Tokenizer::from_file(path).map_err(|e| Error::file(path, format!("cannot read tokenizer: {e}")))?;
        let pad_token = tokenizer.get_padding().map(|p| p.pad_token.clone()).unwrap_or_else(|| PAD.to_string());
        Self::finish(tokenizer, path, &pad_token, max_len)
    }

    fn build_from_vocab(path: &Path, opts: NormOptions, max_len: usize) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::file(path, "vocabulary file not found"));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        // One token a line, the id is the line number (as transformers 5 reads it, through tokenizers).
        let vocab =
            WordPiece::read_bytes(&bytes).map_err(|e| Error::file(path, format!("cannot read vocabulary: {e}")))?;
        if vocab.is_empty() {
            return Err(Error::file(path, "empty vocabulary"));
        }
        let missing: Vec<&str> = [CLS, SEP, PAD, UNK].into_iter().filter(|t| !vocab.contains_key(*t)).collect();
        if !missing.is_empty() {
            return Err(Error::file(path, format!("the vocabulary lacks the special token(s) {}", missing.join(", "))));
        }
        let (cls, sep) = (vocab[CLS], vocab[SEP]);
        let has_mask = vocab.contains_key(MASK);
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token(UNK.to_string())
            .continuing_subword_prefix("##".to_string())
            .max_input_chars_per_word(MAX_INPUT_CHARS_PER_WORD)
            .build()
            .map_err(|e| Error::file(path, format!("cannot build WordPiece: {e}")))?;
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_normalizer(Some(bert_normalizer(opts)));
        tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
        tokenizer.with_post_processor(Some(BertProcessing::new((SEP.to_string(), sep), (CLS.to_string(), cls))));
        // transformers registers the special tokens as added tokens: written literally in a caption
        // (case-sensitive, before normalisation) they are kept whole.
        let mut specials: Vec<AddedToken> = [PAD, UNK, CLS, SEP].iter().map(|t| AddedToken::from(*t, true)).collect();
        if has_mask {
            specials.push(AddedToken::from(MASK, true));
        }
        tokenizer.add_special_tokens(&specials);
        Self::finish(tokenizer, path, PAD, max_len)
    }

    fn finish(mut tokenizer: Tokenizer, path: &Path, pad_token: &str, max_len: usize) -> Result<Self> {
        if max_len < 2 {
            return Err(Error::config("max_tokens", format!("{max_len} tokens leave no room for [CLS] and [SEP]")));
        }
        let pad_id = tokenizer
            .token_to_id(pad_token)
            .ok_or_else(|| Error::file(path, format!("the vocabulary lacks the padding token {pad_token}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| Error::file(path, format!("cannot truncate to {max_len} tokens: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_len),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token: pad_token.to_string(),
        }));
        Ok(Self { tokenizer, max_len, source: path.to_path_buf() })
    }

    fn override_normalizer(&mut self, opts: NormOptions) {
        if let Some(NormalizerWrapper::BertNormalizer(n)) = self.tokenizer.get_normalizer() {
            let mut new = bert_normalizer(opts);
            new.clean_text = n.clean_text;
            self.tokenizer.with_normalizer(Some(new));
        }
    }

    /// Tokens per caption (padding included).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Number of ids, added tokens included: the model's embedding table must have at least this many
    /// rows.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The token of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// The file the tokenizer was built from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Tokenise captions: `[CLS] … [SEP]`, truncated and padded to exactly [`max_len`](Self::max_len)
    /// tokens.
    pub fn encode_batch(&self, captions: &[&str]) -> Result<Tokens> {
        let inputs: Vec<&str> = captions.to_vec();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| Error::file(&self.source, format!("cannot tokenise captions: {e}")))?;
        let seq_len = self.max_len;
        let mut tokens = Tokens {
            ids: Vec::with_capacity(captions.len() * seq_len),
            attention_mask: Vec::with_capacity(captions.len() * seq_len),
            token_type_ids: Vec::with_capacity(captions.len() * seq_len),
            batch: captions.len(),
            seq_len,
        };
        for (enc, caption) in encodings.iter().zip(captions) {
            if enc.get_ids().len() != seq_len {
                return Err(Error::Internal(format!(
                    "caption {caption:?} gave {} tokens instead of {seq_len}",
                    enc.get_ids().len()
                )));
            }
            tokens.ids.extend(enc.get_ids().iter().map(|&v| v as i64));
            tokens.attention_mask.extend(enc.get_attention_mask().iter().map(|&v| v as i64));
            tokens.token_type_ids.extend(enc.get_type_ids().iter().map(|&v| v as i64));
        }
        Ok(tokens)
    }
}

fn bert_normalizer(opts: NormOptions) -> BertNormalizer {
    BertNormalizer::new(true, opts.chinese_chars, opts.strip_accents, opts.lowercase)
}

/// The normaliser options of `tokenizer_config.json`, if the file exists (`None` without the file).
fn read_tokenizer_config(path: &Path) -> Result<Option<NormOptions>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::file(path, format!("not valid JSON: {e}")))?;
    let bool_key = |key: &str, default: Option<bool>| -> Result<Option<bool>> {
        match value.get(key) {
            None | Some(serde_json::Value::Null) => Ok(default),
            Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::file(path, format!("{key:?} must be true, false or null, not {other}"))),
        }
    };
    Ok(Some(NormOptions {
        lowercase: bool_key("do_lower_case", Some(true))?.unwrap_or(true),
        strip_accents: bool_key("strip_accents", None)?,
        chinese_chars: bool_key("tokenize_chinese_chars", Some(true))?.unwrap_or(true),
    }))
}
