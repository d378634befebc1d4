//! The reference's caption JSON: `{"audios": [{"audio_id", "captions": [{"caption", "cap_id", …}], …}]}`.
//!
//! Keys with a column in the captions table go to that column (when their JSON type fits it); every
//! other key is kept as JSON in `audio_extra` / `caption_extra`, so import → export → import is lossless.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{check_problems, Error, Result};
use crate::manifest::text::read_utf8;
use crate::schema::{cap, Caption};

/// Options of a caption-JSON import.
#[derive(Debug, Default, Clone)]
pub struct JsonImport {
    /// Dataset name for clips whose JSON has no `dataset` key; by default the file's stem.
    pub dataset: Option<String>,
    /// Split name for clips whose JSON has no `split` key.
    pub split: Option<String>,
}

fn take_str(obj: &mut Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key) {
        Some(Value::String(_)) => obj.shift_remove(key).and_then(|v| v.as_str().map(String::from)),
        _ => None,
    }
}

fn take_i64(obj: &mut Map<String, Value>, key: &str) -> Option<i64> {
    match obj.get(key) {
        Some(v) if v.as_i64().is_some() => obj.shift_remove(key).and_then(|v| v.as_i64()),
        _ => None,
    }
}

fn take_u32(obj: &mut Map<String, Value>, key: &str) -> Option<u32> {
    match obj.get(key).and_then(Value::as_u64) {
        Some(n) if n >= 1 && n <= u32::MAX as u64 => {
            obj.shift_remove(key);
            Some(n as u32)
        }
        _ => None,
    }
}

fn take_str_list(obj: &mut Map<String, Value>, key: &str) -> Option<Vec<String>> {
    match obj.get(key) {
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => obj
            .shift_remove(key)
            .and_then(|v| v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())),
        _ => None,
    }
}

fn extra(obj: Map<String, Value>) -> Option<String> {
    (!obj.is_empty()).then(|| Value::Object(obj).to_string())
}

/// Read a caption JSON file into caption rows.
pub fn import(path: &Path, opts: &JsonImport) -> Result<Vec<Caption>> {
    let text = read_utf8(path)?;
    let root: Value = serde_json::from_str(&text)
        .map_err(|e| Error::line(path, e.line() as u64, format!("malformed JSON (column {}): {e}", e.column())))?;
    let Some(audios) = root.get("audios").and_then(Value::as_array) else {
        return Err(Error::file(path, "not a caption JSON: expected an object with an \"audios\" array"));
    };
    let default_dataset = opts
        .dataset
        .clone()
        .or_else(|| path.file_stem().and_then(|s| s.to_str()).map(String::from))
        .unwrap_or_else(|| "json".into());
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, audio) in audios.iter().enumerate() {
        let Some(mut audio) = audio.as_object().cloned() else {
            problems.push(format!("audios[{i}]: not an object"));
            continue;
        };
        let Some(audio_id) = take_str(&mut audio, cap::AUDIO_ID) else {
            problems.push(format!("audios[{i}]: missing string \"audio_id\""));
            continue;
        };
        if audio_id.trim().is_empty() {
            problems.push(format!("audios[{i}]: empty audio_id"));
            continue;
        }
        if !seen.insert(audio_id.clone()) {
            problems.push(format!("audios[{i}]: audio_id {audio_id:?}: duplicate audio_id"));
            continue;
        }
        let captions = match audio.shift_remove("captions") {
            Some(Value::Array(c)) => c,
            _ => {
                problems.push(format!("audios[{i}]: audio_id {audio_id:?}: missing \"captions\" array"));
                continue;
            }
        };
        if captions.is_empty() {
            problems.push(format!("audios[{i}]: audio_id {audio_id:?}: no captions"));
            continue;
        }
        let dataset = take_str(&mut audio, cap::DATASET).unwrap_or_else(|| default_dataset.clone());
        let split = take_str(&mut audio, cap::SPLIT).or_else(|| opts.split.clone());
        let file_name = take_str(&mut audio, cap::FILE_NAME);
        let audio_path = take_str(&mut audio, cap::AUDIO_PATH);
        let youtube_id = take_str(&mut audio, cap::YOUTUBE_ID);
        let start_time = take_i64(&mut audio, cap::START_TIME);
        let keywords = take_str_list(&mut audio, cap::KEYWORDS);
        let sound_id = take_str(&mut audio, cap::SOUND_ID);
        let sound_link = take_str(&mut audio, cap::SOUND_LINK);
        let start_end_samples = take_str(&mut audio, cap::START_END_SAMPLES);
        let manufacturer = take_str(&mut audio, cap::MANUFACTURER);
        let license = take_str(&mut audio, cap::LICENSE);
        let audio_extra = extra(audio);
        let mut indices: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
        for (j, c) in captions.into_iter().enumerate() {
            let Value::Object(mut c) = c else {
                problems.push(format!("audios[{i}]: audio_id {audio_id:?}: captions[{j}] is not an object"));
                continue;
            };
            let Some(caption) = take_str(&mut c, cap::CAPTION) else {
                problems.push(format!("audios[{i}]: audio_id {audio_id:?}: captions[{j}] has no string \"caption\""));
                continue;
            };
            if caption.trim().is_empty() {
                problems.push(format!("audios[{i}]: audio_id {audio_id:?}: captions[{j}] is empty"));
                continue;
            }
            let caption_index = take_u32(&mut c, cap::CAPTION_INDEX).unwrap_or(j as u32 + 1);
            if let Some(first) = indices.insert(caption_index, j) {
                problems.push(format!(
                    "audios[{i}]: audio_id {audio_id:?}: captions[{j}] repeats caption_index {caption_index} of captions[{first}]"
                ));
                continue;
            }
            rows.push(Caption {
                audio_id: audio_id.clone(),
                caption,
                caption_index,
                cap_id: take_str(&mut c, cap::CAP_ID),
                dataset: dataset.clone(),
                split: split.clone(),
                file_name: file_name.clone(),
                audio_path: audio_path.clone(),
                audiocap_id: take_i64(&mut c, cap::AUDIOCAP_ID),
                youtube_id: youtube_id.clone(),
                start_time,
                annotator_id: take_i64(&mut c, cap::ANNOTATOR_ID),
                tags: take_str_list(&mut c, cap::TAGS),
                keywords: keywords.clone(),
                sound_id: sound_id.clone(),
                sound_link: sound_link.clone(),
                start_end_samples: start_end_samples.clone(),
                manufacturer: manufacturer.clone(),
                license: license.clone(),
                tokens: take_str(&mut c, cap::TOKENS),
                audio_extra: audio_extra.clone(),
                caption_extra: extra(c),
            });
        }
    }
    check_problems(path, problems)?;
    Ok(rows)
}

fn put_str(obj: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        obj.insert(key.to_string(), Value::String(v.clone()));
    }
}

fn put_list(obj: &mut Map<String, Value>, key: &str, v: &Option<Vec<String>>) {
    if let Some(v) = v {
        obj.insert(key.to_string(), Value::Array(v.iter().cloned().map(Value::String).collect()));
    }
}

fn merge_extra(obj: &mut Map<String, Value>, extra: &Option<String>, audio_id: &str, path: &Path) -> Result<()> {
    if let Some(e) = extra {
        match serde_json::from_str::<Value>(e) {
            Ok(Value::Object(m)) => {
                for (k, v) in m {
                    obj.entry(k).or_insert(v);
                }
            }
            _ => return Err(Error::item(path, audio_id, format!("extra column is not a JSON object: {e}"))),
        }
    }
    Ok(())
}

/// The clip-level fields of a caption row (the same for every caption of one clip).
fn clip_key(r: &Caption) -> impl PartialEq + '_ {
    (
        &r.dataset,
        &r.split,
        &r.file_name,
        &r.audio_path,
        &r.youtube_id,
        r.start_time,
        &r.keywords,
        (&r.sound_id, &r.sound_link, &r.start_end_samples, &r.manufacturer, &r.license, &r.audio_extra),
    )
}

/// Build the reference's caption JSON from caption rows; `source` names the table in errors. The clips
/// keep the order of their first row, captions the order of their rows.
pub fn to_json(rows: &[Caption], source: &Path) -> Result<Value> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_clip: std::collections::HashMap<&str, Vec<&Caption>> = std::collections::HashMap::new();
    for r in rows {
        by_clip
            .entry(r.audio_id.as_str())
            .or_insert_with(|| {
                order.push(r.audio_id.as_str());
                Vec::new()
            })
            .push(r);
    }
    let mut audios = Vec::with_capacity(order.len());
    for id in order {
        let caps = &by_clip[id];
        let first = caps[0];
        if let Some(other) = caps.iter().find(|r| clip_key(r) != clip_key(first)) {
            return Err(Error::item(
                source,
                id,
                format!(
                    "rows of one clip disagree on a clip-level column (dataset, split, file, metadata); \
                     caption {} vs caption {}",
                    first.caption_index, other.caption_index
                ),
            ));
        }
        let mut audio = Map::new();
        audio.insert(cap::AUDIO_ID.into(), Value::String(id.to_string()));
        audio.insert(cap::DATASET.into(), Value::String(first.dataset.clone()));
        put_str(&mut audio, cap::SPLIT, &first.split);
        put_str(&mut audio, cap::FILE_NAME, &first.file_name);
        put_str(&mut audio, cap::AUDIO_PATH, &first.audio_path);
        put_str(&mut audio, cap::YOUTUBE_ID, &first.youtube_id);
        if let Some(t) = first.start_time {
            audio.insert(cap::START_TIME.into(), Value::from(t));
        }
        put_list(&mut audio, cap::KEYWORDS, &first.keywords);
        put_str(&mut audio, cap::SOUND_ID, &first.sound_id);
        put_str(&mut audio, cap::SOUND_LINK, &first.sound_link);
        put_str(&mut audio, cap::START_END_SAMPLES, &first.start_end_samples);
        put_str(&mut audio, cap::MANUFACTURER, &first.manufacturer);
        put_str(&mut audio, cap::LICENSE, &first.license);
        let mut captions = Vec::with_capacity(caps.len());
        for (j, r) in caps.iter().enumerate() {
            let mut c = Map::new();
            c.insert(cap::CAPTION.into(), Value::String(r.caption.clone()));
            put_str(&mut c, cap::CAP_ID, &r.cap_id);
            // Written only where the position does not already say it.
            if r.caption_index != j as u32 + 1 {
                c.insert(cap::CAPTION_INDEX.into(), Value::from(r.caption_index));
            }
            if let Some(v) = r.audiocap_id {
                c.insert(cap::AUDIOCAP_ID.into(), Value::from(v));
            }
            if let Some(v) = r.annotator_id {
                c.insert(cap::ANNOTATOR_ID.into(), Value::from(v));
            }
            put_list(&mut c, cap::TAGS, &r.tags);
            put_str(&mut c, cap::TOKENS, &r.tokens);
            merge_extra(&mut c, &r.caption_extra, id, source)?;
            captions.push(Value::Object(c));
        }
        audio.insert("captions".into(), Value::Array(captions));
        merge_extra(&mut audio, &first.audio_extra, id, source)?;
        audios.push(Value::Object(audio));
    }
    let mut root = Map::new();
    root.insert("audios".into(), Value::Array(audios));
    Ok(Value::Object(root))
}

/// Write caption rows as the reference's caption JSON (indented by 4, as the reference writes it), atomically.
pub fn export(rows: &[Caption], source: &Path, out: &Path) -> Result<()> {
    let value = to_json(rows, source)?;
    let mut bytes = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, fmt);
    serde::Serialize::serialize(&value, &mut ser).map_err(|e| Error::file(out, e.to_string()))?;
    bytes.push(b'\n');
    crate::atomic::write_bytes(out, &bytes)
}
