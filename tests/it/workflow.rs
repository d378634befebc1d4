//! The whole data path on generated Clotho, AudioCaps and MACS datasets:
//! scan → import → concat → split → inspect, then the polars notebook on the result.

use std::path::Path;
use std::process::Command;

use crate::common::*;

fn run_notebook(captions: &[&Path], clips: &[&Path], plots: &Path, out: &Path) -> std::process::Output {
    let join = |ps: &[&Path]| std::env::join_paths(ps).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(python())
        .arg(root.join("notebooks/run_notebook.py"))
        .arg(root.join("notebooks/inspect.ipynb"))
        .arg(out)
        .env("CLAP_CAPTIONS", join(captions))
        .env("CLAP_CLIPS", join(clips))
        .env("CLAP_PLOTS_DIR", plots)
        .env("MPLBACKEND", "Agg")
        .output()
        .expect("run python")
}

#[test]
fn three_formats_through_the_toolkit_and_the_notebook() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = clotho(d);
    let a = audiocaps(d);
    let m = macs(d);
    let t = d.join("tables");

    // scan: a wav.csv for AudioCaps, clips tables for all three.
    ok(&["scan", s(&a.audio), "-o", s(&t.join("audiocaps_wav.csv"))]);
    for (name, audio) in [("clotho", &c.audio), ("audiocaps", &a.audio), ("macs", &m.audio)] {
        ok(&["scan", s(audio), "-o", s(&t.join(format!("{name}_clips.parquet")))]);
    }
    // import: joined by folder or by wav.csv.
    ok(&[
        "import",
        "clotho",
        s(&c.captions),
        "--metadata",
        s(&c.metadata),
        "--audio-dir",
        s(&c.audio),
        "-o",
        s(&t.join("clotho.parquet")),
    ]);
    ok(&[
        "import",
        "audiocaps",
        s(&a.train),
        s(&a.val),
        "--wav-csv",
        s(&t.join("audiocaps_wav.csv")),
        "--require-audio",
        "-o",
        s(&t.join("audiocaps.parquet")),
    ]);
    ok(&["import", "macs", s(&m.yaml), "--audio-dir", s(&m.audio), "--split", "train", "-o", s(&t.join("macs.json"))]);
    // concat: captions (Parquet + JSON) and clips tables.
    let captions = t.join("captions.parquet");
    ok(&[
        "concat",
        s(&t.join("clotho.parquet")),
        s(&t.join("audiocaps.parquet")),
        s(&t.join("macs.json")),
        "-o",
        s(&captions),
    ]);
    let clips = t.join("clips.parquet");
    ok(&[
        "concat",
        s(&t.join("clotho_clips.parquet")),
        s(&t.join("audiocaps_clips.parquet")),
        s(&t.join("macs_clips.parquet")),
        "-o",
        s(&clips),
    ]);
    // split
    ok(&["split", s(&captions), "--val-fraction", "0.25", "--seed", "42"]);
    let train = t.join("captions_train.parquet");
    let val = t.join("captions_val.parquet");
    let (tr, va) = (clap_tools::table::read_captions(&train).unwrap(), clap_tools::table::read_captions(&val).unwrap());
    assert_eq!(tr.len() + va.len(), 25 + 14 + 9);
    // inspect
    let r: serde_json::Value = serde_json::from_str(&ok(&["inspect", s(&captions), s(&clips), "--json"])).unwrap();
    assert_eq!(r["clips"], 5 + 6 + 3);
    assert_eq!(r["clips_without_audio"], 0);
    assert_eq!(r["audio_without_captions"], 0);
    let datasets: Vec<&str> =
        r["per_source"].as_array().unwrap().iter().map(|x| x["dataset"].as_str().unwrap()).collect();
    assert_eq!(datasets, ["audiocaps", "audiocaps", "clotho", "macs"]);
    assert_eq!(r["durations"]["clips"], 14);

    // The notebook on the same tables.
    let plots = d.join("plots");
    let executed = d.join("inspect.out.ipynb");
    let out = run_notebook(&[&train, &val], &[&clips], &plots, &executed);
    assert!(out.status.success(), "notebook failed:\n{}", String::from_utf8_lossy(&out.stderr));
    for png in [
        "captions_per_clip.png",
        "caption_length_words.png",
        "top_words.png",
        "durations.png",
        "splits_clotho.png",
        "splits_audiocaps.png",
        "splits_macs.png",
    ] {
        let p = plots.join(png);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{png} is not a PNG");
    }
    // The executed notebook shows the same clip count as `inspect`.
    let nb = std::fs::read_to_string(&executed).unwrap();
    assert!(nb.contains("\"output_type\": \"stream\"") || nb.contains("\"output_type\": \"execute_result\""));
    assert!(!nb.contains("\"output_type\": \"error\""));

    // A missing input is the notebook's clear error.
    let out = run_notebook(&[], &[], &plots, &d.join("fail.ipynb"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CLAP_CAPTIONS is not set"));
}
