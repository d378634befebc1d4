//! A trained CLAP model loaded for use: from a clap-tools checkpoint folder ([`Clap::save_dir`]) or
//! from a checkpoint in the reference's released layout plus its text encoder's folder, with the
//! log-mel front end it was trained with. What `embed`, `eval` and the demo's search run on.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use clap_tools_backends::burn;

use crate::error::{Error, Result};
use crate::model::clap::{Clap, ClapConfig, CONFIG_FILE};
use crate::model::encoder::{AudioEncoder, TextEncoder};
use crate::model::logmel::LogMel;
use crate::model::registry::ReferenceAudioKind;
use crate::model::tokenizer::CaptionTokenizer;

/// A loaded model with its front end.
pub struct Embedder<B: Backend> {
    pub model: Clap<B>,
    pub config: ClapConfig,
    pub logmel: LogMel,
    pub device: B::Device,
}

/// Where a model is loaded from.
#[derive(Debug, Clone)]
pub struct ModelSource {
    /// A clap-tools checkpoint directory, or a reference `.pth` checkpoint.
    pub checkpoint: PathBuf,
    /// The text encoder's Hugging Face directory (`config.json` and the vocabulary); required for a
    /// reference checkpoint, and for text embeddings (the tokenizer).
    pub text_encoder: Option<PathBuf>,
    /// Sample rate of a reference checkpoint's front end (clap-tools checkpoints record theirs).
    pub sample_rate: u32,
    /// A reference checkpoint's audio encoder, where its keys should not decide (clap-tools
    /// checkpoints record theirs).
    pub audio_encoder: Option<ReferenceAudioKind>,
}

impl ModelSource {
    /// The tokenizer's folder: the text encoder's, else a clap-tools checkpoint folder (which carries
    /// its tokenizer files).
    pub fn tokenizer_dir(&self) -> Result<PathBuf> {
        match (&self.text_encoder, self.checkpoint.is_dir()) {
            (Some(d), _) => Ok(d.clone()),
            (None, true) => Ok(self.checkpoint.clone()),
            (None, false) => Err(Error::config(
                "text_encoder",
                format!(
                    "{}: a reference checkpoint needs its text encoder's folder (the tokenizer's vocab.txt or tokenizer.json)",
                    self.checkpoint.display()
                ),
            )),
        }
    }
}

impl<B: Backend> Embedder<B> {
    pub fn load(source: &ModelSource, device: B::Device) -> Result<Self> {
        let ckpt = &source.checkpoint;
        let (model, config) = if ckpt.is_dir() {
            if !ckpt.join(CONFIG_FILE).is_file() {
                return Err(Error::file(ckpt, format!("not a clap-tools checkpoint directory (no {CONFIG_FILE})")));
            }
            Clap::load_dir(ckpt, &device)?
        } else {
            let dir = source.text_encoder.as_ref().ok_or_else(|| {
                Error::config(
                    "text_encoder",
                    format!(
                        "{}: a reference checkpoint needs its text encoder's folder (the BERT's config.json and vocabulary)",
                        ckpt.display()
                    ),
                )
            })?;
            Clap::load_reference(ckpt, &dir.join("config.json"), source.sample_rate, source.audio_encoder, &device)?
        };
        let logmel = config.audio.front_end(config.sample_rate)?;
        Ok(Self { model, config, logmel, device })
    }

    /// Normalised embeddings of a batch of clips (zero-padded to the longest, as the reference
    /// batches them; a batch of one gives each clip's embedding independent of its neighbours).
    pub fn audio(&self, clips: &[&[f32]]) -> Result<Vec<f32>> {
        // The audio encoder needs a few frames (CNN14: 32): shorter batches are zero-padded to that
        // (their valid length stays their own).
        let batch = self.logmel.batch_padded(clips, self.logmel.samples_for(self.model.audio_encoder.min_frames()));
        let valid: Vec<usize> = batch.wave_lengths.iter().map(|&n| self.logmel.frames(n)).collect();
        read_back(self.model.encode_audio(batch.to_tensors::<B>(&self.device), &valid))
    }

    /// Normalised embeddings of captions.
    pub fn text(&self, tokenizer: &CaptionTokenizer, captions: &[&str]) -> Result<Vec<f32>> {
        let tokens = tokenizer.encode_batch(captions)?;
        self.model.text_encoder.check_tokens(&tokens)?;
        let (ids, mask, types) = tokens.to_tensors::<B>(&self.device);
        read_back(self.model.encode_text(ids, mask, types))
    }

    pub fn dim(&self) -> usize {
        self.config.shared_dim
    }
}

/// The values of a tensor, as f32 on the host; a failed read is an error, never zeros.
pub fn read_back<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| Error::Device(format!("reading results back from the device: {e:?}")))
}
