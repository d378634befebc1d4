//! A small text encoder for quick runs (the demo, tests, laptops): word and position embeddings, one
//! width-3 convolution with ReLU, max + mean over the caption's tokens, and a linear layer. It takes
//! the same WordPiece tokens as BERT (so any BERT vocabulary serves).
//!
//! Parameters: `word_embeddings`, `position_embeddings`, `conv`, `out`.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::encoder::TextEncoder;
use super::tokenizer::Tokens;
use crate::error::{Error, Result};

/// Shape of a [`SmallText`]: the vocabulary, the most tokens per caption and the width.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmallTextConfig {
    pub vocab_size: usize,
    pub max_positions: usize,
    pub dim: usize,
}

impl SmallTextConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> SmallText<B> {
        SmallText {
            word_embeddings: EmbeddingConfig::new(self.vocab_size, self.dim).init(device),
            position_embeddings: EmbeddingConfig::new(self.max_positions, self.dim).init(device),
            conv: Conv1dConfig::new(self.dim, self.dim, 3).with_padding(PaddingConfig1d::Explicit(1, 1)).init(device),
            out: LinearConfig::new(self.dim, self.dim).init(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct SmallText<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub conv: Conv1d<B>,
    pub out: Linear<B>,
}

impl<B: Backend> SmallText<B> {
    /// Caption vectors.
    ///
    /// # Shapes
    /// - input_ids, attention_mask (1 = token, 0 = padding): [n, seq], seq ≤ max_positions
    /// - returns: [n, dim]
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>, attention_mask: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        let [n, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device).unsqueeze_dim::<2>(0);
        let keep = attention_mask.float().unsqueeze_dim::<3>(2); // [n, seq, 1]
                                                                 // Padding is zeroed before the convolution, so the last tokens see what the convolution's
                                                                 // own zero padding would give: a caption's vector does not depend on the batch's length.
        let x = (self.word_embeddings.forward(input_ids) + self.position_embeddings.forward(positions)) * keep.clone();
        let h = relu(self.conv.forward(x.swap_dims(1, 2))).swap_dims(1, 2); // [n, seq, dim]
        let dim = h.dims()[2];
        let mean = (h.clone() * keep.clone()).sum_dim(1) / keep.clone().sum_dim(1).clamp_min(1.0);
        let pad = keep.equal_elem(0.0).expand([n, seq, dim]);
        let max = h.mask_fill(pad, f32::NEG_INFINITY).max_dim(1);
        self.out.forward((mean + max).reshape([n, dim]))
    }

    fn dims(&self) -> (usize, usize, usize) {
        let [vocab, dim] = self.word_embeddings.weight.dims();
        (vocab, self.position_embeddings.weight.dims()[0], dim)
    }
}

impl<B: Backend> TextEncoder<B> for SmallText<B> {
    fn check_tokens(&self, tokens: &Tokens) -> Result<()> {
        let (vocab, positions, _) = self.dims();
        if tokens.seq_len > positions {
            return Err(Error::Model(format!(
                "{} tokens per caption exceed the text encoder's {positions} positions",
                tokens.seq_len
            )));
        }
        if let Some(id) = tokens.ids.iter().find(|&&id| id < 0 || id as u64 >= vocab as u64) {
            return Err(Error::Model(format!("token id {id} is outside the text encoder's vocabulary of {vocab}")));
        }
        Ok(())
    }
    fn encode(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>, _types: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        self.forward(ids, mask)
    }
    fn output_dim(&self) -> usize {
        self.dims().2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use clap_tools_backends::Cpu;

    fn ids(rows: &[&[i64]], seq: usize) -> (Tensor<Cpu, 2, Int>, Tensor<Cpu, 2, Int>) {
        let device = Default::default();
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        for r in rows {
            ids.extend(r.iter().copied().chain(std::iter::repeat_n(0, seq - r.len())));
            mask.extend((0..seq).map(|i| i64::from(i < r.len())));
        }
        let t = |v: Vec<i64>| Tensor::from_data(TensorData::new(v, [rows.len(), seq]), &device);
        (t(ids), t(mask))
    }

    #[test]
    fn padding_does_not_change_a_caption_and_order_matters() {
        clap_tools_backends::own_process!(1, {
            let model = SmallTextConfig { vocab_size: 20, max_positions: 12, dim: 8 }.init::<Cpu>(&Default::default());
            let (a, ma) = ids(&[&[2, 5, 7, 9, 3]], 5);
            let (b, mb) = ids(&[&[2, 5, 7, 9, 3], &[2, 9, 7, 5, 3]], 12);
            let one: Vec<f32> = model.forward(a, ma).into_data().into_vec().unwrap();
            let two: Vec<f32> = model.forward(b, mb).into_data().into_vec().unwrap();
            assert_eq!(two.len(), 16);
            // The padded copy is the same caption: same vector.
            for (x, y) in one.iter().zip(&two[..8]) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
            // The same words in another order give another vector.
            assert!(two[..8].iter().zip(&two[8..]).any(|(x, y)| (x - y).abs() > 1e-3));
        });
    }

    #[test]
    fn tokens_outside_the_vocabulary_or_positions_are_refused() {
        let model = SmallTextConfig { vocab_size: 20, max_positions: 4, dim: 8 }.init::<Cpu>(&Default::default());
        let tokens = |ids: Vec<i64>, seq| Tokens {
            attention_mask: vec![1; ids.len()],
            token_type_ids: vec![0; ids.len()],
            ids,
            batch: 1,
            seq_len: seq,
        };
        assert!(TextEncoder::check_tokens(&model, &tokens(vec![1, 2, 3], 3)).is_ok());
        let e = TextEncoder::check_tokens(&model, &tokens(vec![1, 25, 3], 3)).unwrap_err().to_string();
        assert!(e.contains("25") && e.contains("vocabulary"), "{e}");
        let e = TextEncoder::check_tokens(&model, &tokens(vec![1, 2, 3, 4, 5], 5)).unwrap_err().to_string();
        assert!(e.contains("positions"), "{e}");
    }
}

/// `[model.text] kind = "small"` in a training config: needs only the folder's vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallTextSettings {
    /// A folder with the vocabulary (vocab.txt or tokenizer.json).
    pub dir: std::path::PathBuf,
    /// Width of the embeddings and of the caption vector (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
}

impl SmallTextSettings {
    pub fn dim(&self) -> usize {
        self.dim.unwrap_or(128)
    }

    pub fn config(&self, vocab_size: usize, max_tokens: usize) -> SmallTextConfig {
        SmallTextConfig { vocab_size, max_positions: max_tokens, dim: self.dim() }
    }

    /// Bad values, each with its key under `key`.
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        super::encoder::check_dim(key, self.dim, check);
    }
}
