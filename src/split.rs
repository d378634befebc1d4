//! Seeded train/validation split by clip: all captions of a clip land on the same side.
//!
//! The clips (distinct audio_ids, sorted) are shuffled with a SplitMix64-driven Fisher–Yates shuffle
//! that is written out here, so the same seed gives the same split on every machine and version.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{self, extension, wav_csv::Tsv};
use crate::schema::Caption;

/// How many clips go to validation.
#[derive(Debug, Clone)]
pub enum ValidationSize {
    /// Exactly this many clips.
    Clips(usize),
    /// This fraction of the clips (rounded, at least one).
    Fraction(f64),
    /// The clips listed in another file (captions table or JSON, a TSV with audio_id, or a text file
    /// with one audio_id per line).
    Reference(PathBuf),
}

/// The result of a split.
#[derive(Debug, Clone)]
pub struct Split {
    pub train: Vec<Caption>,
    pub val: Vec<Caption>,
    pub train_clips: usize,
    pub val_clips: usize,
    /// audio_ids of a reference list that are not in the input.
    pub reference_unmatched: usize,
}

/// SplitMix64: a small, fixed pseudo-random generator.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0), by rejection so that no value is favoured.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// Shuffle in place (Fisher–Yates).
pub fn shuffle<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Read the audio_ids listed in a reference file.
pub fn read_id_list(path: &Path) -> Result<HashSet<String>> {
    match extension(path).as_str() {
        "parquet" | "json" => Ok(manifest::read_captions(path)?.into_iter().map(|c| c.audio_id).collect()),
        "csv" | "tsv" => Ok(Tsv::read(path)?.audio_ids().map(String::from).collect()),
        _ => {
            let text = manifest::text::read_utf8(path)?;
            Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        }
    }
}

/// Split caption rows into train and validation by clip. Row order is kept on both sides.
pub fn split(rows: Vec<Caption>, size: &ValidationSize, seed: u64) -> Result<Split> {
    let mut ids: Vec<&str> = rows.iter().map(|r| r.audio_id.as_str()).collect::<HashSet<_>>().into_iter().collect();
    ids.sort_unstable();
    let n = ids.len();
    let mut reference_unmatched = 0;
    let val: HashSet<String> = match size {
        ValidationSize::Reference(path) => {
            let listed = read_id_list(path)?;
            let present: HashSet<&str> = ids.iter().copied().collect();
            reference_unmatched = listed.iter().filter(|id| !present.contains(id.as_str())).count();
            listed
        }
        _ => {
            if n == 0 {
                return Err(Error::Config {
                    key: "input".into(),
                    msg: "nothing to split: the input has no captions".into(),
                });
            }
            let k = match *size {
                ValidationSize::Clips(k) => k,
                ValidationSize::Fraction(f) => {
                    if !(f > 0.0 && f < 1.0) {
                        return Err(Error::config("val_fraction", format!("{f}: must be between 0 and 1")));
                    }
                    ((f * n as f64).round() as usize).max(1)
                }
                ValidationSize::Reference(_) => unreachable!(),
            };
            if k == 0 || k >= n {
                return Err(Error::config(
                    "validation_size",
                    format!("cannot put {k} of {n} clips in validation: need at least one clip on each side"),
                ));
            }
            let mut rng = SplitMix64::new(seed);
            shuffle(&mut ids, &mut rng);
            ids[..k].iter().map(|s| s.to_string()).collect()
        }
    };
    let (val_rows, train_rows): (Vec<Caption>, Vec<Caption>) =
        rows.into_iter().partition(|r| val.contains(&r.audio_id));
    let count = |rs: &[Caption]| rs.iter().map(|r| r.audio_id.as_str()).collect::<HashSet<_>>().len();
    Ok(Split {
        train_clips: count(&train_rows),
        val_clips: count(&val_rows),
        train: train_rows,
        val: val_rows,
        reference_unmatched,
    })
}

/// Default output names, as the reference names them: `{stem}_train.{ext}`, `{stem}_val.{ext}`.
pub fn default_outputs(input: &Path) -> (PathBuf, PathBuf) {
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("captions");
    let ext = extension(input);
    (input.with_file_name(format!("{stem}_train.{ext}")), input.with_file_name(format!("{stem}_val.{ext}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(clips: usize, per: u32) -> Vec<Caption> {
        (0..clips)
            .flat_map(|c| {
                (1..=per).map(move |i| Caption {
                    audio_id: format!("clip{c:03}.wav"),
                    caption: format!("caption {i} of {c}"),
                    caption_index: i,
                    dataset: "t".into(),
                    ..Default::default()
                })
            })
            .collect()
    }

    #[test]
    fn splitmix_is_fixed() {
        // First outputs of SplitMix64 seeded with 0 (the published test vector).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn clips_stay_whole_and_seed_repeats() {
        let a = split(rows(50, 5), &ValidationSize::Clips(10), 7).unwrap();
        assert_eq!((a.train_clips, a.val_clips), (40, 10));
        assert_eq!(a.val.len(), 50);
        let train_ids: HashSet<_> = a.train.iter().map(|r| &r.audio_id).collect();
        assert!(a.val.iter().all(|r| !train_ids.contains(&r.audio_id)));
        let b = split(rows(50, 5), &ValidationSize::Clips(10), 7).unwrap();
        assert_eq!(a.val, b.val);
        let c = split(rows(50, 5), &ValidationSize::Clips(10), 8).unwrap();
        assert_ne!(a.val, c.val, "a different seed should give a different split");
        // Input order does not matter.
        let mut rev = rows(50, 5);
        rev.reverse();
        let d = split(rev, &ValidationSize::Clips(10), 7).unwrap();
        let ids = |s: &Split| s.val.iter().map(|r| r.audio_id.clone()).collect::<HashSet<_>>();
        assert_eq!(ids(&a), ids(&d));
    }

    #[test]
    fn fraction_rounds_and_bad_sizes_fail() {
        let s = split(rows(30, 1), &ValidationSize::Fraction(0.1), 1).unwrap();
        assert_eq!(s.val_clips, 3);
        assert!(split(rows(3, 1), &ValidationSize::Clips(3), 1).is_err());
        assert!(split(rows(3, 1), &ValidationSize::Fraction(1.5), 1).is_err());
    }
}
