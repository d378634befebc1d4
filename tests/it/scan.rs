//! `scan`: wav.csv and the clips table, odd names, recursion, id clashes, unreadable files.

use crate::common::*;
use clap_tools::manifest::wav_csv::Tsv;

#[test]
fn wav_csv_lists_odd_names_with_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    for n in ODD_NAMES {
        write_wav(&audio.join(n), 8000, 1, 800);
    }
    write_wav(&audio.join("sub/deeper.wav"), 8000, 1, 800);
    std::fs::write(audio.join("notes.txt"), "not audio").unwrap();
    std::fs::write(audio.join("._plain.wav"), "macOS resource fork").unwrap();
    let out = dir.path().join("wav.csv");
    ok(&["scan", s(&audio), "-o", s(&out)]);
    let tsv = Tsv::read(&out).unwrap();
    assert_eq!(tsv.header, ["audio_id", "file_name"]);
    let pairs = tsv.pairs(&out, "audio_id", "file_name").unwrap();
    let mut ids: Vec<&str> = pairs.iter().map(|p| p.0.as_str()).collect();
    ids.sort();
    let mut want: Vec<&str> = ODD_NAMES.to_vec();
    want.sort();
    assert_eq!(ids, want, "not recursive: sub/deeper.wav left out; .txt and ._ files skipped");
    for (id, path) in &pairs {
        let p = std::path::Path::new(path);
        assert!(p.is_absolute() && p.exists() && p.ends_with(id), "{path}");
    }
    // Python's csv module reads it the same way (quoted where needed).
    let raw = std::fs::read_to_string(&out).unwrap();
    assert!(raw.contains("\"quote \"\"double\"\" and 'single'.wav\""), "{raw}");

    ok(&["scan", s(&audio), "--recursive", "-o", s(&out)]);
    assert_eq!(Tsv::read(&out).unwrap().rows.len(), ODD_NAMES.len() + 1);
}

#[test]
fn clips_table_has_header_facts_and_reports_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    write_wav(&audio.join("mono 8k.wav"), 8000, 1, 4000);
    write_wav(&audio.join("stereo 44k.wav"), 44100, 2, 44100 * 2);
    std::fs::write(audio.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    std::fs::write(audio.join("empty.flac"), b"").unwrap();
    let out = dir.path().join("clips.parquet");
    let (ok_, _, err) = run(&["scan", s(&audio), "-o", s(&out), "--jobs", "2"]);
    assert!(ok_, "{err}");
    assert!(err.contains("broken.wav") && err.contains("empty.flac"), "bad files are reported: {err}");
    assert!(err.contains("4 files") && err.contains("2 with unreadable headers"), "{err}");
    let clips = clap_tools::table::read_clips(&out).unwrap();
    let get = |id: &str| clips.iter().find(|c| c.audio_id == id).unwrap();
    let m = get("mono 8k.wav");
    assert_eq!((m.sample_rate, m.channels, m.frames, m.duration), (Some(8000), Some(1), Some(4000), Some(0.5)));
    assert_eq!(m.format.as_deref(), Some("wav"));
    let st = get("stereo 44k.wav");
    assert_eq!((st.sample_rate, st.channels, st.duration), (Some(44100), Some(2), Some(2.0)));
    assert_eq!(st.bytes, std::fs::metadata(audio.join("stereo 44k.wav")).unwrap().len());
    assert!(get("broken.wav").probe_error.is_some());
    assert!(get("empty.flac").probe_error.is_some());
    assert!(m.probe_error.is_none());
}

#[test]
fn clashing_ids_name_both_files_and_relative_ids_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    write_wav(&audio.join("a/x.wav"), 8000, 1, 80);
    write_wav(&audio.join("b/x.wav"), 8000, 1, 80);
    let out = dir.path().join("wav.csv");
    let err = fails(&["scan", s(&audio), "-r", "-o", s(&out)]);
    assert!(err.contains("a/x.wav") && err.contains("b/x.wav") && err.contains("--id relative"), "{err}");
    assert_absent(&out);
    ok(&["scan", s(&audio), "-r", "--id", "relative", "-o", s(&out)]);
    let ids: Vec<String> = Tsv::read(&out).unwrap().rows.into_iter().map(|r| r.1[0].clone()).collect();
    assert_eq!(ids, ["a/x.wav", "b/x.wav"]);
}

#[test]
fn scan_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wav.csv");
    let missing = dir.path().join("nope");
    let err = fails(&["scan", s(&missing), "-o", s(&out)]);
    assert!(err.contains("nope"), "{err}");
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let err = fails(&["scan", s(&dir.path().join("empty")), "-o", s(&out)]);
    assert!(err.contains("no audio files found"), "{err}");
    write_wav(&dir.path().join("a/x.wav"), 8000, 1, 80);
    let err = fails(&["scan", s(&dir.path().join("a")), "-o", s(&dir.path().join("x.xlsx"))]);
    assert!(err.contains("must end in .csv, .tsv or .parquet"), "{err}");
}
