//! Clotho (v1/v2.x): `clotho_captions_{split}.csv` with `file_name,caption_1..caption_5` (UTF-8), and
//! optionally `clotho_metadata_{split}.csv` (ISO-8859-1) with keywords, sound_id, sound_link,
//! start_end_samples, manufacturer and license.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{check_problems, Error, Result};
use crate::manifest::text::{read_utf8_or_latin1, Delimited};
use crate::schema::Caption;

pub const DATASET: &str = "clotho";

/// The split a Clotho file belongs to, from its name (`clotho_captions_development.csv` → `development`).
pub fn split_from_name(path: &Path, prefix: &str) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let split = stem.strip_prefix(prefix).unwrap_or(stem);
    (!split.is_empty()).then(|| split.to_string())
}

#[derive(Debug, Default)]
struct Metadata {
    keywords: Option<Vec<String>>,
    sound_id: Option<String>,
    sound_link: Option<String>,
    start_end_samples: Option<String>,
    manufacturer: Option<String>,
    license: Option<String>,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Read Clotho metadata CSVs into a map keyed by file name.
fn read_metadata(paths: &[PathBuf]) -> Result<HashMap<String, Metadata>> {
    let mut out = HashMap::new();
    for path in paths {
        let (text, _) = read_utf8_or_latin1(path)?;
        let table = Delimited::parse(path, &text, b',')?;
        let [file_col] = table.require(path, ["file_name"])?;
        let get =
            |rec: &csv::StringRecord, name: &str| table.position(name).and_then(|i| rec.get(i)).and_then(non_empty);
        let mut problems = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        for (line, rec) in &table.records {
            let name = rec[file_col].trim().to_string();
            if name.is_empty() {
                problems.push(format!("line {line}: empty file_name"));
                continue;
            }
            if let Some(first) = seen.insert(name.clone(), *line) {
                problems.push(format!("line {line}: audio_id {name:?}: duplicate file_name (first on line {first})"));
                continue;
            }
            let keywords = get(rec, "keywords")
                .map(|k| k.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect());
            out.insert(
                name,
                Metadata {
                    keywords,
                    sound_id: get(rec, "sound_id"),
                    sound_link: get(rec, "sound_link"),
                    start_end_samples: get(rec, "start_end_samples"),
                    manufacturer: get(rec, "manufacturer"),
                    license: get(rec, "license"),
                },
            );
        }
        check_problems(path, problems)?;
    }
    Ok(out)
}

/// Options of a Clotho import.
#[derive(Debug, Default, Clone)]
pub struct ClothoImport {
    /// `clotho_captions_*.csv` files.
    pub captions: Vec<PathBuf>,
    /// `clotho_metadata_*.csv` files (optional).
    pub metadata: Vec<PathBuf>,
    /// Split name for all rows; by default taken from each file's name.
    pub split: Option<String>,
}

/// Read Clotho caption CSVs into caption rows, one per caption. `audio_id` is the file name, as in the
/// reference's `wav.csv`.
pub fn import(opts: &ClothoImport) -> Result<Vec<Caption>> {
    let metadata = read_metadata(&opts.metadata)?;
    let mut rows = Vec::new();
    let mut seen: HashMap<String, (PathBuf, u64)> = HashMap::new();
    for path in &opts.captions {
        let table = Delimited::read_utf8(path, b',')?;
        let [file_col] = table.require(path, ["file_name"])?;
        let mut caption_cols: Vec<(u32, usize)> = table
            .header
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.strip_prefix("caption_")?.parse::<u32>().ok().map(|n| (n, i)))
            .collect();
        caption_cols.sort();
        if caption_cols.is_empty() {
            return Err(Error::MissingColumn {
                path: path.clone(),
                column: "caption_1".into(),
                found: table.header.join(", "),
            });
        }
        let split = opts.split.clone().or_else(|| split_from_name(path, "clotho_captions_"));
        let mut problems = Vec::new();
        for (line, rec) in &table.records {
            let file_name = rec[file_col].trim().to_string();
            if file_name.is_empty() {
                problems.push(format!("line {line}: empty file_name"));
                continue;
            }
            if let Some((p, l)) = seen.get(&file_name) {
                problems.push(format!(
                    "line {line}: audio_id {file_name:?}: duplicate file_name (first in {}:{l})",
                    p.display()
                ));
                continue;
            }
            seen.insert(file_name.clone(), (path.clone(), *line));
            let meta = metadata.get(&file_name);
            for &(n, col) in &caption_cols {
                let text = rec[col].trim();
                if text.is_empty() {
                    problems.push(format!("line {line}: audio_id {file_name:?}: caption_{n} is empty"));
                    continue;
                }
                rows.push(Caption {
                    audio_id: file_name.clone(),
                    caption: text.to_string(),
                    caption_index: n,
                    cap_id: Some(n.to_string()),
                    dataset: DATASET.to_string(),
                    split: split.clone(),
                    file_name: Some(file_name.clone()),
                    keywords: meta.and_then(|m| m.keywords.clone()),
                    sound_id: meta.and_then(|m| m.sound_id.clone()),
                    sound_link: meta.and_then(|m| m.sound_link.clone()),
                    start_end_samples: meta.and_then(|m| m.start_end_samples.clone()),
                    manufacturer: meta.and_then(|m| m.manufacturer.clone()),
                    license: meta.and_then(|m| m.license.clone()),
                    ..Default::default()
                });
            }
        }
        check_problems(path, problems)?;
    }
    Ok(rows)
}
