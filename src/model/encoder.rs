//! The encoder interfaces of the CLAP model.
//!
//! An audio encoder turns a log-mel batch into one vector per clip ([`AudioEncoder`]); a text
//! encoder turns token ids into one vector per caption ([`TextEncoder`]). The CLAP head
//! ([`super::clap`]), the trainer, evaluation and `embed` use only these traits. Each encoder
//! implements one in its own file; [`super::registry`] is where they are registered.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use clap_tools_backends::burn;

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
