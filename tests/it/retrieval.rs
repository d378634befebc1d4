//! A Clotho-format DCASE retrieval set as a user has it: retrieval_captions.csv, an audio folder with
//! odd file names (one saved with `:` written `_`), and the 2025 relevance CSV. It goes through
//! `import clotho-retrieval` → `scan` → `pack` → `eval --queries`, with relative paths from the
//! data's folder, and bad judgement files are errors naming the file and line.

use std::path::Path;

use clap_tools::npy::read_f32;
use clap_tools::schema::Query;

use crate::common::*;

fn model(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(rel)
}

/// The retrieval set in `dir`: twelve clips (four named, eight fillers), three queries, judgements
/// for two of them.
fn retrieval_set(dir: &Path) {
    let audio = dir.join("retrieval_audio");
    for i in 0..8 {
        write_wav(&audio.join(format!("filler, {i}.wav")), 32000, 1, 20000 + 1000 * i);
    }
    // Lengths differ so the clips embed differently.
    write_wav(&audio.join("bird_in_rain.wav"), 32000, 1, 40000);
    write_wav(&audio.join("Stream_ Honiton.wav"), 32000, 2, 52000);
    write_wav(&audio.join("it's raining.wav"), 44100, 1, 30000);
    write_wav(&audio.join("sub/plain.wav"), 16000, 1, 24000);
    std::fs::write(
        dir.join("retrieval_captions.csv"),
        "caption\nA bird sings in the rain.\n\"Water flows, fast and loud.\"\nSomeone types.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("metadata_eval.csv"),
        "query,audio_filenames\n\
         A bird sings in the rain.,\"['bird_in_rain.wav', \"\"it's raining.wav\"\"]\"\n\
         \"Water flows, fast and loud.\",\"['Stream: Honiton.wav']\"\n",
    )
    .unwrap();
}

/// Pack the set's audio folder (scan → pack, at 32 kHz, into `packed/`) and give the reference-layout
/// checkpoint and a BERT folder for it.
fn pack_and_model(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    ok_in(dir, &["scan", "retrieval_audio", "-r", "-o", "wav.csv"]);
    ok_in(dir, &["pack", "wav.csv", "-o", "packed", "--sample-rate", "32000"]);
    let bert = dir.join("bert");
    std::fs::create_dir_all(&bert).unwrap();
    std::fs::copy(model("text/bert/config.json"), bert.join("config.json")).unwrap();
    std::fs::copy(model("text/tokenizer/vocab.txt"), bert.join("vocab.txt")).unwrap();
    (model("checkpoint/reference.pth"), bert)
}

#[test]
fn a_retrieval_set_goes_through_import_pack_and_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    retrieval_set(dir);
    ok_in(
        dir,
        &[
            "import",
            "clotho-retrieval",
            "retrieval_captions.csv",
            "--relevance",
            "metadata_eval.csv",
            "--audio-dir",
            "retrieval_audio",
            "-o",
            "queries.parquet",
        ],
    );
    let queries = clap_tools::table::read_queries(&dir.join("queries.parquet")).unwrap();
    let q = |i: usize, text: &str, rel: Option<&[&str]>| Query {
        query_index: i as u32,
        query: text.to_string(),
        dataset: "clotho".to_string(),
        relevant: rel.map(|r| r.iter().map(|s| s.to_string()).collect()),
    };
    assert_eq!(
        queries,
        [
            q(1, "A bird sings in the rain.", Some(&["bird_in_rain.wav", "it's raining.wav"])),
            q(2, "Water flows, fast and loud.", Some(&["Stream_ Honiton.wav"])),
            q(3, "Someone types.", None),
        ]
    );

    let report: serde_json::Value =
        serde_json::from_str(&ok_in(dir, &["inspect", "queries.parquet", "--json"])).unwrap();
    assert_eq!((report["queries"].as_u64(), report["judged"].as_u64()), (Some(3), Some(2)), "{report}");
    assert_eq!(report["relevant_per_query"]["mean"].as_f64(), Some(1.5));
    assert_eq!((report["judged_clips"].as_u64(), report["queries_per_clip"]["max"].as_f64()), (Some(3), Some(1.0)));
    let text = ok_in(dir, &["inspect", "queries.parquet"]);
    assert!(text.contains("3 queries (3 distinct texts), 2 with relevance judgements"), "{text}");

    let (ckpt, bert) = pack_and_model(dir);
    let eval = |queries: &str, extra: &[&str]| -> serde_json::Value {
        let mut args =
            vec!["eval", "--checkpoint", s(&ckpt), "--text-encoder", s(&bert), "--queries", queries, "--json"];
        if !extra.iter().any(|&x| x == "--waveforms" || x == "--audio-dir") {
            args.extend_from_slice(&["--waveforms", "packed/waveforms.parquet"]);
        }
        args.extend_from_slice(extra);
        serde_json::from_str(&ok_in(dir, &args)).unwrap()
    };
    let got = eval("queries.parquet", &["--sims", "sims.npy", "--per-query", "per_query.parquet"]);
    let m = &got["relevance"];
    assert_eq!((m["queries"].as_u64(), m["clips"].as_u64()), (Some(2), Some(12)), "{got}");
    assert_eq!(m["relevant_per_query"].as_f64(), Some(1.5));

    // The figures follow from the score matrix: rows in query order, columns the sorted audio_ids.
    let sims = read_f32(&dir.join("sims.npy")).unwrap();
    assert_eq!(sims.shape, [3, 12]);
    let mut ids: Vec<String> = std::fs::read_dir(dir.join("retrieval_audio"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wav"))
        .chain(["plain.wav".to_string()])
        .collect();
    ids.sort();
    let col = |name: &str| ids.iter().position(|i| i == name).unwrap();
    let rank = |row: usize, name: &str| {
        let r = &sims.data[row * 12..(row + 1) * 12];
        r.iter().filter(|&&x| x > r[col(name)]).count() as f64
    };
    let mut ranks0 = [rank(0, "bird_in_rain.wav"), rank(0, "it's raining.wav")];
    ranks0.sort_by(f64::total_cmp);
    let ap = |sorted: &[f64], k: f64| {
        sorted.iter().enumerate().filter(|(_, &r)| r < k).map(|(i, &r)| (i + 1) as f64 / (r + 1.0)).sum::<f64>()
            / sorted.len() as f64
    };
    let want16 = 100.0 * (ap(&ranks0, 16.0) + ap(&[rank(1, "Stream_ Honiton.wav")], 16.0)) / 2.0;
    assert!((m["mAP@16"].as_f64().unwrap() - want16).abs() < 1e-9, "{got} vs {want16}");
    // The matrix and its pairs score again to the same figures without the model.
    let again: serde_json::Value =
        serde_json::from_str(&ok_in(dir, &["metrics", "--sims", "sims.npy", "--pairs", "sims.pairs.csv", "--json"]))
            .unwrap();
    assert_eq!(again["relevance"], got["relevance"]);
    let per_query = clap_tools::table::read_batches(&dir.join("per_query.parquet")).unwrap();
    assert_eq!(per_query.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    // The CSVs as distributed give the same figures as the imported table.
    let again = eval("retrieval_captions.csv", &["--relevance", "metadata_eval.csv"]);
    assert_eq!(again["relevance"], got["relevance"]);

    // The audio folder decoded on the fly scores as the packed clips do.
    let direct = eval("queries.parquet", &["--audio-dir", "retrieval_audio", "--sims", "sims_dir.npy"]);
    assert_eq!(direct["relevance"]["clips"].as_u64(), Some(12), "{direct}");
    let sims_dir = read_f32(&dir.join("sims_dir.npy")).unwrap();
    // Against the same clips packed as float32 (float16's rounding noise alone moves the log-mel of
    // these pure tones' empty bands).
    ok_in(dir, &["pack", "wav.csv", "-o", "packed32", "--sample-rate", "32000", "--dtype", "f32"]);
    eval("queries.parquet", &["--waveforms", "packed32/waveforms.parquet", "--sims", "sims32.npy"]);
    let sims32 = read_f32(&dir.join("sims32.npy")).unwrap();
    assert_eq!(sims_dir.shape, sims32.shape);
    let worst = sims32.data.iter().zip(&sims_dir.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "packed and decoded scores differ by {worst}");
    // Submissions from the packed clips, unless --audio-dir is given.
    let submit = |out: &str, extra: &[&str]| {
        let mut args = vec!["submit", "--checkpoint", s(&ckpt), "--text-encoder", s(&bert)];
        args.extend_from_slice(&["--queries", "retrieval_captions.csv", "-o", out]);
        if !extra.contains(&"--audio-dir") {
            args.extend_from_slice(&["--waveforms", "packed/waveforms.parquet"]);
        }
        args.extend_from_slice(extra);
        run_in(dir, &args)
    };
    // One unreadable file in the folder: an error naming it, before any scoring, nothing written.
    let broken = dir.join("broken_audio");
    std::fs::create_dir_all(&broken).unwrap();
    for e in std::fs::read_dir(dir.join("retrieval_audio")).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), broken.join(e.file_name())).unwrap();
        }
    }
    std::fs::write(broken.join("liar.wav"), b"RIFF\xff\xff\xff\xffWAVEfmt junk").unwrap();
    let (good, _, err) = submit("broken_submission", &["--audio-dir", "broken_audio"]);
    assert!(
        !good && err.contains("broken_audio") && err.contains("liar.wav") && err.contains("1 audio files"),
        "{err}"
    );
    assert!(!dir.join("broken_submission").exists());
    // --audio-dir and --waveforms are one or the other.
    let (good, _, err) = run_in(
        dir,
        &["eval", "--checkpoint", s(&ckpt), "--queries", "queries.parquet", "--audio-dir", "a", "--waveforms", "b"],
    );
    assert!(!good && err.contains("--audio-dir") && err.contains("--waveforms"), "{err}");

    // Submissions, read back with pandas as the challenge reads them.
    for (format, label) in [("2025", "Doe_INST_task6_1"), ("2024", "Doe_INST_task8_2")] {
        let (good, stdout, stderr) = submit("submission", &["--format", format, "--label", label]);
        assert!(good, "{stderr}");
        assert!(stdout.contains(&format!("{label}.output.csv")) && stdout.contains(&format!("{label}.meta.yaml")));
    }
    let script = r#"
import sys, pandas as pd
s = pd.read_csv("submission/Doe_INST_task6_1.output.csv").set_index("index")
assert s.shape == (3, 12), s.shape
assert list(s.index) == ["A bird sings in the rain.", "Water flows, fast and loud.", "Someone types."]
assert "it's raining.wav" in s.columns and "filler, 3.wav" in s.columns
t = pd.read_csv("submission/Doe_INST_task8_2.output.csv")
assert list(t.columns) == ["caption"] + [f"fname_{i}" for i in range(1, 11)], list(t.columns)
for (_, row), (q, scores) in zip(t.iterrows(), s.iterrows()):
    assert row["caption"] == q
    assert list(row[1:]) == list(scores.sort_values(ascending=False, kind="stable").index[:10]), (list(row[1:]), scores)
print("ok")
"#;
    let out = std::process::Command::new(python()).current_dir(dir).args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta = std::fs::read_to_string(dir.join("submission/Doe_INST_task6_1.meta.yaml")).unwrap();
    assert!(meta.contains("label: Doe_INST_task6_1") && meta.contains("audio_encoder: cnn14"), "{meta}");
    assert!(meta.contains("FILL IN"), "{meta}");
    // A label that is not one; an output folder that is a file.
    // From the audio folder, the same queries and clips.
    let (good, _, err) = submit("from_dir", &["--audio-dir", "retrieval_audio"]);
    assert!(good, "{err}");
    let header = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap().lines().next().unwrap().to_string();
    assert_eq!(header("from_dir/Lastname_INST_task6_1.output.csv"), header("submission/Doe_INST_task6_1.output.csv"));
    let (good, _, err) = submit("sub2", &["--label", "a/b"]);
    assert!(!good && err.contains("--label") && err.contains("a/b"), "{err}");
    std::fs::write(dir.join("notdir"), "keep").unwrap();
    let (good, _, err) = submit("notdir", &[]);
    assert!(!good && err.contains("notdir: is not a folder"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("notdir")).unwrap(), "keep");
}

/// A development-style evaluation: captions tables (each caption's own clip is the one to find) with
/// the 2025 relevance CSV on top; both sets of figures from one embedding.
#[test]
fn captions_with_relevance_give_both_sets_of_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    retrieval_set(dir);
    // Clips with 1, 2 and 5 captions; the judged queries are captions.
    let clip = |id: &str, caps: &[&str]| {
        let caps: Vec<_> =
            caps.iter().enumerate().map(|(i, c)| serde_json::json!({"caption": c, "cap_id": i})).collect();
        serde_json::json!({"audio_id": id, "captions": caps})
    };
    let json = serde_json::json!({"audios": [
        clip("bird_in_rain.wav", &["A bird sings in the rain.", "Birds chirp.", "Rain falls.", "A wet bird.", "Chirping outdoors."]),
        clip("it's raining.wav", &["Rain on a roof."]),
        clip("Stream_ Honiton.wav", &["Water flows, fast and loud.", "A stream."]),
    ]});
    std::fs::write(dir.join("captions.json"), json.to_string()).unwrap();
    let (ckpt, bert) = pack_and_model(dir);
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--checkpoint",
            s(&ckpt),
            "--text-encoder",
            s(&bert),
            "--captions",
            "captions.json",
            "--waveforms",
            "packed/waveforms.parquet",
        ];
        args.extend_from_slice(extra);
        run_in(dir, &args)
    };
    let (good, out, err) =
        eval(&["--relevance", "metadata_eval.csv", "--sims", "sims.npy", "--per-query", "pq.parquet", "--json"]);
    assert!(good, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Single-positive figures over all 8 captions of the 3 captioned clips.
    assert_eq!((got["captions"].as_u64(), got["clips"].as_u64()), (Some(8), Some(3)), "{got}");
    let r = &got["relevance"];
    assert_eq!(
        (r["queries"].as_u64(), r["clips"].as_u64(), r["relevant_per_query"].as_f64()),
        (Some(2), Some(3), Some(1.5))
    );
    // The relevance figures follow from the matrix (rows: captions in clip order; columns: clips).
    let sims = read_f32(&dir.join("sims.npy")).unwrap();
    assert_eq!(sims.shape, [8, 3]);
    let row = |i: usize| &sims.data[i * 3..(i + 1) * 3];
    let rank = |i: usize, j: usize| row(i).iter().filter(|&&x| x > row(i)[j]).count() as f64;
    // Columns: the clips in the order eval reports them (sorted by audio_id); rows grouped by clip.
    let counts = [("Stream_ Honiton.wav", 2), ("bird_in_rain.wav", 5), ("it's raining.wav", 1)];
    let col = |n: &str| counts.iter().position(|c| c.0 == n).unwrap();
    let first_row = |n: &str| -> usize { counts[..col(n)].iter().map(|c| c.1).sum() };
    let ap = |mut ranks: Vec<f64>, k: f64| {
        ranks.sort_by(f64::total_cmp);
        let n = ranks.len() as f64;
        ranks.iter().enumerate().filter(|(_, &r)| r < k).map(|(i, &r)| (i + 1) as f64 / (r + 1.0)).sum::<f64>() / n
    };
    let q1 = first_row("bird_in_rain.wav");
    let q2 = first_row("Stream_ Honiton.wav");
    let want = 100.0
        * (ap(vec![rank(q1, col("bird_in_rain.wav")), rank(q1, col("it's raining.wav"))], 16.0)
            + ap(vec![rank(q2, col("Stream_ Honiton.wav"))], 16.0))
        / 2.0;
    assert!((r["mAP@16"].as_f64().unwrap() - want).abs() < 1e-9, "{got} vs {want}");
    // Ragged captions: the matrix and its pairs score again to the same single-positive figures.
    let again: serde_json::Value =
        serde_json::from_str(&ok_in(dir, &["metrics", "--sims", "sims.npy", "--pairs", "sims.pairs.csv", "--json"]))
            .unwrap();
    for key in ["t2a", "a2t", "mAP@10", "mAP@16", "captions", "clips"] {
        assert_eq!(again[key], got[key], "{key}");
    }
    for (pairs, want) in [
        ("row,column\n0,0\n8,1\n", "pairs.csv:3: row 8 is past the matrix's 8 rows"),
        ("row,column\n0,-1\n", "pairs.csv:2: column \"-1\" is not a whole number"),
        ("row,column\n0,1\n0,1\n", "pairs.csv:3: pair (0, 1) given twice"),
        ("row,col\n0,1\n", "pairs.csv"),
    ] {
        std::fs::write(dir.join("pairs.csv"), pairs).unwrap();
        let (good, _, err) =
            run_in(dir, &["metrics", "--sims", "sims.npy", "--pairs", "pairs.csv", "--pairs-kind", "queries"]);
        assert!(!good && err.contains(want), "{pairs}: {err}");
    }
    let pq = clap_tools::table::read_batches(&dir.join("pq.parquet")).unwrap();
    assert_eq!(pq.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    // Without --relevance: the same single-positive figures and no relevance key.
    let (good, out, err) = eval(&["--json"]);
    assert!(good, "{err}");
    let plain: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plain["t2a"], got["t2a"]);
    assert!(plain.get("relevance").is_none());
    // A judged text that is no caption: the file and line named, before any embedding.
    std::fs::write(dir.join("stray.csv"), "query,audio_filenames\nNot a caption.,\"['bird_in_rain.wav']\"\n").unwrap();
    let (good, _, err) = eval(&["--relevance", "stray.csv"]);
    assert!(!good && err.contains("stray.csv:2") && err.contains("Not a caption."), "{err}");
    // A judged clip that has no captions here (plain.wav is packed, but not in the evaluation set).
    std::fs::write(dir.join("stray.csv"), "query,audio_filenames\nRain on a roof.,\"['plain.wav']\"\n").unwrap();
    let (good, _, err) = eval(&["--relevance", "stray.csv"]);
    assert!(!good && err.contains("stray.csv:2") && err.contains("plain.wav"), "{err}");
    // --per-query needs judgements.
    let (good, _, err) = eval(&["--per-query", "x.parquet"]);
    assert!(!good && err.contains("--per-query"), "{err}");
}

#[test]
fn bad_judgements_are_named_by_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    retrieval_set(dir);
    let import = |relevance: &str| {
        std::fs::write(dir.join("bad.csv"), relevance).unwrap();
        let (good, _, stderr) = run_in(
            dir,
            &[
                "import",
                "clotho-retrieval",
                "retrieval_captions.csv",
                "--relevance",
                "bad.csv",
                "--audio-dir",
                "retrieval_audio",
                "-o",
                "q.parquet",
            ],
        );
        assert!(!good);
        assert_absent(&dir.join("q.parquet"));
        stderr
    };
    let err = import("query,audio_filenames\nSomeone types.,\"['typing.wav']\"\n");
    assert!(err.contains("bad.csv:2") && err.contains("\"typing.wav\" is not a clip of the audio folder"), "{err}");
    let err = import("query,audio_filenames\nNobody asked this.,\"['plain.wav']\"\n");
    assert!(err.contains("bad.csv:2") && err.contains("Nobody asked this."), "{err}");
    let err = import("query,audio_filenames\nSomeone types.,plain.wav\n");
    assert!(err.contains("bad.csv:2") && err.contains("not a list literal"), "{err}");
    let err = import("query,audio_filenames\nSomeone types.,\"['plain.wav']\"\nSomeone types.,\"['plain.wav']\"\n");
    assert!(err.contains("bad.csv:3") && err.contains("already has judgements (line 2)"), "{err}");
    let err = import("query,files\n");
    assert!(err.contains("audio_filenames"), "{err}");
}

/// A clip's embedding is its own whatever it is batched with (only clips of one length share a
/// forward pass); the reference's zero-padded batches (`Batching::Padded`) move it.
#[test]
fn a_clip_embeds_the_same_alone_and_batched_with_longer_and_shorter_clips() {
    use clap_tools::model::checkpoint::{Batching, Embedder, ModelSource};
    let tmp = tempfile::tempdir().unwrap();
    let (ckpt, bert) = {
        let dir = tmp.path();
        let bert = dir.join("bert");
        std::fs::create_dir_all(&bert).unwrap();
        std::fs::copy(model("text/bert/config.json"), bert.join("config.json")).unwrap();
        (model("checkpoint/reference.pth"), bert)
    };
    let source = ModelSource { checkpoint: ckpt, text_encoder: Some(bert), sample_rate: 32000, audio_encoder: None };
    let mut e =
        Embedder::<clap_tools_backends::Selected>::load(&source, clap_tools_backends::default_device()).unwrap();
    // Deterministic chirps of three lengths (0.6 s, 1.3 s, 2.1 s at 32 kHz).
    let chirp = |n: usize, f0: f32| -> Vec<f32> {
        (0..n).map(|i| (i as f32 / 32000.0 * (f0 + 0.02 * i as f32)).sin() * 0.4).collect()
    };
    let (short, mid, long) = (chirp(19200, 300.0), chirp(41600, 550.0), chirp(67200, 900.0));
    let dim = e.dim();
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let alone = e.audio(&[&mid]).unwrap();
    for batch in [vec![&short, &mid, &long], vec![&long, &mid], vec![&mid, &short, &mid, &long]] {
        let refs: Vec<&[f32]> = batch.iter().map(|w| w.as_slice()).collect();
        let got = e.audio(&refs).unwrap();
        let row = batch.iter().position(|w| std::ptr::eq(*w, &mid)).unwrap();
        let d = worst(&alone, &got[row * dim..(row + 1) * dim]);
        assert!(d <= 1e-6, "batched with other lengths, the embedding moved by {d}");
    }
    // The reference's padded batches move it (what the default avoids).
    e.batching = Batching::Padded;
    let padded = e.audio(&[&mid, &long]).unwrap();
    assert!(worst(&alone, &padded[..dim]) > 1e-5, "padding to a longer clip should move the embedding");
}

/// `eval` gives the same metrics at batch sizes 1, 8 and 32, and the 2025 submission's matrix at the
/// default batch size equals the per-clip scores.
#[test]
fn metrics_and_submissions_do_not_depend_on_the_batch_size() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    retrieval_set(dir);
    let (ckpt, bert) = pack_and_model(dir);
    let m = ["--checkpoint", s(&ckpt), "--text-encoder", s(&bert)];
    let eval = |batch: &str| -> serde_json::Value {
        let mut args = vec!["eval"];
        args.extend_from_slice(&m);
        args.extend_from_slice(&["--queries", "retrieval_captions.csv", "--relevance", "metadata_eval.csv"]);
        args.extend_from_slice(&["--waveforms", "packed/waveforms.parquet", "--json", "--batch-size", batch]);
        serde_json::from_str(&ok_in(dir, &args)).unwrap()
    };
    let one = eval("1");
    for batch in ["8", "32"] {
        assert_eq!(eval(batch)["relevance"], one["relevance"], "batch size {batch}");
    }
    let submit = |out: &str, extra: &[&str]| {
        let mut args = vec!["submit"];
        args.extend_from_slice(&m);
        args.extend_from_slice(&["--queries", "retrieval_captions.csv", "--waveforms", "packed/waveforms.parquet"]);
        args.extend_from_slice(&["-o", out]);
        args.extend_from_slice(extra);
        ok_in(dir, &args);
        let text = std::fs::read_to_string(dir.join(out).join("Lastname_INST_task6_1.output.csv")).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        r.records()
            .map(|rec| rec.unwrap().iter().skip(1).map(|v| v.parse::<f64>().unwrap()).collect::<Vec<f64>>())
            .collect::<Vec<_>>()
    };
    let per_clip = submit("per_clip", &["--batch-size", "1"]);
    let default = submit("default", &[]);
    for (a, b) in per_clip.iter().zip(&default) {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cosine = dot / (norm(a) * norm(b));
        assert!(cosine >= 0.9999, "row cosine {cosine}");
    }
    assert_eq!(per_clip, default);
}

/// Each year's submission: the label's task, the evaluation set's own file names (a clip stored
/// as `Stream_ Honiton.wav` is `Stream: Honiton.wav` in the set), read back the way the baselines
/// read them; the meta file's submission and system blocks.
#[test]
fn submissions_name_clips_and_tasks_as_each_year_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    retrieval_set(dir);
    let (ckpt, bert) = pack_and_model(dir);
    // The set's own listing of its files (as retrieval_audio_metadata.csv has it).
    let mut listing = String::from("file_name,keywords\n");
    for i in 0..8 {
        listing += &format!("\"filler, {i}.wav\",x\n");
    }
    listing += "bird_in_rain.wav,x\nStream: Honiton.wav,x\nit's raining.wav,x\nplain.wav,x\n";
    std::fs::write(dir.join("retrieval_audio_metadata.csv"), listing).unwrap();
    let submit = |out: &str, extra: &[&str]| {
        let mut args = vec!["submit", "--checkpoint", s(&ckpt), "--text-encoder", s(&bert)];
        args.extend_from_slice(&["--queries", "retrieval_captions.csv", "--waveforms", "packed/waveforms.parquet"]);
        args.extend_from_slice(&["--names", "retrieval_audio_metadata.csv", "-o", out]);
        args.extend_from_slice(extra);
        run_in(dir, &args)
    };
    for (year, label) in [("2022", "Doe_INST_task6b_1"), ("2023", "Doe_INST_task6b_2"), ("2024", "Doe_INST_task8_1")] {
        let (good, _, err) = submit(&format!("s{year}"), &["--format", year, "--label", label]);
        assert!(good, "{year}: {err}");
    }
    let (good, _, err) = submit("s2025", &[]);
    assert!(good, "{err}");
    assert!(dir.join("s2025/Lastname_INST_task6_1.output.csv").is_file());
    // A label with another year's task is refused, naming the right one.
    let (good, _, err) = submit("bad", &["--format", "2024", "--label", "Doe_INST_task6_1"]);
    assert!(!good && err.contains("_task8_N") && err.contains("Lastname_INST_task8_1"), "{err}");
    // A listing without some clip is refused, naming it.
    std::fs::write(dir.join("partial.csv"), "file_name\nbird_in_rain.wav\n").unwrap();
    let mut args = vec!["submit", "--checkpoint", s(&ckpt), "--text-encoder", s(&bert)];
    args.extend_from_slice(&["--queries", "retrieval_captions.csv", "--waveforms", "packed/waveforms.parquet"]);
    args.extend_from_slice(&["--names", "partial.csv", "-o", "partial"]);
    let (good, _, err) = run_in(dir, &args);
    assert!(!good && err.contains("partial.csv") && err.contains("does not list 11"), "{err}");

    // Read back as the 2025 baseline writes and reads its predictions (pandas, index column), and as
    // the 2022 baseline's eval_script.py reads the top-10 files (caption, then names by position).
    let script = r#"
import pandas as pd
names = set(pd.read_csv("retrieval_audio_metadata.csv")["file_name"])
s = pd.read_csv("s2025/Lastname_INST_task6_1.output.csv").set_index("index")
assert set(s.columns) == names, sorted(set(s.columns) ^ names)
assert "Stream: Honiton.wav" in s.columns and "Stream_ Honiton.wav" not in s.columns
for year, label in [("2022", "Doe_INST_task6b_1"), ("2023", "Doe_INST_task6b_2"), ("2024", "Doe_INST_task8_1")]:
    rows = pd.read_csv(f"s{year}/{label}.output.csv")
    rows = [list(row) for row in rows.values]
    for row in rows:
        assert len(row) == 11 and all(n in names for n in row[1:]), row
    assert [r[0] for r in rows] == list(s.index)
print("ok")
"#;
    let out = std::process::Command::new(python()).current_dir(dir).args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The meta file: the DCASE submission and system blocks.
    for (path, label, task) in [
        ("s2025/Lastname_INST_task6_1.meta.yaml", "Lastname_INST_task6_1", "Task 6"),
        ("s2024/Doe_INST_task8_1.meta.yaml", "Doe_INST_task8_1", "Task 8"),
    ] {
        let text = std::fs::read_to_string(dir.join(path)).unwrap();
        assert!(text.contains(task), "{text}");
        let meta: serde_json::Value = serde_norway::from_str(&text).unwrap();
        let sub = &meta["submission"];
        assert_eq!(sub["label"], label);
        assert!(sub["name"].is_string() && sub["abbreviation"].as_str().unwrap().len() <= 10);
        let author = &sub["authors"][0];
        for key in ["lastname", "firstname", "email"] {
            assert_eq!(author[key], "FILL IN", "{key}");
        }
        for key in ["abbreviation", "institute", "department", "location"] {
            assert!(author["affiliation"][key].is_string(), "affiliation.{key}");
        }
        assert_eq!(meta["system"]["description"]["input_sampling_rate"], 32000);
        assert!(meta["system"]["complexity"]["total_parameters"].as_u64().unwrap() > 0);
        assert!(
            meta["system"].get("output_format").is_none() && meta["system"]["description"].get("checkpoint").is_none()
        );
    }
}
