//! `concat`, `split` and `inspect` on captions tables, caption JSONs, clips tables and TSVs.

use std::collections::HashSet;

use crate::common::*;
use clap_tools::table::read_captions;

fn write_tsv(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn concat_captions_mixed_formats_dedups_and_names_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let c = clotho(dir.path());
    let m = macs(dir.path());
    let ct = dir.path().join("clotho.parquet");
    ok(&["import", "clotho", s(&c.captions), "-o", s(&ct)]);
    let mj = dir.path().join("macs.json");
    ok(&["import", "macs", s(&m.yaml), "-o", s(&mj)]);
    let all = dir.path().join("all.parquet");
    // The same table twice is kept once.
    let out = ok(&["concat", s(&ct), s(&mj), s(&ct), "-o", s(&all)]);
    let _ = out;
    let rows = read_captions(&all).unwrap();
    assert_eq!(rows.len(), 25 + 9);
    assert_eq!(rows.iter().map(|r| &r.audio_id).collect::<HashSet<_>>().len(), 5 + 3);

    // A clip whose captions differ between inputs is an error naming both.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, format!("file_name,caption_1\n{},A different caption\n", ODD_NAMES[0])).unwrap();
    let ot = dir.path().join("other.parquet");
    ok(&["import", "clotho", s(&other), "-o", s(&ot)]);
    let bad = dir.path().join("bad.json");
    let err = fails(&["concat", s(&ct), s(&ot), "-o", s(&bad)]);
    assert!(err.contains(ODD_NAMES[0]) && err.contains("clotho.parquet") && err.contains("other.parquet"), "{err}");
    assert!(err.contains("5 captions vs 1"), "{err}");
    assert_absent(&bad);

    // Kinds cannot be mixed.
    let wav = dir.path().join("wav.csv");
    ok(&["scan", s(&c.audio), "-o", s(&wav)]);
    let err = fails(&["concat", s(&ct), s(&wav), "-o", s(&bad)]);
    assert!(err.contains("different kind of table"), "{err}");
}

#[test]
fn concat_tsvs_inner_columns_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    write_tsv(&a, "audio_id\thdf5_path\textra\nx.wav\t/h/1.h5\tq\ny.wav\t/h/1.h5\tr\n");
    write_tsv(&b, "hdf5_path\taudio_id\n/h/2.h5\tz, \"odd\".wav\n/h/1.h5\ty.wav\n");
    let out = dir.path().join("waveform.csv");
    ok(&["concat", s(&a), s(&b), "-o", s(&out)]);
    let t = clap_tools::manifest::wav_csv::Tsv::read(&out).unwrap();
    assert_eq!(t.header, ["audio_id", "hdf5_path"]);
    let ids: Vec<&str> = t.rows.iter().map(|r| r.1[0].as_str()).collect();
    assert_eq!(ids, ["x.wav", "y.wav", "z, \"odd\".wav"]);

    write_tsv(&b, "audio_id\thdf5_path\ny.wav\t/h/9.h5\n");
    let err = fails(&["concat", s(&a), s(&b), "-o", s(&out)]);
    assert!(
        err.contains("\"y.wav\"") && err.contains("a.csv") && err.contains("b.csv") && err.contains("line 3"),
        "{err}"
    );
    write_tsv(&b, "audio_id\thdf5_path\ny.wav\t/h/9.h5\ny.wav\t/h/8.h5\n");
    let err = fails(&["concat", s(&a), s(&b), "-o", s(&out)]);
    assert!(err.contains("b.csv") && err.contains("line 3: audio_id \"y.wav\": duplicate"), "{err}");
}

#[test]
fn split_by_clip_is_seeded_and_supports_reference_lists() {
    let dir = tempfile::tempdir().unwrap();
    let a = audiocaps(dir.path());
    let ac = dir.path().join("ac.json");
    ok(&["import", "audiocaps", s(&a.train), s(&a.val), "-o", s(&ac)]);
    ok(&["split", s(&ac), "--val-clips", "2", "--seed", "3"]);
    let train = dir.path().join("ac_train.json");
    let val = dir.path().join("ac_val.json");
    let read = |p: &std::path::Path| clap_tools::manifest::read_captions(p).unwrap();
    let (t1, v1) = (read(&train), read(&val));
    let ids = |rows: &[clap_tools::schema::Caption]| rows.iter().map(|r| r.audio_id.clone()).collect::<HashSet<_>>();
    assert_eq!(ids(&v1).len(), 2);
    assert_eq!(ids(&t1).len(), 4);
    assert!(ids(&t1).is_disjoint(&ids(&v1)));
    assert_eq!(t1.len() + v1.len(), 14, "every caption on one side");
    // Same seed, same split; into Parquet this time.
    let v2 = dir.path().join("v2.parquet");
    let t2 = dir.path().join("t2.parquet");
    ok(&["split", s(&ac), "--val-clips", "2", "--seed", "3", "--train-out", s(&t2), "--val-out", s(&v2)]);
    assert_eq!(ids(&read_captions(&v2).unwrap()), ids(&v1));

    // --val-ref: the clips of another file.
    let list = dir.path().join("val.txt");
    std::fs::write(&list, "Yyt-val_00.wav\nnot-in-input.wav\n").unwrap();
    let (ok_, _, err) = run(&["split", s(&ac), "--val-ref", s(&list), "--train-out", s(&t2), "--val-out", s(&v2)]);
    assert!(ok_, "{err}");
    assert!(err.contains("1 audio_ids of the reference list are not in"), "{err}");
    assert_eq!(ids(&read_captions(&v2).unwrap()), HashSet::from(["Yyt-val_00.wav".to_string()]));
    ok(&["split", s(&ac), "--val-ref", s(&v2), "--train-out", s(&t2), "--val-out", s(&dir.path().join("v3.parquet"))]);
    assert_eq!(ids(&read_captions(&dir.path().join("v3.parquet")).unwrap()).len(), 1);

    // Fraction, and sizes that leave a side empty.
    ok(&["split", s(&ac), "--val-fraction", "0.5", "--train-out", s(&t2), "--val-out", s(&v2)]);
    assert_eq!(ids(&read_captions(&v2).unwrap()).len(), 3);
    let err = fails(&[
        "split",
        s(&ac),
        "--val-clips",
        "6",
        "--train-out",
        s(&t2),
        "--val-out",
        s(&dir.path().join("v4.parquet")),
    ]);
    assert!(err.contains("need at least one clip on each side"), "{err}");
    assert_absent(&dir.path().join("v4.parquet"));
    let err = fails(&["split", s(&ac)]);
    assert!(err.contains("--val-clips"), "one size option is required: {err}");
}

#[test]
fn inspect_counts_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let c = clotho(dir.path());
    let m = macs(dir.path());
    // One Clotho clip without audio, one audio file without captions.
    std::fs::remove_file(c.audio.join(ODD_NAMES[2])).unwrap();
    write_wav(&c.audio.join("orphan.wav"), 8000, 1, 8000);
    let ct = dir.path().join("clotho.parquet");
    ok(&["import", "clotho", s(&c.captions), "--audio-dir", s(&c.audio), "-o", s(&ct)]);
    let mt = dir.path().join("macs.parquet");
    ok(&["import", "macs", s(&m.yaml), "--audio-dir", s(&m.audio), "-o", s(&mt)]);
    let clips = dir.path().join("clips.parquet");
    ok(&["scan", s(&c.audio), "-o", s(&clips)]);

    let json = ok(&["inspect", s(&ct), s(&mt), s(&clips), "--json", "--top", "3"]);
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["clips"], 8);
    assert_eq!(r["captions"], 25 + 9);
    let per = r["per_source"].as_array().unwrap();
    assert_eq!(per[0]["dataset"], "clotho");
    assert_eq!(per[0]["split"], "development");
    assert_eq!((per[0]["clips"].as_u64(), per[0]["captions"].as_u64()), (Some(5), Some(25)));
    assert_eq!(per[1]["dataset"], "macs");
    assert_eq!(per[1]["split"], serde_json::Value::Null);
    assert_eq!(r["captions_per_clip"]["min"], 2.0);
    assert_eq!(r["captions_per_clip"]["max"], 5.0);
    let hist: Vec<(u64, u64)> = r["captions_per_clip_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["value"].as_u64().unwrap(), b["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(hist, [(2, 1), (3, 1), (4, 1), (5, 5)]);
    // "Water drips into a bucket." is on every Clotho clip: 5 words (the shortest), a duplicate 5 times.
    assert_eq!(r["caption_words"]["min"], 5.0);
    assert_eq!(r["top_duplicates"][0]["caption"], "Water drips into a bucket.");
    assert_eq!(r["top_duplicates"][0]["count"], 5);
    assert_eq!(r["top_words"].as_array().unwrap().len(), 3);
    // Against the clips table (Clotho audio only): the missing Clotho clip and the 3 MACS clips.
    assert_eq!(r["clips_without_audio"], 4);
    assert_eq!(r["captions_without_audio"], 5 + 9);
    assert_eq!(r["audio_without_captions"], 1);
    assert_eq!(r["audio_without_captions_examples"][0], "orphan.wav");
    assert_eq!(r["durations"]["clips"], 5);

    // Without clips tables, by audio_path: only the missing Clotho clip.
    let json = ok(&["inspect", s(&ct), s(&mt), "--json"]);
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["clips_without_audio"], 1);
    assert_eq!(r["clips_without_audio_examples"][0], ODD_NAMES[2]);
    assert_eq!(r["audio_without_captions"], serde_json::Value::Null);
    assert_eq!(r["durations"], serde_json::Value::Null);

    let text = ok(&["inspect", s(&ct), s(&clips)]);
    assert!(text.contains("captions without audio: 1 clips (5 captions)"), "{text}");
    assert!(text.contains("vocabulary:"), "{text}");

    let err = fails(&["inspect", s(&clips)]);
    assert!(err.contains("at least one captions table"), "{err}");
}
