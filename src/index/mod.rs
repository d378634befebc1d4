//! A search index: the CLAP embeddings of a collection of clips, the clips' table, and the identity of
//! the model that embedded them, in one folder. What `index build|add`, `search`, `classify` and
//! `serve` work on.
//!
//! # Layout of INDEX
//! ```text
//! INDEX/index.json       format, rows, dim, dtype, the model's identity (checkpoint, SHA-256, front end)
//! INDEX/embeddings.npy   [rows, dim] float32 (or float16), L2-normalised; row i is clip i
//! INDEX/clips.parquet    the index clips table (audio_id, source file, shard, duration, dataset, split, captions)
//! INDEX/build/           an unfinished build or add: plan.json and the parts embedded so far
//! ```
//! The three files are written as a set: an index folder either holds a complete index or none.

pub mod build;
pub mod classify;
pub mod flat;
pub mod query;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::checkpoint::{Embedder, ModelSource};
use crate::npy::{Dtype, MappedArray};
use crate::schema::IndexClip;
use clap_tools_backends::burn::tensor::backend::Backend;

pub use build::{build, BuildMode, BuildOptions, BuildSummary, Source};
pub use flat::Hit;

pub const MANIFEST: &str = "index.json";
pub const EMBEDDINGS: &str = "embeddings.npy";
pub const CLIPS: &str = "clips.parquet";
pub const BUILD_DIR: &str = "build";
const FORMAT: &str = "clap-tools index";
const VERSION: u32 = 1;

/// The model an index was embedded with: enough to load it again and to tell another model apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// The checkpoint (absolute): a clap-tools checkpoint folder or a reference `.pth`.
    pub checkpoint: PathBuf,
    /// SHA-256 of the weights (and, for a folder, of its clap.json): the model's identity.
    pub sha256: String,
    /// The text encoder's folder, for a reference checkpoint.
    pub text_encoder: Option<PathBuf>,
    /// The checkpoint and text encoder as paths from the index folder: where they are found after a
    /// folder holding the index and the model was moved (the hash is checked all the same).
    #[serde(default)]
    pub from_index: Option<(PathBuf, Option<PathBuf>)>,
    pub audio_encoder: String,
    pub text_encoder_kind: String,
    pub shared_dim: usize,
    pub front_end: FrontEnd,
}

/// The log-mel settings clips were embedded with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontEnd {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub n_mels: usize,
    pub f_min: f64,
    pub f_max: f64,
}

impl ModelIdentity {
    /// The identity of a loaded model (hashing its checkpoint's files).
    pub fn of<B: Backend>(source: &ModelSource, model: &Embedder<B>) -> Result<Self> {
        let c = model.logmel.config();
        Ok(Self {
            checkpoint: crate::paths::absolute(&source.checkpoint),
            sha256: checkpoint_sha256(&source.checkpoint)?,
            text_encoder: source.text_encoder.as_deref().map(crate::paths::absolute),
            from_index: None,
            audio_encoder: model.config.audio.describe(),
            text_encoder_kind: model.config.text.describe(),
            shared_dim: model.config.shared_dim,
            front_end: FrontEnd {
                sample_rate: c.sample_rate,
                n_fft: c.n_fft,
                hop: c.hop,
                n_mels: c.n_mels,
                f_min: c.f_min,
                f_max: c.f_max,
            },
        })
    }

    /// How messages name the model: its checkpoint and the start of its hash.
    pub fn name(&self) -> String {
        format!("{} (sha256 {})", self.checkpoint.display(), &self.sha256[..self.sha256.len().min(12)])
    }

    /// Where to load the model from, with the sample rate it ran at: the recorded absolute paths, or
    /// (when the checkpoint is not there) the paths from the index folder `dir`.
    pub fn source(&self, dir: &Path) -> ModelSource {
        let (checkpoint, text_encoder) = match &self.from_index {
            Some((c, t)) if !self.checkpoint.exists() => {
                (dir.join(c), t.as_ref().map(|t| dir.join(t)).or(self.text_encoder.clone()))
            }
            _ => (self.checkpoint.clone(), self.text_encoder.clone()),
        };
        ModelSource { checkpoint, text_encoder, sample_rate: self.front_end.sample_rate, audio_encoder: None }
    }

    /// This identity as an index at `dir` records it (with the way back from there).
    pub fn for_index(&self, dir: &Path) -> Self {
        let back = |p: &Path| crate::paths::climbing(dir, p);
        Self { from_index: Some((back(&self.checkpoint), self.text_encoder.as_deref().map(back))), ..self.clone() }
    }
}

/// SHA-256 over a checkpoint: the file itself, or a clap-tools folder's weights and config.
pub fn checkpoint_sha256(checkpoint: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let files: Vec<PathBuf> = if checkpoint.is_dir() {
        vec![checkpoint.join(crate::model::clap::CONFIG_FILE), checkpoint.join(crate::model::clap::WEIGHTS_FILE)]
    } else {
        vec![checkpoint.to_path_buf()]
    };
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let mut file = std::fs::File::open(&f).map_err(|e| Error::io(&f, e))?;
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(&f, e))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
    }
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// What `index.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub rows: usize,
    pub dim: usize,
    /// "f32" or "f16": the element type of embeddings.npy.
    pub dtype: String,
    /// The model; absent for an index made from embeddings computed elsewhere.
    pub model: Option<ModelIdentity>,
    /// The `embed` output an index was made from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddings_from: Option<PathBuf>,
    /// The index folder's absolute path when it was written: after a folder holding the index and
    /// its audio moves, the recorded audio paths are found again from here ([`Index::clip_file`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<PathBuf>,
}

impl Manifest {
    fn new(rows: usize, dim: usize, f16: bool, model: Option<ModelIdentity>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            rows,
            dim,
            dtype: if f16 { "f16" } else { "f32" }.into(),
            model,
            embeddings_from: None,
            written_at: None,
        }
    }

    pub fn is_f16(&self) -> bool {
        self.dtype == "f16"
    }

    /// Read and check `INDEX/index.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        if !path.is_file() {
            let why = if dir.join(BUILD_DIR).is_dir() {
                "holds an unfinished build: rerun the same `index build` to complete it"
            } else if dir.is_dir() {
                "is not a clap-tools index (no index.json)"
            } else {
                "no such index folder"
            };
            return Err(Error::file(dir, why));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| Error::file(&path, format!("not an index manifest: {e}")))?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(Error::file(
                &path,
                format!("format {:?} version {} is not {FORMAT:?} version {VERSION}", m.format, m.version),
            ));
        }
        if !matches!(m.dtype.as_str(), "f32" | "f16") {
            return Err(Error::file(&path, format!("dtype {:?} (f32 or f16)", m.dtype)));
        }
        Ok(m)
    }
}

/// An opened index: its manifest, clips and (mapped) embeddings.
pub struct Index {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub clips: Vec<IndexClip>,
    pub embeddings: MappedArray,
}

impl Index {
    /// Open an index folder, checking that its three files agree.
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest = Manifest::read(dir)?;
        let clips = crate::table::read_index_clips(&dir.join(CLIPS))?;
        let npy = dir.join(EMBEDDINGS);
        let embeddings = crate::npy::map_float(&npy)?;
        let want = if manifest.is_f16() { Dtype::F16 } else { Dtype::F32 };
        if embeddings.dtype != want || embeddings.shape != [manifest.rows, manifest.dim] {
            return Err(Error::file(
                &npy,
                format!(
                    "holds {:?} {:?} but {MANIFEST} says {} [{}, {}]",
                    embeddings.dtype, embeddings.shape, manifest.dtype, manifest.rows, manifest.dim
                ),
            ));
        }
        if clips.len() != manifest.rows {
            return Err(Error::file(
                dir.join(CLIPS),
                format!("has {} rows but {MANIFEST} says {}", clips.len(), manifest.rows),
            ));
        }
        Ok(Self { dir: dir.to_path_buf(), manifest, clips, embeddings })
    }

    /// A clip's recorded audio file (its shard or source file): as recorded where it exists, else the
    /// same way from the index folder as from where the index was written (a folder holding both
    /// was moved), else as recorded (the caller's read names it).
    pub fn clip_file(&self, recorded: &Path) -> PathBuf {
        if recorded.exists() {
            return recorded.to_path_buf();
        }
        if let Some(at) = &self.manifest.written_at {
            let moved = crate::paths::resolve(&self.dir.join(MANIFEST), &crate::paths::climbing(at, recorded));
            if moved.exists() {
                return moved;
            }
        }
        recorded.to_path_buf()
    }

    pub fn len(&self) -> usize {
        self.manifest.rows
    }

    pub fn is_empty(&self) -> bool {
        self.manifest.rows == 0
    }

    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    /// The `k` best clips for each query ([n, dim] row-major), exact, by inner product.
    pub fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        flat::top_k(self.embeddings.values(), self.dim(), queries, k)
    }

    /// The embeddings as float32 (a copy; for building on an index).
    pub fn embeddings_f32(&self) -> Vec<f32> {
        match self.embeddings.values() {
            crate::npy::Values::F32(v) => v.to_vec(),
            crate::npy::Values::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        }
    }

    /// The model to embed queries with: the one the index records, or `over` (which must be the
    /// same model: its hash is checked). An index made from embeddings computed elsewhere records
    /// none and takes any `over`.
    pub fn query_model(&self, over: Option<&ModelSource>) -> Result<ModelSource> {
        match (&self.manifest.model, over) {
            (Some(id), Some(src)) => {
                let sha = checkpoint_sha256(&src.checkpoint)?;
                if sha != id.sha256 {
                    return Err(Error::config(
                        "checkpoint",
                        format!(
                            "{} (sha256 {}) is not the model this index was built with: {}",
                            src.checkpoint.display(),
                            &sha[..12],
                            id.name()
                        ),
                    ));
                }
                Ok(src.clone())
            }
            (Some(id), None) => {
                let source = id.source(&self.dir);
                let sha = checkpoint_sha256(&source.checkpoint).map_err(|e| {
                    Error::file(&self.dir, format!("the index's model cannot be read ({e}); give --checkpoint"))
                })?;
                if sha != id.sha256 {
                    return Err(Error::file(
                        &source.checkpoint,
                        format!(
                            "has changed since the index {} was built (sha256 {} now, {} then): give the original with --checkpoint",
                            self.dir.display(),
                            &sha[..12],
                            &id.sha256[..12]
                        ),
                    ));
                }
                Ok(source)
            }
            (None, Some(src)) => Ok(src.clone()),
            (None, None) => Err(Error::config(
                "checkpoint",
                format!(
                    "the index {} was made from embeddings and records no model: text and audio queries need --checkpoint",
                    self.dir.display()
                ),
            )),
        }
    }
}

/// Write a complete index (the three files, as a set).
pub(crate) fn write(dir: &Path, manifest: &Manifest, clips: &[IndexClip], data: &[f32]) -> Result<()> {
    if clips.len() != manifest.rows || data.len() != manifest.rows * manifest.dim {
        return Err(Error::Internal("index rows and embeddings disagree".into()));
    }
    crate::atomic::as_set(|| {
        let shape = [manifest.rows, manifest.dim];
        if manifest.is_f16() {
            crate::npy::write_f16(&dir.join(EMBEDDINGS), &shape, data)?;
        } else {
            crate::npy::write_f32(&dir.join(EMBEDDINGS), &shape, data)?;
        }
        crate::table::write_index_clips(&dir.join(CLIPS), clips)?;
        let manifest = Manifest { written_at: Some(crate::paths::absolute(dir)), ..manifest.clone() };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(format!("index manifest: {e}")))?;
        crate::atomic::write_bytes(&dir.join(MANIFEST), &json)
    })
}
