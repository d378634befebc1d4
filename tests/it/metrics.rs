//! Retrieval metrics against the reference's metric code (fixtures made by
//! tests/fixtures/metrics/generate.py with wsntxxn/DCASE2022T6_CLAP's models/metric.py), and the
//! `clap-tools metrics` command line, bad inputs included.

use std::path::{Path, PathBuf};

use crate::common::{fails, ok, s};
use clap_tools::eval::{evaluate, evaluate_npy, ranks, Metrics, RetrievalMetrics};
use clap_tools::npy::{read_f32, write_f32};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")
}

/// Every fixture: (name, matrix path, the reference's record).
fn cases() -> Vec<(String, PathBuf, Value)> {
    let mut out: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("versions.json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let record: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (name, p.with_extension("npy"), record)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 10, "fixtures missing from {}", fixtures().display());
    out
}

fn close(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * got.abs().max(want.abs());
    assert!((got - want).abs() <= tol.max(1e-300), "{what}: got {got}, reference {want}");
}

fn check_direction(what: &str, got: &RetrievalMetrics, want: &Value) {
    let fields = [
        ("R1", got.r1),
        ("R5", got.r5),
        ("R10", got.r10),
        ("R50", got.r50),
        ("MedR", got.medr),
        ("MeanR", got.meanr),
        ("geometric_mean_R1-R5-R10", got.geometric_mean_r1_r5_r10),
    ];
    assert_eq!(want.as_object().unwrap().len(), fields.len(), "{what}: the reference has other keys: {want}");
    for (key, value) in fields {
        close(&format!("{what} {key}"), value, want[key].as_f64().unwrap());
    }
}

fn check_metrics(name: &str, got: &Metrics, want: &Value) {
    assert_eq!(got.captions_per_clip.map(|k| k as u64), want["captions_per_clip"].as_u64(), "{name}");
    check_direction(&format!("{name} t2a"), &got.t2a, &want["t2a"]);
    check_direction(&format!("{name} a2t"), &got.a2t, &want["a2t"]);
    // The reference's mAP@10 is a fraction; clap-tools reports every metric in percent.
    close(&format!("{name} mAP@10"), got.map10 / 100.0, want["mAP@10"].as_f64().unwrap());
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn same_ranks_and_metrics_as_the_reference() {
    for (name, npy, want) in cases() {
        let a = read_f32(&npy).unwrap();
        let k = want["captions_per_clip"].as_u64().unwrap() as usize;
        let r = ranks(&a.data, &a.shape, Some(k)).unwrap();
        // Ranks are multiples of ½, exact in f64 on both sides.
        assert_eq!(r.t2a, numbers(&want["t2a_ranks"]), "{name} t2a ranks");
        assert_eq!(r.a2t, numbers(&want["a2t_ranks"]), "{name} a2t ranks");
        let got = evaluate(&a.data, &a.shape, Some(k)).unwrap();
        assert_eq!(got, Metrics::from_ranks(&r));
        assert_eq!((got.captions, got.clips, got.captions_per_clip), (a.shape[0], a.shape[1], Some(k)));
        check_metrics(&name, &got, &want);
        // Captions per clip inferred from the shape.
        check_metrics(&name, &evaluate_npy(&npy, None).unwrap(), &want);
    }
}

#[test]
fn fixtures_cover_ties_and_one_and_five_captions() {
    let cases = cases();
    let has = |f: &dyn Fn(&Value) -> bool| cases.iter().any(|(_, _, v)| f(v));
    let frac = |v: &Value, key: &str| numbers(&v[key]).iter().any(|r| r.fract() != 0.0);
    assert!(has(&|v| v["captions_per_clip"] == 1 && frac(v, "t2a_ranks")));
    assert!(has(&|v| v["captions_per_clip"] == 5 && frac(v, "t2a_ranks") && frac(v, "a2t_ranks")));
    assert!(has(&|v| v["captions_per_clip"] == 1 && !frac(v, "t2a_ranks")));
    assert!(has(&|v| v["t2a"]["geometric_mean_R1-R5-R10"].as_f64().unwrap() > 0.0));
    assert!(has(&|v| v["t2a"]["R50"].as_f64().unwrap() < 100.0 || v["a2t"]["R50"].as_f64().unwrap() < 100.0));
}

#[test]
fn cli_json_matches_the_reference() {
    for (name, npy, want) in cases() {
        let k = want["captions_per_clip"].to_string();
        let out = ok(&["metrics", "--sims", s(&npy), "--captions-per-clip", &k, "--json"]);
        let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}:\n{out}"));
        for dir in ["t2a", "a2t"] {
            for (key, value) in want[dir].as_object().unwrap() {
                close(&format!("{name} {dir} {key}"), got[dir][key].as_f64().unwrap(), value.as_f64().unwrap());
            }
        }
        // in percent, as R@k
        close(&format!("{name} mAP@10"), got["mAP@10"].as_f64().unwrap() / 100.0, want["mAP@10"].as_f64().unwrap());
        assert_eq!(got["captions_per_clip"], want["captions_per_clip"]);
    }
}

#[test]
fn cli_text_report() {
    let npy = fixtures().join("good_k5_300x60.npy");
    let out = ok(&["metrics", "--sims", s(&npy)]);
    assert!(out.contains("300 captions × 60 clips, 5 captions per clip"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("t2a")) && out.lines().any(|l| l.starts_with("a2t")), "{out}");
    assert!(out.contains("mAP@10"), "{out}");
}

#[test]
fn bad_inputs_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, shape: &[usize], f: &dyn Fn(usize) -> f32| {
        let p = dir.path().join(name);
        let n: usize = shape.iter().product();
        write_f32(&p, shape, &(0..n).map(f).collect::<Vec<_>>()).unwrap();
        p
    };
    let expect = |path: &Path, extra: &[&str], needle: &str| {
        let mut args = vec!["metrics", "--sims", s(path)];
        args.extend_from_slice(extra);
        let err = fails(&args);
        assert!(err.contains(s(path)), "error should name {}:\n{err}", path.display());
        assert!(err.contains(needle), "error should say {needle:?}:\n{err}");
    };
    let vector = write("vector.npy", &[50], &|i| i as f32);
    expect(&vector, &[], "2-D");
    let cube = write("cube.npy", &[5, 2, 2], &|i| i as f32);
    expect(&cube, &[], "2-D");
    let ragged = write("ragged.npy", &[7, 3], &|i| i as f32);
    expect(&ragged, &[], "not a multiple of 3 columns");
    let short = write("short.npy", &[30, 10], &|i| i as f32);
    expect(&short, &["--captions-per-clip", "5"], "30 rows are not 10 clips (columns) × 5 captions per clip = 50");
    let nan = write("nan.npy", &[50, 10], &|i| if i == 123 { f32::NAN } else { i as f32 });
    expect(&nan, &["--captions-per-clip", "5"], "NaN at row 12, column 3");
    let inf = write("inf.npy", &[10, 10], &|i| if i == 99 { f32::NEG_INFINITY } else { 0.0 });
    expect(&inf, &[], "infinite value at row 9, column 9");
    let empty = write("empty.npy", &[0, 10], &|_| 0.0);
    expect(&empty, &[], "empty");
    let missing = dir.path().join("no such file.npy");
    expect(&missing, &["--json"], "No such file");
    // Not float32: a float64 .npy.
    let f64_path = dir.path().join("float64.npy");
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header}{}\n", " ".repeat((64 - (10 + header.len() + 1) % 64) % 64));
    bytes.extend((padded.len() as u16).to_le_bytes());
    bytes.extend(padded.as_bytes());
    bytes.extend([0u8; 32]);
    std::fs::write(&f64_path, bytes).unwrap();
    expect(&f64_path, &[], "not a float32 .npy file");
    let fine = write("fine.npy", &[4, 4], &|i| i as f32);
    let err = fails(&["metrics", "--sims", s(&fine), "--captions-per-clip", "0"]);
    assert!(err.contains("at least 1"), "{err}");
    // Nothing is printed on stdout for a bad input.
    let (ok, stdout, _) = crate::common::run(&["metrics", "--sims", s(&nan), "--json"]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
}

/// The DCASE 2025 metrics against the 2025 baseline's own ranking and average precision
/// (tests/fixtures/metrics/generate_relevance.py): per-query ranks and AP, mAP@10 and mAP@16.
#[test]
fn relevance_matches_the_2025_baseline() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics/relevance");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let npy = entry.unwrap().path();
        if npy.extension().is_none_or(|e| e != "npy") {
            continue;
        }
        let name = npy.file_stem().unwrap().to_string_lossy().into_owned();
        let want: Value = serde_json::from_str(&std::fs::read_to_string(npy.with_extension("json")).unwrap()).unwrap();
        let a = read_f32(&npy).unwrap();
        let relevant: Vec<Vec<usize>> = want["relevant"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|j| j.as_u64().unwrap() as usize).collect())
            .collect();
        let (m, queries) = clap_tools::eval::relevance(&a.data, &a.shape, &relevant).unwrap();
        for (q, got) in queries.iter().enumerate() {
            assert_eq!(got.ranks, numbers(&want["ranks"][q]), "{name} query {q} ranks");
            close(&format!("{name} AP@10 {q}"), got.ap10, want["ap10"][q].as_f64().unwrap());
            close(&format!("{name} AP@16 {q}"), got.ap16, want["ap16"][q].as_f64().unwrap());
        }
        close(&format!("{name} mAP@10"), m.map10 / 100.0, want["mAP@10"].as_f64().unwrap());
        close(&format!("{name} mAP@16"), m.map16 / 100.0, want["mAP@16"].as_f64().unwrap());
        if relevant.iter().all(|r| r.len() == 1) {
            // One relevant clip per query: the single-positive mAP@10 of the same ranks.
            let ranks: Vec<f64> = queries.iter().map(|q| q.ranks[0]).collect();
            close(
                &format!("{name} mAP@10 single"),
                clap_tools::eval::map_at_k(&ranks, 10),
                want["mAP@10"].as_f64().unwrap(),
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 3, "the three fixture cases");
}

/// The meaning of a pairs file comes from its header (or `--pairs-kind`), never from how many
/// columns it covers: one relevant clip per query, every clip judged, is still queries.
#[test]
fn pairs_take_their_meaning_from_the_header_not_their_coverage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sims = dir.join("s.npy");
    // 3 rows × 3 columns; each row's relevant clip is the diagonal.
    write_f32(&sims, &[3, 3], &[0.9, 0.1, 0.5, 0.2, 0.3, 0.8, 0.4, 0.6, 0.7]).unwrap();
    let score = |header: &str, extra: &[&str]| {
        let pairs = dir.join("p.csv");
        std::fs::write(&pairs, format!("{header}\n0,0\n1,1\n2,2\n")).unwrap();
        let mut args = vec!["metrics", "--sims", s(&sims), "--pairs", s(&pairs), "--json"];
        args.extend_from_slice(extra);
        crate::common::run(&args)
    };
    let (good, out, err) = score("query,clip", &[]);
    assert!(good, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("relevance").is_some() && v.get("t2a").is_none(), "queries are scored by relevance: {v}");
    let (good, out, err) = score("caption,clip", &[]);
    assert!(good, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v.get("t2a").is_some() && v.get("relevance").is_none(), "captions are scored both ways: {v}");
    // A bare row,column file says nothing: the kind must be given.
    let (good, _, err) = score("row,column", &[]);
    assert!(!good && err.contains("p.csv") && err.contains("kind"), "{err}");
    let (good, out, err) = score("row,column", &["--pairs-kind", "queries"]);
    assert!(good, "{err}");
    assert!(serde_json::from_str::<Value>(&out).unwrap().get("relevance").is_some());
    // A kind that contradicts the header is an error.
    let (good, _, err) = score("caption,clip", &["--pairs-kind", "queries"]);
    assert!(!good && err.contains("p.csv") && err.contains("header says caption"), "{err}");
}
