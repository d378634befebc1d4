//! The run folder: its layout, checkpoints written atomically, retention, the best model, the JSONL
//! log, and the checks that make a resume continue the same run.
//!
//! A run folder holds:
//! - `config.json`: the configuration used (paths absolute);
//! - `log.jsonl`: one line per iteration (loss, lr, logit scale, samples/s) and per validation;
//! - `checkpoints/iter-NNNNNNNN/`: `clap.json` + `model.safetensors` (the model, as `embed` and `eval`
//!   read it), the tokenizer files, `model.bin` + `optimizer.bin` (the model with its parameter ids
//!   and Adam's state, for resuming) and `state.json`;
//! - `best/`: the model of the best validation so far (no optimizer state).
//!
//! Every checkpoint is written under a `.partial` name and renamed when complete, so a kill leaves
//! either the previous checkpoint or the new one.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::clap::{Clap, ClapConfig};

/// Files of the text encoder's folder copied into every checkpoint, so a checkpoint folder is all
/// `embed` and `eval` need.
pub const TOKENIZER_FILES: &[&str] =
    &["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

/// What a checkpoint's `state.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Iterations completed.
    pub iteration: u64,
    pub best_score: Option<f64>,
    pub best_iteration: Option<u64>,
    pub seed: u64,
    /// Devices the run trained on (the batch parts, and so BatchNorm's statistics, follow them).
    #[serde(default = "one")]
    pub devices: usize,
}

fn one() -> usize {
    1
}

pub(crate) fn checkpoints_dir(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

/// The newest complete checkpoint of a run (a folder `iter-N` with its `state.json`).
pub fn latest_checkpoint(run: &Path) -> Result<Option<(u64, PathBuf)>> {
    let dir = checkpoints_dir(run);
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let path = entry.map_err(|e| Error::io(&dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(n) = name.strip_prefix("iter-").and_then(|n| n.parse::<u64>().ok()) else { continue };
        if path.join("state.json").is_file() && best.as_ref().is_none_or(|(b, _)| n > *b) {
            best = Some((n, path));
        }
    }
    Ok(best)
}

pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::file(path, e.to_string()))?;
    crate::atomic::write_bytes(path, &bytes)
}

pub(crate) fn remove_dir(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Write a model checkpoint folder atomically: everything goes to `dest.partial`, which is renamed.
pub(crate) fn save_checkpoint<B: Backend>(
    model: &Clap<B>,
    config: &ClapConfig,
    text_dir: &Path,
    dest: &Path,
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let partial = dest.with_extension("partial");
    remove_dir(&partial)?;
    model.save_dir(config, &partial)?;
    for f in TOKENIZER_FILES {
        let src = text_dir.join(f);
        if src.is_file() {
            std::fs::copy(&src, partial.join(f)).map_err(|e| Error::io(&src, e))?;
        }
    }
    extra(&partial)?;
    // Replace an older folder of the same name: move it aside first so a crash keeps one of them.
    let old = dest.with_extension("old");
    if dest.exists() {
        remove_dir(&old)?;
        std::fs::rename(dest, &old).map_err(|e| Error::io(dest, e))?;
    }
    std::fs::rename(&partial, dest).map_err(|e| Error::io(dest, e))?;
    remove_dir(&old)
}

/// Append lines to the JSONL log.
pub(crate) struct Log {
    file: std::fs::File,
    path: PathBuf,
}

impl Log {
    /// Open the run's log, keeping only the lines of iterations ≤ `keep_until` (a resumed run
    /// rewrites what the interrupted one logged after its last checkpoint).
    pub(crate) fn open(path: &Path, keep_until: Option<u64>) -> Result<Self> {
        let kept: String = match (keep_until, std::fs::read_to_string(path)) {
            (Some(until), Ok(text)) => text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v["iteration"].as_u64())
                        .is_some_and(|i| i <= until)
                })
                .map(|l| format!("{l}\n"))
                .collect(),
            _ => String::new(),
        };
        crate::atomic::write_bytes(path, kept.as_bytes())?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    pub(crate) fn line(&mut self, value: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{value}").map_err(|e| Error::io(&self.path, e))
    }
}

/// Settings that fix what a run computes: a resumed run must have the same ones.
/// Check that `cfg` continues the run whose config was saved at `saved`. The optimizer's step size
/// and clipping may change (the way to steer a run whose loss diverged); they are returned as
/// "key: old → new" notes for the caller to report.
pub(crate) fn check_same_run(saved: &Path, checkpoint: &Path, cfg: &TrainConfig) -> Result<Vec<String>> {
    let Ok(text) = std::fs::read_to_string(saved) else { return Ok(Vec::new()) };
    let old: TrainConfig = serde_json::from_str(&text).map_err(|e| {
        let older = ["audio_encoder", "text_encoder_dir"].iter().any(|k| text.contains(&format!("\"{k}\"")));
        Error::file(
            saved,
            if older {
                "written by an older clap-tools (before [model.audio] and [model.text]): this run cannot be resumed; start a new one (its best/ still works with eval and embed)".to_string()
            } else {
                format!("not a run config: {e}")
            },
        )
    })?;
    let mut diff = Vec::new();
    let mut same = |key: &str, a: String, b: String| {
        if a != b {
            diff.push(format!("{key}: {a} in the run, {b} now"));
        }
    };
    same("train.seed", old.train.seed.to_string(), cfg.train.seed.to_string());
    same("train.batch_size", old.train.batch_size.to_string(), cfg.train.batch_size.to_string());
    same("data.crop_seconds", old.data.crop_seconds.to_string(), cfg.data.crop_seconds.to_string());
    same("data.sample_rate", old.data.sample_rate.to_string(), cfg.data.sample_rate.to_string());
    same(
        "schedule.warmup_iterations",
        old.schedule.warmup_iterations.to_string(),
        cfg.schedule.warmup_iterations.to_string(),
    );
    same(
        "schedule.total_iterations",
        old.schedule.total_iterations.to_string(),
        cfg.schedule.total_iterations.to_string(),
    );
    same("model.shared_dim", old.model.shared_dim.to_string(), cfg.model.shared_dim.to_string());
    same("model.max_tokens", old.model.max_tokens.to_string(), cfg.model.max_tokens.to_string());
    same("model.freeze", format!("{:?}", old.model.freeze), format!("{:?}", cfg.model.freeze));
    same("model.audio", format!("{:?}", old.model.audio.encoder()), format!("{:?}", cfg.model.audio.encoder()));
    // The text settings but the folder (which may move with the run; its vocabulary is compared below).
    let text = |t: &super::config::TextSection| {
        let mut t = t.clone();
        t.paths_mut().into_iter().for_each(|p| *p = PathBuf::new());
        format!("{t:?}")
    };
    same("model.text", text(&old.model.text), text(&cfg.model.text));
    // The text folder may have moved with the run (paths are relative to the config): what must not
    // change is the vocabulary, which every checkpoint keeps a copy of.
    for f in TOKENIZER_FILES {
        let (kept, now) = (checkpoint.join(f), cfg.model.text.dir().join(f));
        if std::fs::read(&kept).ok() != std::fs::read(&now).ok() {
            same(
                "model.text.dir",
                format!("the vocabulary kept in {}", kept.display()),
                format!("a different {}", now.display()),
            );
        }
    }
    if diff.is_empty() {
        let mut changed = Vec::new();
        if old.optimizer.lr != cfg.optimizer.lr {
            changed.push(format!("optimizer.lr: {} → {}", old.optimizer.lr, cfg.optimizer.lr));
        }
        if old.optimizer.grad_clip_norm != cfg.optimizer.grad_clip_norm {
            let show = |v: Option<f32>| v.map_or("none".to_string(), |v| v.to_string());
            let (a, b) = (show(old.optimizer.grad_clip_norm), show(cfg.optimizer.grad_clip_norm));
            changed.push(format!("optimizer.grad_clip_norm: {a} → {b}"));
        }
        Ok(changed)
    } else {
        Err(Error::Many {
            path: saved.to_path_buf(),
            problems: diff.into_iter().map(|d| format!("resume needs the run's settings: {d}")).collect(),
        })
    }
}

/// A crash between the renames of `best/` can leave only `best.old` (the previous best): put it back.
pub(crate) fn restore_best(run: &Path) -> Result<()> {
    let (best, old) = (run.join("best"), run.join("best.old"));
    if !best.exists() && old.is_dir() {
        std::fs::rename(&old, &best).map_err(|e| Error::io(&best, e))?;
    }
    remove_dir(&run.join("best.partial"))
}

/// Keep the newest `keep` periodic checkpoints; remove older ones and any leftover `.partial`.
pub(crate) fn prune(run: &Path, keep: usize) -> Result<()> {
    let dir = checkpoints_dir(run);
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let path = entry.map_err(|e| Error::io(&dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if name.ends_with(".partial") || name.ends_with(".old") {
            remove_dir(&path)?;
        } else if let Some(n) = name.strip_prefix("iter-").and_then(|n| n.parse::<u64>().ok()) {
            found.push((n, path));
        }
    }
    found.sort();
    let excess = found.len().saturating_sub(keep);
    for (_, path) in found.into_iter().take(excess) {
        remove_dir(&path)?;
    }
    Ok(())
}

/// The path of the first float parameter of `model` that holds a NaN or an infinity (e.g.
/// `audio_proj.weight`), if any: a checkpoint is never written with one.
pub fn first_non_finite<B: Backend, M: burn::module::Module<B>>(model: &M) -> Option<String> {
    struct Finder {
        path: Vec<String>,
        found: Option<String>,
    }
    impl<B: Backend> burn::module::ModuleVisitor<B> for Finder {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::tensor::Tensor<B, D>>) {
            use burn::tensor::ElementConversion;
            // Counted as ints: the backends' bool element types differ.
            if self.found.is_none() && param.val().is_finite().bool_not().int().sum().into_scalar().elem::<i64>() > 0 {
                self.found = Some(self.path.join("."));
            }
        }
    }
    let mut f = Finder { path: Vec::new(), found: None };
    model.visit(&mut f);
    f.found
}

#[cfg(test)]
mod finite_tests {
    use super::*;
    use burn::module::{Module, Param};
    use burn::tensor::Tensor;
    use clap_tools_backends::Cpu;

    #[derive(Module, Debug)]
    struct Two<B: Backend> {
        a: burn::nn::Linear<B>,
        b: burn::nn::Linear<B>,
    }

    #[test]
    fn the_first_non_finite_parameter_is_named() {
        clap_tools_backends::own_process!(1, {
            let device = Default::default();
            let lin = || burn::nn::LinearConfig::new(3, 2).init::<Cpu>(&device);
            let mut m = Two { a: lin(), b: lin() };
            assert_eq!(first_non_finite::<Cpu, _>(&m), None);
            let w = m.b.weight.val().slice([0..1, 0..1]);
            let poisoned = m.b.weight.val().slice_assign([0..1, 0..1], w.mul_scalar(f32::INFINITY));
            m.b.weight = Param::from_tensor(poisoned);
            assert_eq!(first_non_finite::<Cpu, _>(&m).as_deref(), Some("b.weight"));
            m.a.bias = Some(Param::from_tensor(Tensor::<Cpu, 1>::from_floats([0.0, f32::NAN], &device)));
            assert_eq!(first_non_finite::<Cpu, _>(&m).as_deref(), Some("a.bias"));
        });
    }
}
