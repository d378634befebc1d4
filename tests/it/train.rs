//! Training as a user runs it: a small model on the demo corpus, checkpoints, kill -9 and --resume,
//! `eval` on the best checkpoint, and config errors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{fails, ok, s};

/// A TOML config over the demo data (`demo_corpus` made it and its text encoder folder).
fn write_config(dir: &Path, data: &Path, run: &Path, iterations: u64, extra: &str) -> PathBuf {
    let config = format!(
        r#"
{data_section}
[model]
shared_dim = 16
specaugment = true

[model.audio]
kind = "cnn14"
channels = [4, 8, 8, 16, 16, 16]

[model.text]
kind = "bert"
dir = "{text}"
pretrained = false

[optimizer]
lr = 0.001
grad_clip_norm = 5.0

[schedule]
warmup_iterations = 2
total_iterations = {iterations}

[train]
batch_size = 8
val_interval = 6
val_batch_size = 8
seed = 7
workers = 2

[checkpoint]
dir = "{run}"
every = 3
keep = 2
{extra}"#,
        data_section = crate::common::demo_data_toml(data),
        text = s(&dir.join("text")),
        run = s(run),
    );
    let path = dir.join(format!("{}.toml", run.file_name().unwrap().to_string_lossy()));
    std::fs::write(&path, config).unwrap();
    path
}

fn log_lines(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("log.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Every scalar tag of the run's TensorBoard files as `{tag: [[step, value], …]}`, read with
/// TensorBoard's own EventAccumulator (in the test venv).
fn tensorboard_scalars(run: &Path) -> serde_json::Value {
    let script = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1])
acc.Reload()
print(json.dumps({t: [[e.step, e.value] for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
"#;
    let out = Command::new(crate::common::python()).args(["-c", script, s(run)]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn last_val(run: &Path) -> serde_json::Value {
    log_lines(run).into_iter().rev().find(|v| v.get("val").is_some()).expect("a validation line")["val"].clone()
}

#[test]
fn kill_and_resume_ends_where_an_uninterrupted_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::demo_corpus(dir.path(), 60, 32);
    let whole = dir.path().join("whole");
    let cfg_whole = write_config(dir.path(), &data, &whole, 12, "");
    ok(&["train", "--config", s(&cfg_whole)]);
    let expected = last_val(&whole);
    assert!(whole.join("best/model.safetensors").is_file());
    let kept: Vec<_> = std::fs::read_dir(whole.join("checkpoints")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(kept.len(), 2, "retention keeps 2 periodic checkpoints: {kept:?}");

    // Same run, killed with SIGKILL after it logged steps past its checkpoint (checkpoints every 6
    // iterations here: the kill lands between 7 and 11), then resumed: the resumed session logs
    // those steps again, and readers must drop the killed session's copies.
    let broken = dir.path().join("broken");
    let cfg = write_config(dir.path(), &data, &broken, 12, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("every = 3", "every = 6");
    std::fs::write(&cfg, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["train", "--config", s(&cfg)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The last iteration in the log (a line being written may be incomplete: skipped).
    let logged = |run: &Path| -> u64 {
        let text = std::fs::read_to_string(run.join("log.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["iteration"].as_u64())
            .max()
            .unwrap_or(0)
    };
    let t = Instant::now();
    while logged(&broken) < 7 {
        assert!(t.elapsed() < Duration::from_secs(600), "iteration 7 was not logged");
        assert!(child.try_wait().unwrap().is_none(), "training ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = logged(&broken);
    assert!(!broken.join("checkpoints/iter-00000012").exists(), "killed after its last checkpoint");
    assert!(at_kill > 6, "the killed session logged past its checkpoint ({at_kill})");
    let out = ok(&["train", "--config", s(&cfg), "--resume"]);
    let got = last_val(&broken);
    for (dir, key) in [("t2a", "R1"), ("t2a", "R5"), ("t2a", "MeanR"), ("a2t", "R1"), ("a2t", "MeanR")] {
        let (a, b) = (got[dir][key].as_f64().unwrap(), expected[dir][key].as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{dir} {key}: resumed {a} vs uninterrupted {b}\n{out}");
    }
    let losses = |run: &Path| -> Vec<f64> {
        log_lines(run).iter().filter_map(|v| v.get("loss").and_then(|l| l.as_f64())).collect()
    };
    let (a, b) = (losses(&broken), losses(&whole));
    assert_eq!(a.len(), 12, "the resumed log has each iteration once");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() <= 1e-4 * y.abs(), "iteration {}: loss {x} vs {y}", i + 1);
    }
    // TensorBoard, read back with its own EventAccumulator: every iteration once across the two
    // sessions' files (the resumed one restarts at its checkpoint), validations at 6 and 12.
    let scalars = tensorboard_scalars(&broken);
    let steps =
        |tag: &str| -> Vec<u64> { scalars[tag].as_array().unwrap().iter().map(|e| e[0].as_u64().unwrap()).collect() };
    let files: Vec<_> = std::fs::read_dir(&broken)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tfevents"))
        .collect();
    assert_eq!(
        steps("train/loss"),
        (1..=12).collect::<Vec<_>>(),
        "event files {files:?}; checkpoints {:?}",
        std::fs::read_dir(broken.join("checkpoints")).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>()
    );
    assert_eq!(steps("val/t2a_R1"), [6, 12]);
    let tb_last = scalars["val/t2a_R1"].as_array().unwrap().last().unwrap()[1].as_f64().unwrap();
    assert!((tb_last - got["t2a"]["R1"].as_f64().unwrap()).abs() < 1e-3, "{tb_last} vs {got}");
    for entry in std::fs::read_dir(broken.join("checkpoints")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".partial"), "left-over {name}");
    }

    // A new run over a finished one is refused; resuming with other settings too.
    let err = fails(&["train", "--config", s(&cfg_whole)]);
    assert!(err.contains("--resume"), "{err}");
    let text = std::fs::read_to_string(&cfg_whole).unwrap().replace("seed = 7", "seed = 8");
    std::fs::write(&cfg_whole, text).unwrap();
    let err = fails(&["train", "--config", s(&cfg_whole), "--resume"]);
    assert!(err.contains("train.seed"), "{err}");

    // eval on the best checkpoint gives the metrics the trainer logged for it.
    let best_iter = log_lines(&whole).into_iter().rfind(|v| v["best"].as_bool() == Some(true)).unwrap();
    let json = ok(&[
        "eval",
        "--checkpoint",
        s(&whole.join("best")),
        "--captions",
        s(&data.join("tables/captions_val.parquet")),
        "--waveforms",
        s(&data.join("packed/waveforms.parquet")),
        "--batch-size",
        "8",
        "--json",
    ]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in ["R1", "R5", "R10", "MeanR"] {
        let (a, b) = (m["t2a"][key].as_f64().unwrap(), best_iter["val"]["t2a"][key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-9, "eval t2a {key} {a} vs logged {b}");
    }
}

/// `--set` overrides any key (a relative path from the working directory), is recorded in the run's
/// config.json, and `--dry-run` prints the resolved config and plan without making the run.
#[test]
fn overrides_and_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::demo_corpus(dir.path(), 24, 16);
    let cfg = write_config(dir.path(), &data, &dir.path().join("run"), 12, "");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let sets = ["--set", "train.batch_size=4", "--set", "checkpoint.dir=my run", "--set", "optimizer.lr=3e-4"];
    let mut args = vec!["train", "--config", s(&cfg), "--dry-run"];
    args.extend_from_slice(&sets);
    let out = crate::common::ok_in(&elsewhere, &args);
    let want_dir = elsewhere.join("my run");
    assert!(out.contains("batch_size = 4") && out.contains("lr = 0.0003"), "{out}");
    assert!(out.contains(&format!("dir = \"{}\"", want_dir.display())), "{out}");
    assert!(out.contains("# plan") && out.contains("train: ") && out.contains("parameters"), "{out}");
    assert!(!want_dir.exists() && !dir.path().join("run").exists(), "a dry run makes no run folder");

    let mut args =
        vec!["train", "--config", s(&cfg), "--set", "schedule.total_iterations=3", "--set", "train.val_interval=3"];
    args.extend_from_slice(&sets);
    // stderr is a pipe here, as in a slurm log: plain progress lines (every update with 0 s).
    let out = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(&args)
        .current_dir(&elsewhere)
        .env("CLAP_TOOLS_PROGRESS_SECONDS", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("/3 iterations (")).collect();
    assert!(lines.len() >= 3, "a progress line per iteration:\n{err}");
    assert!(lines.iter().any(|l| l.contains("ETA") && l.contains("loss") && l.contains("lr")), "{err}");
    assert!(lines.last().unwrap().contains(" 3/3 iterations"), "{err}");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(want_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(recorded["train"]["batch_size"], 4);
    assert_eq!(recorded["schedule"]["total_iterations"], 3);
    assert!(want_dir.join("best").is_dir());
    let scalars = tensorboard_scalars(&want_dir);
    for tag in ["train/loss", "train/lr", "train/logit_scale", "train/samples_per_s"] {
        let steps: Vec<u64> = scalars[tag].as_array().unwrap().iter().map(|e| e[0].as_u64().unwrap()).collect();
        assert_eq!(steps, [1, 2, 3], "{tag}: {scalars}");
    }
    for tag in ["val/t2a_R1", "val/a2t_R10", "val/mAP10", "val/mAP16", "val/t2a_geometric_mean_R1-R5-R10"] {
        assert_eq!(scalars[tag][0][0], 3, "{tag}: {scalars}");
    }
    let log_loss = log_lines(&want_dir)[0]["loss"].as_f64().unwrap();
    assert!((scalars["train/loss"][0][1].as_f64().unwrap() - log_loss).abs() < 1e-6 * log_loss.abs().max(1.0));

    // Fine-tuning: a new run from that run's best, the audio encoder frozen. Its weights and
    // BatchNorm statistics come out as they went in; the text encoder trains.
    let tuned = elsewhere.join("tuned");
    let mut args = vec!["train", "--config", s(&cfg), "--init", "my run/best", "--set", "model.freeze=[\"audio\"]"];
    args.extend_from_slice(&["--set", "checkpoint.dir=tuned", "--set", "schedule.total_iterations=3"]);
    args.extend_from_slice(&["--set", "train.val_interval=3", "--set", "optimizer.lr=0.01"]);
    let plan = crate::common::ok_in(&elsewhere, &[&args[..], &["--dry-run"]].concat());
    assert!(
        plan.contains("frozen: [Audio]") && plan.contains(&format!("start: {}", want_dir.join("best").display())),
        "{plan}"
    );
    crate::common::ok_in(&elsewhere, &args);
    let script = r#"
import json, struct, sys
import numpy as np
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys()
same = lambda p: all(a[k] == b[k] for k in a if k.startswith(p))
print(json.dumps({"audio": same("audio_encoder."), "text": same("text_encoder."), "audio_keys": sum(k.startswith("audio_encoder.") for k in a)}))
"#;
    let out = Command::new(crate::common::python())
        .args(["-c", script, s(&want_dir.join("best/model.safetensors")), s(&tuned.join("best/model.safetensors"))])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cmp: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((cmp["audio"].as_bool(), cmp["text"].as_bool()), (Some(true), Some(false)), "{cmp}");
    assert!(cmp["audio_keys"].as_u64().unwrap() > 10, "{cmp}");
    // The two runs side by side, and their curves on one figure.
    let table = crate::common::ok_in(&elsewhere, &["runs", "my run", "tuned", "--plot", "curves.svg"]);
    assert!(table.contains("my run") && table.contains("tuned"), "{table}");
    assert!(
        table.contains("model.freeze") && table.contains("checkpoint.dir") && table.contains("optimizer.lr"),
        "{table}"
    );
    let svg = std::fs::read_to_string(elsewhere.join("curves.svg")).unwrap();
    // Two panels (loss, validation R@1), a line per run in each, legends with the run names.
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() >= 4, "{svg}");
    assert!(
        svg.contains("\nmy run\n") && svg.contains("\ntuned\n") && svg.contains("training loss"),
        "{}",
        svg.lines().filter(|l| l.contains("<text")).take(12).collect::<Vec<_>>().join("\n")
    );
    crate::common::ok_in(&elsewhere, &["runs", "my run", "tuned", "--plot", "curves.png"]);
    let png = std::fs::read(elsewhere.join("curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap())),
        (1200, 500)
    );
    let json: serde_json::Value =
        serde_json::from_str(&crate::common::ok_in(&elsewhere, &["runs", "my run", "tuned", "--json"])).unwrap();
    assert_eq!(json["runs"][0]["loss"].as_array().unwrap().len(), 3, "{json}");
    assert_eq!(json["runs"][1]["best_iteration"], 3, "{json}");
    // Not a run; a plot format that is not one; a broken log line named.
    let err = fails(&["runs", s(&data)]);
    assert!(err.contains("not a run folder"), "{err}");
    let (good, _, err) = crate::common::run_in(&elsewhere, &["runs", "my run", "--plot", "curves.jpg"]);
    assert!(!good && err.contains("curves.jpg") && err.contains(".svg or .png"), "{err}");
    let log = want_dir.join("log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, format!("{text}{{\"iteration\": 4, \"loss\"\n")).unwrap();
    let err = fails(&["runs", s(&want_dir)]);
    assert!(err.contains("log.jsonl:5"), "{err}");
    std::fs::write(&log, text).unwrap();

    // A checkpoint of another model shape is refused by name; so is a bad freeze value.
    let err = fails(&[
        "train",
        "--config",
        s(&cfg),
        "--init",
        s(&want_dir.join("best")),
        "--set",
        "model.shared_dim=8",
        "--set",
        &format!("checkpoint.dir={}", s(&dir.path().join("refused"))),
    ]);
    assert!(err.contains("model.init") && err.contains("model.shared_dim"), "{err}");
    let err = fails(&["train", "--config", s(&cfg), "--set", "model.freeze=[\"audi\"]", "--dry-run"]);
    assert!(err.contains("model.freeze") && err.contains("audi"), "{err}");

    for (set, want) in [
        ("train.batch_size=big", "--set: train.batch_size=big: invalid type"),
        ("train.batchsize=8", "train.batchsize"),
        ("schedule.warmup_iterations=100", "schedule.warmup_iterations"),
    ] {
        let err = fails(&["train", "--config", s(&cfg), "--set", set, "--dry-run"]);
        assert!(err.contains(want), "{set}: {err}");
    }
}

/// Fine-tuning from the reference's released checkpoint layout (a narrow CNN14 and a 2-layer BERT
/// in `state_dict`, as tests/fixtures/model/audio.py writes it), the text encoder frozen; a config of
/// another shape is refused naming the section.
#[test]
fn fine_tunes_from_a_reference_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::finetune_setup(dir.path());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model");
    let config = |channels: &str| {
        format!(
            "{}\n[model]\nshared_dim = 24\ninit = \"{}\"\nfreeze = [\"text\"]\n\n[model.audio]\nkind = \"cnn14\"\nchannels = {channels}\n\n\
             [model.text]\nkind = \"bert\"\ndir = \"{}\"\npretrained = false\n\n[schedule]\nwarmup_iterations = 1\ntotal_iterations = 3\n\n\
             [train]\nbatch_size = 4\nval_interval = 3\nseed = 1\nworkers = 1\n\n[checkpoint]\ndir = \"run\"\nevery = 3\n",
            crate::common::demo_data_toml(&data),
            s(&fixtures.join("checkpoint/reference.pth")),
            s(&dir.path().join("bert"))
        )
    };
    std::fs::write(dir.path().join("ft.toml"), config("[8, 16, 16, 32, 32, 64]")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["train", "--config", "ft.toml"])
        .current_dir(dir.path())
        .env("CLAP_TOOLS_LOG", "info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("starting from the weights of"), "{err}");
    assert!(dir.path().join("run/best/model.safetensors").is_file());
    std::fs::write(dir.path().join("ft.toml"), config("[8, 16, 16, 32, 32, 32]")).unwrap();
    let err = fails(&[
        "train",
        "--config",
        s(&dir.path().join("ft.toml")),
        "--set",
        &format!("checkpoint.dir={}", s(&dir.path().join("run2"))),
    ]);
    assert!(err.contains("reference.pth") && err.contains("[model.audio]"), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nodata");
    let run = dir.path().join("run");
    let cfg = write_config_unchecked(dir.path(), &data, &run, "\n[extra]\nfoo = 1\n");
    let err = fails(&["train", "--config", s(&cfg)]);
    assert!(err.contains("extra"), "{err}");
    let cfg = write_config_unchecked(dir.path(), &data, &run, "").to_string_lossy().into_owned();
    let text = std::fs::read_to_string(&cfg).unwrap().replace("batch_size = 8", "batch_size = 1");
    std::fs::write(&cfg, text).unwrap();
    let err = fails(&["train", "--config", &cfg]);
    assert!(err.contains("train.batch_size"), "{err}");
    let err = fails(&["train", "--config", s(&dir.path().join("missing.toml"))]);
    assert!(err.contains("missing.toml"), "{err}");
    // The cause is said once (the library's message already carries it).
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

/// A config whose data need not exist (for the parse and value checks).
fn write_config_unchecked(dir: &Path, data: &Path, run: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(data.join("tables")).unwrap();
    let text = format!(
        r#"
[data]
train_captions = ["t.parquet"]
train_waveforms = "w.parquet"
val_captions = ["v.parquet"]
val_waveforms = "w.parquet"
sample_rate = 32000
crop_seconds = 1.0

[model]
shared_dim = 16

[model.audio]
kind = "cnn14"

[model.text]
kind = "bert"
dir = "text"

[schedule]
warmup_iterations = 2
total_iterations = 10

[train]
batch_size = 8
val_interval = 5
seed = 1

[checkpoint]
dir = "{run}"
every = 5
{extra}"#,
        run = s(run)
    );
    let p = dir.join("bad.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_repository_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["configs/cnn14_bertmedium.toml", "configs/demo.toml"] {
        let cfg = clap_tools::train::config::TrainConfig::from_file(&root.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert!(cfg.data.train_waveforms.is_absolute(), "{name}: paths resolve from the config's folder");
    }
    let reference =
        clap_tools::train::config::TrainConfig::from_file(&root.join("configs/cnn14_bertmedium.toml")).unwrap();
    assert_eq!(
        (reference.train.batch_size, reference.model.shared_dim, reference.data.crop_seconds),
        (128, 1024, 10.0)
    );
}

/// A loss that goes non-finite stops training with the iteration, the clips and the config keys to
/// change; the run folder keeps only whole checkpoints, and resuming from the last one with a lower
/// learning rate finishes the run (the change is logged).
#[test]
fn a_diverging_run_stops_whole_and_resumes_with_a_lower_lr() {
    let dir = tempfile::tempdir().unwrap();
    let data = crate::common::demo_corpus(dir.path(), 60, 32);
    let run = dir.path().join("diverge");
    let cfg = write_config(dir.path(), &data, &run, 12, "");
    ok(&["train", "--config", s(&cfg), "--stop-after", "6"]);
    // The checkpoint's logit scale becomes 100 (exp(100) overflows f32): the next loss is NaN, as
    // when a run diverges. Its bytes are found through the same value in best/ (iteration 6 too).
    let ckpt = run.join("checkpoints/iter-00000006/model.bin");
    let kept = std::fs::read(&ckpt).unwrap();
    let best = std::fs::read(run.join("best/model.safetensors")).unwrap();
    let best = safetensors::SafeTensors::deserialize(&best).unwrap();
    let scale = best.tensor("logit_scale").unwrap().data().to_vec();
    let at: Vec<usize> = kept.windows(4).enumerate().filter(|(_, w)| *w == scale.as_slice()).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "the logit scale's bytes appear once in model.bin");
    let mut poisoned = kept.clone();
    poisoned[at[0]..at[0] + 4].copy_from_slice(&100f32.to_le_bytes());
    std::fs::write(&ckpt, poisoned).unwrap();
    let err = fails(&["train", "--config", s(&cfg), "--resume"]);
    for part in
        ["iteration 7", "the loss is NaN", "optimizer.lr", "optimizer.grad_clip_norm", "--resume", "iter-00000006"]
    {
        assert!(err.contains(part), "{part:?} missing: {err}");
    }
    let mut kept_ckpts: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept_ckpts.sort();
    assert_eq!(kept_ckpts.last().map(String::as_str), Some("iter-00000006"), "{kept_ckpts:?}");
    assert!(kept_ckpts.iter().all(|n| !n.contains("partial")), "{kept_ckpts:?}");

    std::fs::write(&ckpt, kept).unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap().replace("lr = 0.001", "lr = 0.0005");
    std::fs::write(&cfg, text).unwrap();
    ok(&["train", "--config", s(&cfg), "--resume"]);
    let lines = log_lines(&run);
    let iterations: Vec<u64> =
        lines.iter().filter(|v| v.get("loss").is_some()).map(|v| v["iteration"].as_u64().unwrap()).collect();
    assert_eq!(iterations, (1..=12).collect::<Vec<_>>());
    let changed = lines.iter().find(|v| v.get("changed").is_some()).expect("a line for the changed lr");
    assert_eq!(changed["iteration"], 6);
    assert_eq!(changed["changed"][0], "optimizer.lr: 0.001 → 0.0005");
    assert!(run.join("best/model.safetensors").is_file());
}
