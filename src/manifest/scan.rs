//! A folder of audio: list its files as the reference's `wav.csv`, or as the clips table with what
//! each header says (probed in parallel, no full decode).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::audio::{is_audio_file, probe};
use crate::error::{check_problems, Error, Result};
use crate::schema::Clip;

/// How a file's audio_id is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdFrom {
    /// The file name (`a.wav`), as the reference's `prepare_wav_csv.py`.
    #[default]
    Name,
    /// The path relative to the scanned folder (`sub/a.wav`), for trees whose names repeat.
    Relative,
}

/// Options of a scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub recursive: bool,
    pub id_from: IdFrom,
}

/// The audio files of a folder.
#[derive(Debug, Default)]
pub struct Listing {
    /// (audio_id, absolute path), sorted by audio_id.
    pub files: Vec<(String, PathBuf)>,
    /// Files left out, with the reason (e.g. a name that is not UTF-8).
    pub skipped: Vec<(PathBuf, String)>,
}

/// List the audio files of `dir` (names starting with `.` are skipped: hidden files and macOS `._*`
/// resource forks). Two files with the same audio_id are an error naming both.
pub fn list_audio(dir: &Path, opts: &ScanOptions) -> Result<Listing> {
    let root = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !root.is_dir() {
        return Err(Error::file(dir, "not a folder"));
    }
    let mut listing = Listing::default();
    let mut stack = vec![root.clone()];
    // Folders already listed, by their real path: a symlink back into one of them (a loop, or two
    // links to one folder) is listed once, not again and again.
    let mut visited: std::collections::HashSet<PathBuf> = std::collections::HashSet::from([root.clone()]);
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let path = entry.path();
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
            let is_dir = ty.is_dir() || (ty.is_symlink() && path.is_dir());
            if is_dir {
                if opts.recursive {
                    match std::fs::canonicalize(&path) {
                        Ok(real) if !visited.contains(&real) => {
                            visited.insert(real);
                            stack.push(path)
                        }
                        Ok(_) => listing.skipped.push((path, "a link to a folder already scanned".into())),
                        Err(e) => listing.skipped.push((path, format!("cannot follow: {e}"))),
                    }
                }
                continue;
            }
            if !is_audio_file(&path) {
                continue;
            }
            let id = match opts.id_from {
                IdFrom::Name => name.to_str().map(String::from),
                IdFrom::Relative => path.strip_prefix(&root).ok().and_then(|p| p.to_str()).map(String::from),
            };
            match id {
                Some(id) => listing.files.push((id, path)),
                None => listing.skipped.push((path, "file name is not valid UTF-8".into())),
            }
        }
    }
    listing.files.sort();
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for (id, path) in &listing.files {
        if let Some(first) = seen.insert(id, path) {
            problems.push(format!(
                "audio_id {id:?} names two files: {} and {} (take audio_ids relative to the folder instead)",
                first.display(),
                path.display()
            ));
        }
    }
    check_problems(dir, problems)?;
    Ok(listing)
}

/// Probe every file's header in parallel on the current rayon pool. A file that cannot be probed
/// keeps its row, with the reason in `probe_error`.
pub fn probe_all(files: &[(String, PathBuf)], progress: &dyn crate::progress::Progress) -> Vec<Clip> {
    files
        .par_iter()
        .map(|(id, path)| {
            let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let format = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
            let mut clip = Clip {
                audio_id: id.clone(),
                file_name: path.to_string_lossy().into_owned(),
                format,
                bytes,
                ..Default::default()
            };
            match probe(path) {
                Ok(p) => {
                    clip.duration = p.duration();
                    clip.sample_rate = p.sample_rate;
                    clip.channels = p.channels;
                    clip.frames = p.frames;
                }
                Err(reason) => clip.probe_error = Some(reason),
            }
            progress.advance(1);
            clip
        })
        .collect()
}
