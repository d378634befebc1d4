//! The demo corpus: short synthesised clips of distinct sound kinds, each with templated captions,
//! written in the native formats of Clotho (CSV + Latin-1 metadata), AudioCaps (CSV) and MACS (YAML),
//! so that the demo runs the real import path.

use std::f32::consts::PI;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::split::SplitMix64;

/// A pitch class for tones and sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pitch {
    Low,
    Mid,
    High,
}

impl Pitch {
    fn hz(self) -> f32 {
        match self {
            Pitch::Low => 220.0,
            Pitch::Mid => 660.0,
            Pitch::High => 1980.0,
        }
    }
    fn words(self) -> &'static [&'static str] {
        match self {
            Pitch::Low => &["low", "deep", "low-pitched"],
            Pitch::Mid => &["medium", "mid-pitched", "moderate"],
            Pitch::High => &["high", "shrill", "high-pitched"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    White,
    Pink,
    Brown,
}

/// The kinds of sound the demo synthesises.
#[derive(Debug, Clone, PartialEq)]
pub enum SoundKind {
    Tone(Pitch),
    SweepUp,
    SweepDown,
    Noise(Noise),
    /// Short clicks at a rate: slow (2/s) or fast (8/s).
    Pulses { fast: bool },
    /// One kind, then another.
    Sequence(Box<SoundKind>, Box<SoundKind>),
}

impl SoundKind {
    /// The simple kinds (sequences are made of two of these).
    pub fn simple() -> Vec<SoundKind> {
        vec![
            SoundKind::Tone(Pitch::Low),
            SoundKind::Tone(Pitch::Mid),
            SoundKind::Tone(Pitch::High),
            SoundKind::SweepUp,
            SoundKind::SweepDown,
            SoundKind::Noise(Noise::White),
            SoundKind::Noise(Noise::Pink),
            SoundKind::Noise(Noise::Brown),
            SoundKind::Pulses { fast: false },
            SoundKind::Pulses { fast: true },
        ]
    }

    /// A short label, used in file names and keywords.
    pub fn label(&self) -> String {
        match self {
            SoundKind::Tone(p) => format!("{} tone", p.words()[0]),
            SoundKind::SweepUp => "rising sweep".into(),
            SoundKind::SweepDown => "falling sweep".into(),
            SoundKind::Noise(Noise::White) => "white noise".into(),
            SoundKind::Noise(Noise::Pink) => "pink noise".into(),
            SoundKind::Noise(Noise::Brown) => "brown noise".into(),
            SoundKind::Pulses { fast } => format!("{} clicks", if *fast { "fast" } else { "slow" }),
            SoundKind::Sequence(a, b) => format!("{} then {}", a.label(), b.label()),
        }
    }

    /// A noun phrase describing the sound, varied by `rng`.
    fn phrase(&self, rng: &mut SplitMix64) -> String {
        let pick = |rng: &mut SplitMix64, xs: &[&str]| xs[rng.below(xs.len() as u64) as usize].to_string();
        match self {
            SoundKind::Tone(p) => {
                let adj = pick(rng, p.words());
                let noun = pick(rng, &["tone", "beep", "hum", "whistle"]);
                format!("a steady {adj} {noun}")
            }
            SoundKind::SweepUp => pick(rng, &["a tone rising in pitch", "an upward sweep", "a siren-like tone going up"]),
            SoundKind::SweepDown => {
                pick(rng, &["a tone falling in pitch", "a downward sweep", "a siren-like tone going down"])
            }
            SoundKind::Noise(Noise::White) => pick(rng, &["harsh white noise", "a loud hiss", "hissing static"]),
            SoundKind::Noise(Noise::Pink) => pick(rng, &["soft pink noise", "a gentle rushing sound", "steady rain-like noise"]),
            SoundKind::Noise(Noise::Brown) => pick(rng, &["deep brown noise", "a low rumble", "a dull roaring rumble"]),
            SoundKind::Pulses { fast: false } => pick(rng, &["slow clicks", "a slow ticking", "clicks at a slow pace"]),
            SoundKind::Pulses { fast: true } => pick(rng, &["rapid clicks", "a fast ticking", "clicks in quick succession"]),
            SoundKind::Sequence(a, b) => {
                let (a, b) = (a.phrase(rng), b.phrase(rng));
                match rng.below(3) {
                    0 => format!("{a} followed by {b}"),
                    1 => format!("first {a}, then {b}"),
                    _ => format!("{a} and afterwards {b}"),
                }
            }
        }
    }

    /// A caption for a clip of this kind.
    pub fn caption(&self, rng: &mut SplitMix64) -> String {
        let p = self.phrase(rng);
        let s = match rng.below(5) {
            0 => format!("{p}."),
            1 => format!("You can hear {p}."),
            2 => format!("{p} can be heard."),
            3 => format!("A recording of {p}."),
            _ => format!("{p} is playing."),
        };
        let mut c = s.chars();
        match c.next() {
            Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
            None => s,
        }
    }

    /// Synthesise `n` samples at `sr` Hz, in [-1, 1].
    pub fn render(&self, n: usize, sr: u32, rng: &mut SplitMix64) -> Vec<f32> {
        let sr = sr as f32;
        let mut white = || (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
        match self {
            SoundKind::Tone(p) => (0..n).map(|i| 0.5 * (2.0 * PI * p.hz() * i as f32 / sr).sin()).collect(),
            SoundKind::SweepUp | SoundKind::SweepDown => {
                let (f0, f1) = if *self == SoundKind::SweepUp { (200.0f32, 3000.0f32) } else { (3000.0, 200.0) };
                let dur = n as f32 / sr;
                let k = (f1 / f0).ln() / dur;
                // Exponential sweep: phase = 2π f0 (e^{kt} - 1) / k.
                (0..n).map(|i| {
                    let t = i as f32 / sr;
                    0.5 * (2.0 * PI * f0 * ((k * t).exp() - 1.0) / k).sin()
                }).collect()
            }
            SoundKind::Noise(kind) => {
                let mut out = Vec::with_capacity(n);
                let (mut b0, mut b1, mut b2, mut brown) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
                for _ in 0..n {
                    let w = white();
                    let v = match kind {
                        Noise::White => 0.3 * w,
                        Noise::Pink => {
                            // Paul Kellet's economy pink-noise filter.
                            b0 = 0.99765 * b0 + w * 0.0990460;
                            b1 = 0.96300 * b1 + w * 0.2965164;
                            b2 = 0.57000 * b2 + w * 1.0526913;
                            0.15 * (b0 + b1 + b2 + w * 0.1848)
                        }
                        Noise::Brown => {
                            brown = (brown + 0.02 * w) * 0.998;
                            2.0 * brown
                        }
                    };
                    out.push(v.clamp(-1.0, 1.0));
                }
                out
            }
            SoundKind::Pulses { fast } => {
                let period = (sr / if *fast { 8.0 } else { 2.0 }) as usize;
                let click = (0.01 * sr) as usize;
                (0..n).map(|i| {
                    let k = i % period.max(1);
                    if k < click {
                        0.8 * (1.0 - k as f32 / click as f32) * (2.0 * PI * 1000.0 * k as f32 / sr).sin()
                    } else {
                        0.0
                    }
                }).collect()
            }
            SoundKind::Sequence(a, b) => {
                let half = n / 2;
                let mut out = a.render(half, sr as u32, rng);
                out.extend(b.render(n - half, sr as u32, rng));
                out
            }
        }
    }
}

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

fn write_wav(path: &Path, samples: &[f32], channels: u16, sr: u32) -> Result<()> {
    let spec = hound::WavSpec { channels, sample_rate: sr, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let err = |e: hound::Error| Error::file(path, format!("writing WAV: {e}"));
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        for c in 0..channels {
            // The second channel is slightly quieter, so a downmix is not a copy of either channel.
            let g = if c == 0 { 1.0 } else { 0.8 };
            w.write_sample((s * g * 32767.0).round() as i16).map_err(err)?;
        }
    }
    w.finalize().map_err(err)
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
        write_wav(&out.join("audio").join(dataset).join(&file_name), &samples, channels, opts.sample_rate)?;
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

fn csv_file(path: &Path, header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::file(path, format!("writing CSV: {e}"));
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::file(path, format!("writing CSV: {e}")))
}

fn write_clotho(c: &Corpus) -> Result<()> {
    let clotho: Vec<&DemoClip> = c.clips.iter().filter(|x| x.dataset == "clotho").collect();
    let rows = clotho
        .iter()
        .map(|x| std::iter::once(x.file_name.clone()).chain(x.captions.iter().cloned()).collect())
        .collect();
    let header = ["file_name", "caption_1", "caption_2", "caption_3", "caption_4", "caption_5"];
    crate::atomic::write_bytes(&c.clotho_captions, &csv_file(&c.clotho_captions, &header, rows)?)?;
    // Clotho's metadata CSVs are ISO-8859-1.
    let meta_rows = clotho
        .iter()
        .enumerate()
        .map(|(i, x)| {
            vec![
                x.file_name.clone(),
                x.kind.label().replace(" then ", ";").replace(' ', ";"),
                (100000 + i).to_string(),
                format!("https://freesound.example/s/{}", 100000 + i),
                "[0, 480000]".into(),
                "Synthé".into(),
                "http://creativecommons.org/publicdomain/zero/1.0/".into(),
            ]
        })
        .collect();
    let header = ["file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer", "license"];
    let utf8 = csv_file(&c.clotho_metadata, &header, meta_rows)?;
    let text = String::from_utf8(utf8).map_err(|e| Error::file(&c.clotho_metadata, e.to_string()))?;
    let latin1: Vec<u8> = text.chars().map(|ch| if (ch as u32) < 256 { ch as u8 } else { b'?' }).collect();
    crate::atomic::write_bytes(&c.clotho_metadata, &latin1)
}

fn write_audiocaps(c: &Corpus) -> Result<()> {
    let mut rows = Vec::new();
    let mut id = 90000;
    for x in c.clips.iter().filter(|x| x.dataset == "audiocaps") {
        let yt = x.file_name.strip_prefix('Y').and_then(|f| f.strip_suffix(".wav")).unwrap_or(&x.file_name);
        for cap in &x.captions {
            id += 1;
            rows.push(vec![id.to_string(), yt.to_string(), "30".into(), cap.clone()]);
        }
    }
    let bytes = csv_file(&c.audiocaps_csv, &["audiocap_id", "youtube_id", "start_time", "caption"], rows)?;
    crate::atomic::write_bytes(&c.audiocaps_csv, &bytes)
}

fn yaml_str(s: &str) -> String {
    // Double-quoted YAML scalar; JSON escaping is valid YAML.
    serde_json::to_string(s).unwrap_or_default()
}

fn write_macs(c: &Corpus) -> Result<()> {
    let mut y = Vec::new();
    let w = |y: &mut Vec<u8>, s: String| y.extend_from_slice(s.as_bytes());
    w(&mut y, "files:\n".into());
    for x in c.clips.iter().filter(|x| x.dataset == "macs") {
        w(&mut y, format!("- filename: {}\n  annotations:\n", x.file_name));
        for (k, cap) in x.captions.iter().enumerate() {
            let tags: Vec<String> = x.kind.label().split(' ').map(yaml_str).collect();
            w(&mut y, format!("  - annotator_id: {}\n    sentence: {}\n    tags:\n", 10 + k, yaml_str(cap)));
            for t in tags {
                w(&mut y, format!("    - {t}\n"));
            }
        }
    }
    crate::atomic::write_bytes(&c.macs_yaml, &y)
}

/// The file that marks a folder as the demo's output, so that a second run may replace it.
pub const MARKER: &str = ".clap-tools-demo";

/// What [`prepare_out`] found in the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The folder did not exist or was empty.
    New,
    /// An earlier demo output (or, when forced, any folder) whose entries were removed.
    Replaced { entries: usize, earlier_demo: bool },
}

/// Make `out` ready for a demo run: an earlier demo's output (it holds [`MARKER`]) is emptied, as is
/// any folder when `force`; a folder with other content is refused, so a mistyped output folder
/// never loses someone's files. The folder itself is kept (it may be a symlink to elsewhere).
pub fn prepare_out(out: &Path, force: bool) -> Result<Prepared> {
    let meta = match std::fs::metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
            crate::atomic::write_bytes(&out.join(MARKER), b"clap-tools demo output\n")?;
            return Ok(Prepared::New);
        }
        Err(e) => return Err(Error::io(out, e)),
    };
    if !meta.is_dir() {
        return Err(Error::file(out, "exists and is not a folder; choose another output folder"));
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(|e| Error::io(out, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(out, err)))
        .collect::<Result<_>>()?;
    let earlier_demo = out.join(MARKER).is_file();
    let prepared = if entries.is_empty() {
        Prepared::New
    } else if earlier_demo || force {
        for p in &entries {
            // symlink_metadata: a link inside the folder is removed, never followed.
            let is_dir = std::fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false);
            let r = if is_dir { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
            r.map_err(|e| Error::io(p, e))?;
        }
        Prepared::Replaced { entries: entries.len(), earlier_demo }
    } else {
        return Err(Error::file(
            out,
            "exists and is not an earlier demo output (it has no .clap-tools-demo file)",
        ));
    };
    crate::atomic::write_bytes(&out.join(MARKER), b"clap-tools demo output\n")?;
    Ok(prepared)
}

/// Options of the demo run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub out: PathBuf,
    pub corpus: CorpusOptions,
    /// Fraction of clips held out for validation.
    pub val_fraction: f64,
    /// Sample rate of the packed waveforms.
    pub pack_rate: u32,
}

/// What the demo produced.
#[derive(Debug)]
pub struct DemoOutputs {
    pub corpus: Corpus,
    pub wav_csv: PathBuf,
    pub clips_table: PathBuf,
    pub captions: PathBuf,
    pub caption_json: PathBuf,
    pub train: PathBuf,
    pub val: PathBuf,
    pub split: (usize, usize),
    pub report: crate::inspect::Report,
    pub packed: crate::pack::PackSummary,
    /// The rate the waveforms were packed at (the model's front end runs at it).
    pub sample_rate: u32,
}

/// The demo's data steps: synthesise → scan → import (three native formats) → concat → export →
/// split → inspect → pack. `log` receives one line per step.
pub fn run(opts: &DemoOptions, log: &mut dyn FnMut(&str)) -> Result<DemoOutputs> {
    use crate::manifest::{self, audiocaps, clotho, join::AudioSource, macs, scan};
    let out = &opts.out;
    let tables = out.join("tables");
    log(&format!("synthesising {} clips under {}", opts.corpus.clips, out.join("audio").display()));
    let corpus = synthesize(out, &opts.corpus)?;

    // scan: one wav.csv and one clips table per dataset, then concatenated.
    let mut wav_csvs = Vec::new();
    let mut clip_tables = Vec::new();
    for (name, dir) in [("clotho", &corpus.clotho_audio), ("audiocaps", &corpus.audiocaps_audio), ("macs", &corpus.macs_audio)] {
        let listing = scan::list_audio(dir, &scan::ScanOptions::default())?;
        let wav = tables.join(format!("{name}_wav.csv"));
        manifest::wav_csv::write_tsv(
            &wav,
            &["audio_id", "file_name"],
            listing.files.iter().map(|(id, p)| vec![id.as_str(), p.to_str().unwrap_or_default()]),
        )?;
        let clips = scan::probe_all(&listing.files, &crate::progress::Silent);
        let table = tables.join(format!("{name}_clips.parquet"));
        crate::table::write_clips(&table, &clips)?;
        log(&format!("scan {}: {} files → {}", dir.display(), clips.len(), wav.display()));
        wav_csvs.push(wav);
        clip_tables.push(table);
    }
    let wav_csv = tables.join("wav.csv");
    crate::concat::concat(&wav_csvs, &wav_csv)?;
    let clips_table = tables.join("clips.parquet");
    crate::concat::concat(&clip_tables, &clips_table)?;

    // import: each native format, joined to its audio.
    let imports = [
        (
            "clotho",
            clotho::import(&clotho::ClothoImport {
                captions: vec![corpus.clotho_captions.clone()],
                metadata: vec![corpus.clotho_metadata.clone()],
                split: None,
            })?,
            corpus.clotho_captions.clone(),
            corpus.clotho_audio.clone(),
        ),
        (
            "audiocaps",
            audiocaps::import(&audiocaps::AudioCapsImport { csvs: vec![corpus.audiocaps_csv.clone()], ..Default::default() })?,
            corpus.audiocaps_csv.clone(),
            corpus.audiocaps_audio.clone(),
        ),
        (
            "macs",
            macs::import(&macs::MacsImport { yaml: corpus.macs_yaml.clone(), split: Some("train".into()) })?,
            corpus.macs_yaml.clone(),
            corpus.macs_audio.clone(),
        ),
    ];
    let mut caption_tables = Vec::new();
    for (name, rows, source, audio) in imports {
        let table = tables.join(format!("{name}.parquet"));
        let rep = manifest::finish_import(rows, Some(&AudioSource::Dir(audio)), manifest::MissingAudio::Keep, &source, &table)?;
        let missing = rep.join.as_ref().map_or(0, |j| j.missing.len());
        log(&format!("import {name}: {} clips, {} captions, {missing} without audio → {}", rep.clips, rep.captions, table.display()));
        caption_tables.push(table);
    }

    let captions = tables.join("captions.parquet");
    let rep = crate::concat::concat(&caption_tables, &captions)?;
    log(&format!("concat: {} clips, {} captions → {}", rep.clips, rep.rows, captions.display()));
    let caption_json = tables.join("text.json");
    crate::manifest::caption_json::export(&crate::table::read_captions(&captions)?, &captions, &caption_json)?;
    log(&format!("export json → {}", caption_json.display()));

    let (train, val) = crate::split::default_outputs(&captions);
    let s = crate::split::split(
        crate::table::read_captions(&captions)?,
        &crate::split::ValidationSize::Fraction(opts.val_fraction),
        opts.corpus.seed,
    )?;
    crate::table::write_captions(&train, &s.train)?;
    crate::table::write_captions(&val, &s.val)?;
    log(&format!("split: {} train clips, {} validation clips", s.train_clips, s.val_clips));

    let report = crate::inspect::inspect(&[captions.clone(), clips_table.clone()], 10)?;

    let pack_opts = crate::pack::PackOptions {
        input: wav_csv.clone(),
        out: out.join("packed"),
        sample_rate: Some(opts.pack_rate),
        part_size: 1000,
        jobs: 0,
        dtype: crate::shards::SampleType::F16,
        shard: None,
    };
    let packed = crate::pack::pack(&pack_opts, &crate::progress::Silent)?;
    if packed.outcome != crate::pack::Outcome::Complete {
        return Err(Error::file(&packed.failures_csv, format!("{} demo clips failed to pack", packed.failures.len())));
    }
    log(&format!("pack: {} clips at {} Hz → {}", packed.packed, opts.pack_rate, packed.index_csv.display()));
    Ok(DemoOutputs {
        corpus,
        wav_csv,
        clips_table,
        captions,
        caption_json,
        train,
        val,
        split: (s.train_clips, s.val_clips),
        report,
        packed,
        sample_rate: opts.pack_rate,
    })
}

/// Settings of the demo's training run: the small CNN and the small text encoder, trained from scratch on
/// the CPU.
#[derive(Debug, Clone)]
pub struct DemoTrainOptions {
    pub iterations: u64,
    pub batch_size: usize,
    pub val_interval: u64,
    pub crop_seconds: f64,
    /// Widths of the small CNN's blocks, and its clip vector.
    pub audio_channels: Vec<usize>,
    pub audio_dim: usize,
    /// Width of the small text encoder (and of the BERT config written beside the vocabulary).
    pub hidden: usize,
    pub shared_dim: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for DemoTrainOptions {
    fn default() -> Self {
        Self {
            iterations: 300,
            batch_size: 32,
            val_interval: 100,
            crop_seconds: 1.5,
            audio_channels: vec![16, 32, 64, 128],
            audio_dim: 128,
            hidden: 64,
            shared_dim: 64,
            lr: 2e-3,
            seed: 1,
        }
    }
}

/// Write a text encoder folder for the demo: a WordPiece vocabulary of every word of the captions
/// (so nothing is [UNK]) and a small BERT config.json (random weights: it is trained from scratch).
pub fn write_text_encoder(dir: &Path, captions: &[String], hidden: usize) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut words = std::collections::BTreeSet::new();
    for c in captions {
        let lower = c.to_lowercase();
        let mut word = String::new();
        for ch in lower.chars() {
            if ch.is_alphanumeric() {
                word.push(ch);
            } else {
                if !word.is_empty() {
                    words.insert(std::mem::take(&mut word));
                }
                if !ch.is_whitespace() {
                    words.insert(ch.to_string());
                }
            }
        }
        if !word.is_empty() {
            words.insert(word);
        }
    }
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].iter().map(|s| s.to_string()).collect();
    vocab.extend(words);
    crate::atomic::write_bytes(&dir.join("vocab.txt"), (vocab.join("\n") + "\n").as_bytes())?;
    let config = crate::model::bert::BertConfig::new(vocab.len(), hidden, 2, 4, hidden * 2, 64);
    crate::atomic::write_bytes(&dir.join("config.json"), config.to_json()?.as_bytes())?;
    Ok(vocab.len())
}

/// The training config of the demo, with paths into its output folder.
pub fn train_config(out: &Path, data: &DemoOutputs, o: &DemoTrainOptions) -> crate::train::config::TrainConfig {
    use crate::train::config::*;
    let waveforms = data.packed.index_csv.with_file_name("waveforms.parquet");
    TrainConfig {
        data: DataConfig {
            train_captions: vec![data.train.clone()],
            train_waveforms: waveforms.clone(),
            val_captions: vec![data.val.clone()],
            val_waveforms: waveforms,
            sample_rate: data.sample_rate,
            crop_seconds: o.crop_seconds,
        },
        model: ModelConfig {
            audio: AudioSection::SmallCnn(crate::model::small_cnn::SmallCnnSettings {
                channels: Some(o.audio_channels.clone()),
                dim: Some(o.audio_dim),
            }),
            text: TextSection::Small(crate::model::small_text::SmallTextSettings {
                dir: out.join("text_encoder"),
                dim: Some(o.hidden),
            }),
            shared_dim: o.shared_dim,
            max_tokens: 30,
            specaugment: false,
        },
        optimizer: OptimizerConfig { lr: o.lr, grad_clip_norm: Some(5.0), ..Default::default() },
        schedule: ScheduleConfig { warmup_iterations: (o.iterations / 10).max(1), total_iterations: o.iterations },
        train: LoopConfig {
            batch_size: o.batch_size,
            val_interval: o.val_interval,
            val_batch_size: 16,
            seed: o.seed,
            workers: 2,
            // The demo is small: one device, the same run on any build.
            devices: Some(1),
        },
        checkpoint: CheckpointConfig { dir: out.join("run"), every: o.val_interval, keep: 1 },
    }
}

/// A text query against the held-out clips and its best matches (audio_id, cosine, the clip's kind).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Search {
    pub query: String,
    pub hits: Vec<(String, f32, String)>,
}

/// What the demo's training produced.
#[derive(Debug, Clone)]
pub struct DemoTrained {
    pub config: PathBuf,
    pub summary: crate::train::trainer::Summary,
    /// Held-out metrics of the best checkpoint.
    pub metrics: crate::eval::Metrics,
    /// t2a R@1 of a random ranking, in percent.
    pub chance_r1: f64,
    pub searches: Vec<Search>,
}

/// The demo's model steps: write the text encoder folder and the config (OUT/demo.toml), train,
/// evaluate the best checkpoint on the held-out clips, and search them with a few queries.
pub fn train_and_search(
    out: &Path,
    data: &DemoOutputs,
    o: &DemoTrainOptions,
    on: impl FnMut(crate::train::trainer::Event),
) -> Result<DemoTrained> {
    use crate::eval::{evaluate_checkpoint, join, similarity, EvalOptions, EvalSet};
    use crate::model::checkpoint::{Embedder, ModelSource};
    use crate::train::{config::TrainConfig, trainer};
    let captions: Vec<String> = data.corpus.clips.iter().flat_map(|c| c.captions.iter().cloned()).collect();
    write_text_encoder(&out.join("text_encoder"), &captions, o.hidden)?;
    let config_path = out.join("demo.toml");
    // Paths relative to demo.toml, so the demo folder works from any working directory and when moved.
    let cfg = train_config(out, data, o).relative_to(&config_path);
    let text = toml::to_string(&cfg).map_err(|e| Error::Internal(format!("demo config: {e}")))?;
    crate::atomic::write_bytes(&config_path, text.as_bytes())?;
    // Train from the file, as a user's run would.
    let cfg = TrainConfig::from_file(&config_path)?;
    let summary = trainer::train(&cfg, &trainer::TrainOptions::default(), on)?;

    let best = summary.run_dir.join("best");
    let source = ModelSource { checkpoint: best.clone(), text_encoder: None, sample_rate: cfg.data.sample_rate };
    let opts = EvalOptions {
        captions: cfg.data.val_captions.clone(),
        waveforms: cfg.data.val_waveforms.clone(),
        captions_per_clip: None,
        batch_size: 16,
    };
    let device = clap_tools_backends::default_device();
    let eval = evaluate_checkpoint::<clap_tools_backends::Selected>(&source, &opts, device.clone(), &crate::progress::Silent)?;
    let chance_r1 = 100.0 / eval.audio_ids.len() as f64;
    let model = Embedder::<clap_tools_backends::Selected>::load(&source, device)?;
    let tokenizer = crate::model::tokenizer::CaptionTokenizer::from_dir(&best, cfg.model.max_tokens)?;
    let val = EvalSet::new(join(&cfg.data.val_captions, &cfg.data.val_waveforms, cfg.data.sample_rate)?, None)?;

    // Text search over the held-out clips.
    let kinds: std::collections::HashMap<&str, String> =
        data.corpus.clips.iter().map(|c| (c.file_name.as_str(), c.kind.label())).collect();
    let n = val.audio_ids.len();
    let mut audio = Vec::with_capacity(n * model.dim());
    for id in &val.audio_ids {
        let w = val.reader.read(id)?;
        audio.extend(model.audio(&[&w])?);
    }
    let queries = ["a low rumble", "a tone rising in pitch", "rapid clicks", "harsh white noise followed by slow clicks"];
    let mut searches = Vec::new();
    for q in queries {
        let t = model.text(&tokenizer, &[q])?;
        let scores = similarity(&t, &audio, model.dim());
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let hits = order
            .iter()
            .take(3)
            .map(|&i| {
                let id = &val.audio_ids[i];
                (id.clone(), scores[i], kinds.get(id.as_str()).cloned().unwrap_or_default())
            })
            .collect();
        searches.push(Search { query: q.to_string(), hits });
    }
    Ok(DemoTrained { config: config_path, summary, metrics: eval.evaluation.metrics, chance_r1, searches })
}
