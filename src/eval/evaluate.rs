//! Retrieval evaluation of a CLAP model on an evaluation set: every clip whole, every caption, the
//! caption × clip similarity matrix, and all the metrics of [`super::metrics`]. One path for
//! `clap-tools eval` and the demo ([`evaluate_checkpoint`]) and for the trainer's validation
//! ([`evaluate_model`], on the model in memory).

use burn::tensor::backend::Backend;
use clap_tools_backends::burn;

use std::collections::HashMap;
use std::path::PathBuf;

use super::metrics::{evaluate_grouped, Metrics, RelevanceMetrics};
use super::retrieval::{judgements, score_judged};
use super::set::{join, EvalSet};
use crate::error::Result;
use crate::model::checkpoint::{read_back, Batching, Embedder, ModelSource};
use crate::model::clap::Clap;
use crate::model::encoder::{AudioEncoder, TextEncoder};
use crate::model::logmel::LogMel;
use crate::model::tokenizer::CaptionTokenizer;
use crate::schema::{Query, QueryResultRow};
use crate::shards::WaveformReader;

/// The similarity matrix [captions, clips] (row-major) and its metrics.
pub struct Evaluation {
    pub sims: Vec<f32>,
    pub metrics: Metrics,
}

/// Embed every clip (whole, up to `batch_size` at a time as `batching` allows, shortest first) and
/// every caption, and score text-to-audio and audio-to-text retrieval. `model` should be an
/// inference model (no autodiff: BatchNorm uses its running statistics, no dropout).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_model<B: Backend>(
    model: &Clap<B>,
    val: &EvalSet,
    logmel: &LogMel,
    tokenizer: &CaptionTokenizer,
    batch_size: usize,
    batching: Batching,
    device: &B::Device,
    progress: impl FnMut(usize),
) -> Result<Evaluation> {
    let source = ClipSource::Packed(&val.reader);
    let clips = Clips { audio_ids: &val.audio_ids, source: &source };
    let batches = Batches { size: batch_size, batching };
    let sims = similarities(model, &clips, &val.captions, logmel, tokenizer, batches, device, progress)?;
    let metrics = evaluate_grouped(&sims, &[val.captions.len(), val.audio_ids.len()], &val.clip_of)?;
    Ok(Evaluation { sims, metrics })
}

/// Where the waveforms of clips to embed are.
pub enum ClipSource<'a> {
    /// Packed shards (at the model's rate).
    Packed(&'a WaveformReader),
    /// Audio files, decoded and resampled to `sample_rate` when embedded: audio_id → (path, length
    /// at `sample_rate` from the header, for ordering).
    Files { files: &'a HashMap<String, (PathBuf, usize)>, sample_rate: u32 },
}

impl ClipSource<'_> {
    fn len(&self, audio_id: &str) -> Result<usize> {
        match self {
            ClipSource::Packed(r) => r.len(audio_id),
            ClipSource::Files { files, .. } => Ok(files.get(audio_id).map_or(0, |f| f.1)),
        }
    }

    /// The waveforms of `ids`: files are decoded in parallel (decoding, not the model, is their cost).
    fn read(&self, ids: &[&str]) -> Result<Vec<Vec<f32>>> {
        use rayon::prelude::*;
        match self {
            ClipSource::Packed(r) => ids.iter().map(|id| r.read(id)).collect(),
            ClipSource::Files { files, sample_rate } => ids
                .par_iter()
                .map(|id| {
                    let (path, _) =
                        files.get(*id).ok_or_else(|| crate::Error::Internal(format!("clip {id:?} has no file")))?;
                    crate::embed::decode_file(path, *sample_rate)
                })
                .collect(),
        }
    }
}

/// Clips to embed: their ids and where their waveforms are.
pub struct Clips<'a> {
    pub audio_ids: &'a [String],
    pub source: &'a ClipSource<'a>,
}

/// How clips go through the model: at most `size` per forward pass, grouped as `batching` says.
#[derive(Debug, Clone, Copy)]
pub struct Batches {
    pub size: usize,
    pub batching: Batching,
}

/// The similarity matrix [texts, clips] (row-major) of `texts` against every clip, each embedded
/// whole (shortest first, in the forward passes `batches` allows); `progress` counts clips.
#[allow(clippy::too_many_arguments)]
pub fn similarities<B: Backend>(
    model: &Clap<B>,
    clips: &Clips,
    texts: &[String],
    logmel: &LogMel,
    tokenizer: &CaptionTokenizer,
    batches: Batches,
    device: &B::Device,
    mut progress: impl FnMut(usize),
) -> Result<Vec<f32>> {
    let val = clips;
    let dim = model.audio_proj.weight.dims()[1];
    let n = val.audio_ids.len();
    let mut lengths = Vec::with_capacity(n);
    for id in val.audio_ids {
        lengths.push(val.source.len(id)?);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    let mut audio = vec![0.0f32; n * dim];
    let min = logmel.samples_for(model.audio_encoder.min_frames());
    for chunk in batches.batching.passes(&order, &lengths, batches.size) {
        let chunk = chunk.as_slice();
        let ids: Vec<&str> = chunk.iter().map(|&i| val.audio_ids[i].as_str()).collect();
        let waves = val.source.read(&ids)?;
        let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
        // The audio encoder needs a few frames (CNN14: 32): a batch of very short clips is
        // zero-padded to that.
        let mel = logmel.batch_padded(&refs, min);
        let valid: Vec<usize> = mel.wave_lengths.iter().map(|&l| logmel.frames(l)).collect();
        let emb = read_back(model.encode_audio(mel.to_tensors::<B>(device), &valid))?;
        for (row, &i) in emb.chunks(dim).zip(chunk) {
            audio[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
        progress(chunk.len());
    }
    let mut text = Vec::with_capacity(texts.len() * dim);
    for chunk in texts.chunks(64) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let tokens = tokenizer.encode_batch(&refs)?;
        model.text_encoder.check_tokens(&tokens)?;
        let (ids, mask, types) = tokens.to_tensors::<B>(device);
        text.extend(read_back(model.encode_text(ids, mask, types))?);
    }
    Ok(similarity(&text, &audio, dim))
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

/// What to evaluate a checkpoint on.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Caption tables (Parquet or caption JSON) of the evaluation clips.
    pub captions: Vec<PathBuf>,
    /// Waveform index of the packed evaluation clips.
    pub waveforms: PathBuf,
    /// Captions per clip (the first K of each clip, leaving out clips with fewer); `None`: all.
    pub captions_per_clip: Option<usize>,
    /// Clips per forward pass.
    pub batch_size: usize,
    /// Whether clips of different lengths share a forward pass (zero-padded, as the reference).
    pub batching: Batching,
    /// Relevance judgements of the captions (the DCASE 2025 CSV, `query,audio_filenames`, queries
    /// matched to captions by text): adds the multi-relevance metrics of the judged captions.
    pub relevance: Option<PathBuf>,
}

/// A checkpoint's evaluation, with the set it was evaluated on (its clips in the similarity matrix's
/// column order, and how many were left out for too few captions).
pub struct CheckpointEvaluation {
    pub evaluation: Evaluation,
    pub set: EvalSet,
    /// Clips with captions but no packed waveform (left out).
    pub no_waveform: Vec<String>,
    /// With [`EvalOptions::relevance`]: the metrics over the judged captions and each one's result.
    pub relevance: Option<(RelevanceMetrics, Vec<QueryResultRow>)>,
}

/// Load the model of `source` and evaluate it on the clips of `opts` (what `clap-tools eval` and the
/// demo run); `progress` counts embedded clips.
pub fn evaluate_checkpoint<B: Backend>(
    source: &ModelSource,
    opts: &EvalOptions,
    device: B::Device,
    progress: &dyn crate::progress::Progress,
) -> Result<CheckpointEvaluation> {
    let (e, tokenizer) = load_with_tokenizer::<B>(source, device)?;
    evaluate_loaded(&e, &tokenizer, opts, progress)
}

/// The model of `source` and its tokenizer.
pub fn load_with_tokenizer<B: Backend>(
    source: &ModelSource,
    device: B::Device,
) -> Result<(Embedder<B>, CaptionTokenizer)> {
    let text_dir = source.tokenizer_dir()?;
    let e = Embedder::<B>::load(source, device)?;
    let tokenizer = CaptionTokenizer::from_dir(&text_dir, e.config.max_tokens)?;
    Ok((e, tokenizer))
}

/// [`evaluate_checkpoint`] with a model already loaded (the demo goes on to search with it).
pub fn evaluate_loaded<B: Backend>(
    e: &Embedder<B>,
    tokenizer: &CaptionTokenizer,
    opts: &EvalOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<CheckpointEvaluation> {
    if opts.captions_per_clip == Some(0) {
        return Err(crate::Error::config("captions_per_clip", "must be at least 1"));
    }
    let joined = join(&opts.captions, &opts.waveforms, e.config.sample_rate)?;
    let no_waveform = joined.no_waveform.clone();
    let set = EvalSet::new(joined, opts.captions_per_clip)?;
    // Judgements first: a bad file fails before the clips are embedded.
    let judged = match &opts.relevance {
        Some(csv) => {
            let mut queries: Vec<Query> = set
                .captions
                .iter()
                .enumerate()
                .map(|(i, c)| Query { query_index: i as u32 + 1, query: c.clone(), ..Default::default() })
                .collect();
            let captions = opts.captions.first().map(PathBuf::as_path).unwrap_or(csv);
            let what = format!("the evaluation set (the clips with captions in {})", captions.display());
            let judged = judgements(&mut queries, &set.audio_ids, Some(csv), captions, &what)?;
            Some((queries, judged))
        }
        None => None,
    };
    progress.start(set.audio_ids.len() as u64);
    let evaluation =
        evaluate_model(&e.model, &set, &e.logmel, tokenizer, opts.batch_size, opts.batching, &e.device, |n| {
            progress.advance(n as u64)
        })?;
    let relevance = match judged {
        Some((queries, judged)) => Some(score_judged(&queries, &set.audio_ids, &evaluation.sims, &judged)?),
        None => None,
    };
    Ok(CheckpointEvaluation { evaluation, set, no_waveform, relevance })
}
