//! Joining caption rows to audio files: by file name in a folder, or by audio_id in a `wav.csv`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::manifest::scan::{list_audio, IdFrom, ScanOptions};
use crate::manifest::wav_csv::Tsv;
use crate::schema::Caption;

/// Where the audio of imported captions is.
#[derive(Debug, Clone)]
pub enum AudioSource {
    /// A folder, searched recursively; matched by the file name the source lists.
    Dir(PathBuf),
    /// A `wav.csv` from `scan`; matched by audio_id.
    WavCsv(PathBuf),
}

/// What a join found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JoinReport {
    pub clips: usize,
    pub joined: usize,
    /// audio_ids of clips whose audio was not found, sorted.
    pub missing: Vec<String>,
}

/// Set `audio_path` of every row whose audio is found; report the clips whose audio is missing.
pub fn join(rows: &mut [Caption], source: &AudioSource) -> Result<JoinReport> {
    let (index, by_file_name): (HashMap<String, PathBuf>, bool) = match source {
        AudioSource::Dir(dir) => {
            let listing = list_audio(dir, &ScanOptions { recursive: true, id_from: IdFrom::Name })?;
            (listing.files.into_iter().collect(), true)
        }
        AudioSource::WavCsv(path) => {
            let tsv = Tsv::read(path)?;
            let pairs = tsv.pairs(path, "audio_id", "file_name")?;
            (pairs.into_iter().map(|(id, f)| (id, crate::paths::resolve(path, Path::new(&f)))).collect(), false)
        }
    };
    let mut clips = BTreeSet::new();
    let mut missing = BTreeSet::new();
    for r in rows.iter_mut() {
        clips.insert(r.audio_id.clone());
        let key = if by_file_name { r.file_name.as_deref().unwrap_or(&r.audio_id) } else { &r.audio_id };
        match index.get(key) {
            Some(p) => r.audio_path = Some(p.to_string_lossy().into_owned()),
            None => {
                missing.insert(r.audio_id.clone());
            }
        }
    }
    Ok(JoinReport { clips: clips.len(), joined: clips.len() - missing.len(), missing: missing.into_iter().collect() })
}
