//! Embeddings of clips and captions with a CLAP model: what `clap-tools embed` runs.
//!
//! The model comes from a clap-tools checkpoint directory ([`Clap::save_dir`]) or from a checkpoint
//! in the reference's released layout plus its text encoder's `config.json`. Audio comes from packed
//! shards (a `pack` output's waveform index) or from audio files decoded and resampled on the fly;
//! captions from a captions table or caption JSON. Embeddings are written as a float32 `.npy`
//! [rows, dim] and a Parquet table ([`crate::schema::Table::Embeddings`]) with the ids.

use std::path::{Path, PathBuf};

use crate::audio::decode::decode_mono;
use crate::error::{Error, Result};
pub use crate::model::checkpoint::{Embedder, ModelSource};
use crate::table::EmbeddingRows;
use clap_tools_backends::burn;

/// Write `rows` as `{out}.npy` and `{out}.parquet` (`out` without extension), each atomically.
pub fn write(out: &Path, rows: &EmbeddingRows) -> Result<(PathBuf, PathBuf)> {
    let npy = with_ext(out, "npy");
    let parquet = with_ext(out, "parquet");
    // The matrix and its table are one set: both or neither.
    crate::atomic::as_set(|| {
        crate::npy::write_f32(&npy, &[rows.audio_ids.len(), rows.dim], &rows.data)?;
        crate::table::write_embeddings(&parquet, rows)
    })?;
    Ok((npy, parquet))
}

/// `OUT.ext`; an output named with one of its two extensions (`out.npy`, `out.parquet`) means the
/// pair `out.npy` + `out.parquet`, not `out.npy.npy`.
fn with_ext(out: &Path, ext: &str) -> PathBuf {
    if matches!(crate::manifest::extension(out).as_str(), "npy" | "parquet") {
        return out.with_extension(ext);
    }
    let mut s = out.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Load one clip for embedding: from packed shards by id, or by decoding a file.
pub fn decode_file(path: &Path, sample_rate: u32) -> Result<Vec<f32>> {
    decode_mono(path, Some(sample_rate)).map(|d| d.samples).map_err(|e| Error::file(path, e.0))
}

/// Where clips to embed come from: one waveform index written by `pack` (rows follow it), or audio
/// files and folders (decoded and resampled to the model's rate; audio_id = the file name).
#[derive(Debug, Clone)]
pub enum AudioInput {
    Index(PathBuf),
    Files(Vec<PathBuf>),
}

impl AudioInput {
    /// One `.csv`/`.parquet` file is a waveform index; anything else is audio files and folders.
    pub fn from_paths(paths: &[PathBuf]) -> Self {
        match paths {
            [p] if p.is_file() && matches!(crate::manifest::extension(p).as_str(), "csv" | "parquet") => {
                AudioInput::Index(p.clone())
            }
            _ => AudioInput::Files(paths.to_vec()),
        }
    }
}

/// A clip that could not be embedded, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub audio_id: String,
    pub reason: String,
}

/// What [`embed_audio`] did.
#[derive(Debug)]
pub struct AudioEmbeddings {
    pub rows: EmbeddingRows,
    /// Clips asked for.
    pub clips: usize,
    pub skipped: Vec<Skipped>,
    pub outcome: crate::progress::Outcome,
}

/// A clip to embed: from shards or from a file.
enum Clip {
    Packed(String),
    File(String, PathBuf),
}

/// Embed every clip of `input`, `batch_size` at a time. A clip that cannot be read or decoded is
/// skipped and reported (the job goes on); a model failure stops it.
pub fn embed_audio<B: burn::tensor::backend::Backend>(
    model: &Embedder<B>,
    input: &AudioInput,
    batch_size: usize,
    progress: &dyn crate::progress::Progress,
) -> Result<AudioEmbeddings> {
    use crate::shards::WaveformReader;
    if batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    let rate = model.config.sample_rate;
    let (reader, clips) = match input {
        AudioInput::Index(index) => {
            let pairs = crate::shards::reader::read_index_at(index, rate)?;
            let clips: Vec<Clip> = pairs.iter().map(|(id, _)| Clip::Packed(id.clone())).collect();
            (Some(WaveformReader::from_pairs(pairs)), clips)
        }
        AudioInput::Files(paths) => {
            let mut clips = Vec::new();
            for p in paths {
                if p.is_dir() {
                    let listing = crate::manifest::scan::list_audio(p, &Default::default())?;
                    clips.extend(listing.files.into_iter().map(|(id, path)| Clip::File(id, path)));
                } else if p.is_file() {
                    let id = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    clips.push(Clip::File(id, p.clone()));
                } else {
                    return Err(Error::file(p, "no such file or folder"));
                }
            }
            (None, clips)
        }
    };
    if clips.is_empty() {
        return Err(Error::config("inputs", "no clips to embed"));
    }
    progress.start(clips.len() as u64);
    let mut rows = EmbeddingRows { dim: model.dim(), ..Default::default() };
    let mut skipped = Vec::new();
    for chunk in clips.chunks(batch_size) {
        let mut ids = Vec::new();
        let mut waves = Vec::new();
        for clip in chunk {
            let (id, wave) = match (clip, &reader) {
                (Clip::Packed(id), Some(r)) => (id, r.read(id)),
                (Clip::Packed(id), None) => (id, Err(Error::Internal("packed clip without an index".into()))),
                (Clip::File(id, path), _) => (id, decode_file(path, rate)),
            };
            match wave {
                Ok(w) if !w.is_empty() => {
                    ids.push(id.clone());
                    waves.push(w);
                }
                Ok(_) => skipped.push(Skipped { audio_id: id.clone(), reason: "empty waveform".into() }),
                Err(e) => skipped.push(Skipped { audio_id: id.clone(), reason: e.to_string() }),
            }
        }
        if !waves.is_empty() {
            let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
            rows.data.extend(model.audio(&refs)?);
            for id in ids {
                rows.audio_ids.push(id);
                rows.caption_index.push(None);
                rows.captions.push(None);
            }
        }
        progress.advance(chunk.len() as u64);
    }
    let outcome = crate::progress::Outcome::of(rows.audio_ids.len(), skipped.len());
    Ok(AudioEmbeddings { rows, clips: clips.len(), skipped, outcome })
}

/// Embed captions or queries, `batch_size` at a time.
pub fn embed_text<B: burn::tensor::backend::Backend>(
    model: &Embedder<B>,
    tokenizer: &crate::model::tokenizer::CaptionTokenizer,
    texts: Vec<crate::manifest::queries::TextRow>,
    batch_size: usize,
    progress: &dyn crate::progress::Progress,
) -> Result<EmbeddingRows> {
    if batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    progress.start(texts.len() as u64);
    let mut rows = EmbeddingRows { dim: model.dim(), ..Default::default() };
    for chunk in texts.chunks(batch_size) {
        let refs: Vec<&str> = chunk.iter().map(|t| t.caption.as_str()).collect();
        rows.data.extend(model.text(tokenizer, &refs)?);
        progress.advance(chunk.len() as u64);
    }
    for t in texts {
        rows.audio_ids.push(t.audio_id);
        rows.caption_index.push(t.caption_index);
        rows.captions.push(Some(t.caption));
    }
    Ok(rows)
}
