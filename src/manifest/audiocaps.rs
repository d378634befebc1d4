//! AudioCaps: `train.csv`, `val.csv`, `test.csv` with `audiocap_id,youtube_id,start_time,caption`
//! (one row per caption; train has one caption per clip, val and test five).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{check_problems, Error, Result};
use crate::manifest::text::Delimited;
use crate::schema::Caption;

pub const DATASET: &str = "audiocaps";

/// How the reference names AudioCaps audio: `Y{youtube_id}.wav`.
pub const DEFAULT_AUDIO_NAME: &str = "Y{youtube_id}.wav";

/// Options of an AudioCaps import.
#[derive(Debug, Clone)]
pub struct AudioCapsImport {
    pub csvs: Vec<PathBuf>,
    /// Template of the audio file name, which is also the audio_id. Placeholders: `{youtube_id}`,
    /// `{start_time}` (integer seconds), `{end_time}` (start + 10), `{audiocap_id}`.
    pub audio_name: String,
    /// Split name for all rows; by default the file's stem (`train`, `val`, `test`).
    pub split: Option<String>,
}

impl Default for AudioCapsImport {
    fn default() -> Self {
        AudioCapsImport { csvs: Vec::new(), audio_name: DEFAULT_AUDIO_NAME.to_string(), split: None }
    }
}

/// Check a template names only known placeholders.
pub fn check_template(template: &str) -> Result<()> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| Error::config("audio_name", format!("{template:?}: unclosed '{{'")))?;
        let name = &rest[open + 1..open + close];
        if !matches!(name, "youtube_id" | "start_time" | "end_time" | "audiocap_id") {
            return Err(Error::config(
                "audio_name",
                format!("{template:?}: unknown placeholder {{{name}}} (known: youtube_id, start_time, end_time, audiocap_id)"),
            ));
        }
        rest = &rest[open + close + 1..];
    }
    if !template.contains("{youtube_id}") && !template.contains("{audiocap_id}") {
        return Err(Error::config(
            "audio_name",
            format!("{template:?} names every clip the same: use {{youtube_id}} or {{audiocap_id}}"),
        ));
    }
    Ok(())
}

fn render(template: &str, youtube_id: &str, start: i64, audiocap_id: i64) -> String {
    template
        .replace("{youtube_id}", youtube_id)
        .replace("{start_time}", &start.to_string())
        .replace("{end_time}", &(start + 10).to_string())
        .replace("{audiocap_id}", &audiocap_id.to_string())
}

/// Start times beyond this (about 31 years of video) are refused: no clip starts there, and
/// `{end_time}` = start + 10 must not overflow.
const MAX_START_TIME: i64 = 1_000_000_000;

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        // Some copies store start_time as "30.0"; only values a float holds exactly (|x| ≤ 2^53) are
        // integers, so "1e30" is refused instead of clamped.
        let f = s.parse::<f64>().ok()?;
        (f.fract() == 0.0 && f.is_finite() && f.abs() <= 9_007_199_254_740_992.0).then_some(f as i64)
    })
}

pub fn import(opts: &AudioCapsImport) -> Result<Vec<Caption>> {
    check_template(&opts.audio_name)?;
    let mut rows: Vec<Caption> = Vec::new();
    let mut seen_ids: HashMap<i64, (PathBuf, u64)> = HashMap::new();
    // audio_id -> (youtube_id, start_time, where first seen, captions so far)
    let mut clips: HashMap<String, (String, i64, PathBuf, u64, u32)> = HashMap::new();
    for path in &opts.csvs {
        let table = Delimited::read_utf8(path, b',')?;
        let [id_col, yt_col, start_col, cap_col] =
            table.require(path, ["audiocap_id", "youtube_id", "start_time", "caption"])?;
        let split = opts.split.clone().or_else(|| stem(path));
        let mut problems = Vec::new();
        for (line, rec) in &table.records {
            let Some(audiocap_id) = parse_int(&rec[id_col]) else {
                problems.push(format!("line {line}: audiocap_id {:?} is not an integer", &rec[id_col]));
                continue;
            };
            let youtube_id = rec[yt_col].trim().to_string();
            if youtube_id.is_empty() {
                problems.push(format!("line {line}: audiocap_id {audiocap_id}: empty youtube_id"));
                continue;
            }
            let Some(start) = parse_int(&rec[start_col]).filter(|s| (0..=MAX_START_TIME).contains(s)) else {
                problems.push(format!(
                    "line {line}: audiocap_id {audiocap_id}: start_time {:?} is not a whole number of seconds in 0..={MAX_START_TIME}",
                    &rec[start_col]
                ));
                continue;
            };
            let audio_id = render(&opts.audio_name, &youtube_id, start, audiocap_id);
            let caption = rec[cap_col].trim();
            if caption.is_empty() {
                problems.push(format!("line {line}: audio_id {audio_id:?}: empty caption (audiocap_id {audiocap_id})"));
                continue;
            }
            if let Some((p, l)) = seen_ids.get(&audiocap_id) {
                problems
                    .push(format!("line {line}: duplicate audiocap_id {audiocap_id} (first in {}:{l})", p.display()));
                continue;
            }
            seen_ids.insert(audiocap_id, (path.clone(), *line));
            let entry =
                clips.entry(audio_id.clone()).or_insert_with(|| (youtube_id.clone(), start, path.clone(), *line, 0));
            if entry.1 != start {
                problems.push(format!(
                    "line {line}: audio_id {audio_id:?}: start_time {start} differs from {} in {}:{}; \
                     put {{start_time}} in the audio name template to keep both clips",
                    entry.1,
                    entry.2.display(),
                    entry.3
                ));
                continue;
            }
            entry.4 += 1;
            rows.push(Caption {
                audio_id: audio_id.clone(),
                caption: caption.to_string(),
                caption_index: entry.4,
                cap_id: Some(entry.4.to_string()),
                dataset: DATASET.to_string(),
                split: split.clone(),
                file_name: Some(audio_id),
                audiocap_id: Some(audiocap_id),
                youtube_id: Some(youtube_id),
                start_time: Some(start),
                ..Default::default()
            });
        }
        check_problems(path, problems)?;
    }
    // Keep each clip's captions together, clips in order of first appearance.
    let mut order: HashMap<&str, usize> = HashMap::new();
    for r in &rows {
        let n = order.len();
        order.entry(r.audio_id.as_str()).or_insert(n);
    }
    let order: HashMap<String, usize> = order.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    rows.sort_by_key(|r| (order[&r.audio_id], r.caption_index));
    Ok(rows)
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(String::from)
}
