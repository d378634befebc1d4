//! The encoder interfaces of the CLAP model, and the encoders a config can name.
//!
//! An audio encoder turns a log-mel batch into one vector per clip ([`AudioEncoder`]); a text
//! encoder turns token ids into one vector per caption ([`TextEncoder`]). The CLAP head
//! ([`super::clap`]), the trainer, validation and `embed` use only these traits.
//!
//! The encoders built in, each in its own file:
//! - audio: `cnn14` ([`super::cnn14`], the reference's), `small_cnn` ([`super::small_cnn`]);
//! - text: `bert` ([`super::bert`], the reference's), `small` ([`super::small_text`]).
//!
//! A config names an encoder by `kind`; [`AudioModel`] and [`TextModel`] hold whichever was chosen
//! and dispatch to it. Plugging in another encoder: write its module and config in a file of its
//! own, implement the trait, and add a variant to the model enum and to its config enum.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::bert::{Bert, BertConfig};
use super::cnn14::{Cnn14, Cnn14Config};
use super::small_cnn::{SmallCnn, SmallCnnConfig};
use super::small_text::{SmallText, SmallTextConfig};
use super::tokenizer::Tokens;
use crate::error::Result;

/// Log-mel frames to clip vectors.
pub trait AudioEncoder<B: Backend> {
    /// Clip vectors of a log-mel batch.
    ///
    /// # Shapes
    /// - mel: [batch, frames, n_mels], at least [`min_frames`](Self::min_frames) frames
    /// - valid_frames: one per clip, its frames before batch padding
    /// - returns: [batch, output_dim]
    fn encode(&self, mel: Tensor<B, 3>, valid_frames: &[usize]) -> Tensor<B, 2>;

    /// Width of the clip vectors.
    fn output_dim(&self) -> usize;

    /// The fewest frames a batch must have (shorter batches are zero-padded to it).
    fn min_frames(&self) -> usize;
}

/// Token ids to caption vectors.
pub trait TextEncoder<B: Backend> {
    /// Check that tokens fit the encoder (ids inside its vocabulary, length inside its positions)
    /// before they become tensors.
    fn check_tokens(&self, tokens: &Tokens) -> Result<()>;

    /// Caption vectors.
    ///
    /// # Shapes
    /// - input_ids, attention_mask (1 = token, 0 = padding), token_type_ids: [n, seq]
    /// - returns: [n, output_dim]
    fn encode(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2>;

    /// Width of the caption vectors.
    fn output_dim(&self) -> usize;
}

/// The audio encoder of a CLAP model, as its config chose it.
#[derive(Module, Debug)]
pub enum AudioModel<B: Backend> {
    Cnn14(Cnn14<B>),
    SmallCnn(SmallCnn<B>),
}

/// The text encoder of a CLAP model, as its config chose it.
#[derive(Module, Debug)]
pub enum TextModel<B: Backend> {
    Bert(Bert<B>),
    Small(SmallText<B>),
}

impl<B: Backend> AudioEncoder<B> for AudioModel<B> {
    fn encode(&self, mel: Tensor<B, 3>, valid_frames: &[usize]) -> Tensor<B, 2> {
        match self {
            Self::Cnn14(m) => m.encode(mel, valid_frames),
            Self::SmallCnn(m) => m.encode(mel, valid_frames),
        }
    }
    fn output_dim(&self) -> usize {
        match self {
            Self::Cnn14(m) => AudioEncoder::output_dim(m),
            Self::SmallCnn(m) => AudioEncoder::output_dim(m),
        }
    }
    fn min_frames(&self) -> usize {
        match self {
            Self::Cnn14(m) => m.min_frames(),
            Self::SmallCnn(m) => m.min_frames(),
        }
    }
}

impl<B: Backend> TextEncoder<B> for TextModel<B> {
    fn check_tokens(&self, tokens: &Tokens) -> Result<()> {
        match self {
            Self::Bert(m) => m.check_tokens(tokens),
            Self::Small(m) => TextEncoder::check_tokens(m, tokens),
        }
    }
    fn encode(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>, types: Tensor<B, 2, Int>) -> Tensor<B, 2> {
        match self {
            Self::Bert(m) => TextEncoder::encode(m, ids, mask, types),
            Self::Small(m) => TextEncoder::encode(m, ids, mask, types),
        }
    }
    fn output_dim(&self) -> usize {
        match self {
            Self::Bert(m) => TextEncoder::output_dim(m),
            Self::Small(m) => TextEncoder::output_dim(m),
        }
    }
}

/// Which audio encoder, with its shape: `{"kind": "cnn14", …}` in `clap.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AudioEncoderConfig {
    Cnn14(Cnn14Config),
    SmallCnn(SmallCnnConfig),
}

impl AudioEncoderConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> AudioModel<B> {
        match self {
            Self::Cnn14(c) => AudioModel::Cnn14(c.init(device)),
            Self::SmallCnn(c) => AudioModel::SmallCnn(c.init(device)),
        }
    }

    /// The name a config uses for this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cnn14(_) => "cnn14",
            Self::SmallCnn(_) => "small_cnn",
        }
    }

    /// A short description for logs, e.g. `CNN14 [64, 128, 256, 512, 1024, 2048]`.
    pub fn describe(&self) -> String {
        match self {
            Self::Cnn14(c) => format!("CNN14 {:?}", c.channels),
            Self::SmallCnn(c) => format!("small CNN {:?} → {}", c.channels, c.dim),
        }
    }

    pub fn output_dim(&self) -> usize {
        match self {
            Self::Cnn14(c) => c.embed_dim(),
            Self::SmallCnn(c) => c.dim,
        }
    }

    pub fn min_frames(&self) -> usize {
        match self {
            Self::Cnn14(_) => super::cnn14::DOWNSAMPLE,
            Self::SmallCnn(c) => c.downsample(),
        }
    }
}

/// Which text encoder, with its shape: `{"kind": "bert", …}` in `clap.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TextEncoderConfig {
    Bert(BertConfig),
    Small(SmallTextConfig),
}

impl TextEncoderConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<TextModel<B>> {
        Ok(match self {
            Self::Bert(c) => TextModel::Bert(c.init(device)?),
            Self::Small(c) => TextModel::Small(c.init(device)),
        })
    }

    /// The name a config uses for this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bert(_) => "bert",
            Self::Small(_) => "small",
        }
    }

    /// A short description for logs, e.g. `BERT 8 layers × 512`.
    pub fn describe(&self) -> String {
        match self {
            Self::Bert(c) => format!("BERT {} layers × {}", c.num_hidden_layers, c.hidden_size),
            Self::Small(c) => format!("small text encoder × {}", c.dim),
        }
    }

    pub fn output_dim(&self) -> usize {
        match self {
            Self::Bert(c) => c.hidden_size,
            Self::Small(c) => c.dim,
        }
    }

    /// Size of the vocabulary the token ids must stay below.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Bert(c) => c.vocab_size,
            Self::Small(c) => c.vocab_size,
        }
    }

    /// The most tokens per caption.
    pub fn max_positions(&self) -> usize {
        match self {
            Self::Bert(c) => c.max_position_embeddings,
            Self::Small(c) => c.max_positions,
        }
    }
}
