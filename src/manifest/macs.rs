//! MACS: `MACS.yaml` with `files: [{filename, annotations: [{annotator_id, sentence, tags}]}]`
//! (2–5 captions per clip, TAU Urban Acoustic Scenes 2019 audio).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{check_problems, Error, Result};
use crate::manifest::text::read_utf8;
use crate::schema::Caption;

pub const DATASET: &str = "macs";

#[derive(Debug, Deserialize)]
struct MacsFile {
    files: Vec<MacsClip>,
}

#[derive(Debug, Deserialize)]
struct MacsClip {
    filename: String,
    #[serde(default)]
    annotations: Vec<MacsAnnotation>,
}

#[derive(Debug, Deserialize)]
struct MacsAnnotation {
    #[serde(default)]
    annotator_id: Option<i64>,
    #[serde(default)]
    sentence: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Options of a MACS import.
#[derive(Debug, Default, Clone)]
pub struct MacsImport {
    pub yaml: PathBuf,
    /// Split name for all rows (MACS has none of its own).
    pub split: Option<String>,
}

pub fn import(opts: &MacsImport) -> Result<Vec<Caption>> {
    let path: &Path = &opts.yaml;
    let text = read_utf8(path)?;
    let parsed: MacsFile = serde_norway::from_str(&text).map_err(|e| match e.location() {
        Some(loc) => Error::line(path, loc.line() as u64, format!("malformed MACS YAML: {e}")),
        None => Error::file(path, format!("malformed MACS YAML: {e}")),
    })?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (i, clip) in parsed.files.into_iter().enumerate() {
        let audio_id = clip.filename.trim().to_string();
        if audio_id.is_empty() {
            problems.push(format!("files[{i}]: empty filename"));
            continue;
        }
        if !seen.insert(audio_id.clone()) {
            problems.push(format!("files[{i}]: audio_id {audio_id:?}: duplicate filename"));
            continue;
        }
        if clip.annotations.is_empty() {
            problems.push(format!("files[{i}]: audio_id {audio_id:?}: no annotations"));
            continue;
        }
        for (j, ann) in clip.annotations.into_iter().enumerate() {
            let sentence = ann.sentence.as_deref().map(str::trim).unwrap_or("");
            if sentence.is_empty() {
                problems.push(format!("files[{i}]: audio_id {audio_id:?}: annotation {} has an empty sentence", j + 1));
                continue;
            }
            let n = j as u32 + 1;
            rows.push(Caption {
                audio_id: audio_id.clone(),
                caption: sentence.to_string(),
                caption_index: n,
                cap_id: Some(n.to_string()),
                dataset: DATASET.to_string(),
                split: opts.split.clone(),
                file_name: Some(audio_id.clone()),
                annotator_id: ann.annotator_id,
                tags: ann.tags,
                ..Default::default()
            });
        }
    }
    check_problems(path, problems)?;
    Ok(rows)
}
