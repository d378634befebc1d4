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
    /// How clips of different lengths share a forward pass ([`Batching::EqualLengths`] unless set).
    pub batching: Batching,
}

/// How clips of different lengths share a forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Batching {
    /// Only clips of the same length share a forward pass, so a clip's embedding is its own
    /// whatever else is in the batch (zero padding moves the convolutions at the edge of the valid
    /// frames, and so the embedding).
    #[default]
    EqualLengths,
    /// Every clip of a batch is zero-padded to the longest, as the reference batches them: its
    /// numbers exactly, with embeddings that move slightly with their neighbours.
    Padded,
}

impl Batching {
    /// The forward passes over the clips `order` (indices into `lengths`), in that order: at most
    /// `batch` clips each, and with [`Batching::EqualLengths`] only clips of one length together
    /// (equal lengths need not be adjacent in `order`; each pass keeps their order).
    pub fn passes(self, order: &[usize], lengths: &[usize], batch: usize) -> Vec<Vec<usize>> {
        let batch = batch.max(1);
        match self {
            Batching::Padded => order.chunks(batch).map(<[usize]>::to_vec).collect(),
            Batching::EqualLengths => {
                // Groups by length in order of first appearance, each cut into passes of `batch`.
                let mut groups: Vec<Vec<usize>> = Vec::new();
                let mut group_of: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
                for &i in order {
                    let g = *group_of.entry(lengths[i]).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(i);
                }
                groups.iter().flat_map(|g| g.chunks(batch).map(<[usize]>::to_vec)).collect()
            }
        }
    }
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
        Ok(Self { model, config, logmel, device, batching: Batching::default() })
    }

    /// Normalised embeddings of clips, [clips, dim] row-major in their order. With
    /// [`Batching::EqualLengths`] (the default) clips of different lengths go through separate
    /// forward passes, so each embedding is independent of its neighbours; with
    /// [`Batching::Padded`] they are zero-padded to the longest, as the reference batches them.
    pub fn audio(&self, clips: &[&[f32]]) -> Result<Vec<f32>> {
        let lengths: Vec<usize> = clips.iter().map(|c| c.len()).collect();
        let order: Vec<usize> = (0..clips.len()).collect();
        let passes = self.batching.passes(&order, &lengths, clips.len());
        if passes.len() == 1 {
            return self.audio_pass(clips);
        }
        let dim = self.dim();
        let mut out = vec![0.0f32; clips.len() * dim];
        for pass in passes {
            let refs: Vec<&[f32]> = pass.iter().map(|&i| clips[i]).collect();
            let emb = self.audio_pass(&refs)?;
            for (row, &i) in emb.chunks(dim).zip(&pass) {
                out[i * dim..(i + 1) * dim].copy_from_slice(row);
            }
        }
        Ok(out)
    }

    /// One forward pass over `clips`, zero-padded to the longest.
    fn audio_pass(&self, clips: &[&[f32]]) -> Result<Vec<f32>> {
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

#[cfg(test)]
mod batching_tests {
    use super::Batching;

    #[test]
    fn equal_lengths_share_a_pass_and_others_never_do() {
        let lengths = [5, 7, 5, 9, 7, 5, 5];
        let order: Vec<usize> = (0..lengths.len()).collect();
        let passes = Batching::EqualLengths.passes(&order, &lengths, 3);
        assert_eq!(passes, vec![vec![0, 2, 5], vec![6], vec![1, 4], vec![3]]);
        for p in &passes {
            assert!(p.iter().all(|&i| lengths[i] == lengths[p[0]]));
        }
        assert_eq!(Batching::Padded.passes(&order, &lengths, 3), vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    }
}
