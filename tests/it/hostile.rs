//! Hostile input: files that lie in their headers. Each is one item's failure, named with its reason;
//! the batch job goes on, and nothing is allocated for what the header claims.

use std::path::Path;

use crate::common::*;

/// A WAV whose header says whatever it is given (block align and byte rate wrap as a careless writer's
/// would), with `data` as its samples.
fn lying_wav(path: &Path, channels: u16, rate: u32, data: &[u8]) {
    let bits: u16 = 16;
    let block_align = channels.wrapping_mul(bits / 8);
    let byte_rate = rate.wrapping_mul(block_align as u32);
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&byte_rate.to_le_bytes());
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b).unwrap();
}

/// A folder with one good clip and three that lie: 65535 channels, 4294967295 Hz, 1 Hz.
fn hostile_folder(dir: &Path) -> std::path::PathBuf {
    let audio = dir.join("audio");
    write_wav(&audio.join("good.wav"), 16000, 1, 8000);
    lying_wav(&audio.join("channels.wav"), 65535, 16000, &[1u8; 8192]);
    lying_wav(&audio.join("rate_huge.wav"), 1, u32::MAX, &[1u8; 8192]);
    lying_wav(&audio.join("rate_1hz.wav"), 1, 1, &[1u8, 0, 2, 0, 3, 0]);
    audio
}

#[test]
fn scan_and_pack_report_lying_headers_and_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let audio = hostile_folder(dir.path());
    // scan: every file keeps its row; the liars carry the reason.
    let clips_table = dir.path().join("clips.parquet");
    ok(&["scan", s(&audio), "-o", s(&clips_table)]);
    let clips = clap_tools::table::read_clips(&clips_table).unwrap();
    assert_eq!(clips.len(), 4);
    for c in &clips {
        match c.audio_id.as_str() {
            "good.wav" => assert!(c.probe_error.is_none(), "{c:?}"),
            _ => assert!(c.probe_error.is_some(), "{} should carry a probe error: {c:?}", c.audio_id),
        }
    }
    // pack: the good clip is packed, the three others are failure rows with a reason; exit 3.
    let wav_csv = dir.path().join("wav.csv");
    ok(&["scan", s(&audio), "-o", s(&wav_csv)]);
    let out = dir.path().join("packed");
    let started = std::time::Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["pack", s(&wav_csv), "-o", s(&out), "--sample-rate", "32000"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(3), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(!String::from_utf8_lossy(&status.stderr).contains("panicked at"), "a raw panic was printed");
    let failures = std::fs::read_to_string(out.join("failures.csv")).unwrap();
    for name in ["channels.wav", "rate_huge.wav", "rate_1hz.wav"] {
        let line = failures.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not in {failures}"));
        assert!(line.contains("Hz") || line.contains("channels") || line.contains("panicked"), "{line}");
    }
    let packed = clap_tools::shards::reader::read_index(&out.join("waveform.csv")).unwrap();
    assert_eq!(packed.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["good.wav"]);
    // Refused from the header, not after gigabytes (well under the minutes it took before).
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn features_refuses_an_impossible_rate_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let audio = hostile_folder(dir.path());
    for name in ["rate_1hz.wav", "rate_huge.wav", "channels.wav"] {
        let err = fails(&["features", s(&audio.join(name)), "-o", s(&dir.path().join("m.npy"))]);
        assert!(err.contains(name), "{err}");
        assert!(!err.contains("panicked at"), "{err}");
    }
    assert_absent(&dir.path().join("m.npy"));
}

#[test]
fn numbers_and_headers_that_lie_are_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("ac.parquet");
    for (value, field) in [("9223372036854775807", "start_time"), ("1e30", "start_time"), ("-5", "start_time")] {
        let csv = d.join("train.csv");
        std::fs::write(&csv, format!("audiocap_id,youtube_id,start_time,caption\n1,abc,{value},A dog barks\n"))
            .unwrap();
        let err = fails(&["import", "audiocaps", s(&csv), "-o", s(&out)]);
        assert!(err.contains("train.csv") && err.contains("line 2") && err.contains(field), "{value}: {err}");
        assert!(!err.contains("panicked at"), "{err}");
    }
    let csv = d.join("train.csv");
    std::fs::write(&csv, "audiocap_id,youtube_id,start_time,caption\n99999999999999999999999,abc,30,A dog barks\n")
        .unwrap();
    let err = fails(&["import", "audiocaps", s(&csv), "-o", s(&out)]);
    assert!(err.contains("line 2") && err.contains("audiocap_id") && err.contains("not an integer"), "{err}");
    assert_absent(&out);

    // Two caption_1 columns; two captions numbered 1.
    let clotho = d.join("clotho_captions_development.csv");
    std::fs::write(&clotho, "file_name,caption_1,caption_1\na.wav,one,two\n").unwrap();
    let err = fails(&["import", "clotho", s(&clotho), "-o", s(&out)]);
    assert!(err.contains("clotho_captions_development.csv:1") && err.contains("caption_1"), "{err}");
    let json = d.join("text.json");
    std::fs::write(
        &json,
        r#"{"audios": [{"audio_id": "a.wav", "captions": [{"caption": "x", "caption_index": 1}, {"caption": "y", "caption_index": 1}]}]}"#,
    )
    .unwrap();
    let err = fails(&["import", "json", s(&json), "-o", s(&out)]);
    assert!(err.contains("text.json") && err.contains("caption_index 1"), "{err}");
    assert_absent(&out);
}

#[test]
fn outputs_are_a_set_and_only_regular_files_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = clotho(d);
    let captions = d.join("captions.parquet");
    ok(&["import", "clotho", s(&c.captions), "-o", s(&captions)]);
    // Two outputs naming one file: refused, nothing written.
    let same = d.join("same.parquet");
    let err = fails(&["split", s(&captions), "--val-fraction", "0.4", "--train-out", s(&same), "--val-out", s(&same)]);
    assert!(err.contains("same.parquet") && err.contains("two outputs"), "{err}");
    assert_absent(&same);
    // The second output cannot be written (its path is a folder): the first is not left behind.
    let (train, val) = (d.join("train.parquet"), d.join("val_dir.parquet"));
    std::fs::create_dir_all(&val).unwrap();
    let err = fails(&["split", s(&captions), "--val-fraction", "0.4", "--train-out", s(&train), "--val-out", s(&val)]);
    assert!(err.contains("val_dir") && err.contains("folder"), "{err}");
    assert_absent(&train);
    // A symlink or a device as the output is refused and left as it was.
    let target = d.join("precious.json");
    std::fs::write(&target, "keep").unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = fails(&["export", "json", s(&captions), "-o", s(&link)]);
    assert!(err.contains("link.json") && err.contains("symbolic link"), "{err}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    let err = fails(&["export", "json", s(&captions), "-o", "/dev/null"]);
    assert!(err.contains("/dev/null") && err.contains("device"), "{err}");
}

#[test]
fn pack_refuses_impossible_options_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    write_wav(&audio.join("a.wav"), 16000, 1, 1600);
    let wav_csv = dir.path().join("wav.csv");
    ok(&["scan", s(&audio), "-o", s(&wav_csv)]);
    let out = dir.path().join("packed");
    let err = fails(&["pack", s(&wav_csv), "-o", s(&out), "--sample-rate", "0"]);
    assert!(err.contains("--sample-rate") && err.contains("0 Hz"), "{err}");
    let err = fails(&["pack", s(&wav_csv), "-o", s(&out), "--sample-rate", "32000", "--jobs", "200000"]);
    assert!(err.contains("--jobs") && err.contains("200000"), "{err}");
    assert!(!out.join("waveform.csv").exists());
}

#[test]
fn scan_does_not_follow_a_symlink_back_into_its_tree() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    write_wav(&audio.join("sub/a.wav"), 16000, 1, 1600);
    std::os::unix::fs::symlink(&audio, audio.join("sub/loop")).unwrap();
    let out = dir.path().join("wav.csv");
    ok(&["scan", s(&audio), "-r", "--id", "relative", "-o", s(&out)]);
    let rows = clap_tools::manifest::wav_csv::Tsv::read(&out).unwrap();
    assert_eq!(rows.audio_ids().collect::<Vec<_>>(), ["sub/a.wav"]);
}
