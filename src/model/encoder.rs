//! The encoder interfaces of the CLAP model.
//!
//! An audio encoder turns an audio batch (log-mel frames, and the waveforms where it reads them:
//! [`AudioTensors`]) into one vector per clip ([`AudioEncoder`]); a text
//! encoder turns token ids into one vector per caption ([`TextEncoder`]). The CLAP head
//! ([`super::clap`]), the trainer, evaluation and `embed` use only these traits. Each encoder
//! implements one in its own file; [`super::registry`] is where they are registered.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use clap_tools_backends::burn;

use super::tokenizer::Tokens;
use crate::error::Result;

/// An audio batch on the device, as the front end of the encoder's registered input made it
/// ([`super::registry::AudioInput`]; on the host, [`super::logmel::LogMelBatch`]).
#[derive(Debug, Clone)]
pub struct AudioTensors<B: Backend> {
    /// Log-mel frames: [batch, frames, n_mels].
    pub mel: Tensor<B, 3>,
    /// The zero-padded waveforms, [batch, samples], for an encoder that reads them
    /// (Wavegram-Logmel-CNN14); `None` for the others.
    pub wave: Option<Tensor<B, 2>>,
}

impl<B: Backend> From<Tensor<B, 3>> for AudioTensors<B> {
    /// Log-mel frames alone.
    fn from(mel: Tensor<B, 3>) -> Self {
        Self { mel, wave: None }
    }
}

/// An audio batch to clip vectors.
pub trait AudioEncoder<B: Backend> {
    /// Clip vectors of an audio batch.
    ///
    /// # Shapes
    /// - x.mel: [batch, frames, n_mels], at least [`min_frames`](Self::min_frames) frames; x.wave,
    ///   where the encoder reads it: [batch, samples]
    /// - valid_frames: one per clip, its frames before batch padding
    /// - returns: [batch, output_dim]
    fn encode(&self, x: AudioTensors<B>, valid_frames: &[usize]) -> Tensor<B, 2>;

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

/// The widest block and the largest vector an encoder's config may ask for: checked, with the key,
/// before anything is allocated (far above any real model).
pub const MAX_WIDTH: usize = 16_384;
pub const MAX_DIM: usize = 65_536;

/// Check a config's block widths (`KEY.channels`) against [`MAX_WIDTH`].
pub fn check_widths(key: &str, widths: &[usize], check: &mut dyn FnMut(bool, String, &str)) {
    let ok = widths.iter().all(|&x| (1..=MAX_WIDTH).contains(&x));
    check(ok, format!("{key}.channels"), &format!("every width must be 1 to {MAX_WIDTH}"));
}

/// Check a config's vector size (`KEY.dim`), when given, against [`MAX_DIM`].
pub fn check_dim(key: &str, dim: Option<usize>, check: &mut dyn FnMut(bool, String, &str)) {
    let ok = dim.is_none_or(|d| (1..=MAX_DIM).contains(&d));
    check(ok, format!("{key}.dim"), &format!("must be 1 to {MAX_DIM}"));
}
