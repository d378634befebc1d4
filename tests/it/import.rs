//! `import` of each native format, the join to audio, the JSON round trip, and every bad input.

use crate::common::*;
use clap_tools::schema::Caption;
use clap_tools::table::read_captions;

#[test]
fn clotho_with_odd_names_metadata_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    let c = clotho(dir.path());
    let out = dir.path().join("clotho.parquet");
    ok(&["import", "clotho", s(&c.captions), "--metadata", s(&c.metadata), "--audio-dir", s(&c.audio), "-o", s(&out)]);
    let rows = read_captions(&out).unwrap();
    assert_eq!(rows.len(), ODD_NAMES.len() * 5);
    for (i, name) in ODD_NAMES.iter().enumerate() {
        let clip: Vec<&Caption> = rows.iter().filter(|r| r.audio_id == *name).collect();
        assert_eq!(clip.len(), 5, "{name}");
        assert_eq!(clip.iter().map(|r| r.caption_index).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(clip[1].caption, format!("Rain \"falls\" on a roof\nwhile wind blows {i}"));
        assert_eq!(clip[0].split.as_deref(), Some("development"));
        assert_eq!(clip[0].dataset, "clotho");
        let path = clip[0].audio_path.as_deref().expect("joined");
        assert!(path.ends_with(name) && std::path::Path::new(path).is_absolute(), "{path}");
        // Latin-1 metadata decoded (Clotho's names are Latin-1; the CJK one cannot be in its metadata).
        if name.chars().any(|c| c as u32 > 255) {
            assert_eq!(clip[0].manufacturer, None);
            continue;
        }
        assert_eq!(clip[0].manufacturer.as_deref(), Some("Zoom H4n café"));
        assert_eq!(clip[0].keywords.as_deref(), Some(&["bird".to_string(), "car".into(), "rue".into()][..]));
        assert_eq!(clip[0].sound_id.as_deref(), Some(&*(1000 + i).to_string()));
    }
}

#[test]
fn audiocaps_groups_captions_and_names_audio() {
    let dir = tempfile::tempdir().unwrap();
    let a = audiocaps(dir.path());
    let out = dir.path().join("ac.parquet");
    ok(&["import", "audiocaps", s(&a.train), s(&a.val), "--audio-dir", s(&a.audio), "-o", s(&out)]);
    let rows = read_captions(&out).unwrap();
    assert_eq!(rows.len(), 4 + 10);
    let val0: Vec<&Caption> = rows.iter().filter(|r| r.audio_id == "Yyt-val_00.wav").collect();
    assert_eq!(val0.len(), 5);
    assert!(val0.iter().all(|r| r.split.as_deref() == Some("val") && r.youtube_id.as_deref() == Some("yt-val_00")));
    assert_eq!(val0.iter().map(|r| r.caption_index).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(val0[2].audiocap_id, Some(202));
    let train0 = rows.iter().find(|r| r.audio_id == "Yyt-train_00.wav").unwrap();
    assert_eq!(train0.caption, "Engine revving, then idling 0");
    assert_eq!(train0.start_time, Some(30));
    assert!(rows.iter().all(|r| r.audio_path.is_some()));

    // Another naming scheme.
    let out2 = dir.path().join("ac2.parquet");
    ok(&["import", "audiocaps", s(&a.val), "--audio-name", "{youtube_id}_{start_time}.wav", "-o", s(&out2)]);
    let rows = read_captions(&out2).unwrap();
    assert!(rows.iter().any(|r| r.audio_id == "yt-val_01_10.wav"));
    let err = fails(&["import", "audiocaps", s(&a.val), "--audio-name", "{nope}.wav", "-o", s(&out2)]);
    assert!(err.contains("unknown placeholder {nope}"), "{err}");
}

#[test]
fn macs_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let m = macs(dir.path());
    let out = dir.path().join("macs.json");
    ok(&["import", "macs", s(&m.yaml), "--audio-dir", s(&m.audio), "--split", "train", "-o", s(&out)]);
    let rows = clap_tools::manifest::read_captions(&out).unwrap();
    assert_eq!(rows.len(), 2 + 3 + 4);
    let r = rows.iter().find(|r| r.audio_id == "airport-lisbon-1000-2-a.wav" && r.caption_index == 4).unwrap();
    assert_eq!(r.annotator_id, Some(33));
    assert_eq!(r.caption, "people talking, footsteps 3 and announcements 2");
    assert_eq!(r.tags.as_deref(), Some(&["adults_talking".to_string(), "footsteps".into()][..]));
    assert_eq!(r.dataset, "macs");
    assert_eq!(r.split.as_deref(), Some("train"));
}

#[test]
fn missing_audio_is_reported_and_optionally_dropped_or_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let c = clotho(dir.path());
    std::fs::remove_file(c.audio.join(ODD_NAMES[1])).unwrap();
    let out = dir.path().join("c.parquet");
    let list = dir.path().join("missing.txt");
    let (ok_, _, err) = run(&[
        "import",
        "clotho",
        s(&c.captions),
        "--audio-dir",
        s(&c.audio),
        "--missing-list",
        s(&list),
        "-o",
        s(&out),
    ]);
    assert!(ok_, "{err}");
    assert!(err.contains("1 of 5 clips have no audio file"), "{err}");
    assert_eq!(std::fs::read_to_string(&list).unwrap(), format!("{}\n", ODD_NAMES[1]));
    let rows = read_captions(&out).unwrap();
    assert_eq!(rows.iter().filter(|r| r.audio_path.is_none()).count(), 5);

    let dropped = dir.path().join("d.parquet");
    ok(&["import", "clotho", s(&c.captions), "--audio-dir", s(&c.audio), "--drop-missing", "-o", s(&dropped)]);
    assert_eq!(read_captions(&dropped).unwrap().len(), 20);

    let strict = dir.path().join("strict.parquet");
    let err =
        fails(&["import", "clotho", s(&c.captions), "--audio-dir", s(&c.audio), "--require-audio", "-o", s(&strict)]);
    assert!(err.contains("1 of 5 clips have no audio"), "{err}");
    assert_absent(&strict);
}

#[test]
fn json_import_export_import_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    // A reference-style JSON with keys that have no column, and a cap_id that is a number.
    let json = dir.path().join("text.json");
    std::fs::write(
        &json,
        r#"{"audios": [
            {"audio_id": "Y02-7M3l_imo.wav", "file_name": "/data/Y02-7M3l_imo.wav", "raw_name": "x.wav",
             "captions": [{"caption": "Car engine revving", "audiocap_id": 2637, "cap_id": "1", "tokens": "car engine revving"}]},
            {"audio_id": "00344d14395c", "captions": [
                {"caption": "A train comes, near.", "cap_id": 7, "nested": {"a": [1, 2]}},
                {"caption": "Ünïcode\nline", "cap_id": "2"}]}
        ]}"#,
    )
    .unwrap();
    let t1 = dir.path().join("t1.parquet");
    ok(&["import", "json", s(&json), "--dataset", "mixed", "-o", s(&t1)]);
    let rows1 = read_captions(&t1).unwrap();
    assert_eq!(rows1.len(), 3);
    assert_eq!(rows1[0].audiocap_id, Some(2637));
    assert_eq!(rows1[0].tokens.as_deref(), Some("car engine revving"));
    assert_eq!(rows1[0].audio_extra.as_deref(), Some(r#"{"raw_name":"x.wav"}"#));
    assert_eq!(rows1[1].cap_id, None);
    assert_eq!(rows1[1].caption_extra.as_deref(), Some(r#"{"cap_id":7,"nested":{"a":[1,2]}}"#));

    let exported = dir.path().join("exported.json");
    ok(&["export", "json", s(&t1), "-o", s(&exported)]);
    let t2 = dir.path().join("t2.parquet");
    ok(&["import", "json", s(&exported), "-o", s(&t2)]);
    assert_eq!(read_captions(&t2).unwrap(), rows1, "table → JSON → table changed the rows");
    let again = dir.path().join("again.json");
    ok(&["export", "json", s(&t2), "-o", s(&again)]);
    let a: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    let b: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    assert_eq!(a, b);
    // The original's keys are all still there.
    let first = &a["audios"][0];
    assert_eq!(first["raw_name"], "x.wav");
    assert_eq!(first["captions"][0]["audiocap_id"], 2637);
    assert_eq!(a["audios"][1]["captions"][0]["cap_id"], 7);

    // Every native format survives the round trip too.
    let c = clotho(dir.path());
    let ct = dir.path().join("clotho.parquet");
    ok(&["import", "clotho", s(&c.captions), "--metadata", s(&c.metadata), "--audio-dir", s(&c.audio), "-o", s(&ct)]);
    let cj = dir.path().join("clotho.json");
    ok(&["export", "json", s(&ct), "-o", s(&cj)]);
    let ct2 = dir.path().join("clotho2.parquet");
    ok(&["import", "json", s(&cj), "-o", s(&ct2)]);
    assert_eq!(read_captions(&ct2).unwrap(), read_captions(&ct).unwrap());
}

/// A bad input must fail with a message naming the file (and `needle`), and write nothing.
fn bad(args: &[&str], out: &std::path::Path, file: &str, needle: &str) {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["-o", s(out)]);
    let err = fails(&full);
    assert!(err.contains(file), "error should name {file}: {err}");
    assert!(err.contains(needle), "error should say {needle:?}: {err}");
    assert_absent(out);
}

#[test]
fn bad_clotho_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("clotho_captions_bad.csv");
    let p_s = s(&p).to_string();
    let out = dir.path().join("out.parquet");
    let w = |text: &[u8]| std::fs::write(&p, text).unwrap();

    w(b"name,caption_1\na.wav,x\n");
    bad(&["import", "clotho", &p_s], &out, &p_s, "missing column \"file_name\"");
    w(b"file_name,other\na.wav,x\n");
    bad(&["import", "clotho", &p_s], &out, &p_s, "missing column \"caption_1\"");
    w(b"file_name,caption_1\na.wav,fine\nb.wav,\"unterminated,x\nc.wav\n");
    bad(&["import", "clotho", &p_s], &out, &format!("{p_s}:3:"), "quoted field is never closed");
    w(b"file_name,caption_1\na.wav,x\nb.wav\n");
    bad(&["import", "clotho", &p_s], &out, &format!("{p_s}:3:"), "1 fields where the header has 2");
    w(b"file_name,caption_1\na.wav,ok\nb.wav,caf\xe9\n");
    bad(&["import", "clotho", &p_s], &out, &format!("{p_s}:3:"), "not valid UTF-8");
    w(b"file_name,caption_1,caption_2\na.wav,ok,  \n");
    bad(&["import", "clotho", &p_s], &out, &p_s, "line 2: audio_id \"a.wav\": caption_2 is empty");
    w(b"file_name,caption_1\na.wav,one\nb.wav,two\na.wav,three\n");
    bad(&["import", "clotho", &p_s], &out, &p_s, "line 4: audio_id \"a.wav\": duplicate file_name");
    w(b"");
    bad(&["import", "clotho", &p_s], &out, &p_s, "empty file");
    let missing = dir.path().join("nope.csv");
    bad(&["import", "clotho", s(&missing)], &out, s(&missing), "No such file");
}

#[test]
fn bad_audiocaps_macs_and_json_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let ac = dir.path().join("train.csv");
    let ac_s = s(&ac).to_string();
    std::fs::write(&ac, "audiocap_id,youtube_id,caption\n1,abc,x\n").unwrap();
    bad(&["import", "audiocaps", &ac_s], &out, &ac_s, "missing column \"start_time\"");
    std::fs::write(&ac, "audiocap_id,youtube_id,start_time,caption\n1,abc,30,x\n1,abd,30,y\n").unwrap();
    bad(&["import", "audiocaps", &ac_s], &out, &ac_s, "line 3: duplicate audiocap_id 1");
    std::fs::write(&ac, "audiocap_id,youtube_id,start_time,caption\n1,abc,30,\n").unwrap();
    bad(&["import", "audiocaps", &ac_s], &out, &ac_s, "line 2: audio_id \"Yabc.wav\": empty caption");
    std::fs::write(&ac, "audiocap_id,youtube_id,start_time,caption\nx1,abc,30,cap\n").unwrap();
    bad(&["import", "audiocaps", &ac_s], &out, &ac_s, "audiocap_id \"x1\" is not an integer");

    let y = dir.path().join("MACS.yaml");
    let y_s = s(&y).to_string();
    std::fs::write(&y, "files:\n- filename: a.wav\n  annotations:\n  - sentence: ok\n    annotator_id: [1\n").unwrap();
    bad(&["import", "macs", &y_s], &out, &y_s, "malformed MACS YAML");
    std::fs::write(&y, "files:\n- filename: a.wav\n  annotations:\n  - sentence: ok\n- filename: a.wav\n  annotations:\n  - sentence: two\n").unwrap();
    bad(&["import", "macs", &y_s], &out, &y_s, "audio_id \"a.wav\": duplicate filename");
    std::fs::write(&y, "files:\n- filename: a.wav\n  annotations:\n  - sentence: \"\"\n    annotator_id: 3\n").unwrap();
    bad(&["import", "macs", &y_s], &out, &y_s, "audio_id \"a.wav\": annotation 1 has an empty sentence");
    std::fs::write(&y, "nofiles: []\n").unwrap();
    bad(&["import", "macs", &y_s], &out, &y_s, "missing field `files`");

    let j = dir.path().join("c.json");
    let j_s = s(&j).to_string();
    std::fs::write(&j, "{\"audios\": [\n  {\"audio_id\": \"a\", \"captions\": [}\n]}").unwrap();
    bad(&["import", "json", &j_s], &out, &format!("{j_s}:2:"), "malformed JSON");
    std::fs::write(&j, r#"{"audios": [{"audio_id": "a", "captions": [{"caption": " "}]}]}"#).unwrap();
    bad(&["import", "json", &j_s], &out, &j_s, "audio_id \"a\": captions[0] is empty");
    std::fs::write(&j, r#"{"audios": [{"audio_id": "a", "captions": [{"caption": "x"}]}, {"audio_id": "a", "captions": [{"caption": "y"}]}]}"#).unwrap();
    bad(&["import", "json", &j_s], &out, &j_s, "audio_id \"a\": duplicate audio_id");
    std::fs::write(&j, r#"{"clips": []}"#).unwrap();
    bad(&["import", "json", &j_s], &out, &j_s, "expected an object with an \"audios\" array");
    std::fs::write(&j, b"{\"audios\": [{\"audio_id\": \"caf\xe9\", \"captions\": []}]}").unwrap();
    bad(&["import", "json", &j_s], &out, &format!("{j_s}:1:"), "not valid UTF-8");
}
