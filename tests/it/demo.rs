//! `clap-tools demo` runs the data path on its synthesised corpus.

use crate::common::*;

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
    // A second run replaces the earlier demo output and says so.
    let (good, _, stderr) = run(&["demo", "--out", s(&out), "--clips", "20", "--no-train"]);
    assert!(good, "{stderr}");
    assert!(stderr.contains("replacing the earlier demo output"), "{stderr}");
    assert_eq!(clap_tools::table::read_clips(&t.join("clips.parquet")).unwrap().len(), 20);
    // A folder that is not a demo output is refused and left as it was, unless forced.
    let mine = dir.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), "keep me").unwrap();
    let err = fails(&["demo", "--out", s(&mine), "--clips", "20", "--no-train"]);
    assert!(err.contains("mine") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(mine.join("thesis.tex")).unwrap(), "keep me");
    let (good, _, stderr) = run(&["demo", "--out", s(&mine), "--clips", "20", "--no-train", "--force"]);
    assert!(good, "{stderr}");
    assert!(!mine.join("thesis.tex").exists());
}

/// A smaller demo end to end, training included, as a newcomer runs it: in an empty folder that is not
/// the repository, with the default (relative) output folder. Held-out retrieval is well above chance.
#[test]
fn the_demo_learns() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let out = cwd.join("demo-out");
    let stdout = ok_in(cwd, &["demo", "--clips", "150", "--iterations", "100"]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let r1 = summary["metrics"]["t2a"]["R1"].as_f64().unwrap();
    let chance = summary["chance_t2a_r1"].as_f64().unwrap();
    assert!(r1 >= 3.0 * chance, "held-out t2a R@1 {r1}% is not well above chance ({chance}%)\n{stdout}");
    let mean_rank = summary["metrics"]["t2a"]["MeanR"].as_f64().unwrap();
    let clips = summary["metrics"]["clips"].as_f64().unwrap();
    assert!(mean_rank <= 0.6 * (clips + 1.0) / 2.0, "t2a MeanR {mean_rank} vs chance {}", (clips + 1.0) / 2.0);
    assert!(stdout.contains("× chance"), "{stdout}");
    // Every held-out clip is evaluated, whatever its number of captions (AudioCaps and MACS clips
    // have fewer than Clotho's five).
    let val = clap_tools::table::read_captions(&out.join("tables/captions_val.parquet")).unwrap();
    let val_clips: std::collections::BTreeSet<&str> = val.iter().map(|c| c.audio_id.as_str()).collect();
    assert_eq!(clips as usize, val_clips.len(), "{stdout}");
    assert_eq!(summary["metrics"]["captions"].as_u64().unwrap() as usize, val.len());
    assert!(out.join("run/best/model.safetensors").is_file());
    assert_eq!(summary["searches"].as_array().unwrap().len(), 4);
    // demo.toml names its files relative to itself, so it trains from another working folder too.
    let toml = std::fs::read_to_string(out.join("demo.toml")).unwrap();
    assert!(toml.contains("\"text_encoder\"") && !toml.contains("demo-out"), "{toml}");
    // The whole folder moved (through a relative path with a space): the trained checkpoint serves
    // `embed` as it is, from a working folder below it.
    std::fs::rename(&out, cwd.join("moved demo")).unwrap();
    let sub = cwd.join("moved demo/tables");
    ok_in(&sub, &["embed", "text", "--text", "rapid clicks", "--checkpoint", "../run/best", "-o", "query.npy"]);
    let a = clap_tools::npy::read_f32(&sub.join("query.npy")).unwrap();
    assert_eq!(a.shape, vec![1, 64]);
    // The demo's index of the held-out clips finds its model again after the move, and every hit is a
    // held-out clip.
    let json = ok_in(&sub, &["search", "../index", "--text", "rapid clicks", "-k", "3", "--json"]);
    let hits: serde_json::Value = serde_json::from_str(&json).unwrap();
    let hits = hits[0]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{json}");
    assert!(hits.iter().all(|h| val_clips.contains(h["audio_id"].as_str().unwrap())), "{json}");
    // Zero-shot labels on the held-out clips, scored against the kinds of sound the demo made:
    // well above chance.
    let json = ok_in(&sub, &["classify", "--index", "../index", "--truth", "../val_labels.csv", "--json"]);
    let c: serde_json::Value = serde_json::from_str(&json).unwrap();
    let labels = c["labels"].as_array().unwrap().len() as f64;
    let accuracy = c["confusion"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 2.0 * 100.0 / labels, "zero-shot accuracy {accuracy}% over {labels} labels");
    assert!(sub.join("query.parquet").is_file());
    // The moved demo.toml still names its own data and run: resuming the finished run finds them all.
    let (good, _, stderr) = run_in(&sub, &["train", "--config", "../demo.toml", "--resume"]);
    assert!(good, "{stderr}");
}
