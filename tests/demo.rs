//! `clap-tools demo` runs the data path on its synthesised corpus.

mod common;

use common::*;

#[test]
fn demo_runs_the_data_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let stdout = ok(&["demo", "--out", s(&out), "--clips", "40", "--seed", "5", "--no-train"]);
    assert!(stdout.contains("40 clips"), "{stdout}");
    let t = out.join("tables");
    let captions = clap_tools::table::read_captions(&t.join("captions.parquet")).unwrap();
    let datasets: std::collections::BTreeSet<&str> = captions.iter().map(|r| r.dataset.as_str()).collect();
    assert_eq!(datasets.into_iter().collect::<Vec<_>>(), ["audiocaps", "clotho", "macs"]);
    assert!(captions.iter().all(|r| r.audio_path.as_deref().is_some_and(|p| std::path::Path::new(p).exists())));
    let clips = clap_tools::table::read_clips(&t.join("clips.parquet")).unwrap();
    assert_eq!(clips.len(), 40);
    assert!(clips.iter().all(|c| c.probe_error.is_none() && c.sample_rate == Some(16000)));
    assert!(clips.iter().any(|c| c.channels == Some(2)));
    // The JSON export holds the same captions.
    let json = clap_tools::manifest::read_captions(&t.join("text.json")).unwrap();
    assert_eq!(json.len(), captions.len());
    let val = clap_tools::table::read_captions(&t.join("captions_val.parquet")).unwrap();
    assert_eq!(val.iter().map(|r| &r.audio_id).collect::<std::collections::HashSet<_>>().len(), 8);
    // The packed waveforms: every clip, at 32 kHz, readable by audio_id.
    let reader = clap_tools::shards::WaveformReader::from_index(&out.join("packed/waveform.csv")).unwrap();
    for c in &clips {
        let n = reader.len(&c.audio_id).unwrap() as f64;
        assert!((n / 32000.0 - c.duration.unwrap()).abs() < 1e-3, "{}", c.audio_id);
    }
    // An existing folder needs --force.
    let err = fails(&["demo", "--out", s(&out), "--clips", "40"]);
    assert!(err.contains("--force"), "{err}");
}
