//! `index build|add|info` and `search`, as a user runs them: relative paths from the data's folder,
//! odd file names, a reference-layout checkpoint; results checked against a numpy brute-force search,
//! a killed build completed by a rerun, and bad inputs named.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap_tools::schema::IndexClip;

use crate::common::prng;
use crate::common::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(rel)
}

/// A folder of clips with odd names (one in a subfolder whose name repeats a file name), a captions
/// table naming some of them, the reference checkpoint and its BERT folder (in `dir`).
fn collection(dir: &Path, n: usize) {
    let audio = dir.join("sounds");
    for i in 0..n {
        let name = match i % 3 {
            0 => format!("dog, bark {i}.wav"),
            1 => format!("it's rain {i}.wav"),
            _ => format!("sub/#{i} ☂.wav"),
        };
        write_wav(&audio.join(name), [32000, 44100, 16000][i % 3], 1 + (i % 2) as u16, 12000 + 1500 * i);
    }
    let bert = dir.join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    std::fs::copy(fixture("text/bert/config.json"), bert.join("config.json")).unwrap();
    std::fs::copy(fixture("text/tokenizer/vocab.txt"), bert.join("vocab.txt")).unwrap();
    std::fs::copy(fixture("checkpoint/reference.pth"), dir.join("model.pth")).unwrap();
}

const MODEL: [&str; 4] = ["--checkpoint", "model.pth", "--text-encoder", "bert"];

fn build_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["index", "build"];
    a.extend_from_slice(extra);
    a.extend_from_slice(&MODEL);
    a
}

fn clips_of(index: &Path) -> Vec<IndexClip> {
    clap_tools::table::read_index_clips(&index.join("clips.parquet")).unwrap()
}

/// The hits of `search --json`: (query, [(audio_id, score)]).
fn hits(json: &str) -> Vec<(String, Vec<(String, f64)>)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let hits = q["hits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h["audio_id"].as_str().unwrap().to_string(), h["score"].as_f64().unwrap()))
                .collect();
            (q["query"].as_str().unwrap().to_string(), hits)
        })
        .collect()
}

/// numpy's brute force: for each query row of Q (L2-normalised), the k best rows of the index by
/// inner product (ties to the lower row), as (audio_id, score).
fn numpy_top_k(index: &Path, queries: &Path, k: usize) -> Vec<Vec<(String, f64)>> {
    let ids: Vec<String> = clips_of(index).into_iter().map(|c| c.audio_id).collect();
    let script = r#"
import json, sys
import numpy as np
x = np.load(sys.argv[1]).astype(np.float32)
q = np.load(sys.argv[2]).astype(np.float32)
q = q / np.linalg.norm(q, axis=1, keepdims=True)  # queries are cosines, as search normalises them
k = int(sys.argv[3])
s = q @ x.T
out = []
for row in s:
    order = np.argsort(-row, kind="stable")[:k]
    out.append([[int(i), float(row[i])] for i in order])
print(json.dumps(out))
"#;
    let out = Command::new(python())
        .args(["-c", script, s(&index.join("embeddings.npy")), s(queries), &k.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Vec<Vec<(usize, f64)>> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter().map(|q| q.into_iter().map(|(i, sc)| (ids[i].clone(), sc)).collect()).collect()
}

fn assert_same_hits(ours: &[(String, Vec<(String, f64)>)], numpy: &[Vec<(String, f64)>]) {
    assert_eq!(ours.len(), numpy.len());
    for ((q, a), b) in ours.iter().zip(numpy) {
        let (ia, ib): (Vec<&String>, Vec<&String>) =
            (a.iter().map(|h| &h.0).collect(), b.iter().map(|h| &h.0).collect());
        assert_eq!(ia, ib, "query {q:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x.1 - y.1).abs() < 1e-5, "query {q:?}: {} vs numpy {}", x.1, y.1);
        }
    }
}

#[test]
fn build_then_search_by_text_audio_and_embeddings_matches_numpy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    collection(dir, 9);
    // A captions table naming two of the clips: they get its dataset, split and captions.
    let caps = clap_tools::schema::Caption {
        audio_id: "sub/#2 ☂.wav".into(),
        caption: "Rain on an umbrella.".into(),
        caption_index: 1,
        dataset: "clotho".into(),
        split: Some("evaluation".into()),
        ..Default::default()
    };
    let caps2 = clap_tools::schema::Caption { caption: "Drops patter.".into(), caption_index: 2, ..caps.clone() };
    clap_tools::table::write_captions(&dir.join("captions.parquet"), &[caps2, caps]).unwrap();

    let out = run_in(dir, &build_args(&["sounds", "-o", "my index", "--captions", "captions.parquet"]));
    assert!(out.0, "{}", out.2);
    let index = dir.join("my index");
    let clips = clips_of(&index);
    assert_eq!(clips.len(), 9);
    // Ids are the paths below the folder; the source files are absolute; durations known.
    let umbrella = clips.iter().find(|c| c.audio_id == "sub/#2 ☂.wav").expect("subfolder clip by relative id");
    assert_eq!(umbrella.captions.as_deref(), Some(&["Rain on an umbrella.".to_string(), "Drops patter.".into()][..]));
    assert_eq!(umbrella.dataset.as_deref(), Some("clotho"));
    assert!(clips.iter().all(|c| Path::new(c.source_file.as_deref().unwrap()).is_absolute()));
    assert!((clips.iter().find(|c| c.audio_id == "dog, bark 0.wav").unwrap().duration.unwrap() - 0.375).abs() < 1e-3);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(index.join("index.json")).unwrap()).unwrap();
    assert_eq!(manifest["rows"], 9);
    assert_eq!(manifest["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(manifest["model"]["front_end"]["sample_rate"], 32000);
    let info = ok_in(dir, &["index", "info", "my index"]);
    assert!(info.contains("9 clips") && info.contains("clotho: 1 clips"), "{info}");

    // Text queries through the recorded model, from another working folder.
    let other = dir.join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let json =
        ok_in(&other, &["search", "../my index", "--text", "a dog barks", "--text", "rain", "-k", "4", "--json"]);
    let text_hits = hits(&json);
    assert_eq!(text_hits.len(), 2);
    assert_eq!(text_hits[0].0, "a dog barks");
    assert_eq!(text_hits[0].1.len(), 4);
    // The same queries embedded by `embed text`, searched as embeddings, and by numpy: one answer.
    let mut embed = vec!["embed", "text", "--text", "a dog barks", "--text", "rain", "-o", "q"];
    embed.extend_from_slice(&MODEL);
    ok_in(dir, &embed);
    let via_npy = hits(&ok_in(dir, &["search", "my index", "--query-embeddings", "q.npy", "-k", "4", "--json"]));
    assert_eq!(via_npy, text_hits);
    assert_same_hits(&text_hits, &numpy_top_k(&index, &dir.join("q.npy"), 4));
    // The plain output lists rank, score, id and the captions table's columns.
    let plain = ok_in(dir, &["search", "my index", "--text", "rain", "-k", "9"]);
    assert!(plain.contains("sub/#2 ☂.wav  clotho/evaluation"), "{plain}");

    // An audio query finds its own clip first, with cosine 1.
    let q = hits(&ok_in(dir, &["search", "my index", "--audio", "sounds/it's rain 4.wav", "-k", "2", "--json"]));
    assert_eq!(q[0].1[0].0, "it's rain 4.wav");
    assert!((q[0].1[0].1 - 1.0).abs() < 1e-4, "{q:?}");
    // A queries file (.txt) gives one result per line.
    std::fs::write(dir.join("q.txt"), "a dog barks\nrain\n").unwrap();
    assert_eq!(hits(&ok_in(dir, &["search", "my index", "--queries", "q.txt", "-k", "4", "--json"])), text_hits);
}

#[test]
fn an_index_from_embeddings_searches_like_numpy_across_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 5000 × 48 random unit rows (more than one block of the search) as an `embed audio` output.
    let (n, dim) = (5000, 48);
    let values = prng::uniform("index rows", n * dim);
    let mut data: Vec<f32> = values.iter().map(|v| (*v - 0.5) as f32).collect();
    for r in data.chunks_mut(dim) {
        let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        r.iter_mut().for_each(|v| *v /= norm);
    }
    let rows = clap_tools::table::EmbeddingRows {
        audio_ids: (0..n).map(|i| format!("clip {i}.flac")).collect(),
        caption_index: vec![None; n],
        captions: vec![None; n],
        data: data.clone(),
        dim,
    };
    clap_tools::embed::write(&dir.join("emb"), &rows).unwrap();
    let queries: Vec<f32> = prng::uniform("queries", 30 * dim).iter().map(|v| (*v - 0.5) as f32).collect();
    clap_tools::npy::write_f32(&dir.join("queries.npy"), &[30, dim], &queries).unwrap();

    ok_in(dir, &["index", "build", "--embeddings", "emb", "-o", "ix"]);
    let ours = hits(&ok_in(dir, &["search", "ix", "--query-embeddings", "queries.npy", "-k", "10", "--json"]));
    assert_eq!(ours[0].0, "query-1");
    assert_same_hits(&ours, &numpy_top_k(&dir.join("ix"), &dir.join("queries.npy"), 10));

    // Text queries on it need a model; a float16 copy ranks the same to within its rounding.
    let err = run_in(dir, &["search", "ix", "--text", "rain"]).2;
    assert!(err.contains("records no model") && err.contains("--checkpoint"), "{err}");
    ok_in(dir, &["index", "build", "--embeddings", "emb.npy", "-o", "ix16", "--f16"]);
    let bytes = |p: &str| std::fs::metadata(dir.join(p).join("embeddings.npy")).unwrap().len();
    assert!(bytes("ix16") * 2 < bytes("ix") + 256, "float16 halves the index");
    let half = hits(&ok_in(dir, &["search", "ix16", "--query-embeddings", "queries.npy", "-k", "1", "--json"]));
    for (a, b) in half.iter().zip(&ours) {
        assert!((a.1[0].1 - b.1[0].1).abs() < 2e-3, "{a:?} vs {b:?}");
    }

    // A caption's embeddings, a misshapen query matrix and a second build into the index are refused.
    let mut text_rows = rows.clone();
    text_rows.captions[3] = Some("a caption".into());
    clap_tools::embed::write(&dir.join("text"), &text_rows).unwrap();
    let err = run_in(dir, &["index", "build", "--embeddings", "text", "-o", "t"]).2;
    assert!(err.contains("clip 3.flac") && err.contains("caption"), "{err}");
    assert!(!dir.join("t/index.json").exists());
    clap_tools::npy::write_f32(&dir.join("bad.npy"), &[2, 7], &[0.0; 14]).unwrap();
    let err = run_in(dir, &["search", "ix", "--query-embeddings", "bad.npy"]).2;
    assert!(err.contains("bad.npy") && err.contains("[queries, 48]"), "{err}");
    let err = run_in(dir, &["index", "build", "--embeddings", "emb", "-o", "ix"]).2;
    assert!(err.contains("already an index") && err.contains("index add"), "{err}");
    let err = run_in(dir, &["search", "nowhere", "--text", "x"]).2;
    assert!(err.contains("nowhere: no such index folder"), "{err}");
}

#[test]
fn a_killed_build_completes_on_rerun_with_every_clip_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    collection(dir, 60);
    let args = build_args(&["sounds", "-o", "ix", "--save-every", "2"]);
    let mut killed_mid_way = false;
    for _ in 0..3 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
            .args(&args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill -9 once a few parts are saved.
        let start = std::time::Instant::now();
        while std::fs::read_dir(dir.join("ix/build")).map_or(0, |d| d.count()) < 5
            && start.elapsed() < std::time::Duration::from_secs(60)
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed_mid_way |= !dir.join("ix/index.json").exists();
        if killed_mid_way {
            break;
        }
        std::fs::remove_dir_all(dir.join("ix")).unwrap();
    }
    assert!(killed_mid_way, "every build finished before it was killed: the test did not test a crash");
    // Searching the unfinished index says what to do.
    let err = run_in(dir, &["search", "ix", "--text", "x"]).2;
    assert!(err.contains("unfinished build"), "{err}");
    let (ok, _, err) = run_in(dir, &args);
    assert!(ok, "{err}");
    assert!(err.contains("kept from the interrupted run"), "{err}");
    assert!(!dir.join("ix/build").exists(), "the parts are gone once the index is written");
    let ids: Vec<String> = clips_of(&dir.join("ix")).into_iter().map(|c| c.audio_id).collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (60, 60), "every clip exactly once");

    // The embeddings equal an uninterrupted build's, row for row by id.
    ok_in(dir, &build_args(&["sounds", "-o", "whole"]));
    let (a, b) = (dir.join("ix"), dir.join("whole"));
    let (ea, eb) = (
        clap_tools::npy::read_f32(&a.join("embeddings.npy")).unwrap(),
        clap_tools::npy::read_f32(&b.join("embeddings.npy")).unwrap(),
    );
    let dim = ea.shape[1];
    let row_of: std::collections::HashMap<String, usize> =
        clips_of(&b).into_iter().enumerate().map(|(i, c)| (c.audio_id, i)).collect();
    for (i, id) in ids.iter().enumerate() {
        let j = row_of[id];
        assert_eq!(ea.data[i * dim..(i + 1) * dim], eb.data[j * dim..(j + 1) * dim], "{id}");
    }
}

#[test]
fn add_skips_what_is_there_refuses_another_model_and_reports_bad_clips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    collection(dir, 6);
    ok_in(dir, &build_args(&["sounds/dog, bark 0.wav", "sounds/it's rain 1.wav", "-o", "ix"]));
    assert_eq!(clips_of(&dir.join("ix")).len(), 2);
    // A WAV whose header lies, among the added clips: reported by id, the others still added.
    let liar = dir.join("more/liar.wav");
    write_wav(&liar, 32000, 1, 8000);
    let mut bytes = std::fs::read(&liar).unwrap();
    bytes[22] = 0; // zero channels
    std::fs::write(&liar, bytes).unwrap();
    write_wav(&dir.join("more/fine.wav"), 32000, 1, 9000);
    let (ok, _, err) = run_in(dir, &["index", "add", "ix", "sounds", "more"]);
    assert!(!ok, "a clip failed: the exit status says so");
    assert!(err.contains("liar.wav") && err.contains("1 clips could not be embedded"), "{err}");
    assert!(err.contains("2 already in the index"), "{err}");
    let ids: Vec<String> = clips_of(&dir.join("ix")).into_iter().map(|c| c.audio_id).collect();
    assert_eq!(ids.len(), 6 + 1, "{ids:?}");
    assert!(ids.contains(&"fine.wav".to_string()) && !ids.contains(&"liar.wav".to_string()));

    // Another model (a different file) is refused by name, before anything is embedded.
    let mut other = std::fs::read(dir.join("model.pth")).unwrap();
    other.extend_from_slice(b"another model");
    std::fs::write(dir.join("other.pth"), other).unwrap();
    let err = run_in(dir, &["index", "add", "ix", "more", "--checkpoint", "other.pth", "--text-encoder", "bert"]).2;
    assert!(err.contains("other.pth") && err.contains("not the model this index was built with"), "{err}");
    let err = run_in(dir, &["search", "ix", "--text", "x", "--checkpoint", "other.pth", "--text-encoder", "bert"]).2;
    assert!(err.contains("model.pth"), "names the index's model: {err}");
    // The recorded model changed on disk: refused, naming it.
    std::fs::copy(dir.join("other.pth"), dir.join("model.pth")).unwrap();
    let err = run_in(dir, &["search", "ix", "--text", "x"]).2;
    assert!(err.contains("model.pth") && err.contains("has changed"), "{err}");
    // Not an index; not a source.
    let err = run_in(dir, &["index", "add", "sounds", "more"]).2;
    assert!(err.contains("not a clap-tools index"), "{err}");
    std::fs::write(dir.join("notes.md"), "hello").unwrap();
    let err = run_in(dir, &build_args(&["notes.md", "-o", "x"])).2;
    assert!(err.contains("notes.md") && err.contains("is not audio"), "{err}");
}

#[test]
fn classify_labels_files_folders_and_an_index_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    collection(dir, 6);
    // Labelled clips two ways: a folder per label, and a CSV naming the same files.
    let by_folder = dir.join("labelled");
    let mut csv = String::from("file,label\n");
    for (file, label) in [
        ("dog, bark 0.wav", "dog"),
        ("it's rain 1.wav", "rain"),
        ("dog, bark 3.wav", "dog"),
        ("it's rain 4.wav", "rain"),
    ] {
        std::fs::create_dir_all(by_folder.join(label)).unwrap();
        std::fs::copy(dir.join("sounds").join(file), by_folder.join(label).join(file)).unwrap();
        csv += &format!("\"labelled/{label}/{file}\",{label}\n");
    }
    std::fs::write(dir.join("truth.csv"), csv).unwrap();
    let classify = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["classify", "--json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&MODEL);
        serde_json::from_str(&ok_in(dir, &args)).unwrap()
    };
    let folder = classify(&["--truth", "labelled", "--top", "2"]);
    let listed = classify(&["--truth", "truth.csv", "--top", "2"]);
    assert_eq!(folder["labels"], serde_json::json!(["dog", "rain"]), "the truth's labels, sorted");
    let preds = folder["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 4);
    for p in preds {
        let labels = p["labels"].as_array().unwrap();
        let (a, b) = (labels[0][1].as_f64().unwrap(), labels[1][1].as_f64().unwrap());
        assert!(a >= b && (a + b - 1.0).abs() < 1e-5, "two labels: probabilities sum to 1, best first: {p}");
    }
    let c = &folder["confusion"];
    let counts: Vec<Vec<u64>> = serde_json::from_value(c["counts"].clone()).unwrap();
    assert_eq!(counts.iter().flatten().sum::<u64>(), 4);
    let right = preds.iter().filter(|p| p["truth"] == p["labels"][0][0]).count();
    assert!((c["accuracy"].as_f64().unwrap() - 25.0 * right as f64).abs() < 1e-9);
    assert_eq!(c["top_k_accuracy"].as_f64().unwrap(), 100.0, "with two labels the truth is always in the top 2");
    // The CSV names the same files with the same labels: the same probabilities.
    let probs = |v: &serde_json::Value| -> std::collections::BTreeMap<String, f64> {
        let p = v["predictions"].as_array().unwrap().iter();
        p.map(|p| (p["audio_id"].as_str().unwrap().to_string(), p["labels"][0][1].as_f64().unwrap())).collect()
    };
    assert_eq!(probs(&folder), probs(&listed));
    // Plain output: a confusion table with recall per label.
    let mut args = vec!["classify", "--truth", "truth.csv"];
    args.extend_from_slice(&MODEL);
    let plain = ok_in(dir, &args);
    assert!(plain.contains("accuracy") && plain.contains("true \\ predicted") && plain.contains("recall"), "{plain}");

    // Files given directly, and an index of the same files, label alike (stored embeddings).
    let files = classify(&["sounds/dog, bark 0.wav", "sounds/it's rain 1.wav", "--labels", "rain, dog, siren"]);
    ok_in(dir, &build_args(&["sounds/dog, bark 0.wav", "sounds/it's rain 1.wav", "-o", "ix"]));
    let indexed: serde_json::Value =
        serde_json::from_str(&ok_in(dir, &["classify", "--json", "--index", "ix", "--labels", "rain, dog, siren"]))
            .unwrap();
    assert_eq!(files["predictions"], indexed["predictions"]);
    // Two templates average into one label embedding: other probabilities than one template.
    let two = classify(&[
        "sounds/dog, bark 0.wav",
        "--labels",
        "rain, dog, siren",
        "--template",
        "This is a sound of {label}.",
        "--template",
        "{label} can be heard.",
    ]);
    assert_ne!(two["predictions"][0]["labels"], files["predictions"][0]["labels"]);

    // Bad inputs: a template without {label}, a truth label outside --labels, a malformed CSV row.
    let mut args = vec!["classify", "sounds", "--labels", "a,b", "--template", "no slot"];
    args.extend_from_slice(&MODEL);
    let err = run_in(dir, &args).2;
    assert!(err.contains("{label}"), "{err}");
    let mut args = vec!["classify", "--truth", "truth.csv", "--labels", "dog,siren"];
    args.extend_from_slice(&MODEL);
    let err = run_in(dir, &args).2;
    assert!(err.contains("rain") && err.contains("not among the labels"), "{err}");
    std::fs::write(dir.join("bad.csv"), "file,label\nsounds/x.wav,\n").unwrap();
    let mut args = vec!["classify", "--truth", "bad.csv"];
    args.extend_from_slice(&MODEL);
    let err = run_in(dir, &args).2;
    assert!(err.contains("bad.csv:2"), "{err}");
}

/// A waveform table at another rate (or none) than the model's is refused; query embeddings from
/// elsewhere are normalised (scores are cosines); a resumed build with other sources is refused.
#[test]
fn rates_query_norms_and_resumed_plans_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    collection(dir, 6);
    ok_in(dir, &["scan", "sounds", "-r", "-o", "wav.csv"]);
    ok_in(dir, &["pack", "wav.csv", "-o", "p16", "--sample-rate", "16000"]);
    // The 32 kHz model on 16 kHz shards: refused, naming the table, the clip and both rates.
    let err = run_in(dir, &build_args(&["p16/waveforms.parquet", "-o", "ix16"])).2;
    assert!(err.contains("waveforms.parquet") && err.contains("16000 Hz") && err.contains("32000 Hz"), "{err}");
    assert!(!dir.join("ix16/index.json").exists());
    // A table that records 0 Hz is refused too (it used to pass unchecked).
    let mut rows = clap_tools::table::read_waveforms(&dir.join("p16/waveforms.parquet")).unwrap();
    rows.iter_mut().for_each(|w| w.sample_rate = 0);
    clap_tools::table::write_waveforms(&dir.join("p16/zero.parquet"), &rows).unwrap();
    let err = run_in(dir, &build_args(&["p16/zero.parquet", "-o", "ix0"])).2;
    assert!(err.contains("zero.parquet") && err.contains("0 Hz"), "{err}");

    // Query embeddings are normalised: a scaled clip embedding finds its clip with cosine 1.
    ok_in(dir, &build_args(&["sounds", "-o", "ix"]));
    let emb = clap_tools::npy::read_f32(&dir.join("ix/embeddings.npy")).unwrap();
    let dim = emb.shape[1];
    let scaled: Vec<f32> = emb.data[2 * dim..3 * dim].iter().map(|v| v * 7.5).collect();
    clap_tools::npy::write_f32(&dir.join("q.npy"), &[1, dim], &scaled).unwrap();
    let got = hits(&ok_in(dir, &["search", "ix", "--query-embeddings", "q.npy", "-k", "1", "--json"]));
    let ids: Vec<String> = clips_of(&dir.join("ix")).into_iter().map(|c| c.audio_id).collect();
    assert_eq!(got[0].1[0].0, ids[2]);
    assert!((got[0].1[0].1 - 1.0).abs() < 1e-5, "a cosine, not 7.5: {:?}", got[0].1[0]);

    // An unfinished build of the same model over other sources: the resume is refused by name.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ix/index.json")).unwrap()).unwrap();
    let sha = manifest["model"]["sha256"].as_str().expect("the index records its model's hash");
    std::fs::create_dir_all(dir.join("ix2/build")).unwrap();
    let plan = serde_json::json!({"model_sha256": sha, "model": "m", "add": false, "sources": ["/elsewhere"]});
    std::fs::write(dir.join("ix2/build/plan.json"), plan.to_string()).unwrap();
    let err = run_in(dir, &build_args(&["sounds", "-o", "ix2"])).2;
    assert!(err.contains("other sources or options") && err.contains("/elsewhere"), "{err}");
}
