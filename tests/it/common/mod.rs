//! Helpers shared by the integration tests: run the CLI, write audio and native manifest files.
#![allow(dead_code)]

pub mod prng;
pub mod pth;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap_tools::demo::formats;

/// The Python of the test venv: $CLAP_TOOLS_PYTHON, or .venv/bin/python (scripts/test.sh makes it).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CLAP_TOOLS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "this test needs the Python venv: run `bash scripts/test.sh` (or `bash scripts/setup.sh --python`), \
         or set CLAP_TOOLS_PYTHON to a Python with tests/requirements.txt installed"
    );
    venv
}

/// Run `clap-tools` with `args`; returns (status ok, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    run_in(&std::env::current_dir().expect("working folder"), args)
}

/// Run `clap-tools` with `args` in the working folder `cwd`; returns (status ok, stdout, stderr).
pub fn run_in(cwd: &Path, args: &[&str]) -> (bool, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(args)
        .current_dir(cwd)
        .env("CLAP_TOOLS_LOG", "info")
        .output()
        .expect("run clap-tools");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run in `cwd` and require success; returns stdout.
pub fn ok_in(cwd: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_in(cwd, args);
    assert!(ok, "clap-tools {args:?} in {} failed:\n{stderr}", cwd.display());
    stdout
}

/// Run and require success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(args);
    assert!(ok, "clap-tools {args:?} failed:\n{stderr}");
    stdout
}

/// Run and require failure; returns stderr.
pub fn fails(args: &[&str]) -> String {
    let (ok, _, stderr) = run(args);
    assert!(!ok, "clap-tools {args:?} should have failed");
    stderr
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The demo corpus (`clips` clips, packed, not trained) in `dir/demo`, and a text encoder folder over
/// its captions in `dir/text` (the vocabulary, and a BERT config of width `width`).
pub fn demo_corpus(dir: &Path, clips: usize, width: usize) -> PathBuf {
    let out = dir.join("demo");
    ok(&["demo", "--out", s(&out), "--clips", &clips.to_string(), "--no-train"]);
    let captions: Vec<String> = clap_tools::table::read_captions(&out.join("tables/captions.parquet"))
        .unwrap()
        .into_iter()
        .map(|c| c.caption)
        .collect();
    clap_tools::demo::write_text_encoder(&dir.join("text"), &captions, width).unwrap();
    out
}

/// What fine-tuning a reference-layout checkpoint needs in `dir`: the demo corpus (24 clips, packed)
/// in `dir/demo`, and in `dir/bert` the fixtures' 2-layer BERT config and vocabulary (the BERT of
/// tests/fixtures/model/*/reference.pth). Returns the corpus folder.
pub fn finetune_setup(dir: &Path) -> PathBuf {
    let data = demo_corpus(dir, 24, 16);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model");
    let bert = dir.join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    std::fs::copy(fixtures.join("text/bert/config.json"), bert.join("config.json")).unwrap();
    std::fs::copy(fixtures.join("text/tokenizer/vocab.txt"), bert.join("vocab.txt")).unwrap();
    data
}

/// The `[data]` section of a training config over the demo corpus at `data` (1 s crops).
pub fn demo_data_toml(data: &Path) -> String {
    let wav = s(&data.join("packed/waveforms.parquet")).to_string();
    format!(
        "[data]\ntrain_captions = [\"{}\"]\ntrain_waveforms = \"{wav}\"\nval_captions = [\"{}\"]\n\
         val_waveforms = \"{wav}\"\nsample_rate = 32000\ncrop_seconds = 1.0\n",
        s(&data.join("tables/captions_train.parquet")),
        s(&data.join("tables/captions_val.parquet")),
    )
}

/// Write a short 16-bit WAV (a tone) with `channels` channels.
pub fn write_wav(path: &Path, sample_rate: u32, channels: u16, frames: usize) {
    let tone: Vec<f32> = (0..frames)
        .flat_map(|i| std::iter::repeat_n((i as f32 * 0.05).sin() * 10000.0 / 32767.0, channels as usize))
        .collect();
    formats::wav_i16(path, &tone, channels, sample_rate).unwrap();
}

/// Names that break naive CSV/TSV handling.
pub const ODD_NAMES: &[&str] = &[
    "plain.wav",
    "with space.wav",
    "comma, in name.wav",
    "quote \"double\" and 'single'.wav",
    "nön-ÅSCII ünïcødé 鳥.wav",
];

/// A Clotho-format dataset: captions CSV (UTF-8), metadata CSV (Latin-1), audio folder.
pub struct Clotho {
    pub audio: PathBuf,
    pub captions: PathBuf,
    pub metadata: PathBuf,
}

pub fn clotho(dir: &Path) -> Clotho {
    let audio = dir.join("clotho_audio");
    for n in ODD_NAMES {
        write_wav(&audio.join(n), 44100, 1, 4410);
    }
    let captions = dir.join("clotho_captions_development.csv");
    let rows: Vec<(String, Vec<String>)> = ODD_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.to_string(),
                vec![
                    format!("A bird sings, then a car passes {i}."),
                    format!("Rain \"falls\" on a roof\nwhile wind blows {i}"),
                    format!("Café noise with people talking {i}"),
                    "Water drips into a bucket.".to_string(),
                    format!("A dog barks {i} times"),
                ],
            )
        })
        .collect();
    formats::clotho_captions(&captions, &rows).unwrap();
    // ISO-8859-1, as Clotho's metadata files are.
    let metadata = dir.join("clotho_metadata_development.csv");
    let meta: Vec<formats::ClothoMetadata> = ODD_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| formats::ClothoMetadata {
            file_name: n.to_string(),
            keywords: vec!["bird".into(), "car".into(), "rue".into()],
            sound_id: (1000 + i).to_string(),
            sound_link: format!("https://freesound.org/s/{}", 1000 + i),
            start_end_samples: "[0, 100]".into(),
            manufacturer: "Zoom H4n caf\u{e9}".into(),
            license: "CC0".into(),
        })
        .collect();
    formats::clotho_metadata(&metadata, &meta).unwrap();
    Clotho { audio, captions, metadata }
}

/// An AudioCaps-format dataset: train.csv (1 caption per clip) and val.csv (5 per clip).
pub struct AudioCaps {
    pub audio: PathBuf,
    pub train: PathBuf,
    pub val: PathBuf,
}

pub fn audiocaps(dir: &Path) -> AudioCaps {
    let audio = dir.join("audiocaps_audio");
    let meta = dir.join("audiocaps");
    let train = meta.join("train.csv");
    let val = meta.join("val.csv");
    let row = |id: i64, yt: String, start: i64, caption: String| formats::AudioCapsRow {
        audiocap_id: id,
        youtube_id: yt,
        start_time: start,
        caption,
    };
    let mut t = Vec::new();
    for i in 0..4 {
        t.push(row(100 + i, format!("yt-train_{i:02}"), 30, format!("Engine revving, then idling {i}")));
        write_wav(&audio.join(format!("Yyt-train_{i:02}.wav")), 16000, 2, 1600);
    }
    formats::audiocaps_csv(&train, &t).unwrap();
    let mut v = Vec::new();
    for i in 0..2 {
        for k in 0..5 {
            v.push(row(200 + i * 5 + k, format!("yt-val_{i:02}"), 10 * i, format!("People talk {k} in a room {i}")));
        }
        write_wav(&audio.join(format!("Yyt-val_{i:02}.wav")), 16000, 1, 1600);
    }
    formats::audiocaps_csv(&val, &v).unwrap();
    AudioCaps { audio, train, val }
}

/// A MACS-format dataset: MACS.yaml and its audio.
pub struct Macs {
    pub audio: PathBuf,
    pub yaml: PathBuf,
}

pub fn macs(dir: &Path) -> Macs {
    let audio = dir.join("macs_audio");
    let yaml = dir.join("MACS.yaml");
    let mut files = Vec::new();
    for i in 0..3 {
        let name = format!("airport-lisbon-1000-{i}-a.wav");
        write_wav(&audio.join(&name), 48000, 2, 4800);
        let annotations = (0..(2 + i))
            .map(|k| formats::MacsAnnotation {
                annotator_id: 30 + k,
                sentence: format!("people talking, footsteps {k} and announcements {i}"),
                tags: vec!["adults_talking".into(), "footsteps".into()],
            })
            .collect();
        files.push((name, annotations));
    }
    formats::macs_yaml(&yaml, &files).unwrap();
    Macs { audio, yaml }
}

/// Assert no file but `keep` exists in `dir` whose name starts with `prefix` (no half-written output).
pub fn assert_absent(path: &Path) {
    assert!(!path.exists(), "{} should not exist", path.display());
    if let Some(dir) = path.parent() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for e in std::fs::read_dir(dir).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.contains(&name), "left behind: {n}");
        }
    }
}

/// Sample encodings of a hand-written WAV file.
#[derive(Clone, Copy, Debug)]
pub enum WavSample {
    U8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

/// Write a WAV file by hand (any encoding, optionally with a WAVE_FORMAT_EXTENSIBLE header) from
/// interleaved samples in [-1, 1]. Returns what a decoder should give per sample after quantisation.
pub fn write_wav_raw(
    path: &Path,
    sr: u32,
    channels: u16,
    kind: WavSample,
    extensible: bool,
    samples: &[f64],
) -> Vec<f32> {
    let (bits, float) = match kind {
        WavSample::U8 => (8u16, false),
        WavSample::I16 => (16, false),
        WavSample::I24 => (24, false),
        WavSample::I32 => (32, false),
        WavSample::F32 => (32, true),
        WavSample::F64 => (64, true),
    };
    let mut data = Vec::new();
    let mut expect = Vec::new();
    for &x in samples {
        match kind {
            WavSample::U8 => {
                let q = ((x * 128.0).round().clamp(-128.0, 127.0) as i32 + 128) as u8;
                data.push(q);
                expect.push((q as f32 - 128.0) / 128.0);
            }
            WavSample::I16 => {
                let q = (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                data.extend(q.to_le_bytes());
                expect.push(q as f32 / 32768.0);
            }
            WavSample::I24 => {
                let q = (x * 8388608.0).round().clamp(-8388608.0, 8388607.0) as i32;
                data.extend(&q.to_le_bytes()[..3]);
                expect.push(q as f32 / 8388608.0);
            }
            WavSample::I32 => {
                let q = (x * 2147483648.0).round().clamp(-2147483648.0, 2147483647.0) as i32;
                data.extend(q.to_le_bytes());
                expect.push((q as f64 / 2147483648.0) as f32);
            }
            WavSample::F32 => {
                data.extend((x as f32).to_le_bytes());
                expect.push(x as f32);
            }
            WavSample::F64 => {
                data.extend(x.to_le_bytes());
                expect.push(x as f32);
            }
        }
    }
    let tag: u16 = if float { 3 } else { 1 };
    let block = channels * bits / 8;
    let mut fmt = Vec::new();
    fmt.extend((if extensible { 0xFFFEu16 } else { tag }).to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(sr.to_le_bytes());
    fmt.extend((sr * block as u32).to_le_bytes());
    fmt.extend(block.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    if extensible {
        fmt.extend(22u16.to_le_bytes());
        fmt.extend(bits.to_le_bytes()); // valid bits
        let mask: u32 = if channels == 1 { 0x4 } else { (1 << channels) - 1 };
        fmt.extend(mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: {tag}-0000-0010-8000-00aa00389b71
        fmt.extend((tag as u32).to_le_bytes());
        fmt.extend([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]);
    }
    let mut file = Vec::new();
    file.extend(b"RIFF");
    file.extend((4 + 8 + fmt.len() as u32 + 8 + data.len() as u32).to_le_bytes());
    file.extend(b"WAVEfmt ");
    file.extend((fmt.len() as u32).to_le_bytes());
    file.extend(&fmt);
    file.extend(b"data");
    file.extend((data.len() as u32).to_le_bytes());
    file.extend(&data);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, file).unwrap();
    expect
}

/// Mono mean of interleaved samples.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    interleaved.chunks_exact(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect()
}

/// A deterministic test signal: two tones and a little noise, interleaved over `channels`.
pub fn test_signal(frames: usize, channels: usize, sr: u32) -> Vec<f64> {
    let mut state = 0x1234_5678u64;
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        for c in 0..channels {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.02;
            let t = i as f64 / sr as f64;
            let v = 0.4 * (2.0 * std::f64::consts::PI * 440.0 * t).sin() * if c == 0 { 1.0 } else { 0.5 }
                + 0.2 * (2.0 * std::f64::consts::PI * 1700.0 * t).cos()
                + noise;
            out.push(v);
        }
    }
    out
}

/// The first file under `dir`, depth first in name order.
pub fn first_file(dir: &Path) -> PathBuf {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let first = entries.into_iter().next().expect("a file under the demo's audio folder");
    if first.is_dir() {
        first_file(&first)
    } else {
        first
    }
}

/// `train` fine-tunes the fixture `checkpoint` (a reference-layout CLAP checkpoint under
/// tests/fixtures/model/) for 3 iterations in `dir` (demo corpus and BERT of [`finetune_setup`]),
/// with `[model.audio]` holding `audio` (TOML lines), its text encoder frozen; checks that the best
/// checkpoint holds that audio encoder `kind`. Returns the corpus folder.
pub fn fine_tune(dir: &Path, checkpoint: &str, audio: &str, kind: &str) -> PathBuf {
    let data = finetune_setup(dir);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model");
    let config = format!(
        "{}\n[model]\nshared_dim = 24\ninit = \"{}\"\nfreeze = [\"text\"]\n\n[model.audio]\nkind = \"{kind}\"\n{audio}\n\n\
         [model.text]\nkind = \"bert\"\ndir = \"bert\"\npretrained = false\n\n[schedule]\nwarmup_iterations = 1\n\
         total_iterations = 3\n\n[train]\nbatch_size = 4\nval_interval = 3\nseed = 1\nworkers = 1\n\n\
         [checkpoint]\ndir = \"run\"\nevery = 3\n",
        demo_data_toml(&data),
        s(&fixtures.join(checkpoint)),
    );
    std::fs::write(dir.join("ft.toml"), config).unwrap();
    ok_in(dir, &["train", "--config", "ft.toml"]);
    let clap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/best/clap.json")).unwrap()).unwrap();
    assert_eq!(clap["audio"]["kind"], kind, "{clap}");
    data
}

/// After [`fine_tune`] in `dir`: `embed` (from another folder, with relative paths) gives a unit
/// embedding of one clip, and `eval` scores the validation set with the best checkpoint.
pub fn embed_and_eval_the_fine_tuned(dir: &Path, data: &Path) {
    let best = dir.join("run/best");
    let sub = dir.join("elsewhere");
    std::fs::create_dir_all(&sub).unwrap();
    let wav = first_file(&data.join("audio"));
    ok_in(&sub, &["embed", "audio", s(&wav), "--checkpoint", "../run/best", "-o", "a"]);
    let emb = clap_tools::npy::read_f32(&sub.join("a.npy")).unwrap();
    assert_eq!(emb.shape, vec![1, 24]);
    let norm: f32 = emb.data.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "unit embedding, norm {norm}");
    let queries = data.join("tables/captions_val.parquet");
    let waveforms = data.join("packed/waveforms.parquet");
    let out =
        ok(&["eval", "--checkpoint", s(&best), "--captions", s(&queries), "--waveforms", s(&waveforms), "--json"]);
    let got: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let r1 = got["t2a"]["R1"].as_f64().unwrap_or_else(|| panic!("t2a R1 in {got}"));
    assert!((0.0..=100.0).contains(&r1) && got["clips"] == 5, "{got}");
}
