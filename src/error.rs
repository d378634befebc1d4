//! Typed errors of the library. Each names the file, and the line or audio_id, where that is known.

use std::fmt;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// A malformed or invalid line/record of a text file (CSV, TSV, YAML, JSON).
    #[error("{}:{line}: {msg}", path.display())]
    Line { path: PathBuf, line: u64, msg: String },

    /// A problem with one clip of a file.
    #[error("{}: audio_id {audio_id:?}: {msg}", path.display())]
    Item { path: PathBuf, audio_id: String, msg: String },

    /// A problem with a file as a whole.
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },

    #[error("{}: missing column {column:?} (columns found: {found})", path.display())]
    MissingColumn { path: PathBuf, column: String, found: String },

    /// Several problems found in one pass over a file; all are listed.
    #[error("{} problems in {}:\n{}", problems.len(), path.display(), Problems(problems))]
    Many { path: PathBuf, problems: Vec<String> },

    #[error("{}: parquet: {source}", path.display())]
    Parquet { path: PathBuf, source: parquet::errors::ParquetError },

    #[error("{context}: {source}")]
    Polars { context: String, source: polars::error::PolarsError },

    /// The same audio_id with different content in two inputs.
    #[error("audio_id {audio_id:?} appears in {} and in {} with different content: {detail}", first.display(), second.display())]
    Conflict { audio_id: String, first: PathBuf, second: PathBuf, detail: String },

    /// An option or configuration value out of range or inconsistent with another; `key` is its
    /// name in the library's options or the config (e.g. `pack.part_size`, `train.batch_size`).
    #[error("{key}: {msg}")]
    Config { key: String, msg: String },

    /// A model that cannot take this input or these weights (no file involved: e.g. a token id
    /// outside the vocabulary); problems with a weights file are [`Error::File`] naming it.
    #[error("model: {0}")]
    Model(String),

    /// A compute device that cannot be used (none found, transfers between devices fail).
    #[error("device: {0}")]
    Device(String),

    /// Training stopped: the loss or the weights went non-finite, or the data ran out.
    #[error("training stopped at iteration {iteration}: {msg}")]
    Training { iteration: u64, msg: String },

    /// An exchange between the processes of a training job failed or went unanswered.
    #[error("rank {rank} of {world}: {what}: {msg}")]
    Collective { rank: usize, world: usize, what: String, msg: String },

    /// A new training run asked for in a folder that holds an earlier run's checkpoints.
    #[error("{}: holds checkpoints of an earlier run: resume it, or set checkpoint.dir to a new folder", run.display())]
    RunExists { run: PathBuf },

    /// A fault of clap-tools itself (a worker thread gone, a value that cannot be serialised).
    #[error("internal error: {0} (please report it)")]
    Internal(String),
}

struct Problems<'a>(&'a [String]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        for p in self.0.iter().take(SHOWN) {
            writeln!(f, "  {p}")?;
        }
        if self.0.len() > SHOWN {
            writeln!(f, "  … and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
    pub fn line(path: impl AsRef<Path>, line: u64, msg: impl Into<String>) -> Self {
        Error::Line { path: path.as_ref().to_path_buf(), line, msg: msg.into() }
    }
    pub fn item(path: impl AsRef<Path>, audio_id: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Item { path: path.as_ref().to_path_buf(), audio_id: audio_id.into(), msg: msg.into() }
    }
    pub fn file(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::File { path: path.as_ref().to_path_buf(), msg: msg.into() }
    }
    pub fn parquet(path: impl AsRef<Path>, source: parquet::errors::ParquetError) -> Self {
        Error::Parquet { path: path.as_ref().to_path_buf(), source }
    }
    pub fn config(key: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { key: key.into(), msg: msg.into() }
    }
    pub fn polars(context: impl Into<String>, source: polars::error::PolarsError) -> Self {
        Error::Polars { context: context.into(), source }
    }
}

/// Turn a list of problems found in `path` into `Ok(())` or [`Error::Many`].
pub fn check_problems(path: &Path, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Many { path: path.to_path_buf(), problems })
    }
}
