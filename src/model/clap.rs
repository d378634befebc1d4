//! The CLAP model: an audio encoder and a text encoder (any of [`super::encoder`]'s), each followed
//! by a linear projection into a shared space and L2 normalisation, a learnable logit scale, and the
//! symmetric InfoNCE loss.
//!
//! Parameter names follow the reference's `AudioSingleTextClap` (`audio_encoder.*`, `audio_proj.*`,
//! `text_proj.*`, `logit_scale`; its `text_encoder.model.*` is our `text_encoder.*`), so its released
//! checkpoint loads with [`Clap::load_reference`].

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use burn_store::{ModuleSnapshot, SafetensorsStore};
use clap_tools_backends::burn;

use super::bert::{self, BertConfig};
use super::encoder::{AudioEncoder, AudioTensors, TextEncoder};
use super::registry::{AudioEncoderConfig, AudioModel, ReferenceAudioKind, TextEncoderConfig, TextModel};
use super::weights::{self, Layout, LoadSpec};
use crate::error::{Error, Result};

/// The logit scale's initial value, ln(1 / 0.07), as the reference (and CLIP) sets it.
pub const INITIAL_LOGIT_SCALE: f32 = 2.659_26;

#[derive(Module, Debug)]
pub struct Clap<B: Backend> {
    pub audio_encoder: AudioModel<B>,
    pub text_encoder: TextModel<B>,
    pub audio_proj: Linear<B>,
    pub text_proj: Linear<B>,
    /// Stored as a one-element tensor (the reference's is 0-dimensional); used as exp(logit_scale).
    pub logit_scale: Param<Tensor<B, 1>>,
}

/// The shapes of a CLAP model and the sample rate of its front end.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ClapConfig {
    pub sample_rate: u32,
    pub audio: AudioEncoderConfig,
    pub text: TextEncoderConfig,
    pub shared_dim: usize,
    /// Token length of the captions (padding and truncation) the model was trained with.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
}

fn default_max_tokens() -> usize {
    super::tokenizer::DEFAULT_MAX_LEN
}

/// File names inside a clap-tools checkpoint directory.
pub const CONFIG_FILE: &str = "clap.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

impl ClapConfig {
    /// The `clap.json` of a checkpoint directory (without reading its weights).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let bad = |e: serde_json::Error| Error::file(&config_path, format!("not a clap-tools model config: {e}"));
        let mut value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
        // Checkpoints written before the encoders had kinds hold a CNN14 and a BERT.
        for (key, kind) in [("audio", "cnn14"), ("text", "bert")] {
            if let Some(section) = value.get_mut(key).and_then(|v| v.as_object_mut()) {
                section.entry("kind").or_insert_with(|| kind.into());
            }
        }
        serde_json::from_value(value).map_err(bad)
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Clap<B>> {
        let audio_encoder = self.audio.init(device);
        let text_encoder = self.text.init(device)?;
        Ok(Clap {
            audio_proj: LinearConfig::new(self.audio.output_dim(), self.shared_dim).init(device),
            text_proj: LinearConfig::new(self.text.output_dim(), self.shared_dim).init(device),
            audio_encoder,
            text_encoder,
            logit_scale: Param::from_tensor(Tensor::from_floats([INITIAL_LOGIT_SCALE], device)),
        })
    }
}

/// x / (‖x‖₂ + 1e-7) per row, clipped to ±1e3, as the reference normalises embeddings.
///
/// # Shapes
/// - x: [n, dim] → [n, dim]
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    (x / (norm + 1e-7)).clamp(-1e3, 1e3)
}

/// Symmetric InfoNCE: the mean of the cross-entropies of audio→text and text→audio over the
/// `exp(logit_scale)`-scaled cosine similarities, the i-th audio matching the i-th text.
///
/// # Shapes
/// - audio, text: [n, dim] (normalised embeddings)
/// - logit_scale: [1] (before exp)
/// - returns: [1]
pub fn info_nce<B: Backend>(audio: Tensor<B, 2>, text: Tensor<B, 2>, logit_scale: Tensor<B, 1>) -> Tensor<B, 1> {
    let n = audio.dims()[0];
    let device = audio.device();
    let logits = audio.matmul(text.transpose()) * logit_scale.exp().unsqueeze::<2>();
    let labels = Tensor::<B, 1, Int>::arange(0..n as i64, &device).unsqueeze_dim::<2>(1);
    let cross_entropy = |l: Tensor<B, 2>| -> Tensor<B, 1> { log_softmax(l, 1).gather(1, labels.clone()).mean().neg() };
    (cross_entropy(logits.clone()) + cross_entropy(logits.transpose())) / 2.0
}

impl<B: Backend> Clap<B> {
    /// Write a clap-tools checkpoint: `dir/clap.json` (the [`ClapConfig`]) and
    /// `dir/model.safetensors` (burn's layout), each written to a temporary name and renamed.
    pub fn save_dir(&self, config: &ClapConfig, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let weights = dir.join(WEIGHTS_FILE);
        let partial = dir.join(format!("{WEIGHTS_FILE}.partial"));
        // Enum variants (which encoder) are left out of the names: they are in clap.json.
        let mut store = SafetensorsStore::from_file(&partial).skip_enum_variants(true).metadata("format", "clap-tools");
        self.save_into(&mut store).map_err(|e| Error::file(&partial, format!("cannot write weights: {e}")))?;
        std::fs::rename(&partial, &weights).map_err(|e| Error::io(&weights, e))?;
        let json = serde_json::to_vec_pretty(config)
            .map_err(|e| Error::Internal(format!("cannot serialise the model config: {e}")))?;
        crate::atomic::write_bytes(&dir.join(CONFIG_FILE), &json)
    }

    /// Read a clap-tools checkpoint directory written by [`Clap::save_dir`].
    pub fn load_dir(dir: &Path, device: &B::Device) -> Result<(Self, ClapConfig)> {
        let config = ClapConfig::from_dir(dir)?;
        let model = config.init(device)?;
        let model = weights::load(model, &dir.join(WEIGHTS_FILE), Layout::Burn, &LoadSpec::new())?;
        Ok((model, config))
    }

    /// Normalised audio embeddings of an audio batch (log-mel frames, with the waveforms for an
    /// encoder that reads them).
    ///
    /// # Shapes
    /// - x.mel: [batch, frames, n_mels]; x.wave: [batch, samples]; valid_frames: one per clip
    /// - returns: [batch, shared_dim]
    pub fn encode_audio(&self, x: impl Into<AudioTensors<B>>, valid_frames: &[usize]) -> Tensor<B, 2> {
        l2_normalize(self.audio_proj.forward(self.audio_encoder.encode(x.into(), valid_frames)))
    }

    /// Normalised audio embeddings from the audio encoder's clip vectors (when they were computed
    /// elsewhere, e.g. by a frozen encoder in inference mode).
    ///
    /// # Shapes
    /// - features: [batch, audio output dim]
    /// - returns: [batch, shared_dim]
    pub fn project_audio(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        l2_normalize(self.audio_proj.forward(features))
    }

    /// Normalised text embeddings from the text encoder's caption vectors (see [`Self::project_audio`]).
    ///
    /// # Shapes
    /// - features: [n, text output dim]
    /// - returns: [n, shared_dim]
    pub fn project_text(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        l2_normalize(self.text_proj.forward(features))
    }

    /// Normalised text embeddings (the text encoder's caption vectors, projected).
    ///
    /// # Shapes
    /// - input_ids, attention_mask, token_type_ids: [n, seq]
    /// - returns: [n, shared_dim]
    pub fn encode_text(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        l2_normalize(self.text_proj.forward(self.text_encoder.encode(input_ids, attention_mask, token_type_ids)))
    }

    /// The current exp(logit_scale).
    pub fn temperature_scale(&self) -> f32 {
        self.logit_scale.val().exp().into_scalar().elem::<f32>()
    }

    /// Load a checkpoint in the layout of the reference's released one: a PyTorch file whose
    /// `state_dict` holds `audio_encoder.*` (CNN14 or ResNet38, told apart by their keys), `text_encoder.model.*` (a Hugging Face BertModel),
    /// `audio_proj.*`, `text_proj.*` and `logit_scale`. The text encoder's shape comes from its
    /// `config.json` (`text_config`); the audio encoder's shape and the shared size from the checkpoint.
    /// Returns the model and its [`ClapConfig`] (token length: [`super::tokenizer::DEFAULT_MAX_LEN`]).
    ///
    /// The audio encoder is the one its keys show, or `audio_kind` when given.
    pub fn load_reference(
        checkpoint: &Path,
        text_config: &Path,
        sample_rate: u32,
        audio_kind: Option<ReferenceAudioKind>,
        device: &B::Device,
    ) -> Result<(Self, ClapConfig)> {
        let top = Some("state_dict");
        let audio = AudioEncoderConfig::from_reference_weights(checkpoint, top, "audio_encoder.", audio_kind)?;
        let text = TextEncoderConfig::Bert(BertConfig::from_file(text_config)?);
        let (_, proj_shape) = weights::read_tensor(checkpoint, top, "audio_proj.weight")?;
        let shared_dim =
            *proj_shape.first().ok_or_else(|| Error::file(checkpoint, "audio_proj.weight is not a matrix"))?;
        let mut spec = LoadSpec::new().top_level_key("state_dict").separately("logit_scale");
        for (from, to) in bert::hf_key_renames("text_encoder.model.", "text_encoder.") {
            spec = spec.remap(from, to);
        }
        for pattern in bert::hf_ignored_keys("text_encoder.") {
            spec = spec.ignore(pattern);
        }
        let spec = spec.and(audio.reference_load_spec::<B>("audio_encoder."));
        let config = ClapConfig { sample_rate, audio, text, shared_dim, max_tokens: default_max_tokens() };
        let mut model = weights::load(config.init(device)?, checkpoint, Layout::Pytorch, &spec)?;
        // 0-dimensional in the reference, so it is read on its own.
        let (scale, _) = weights::read_tensor(checkpoint, top, "logit_scale")?;
        let scale = *scale.first().ok_or_else(|| Error::file(checkpoint, "logit_scale is empty"))?;
        model.logit_scale = Param::from_tensor(Tensor::from_data(TensorData::new(vec![scale], [1]), device));
        Ok((model, config))
    }
}
