//! The demo corpus: short synthesised clips of distinct sound kinds, each with templated captions,
//! written in the native formats of Clotho (CSV + Latin-1 metadata), AudioCaps (CSV) and MACS (YAML),
//! so that the demo runs the real import path.

use std::path::{Path, PathBuf};

use super::formats::{self, AudioCapsRow, ClothoMetadata, MacsAnnotation};
use super::sounds::SoundKind;
use crate::error::{Error, Result};
use crate::split::SplitMix64;

/// One synthesised clip.
#[derive(Debug, Clone)]
pub struct DemoClip {
    pub dataset: &'static str,
    pub file_name: String,
    pub kind: SoundKind,
    pub captions: Vec<String>,
    pub channels: u16,
}

/// Options of the demo corpus.
#[derive(Debug, Clone)]
pub struct CorpusOptions {
    pub clips: usize,
    pub sample_rate: u32,
    pub min_seconds: f32,
    pub max_seconds: f32,
    pub seed: u64,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions { clips: 300, sample_rate: 16000, min_seconds: 2.0, max_seconds: 4.0, seed: 1 }
    }
}

/// Where the corpus was written.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub clips: Vec<DemoClip>,
    pub clotho_audio: PathBuf,
    pub clotho_captions: PathBuf,
    pub clotho_metadata: PathBuf,
    pub audiocaps_audio: PathBuf,
    pub audiocaps_csv: PathBuf,
    pub macs_audio: PathBuf,
    pub macs_yaml: PathBuf,
}

fn kind_for(i: usize, rng: &mut SplitMix64) -> SoundKind {
    let simple = SoundKind::simple();
    // About one clip in four is a sequence of two different kinds.
    if i % 4 == 3 {
        let a = rng.below(simple.len() as u64) as usize;
        let b = (a + 1 + rng.below(simple.len() as u64 - 1) as usize) % simple.len();
        SoundKind::Sequence(Box::new(simple[a].clone()), Box::new(simple[b].clone()))
    } else {
        simple[i % simple.len()].clone()
    }
}

/// Interleave a mono clip into `channels` channels; the second is slightly quieter, so a downmix is
/// not a copy of either channel.
fn interleave(samples: &[f32], channels: u16) -> Vec<f32> {
    samples.iter().flat_map(|&s| (0..channels).map(move |c| if c == 0 { s } else { 0.8 * s })).collect()
}

/// Synthesise the corpus under `out`: audio folders and the three native caption formats.
pub fn synthesize(out: &Path, opts: &CorpusOptions) -> Result<Corpus> {
    let mut rng = SplitMix64::new(opts.seed);
    let dirs = ["audio/clotho", "audio/audiocaps", "audio/macs", "meta/audiocaps"];
    for d in dirs {
        std::fs::create_dir_all(out.join(d)).map_err(|e| Error::io(out.join(d), e))?;
    }
    let mut clips = Vec::with_capacity(opts.clips);
    for i in 0..opts.clips {
        let kind = kind_for(i, &mut rng);
        let dataset = match i % 5 {
            0 | 1 => "clotho",
            2 | 3 => "audiocaps",
            _ => "macs",
        };
        let n_captions = match dataset {
            "clotho" => 5,
            "audiocaps" => 1 + 4 * (i % 3 == 0) as usize,
            _ => 2 + rng.below(4) as usize,
        };
        let captions = (0..n_captions).map(|_| kind.caption(&mut rng)).collect();
        let file_name = match dataset {
            // Clotho names carry spaces, commas, quotes and accents, as the real ones do.
            "clotho" => match i % 4 {
                0 => format!("{} {i:04}.wav", kind.label()),
                1 => format!("{}, take {i:04}.wav", kind.label()),
                2 => format!("Prise 'café' nº{i:04}.wav"),
                _ => format!("{}_\"{i:04}\".wav", kind.label().replace(' ', "_")),
            },
            "audiocaps" => format!("Y{}.wav", youtube_like_id(&mut rng)),
            _ => format!("street_traffic-demo-{i:04}-a.wav"),
        };
        let channels = if i % 5 == 1 { 2 } else { 1 };
        let secs = opts.min_seconds + (opts.max_seconds - opts.min_seconds) * (rng.below(1000) as f32 / 1000.0);
        let samples = kind.render((secs * opts.sample_rate as f32) as usize, opts.sample_rate, &mut rng);
        let path = out.join("audio").join(dataset).join(&file_name);
        formats::wav_i16(&path, &interleave(&samples, channels), channels, opts.sample_rate)?;
        clips.push(DemoClip { dataset, file_name, kind, captions, channels });
    }
    let corpus = Corpus {
        clotho_audio: out.join("audio/clotho"),
        clotho_captions: out.join("meta/clotho_captions_development.csv"),
        clotho_metadata: out.join("meta/clotho_metadata_development.csv"),
        audiocaps_audio: out.join("audio/audiocaps"),
        audiocaps_csv: out.join("meta/audiocaps/train.csv"),
        macs_audio: out.join("audio/macs"),
        macs_yaml: out.join("meta/MACS.yaml"),
        clips,
    };
    write_clotho(&corpus)?;
    write_audiocaps(&corpus)?;
    write_macs(&corpus)?;
    Ok(corpus)
}

fn youtube_like_id(rng: &mut SplitMix64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..11).map(|_| ALPHABET[rng.below(64) as usize] as char).collect()
}

fn write_clotho(c: &Corpus) -> Result<()> {
    let clotho: Vec<&DemoClip> = c.clips.iter().filter(|x| x.dataset == "clotho").collect();
    let rows: Vec<(String, Vec<String>)> = clotho.iter().map(|x| (x.file_name.clone(), x.captions.clone())).collect();
    formats::clotho_captions(&c.clotho_captions, &rows)?;
    let meta: Vec<ClothoMetadata> = clotho
        .iter()
        .enumerate()
        .map(|(i, x)| ClothoMetadata {
            file_name: x.file_name.clone(),
            keywords: x.kind.label().replace(" then ", " ").split(' ').map(String::from).collect(),
            sound_id: (100000 + i).to_string(),
            sound_link: format!("https://freesound.example/s/{}", 100000 + i),
            start_end_samples: "[0, 480000]".into(),
            manufacturer: "Synthé".into(),
            license: "http://creativecommons.org/publicdomain/zero/1.0/".into(),
        })
        .collect();
    formats::clotho_metadata(&c.clotho_metadata, &meta)
}

fn write_audiocaps(c: &Corpus) -> Result<()> {
    let mut rows = Vec::new();
    let mut id = 90000;
    for x in c.clips.iter().filter(|x| x.dataset == "audiocaps") {
        let yt = x.file_name.strip_prefix('Y').and_then(|f| f.strip_suffix(".wav")).unwrap_or(&x.file_name);
        for cap in &x.captions {
            id += 1;
            rows.push(AudioCapsRow {
                audiocap_id: id,
                youtube_id: yt.to_string(),
                start_time: 30,
                caption: cap.clone(),
            });
        }
    }
    formats::audiocaps_csv(&c.audiocaps_csv, &rows)
}

fn write_macs(c: &Corpus) -> Result<()> {
    let files: Vec<(String, Vec<MacsAnnotation>)> = c
        .clips
        .iter()
        .filter(|x| x.dataset == "macs")
        .map(|x| {
            let tags: Vec<String> = x.kind.label().split(' ').map(String::from).collect();
            let annotations = x
                .captions
                .iter()
                .enumerate()
                .map(|(k, cap)| MacsAnnotation {
                    annotator_id: 10 + k as i64,
                    sentence: cap.clone(),
                    tags: tags.clone(),
                })
                .collect();
            (x.file_name.clone(), annotations)
        })
        .collect();
    formats::macs_yaml(&c.macs_yaml, &files)
}
