//! The one place where encoders are registered. Each encoder lives in a file of its own (its module,
//! its shape config, its training-config settings, its pretrained loader); here each is given:
//! - its `kind` in a training config ([`AudioSection`], [`TextSection`]: serde-tagged, so an unknown
//!   kind or a key the kind does not take fails when the TOML is parsed, naming it), with its range
//!   checks, its paths and its pretrained weights;
//! - its shape in a checkpoint's `clap.json` ([`AudioEncoderConfig`], [`TextEncoderConfig`], tagged
//!   the same way, so a checkpoint says which encoder it holds) and its constructor;
//! - for audio, its input ([`AudioInput`]: log-mel with its number of bins, and the waveform for an
//!   encoder that reads it) and the front end that makes it ([`AudioEncoderConfig::front_end`], what training, evaluation and `embed` use);
//! - its place in the model ([`AudioModel`], [`TextModel`], which dispatch to the traits of
//!   [`super::encoder`]).
//!
//! Resuming compares the resolved shapes (`clap.json`'s configs), so a new encoder needs nothing
//! there. Adding an audio encoder: write `model/NEW.rs` (module + `NewConfig` + `NewSettings` +
//! `impl AudioEncoder`), then add one variant to each audio enum below and its arms to their `match`es.
//! The encoders registered:
//! - audio: `cnn14` ([`super::cnn14`], the reference's), `wavegram_logmel_cnn14`
//!   ([`super::wavegram_logmel_cnn14`], PANNs', reading the waveform too), `resnet38`
//!   ([`super::resnet38`], PANNs'), `ast` ([`super::ast`], the reference's AST), `small_cnn`
//!   ([`super::small_cnn`]);
//! - text: `bert` ([`super::bert`], the reference's), `small` ([`super::small_text`]).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::ast::{Ast, AstConfig, AstSettings};
use super::bert::{Bert, BertConfig, BertSettings};
use super::cnn14::{Cnn14, Cnn14Config, Cnn14Settings};
use super::encoder::{AudioEncoder, AudioTensors, TextEncoder};
use super::logmel::{LogMel, LogMelConfig};
use super::resnet38::{ResNet38, ResNet38Config, ResNet38Settings};
use super::small_cnn::{SmallCnn, SmallCnnConfig, SmallCnnSettings};
use super::small_text::{SmallText, SmallTextConfig, SmallTextSettings};
use super::tokenizer::Tokens;
use super::wavegram_logmel_cnn14::{WavegramLogmelCnn14, WavegramLogmelCnn14Config, WavegramLogmelCnn14Settings};
use super::weights::{self, LoadSpec};
use crate::error::{Error, Result};

/// What an audio encoder reads, as registered with it; the front end that makes it is
/// [`AudioEncoderConfig::front_end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioInput {
    /// Log-mel frames with this many mel bins, from the reference's front end at the model's rate.
    LogMel { n_mels: usize },
    /// Those frames and the zero-padded waveforms they were computed from, at this rate only.
    WaveformAndLogMel { n_mels: usize, sample_rate: u32 },
}

/// `[model.audio]` of a training config: `kind` and that encoder's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AudioSection {
    Cnn14(Cnn14Settings),
    WavegramLogmelCnn14(WavegramLogmelCnn14Settings),
    #[serde(rename = "resnet38")]
    ResNet38(ResNet38Settings),
    Ast(AstSettings),
    SmallCnn(SmallCnnSettings),
}

impl AudioSection {
    /// The encoder's shape (what `clap.json` records), its input included.
    pub fn encoder(&self) -> AudioEncoderConfig {
        match self {
            Self::Cnn14(s) => AudioEncoderConfig::Cnn14(s.config()),
            Self::WavegramLogmelCnn14(s) => AudioEncoderConfig::WavegramLogmelCnn14(s.config()),
            Self::ResNet38(s) => AudioEncoderConfig::ResNet38(s.config()),
            Self::Ast(s) => AudioEncoderConfig::Ast(s.config()),
            Self::SmallCnn(s) => AudioEncoderConfig::SmallCnn(s.config()),
        }
    }

    /// Bad values, each with its key under `key` (`model.audio`).
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        match self {
            Self::Cnn14(s) => s.problems(key, check),
            Self::WavegramLogmelCnn14(s) => s.problems(key, check),
            Self::ResNet38(s) => s.problems(key, check),
            Self::Ast(s) => s.problems(key, check),
            Self::SmallCnn(s) => s.problems(key, check),
        }
    }

    /// The paths the settings name (resolved against the config file).
    pub fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        match self {
            Self::Cnn14(s) => s.pretrained.iter_mut().collect(),
            Self::WavegramLogmelCnn14(s) => s.pretrained.iter_mut().collect(),
            Self::ResNet38(s) => s.pretrained.iter_mut().collect(),
            Self::Ast(s) => s.pretrained.iter_mut().collect(),
            Self::SmallCnn(_) => Vec::new(),
        }
    }

    /// Pretrained weights for the encoder of shape `config`, when the settings name some.
    pub fn load_pretrained<B: Backend>(
        &self,
        config: &AudioEncoderConfig,
        device: &B::Device,
    ) -> Result<Option<AudioModel<B>>> {
        Ok(match (self, config) {
            (Self::Cnn14(s), AudioEncoderConfig::Cnn14(c)) => s.load_pretrained(c, device)?.map(AudioModel::Cnn14),
            (Self::WavegramLogmelCnn14(s), AudioEncoderConfig::WavegramLogmelCnn14(c)) => {
                s.load_pretrained(c, device)?.map(AudioModel::WavegramLogmelCnn14)
            }
            (Self::ResNet38(s), AudioEncoderConfig::ResNet38(c)) => {
                s.load_pretrained(c, device)?.map(AudioModel::ResNet38)
            }
            (Self::Ast(s), AudioEncoderConfig::Ast(c)) => s.load_pretrained(c, device)?.map(AudioModel::Ast),
            _ => None,
        })
    }
}

/// `[model.text]` of a training config: `kind` and that encoder's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TextSection {
    Bert(BertSettings),
    Small(SmallTextSettings),
}

impl TextSection {
    /// The folder with the vocabulary (and, for bert, the model).
    pub fn dir(&self) -> &PathBuf {
        match self {
            Self::Bert(s) => &s.dir,
            Self::Small(s) => &s.dir,
        }
    }

    pub fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        match self {
            Self::Bert(s) => vec![&mut s.dir],
            Self::Small(s) => vec![&mut s.dir],
        }
    }

    /// The encoder's shape: a bert's from its folder's config.json; a small encoder's vocabulary
    /// from the tokenizer.
    pub fn encoder(&self, vocab_size: usize, max_tokens: usize) -> Result<TextEncoderConfig> {
        Ok(match self {
            Self::Bert(s) => TextEncoderConfig::Bert(s.config()?),
            Self::Small(s) => TextEncoderConfig::Small(s.config(vocab_size, max_tokens)),
        })
    }

    /// Bad values, each with its key under `key` (`model.text`).
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        match self {
            Self::Bert(_) => {}
            Self::Small(s) => s.problems(key, check),
        }
    }

    /// Whether training starts from the folder's weights.
    pub fn pretrained(&self) -> bool {
        matches!(self, Self::Bert(s) if s.pretrained())
    }

    /// Pretrained weights, when the settings ask for them.
    pub fn load_pretrained<B: Backend>(&self, device: &B::Device) -> Result<Option<TextModel<B>>> {
        Ok(match self {
            Self::Bert(s) => s.load_pretrained(device)?.map(TextModel::Bert),
            Self::Small(_) => None,
        })
    }
}

/// The audio encoder of a CLAP model, as its config chose it. (One model per process: the size of the
/// largest variant costs nothing, and burn's Module derive does not see through a Box.)
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AudioModel<B: Backend> {
    Cnn14(Cnn14<B>),
    WavegramLogmelCnn14(WavegramLogmelCnn14<B>),
    ResNet38(ResNet38<B>),
    Ast(Ast<B>),
    SmallCnn(SmallCnn<B>),
}

/// The text encoder of a CLAP model, as its config chose it.
#[derive(Module, Debug)]
pub enum TextModel<B: Backend> {
    Bert(Bert<B>),
    Small(SmallText<B>),
}

impl<B: Backend> AudioEncoder<B> for AudioModel<B> {
    fn encode(&self, x: AudioTensors<B>, valid_frames: &[usize]) -> Tensor<B, 2> {
        match self {
            Self::Cnn14(m) => m.encode(x, valid_frames),
            Self::WavegramLogmelCnn14(m) => m.encode(x, valid_frames),
            Self::ResNet38(m) => m.encode(x, valid_frames),
            Self::Ast(m) => m.encode(x, valid_frames),
            Self::SmallCnn(m) => m.encode(x, valid_frames),
        }
    }
    fn output_dim(&self) -> usize {
        match self {
            Self::Cnn14(m) => AudioEncoder::output_dim(m),
            Self::WavegramLogmelCnn14(m) => AudioEncoder::output_dim(m),
            Self::ResNet38(m) => AudioEncoder::output_dim(m),
            Self::Ast(m) => AudioEncoder::output_dim(m),
            Self::SmallCnn(m) => AudioEncoder::output_dim(m),
        }
    }
    fn min_frames(&self) -> usize {
        match self {
            Self::Cnn14(m) => m.min_frames(),
            Self::WavegramLogmelCnn14(m) => m.min_frames(),
            Self::ResNet38(m) => m.min_frames(),
            Self::Ast(m) => m.min_frames(),
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
    WavegramLogmelCnn14(WavegramLogmelCnn14Config),
    #[serde(rename = "resnet38")]
    ResNet38(ResNet38Config),
    Ast(AstConfig),
    SmallCnn(SmallCnnConfig),
}

impl AudioEncoderConfig {
    /// What the encoder reads.
    pub fn input(&self) -> AudioInput {
        match self {
            Self::Cnn14(c) => AudioInput::LogMel { n_mels: c.n_mels },
            Self::WavegramLogmelCnn14(c) => AudioInput::WaveformAndLogMel {
                n_mels: c.n_mels,
                sample_rate: super::wavegram_logmel_cnn14::SAMPLE_RATE,
            },
            Self::ResNet38(c) => AudioInput::LogMel { n_mels: c.n_mels },
            Self::Ast(c) => AudioInput::LogMel { n_mels: c.n_mels },
            Self::SmallCnn(c) => AudioInput::LogMel { n_mels: c.n_mels },
        }
    }

    /// The front end that turns waveforms at `sample_rate` into the encoder's input: training,
    /// evaluation and `embed` all build it here.
    pub fn front_end(&self, sample_rate: u32) -> Result<LogMel> {
        match self.input() {
            AudioInput::LogMel { n_mels } => {
                Ok(LogMel::new(LogMelConfig { n_mels, ..LogMelConfig::for_rate(sample_rate)? }))
            }
            AudioInput::WaveformAndLogMel { n_mels, sample_rate: rate } => {
                if sample_rate != rate {
                    return Err(Error::config(
                        "data.sample_rate",
                        format!("{} reads waveforms at {rate} Hz only, not {sample_rate} Hz", self.describe()),
                    ));
                }
                Ok(LogMel::new(LogMelConfig { n_mels, ..LogMelConfig::for_rate(sample_rate)? }).keeping_waveforms())
            }
        }
    }

    /// The encoder of a PyTorch state dict in the reference's key names under `prefix` (PANNs'
    /// checkpoints with `""`, the reference's CLAP checkpoints with `audio_encoder.`): the `kind`
    /// named, or else the one its keys show, with its shape read from the tensors.
    pub fn from_reference_weights(
        path: &Path,
        top_level_key: Option<&str>,
        prefix: &str,
        kind: Option<ReferenceAudioKind>,
    ) -> Result<Self> {
        let kind = match kind {
            Some(k) => k,
            None => {
                let keys = weights::keys(path, top_level_key)?;
                let has = |key: &str| keys.iter().any(|k| k == &format!("{prefix}{key}"));
                if has("v.patch_embed.proj.weight") {
                    ReferenceAudioKind::Ast
                } else if has("pre_conv0.weight") {
                    ReferenceAudioKind::WavegramLogmelCnn14
                } else if has("resnet.layer1.0.conv1.weight") {
                    ReferenceAudioKind::ResNet38
                } else if has("conv_block1.conv1.weight") {
                    ReferenceAudioKind::Cnn14
                } else {
                    return Err(Error::file(
                        path,
                        format!(
                            "no audio encoder under {prefix:?}: not CNN14's, Wavegram-Logmel-CNN14's, ResNet38's or AST's keys (conv_block1.*, pre_conv0.*, resnet.*, v.*)"
                        ),
                    ));
                }
            }
        };
        Ok(match kind {
            ReferenceAudioKind::Cnn14 => Self::Cnn14(Cnn14Config::from_weights(path, top_level_key, prefix)?),
            ReferenceAudioKind::WavegramLogmelCnn14 => {
                Self::WavegramLogmelCnn14(WavegramLogmelCnn14Config::from_weights(path, top_level_key, prefix)?)
            }
            ReferenceAudioKind::ResNet38 => Self::ResNet38(ResNet38Config::from_weights(path, top_level_key, prefix)?),
            ReferenceAudioKind::Ast => Self::Ast(AstConfig::from_weights(path, top_level_key, prefix)?),
        })
    }

    /// How a PyTorch state dict in PANNs' key names under `prefix` maps onto this encoder.
    pub fn reference_load_spec<B: Backend>(&self, prefix: &str) -> LoadSpec {
        match self {
            Self::WavegramLogmelCnn14(_) => WavegramLogmelCnn14::<B>::load_spec(prefix),
            Self::ResNet38(_) => ResNet38::<B>::load_spec(prefix),
            Self::Ast(_) => Ast::<B>::load_spec(prefix),
            _ => Cnn14::<B>::ignored_keys(prefix).into_iter().fold(LoadSpec::new(), LoadSpec::ignore),
        }
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> AudioModel<B> {
        match self {
            Self::Cnn14(c) => AudioModel::Cnn14(c.init(device)),
            Self::WavegramLogmelCnn14(c) => AudioModel::WavegramLogmelCnn14(c.init(device)),
            Self::ResNet38(c) => AudioModel::ResNet38(c.init(device)),
            Self::Ast(c) => AudioModel::Ast(c.init(device)),
            Self::SmallCnn(c) => AudioModel::SmallCnn(c.init(device)),
        }
    }

    /// The name a config uses for this kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cnn14(_) => "cnn14",
            Self::WavegramLogmelCnn14(_) => "wavegram_logmel_cnn14",
            Self::ResNet38(_) => "resnet38",
            Self::Ast(_) => "ast",
            Self::SmallCnn(_) => "small_cnn",
        }
    }

    /// A short description for logs, e.g. `CNN14 [64, 128, 256, 512, 1024, 2048]`.
    pub fn describe(&self) -> String {
        match self {
            Self::Cnn14(c) => format!("CNN14 {:?}", c.channels),
            Self::WavegramLogmelCnn14(c) => {
                format!("Wavegram-Logmel-CNN14 {:?}, wavegram {:?} → {}", c.channels, c.wave, c.wave_out)
            }
            Self::ResNet38(c) => format!("ResNet38 {} {:?} × {:?} → {}", c.stem, c.widths, c.blocks, c.out),
            Self::Ast(c) => {
                format!("AST {} blocks × {} ({} heads), {} frames", c.depth, c.dim, c.heads, c.input_frames)
            }
            Self::SmallCnn(c) => format!("small CNN {:?} → {}", c.channels, c.dim),
        }
    }

    pub fn output_dim(&self) -> usize {
        match self {
            Self::Cnn14(c) => c.embed_dim(),
            Self::WavegramLogmelCnn14(c) => c.embed_dim(),
            Self::ResNet38(c) => c.embed_dim(),
            Self::Ast(c) => c.dim,
            Self::SmallCnn(c) => c.dim,
        }
    }

    pub fn min_frames(&self) -> usize {
        match self {
            Self::Cnn14(_) => super::cnn14::DOWNSAMPLE,
            Self::WavegramLogmelCnn14(_) => super::wavegram_logmel_cnn14::MIN_FRAMES,
            Self::ResNet38(_) => super::resnet38::DOWNSAMPLE,
            Self::Ast(_) => super::ast::PATCH,
            Self::SmallCnn(c) => c.downsample(),
        }
    }
}

/// The audio encoders a checkpoint in the reference's layout can hold, by their config kind: what
/// `--audio-encoder` names where the keys should not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceAudioKind {
    Cnn14,
    WavegramLogmelCnn14,
    ResNet38,
    Ast,
}

impl std::str::FromStr for ReferenceAudioKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cnn14" => Ok(Self::Cnn14),
            "wavegram_logmel_cnn14" => Ok(Self::WavegramLogmelCnn14),
            "resnet38" => Ok(Self::ResNet38),
            "ast" => Ok(Self::Ast),
            other => Err(format!(
                "{other:?} is not an audio encoder of the reference: cnn14, wavegram_logmel_cnn14, resnet38 or ast"
            )),
        }
    }
}

impl ReferenceAudioKind {
    /// The kind of a training config's encoder, where the reference has it.
    pub fn of(section: &AudioSection) -> Option<Self> {
        match section {
            AudioSection::Cnn14(_) => Some(Self::Cnn14),
            AudioSection::WavegramLogmelCnn14(_) => Some(Self::WavegramLogmelCnn14),
            AudioSection::ResNet38(_) => Some(Self::ResNet38),
            AudioSection::Ast(_) => Some(Self::Ast),
            AudioSection::SmallCnn(_) => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_end_follows_the_encoders_registered_input() {
        let mut c = Cnn14Config::default();
        assert_eq!(AudioEncoderConfig::Cnn14(c.clone()).input(), AudioInput::LogMel { n_mels: 64 });
        c.n_mels = 128;
        let fe = AudioEncoderConfig::Cnn14(c).front_end(32000).unwrap();
        assert_eq!((fe.config().n_mels, fe.config().hop, fe.config().f_max), (128, 320, 14000.0));
        let small = AudioSection::SmallCnn(SmallCnnSettings { channels: Some(vec![8]), dim: Some(16) }).encoder();
        assert_eq!(small.front_end(16000).unwrap().config().n_mels, 64);
        assert!(small.front_end(44100).is_err());
    }
}
