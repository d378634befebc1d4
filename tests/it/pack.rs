//! `pack`: every input format, bad inputs, the layout, slices, crash and resume, h5py interop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use clap_tools::manifest::wav_csv::Tsv;
use clap_tools::shards::WaveformReader;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn write_wav_csv(path: &Path, rows: &[(&str, &Path)]) {
    let mut text = String::from("audio_id\tfile_name\n");
    for (id, p) in rows {
        text += &format!("{id}\t{}\n", p.display());
    }
    std::fs::write(path, text).unwrap();
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Exit status of a pack run.
fn pack_status(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clap-tools")).arg("pack").args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_wav_encoding_and_compressed_format_decodes_to_the_mono_mean() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sr = 16000;
    let mut rows: Vec<(String, PathBuf)> = Vec::new();
    let mut expected: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    use WavSample::*;
    for (kind, ext, channels) in [
        (U8, false, 1),
        (I16, false, 2),
        (I16, true, 1),
        (I24, false, 2),
        (I24, true, 3),
        (I32, true, 2),
        (F32, false, 1),
        (F32, true, 2),
        (F64, false, 2),
        (F64, true, 1),
    ] {
        let id = format!("{kind:?}{}-{channels}ch.wav", if ext { "-ext" } else { "" });
        let path = d.join("audio").join(&id);
        let raw = write_wav_raw(&path, sr, channels as u16, kind, ext, &test_signal(4000, channels, sr));
        expected.insert(id.clone(), downmix(&raw, channels));
        rows.push((id, path));
    }
    for f in ["stereo.flac", "stereo.ogg", "stereo.mp3"] {
        rows.push((f.to_string(), fixture(&format!("audio/{f}"))));
    }
    let csv = d.join("wav.csv");
    write_wav_csv(&csv, &rows.iter().map(|(i, p)| (i.as_str(), p.as_path())).collect::<Vec<_>>());
    let out = d.join("packed");
    ok(&["pack", s(&csv), "-o", s(&out), "--sample-rate", "16000", "--dtype", "f32"]);
    let reader = WaveformReader::from_index(&out.join("waveform.csv")).unwrap();
    for (id, want) in &expected {
        let got = reader.read(id).unwrap();
        assert!(max_abs_diff(&got, want) <= 1e-6, "{id}: max diff {}", max_abs_diff(&got, want));
    }
    // Compressed formats: the same samples libsndfile decodes (lossless FLAC exactly; lossy codecs
    // within decoder differences), resampled from 22.05 kHz to 16 kHz here, so compare at 22.05 kHz.
    let out22 = d.join("packed22");
    let csv22 = d.join("compressed.csv");
    write_wav_csv(
        &csv22,
        &["stereo.flac", "stereo.ogg", "stereo.mp3"]
            .map(|f| (f, Box::leak(fixture(&format!("audio/{f}")).into_boxed_path()) as &Path)),
    );
    ok(&["pack", s(&csv22), "-o", s(&out22), "--sample-rate", "22050", "--dtype", "f32"]);
    let reader = WaveformReader::from_index(&out22.join("waveforms.parquet")).unwrap();
    let flac = reader.read("stereo.flac").unwrap();
    let want = clap_tools::npy::read_f32(&fixture("audio/stereo.flac.npy")).unwrap().data;
    assert!(max_abs_diff(&flac, &want) < 1e-6, "FLAC differs from libsndfile: {}", max_abs_diff(&flac, &want));
    for lossy in ["stereo.ogg", "stereo.mp3"] {
        let got = reader.read(lossy).unwrap();
        let want = clap_tools::npy::read_f32(&fixture(&format!("audio/{lossy}.npy"))).unwrap().data;
        // Decoders may differ in priming/padding by a few samples: compare the overlap at the best lag.
        let best = (-1200i64..=1200)
            .map(|lag| {
                let (mut s, mut e) = (0.0f64, 0.0f64);
                let end = want.len().min(got.len()).saturating_sub(2000);
                for (i, &w) in want.iter().enumerate().take(end).skip(2000) {
                    let j = i as i64 + lag;
                    if j < 0 || j as usize >= got.len() {
                        continue;
                    }
                    s += (w as f64).powi(2);
                    e += (w as f64 - got[j as usize] as f64).powi(2);
                }
                10.0 * (s / e.max(1e-20)).log10()
            })
            .fold(f64::MIN, f64::max);
        assert!(best > 25.0, "{lossy}: SNR {best:.1} dB against libsndfile");
        assert!(
            (got.len() as i64 - want.len() as i64).abs() < 2400,
            "{lossy}: {} vs {} samples",
            got.len(),
            want.len()
        );
    }
}

#[test]
fn bad_inputs_are_reported_and_the_rest_is_packed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("in put");
    let sr = 8000;
    let good1 = d.join("good one.wav");
    let good2 = d.join("good,two.wav");
    write_wav_raw(&good1, sr, 1, WavSample::I16, false, &test_signal(8000, 1, sr));
    write_wav_raw(&good2, sr, 2, WavSample::F32, false, &test_signal(8000, 2, sr));
    let empty = d.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let truncated = d.join("truncated.wav");
    let full = std::fs::read(&good1).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 3]).unwrap();
    let corrupt = d.join("corrupt.flac");
    std::fs::write(&corrupt, b"fLaC\x00\x00\x00\x22garbage garbage garbage garbage garbage").unwrap();
    let text = d.join("notes.wav");
    std::fs::write(&text, "this is a text file, not audio\n".repeat(20)).unwrap();
    let unsupported = d.join("unsupported.wav");
    // A WAV whose codec tag (0x2000, AC-3) no decoder here reads.
    let mut u = std::fs::read(&good1).unwrap();
    u[20..22].copy_from_slice(&0x2000u16.to_le_bytes());
    std::fs::write(&unsupported, u).unwrap();
    let nan = d.join("nan.wav");
    let mut sig = test_signal(4000, 1, sr);
    sig[1234] = f64::NAN;
    write_wav_raw(&nan, sr, 1, WavSample::F32, false, &sig);
    let inf = d.join("inf.wav");
    sig[1234] = f64::INFINITY;
    write_wav_raw(&inf, sr, 1, WavSample::F64, false, &sig);
    let missing = d.join("missing.wav");

    let csv = dir.path().join("wav.csv");
    write_wav_csv(
        &csv,
        &[
            ("good1", &good1),
            ("empty", &empty),
            ("truncated", &truncated),
            ("good2", &good2),
            ("corrupt", &corrupt),
            ("text", &text),
            ("unsupported", &unsupported),
            ("nan", &nan),
            ("inf", &inf),
            ("missing", &missing),
            ("good1", &good2),
        ],
    );
    let out = dir.path().join("out");
    let (code, err) = pack_status(&[s(&csv), "-o", s(&out), "--sample-rate", "16000", "--part-size", "4"]);
    assert_eq!(code, 3, "partial packs exit with 3: {err}");
    let text_failures = std::fs::read_to_string(out.join("failures.csv")).unwrap();
    let mut reasons: BTreeMap<String, String> = BTreeMap::new();
    for line in text_failures.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "{line}");
        reasons.entry(f[0].to_string()).and_modify(|r| r.push_str(" | ")).or_default().push_str(f[2]);
    }
    let expect = [
        ("empty", "empty file"),
        ("truncated", "truncated"),
        ("corrupt", ""),
        ("text", "not audio"),
        ("unsupported", "unsupported"),
        ("nan", "NaN or Inf"),
        ("inf", "NaN or Inf"),
        ("missing", "file not found"),
        ("good1", "duplicate audio_id"),
    ];
    for (id, needle) in expect {
        let r = reasons.get(id).unwrap_or_else(|| panic!("{id} not in failures:\n{text_failures}"));
        assert!(r.contains(needle), "{id}: {r}");
    }
    assert_eq!(reasons.len(), expect.len(), "{text_failures}");
    assert!(reasons["nan"].contains("frame 1234"), "{}", reasons["nan"]);
    assert!(reasons["good1"].contains("line 12"), "{}", reasons["good1"]);
    let index = Tsv::read(&out.join("waveform.csv")).unwrap();
    let ids: BTreeSet<String> = index.rows.iter().map(|r| r.1[0].clone()).collect();
    assert_eq!(ids, BTreeSet::from(["good1".to_string(), "good2".into()]));
    assert!(err.contains("2 of 10 clips packed, 9 failed"), "{err}");

    // Nothing packable at all: exit 4.
    let csv2 = dir.path().join("bad.csv");
    write_wav_csv(&csv2, &[("x", &missing)]);
    let (code, _) = pack_status(&[s(&csv2), "-o", s(&dir.path().join("out2")), "--sample-rate", "16000"]);
    assert_eq!(code, 4);
    // A malformed input file is an error (exit 1) naming it.
    std::fs::write(&csv2, "audio_id\tfile_name\nx\n").unwrap();
    let (code, err) = pack_status(&[s(&csv2), "-o", s(&dir.path().join("out3")), "--sample-rate", "16000"]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.csv:2:"), "{err}");
}

/// A corpus of `n` short clips at 44.1 kHz, mono and stereo.
fn corpus(dir: &Path, n: usize, frames: usize) -> PathBuf {
    let mut rows = Vec::new();
    for i in 0..n {
        let p = dir.join("audio").join(format!("clip {i:03}.wav"));
        write_wav_raw(&p, 44100, 1 + (i % 2) as u16, WavSample::I16, false, &test_signal(frames, 1 + i % 2, 44100));
        rows.push((format!("clip {i:03}.wav"), p));
    }
    let csv = dir.join("wav.csv");
    write_wav_csv(&csv, &rows.iter().map(|(i, p)| (i.as_str(), p.as_path())).collect::<Vec<_>>());
    csv
}

fn ids_in_shards(out: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.join("hdf5"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "h5"))
        .collect();
    files.sort();
    let reader = WaveformReader::from_files(&files).unwrap();
    let mut ids: Vec<String> = reader.audio_ids().map(String::from).collect();
    ids.sort();
    ids
}

#[test]
fn layout_shards_slices_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let csv = corpus(dir.path(), 10, 4410);
    let out = dir.path().join("out");
    ok(&["pack", s(&csv), "-o", s(&out), "--sample-rate", "32000", "--part-size", "3", "--jobs", "2"]);
    for k in 1..=4 {
        assert!(out.join(format!("hdf5/{k}.h5")).exists());
    }
    assert!(!out.join("hdf5/5.h5").exists());
    let index = clap_tools::table::read_waveforms(&out.join("waveforms.parquet")).unwrap();
    assert_eq!(index.len(), 10);
    for w in &index {
        assert_eq!((w.samples, w.sample_rate), (3200, 32000), "{}: 0.1 s at 32 kHz", w.audio_id);
        assert!((w.duration - 0.1).abs() < 1e-9);
        assert!(Path::new(&w.hdf5_path).is_absolute());
        assert!(w.source_file.as_deref().unwrap().ends_with(&w.audio_id));
    }
    let all_ids = ids_in_shards(&out);
    assert_eq!(all_ids.len(), 10);
    // Without a terminal (a log, a pipe): plain progress lines, here one per update and the last.
    let logged = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["pack", s(&csv), "-o", s(&dir.path().join("logged")), "--sample-rate", "32000", "--jobs", "1"])
        .env("CLAP_TOOLS_PROGRESS_SECONDS", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&logged.stderr);
    assert!(logged.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("/10 files (")).collect();
    assert!(lines.len() >= 10 && lines.last().unwrap().contains(" 10/10 files ("), "{err}");
    // The reader: whole and cropped, f16 values close to the f32 truth.
    let reader = WaveformReader::from_index(&out.join("waveform.csv")).unwrap();
    let whole = reader.read("clip 003.wav").unwrap();
    assert_eq!(whole.len(), 3200);
    assert_eq!(reader.read_crop("clip 003.wav", 100, 50).unwrap(), whole[100..150]);
    assert_eq!(reader.read_crop("clip 003.wav", 3190, 50).unwrap().len(), 10);
    let truth = clap_tools::audio::resample(
        &downmix(
            &test_signal(4410, 2, 44100)
                .iter()
                .map(|&v| ((v * 32768.0).round().clamp(-32768.0, 32767.0) / 32768.0) as f32)
                .collect::<Vec<_>>(),
            2,
        ),
        44100,
        32000,
    )
    .unwrap();
    assert!(max_abs_diff(&whole, &truth) < 1e-3, "f16 storage error {}", max_abs_diff(&whole, &truth));

    // Slices: 2 of 2, joined by concat, give the same clips.
    let sliced = dir.path().join("sliced");
    for i in ["1/2", "2/2"] {
        ok(&["pack", s(&csv), "-o", s(&sliced), "--sample-rate", "32000", "--part-size", "3", "--shard", i]);
    }
    assert!(sliced.join("hdf5/1.h5").exists() && sliced.join("hdf5/4.h5").exists());
    let joined = sliced.join("waveform.csv");
    ok(&["concat", s(&sliced.join("waveform-1-of-2.csv")), s(&sliced.join("waveform-2-of-2.csv")), "-o", s(&joined)]);
    let ids: BTreeSet<String> = Tsv::read(&joined).unwrap().rows.into_iter().map(|r| r.1[0].clone()).collect();
    assert_eq!(ids, all_ids.iter().cloned().collect::<BTreeSet<_>>());
    ok(&[
        "concat",
        s(&sliced.join("waveforms-1-of-2.parquet")),
        s(&sliced.join("waveforms-2-of-2.parquet")),
        "-o",
        s(&sliced.join("w.parquet")),
    ]);

    // Other options over existing shards are refused.
    let (code, err) = pack_status(&[s(&csv), "-o", s(&out), "--sample-rate", "16000", "--part-size", "3"]);
    assert_eq!(code, 1);
    assert!(err.contains("sample_rate = 32000"), "{err}");
    let err = fails(&["pack", s(&csv), "-o", s(&out), "--sample-rate", "16000", "--shard", "3/2"]);
    assert!(err.contains("I must be between 1 and N"), "{err}");
}

#[test]
fn kill_9_at_any_point_then_rerun_gives_every_clip_once() {
    let dir = tempfile::tempdir().unwrap();
    let csv = corpus(dir.path(), 40, 44100);
    let out = dir.path().join("out");
    let args = [
        s(&csv).to_string(),
        "-o".into(),
        s(&out).to_string(),
        "--sample-rate".into(),
        "32000".into(),
        "--part-size".into(),
        "2".into(),
        "--jobs".into(),
        "2".into(),
    ];
    let mut killed_mid_way = 0;
    for delay_ms in [150u64, 400, 700] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
            .arg("pack")
            .args(&args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SIGKILL: no chance to clean up.
        child.kill().unwrap();
        child.wait().unwrap();
        if !out.join("waveform.csv").exists() {
            killed_mid_way += 1;
        }
    }
    assert!(killed_mid_way > 0, "every run finished before it was killed: the test did not test a crash");
    let (ok_, _, err) =
        run(&["pack", &args[0], "-o", &args[2], "--sample-rate", "32000", "--part-size", "2", "--jobs", "2"]);
    assert!(ok_, "{err}");
    assert!(err.contains("kept from an earlier run"), "{err}");
    let ids = ids_in_shards(&out);
    assert_eq!(ids.len(), 40, "every clip exactly once");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 40);
    let index = Tsv::read(&out.join("waveform.csv")).unwrap();
    assert_eq!(index.rows.len(), 40);
    let leftovers: Vec<String> = std::fs::read_dir(out.join("hdf5"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // Every shard opens and every clip reads.
    let reader = WaveformReader::from_index(&out.join("waveform.csv")).unwrap();
    for id in &ids {
        assert_eq!(reader.len(id).unwrap(), 32000);
    }
}

#[test]
fn slashes_in_audio_ids_are_escaped_and_h5py_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for p in ["a/x.wav", "b/x.wav", "b/100%.wav", "nön ÅSCII, \"q\".wav"] {
        write_wav_raw(&d.join("audio").join(p), 16000, 1, WavSample::I16, false, &test_signal(1600, 1, 16000));
    }
    let wav = d.join("wav.csv");
    ok(&["scan", s(&d.join("audio")), "-r", "--id", "relative", "-o", s(&wav)]);
    let out = d.join("out");
    ok(&["pack", s(&wav), "-o", s(&out), "--sample-rate", "16000"]);
    let reader = WaveformReader::from_index(&out.join("waveform.csv")).unwrap();
    let mut rust: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for id in ["a/x.wav", "b/x.wav", "b/100%.wav", "nön ÅSCII, \"q\".wav"] {
        rust.insert(clap_tools::shards::dataset_name(id), reader.read(id).unwrap());
    }
    // h5py sees root datasets with the escaped names, float16, and the values the Rust reader reads.
    let script = r#"
import json, sys, h5py, numpy as np
out = {}
with h5py.File(sys.argv[1], "r") as f:
    for name, ds in f.items():
        assert isinstance(ds, h5py.Dataset), name
        out[name] = {"dtype": str(ds.dtype), "shape": list(ds.shape), "values": ds[()].astype(np.float64).tolist()}
print(json.dumps(out))
"#;
    let o = Command::new(python()).arg("-c").arg(script).arg(out.join("hdf5/1.h5")).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let py: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: BTreeSet<String> = py.as_object().unwrap().keys().cloned().collect();
    assert_eq!(names, rust.keys().cloned().collect::<BTreeSet<_>>());
    assert!(names.contains("a%2Fx.wav") && names.contains("b%2F100%25.wav"), "{names:?}");
    for (name, values) in &rust {
        let p = &py[name];
        assert_eq!(p["dtype"], "float16");
        assert_eq!(p["shape"], serde_json::json!([values.len()]));
        let pv: Vec<f32> = p["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(&pv, values, "{name}");
    }
}

#[test]
fn reads_files_the_reference_packer_wrote() {
    // tests/fixtures/reference_layout.h5: written by h5py as pack_waveform.py writes (float16 per clip).
    let reader = WaveformReader::from_files(&[fixture("reference_layout.h5")]).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("reference_layout.json")).unwrap()).unwrap();
    for (i, id) in meta["ids"].as_array().unwrap().iter().enumerate() {
        let id = id.as_str().unwrap();
        let want = clap_tools::npy::read_f32(&fixture(&format!("reference_layout_{i}.npy"))).unwrap().data;
        assert_eq!(reader.read(id).unwrap(), want, "{id}");
        assert_eq!(reader.read_crop(id, 10, 20).unwrap(), want[10..30]);
    }
    // And through a reference-style waveform.csv with a relative path.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("reference_layout.h5"), dir.path().join("waveform.h5")).unwrap();
    std::fs::write(dir.path().join("waveform.csv"), "audio_id\thdf5_path\nY02-7M3l_imo.wav\twaveform.h5\n").unwrap();
    let r = WaveformReader::from_index(&dir.path().join("waveform.csv")).unwrap();
    assert_eq!(r.len("Y02-7M3l_imo.wav").unwrap(), 1000);
}
