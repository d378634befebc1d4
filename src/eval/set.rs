//! The evaluation set: caption tables joined with a waveform index, every clip with its captions.
//! Used by `eval`, by the trainer's validation and by the demo.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::schema::Caption;
use crate::shards::reader::read_index_at;
use crate::shards::WaveformReader;

/// One clip with its captions (in caption_index order).
#[derive(Debug, Clone)]
pub struct ClipCaptions {
    pub audio_id: String,
    pub captions: Vec<String>,
}

/// Clips that have captions and a packed waveform; what is missing on either side is reported.
#[derive(Debug, Clone)]
pub struct Joined {
    pub clips: Vec<ClipCaptions>,
    /// audio_ids with captions but no waveform.
    pub no_waveform: Vec<String>,
    /// audio_ids with a waveform but no caption.
    pub no_caption: usize,
    pub index: PathBuf,
    pub pairs: Vec<(String, PathBuf)>,
}

/// Join caption tables with a waveform index, clips sorted by audio_id. The index's clips must be
/// packed at `sample_rate` where it says ([`read_index_at`]).
pub fn join(captions: &[PathBuf], index: &Path, sample_rate: u32) -> Result<Joined> {
    let mut by_clip: BTreeMap<String, Vec<Caption>> = BTreeMap::new();
    for path in captions {
        for c in crate::manifest::read_captions(path)? {
            by_clip.entry(c.audio_id.clone()).or_default().push(c);
        }
    }
    let pairs = read_index_at(index, sample_rate)?;
    let packed: HashMap<&str, ()> = pairs.iter().map(|(id, _)| (id.as_str(), ())).collect();
    let mut clips = Vec::new();
    let mut no_waveform = Vec::new();
    for (id, mut caps) in by_clip {
        if !packed.contains_key(id.as_str()) {
            no_waveform.push(id);
            continue;
        }
        caps.sort_by_key(|c| c.caption_index);
        clips.push(ClipCaptions { audio_id: id, captions: caps.into_iter().map(|c| c.caption).collect() });
    }
    let no_caption = pairs.len() - clips.len();
    Ok(Joined { clips, no_waveform, no_caption, index: index.to_path_buf(), pairs })
}

/// Evaluation clips and their captions, in clip order: the captions of clip 0, then those of clip 1,
/// and so on, any number per clip.
pub struct EvalSet {
    pub audio_ids: Vec<String>,
    pub captions: Vec<String>,
    /// The clip (index into `audio_ids`) each caption describes.
    pub clip_of: Vec<usize>,
    pub reader: WaveformReader,
    /// Clips left out for having fewer captions than a requested count.
    pub dropped: usize,
}

impl EvalSet {
    /// `k`: `None` keeps every caption of every clip; `Some(k)` the first `k` of each, leaving out
    /// clips with fewer (the reference's fixed count, e.g. Clotho's 5).
    pub fn new(joined: Joined, k: Option<usize>) -> Result<Self> {
        if joined.clips.is_empty() {
            return Err(Error::file(&joined.index, "no evaluation clip has both captions and a waveform"));
        }
        let mut audio_ids = Vec::new();
        let mut captions = Vec::new();
        let mut clip_of = Vec::new();
        let mut dropped = 0;
        for c in joined.clips {
            let take = match k {
                Some(k) if c.captions.len() < k => {
                    dropped += 1;
                    continue;
                }
                Some(k) => k,
                None => c.captions.len(),
            };
            clip_of.extend(std::iter::repeat_n(audio_ids.len(), take));
            captions.extend(c.captions.into_iter().take(take));
            audio_ids.push(c.audio_id);
        }
        if audio_ids.is_empty() {
            return Err(Error::file(&joined.index, format!("no evaluation clip has {} captions", k.unwrap_or(1))));
        }
        Ok(Self { audio_ids, captions, clip_of, reader: WaveformReader::from_pairs(joined.pairs), dropped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(counts: &[usize]) -> Joined {
        let clips: Vec<ClipCaptions> = counts
            .iter()
            .enumerate()
            .map(|(j, &n)| ClipCaptions {
                audio_id: format!("c{j}"),
                captions: (0..n).map(|i| format!("c{j} #{i}")).collect(),
            })
            .collect();
        let pairs = clips.iter().map(|c| (c.audio_id.clone(), PathBuf::from("x.h5"))).collect();
        Joined { clips, no_waveform: vec![], no_caption: 0, index: PathBuf::from("w.parquet"), pairs }
    }

    /// Every clip stays, whatever its caption count; a requested count keeps the first k of each.
    #[test]
    fn clips_with_1_3_and_5_captions_all_stay() {
        let set = EvalSet::new(joined(&[1, 3, 5]), None).unwrap();
        assert_eq!(set.audio_ids, ["c0", "c1", "c2"]);
        assert_eq!(set.clip_of, [0, 1, 1, 1, 2, 2, 2, 2, 2]);
        assert_eq!(set.captions[1], "c1 #0");
        assert_eq!(set.dropped, 0);
        let set = EvalSet::new(joined(&[1, 3, 5]), Some(3)).unwrap();
        assert_eq!((set.audio_ids.len(), set.captions.len(), set.dropped), (2, 6, 1));
        assert_eq!(set.clip_of, [0, 0, 0, 1, 1, 1]);
        let err = EvalSet::new(joined(&[1, 3]), Some(5)).err().unwrap().to_string();
        assert!(err.contains("w.parquet") && err.contains("5 captions"), "{err}");
    }
}
