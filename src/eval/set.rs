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

/// Validation clips and the first `captions_per_clip` captions of each, in clip order (the order
/// the retrieval metrics expect: the captions of clip j in rows j·k … j·k+k−1).
pub struct EvalSet {
    pub audio_ids: Vec<String>,
    pub captions: Vec<String>,
    pub captions_per_clip: usize,
    pub reader: WaveformReader,
    /// Clips dropped for having fewer captions than the others.
    pub dropped: usize,
}

impl EvalSet {
    /// `k`: captions per clip; `None` takes the most common count, and clips with fewer are left out
    /// (the metrics need the same number of captions for every clip).
    pub fn new(joined: Joined, k: Option<usize>) -> Result<Self> {
        if joined.clips.is_empty() {
            return Err(Error::file(&joined.index, "no evaluation clip has both captions and a waveform"));
        }
        let k = k.unwrap_or_else(|| {
            let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
            for c in &joined.clips {
                *counts.entry(c.captions.len()).or_default() += 1;
            }
            counts.into_iter().max_by_key(|&(n, count)| (count, n)).map_or(1, |(n, _)| n)
        });
        let mut audio_ids = Vec::new();
        let mut captions = Vec::new();
        let mut dropped = 0;
        for c in joined.clips {
            if c.captions.len() < k {
                dropped += 1;
                continue;
            }
            captions.extend(c.captions.into_iter().take(k));
            audio_ids.push(c.audio_id);
        }
        Ok(Self {
            audio_ids,
            captions,
            captions_per_clip: k,
            reader: WaveformReader::from_pairs(joined.pairs),
            dropped,
        })
    }
}
