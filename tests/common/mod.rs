//! Helpers shared by the integration tests: run the CLI, write audio and native manifest files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `clap-tools` with `args`; returns (status ok, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(args)
        .env("CLAP_TOOLS_LOG", "info")
        .output()
        .expect("run clap-tools");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

/// Write a short 16-bit WAV (a tone) with `channels` channels.
pub fn write_wav(path: &Path, sample_rate: u32, channels: u16, frames: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec { channels, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        let v = ((i as f32 * 0.05).sin() * 10000.0) as i16;
        for _ in 0..channels {
            w.write_sample(v).unwrap();
        }
    }
    w.finalize().unwrap();
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
    let mut w = csv::Writer::from_path(&captions).unwrap();
    w.write_record(["file_name", "caption_1", "caption_2", "caption_3", "caption_4", "caption_5"]).unwrap();
    for (i, n) in ODD_NAMES.iter().enumerate() {
        w.write_record([
            n.to_string(),
            format!("A bird sings, then a car passes {i}."),
            format!("Rain \"falls\" on a roof\nwhile wind blows {i}"),
            format!("Café noise with people talking {i}"),
            "Water drips into a bucket.".to_string(),
            format!("A dog barks {i} times"),
        ])
        .unwrap();
    }
    w.flush().unwrap();
    let metadata = dir.join("clotho_metadata_development.csv");
    let mut meta = b"file_name,keywords,sound_id,sound_link,start_end_samples,manufacturer,license\n".to_vec();
    for (i, n) in ODD_NAMES.iter().enumerate() {
        let line = format!("\"{}\",bird;car;rue,{},https://freesound.org/s/{},\"[0, 100]\",Zoom H4n caf\u{e9},CC0\n", n.replace('"', "\"\""), 1000 + i, 1000 + i);
        // ISO-8859-1, as Clotho's metadata files are.
        meta.extend(line.chars().map(|c| if (c as u32) < 256 { c as u8 } else { b'?' }));
    }
    std::fs::write(&metadata, meta).unwrap();
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
    std::fs::create_dir_all(&meta).unwrap();
    let train = meta.join("train.csv");
    let val = meta.join("val.csv");
    let mut t = String::from("audiocap_id,youtube_id,start_time,caption\n");
    for i in 0..4 {
        t += &format!("{},yt-train_{i:02},30,\"Engine revving, then idling {i}\"\n", 100 + i);
        write_wav(&audio.join(format!("Yyt-train_{i:02}.wav")), 16000, 2, 1600);
    }
    std::fs::write(&train, t).unwrap();
    let mut v = String::from("audiocap_id,youtube_id,start_time,caption\n");
    for i in 0..2 {
        for k in 0..5 {
            v += &format!("{},yt-val_{i:02},{},People talk {k} in a room {i}\n", 200 + i * 5 + k, 10 * i);
        }
        write_wav(&audio.join(format!("Yyt-val_{i:02}.wav")), 16000, 1, 1600);
    }
    std::fs::write(&val, v).unwrap();
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
    let mut y = String::from("files:\n");
    for i in 0..3 {
        let name = format!("airport-lisbon-1000-{i}-a.wav");
        write_wav(&audio.join(&name), 48000, 2, 4800);
        y += &format!("- filename: {name}\n  annotations:\n");
        for k in 0..(2 + i) {
            y += &format!(
                "  - annotator_id: {}\n    sentence: \"people talking, footsteps {k} and announcements {i}\"\n    tags:\n    - adults_talking\n    - footsteps\n",
                30 + k
            );
        }
    }
    std::fs::write(&yaml, y).unwrap();
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
