//! Native dataset formats, one file per source, each turned into rows of the captions table, and the
//! audio-folder scan that makes the clips table.

pub mod audiocaps;
pub mod caption_json;
pub mod clotho;
pub mod clotho_retrieval;
pub mod join;
pub mod macs;
pub mod queries;
pub mod scan;
pub mod text;
pub mod wav_csv;

use std::path::Path;

use crate::error::{Error, Result};
use crate::schema::Caption;

/// Read captions from a captions table (`.parquet`) or a reference caption JSON (`.json`).
pub fn read_captions(path: &Path) -> Result<Vec<Caption>> {
    match extension(path).as_str() {
        "parquet" => crate::table::read_captions(path),
        "json" => caption_json::import(path, &caption_json::JsonImport::default()),
        _ => Err(Error::file(path, "expected a captions table (.parquet) or a caption JSON (.json)")),
    }
}

/// Write captions as a table (`.parquet`) or as the reference's caption JSON (`.json`), atomically.
pub fn write_captions(path: &Path, rows: &[Caption], source: &Path) -> Result<()> {
    match extension(path).as_str() {
        "parquet" => crate::table::write_captions(path, rows),
        "json" => caption_json::export(rows, source, path),
        _ => Err(Error::file(path, "a captions output ends in .parquet (captions table) or .json (caption JSON)")),
    }
}

/// Lower-case extension of a path ("" when none).
pub fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

/// What an import wrote.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub clips: usize,
    pub captions: usize,
    /// Present when the import was joined to audio.
    pub join: Option<join::JoinReport>,
    /// Clips dropped because their audio was missing (with [`MissingAudio::Drop`]).
    pub dropped_clips: usize,
}

/// What an import does with clips whose audio is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingAudio {
    /// Keep them, with `audio_path` empty.
    #[default]
    Keep,
    /// Leave them out.
    Drop,
    /// Fail, writing nothing.
    Fail,
}

/// The end of every import: join to the audio (optional), keep, drop or refuse clips without audio,
/// and write the table or caption JSON atomically.
pub fn finish_import(
    mut rows: Vec<Caption>,
    audio: Option<&join::AudioSource>,
    missing_audio: MissingAudio,
    source: &Path,
    output: &Path,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    if let Some(audio) = audio {
        let j = join::join(&mut rows, audio)?;
        if missing_audio == MissingAudio::Fail && !j.missing.is_empty() {
            return Err(Error::file(
                source,
                format!(
                    "{} of {} clips have no audio (audio is required), e.g. {:?}",
                    j.missing.len(),
                    j.clips,
                    &j.missing[..j.missing.len().min(5)]
                ),
            ));
        }
        if missing_audio == MissingAudio::Drop && !j.missing.is_empty() {
            let missing: std::collections::HashSet<&str> = j.missing.iter().map(String::as_str).collect();
            rows.retain(|r| !missing.contains(r.audio_id.as_str()));
            report.dropped_clips = j.missing.len();
        }
        report.join = Some(j);
    }
    if rows.is_empty() {
        return Err(Error::file(source, "no captions to write"));
    }
    report.captions = rows.len();
    report.clips = rows.iter().map(|r| r.audio_id.as_str()).collect::<std::collections::HashSet<_>>().len();
    write_captions(output, &rows, source)?;
    Ok(report)
}
