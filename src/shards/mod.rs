//! HDF5 waveform shards in the reference's layout: one 1-D dataset per clip at the root of the file,
//! named by its audio_id, float16 by default.
//!
//! # Dataset names
//! HDF5 reads `/` in a name as a path into groups, so an audio_id that contains `/` cannot be a root
//! dataset name as it is. Such ids are escaped by percent-encoding exactly two characters, `%` → `%25`
//! and `/` → `%2F` (and the name `.` becomes `%2E`); every other character is kept. [`dataset_name`] and
//! [`audio_id_of`] are each other's inverse, and ids without `/`, `%` are stored unchanged, as the
//! reference stores them.

pub mod reader;
pub mod writer;

pub use reader::{read_index, WaveformReader};
pub use writer::{Encoded, SampleType, ShardWriter};

/// The HDF5 dataset name for an audio_id.
pub fn dataset_name(audio_id: &str) -> String {
    if audio_id == "." {
        return "%2E".into();
    }
    if !audio_id.contains(['/', '%']) {
        return audio_id.to_string();
    }
    audio_id.replace('%', "%25").replace('/', "%2F")
}

/// The audio_id a dataset name stands for (the inverse of [`dataset_name`]).
pub fn audio_id_of(name: &str) -> String {
    if name == "%2E" {
        return ".".into();
    }
    if !name.contains('%') {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).map(str::to_ascii_uppercase);
        match code.as_deref() {
            Some("2F") => out.push('/'),
            Some("25") => out.push('%'),
            // Not one of ours (a name written by another tool): keep it as it is.
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
                continue;
            }
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        for id in ["a.wav", "dir/a.wav", "100%/x", "%2F literal", ".", "..", "ü/é", "a//b"] {
            let n = dataset_name(id);
            assert!(!n.contains('/'), "{n}");
            assert_eq!(audio_id_of(&n), id, "{id} → {n}");
        }
        assert_eq!(dataset_name("Y02-7M3l_imo.wav"), "Y02-7M3l_imo.wav");
        assert_eq!(dataset_name("dir/a%b"), "dir%2Fa%25b");
    }
}
