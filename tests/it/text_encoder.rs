//! Parity of the text side with the Hugging Face reference: the caption tokenizer against
//! `BertTokenizerFast(..., padding="max_length", max_length=30, truncation=True)`, and BERT against
//! `transformers.BertModel`, on fixtures that tests/fixtures/model/text.py generates (no torch here).
//! Also the errors a user sees for bad vocabularies, configs and weight files.

use std::path::{Path, PathBuf};

use clap_tools::model::bert::{self, Bert, BertConfig};
use clap_tools::model::tokenizer::{CaptionTokenizer, Tokens};
use clap_tools::model::weights::{self, Layout};
use clap_tools_backends::burn::tensor::{Int, Tensor, TensorData};
use clap_tools_backends::Cpu;
use serde_json::Value;

type B = Cpu;

const MAX_LEN: usize = 30;
/// Largest allowed |burn - transformers| over the outputs (float32 on both sides).
const TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/text")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn int_rows(v: &Value) -> Vec<Vec<i64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|r| r.as_array().expect("row").iter().map(|x| x.as_i64().expect("int")).collect())
        .collect()
}

struct CaptionFixture {
    captions: Vec<String>,
    ids: Vec<Vec<i64>>,
    mask: Vec<Vec<i64>>,
    types: Vec<Vec<i64>>,
}

fn caption_fixture() -> CaptionFixture {
    let v = read_json(&fixtures().join("captions.json"));
    assert_eq!(v["max_length"].as_u64(), Some(MAX_LEN as u64));
    let captions: Vec<String> =
        v["captions"].as_array().expect("captions").iter().map(|c| c.as_str().expect("str").to_string()).collect();
    let f = CaptionFixture {
        captions,
        ids: int_rows(&v["input_ids"]),
        mask: int_rows(&v["attention_mask"]),
        types: int_rows(&v["token_type_ids"]),
    };
    assert!(f.captions.len() >= 200);
    assert_eq!(f.ids.len(), f.captions.len());
    f
}

/// Every caption's ids, attention mask and token types must equal the fixture's.
fn assert_matches_fixture(tok: &CaptionTokenizer) {
    let f = caption_fixture();
    let refs: Vec<&str> = f.captions.iter().map(String::as_str).collect();
    let tokens = tok.encode_batch(&refs).expect("encode");
    assert_eq!((tokens.batch, tokens.seq_len), (f.captions.len(), MAX_LEN));
    let mut bad = Vec::new();
    for i in 0..tokens.batch {
        let row = |v: &Vec<i64>| v[i * MAX_LEN..(i + 1) * MAX_LEN].to_vec();
        if row(&tokens.ids) != f.ids[i]
            || row(&tokens.attention_mask) != f.mask[i]
            || row(&tokens.token_type_ids) != f.types[i]
        {
            let pieces: Vec<String> =
                row(&tokens.ids).iter().map(|&id| tok.id_to_token(id as u32).unwrap_or_default()).collect();
            bad.push(format!(
                "caption {i} {:?}:\n  got      {:?} {:?}\n  expected {:?} {:?}\n  pieces   {pieces:?}",
                f.captions[i],
                row(&tokens.ids),
                row(&tokens.attention_mask),
                f.ids[i],
                f.mask[i]
            ));
        }
    }
    assert!(bad.is_empty(), "{} of {} captions differ from transformers:\n{}", bad.len(), tokens.batch, bad.join("\n"));
}

#[test]
fn tokenizer_from_vocab_txt_matches_transformers() {
    let tok = CaptionTokenizer::from_vocab(&fixtures().join("tokenizer/vocab.txt"), true, MAX_LEN).expect("tokenizer");
    assert_eq!(tok.max_len(), MAX_LEN);
    assert_eq!(tok.vocab_size(), 1000);
    assert_matches_fixture(&tok);
}

#[test]
fn tokenizer_from_tokenizer_json_matches_transformers() {
    let tok = CaptionTokenizer::from_tokenizer_json(&fixtures().join("tokenizer/tokenizer.json"), MAX_LEN)
        .expect("tokenizer");
    assert_matches_fixture(&tok);
}

#[test]
fn tokenizer_from_dir_uses_tokenizer_json_or_vocab_and_config() {
    let dir = fixtures().join("tokenizer");
    let tok = CaptionTokenizer::from_dir(&dir, MAX_LEN).expect("tokenizer");
    assert_eq!(tok.source(), dir.join("tokenizer.json"));
    assert_matches_fixture(&tok);

    // Only vocab.txt: uncased by default.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(dir.join("vocab.txt"), tmp.path().join("vocab.txt")).expect("copy");
    let tok = CaptionTokenizer::from_dir(tmp.path(), MAX_LEN).expect("tokenizer");
    assert_eq!(tok.source(), tmp.path().join("vocab.txt"));
    assert_matches_fixture(&tok);

    // tokenizer_config.json's do_lower_case overrides tokenizer.json's normaliser, as in transformers
    // (whose cased tokenizer gives [CLS] [UNK] [UNK] [SEP] here: the vocabulary is lower case).
    let cased = [2, 1, 1, 3];
    std::fs::write(tmp.path().join("tokenizer_config.json"), r#"{"do_lower_case": false}"#).expect("write");
    let tok = CaptionTokenizer::from_dir(tmp.path(), MAX_LEN).expect("tokenizer");
    assert_eq!(&tok.encode_batch(&["A Dog"]).expect("encode").row(0)[..4], &cased);
    std::fs::copy(dir.join("tokenizer.json"), tmp.path().join("tokenizer.json")).expect("copy");
    let tok = CaptionTokenizer::from_dir(tmp.path(), MAX_LEN).expect("tokenizer");
    assert_eq!(tok.source(), tmp.path().join("tokenizer.json"));
    assert_eq!(&tok.encode_batch(&["A Dog"]).expect("encode").row(0)[..4], &cased);
    let lower = CaptionTokenizer::from_dir(&dir, MAX_LEN).expect("tokenizer");
    assert_ne!(&lower.encode_batch(&["A Dog"]).expect("encode").row(0)[..4], &cased);
}

#[test]
fn tokenizer_lengths_and_tensors() {
    let tok = CaptionTokenizer::from_vocab(&fixtures().join("tokenizer/vocab.txt"), true, 8).expect("tokenizer");
    let long = "a dog barks while a car passes by and a bird sings";
    let t = tok.encode_batch(&["", "a dog barks", long]).expect("encode");
    assert_eq!((t.batch, t.seq_len), (3, 8));
    assert_eq!(t.row(0)[..3], [2, 3, 0]);
    assert_eq!(t.mask_row(0), [1, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(t.mask_row(2), [1; 8]);
    assert_eq!(t.row(2)[7], 3, "a truncated caption keeps its [SEP]");
    let (ids, mask, types) = t.to_tensors::<B>(&Default::default());
    assert_eq!(ids.dims(), [3, 8]);
    assert_eq!(mask.clone().sum().into_scalar() as i64, t.attention_mask.iter().sum::<i64>());
    assert_eq!(types.sum().into_scalar() as i64, 0);
    let back: Vec<i64> = ids.into_data().convert::<i64>().to_vec().expect("ids");
    assert_eq!(back, t.ids);
    assert!(CaptionTokenizer::from_vocab(&fixtures().join("tokenizer/vocab.txt"), true, 1).is_err());
}

#[test]
fn tokenizer_errors_name_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nowhere/vocab.txt");
    let e = CaptionTokenizer::from_vocab(&missing, true, MAX_LEN).expect_err("missing vocab").to_string();
    assert!(e.contains(&missing.display().to_string()), "{e}");
    let e = CaptionTokenizer::from_dir(tmp.path(), MAX_LEN).expect_err("empty dir").to_string();
    assert!(e.contains(&tmp.path().display().to_string()) && e.contains("vocab.txt"), "{e}");
    let e = CaptionTokenizer::from_dir(&tmp.path().join("absent"), MAX_LEN).expect_err("no dir").to_string();
    assert!(e.contains("absent"), "{e}");

    let vocab = tmp.path().join("vocab.txt");
    std::fs::write(&vocab, "[PAD]\n[UNK]\n[SEP]\na\ndog\n").expect("write");
    let e = CaptionTokenizer::from_vocab(&vocab, true, MAX_LEN).expect_err("no [CLS]").to_string();
    assert!(e.contains(&vocab.display().to_string()) && e.contains("[CLS]"), "{e}");

    let json = tmp.path().join("tokenizer.json");
    std::fs::write(&json, "{ not json").expect("write");
    let e = CaptionTokenizer::from_tokenizer_json(&json, MAX_LEN).expect_err("bad json").to_string();
    assert!(e.contains(&json.display().to_string()), "{e}");
    let e = CaptionTokenizer::from_dir(tmp.path(), MAX_LEN).expect_err("bad json in dir").to_string();
    assert!(e.contains(&json.display().to_string()), "{e}");

    std::fs::remove_file(&json).expect("rm");
    let cfg = tmp.path().join("tokenizer_config.json");
    std::fs::write(&cfg, r#"{"do_lower_case": "yes"}"#).expect("write");
    let e = CaptionTokenizer::from_dir(tmp.path(), MAX_LEN).expect_err("bad config").to_string();
    assert!(e.contains(&cfg.display().to_string()) && e.contains("do_lower_case"), "{e}");
}

// ---------------------------------------------------------------------------------------------------
// BERT

struct ForwardFixture {
    tokens: Tokens,
    captions: Vec<usize>,
    hidden: Vec<f32>,
    cls: Vec<f32>,
}

fn forward_fixture() -> ForwardFixture {
    let dir = fixtures().join("bert");
    let v = read_json(&dir.join("forward.json"));
    let ids = int_rows(&v["input_ids"]);
    let (batch, seq_len) = (ids.len(), ids[0].len());
    let tokens = Tokens {
        ids: ids.concat(),
        attention_mask: int_rows(&v["attention_mask"]).concat(),
        token_type_ids: int_rows(&v["token_type_ids"]).concat(),
        batch,
        seq_len,
    };
    let captions =
        v["captions"].as_array().expect("captions").iter().map(|x| x.as_u64().expect("index") as usize).collect();
    let hidden = clap_tools::npy::read_f32(&dir.join("last_hidden_state.npy")).expect("hidden");
    let cls = clap_tools::npy::read_f32(&dir.join("cls.npy")).expect("cls");
    assert_eq!(hidden.shape, [batch, seq_len, 32]);
    assert_eq!(cls.shape, [batch, 32]);
    ForwardFixture { tokens, captions, hidden: hidden.data, cls: cls.data }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn to_vec<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("f32 data")
}

/// Run the fixture's tokens through `model` and compare with transformers; returns (hidden, cls) max
/// differences.
fn compare(model: &Bert<B>, what: &str) -> (f32, f32) {
    let f = forward_fixture();
    let device = Default::default();
    let (ids, mask, types) = f.tokens.to_tensors::<B>(&device);
    let hidden = to_vec(model.forward(ids.clone(), mask.clone(), types.clone()));
    let cls = to_vec(model.cls(ids, mask, types));
    let (dh, dc) = (max_abs_diff(&hidden, &f.hidden), max_abs_diff(&cls, &f.cls));
    eprintln!("{what}: max |burn - transformers| last_hidden_state {dh:.3e}, [CLS] {dc:.3e}");
    assert!(dc <= TOL, "{what}: [CLS] differs from transformers by {dc}");
    assert!(dh <= TOL, "{what}: last hidden state differs from transformers by {dh}");
    let enc = to_vec(model.encode(&f.tokens, &device).expect("encode"));
    assert_eq!(enc, cls);
    (dh, dc)
}

#[test]
fn bert_from_safetensors_matches_transformers() {
    let dir = fixtures().join("bert");
    let model = Bert::<B>::load(&dir, &Default::default()).expect("load");
    assert_eq!(model.hidden_size(), 32);
    assert_eq!(model.config().num_hidden_layers, 2);
    compare(&model, "model.safetensors");
    let model = Bert::<B>::load(&dir.join("model.safetensors"), &Default::default()).expect("load");
    compare(&model, "model.safetensors (file)");
}

#[test]
fn bert_from_pytorch_bin_matches_transformers() {
    let model = Bert::<B>::load(&fixtures().join("bert/pytorch_model.bin"), &Default::default()).expect("load");
    compare(&model, "pytorch_model.bin");
}

#[test]
fn tokenizer_and_bert_together() {
    // The captions fed to transformers, tokenised here, give the fixture's ids (row 1's token types
    // were changed by hand in the fixture).
    let f = forward_fixture();
    let c = caption_fixture();
    let tok = CaptionTokenizer::from_dir(&fixtures().join("tokenizer"), MAX_LEN).expect("tokenizer");
    let refs: Vec<&str> = f.captions.iter().map(|&i| c.captions[i].as_str()).collect();
    let t = tok.encode_batch(&refs).expect("encode");
    assert_eq!(t.ids, f.tokens.ids);
    assert_eq!(t.attention_mask, f.tokens.attention_mask);
    let model = Bert::<B>::load(&fixtures().join("bert"), &Default::default()).expect("load");
    assert!(tok.vocab_size() <= model.config().vocab_size);
    let cls = to_vec(model.encode(&t, &Default::default()).expect("encode"));
    // Rows other than 1 have the same token types as the fixture.
    for r in [0, 2, 3, 4, 5, 6, 7] {
        let d = max_abs_diff(&cls[r * 32..(r + 1) * 32], &f.cls[r * 32..(r + 1) * 32]);
        assert!(d <= TOL, "row {r}: {d}");
    }
}

#[test]
fn bert_ignores_padded_positions() {
    let f = forward_fixture();
    let model = Bert::<B>::load(&fixtures().join("bert"), &Default::default()).expect("load");
    let device = Default::default();
    let (ids, mask, types) = f.tokens.to_tensors::<B>(&device);
    let cls = to_vec(model.cls(ids, mask.clone(), types.clone()));
    // Other ids at the padded positions: the [CLS] vectors must not move.
    let mut other = f.tokens.clone();
    for (id, m) in other.ids.iter_mut().zip(&f.tokens.attention_mask) {
        if *m == 0 {
            *id = 7;
        }
    }
    let (ids2, _, _) = other.to_tensors::<B>(&device);
    let cls2 = to_vec(model.cls(ids2, mask, types.clone()));
    assert!(max_abs_diff(&cls, &cls2) < 1e-5);
    // Without the mask they do move (so the comparison with transformers can see a broken mask).
    let ones = Tensor::<B, 2, Int>::ones([f.tokens.batch, f.tokens.seq_len], &device);
    let (ids, _, _) = f.tokens.to_tensors::<B>(&device);
    let cls3 = to_vec(model.cls(ids, ones, types));
    assert!(max_abs_diff(&cls, &cls3) > 1e-2);
}

#[test]
fn bert_random_init_like_transformers() {
    clap_tools_backends::own_process!(1, {
        let mut config = BertConfig::new(50, 16, 2, 4, 32, 40);
        config.initializer_range = 0.5;
        let device = Default::default();
        let model = config.init::<B>(&device).expect("init");
        let w = to_vec(model.embeddings.word_embeddings.weight.val());
        assert!(w[..16].iter().all(|&x| x == 0.0), "the [PAD] embedding starts at zero");
        let n = (w.len() - 16) as f32;
        let std = (w[16..].iter().map(|x| x * x).sum::<f32>() / n).sqrt();
        assert!((std - 0.5).abs() < 0.05, "std {std}");
        let layer = &model.encoder.layer[1];
        assert!(to_vec(layer.output.layer_norm.gamma.val()).iter().all(|&x| x == 1.0));
        assert!(to_vec(layer.attention.self_attn.query.bias.as_ref().expect("bias").val()).iter().all(|&x| x == 0.0));
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![2i64, 5, 9, 3, 0], [1, 5]), &device);
        let mask = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![1i64, 1, 1, 1, 0], [1, 5]), &device);
        let out = model.forward(ids, mask, Tensor::zeros([1, 5], &device));
        assert_eq!(out.dims(), [1, 5, 16]);
        assert!(to_vec(out).iter().all(|x| x.is_finite()));

        let t =
            Tokens { ids: vec![2, 50], attention_mask: vec![1, 1], token_type_ids: vec![0, 0], batch: 1, seq_len: 2 };
        let e = model.check_tokens(&t).expect_err("id 50").to_string();
        assert!(e.contains("50"), "{e}");
        let t = Tokens {
            ids: vec![2; 41],
            attention_mask: vec![1; 41],
            token_type_ids: vec![0; 41],
            batch: 1,
            seq_len: 41,
        };
        let e = model.check_tokens(&t).expect_err("too long").to_string();
        assert!(e.contains("max_position_embeddings"), "{e}");
        assert!(BertConfig::new(50, 18, 2, 4, 32, 40).init::<B>(&device).is_err());
    });
}

/// A BERT trained from scratch: every parameter, the embeddings included, is a leaf that gets a
/// gradient (a parameter whose value is computed from another tensor would get none and never train).
#[test]
fn bert_from_scratch_gets_a_gradient_in_every_parameter() {
    use clap_tools_backends::burn::backend::Autodiff;
    use clap_tools_backends::burn::module::{Module, ModuleVisitor, Param};
    type Ad = Autodiff<Cpu>;
    struct Check<'a> {
        grads: &'a <Ad as clap_tools_backends::burn::tensor::backend::AutodiffBackend>::Gradients,
        with: usize,
        without: Vec<String>,
    }
    impl ModuleVisitor<Ad> for Check<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
            match param.val().grad(self.grads) {
                Some(g) if g.clone().abs().sum().into_scalar() > 0.0 => self.with += 1,
                _ => self.without.push(format!("{:?}", param.shape())),
            }
        }
    }
    clap_tools_backends::own_process!(4, {
        let device = Default::default();
        let model = BertConfig::new(50, 16, 2, 4, 32, 40).init::<Ad>(&device).expect("init");
        let ids = Tensor::<Ad, 2, Int>::from_data(TensorData::new(vec![2i64, 5, 9, 3, 2, 7, 8, 3], [2, 4]), &device);
        let mask = Tensor::<Ad, 2, Int>::ones([2, 4], &device);
        let types = Tensor::<Ad, 2, Int>::zeros([2, 4], &device);
        let out = model.forward(ids, mask, types);
        let grads = (out.clone() * out).sum().backward();
        let mut check = Check { grads: &grads, with: 0, without: Vec::new() };
        model.visit(&mut check);
        // Unused positions and token types have no gradient; every other parameter has one.
        assert!(check.with >= 20, "{} parameters with a gradient; without: {:?}", check.with, check.without);
        let emb = model.embeddings.word_embeddings.weight.val().grad(&grads).expect("word embeddings' gradient");
        assert!(emb.abs().sum().into_scalar() > 0.0);
    });
}

// ---------------------------------------------------------------------------------------------------
// Bad config.json

fn write_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> PathBuf {
    let mut v = read_json(&fixtures().join("bert/config.json"));
    edit(v.as_object_mut().expect("object"));
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_string_pretty(&v).expect("json")).expect("write");
    path
}

type ConfigEdit = Box<dyn FnOnce(&mut serde_json::Map<String, Value>)>;

#[test]
fn bad_config_names_file_and_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases: Vec<(&str, ConfigEdit)> = vec![
        ("hidden_act", Box::new(|m| drop(m.insert("hidden_act".into(), "relu".into())))),
        ("hidden_size", Box::new(|m| drop(m.remove("hidden_size")))),
        ("num_attention_heads", Box::new(|m| drop(m.insert("num_attention_heads".into(), 5.into())))),
        (
            "position_embedding_type",
            Box::new(|m| drop(m.insert("position_embedding_type".into(), "relative_key".into()))),
        ),
        ("is_decoder", Box::new(|m| drop(m.insert("is_decoder".into(), true.into())))),
        ("vocab_size", Box::new(|m| drop(m.insert("vocab_size".into(), "many".into())))),
        ("layer_norm_eps", Box::new(|m| drop(m.insert("layer_norm_eps".into(), Value::Null)))),
    ];
    for (key, edit) in cases {
        let path = write_config(tmp.path(), edit);
        let e = BertConfig::from_file(&path).expect_err(key).to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains(key), "{key}: {e}");
        std::fs::copy(fixtures().join("bert/model.safetensors"), tmp.path().join("model.safetensors")).expect("copy");
        let e = Bert::<B>::load(tmp.path(), &Default::default()).expect_err(key).to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains(key), "{key}: {e}");
    }
    // Unknown keys are ignored, the defaults fill in what transformers 5 leaves out.
    let path = write_config(tmp.path(), |m| {
        m.insert("some_new_key".into(), 1.into());
        m.remove("layer_norm_eps");
        m.insert("position_embedding_type".into(), "absolute".into());
    });
    let c = BertConfig::from_file(&path).expect("config");
    assert_eq!(c.layer_norm_eps, 1e-12);
    let back: BertConfig = serde_json::from_str(&c.to_json().expect("json")).expect("parse");
    assert_eq!(back, c);
    let e = BertConfig::from_file(&tmp.path().join("absent.json")).expect_err("missing").to_string();
    assert!(e.contains("absent.json"), "{e}");
}

// ---------------------------------------------------------------------------------------------------
// Weight files: variants of the fixture written here with a minimal safetensors writer.

struct St {
    /// (key, dtype, shape, bytes), in file order.
    tensors: Vec<(String, String, Vec<usize>, Vec<u8>)>,
}

impl St {
    fn read(path: &Path) -> St {
        let bytes = std::fs::read(path).expect("read safetensors");
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let header: Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header");
        let data = &bytes[8 + n..];
        let mut tensors = Vec::new();
        for (key, info) in header.as_object().expect("header object") {
            if key == "__metadata__" {
                continue;
            }
            let offsets: Vec<usize> = info["data_offsets"]
                .as_array()
                .expect("offsets")
                .iter()
                .map(|x| x.as_u64().expect("u64") as usize)
                .collect();
            let shape =
                info["shape"].as_array().expect("shape").iter().map(|x| x.as_u64().expect("u64") as usize).collect();
            let dtype = info["dtype"].as_str().expect("dtype").to_string();
            tensors.push((key.clone(), dtype, shape, data[offsets[0]..offsets[1]].to_vec()));
        }
        St { tensors }
    }

    fn write(&self, path: &Path) {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
        let mut offset = 0;
        for (key, dtype, shape, bytes) in &self.tensors {
            header.insert(
                key.clone(),
                serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.len()]}),
            );
            offset += bytes.len();
        }
        let mut h = serde_json::to_vec(&Value::Object(header)).expect("header");
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend(h);
        for (_, _, _, bytes) in &self.tensors {
            out.extend(bytes);
        }
        std::fs::write(path, out).expect("write safetensors");
    }

    fn rename(&mut self, f: impl Fn(&str) -> String) {
        for t in &mut self.tensors {
            t.0 = f(&t.0);
        }
    }
}

fn model_dir_with(st: &St) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures().join("bert/config.json"), tmp.path().join("config.json")).expect("copy");
    st.write(&tmp.path().join("model.safetensors"));
    tmp
}

#[test]
fn bert_loads_pretraining_style_keys() {
    // An older BertForPreTraining-style file: `bert.` prefix, LayerNorm gamma/beta, the position-id
    // buffer (int64), pooler and MLM head tensors.
    let mut st = St::read(&fixtures().join("bert/model.safetensors"));
    st.rename(|k| {
        format!("bert.{}", k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"))
    });
    let pos: Vec<u8> = (0..64i64).flat_map(|i| i.to_le_bytes()).collect();
    st.tensors.push(("bert.embeddings.position_ids".into(), "I64".into(), vec![1, 64], pos));
    st.tensors.push(("cls.predictions.bias".into(), "F32".into(), vec![1000], vec![0; 4000]));
    let tmp = model_dir_with(&st);
    let model = Bert::<B>::load(tmp.path(), &Default::default()).expect("load pre-training style file");
    compare(&model, "bert.-prefixed gamma/beta file");
}

#[test]
fn bert_renames_for_a_nested_checkpoint() {
    // As in the reference CLAP checkpoint: the BertModel's keys under `text_encoder.model.`.
    let renames = bert::hf_key_renames("text_encoder.model.", "text_encoder.");
    let ignored: Vec<regex::Regex> =
        bert::hf_ignored_keys("text_encoder.").iter().map(|p| regex::Regex::new(p).expect("regex")).collect();
    let apply = |key: &str| {
        let mut k = key.to_string();
        for (from, to) in &renames {
            k = regex::Regex::new(from).expect("regex").replace_all(&k, to.as_str()).into_owned();
        }
        k
    };
    assert_eq!(
        apply("text_encoder.model.encoder.layer.7.attention.self.query.weight"),
        "text_encoder.encoder.layer.7.attention.self_attn.query.weight"
    );
    assert_eq!(apply("text_encoder.model.embeddings.LayerNorm.weight"), "text_encoder.embeddings.layer_norm.gamma");
    assert_eq!(
        apply("text_encoder.model.encoder.layer.0.output.LayerNorm.bias"),
        "text_encoder.encoder.layer.0.output.layer_norm.beta"
    );
    assert_eq!(apply("audio_encoder.bn0.weight"), "audio_encoder.bn0.weight");
    assert_eq!(apply("text_proj.weight"), "text_proj.weight");
    for key in ["text_encoder.model.pooler.dense.weight", "text_encoder.model.embeddings.position_ids"] {
        assert!(ignored.iter().any(|r| r.is_match(&apply(key))), "{key} should be ignored");
    }
    assert!(!ignored.iter().any(|r| r.is_match(&apply("text_encoder.model.encoder.layer.0.output.dense.weight"))));
    // The spec for a plain file, applied to keys as the loader sees them.
    let spec = bert::hf_load_spec();
    assert_eq!(spec.remap.len(), 4);
    let keys = weights::keys(&fixtures().join("bert/pytorch_model.bin"), None).expect("keys");
    assert_eq!(keys.len(), 39);
}

#[test]
fn missing_tensor_is_named() {
    let mut st = St::read(&fixtures().join("bert/model.safetensors"));
    st.tensors.retain(|t| t.0 != "encoder.layer.1.output.dense.bias");
    let tmp = model_dir_with(&st);
    let e = Bert::<B>::load(tmp.path(), &Default::default()).expect_err("missing").to_string();
    assert!(e.contains("encoder.layer.1.output.dense.bias") && e.contains("missing"), "{e}");
    assert!(e.contains("model.safetensors"), "{e}");
}

#[test]
fn misshapen_tensor_is_named() {
    let mut st = St::read(&fixtures().join("bert/model.safetensors"));
    let t = st.tensors.iter_mut().find(|t| t.0 == "encoder.layer.0.attention.self.query.weight").expect("query");
    t.2 = vec![32, 16];
    t.3.truncate(32 * 16 * 4);
    let tmp = model_dir_with(&st);
    let e = Bert::<B>::load(tmp.path(), &Default::default()).expect_err("misshapen").to_string();
    assert!(e.contains("encoder.layer.0.attention.self_attn.query.weight"), "{e}");

    // A config with another hidden size than the weights: every mismatch is named.
    let tmp = tempfile::tempdir().expect("tempdir");
    write_config(tmp.path(), |m| drop(m.insert("hidden_size".into(), 64.into())));
    std::fs::copy(fixtures().join("bert/pytorch_model.bin"), tmp.path().join("pytorch_model.bin")).expect("copy");
    let e = Bert::<B>::load(tmp.path(), &Default::default()).expect_err("hidden size").to_string();
    assert!(e.contains("pytorch_model.bin") && e.contains("embeddings.word_embeddings.weight"), "{e}");
    assert!(e.contains("Shape mismatch for 'encoder.layer.0.attention.self_attn.query.weight'"), "{e}");
}

#[test]
fn unexpected_tensor_is_named() {
    let mut st = St::read(&fixtures().join("bert/model.safetensors"));
    st.tensors.push(("encoder.layer.2.output.dense.bias".into(), "F32".into(), vec![32], vec![0; 128]));
    let tmp = model_dir_with(&st);
    let e = Bert::<B>::load(tmp.path(), &Default::default()).expect_err("unexpected").to_string();
    assert!(e.contains("encoder.layer.2.output.dense.bias") && e.contains("unexpected"), "{e}");
}

#[test]
fn truncated_weight_files_are_errors() {
    for name in ["model.safetensors", "pytorch_model.bin"] {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::copy(fixtures().join("bert/config.json"), tmp.path().join("config.json")).expect("copy");
        let bytes = std::fs::read(fixtures().join("bert").join(name)).expect("read");
        let path = tmp.path().join(name);
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        let e = Bert::<B>::load(&path, &Default::default()).expect_err(name).to_string();
        assert!(e.contains(&path.display().to_string()), "{name}: {e}");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures().join("bert/config.json"), tmp.path().join("config.json")).expect("copy");
    let e = Bert::<B>::load(tmp.path(), &Default::default()).expect_err("no weights").to_string();
    assert!(e.contains("model.safetensors") && e.contains(&tmp.path().display().to_string()), "{e}");
    let e = weights::load(
        BertConfig::new(10, 8, 1, 2, 16, 8).init::<B>(&Default::default()).expect("init"),
        &tmp.path().join("none.safetensors"),
        Layout::Pytorch,
        &bert::hf_load_spec(),
    )
    .expect_err("no file")
    .to_string();
    assert!(e.contains("none.safetensors"), "{e}");
}
