//! Retrieval evaluation of a CLAP model on a validation set: every clip whole, every caption, the
//! caption × clip similarity matrix, and all the metrics of [`crate::eval`].

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use clap_tools_backends::burn;

use super::data::ValSet;
use crate::error::Result;
use crate::eval::metrics::{evaluate, Metrics};
use crate::model::clap::Clap;
use crate::model::encoder::{AudioEncoder, TextEncoder};
use crate::model::logmel::LogMel;
use crate::model::tokenizer::CaptionTokenizer;

/// The similarity matrix [captions, clips] (row-major) and its metrics.
pub struct Evaluation {
    pub sims: Vec<f32>,
    pub metrics: Metrics,
}

/// Embed every clip (whole, `batch_size` at a time, shortest first to limit padding) and every
/// caption, and score text-to-audio and audio-to-text retrieval. `model` should be an inference
/// model (no autodiff: BatchNorm uses its running statistics, no dropout).
pub fn evaluate_model<B: Backend>(
    model: &Clap<B>,
    val: &ValSet,
    logmel: &LogMel,
    tokenizer: &CaptionTokenizer,
    batch_size: usize,
    device: &B::Device,
    mut progress: impl FnMut(usize),
) -> Result<Evaluation> {
    let dim = model.audio_proj.weight.dims()[1];
    let n = val.audio_ids.len();
    let mut lengths = Vec::with_capacity(n);
    for id in &val.audio_ids {
        lengths.push(val.reader.len(id)?);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    let mut audio = vec![0.0f32; n * dim];
    let min = logmel.samples_for(model.audio_encoder.min_frames());
    for chunk in order.chunks(batch_size.max(1)) {
        let waves = chunk.iter().map(|&i| val.reader.read(&val.audio_ids[i])).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
        // The audio encoder needs a few frames (CNN14: 32): a batch of very short clips is
        // zero-padded to that.
        let mel = logmel.batch_padded(&refs, min);
        let valid: Vec<usize> = mel.wave_lengths.iter().map(|&l| logmel.frames(l)).collect();
        let x = Tensor::<B, 3>::from_data(TensorData::new(mel.data, [mel.batch, mel.frames, mel.n_mels]), device);
        let emb: Vec<f32> = model.encode_audio(x, &valid).into_data().convert::<f32>().into_vec().unwrap_or_default();
        for (row, &i) in emb.chunks(dim).zip(chunk) {
            audio[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
        progress(chunk.len());
    }
    let mut text = Vec::with_capacity(val.captions.len() * dim);
    for chunk in val.captions.chunks(64) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let tokens = tokenizer.encode_batch(&refs)?;
        model.text_encoder.check_tokens(&tokens)?;
        let (ids, mask, types) = tokens.to_tensors::<B>(device);
        text.extend(model.encode_text(ids, mask, types).into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default());
    }
    let sims = similarity(&text, &audio, dim);
    let metrics = evaluate(&sims, &[val.captions.len(), n], Some(val.captions_per_clip))?;
    Ok(Evaluation { sims, metrics })
}

/// text [m, dim] · audio [n, dim]ᵀ → [m, n].
pub fn similarity(text: &[f32], audio: &[f32], dim: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let n = audio.len() / dim;
    let mut out = vec![0.0f32; text.len() / dim * n];
    out.par_chunks_mut(n.max(1)).zip(text.par_chunks(dim)).for_each(|(row, t)| {
        for (o, a) in row.iter_mut().zip(audio.chunks(dim)) {
            *o = t.iter().zip(a).map(|(x, y)| x * y).sum();
        }
    });
    out
}
