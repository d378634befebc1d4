//! BERT, the text encoder of the CLAP model, as Hugging Face's `BertModel` computes it (post-norm
//! encoder, exact erf GELU, absolute position embeddings, no pooler).
//!
//! The CLAP text encoder uses the `[CLS]` row of the last hidden state ([`Bert::cls`]). Weights come
//! from a Hugging Face model directory (`config.json` with `model.safetensors` or `pytorch_model.bin`,
//! [`Bert::load`]) or from a checkpoint that holds a `BertModel` under some prefix: the module's field
//! names follow Hugging Face's keys, and [`hf_key_renames`] / [`hf_ignored_keys`] give the few renames
//! and the keys that are deliberately left out (pooler, position-id buffers, pre-training heads).

use std::path::{Path, PathBuf};

use burn::module::{Initializer, Module, Param, ParamId};
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, DType, Distribution, Int, Tensor};
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::tokenizer::Tokens;
use crate::model::weights::{self, Layout, LoadSpec};

/// The architecture of a BERT model, read from a Hugging Face `config.json` (other keys of that file
/// are ignored). The six sizes are required; the rest default as in transformers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Only `"gelu"` (the exact erf GELU) is supported.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Standard deviation of the random initialisation.
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
    /// The padding token, whose word embedding starts at zero.
    #[serde(default = "default_pad_token_id")]
    pub pad_token_id: Option<usize>,
    /// Only `"absolute"` is supported (transformers 5 no longer writes the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_embedding_type: Option<String>,
    /// Must be false: a decoder (causal attention) is not supported.
    #[serde(default)]
    pub is_decoder: bool,
    /// Must be false: cross-attention is not supported.
    #[serde(default)]
    pub add_cross_attention: bool,
}

fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_hidden_act() -> String {
    "gelu".to_string()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_initializer_range() -> f64 {
    0.02
}
fn default_pad_token_id() -> Option<usize> {
    Some(0)
}

impl BertConfig {
    /// A configuration with the given sizes and transformers' defaults for the rest.
    pub fn new(
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        intermediate_size: usize,
        max_position_embeddings: usize,
    ) -> Self {
        Self {
            vocab_size,
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            intermediate_size,
            max_position_embeddings,
            type_vocab_size: default_type_vocab_size(),
            layer_norm_eps: default_layer_norm_eps(),
            hidden_act: default_hidden_act(),
            hidden_dropout_prob: default_dropout(),
            attention_probs_dropout_prob: default_dropout(),
            initializer_range: default_initializer_range(),
            pad_token_id: default_pad_token_id(),
            position_embedding_type: None,
            is_decoder: false,
            add_cross_attention: false,
        }
    }

    /// Read a Hugging Face `config.json` and check that this implementation supports it.
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::file(path, "BERT config.json not found"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::file(path, format!("not valid JSON: {e}")))?;
        let config: Self = serde_json::from_value(value.clone())
            .map_err(|e| Error::file(path, format!("invalid BERT config: {}", type_error(&value, &e))))?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::Many { path: path.to_path_buf(), problems })
        }
    }

    /// Write the configuration as a `config.json` that transformers reads as a `BertModel`'s.
    pub fn to_json(&self) -> Result<String> {
        let mut value =
            serde_json::to_value(self).map_err(|e| Error::Internal(format!("cannot serialise BERT config: {e}")))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("model_type".into(), "bert".into());
            map.insert("architectures".into(), serde_json::json!(["BertModel"]));
        }
        serde_json::to_string_pretty(&value).map_err(|e| Error::Internal(format!("cannot serialise BERT config: {e}")))
    }

    /// Check that this implementation supports the configuration.
    pub fn validate(&self) -> Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Model(format!("unsupported BERT config: {}", problems.join("; "))))
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if value == 0 {
                p.push(format!("\"{key}\" must be positive"));
            }
        }
        if self.num_attention_heads > 0 && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            p.push(format!(
                "\"hidden_size\" {} is not a multiple of \"num_attention_heads\" {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.hidden_act != "gelu" {
            p.push(format!(
                "\"hidden_act\" {:?} is not supported (only \"gelu\", the exact erf GELU)",
                self.hidden_act
            ));
        }
        if let Some(t) = &self.position_embedding_type {
            if t != "absolute" {
                p.push(format!("\"position_embedding_type\" {t:?} is not supported (only \"absolute\")"));
            }
        }
        if self.is_decoder {
            p.push("\"is_decoder\" true is not supported (encoder only)".to_string());
        }
        if self.add_cross_attention {
            p.push("\"add_cross_attention\" true is not supported".to_string());
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            p.push(format!("\"layer_norm_eps\" {} must be a non-negative number", self.layer_norm_eps));
        }
        for (key, v) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ] {
            if !(0.0..1.0).contains(&v) {
                p.push(format!("\"{key}\" {v} must be in [0, 1)"));
            }
        }
        if !(self.initializer_range.is_finite() && self.initializer_range >= 0.0) {
            p.push(format!("\"initializer_range\" {} must be a non-negative number", self.initializer_range));
        }
        if let Some(pad) = self.pad_token_id {
            if pad >= self.vocab_size && self.vocab_size > 0 {
                p.push(format!("\"pad_token_id\" {pad} is not below \"vocab_size\" {}", self.vocab_size));
            }
        }
        p
    }

    /// A model with random weights, initialised as transformers does: weights of Linear and Embedding
    /// layers from N(0, `initializer_range`), biases zero, the padding token's embedding zero,
    /// LayerNorm ones and zeros.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Bert<B>> {
        self.validate()?;
        let std = self.initializer_range;
        let h = self.hidden_size;
        let layer_norm = || LayerNormConfig::new(h).with_epsilon(self.layer_norm_eps).init(device);
        let hidden_dropout = || DropoutConfig::new(self.hidden_dropout_prob).init();
        let embeddings = BertEmbeddings {
            word_embeddings: embedding(self.vocab_size, h, std, self.pad_token_id, device),
            position_embeddings: embedding(self.max_position_embeddings, h, std, None, device),
            token_type_embeddings: embedding(self.type_vocab_size, h, std, None, device),
            layer_norm: layer_norm(),
            dropout: hidden_dropout(),
        };
        let layer = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    self_attn: BertSelfAttention {
                        query: linear(h, h, std, device),
                        key: linear(h, h, std, device),
                        value: linear(h, h, std, device),
                        dropout: DropoutConfig::new(self.attention_probs_dropout_prob).init(),
                        num_attention_heads: self.num_attention_heads,
                    },
                    output: BertSelfOutput {
                        dense: linear(h, h, std, device),
                        layer_norm: layer_norm(),
                        dropout: hidden_dropout(),
                    },
                },
                intermediate: BertIntermediate { dense: linear(h, self.intermediate_size, std, device) },
                output: BertOutput {
                    dense: linear(self.intermediate_size, h, std, device),
                    layer_norm: layer_norm(),
                    dropout: hidden_dropout(),
                },
            })
            .collect();
        Ok(Bert { embeddings, encoder: BertEncoder { layer }, config: self.clone() })
    }
}

/// serde_json names a missing field but not one of the wrong type: find it.
fn type_error(value: &serde_json::Value, e: &serde_json::Error) -> String {
    let Some(map) = value.as_object() else {
        return "config.json must hold a JSON object".to_string();
    };
    let check = |key: &str, ok: fn(&serde_json::Value) -> bool, what: &str| {
        map.get(key).filter(|v| !ok(v)).map(|v| format!("\"{key}\" must be {what}, not {v}"))
    };
    const SIZES: [&str; 7] = [
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "type_vocab_size",
    ];
    const FLOATS: [&str; 4] =
        ["layer_norm_eps", "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range"];
    SIZES
        .iter()
        .find_map(|k| check(k, |v| v.is_u64(), "a non-negative integer"))
        .or_else(|| FLOATS.iter().find_map(|k| check(k, |v| v.is_number(), "a number")))
        .or_else(|| check("hidden_act", |v| v.is_string(), "a string"))
        .or_else(|| check("position_embedding_type", |v| v.is_string() || v.is_null(), "a string"))
        .or_else(|| check("pad_token_id", |v| v.is_u64() || v.is_null(), "a non-negative integer or null"))
        .or_else(|| check("is_decoder", |v| v.is_boolean(), "true or false"))
        .or_else(|| check("add_cross_attention", |v| v.is_boolean(), "true or false"))
        .unwrap_or_else(|| e.to_string())
}

// Lazy initialisers (drawn at a parameter's first use): loading a checkpoint over a fresh model
// draws nothing, and the draws follow the order of first use, as in every burn module.
fn linear<B: Backend>(d_in: usize, d_out: usize, std: f64, device: &B::Device) -> Linear<B> {
    Linear {
        weight: Initializer::Normal { mean: 0.0, std }.init([d_in, d_out], device),
        bias: Some(Initializer::Zeros.init([d_out], device)),
    }
}

fn embedding<B: Backend>(n: usize, d: usize, std: f64, padding: Option<usize>, device: &B::Device) -> Embedding<B> {
    let pad = padding.filter(|&p| p < n);
    // The padding row is zeroed before the tensor becomes a parameter that requires a gradient: done
    // after (as `Param::init_mapper` would), the value would be a computed node, not a leaf, and the
    // embeddings would get no gradient.
    let init = move |device: &B::Device, require_grad: bool| {
        let mut w = Tensor::<B, 2>::random([n, d], Distribution::Normal(0.0, std), device);
        if let Some(pad) = pad {
            w = w.slice_assign([pad..pad + 1, 0..d], Tensor::zeros([1, d], device));
        }
        if require_grad {
            w.require_grad()
        } else {
            w
        }
    };
    Embedding { weight: Param::uninitialized(ParamId::new(), init, device.clone(), true, [n, d].into()) }
}

/// BERT: embeddings and a stack of post-norm transformer encoder layers. Field names follow Hugging
/// Face's `BertModel` keys (see [`hf_key_renames`]).
#[derive(Module, Debug)]
pub struct Bert<B: Backend> {
    pub embeddings: BertEmbeddings<B>,
    pub encoder: BertEncoder<B>,
    #[module(skip)]
    config: BertConfig,
}

/// Word, position and token type embeddings, summed, then LayerNorm and dropout.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    /// Hugging Face: `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend> {
    pub layer: Vec<BertLayer<B>>,
}

#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: BertAttention<B>,
    pub intermediate: BertIntermediate<B>,
    pub output: BertOutput<B>,
}

#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    /// Hugging Face: `self`.
    pub self_attn: BertSelfAttention<B>,
    pub output: BertSelfOutput<B>,
}

/// Multi-head scaled dot-product self-attention.
#[derive(Module, Debug)]
pub struct BertSelfAttention<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    /// On the attention probabilities.
    pub dropout: Dropout,
    pub num_attention_heads: usize,
}

/// Projection of the attention output, dropout, residual and LayerNorm.
#[derive(Module, Debug)]
pub struct BertSelfOutput<B: Backend> {
    pub dense: Linear<B>,
    /// Hugging Face: `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

/// The feed-forward expansion with GELU.
#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    pub dense: Linear<B>,
}

/// The feed-forward projection back, dropout, residual and LayerNorm.
#[derive(Module, Debug)]
pub struct BertOutput<B: Backend> {
    pub dense: Linear<B>,
    /// Hugging Face: `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

impl<B: Backend> Bert<B> {
    /// Load a Hugging Face BERT: `path` is a directory with `config.json` and `model.safetensors` (or
    /// else `pytorch_model.bin`), or one of those weight files with `config.json` beside it. A leading
    /// `bert.` and the keys of [`hf_ignored_keys`] are accepted; any other missing, misshapen or
    /// unexpected tensor is an error naming it.
    pub fn load(path: &Path, device: &B::Device) -> Result<Self> {
        let (config_path, weights_path) = locate(path)?;
        let config = BertConfig::from_file(&config_path)?;
        let model = config.init::<B>(device)?;
        model.load_weights(&weights_path, &hf_load_spec())
    }

    /// Load weights into this model from a PyTorch or safetensors file with PyTorch's layout, using
    /// `spec` to find and rename the keys (see [`hf_key_renames`], [`hf_ignored_keys`]).
    pub fn load_weights(self, path: &Path, spec: &LoadSpec) -> Result<Self> {
        weights::load(self, path, Layout::Pytorch, spec)
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Width of the hidden states (and of the [`cls`](Self::cls) vector).
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// Check that tokens fit the model: ids below `vocab_size`, token types below `type_vocab_size`,
    /// at most `max_position_embeddings` tokens.
    pub fn check_tokens(&self, tokens: &Tokens) -> Result<()> {
        let c = &self.config;
        if tokens.seq_len > c.max_position_embeddings {
            return Err(Error::Model(format!(
                "{} tokens per caption exceed the model's max_position_embeddings {}",
                tokens.seq_len, c.max_position_embeddings
            )));
        }
        if let Some(id) = tokens.ids.iter().find(|&&id| id < 0 || id as u64 >= c.vocab_size as u64) {
            return Err(Error::Model(format!("token id {id} is outside the model's vocabulary of {}", c.vocab_size)));
        }
        if let Some(t) = tokens.token_type_ids.iter().find(|&&t| t < 0 || t as u64 >= c.type_vocab_size as u64) {
            return Err(Error::Model(format!(
                "token type {t} is outside the model's type_vocab_size {}",
                c.type_vocab_size
            )));
        }
        Ok(())
    }

    /// The last hidden state.
    ///
    /// # Shapes
    /// - `input_ids`: `[batch, seq]`, ids below `vocab_size`
    /// - `attention_mask`: `[batch, seq]`, 1 for tokens to attend to, 0 for padding
    /// - `token_type_ids`: `[batch, seq]`, below `type_vocab_size`
    /// - output: `[batch, seq, hidden_size]`
    ///
    /// `seq` must not exceed `max_position_embeddings` ([`check_tokens`](Self::check_tokens) checks
    /// tokens before they become tensors). Dropout is active only on an autodiff backend (use
    /// `model.valid()` for inference there).
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let [batch, seq] = input_ids.dims();
        let mut x = self.embeddings.forward(input_ids, token_type_ids);
        // Keys not to attend to, broadcast over heads and queries.
        let masked = attention_mask.equal_elem(0).reshape([batch, 1, 1, seq]);
        for layer in &self.encoder.layer {
            x = layer.forward(x, masked.clone());
        }
        x
    }

    /// The `[CLS]` row (position 0) of the last hidden state: the caption embedding of the CLAP text
    /// encoder.
    ///
    /// # Shapes
    /// - inputs as in [`forward`](Self::forward)
    /// - output: `[batch, hidden_size]`
    pub fn cls(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        let hidden = self.forward(input_ids, attention_mask, token_type_ids);
        let [batch, _, h] = hidden.dims();
        hidden.slice([0..batch, 0..1, 0..h]).reshape([batch, h])
    }

    /// [`check_tokens`](Self::check_tokens), then [`cls`](Self::cls) of the tokens on `device`.
    pub fn encode(&self, tokens: &Tokens, device: &B::Device) -> Result<Tensor<B, 2>> {
        self.check_tokens(tokens)?;
        let (ids, mask, types) = tokens.to_tensors::<B>(device);
        Ok(self.cls(ids, mask, types))
    }
}

impl<B: Backend> super::encoder::TextEncoder<B> for Bert<B> {
    fn check_tokens(&self, tokens: &Tokens) -> Result<()> {
        Bert::check_tokens(self, tokens)
    }
    fn encode(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>, types: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        self.cls(ids, mask, types)
    }
    fn output_dim(&self) -> usize {
        self.hidden_size()
    }
}

impl<B: Backend> BertEmbeddings<B> {
    /// `[batch, seq]` ids and token types → `[batch, seq, hidden]`.
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>, token_type_ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let [_, seq] = input_ids.dims();
        let device = input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
        let x = self.word_embeddings.forward(input_ids) + self.token_type_embeddings.forward(token_type_ids);
        let x = x + self.position_embeddings.forward(positions);
        self.dropout.forward(self.layer_norm.forward(x))
    }
}

impl<B: Backend> BertLayer<B> {
    /// `x`: `[batch, seq, hidden]`; `masked`: `[batch, 1, 1, seq]`, true for keys to ignore.
    pub fn forward(&self, x: Tensor<B, 3>, masked: Tensor<B, 4, Bool>) -> Tensor<B, 3> {
        let attn = self.attention.self_attn.forward(x.clone(), masked);
        let attn = self.attention.output.forward(attn, x);
        let inter = gelu(self.intermediate.dense.forward(attn.clone()));
        self.output.forward(inter, attn)
    }
}

impl<B: Backend> BertSelfAttention<B> {
    /// `x`: `[batch, seq, hidden]`; `masked`: `[batch, 1, 1, seq]` → context `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>, masked: Tensor<B, 4, Bool>) -> Tensor<B, 3> {
        let [batch, seq, hidden] = x.dims();
        let heads = self.num_attention_heads;
        let head_dim = hidden / heads;
        let split = |t: Tensor<B, 3>| t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x));
        let scores = q.matmul(k.transpose()) * (head_dim as f64).powf(-0.5);
        // Hugging Face adds the dtype's minimum at masked keys; filling it is the same after softmax.
        let min = dtype_min(scores.dtype());
        let scores = scores.mask_fill(masked.expand([batch, heads, seq, seq]), min);
        let probs = self.dropout.forward(softmax(scores, 3));
        probs.matmul(v).swap_dims(1, 2).reshape([batch, seq, hidden])
    }
}

impl<B: Backend> BertSelfOutput<B> {
    pub fn forward(&self, hidden: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        self.layer_norm.forward(self.dropout.forward(self.dense.forward(hidden)) + residual)
    }
}

impl<B: Backend> BertOutput<B> {
    pub fn forward(&self, hidden: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        self.layer_norm.forward(self.dropout.forward(self.dense.forward(hidden)) + residual)
    }
}

/// The exact GELU, x·Φ(x) = x·(1 + erf(x/√2))/2, written with `erf` so that every backend's autodiff
/// differentiates the exact function (some backends' fused GELU backward uses the tanh approximation).
fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let cdf = (x.clone() * std::f64::consts::FRAC_1_SQRT_2).erf().add_scalar(1.0);
    x * cdf * 0.5
}

/// The most negative finite value of a float dtype (`torch.finfo(dtype).min`).
fn dtype_min(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::MIN,
        DType::F16 => half::f16::MIN.to_f64(),
        DType::BF16 => half::bf16::MIN.to_f64(),
        _ => f32::MIN as f64,
    }
}

/// Find `config.json` and the weights file of a model directory or weights file.
fn locate(path: &Path) -> Result<(PathBuf, PathBuf)> {
    if path.is_dir() {
        let weights = ["model.safetensors", "pytorch_model.bin"]
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| Error::file(path, "no model.safetensors or pytorch_model.bin in the model directory"))?;
        Ok((path.join("config.json"), weights))
    } else if path.is_file() {
        let dir = path.parent().unwrap_or(Path::new("."));
        Ok((dir.join("config.json"), path.to_path_buf()))
    } else {
        Err(Error::file(path, "BERT model directory or weights file not found"))
    }
}

/// Renames (regex, replacement), applied in order, from the keys of a Hugging Face `BertModel` to the
/// parameter paths of a [`Bert`]:
/// - `prefix` is what precedes the `BertModel`'s own keys in the file (`""` for a plain Hugging Face
///   model, where a leading `bert.` is also dropped; `"text_encoder.model."` in the reference's CLAP
///   checkpoint);
/// - `module_path` is where the [`Bert`] sits in the module being loaded (`""` when loading a [`Bert`]
///   itself, e.g. `"text_encoder."` for a field `text_encoder` of a larger module).
///
/// Keys outside `prefix` are left alone. `attention.self` becomes `attention.self_attn`,
/// `LayerNorm.weight|gamma` / `LayerNorm.bias|beta` become `layer_norm.gamma` / `layer_norm.beta`
/// (so the match does not rely on the adapter's alternative names); Linear weights are transposed by
/// the loader's PyTorch layout, Embedding weights are taken as they are.
pub fn hf_key_renames(prefix: &str, module_path: &str) -> Vec<(String, String)> {
    let mp = regex::escape(module_path);
    let head = if prefix.is_empty() { r"^(?:bert\.)?".to_string() } else { format!("^{}", regex::escape(prefix)) };
    // `$` in a replacement starts a group reference: escape it in the module path.
    let to = module_path.replace('$', "$$");
    vec![
        (head, to),
        (format!(r"^({mp}encoder\.layer\.\d+\.attention\.)self\."), "${1}self_attn.".to_string()),
        (format!(r"^({mp}.*)\.LayerNorm\.(?:weight|gamma)$"), "${1}.layer_norm.gamma".to_string()),
        (format!(r"^({mp}.*)\.LayerNorm\.(?:bias|beta)$"), "${1}.layer_norm.beta".to_string()),
    ]
}

/// Keys (regexes over the renamed keys, see [`hf_key_renames`]) that a Hugging Face BERT file may hold
/// and [`Bert`] deliberately does not use: the pooler, the position-id and token-type-id buffers that
/// older transformers saved, and the pre-training heads (`cls.*`) of `BertForPreTraining` /
/// `BertForMaskedLM` files.
pub fn hf_ignored_keys(module_path: &str) -> Vec<String> {
    let mp = regex::escape(module_path);
    vec![
        format!(r"^{mp}pooler\."),
        format!(r"^{mp}embeddings\.(?:position_ids|token_type_ids)$"),
        format!(r"^{mp}cls\."),
    ]
}

/// The [`LoadSpec`] of a plain Hugging Face BERT file (`BertModel`, or a pre-training model's file
/// with its `bert.` prefix).
pub fn hf_load_spec() -> LoadSpec {
    let mut spec = LoadSpec::new();
    for (from, to) in hf_key_renames("", "") {
        spec = spec.remap(from, to);
    }
    for pattern in hf_ignored_keys("") {
        spec = spec.ignore(pattern);
    }
    spec
}

/// `[model.text] kind = "bert"` in a training config: the reference's text encoder, a Hugging Face
/// folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BertSettings {
    /// The folder: config.json and the vocabulary, and the weights (model.safetensors or
    /// pytorch_model.bin) when `pretrained`.
    pub dir: PathBuf,
    /// Start from the folder's weights (default true; else random weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<bool>,
}

impl BertSettings {
    pub fn pretrained(&self) -> bool {
        self.pretrained.unwrap_or(true)
    }

    /// The BERT's shape, from the folder's config.json.
    pub fn config(&self) -> Result<BertConfig> {
        BertConfig::from_file(&self.dir.join("config.json"))
    }

    /// The folder's weights, when the settings ask for them.
    pub fn load_pretrained<B: Backend>(&self, device: &B::Device) -> Result<Option<Bert<B>>> {
        if !self.pretrained() {
            return Ok(None);
        }
        Bert::load(&self.dir, device).map(Some)
    }
}
