//! Writers of the datasets' native formats, for the demo corpus and for the tests: Clotho's captions
//! CSV (UTF-8) and metadata CSV (ISO-8859-1, as Clotho ships it), AudioCaps' CSV, MACS' YAML, and
//! 16-bit WAV. Each writes atomically.

use std::path::Path;

use crate::error::{Error, Result};

/// One row of Clotho's metadata CSV.
#[derive(Debug, Clone, Default)]
pub struct ClothoMetadata {
    pub file_name: String,
    pub keywords: Vec<String>,
    pub sound_id: String,
    pub sound_link: String,
    pub start_end_samples: String,
    pub manufacturer: String,
    pub license: String,
}

/// One row of an AudioCaps CSV.
#[derive(Debug, Clone)]
pub struct AudioCapsRow {
    pub audiocap_id: i64,
    pub youtube_id: String,
    pub start_time: i64,
    pub caption: String,
}

/// One annotation of a MACS file.
#[derive(Debug, Clone)]
pub struct MacsAnnotation {
    pub annotator_id: i64,
    pub sentence: String,
    pub tags: Vec<String>,
}

fn csv_bytes(path: &Path, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::file(path, format!("writing CSV: {e}"));
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::file(path, format!("writing CSV: {e}")))
}

/// Clotho's `clotho_captions_{split}.csv`: `file_name,caption_1..caption_K` (K = the most captions
/// of a clip; Clotho has 5).
pub fn clotho_captions(path: &Path, clips: &[(String, Vec<String>)]) -> Result<()> {
    let k = clips.iter().map(|c| c.1.len()).max().unwrap_or(5);
    let names: Vec<String> = (1..=k).map(|i| format!("caption_{i}")).collect();
    let header: Vec<&str> = std::iter::once("file_name").chain(names.iter().map(String::as_str)).collect();
    let rows = clips.iter().map(|(f, caps)| {
        let mut r = vec![f.clone()];
        r.extend((0..k).map(|i| caps.get(i).cloned().unwrap_or_default()));
        r
    });
    crate::atomic::write_bytes(path, &csv_bytes(path, &header, rows)?)
}

/// Clotho's `clotho_metadata_{split}.csv`, in ISO-8859-1 (characters outside it become `?`).
pub fn clotho_metadata(path: &Path, rows: &[ClothoMetadata]) -> Result<()> {
    let header = ["file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer", "license"];
    let rows = rows.iter().map(|m| {
        vec![
            m.file_name.clone(),
            m.keywords.join(";"),
            m.sound_id.clone(),
            m.sound_link.clone(),
            m.start_end_samples.clone(),
            m.manufacturer.clone(),
            m.license.clone(),
        ]
    });
    let utf8 = csv_bytes(path, &header, rows)?;
    let text = String::from_utf8(utf8).map_err(|e| Error::file(path, e.to_string()))?;
    let latin1: Vec<u8> = text.chars().map(|ch| if (ch as u32) < 256 { ch as u8 } else { b'?' }).collect();
    crate::atomic::write_bytes(path, &latin1)
}

/// An AudioCaps CSV (`train.csv`, `val.csv`, `test.csv`): `audiocap_id,youtube_id,start_time,caption`.
pub fn audiocaps_csv(path: &Path, rows: &[AudioCapsRow]) -> Result<()> {
    let rows = rows
        .iter()
        .map(|r| vec![r.audiocap_id.to_string(), r.youtube_id.clone(), r.start_time.to_string(), r.caption.clone()]);
    crate::atomic::write_bytes(path, &csv_bytes(path, &["audiocap_id", "youtube_id", "start_time", "caption"], rows)?)
}

/// A double-quoted YAML scalar (JSON escaping is valid YAML).
fn yaml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// MACS' `MACS.yaml`: `files: [{filename, annotations: [{annotator_id, sentence, tags}]}]`.
pub fn macs_yaml(path: &Path, files: &[(String, Vec<MacsAnnotation>)]) -> Result<()> {
    let mut y = String::from("files:\n");
    for (name, annotations) in files {
        y += &format!("- filename: {}\n  annotations:\n", yaml_str(name));
        for a in annotations {
            y += &format!("  - annotator_id: {}\n    sentence: {}\n    tags:\n", a.annotator_id, yaml_str(&a.sentence));
            for t in &a.tags {
                y += &format!("    - {}\n", yaml_str(t));
            }
        }
    }
    crate::atomic::write_bytes(path, y.as_bytes())
}

/// A 16-bit PCM WAV of interleaved samples in [-1, 1] (clipped), written atomically.
pub fn wav_i16(path: &Path, interleaved: &[f32], channels: u16, sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec { channels, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    crate::atomic::write_file(path, |w| {
        let err = |e: hound::Error| Error::file(path, format!("writing WAV: {e}"));
        let mut wav = hound::WavWriter::new(w, spec).map_err(err)?;
        for &s in interleaved {
            wav.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).map_err(err)?;
        }
        wav.finalize().map_err(err)
    })
}
