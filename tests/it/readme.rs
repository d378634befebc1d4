//! The README's workflow, as written: every command of the `sh` blocks of sections 1–14 runs, in
//! order, from a working folder beside the data (so every path is relative and none is the repo
//! root's), on generated data in the native layouts. The commands are read from README.md itself, so
//! an example that stops working, or a new one that does not work, fails this test.
//!
//! What differs from the README, and why, is listed in [`SUBSTITUTIONS`], [`SKIPS`] and
//! [`stand_ins`]; each entry must still match a README command, so a stale one fails too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap_tools::demo::{synthesize, CorpusOptions};
use clap_tools_backends::Cpu;

/// One command of the README: its section number, the README line it starts on, and its text (with
/// `\` continuations joined).
#[derive(Debug)]
struct Example {
    section: u32,
    line: usize,
    text: String,
}

/// Text replaced in every command: (README text, replacement, why).
const SUBSTITUTIONS: &[(&str, &str, &str)] = &[
    ("/data/", "../data/", "the README's data folder is the generated one beside the working folder"),
    (
        "cargo run --release --",
        "clap-tools",
        "the same program as the test build (a release build of the whole stack costs tens of minutes)",
    ),
    (".venv/bin/python", "{python}", "the test venv's Python (scripts/test.sh made it)"),
    ("notebooks/", "{repo}/notebooks/", "the notebook lives in the repository, not in the working folder"),
];

/// Commands not run here: (text that picks them out, why).
const SKIPS: &[(&str, &str)] = &[
    ("--features cuda", "needs a CUDA build and an NVIDIA GPU"),
    ("--features wgpu", "needs a wgpu build and a Vulkan/Metal/DX12 adapter"),
    ("--devices 2", "needs two GPUs (the CPU backend trains on one device and refuses more)"),
    ("scripts/setup.sh", "set-up: scripts/test.sh has already made the venv this test uses"),
    ("clap-tools serve", "serves until stopped: tests/it/serve.rs drives the page in headless Chromium"),
    ("sbatch", "needs a slurm cluster: tests/it/distributed.rs runs both scripts under a stand-in srun"),
];

/// The commands of README sections 1–14 (headings `### N.`), in order.
fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let (mut section, mut in_sh) = (0u32, false);
    let mut pending: Option<Example> = None;
    for (i, line) in readme.lines().enumerate() {
        let n = i + 1;
        if !in_sh {
            if let Some(rest) = line.strip_prefix("### ") {
                section = rest.split('.').next().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
            } else if line.starts_with("## ") {
                section = 0;
            } else if line.trim() == "```sh" && (1..=14).contains(&section) {
                in_sh = true;
            }
            continue;
        }
        if line.trim() == "```" {
            in_sh = false;
            assert!(pending.is_none(), "README.md:{n}: a command continues past the end of its block");
            continue;
        }
        let body = line.trim_end();
        let (text, continues) = match body.strip_suffix('\\') {
            Some(t) => (t, true),
            None => (body, false),
        };
        let ex = match pending.take() {
            Some(mut p) => {
                p.text.push(' ');
                p.text.push_str(text.trim());
                p
            }
            None if text.trim().is_empty() || text.trim_start().starts_with('#') => continue,
            None => Example { section, line: n, text: text.trim().to_string() },
        };
        if continues {
            pending = Some(ex);
        } else {
            out.push(ex);
        }
    }
    out
}

/// What the examples' outputs should be: the files named after `-o`, `--output`, `--train-out`,
/// `--val-out`, `>` (and `--sims` of `eval`, where it is written); `embed` writes a pair.
fn outputs(cmd: &str) -> Vec<String> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let mut out = Vec::new();
    for w in words.windows(2) {
        let sims_out = w[0] == "--sims" && words.get(1) == Some(&"eval");
        if sims_out || matches!(w[0], "-o" | "--output" | "--train-out" | "--val-out" | ">") {
            let name = w[1];
            if words.get(1) == Some(&"embed") {
                let stem = name.strip_suffix(".npy").or_else(|| name.strip_suffix(".parquet")).unwrap_or(name);
                out.push(format!("{stem}.npy"));
                out.push(format!("{stem}.parquet"));
            } else {
                out.push(name.to_string());
            }
        }
    }
    out
}

fn rename(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::rename(from, to).unwrap_or_else(|e| panic!("{} → {}: {e}", from.display(), to.display()));
}

/// The README's data folder, generated: the demo's synthesised corpus moved into the datasets' own
/// layouts, plus the few files the examples name (a caption JSON, a similarity matrix, queries, …).
fn data(root: &Path) -> PathBuf {
    let corpus = root.join("corpus");
    let opts = CorpusOptions { clips: 30, sample_rate: 16000, min_seconds: 1.0, max_seconds: 2.0, seed: 3 };
    let c = synthesize(&corpus, &opts).unwrap();
    let data = root.join("data");
    rename(&c.clotho_audio, &data.join("clotho/development"));
    rename(&c.clotho_captions, &data.join("clotho/clotho_captions_development.csv"));
    rename(&c.clotho_metadata, &data.join("clotho/clotho_metadata_development.csv"));
    // AudioCaps: clips in two subfolders (the README scans with -r), captions in train/val/test.csv by clip.
    for (k, e) in std::fs::read_dir(&c.audiocaps_audio).unwrap().enumerate() {
        let p = e.unwrap().path();
        rename(&p, &data.join(format!("audiocaps/audio/part{}", k % 2)).join(p.file_name().unwrap()));
    }
    let mut reader = csv::Reader::from_path(&c.audiocaps_csv).unwrap();
    let header = reader.headers().unwrap().clone();
    let mut writers: Vec<csv::Writer<std::fs::File>> = ["train", "val", "test"]
        .iter()
        .map(|s| {
            let mut w = csv::Writer::from_path(data.join(format!("audiocaps/{s}.csv"))).unwrap();
            w.write_record(&header).unwrap();
            w
        })
        .collect();
    let mut ids: Vec<String> = Vec::new();
    for r in reader.records() {
        let r = r.unwrap();
        let yt = r[1].to_string();
        let k = ids.iter().position(|i| *i == yt).unwrap_or_else(|| {
            ids.push(yt);
            ids.len() - 1
        });
        writers[k % 3].write_record(&r).unwrap();
    }
    writers.into_iter().for_each(|mut w| w.flush().unwrap());
    rename(&c.macs_audio, &data.join("macs/audio"));
    rename(&c.macs_yaml, &data.join("macs/MACS.yaml"));

    std::fs::create_dir_all(data.join("mine")).unwrap();
    std::fs::write(
        data.join("mine/text.json"),
        r#"{"audios": [{"audio_id": "kettle.wav", "captions": [{"caption": "A kettle whistles.", "cap_id": "1"}]},
                       {"audio_id": "door.wav", "captions": [{"caption": "A door creaks open.", "cap_id": "1"},
                                                             {"caption": "Hinges squeak.", "cap_id": "2"}]}]}"#,
    )
    .unwrap();
    let clotho_ids: Vec<&str> =
        c.clips.iter().filter(|x| x.dataset == "clotho").map(|x| x.file_name.as_str()).collect();
    std::fs::write(data.join("val_ids.txt"), clotho_ids[..3].join("\n") + "\n").unwrap();
    // Any system's scores: 4 clips × 5 captions.
    let sims: Vec<f32> = crate::common::prng::uniform("readme sims", 20 * 4).into_iter().map(|x| x as f32).collect();
    clap_tools::npy::write_f32(&data.join("clotho_eval_sims.npy"), &[20, 4], &sims).unwrap();
    std::fs::copy(repo().join("tests/fixtures/audio/stereo.flac"), data.join("clip.flac")).unwrap();
    std::fs::copy(data.join("clotho/development").join(clotho_ids[0]), data.join("clip.wav")).unwrap();
    std::fs::write(data.join("queries.txt"), "a low rumble\nrapid clicks\n\nharsh white noise\n").unwrap();
    // Labelled clips for `classify --truth`: Clotho's, by the kind of sound each is.
    let mut labelled = String::from("file,label\n");
    for clip in c.clips.iter().filter(|x| x.dataset == "clotho").take(6) {
        labelled += &format!("\"clotho/development/{}\",{}\n", clip.file_name.replace('"', "\"\""), clip.kind.label());
    }
    std::fs::write(data.join("labelled.csv"), labelled).unwrap();
    retrieval_set(&data.join("clotho"), &c);
    data
}

/// Clotho's DCASE retrieval set: four of the clips in retrieval_audio/ (one saved with `:` written
/// `_`, its judgement naming it with `:`), one query per clip from its first caption, and the 2025
/// judgements (each query: its clip, the second query also the next clip).
fn retrieval_set(clotho: &Path, c: &clap_tools::demo::corpus::Corpus) {
    let audio = clotho.join("retrieval_audio");
    std::fs::create_dir_all(&audio).unwrap();
    let clips: Vec<&clap_tools::demo::corpus::DemoClip> =
        c.clips.iter().filter(|x| x.dataset == "clotho").take(4).collect();
    let mut names = Vec::new();
    for (k, clip) in clips.iter().enumerate() {
        let judged = if k == 0 { format!("take: {}", clip.file_name) } else { clip.file_name.clone() };
        std::fs::copy(clotho.join("development").join(&clip.file_name), audio.join(judged.replace(':', "_"))).unwrap();
        names.push(judged);
    }
    let captions = clap_tools::manifest::clotho::import(&clap_tools::manifest::clotho::ClothoImport {
        captions: vec![clotho.join("clotho_captions_development.csv")],
        ..Default::default()
    })
    .unwrap();
    let first = |id: &str| captions.iter().find(|r| r.audio_id == id && r.caption_index == 1).unwrap().caption.clone();
    let queries: Vec<String> = clips.iter().map(|x| first(&x.file_name)).collect();
    let mut w = csv::Writer::from_path(clotho.join("retrieval_captions.csv")).unwrap();
    w.write_record(["caption"]).unwrap();
    queries.iter().for_each(|q| w.write_record([q]).unwrap());
    w.flush().unwrap();
    // Python's repr of a list of names.
    let repr = |names: &[&String]| {
        let item = |n: &String| if n.contains('\'') { format!("\"{n}\"") } else { format!("'{n}'") };
        format!("[{}]", names.iter().map(|n| item(n)).collect::<Vec<_>>().join(", "))
    };
    let mut w = csv::Writer::from_path(clotho.join("metadata_eval.csv")).unwrap();
    w.write_record(["query", "audio_filenames"]).unwrap();
    for (k, q) in queries.iter().enumerate().take(3) {
        let rel: Vec<&String> = if k == 1 { vec![&names[1], &names[2]] } else { vec![&names[k]] };
        w.write_record([q.as_str(), &repr(&rel)]).unwrap();
    }
    w.flush().unwrap();
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    repo().join("tests/fixtures/model").join(rel)
}

fn copy_into(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (from, to) in files {
        std::fs::copy(fixture(from), dir.join(to)).unwrap();
    }
}

/// Downloads and long configs the README names, as small stand-ins in the same layouts, in the
/// working folder: (name, what stands in).
fn stand_ins(work: &Path) -> Vec<(&'static str, &'static str)> {
    // The reference's released checkpoint and its BERT folder: a small random-weight checkpoint with
    // the upstream key names (the parity fixture of tests/model_cli.rs) and a 2-layer BERT.
    std::fs::copy(fixture("checkpoint/reference.pth"), work.join("clap_cnn14_bertbase.pth")).unwrap();
    copy_into(
        &work.join("bert-base-uncased"),
        &[("text/bert/config.json", "config.json"), ("text/tokenizer/vocab.txt", "vocab.txt")],
    );
    // PANNs' CNN14 and BERT-medium, where configs/cnn14_bertmedium.toml looks for them.
    let pretrained = work.join("pretrained_models");
    copy_into(&pretrained, &[("cnn14/panns_small.pth", "Cnn14_mAP=0.431.pth")]);
    copy_into(
        &pretrained.join("bert-medium"),
        &[
            ("text/bert/config.json", "config.json"),
            ("text/bert/model.safetensors", "model.safetensors"),
            ("text/tokenizer/vocab.txt", "vocab.txt"),
        ],
    );
    // The repository's config, shortened: the same sections and paths, but the data the README's
    // earlier steps made, the narrow CNN14's widths, and a few iterations of small batches.
    let text = std::fs::read_to_string(repo().join("configs/cnn14_bertmedium.toml")).unwrap();
    let mut cfg: toml::Table = toml::from_str(&text).unwrap();
    let channels = clap_tools::model::cnn14::Cnn14::<Cpu>::load_panns(
        &pretrained.join("Cnn14_mAP=0.431.pth"),
        &Default::default(),
    )
    .unwrap()
    .channels();
    let set = |cfg: &mut toml::Table, path: &str, v: toml::Value| {
        let (sections, key) = path.rsplit_once('.').unwrap();
        let mut t = &mut *cfg;
        for s in sections.split('.') {
            t = t.get_mut(s).and_then(|v| v.as_table_mut()).unwrap_or_else(|| panic!("no [{s}] in the config"));
        }
        assert!(t.contains_key(key) || key == "channels", "{path} is not in configs/cnn14_bertmedium.toml");
        t.insert(key.to_string(), v);
    };
    let s = |x: &str| toml::Value::String(x.into());
    set(&mut cfg, "data.train_captions", toml::Value::Array(vec![s("../captions_train.parquet")]));
    set(&mut cfg, "data.val_captions", toml::Value::Array(vec![s("../captions_val.parquet")]));
    set(&mut cfg, "data.train_waveforms", s("../packed/waveforms.parquet"));
    set(&mut cfg, "data.val_waveforms", s("../packed/waveforms.parquet"));
    set(&mut cfg, "data.crop_seconds", toml::Value::Float(1.0));
    set(&mut cfg, "model.shared_dim", toml::Value::Integer(32));
    set(
        &mut cfg,
        "model.audio.channels",
        toml::Value::Array(channels.iter().map(|&c| toml::Value::Integer(c as i64)).collect()),
    );
    for (k, v) in [("schedule.warmup_iterations", 1), ("schedule.total_iterations", 2), ("train.batch_size", 4)] {
        set(&mut cfg, k, toml::Value::Integer(v));
    }
    for (k, v) in
        [("train.val_interval", 2), ("train.val_batch_size", 4), ("train.workers", 1), ("checkpoint.every", 2)]
    {
        set(&mut cfg, k, toml::Value::Integer(v));
    }
    std::fs::create_dir_all(work.join("configs")).unwrap();
    std::fs::write(work.join("configs/cnn14_bertmedium.toml"), toml::to_string(&cfg).unwrap()).unwrap();
    vec![
        ("clap_cnn14_bertbase.pth", "a small random-weight checkpoint in the reference's released layout"),
        ("bert-base-uncased/", "a 2-layer BERT config and a 1000-word vocabulary"),
        ("pretrained_models/", "a narrow PANNs-layout CNN14 and a 2-layer BERT with weights"),
        ("configs/cnn14_bertmedium.toml", "the repository's config with the test data, narrow widths and 2 iterations"),
    ]
}

#[test]
fn the_readme_workflow_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let examples = examples(&readme);
    let root = tempfile::tempdir().unwrap();
    let data = data(root.path());
    let work = root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let stand_ins = stand_ins(&work);

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_clap-tools"));
    let path = std::env::join_paths(
        std::iter::once(bin.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let python = crate::common::python();
    let (mut used_subs, mut used_skips, mut sections) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut expected = Vec::new();
    for ex in &examples {
        if let Some((pat, why)) = SKIPS.iter().find(|(p, _)| ex.text.contains(p)) {
            eprintln!("README.md:{} (§{}) skipped ({why}): {}", ex.line, ex.section, ex.text);
            used_skips.insert(*pat);
            continue;
        }
        let mut cmd = ex.text.clone();
        for (from, to, _) in SUBSTITUTIONS {
            if cmd.contains(from) {
                used_subs.insert(*from);
                let to = to.replace("{python}", &python.to_string_lossy()).replace("{repo}", &repo().to_string_lossy());
                cmd = cmd.replace(from, &to);
            }
        }
        eprintln!("README.md:{} (§{}): {cmd}", ex.line, ex.section);
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -euo pipefail; {cmd}"))
            .current_dir(&work)
            .env("PATH", &path)
            .env("MPLBACKEND", "Agg")
            .output()
            .unwrap();
        // `pack` exits 0 only when every clip was packed; the README's examples all should.
        assert!(
            out.status.success(),
            "README.md:{} (§{}) failed ({}):\n{cmd}\n--- stdout\n{}\n--- stderr\n{}",
            ex.line,
            ex.section,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        sections.insert(ex.section);
        for o in outputs(&cmd) {
            expected.push((ex.line, o));
        }
    }
    // Every section has a command that ran; every substitution and skip still applies to something.
    assert_eq!(sections, (1..=14).collect::<BTreeSet<u32>>(), "sections with a command that ran");
    for (from, _, why) in SUBSTITUTIONS {
        assert!(used_subs.contains(from), "substitution {from:?} ({why}) matches no README command: remove it");
    }
    for (pat, why) in SKIPS {
        assert!(used_skips.contains(pat), "skip {pat:?} ({why}) matches no README command: remove it");
    }
    let config = std::fs::read_to_string(repo().join("configs/cnn14_bertmedium.toml")).unwrap();
    for (name, what) in &stand_ins {
        let name = name.trim_end_matches('/');
        assert!(
            readme.contains(name) || config.contains(name),
            "stand-in {name} ({what}) is named neither in the README nor in its config: remove it"
        );
    }
    // Each command wrote what it names, with the name it was given.
    for (line, o) in &expected {
        let p = work.join(o);
        assert!(p.exists(), "README.md:{line}: {} was not written", p.display());
    }
    assert!(!work.join("queries.npy.npy").exists(), "embed -o queries.npy wrote queries.npy.npy");

    // The results are what the README says they are.
    let wav = clap_tools::manifest::wav_csv::Tsv::read(&work.join("wav.csv")).unwrap();
    assert_eq!(wav.audio_ids().count(), 30, "wav.csv lists every clip of the three datasets");
    let packed: BTreeSet<String> = clap_tools::shards::reader::read_index(&work.join("packed/waveform.csv"))
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    let sharded: BTreeSet<String> = clap_tools::shards::reader::read_index(&work.join("sharded/waveform.csv"))
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(packed.len(), 30);
    assert_eq!(packed, sharded, "the slices concatenated hold what one pack holds");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("eval_metrics.json")).unwrap()).unwrap();
    let map10 = m["mAP@10"].as_f64().unwrap();
    assert!(map10 > 1.0 && map10 <= 100.0, "mAP@10 in percent, as R@k: {map10}");
    assert!(work.join("runs/cnn14_bertmedium/best/model.safetensors").is_file());
    let q = clap_tools::npy::read_f32(&work.join("queries.npy")).unwrap();
    assert_eq!(q.shape[0], 3, "three queries in queries.txt (the blank line is not one)");
    let val = clap_tools::table::read_captions(&work.join("val.parquet")).unwrap();
    let val_ids: BTreeSet<&str> = val.iter().map(|r| r.audio_id.as_str()).collect();
    assert_eq!(val_ids.len(), 3, "--val-ref puts the three listed clips in validation");

    // Through a symlinked folder, the config's relative paths still name the same files: resuming the
    // finished run from there finds its data, its text folder and its checkpoints.
    let link = root.path().join("linked work");
    std::os::unix::fs::symlink(&work, &link).unwrap();
    let out = Command::new(&bin)
        .args(["train", "--config", "configs/cnn14_bertmedium.toml", "--resume"])
        .current_dir(&link)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A checkpoint folder is self-contained: moved elsewhere, it evaluates the same.
    let moved = root.path().join("elsewhere/best of run");
    rename(&work.join("runs/cnn14_bertmedium/best"), &moved);
    let out = Command::new(&bin)
        .args(["eval", "--checkpoint", "../elsewhere/best of run", "--captions", "captions_val.parquet"])
        .args(["--waveforms", "packed/waveforms.parquet", "--json"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["t2a"], m["t2a"], "the moved checkpoint gives the same metrics");
    assert!(data.join("clotho/development").is_dir());
}

#[test]
fn readme_examples_are_parsed_with_their_continuations() {
    let md =
        "## Workflow\n### 1. `x`\n```sh\nclap-tools a b \\\n    c   # note\n# only a comment\n\nclap-tools d\n```\n\
              ### 15. other\n```sh\nclap-tools never\n```\n";
    let ex = examples(md);
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].section, ex[0].line, ex[0].text.as_str()), (1, 4, "clap-tools a b c   # note"));
    assert_eq!(ex[1].text, "clap-tools d");
    assert_eq!(outputs("clap-tools embed text -o q.npy"), ["q.npy", "q.parquet"]);
    assert_eq!(outputs("clap-tools inspect x --json > r.json"), ["r.json"]);
    assert_eq!(outputs("clap-tools metrics --sims in.npy"), Vec::<String>::new());
}
