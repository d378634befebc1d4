//! The training loop: Adam, cosine schedule with linear warm-up per iteration, optional gradient
//! clipping, validation every N iterations with all retrieval metrics, the best checkpoint by the
//! t2a geometric mean of R1-R5-R10, periodic checkpoints with retention, a JSONL log, and resume.
//!
//! A run folder holds:
//! - `config.json`: the configuration used;
//! - `log.jsonl`: one line per iteration (loss, lr, logit scale, samples/s) and per validation;
//! - `checkpoints/iter-NNNNNNNN/`: `clap.json` + `model.safetensors` (the model, as `embed` and `eval`
//!   read it), the tokenizer files, `model.bin` + `optimizer.bin` (the model with its parameter ids
//!   and Adam's state, for resuming) and `state.json`;
//! - `best/`: the model of the best validation so far (no optimizer state).
//!
//! Every checkpoint is written under a `.partial` name and renamed when complete, so a kill leaves
//! either the previous checkpoint or the new one. Batches depend only on (seed, iteration) and the
//! random state is reseeded per iteration, so resuming continues exactly where the checkpoint was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, Optimizer};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ElementConversion;
use clap_tools_backends::{burn, AutodiffSelected};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::data::{Loader, TrainSource};
use crate::eval::{evaluate_model, join, EvalSet};
use crate::error::{Error, Result};
use crate::eval::metrics::Metrics;
use crate::model::clap::{Clap, ClapConfig};
use crate::model::logmel::LogMel;
use crate::model::tokenizer::CaptionTokenizer;

/// Files of the text encoder's folder copied into every checkpoint, so a checkpoint folder is all
/// `embed` and `eval` need.
pub const TOKENIZER_FILES: &[&str] =
    &["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"];

/// The learning rate of iteration `i` (0-based): linear warm-up from 0, then half a cosine to 0, as
/// the reference's `cosine_with_warmup` (a LambdaLR stepped once per iteration).
pub fn learning_rate(base: f64, i: u64, warmup: u64, total: u64) -> f64 {
    if i < warmup {
        return base * i as f64 / warmup.max(1) as f64;
    }
    let progress = (i - warmup) as f64 / (total - warmup).max(1) as f64;
    base * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
}

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

#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint of the run folder.
    pub resume: bool,
    /// Stop after this many iterations in total (a shorter run of the same schedule).
    pub stop_after: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct Summary {
    pub run_dir: PathBuf,
    pub iterations: u64,
    pub resumed_from: Option<u64>,
    pub best_iteration: Option<u64>,
    pub best_score: Option<f64>,
    pub last_metrics: Option<Metrics>,
    pub samples_per_second: f64,
}

/// Progress reports for the command line.
pub enum Event<'a> {
    Start { total: u64, start: u64, train_clips: usize, val_clips: usize, val_captions: usize, devices: usize },
    Step { iteration: u64, loss: f32, lr: f64, samples_per_second: f64 },
    Validating { iteration: u64 },
    Validated { iteration: u64, metrics: &'a Metrics, best: bool },
    Checkpoint { path: &'a Path },
}

fn checkpoints_dir(run: &Path) -> PathBuf {
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

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::file(path, e.to_string()))?;
    crate::atomic::write_bytes(path, &bytes)
}

fn remove_dir(path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Write a model checkpoint folder atomically: everything goes to `dest.partial`, which is renamed.
fn save_checkpoint<B: Backend>(
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
struct Log {
    file: std::fs::File,
    path: PathBuf,
}

impl Log {
    /// Open the run's log, keeping only the lines of iterations ≤ `keep_until` (a resumed run
    /// rewrites what the interrupted one logged after its last checkpoint).
    fn open(path: &Path, keep_until: Option<u64>) -> Result<Self> {
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

    fn line(&mut self, value: serde_json::Value) -> Result<()> {
        writeln!(self.file, "{value}").map_err(|e| Error::io(&self.path, e))
    }
}

fn seed_for(seed: u64, iteration: u64) -> u64 {
    let mut r = crate::split::SplitMix64::new(seed ^ iteration.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64()
}

/// Train (or resume) the run of `cfg` with the backend of this build, on `train.devices` of its
/// devices (all it sees when not set).
pub fn train(cfg: &TrainConfig, opts: &TrainOptions, on: impl FnMut(Event)) -> Result<Summary> {
    let mut devices = clap_tools_backends::devices(cfg.train.devices)
        .map_err(|e| Error::Device(format!("train.devices: {e}")))?;
    if devices.len() > cfg.train.batch_size {
        tracing::warn!("{} devices for batches of {}: training on the first {}", devices.len(), cfg.train.batch_size, cfg.train.batch_size);
        devices.truncate(cfg.train.batch_size);
    }
    clap_tools_backends::check_transfers(&devices).map_err(|e| Error::Device(format!("train.devices: {e}")))?;
    train_on::<AutodiffSelected>(cfg, opts, &devices, on)
}

/// [`train`] on any autodiff backend and devices (data parallel when there are several; the first
/// holds the model, the optimizer state and validation).
pub fn train_on<B: AutodiffBackend>(
    cfg: &TrainConfig,
    opts: &TrainOptions,
    devices: &[B::Device],
    mut on: impl FnMut(Event),
) -> Result<Summary> {
    let device = devices.first().ok_or_else(|| Error::Device("no device to train on".into()))?.clone();
    let run = cfg.checkpoint.dir.clone();
    std::fs::create_dir_all(checkpoints_dir(&run)).map_err(|e| Error::io(&run, e))?;

    // Data.
    let text_dir = cfg.model.text.dir();
    let tokenizer = CaptionTokenizer::from_dir(text_dir, cfg.model.max_tokens)?;
    let logmel = LogMel::for_rate(cfg.data.sample_rate)?;
    let train_join = join(&cfg.data.train_captions, &cfg.data.train_waveforms, cfg.data.sample_rate)?;
    if !train_join.no_waveform.is_empty() {
        tracing::warn!(
            "{} training clips have captions but no packed waveform (first: {:?}); they are left out",
            train_join.no_waveform.len(),
            train_join.no_waveform[0]
        );
    }
    let val = EvalSet::new(join(&cfg.data.val_captions, &cfg.data.val_waveforms, cfg.data.sample_rate)?, None)?;
    if val.dropped > 0 {
        tracing::warn!(
            "{} validation clips have fewer than {} captions and are left out of validation",
            val.dropped,
            val.captions_per_clip
        );
    }
    let audio = cfg.model.audio.encoder(crate::model::logmel::N_MELS);
    let text = cfg.model.text.encoder(tokenizer.vocab_size(), cfg.model.max_tokens)?;
    let config =
        ClapConfig { sample_rate: cfg.data.sample_rate, audio, text, shared_dim: cfg.model.shared_dim, max_tokens: cfg.model.max_tokens };
    let source = Arc::new(TrainSource::new(
        train_join,
        logmel.clone(),
        tokenizer.clone(),
        cfg.train.batch_size,
        cfg.data.crop_seconds,
        cfg.train.seed,
        cfg.model.specaugment,
        logmel.samples_for(config.audio.min_frames()),
    )?);

    // Model and optimizer: new, or from the newest checkpoint.
    if config.max_tokens > config.text.max_positions() || tokenizer.vocab_size() > config.text.vocab_size() {
        return Err(Error::file(
            text_dir.join("config.json"),
            format!(
                "model.max_tokens {} needs max_position_embeddings ≥ it (has {}), and the vocabulary's {} tokens need vocab_size ≥ it (has {})",
                config.max_tokens,
                config.text.max_positions(),
                tokenizer.vocab_size(),
                config.text.vocab_size()
            ),
        ));
    }
    let mut optim = AdamConfig::new()
        .with_weight_decay((cfg.optimizer.weight_decay > 0.0).then(|| burn::optim::decay::WeightDecayConfig::new(cfg.optimizer.weight_decay)))
        .with_grad_clipping(cfg.optimizer.grad_clip_norm.map(burn::grad_clipping::GradientClippingConfig::Norm))
        .init::<B, Clap<B>>();
    let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
    let latest = latest_checkpoint(&run)?;
    if !opts.resume && (latest.is_some() || run.join("best").exists()) {
        return Err(Error::file(
            &run,
            "holds checkpoints of an earlier run: resume it, or set checkpoint.dir to a new folder",
        ));
    }
    let resumed = if opts.resume { latest } else { None };
    if let Some((_, dir)) = &resumed {
        check_same_run(&run.join("config.json"), dir, cfg)?;
    }
    restore_best(&run)?;
    let (mut model, mut state) = match &resumed {
        Some((_, dir)) => {
            let saved = ClapConfig::from_dir(dir)?;
            if saved.audio != config.audio
                || saved.text != config.text
                || saved.shared_dim != config.shared_dim
                || saved.sample_rate != config.sample_rate
            {
                return Err(Error::file(dir, "the checkpoint's model differs from the config's; resume with the config the run was started with"));
            }
            // The recorder's copy keeps the parameter ids that the optimizer state refers to.
            let record = recorder
                .load(dir.join("model"), &device)
                .map_err(|e| Error::file(dir.join("model.bin"), format!("cannot read the training state: {e}")))?;
            let model = config.init::<B>(&device)?.load_record(record);
            let record = recorder
                .load(dir.join("optimizer"), &device)
                .map_err(|e| Error::file(dir.join("optimizer.bin"), format!("cannot read the optimizer state: {e}")))?;
            optim = optim.load_record(record);
            let state_path = dir.join("state.json");
            let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
            let state: TrainState =
                serde_json::from_str(&text).map_err(|e| Error::file(&state_path, e.to_string()))?;
            (model, state)
        }
        None => {
            if opts.resume {
                tracing::warn!("{}: no checkpoint to resume from; starting a new run", run.display());
            }
            B::seed(&device, cfg.train.seed);
            let mut model = config.init::<B>(&device)?;
            if let Some(audio) = cfg.model.audio.load_pretrained::<B>(&config.audio, &device)? {
                model.audio_encoder = audio;
            }
            if let Some(text) = cfg.model.text.load_pretrained::<B>(&device)? {
                model.text_encoder = text;
            }
            (model, TrainState { iteration: 0, best_score: None, best_iteration: None, seed: cfg.train.seed, devices: 1 })
        }
    };
    if resumed.is_some() && state.devices != devices.len() {
        tracing::warn!(
            "the run trained on {} device(s) and resumes on {}: batches split differently from here on (BatchNorm statistics per part), so it will not end exactly as an uninterrupted run",
            state.devices,
            devices.len()
        );
    }
    state.devices = devices.len();
    let start = state.iteration;
    write_json(&run.join("config.json"), cfg)?;
    let mut log = Log::open(&run.join("log.jsonl"), resumed.as_ref().map(|(i, _)| *i))?;
    let total = cfg.schedule.total_iterations;
    let end = opts.stop_after.unwrap_or(total).min(total);
    on(Event::Start {
        total,
        start,
        train_clips: source.clips.len(),
        val_clips: val.audio_ids.len(),
        val_captions: val.captions.len(),
        devices: devices.len(),
    });

    let mut loader = Loader::new(source.clone(), start, end, cfg.train.workers);
    let mut last_metrics = None;
    let began = Instant::now();
    let mut samples = 0usize;
    for i in start..end {
        let batch = loader.next_batch().ok_or_else(|| Error::Internal(format!("the batch loader stopped before iteration {}", i + 1)))??;
        let lr = learning_rate(cfg.optimizer.lr, i, cfg.schedule.warmup_iterations, total);
        // burn's backends keep one random stream (the device argument is not used): one seed per
        // iteration makes dropout a function of (seed, iteration).
        B::seed(&device, seed_for(cfg.train.seed, i));
        let (loss, grads) = super::parallel::step(&model, devices, &batch);
        let loss_value: f32 = loss.into_scalar().elem();
        if !loss_value.is_finite() {
            return Err(Error::Training {
                iteration: i + 1,
                msg: format!(
                    "the loss is {loss_value} (clips {:?}); lower optimizer.lr or set optimizer.grad_clip_norm, then resume",
                    batch.audio_ids
                ),
            });
        }
        model = optim.step(lr, model, grads);
        samples += batch.mel.batch;
        let rate = samples as f64 / began.elapsed().as_secs_f64();
        let scale: f32 = model.logit_scale.val().into_scalar().elem();
        log.line(serde_json::json!({"iteration": i + 1, "loss": loss_value, "lr": lr, "logit_scale": scale, "samples_per_s": rate}))?;
        on(Event::Step { iteration: i + 1, loss: loss_value, lr, samples_per_second: rate });
        state.iteration = i + 1;

        let validate = (i + 1) % cfg.train.val_interval == 0 || i + 1 == total;
        let mut best_model = None;
        if validate {
            on(Event::Validating { iteration: i + 1 });
            let inner = model.valid();
            let eval = evaluate_model(&inner, &val, &logmel, &tokenizer, cfg.train.val_batch_size, &device, |_| {})?;
            let score = eval.metrics.t2a.geometric_mean_r1_r5_r10;
            let best = state.best_score.is_none_or(|b| score > b);
            if best {
                state.best_score = Some(score);
                state.best_iteration = Some(i + 1);
                best_model = Some(inner);
            }
            log.line(serde_json::json!({"iteration": i + 1, "val": eval.metrics, "best": best}))?;
            on(Event::Validated { iteration: i + 1, metrics: &eval.metrics, best });
            last_metrics = Some(eval.metrics);
        }
        // The periodic checkpoint (with the new best score in its state) is written before best/, so
        // a resume never starts from a state older than best/.
        if validate || (i + 1) % cfg.checkpoint.every == 0 || i + 1 == end {
            let dest = checkpoints_dir(&run).join(format!("iter-{:08}", i + 1));
            let record = optim.to_record();
            let model_record = model.clone().into_record();
            save_checkpoint(&model.valid(), &config, text_dir, &dest, |p| {
                recorder
                    .record(record, p.join("optimizer"))
                    .map_err(|e| Error::file(p.join("optimizer.bin"), format!("cannot write the optimizer state: {e}")))?;
                recorder
                    .record(model_record, p.join("model"))
                    .map_err(|e| Error::file(p.join("model.bin"), format!("cannot write the training state: {e}")))?;
                write_json(&p.join("state.json"), &state)
            })?;
            on(Event::Checkpoint { path: &dest });
            prune(&run, cfg.checkpoint.keep)?;
        }
        if let Some(inner) = best_model {
            save_checkpoint(&inner, &config, text_dir, &run.join("best"), |p| write_json(&p.join("state.json"), &state))?;
        }
    }
    drop(loader);
    Ok(Summary {
        run_dir: run,
        iterations: state.iteration,
        resumed_from: resumed.map(|(i, _)| i),
        best_iteration: state.best_iteration,
        best_score: state.best_score,
        last_metrics,
        samples_per_second: samples as f64 / began.elapsed().as_secs_f64().max(1e-9),
    })
}

/// Settings that fix what a run computes: a resumed run must have the same ones.
fn check_same_run(saved: &Path, checkpoint: &Path, cfg: &TrainConfig) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(saved) else { return Ok(()) };
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
    same("schedule.warmup_iterations", old.schedule.warmup_iterations.to_string(), cfg.schedule.warmup_iterations.to_string());
    same("schedule.total_iterations", old.schedule.total_iterations.to_string(), cfg.schedule.total_iterations.to_string());
    same("optimizer.lr", old.optimizer.lr.to_string(), cfg.optimizer.lr.to_string());
    same("model.shared_dim", old.model.shared_dim.to_string(), cfg.model.shared_dim.to_string());
    same("model.max_tokens", old.model.max_tokens.to_string(), cfg.model.max_tokens.to_string());
    let n = crate::model::logmel::N_MELS;
    same("model.audio", format!("{:?}", old.model.audio.encoder(n)), format!("{:?}", cfg.model.audio.encoder(n)));
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
            same("model.text.dir", format!("the vocabulary kept in {}", kept.display()), format!("a different {}", now.display()));
        }
    }
    if diff.is_empty() {
        Ok(())
    } else {
        Err(Error::Many { path: saved.to_path_buf(), problems: diff.into_iter().map(|d| format!("resume needs the run's settings: {d}")).collect() })
    }
}

/// A crash between the renames of `best/` can leave only `best.old` (the previous best): put it back.
fn restore_best(run: &Path) -> Result<()> {
    let (best, old) = (run.join("best"), run.join("best.old"));
    if !best.exists() && old.is_dir() {
        std::fs::rename(&old, &best).map_err(|e| Error::io(&best, e))?;
    }
    remove_dir(&run.join("best.partial"))
}

/// Keep the newest `keep` periodic checkpoints; remove older ones and any leftover `.partial`.
fn prune(run: &Path, keep: usize) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra_model: &str) -> TrainConfig {
        let text = format!(
            "[data]\ntrain_captions = [\"t\"]\ntrain_waveforms = \"w\"\nval_captions = [\"v\"]\nval_waveforms = \"w\"\n\
             sample_rate = 32000\ncrop_seconds = 1.0\n[model]\nshared_dim = 8\n[model.audio]\nkind = \"small_cnn\"\n{extra_model}\n\
             [model.text]\nkind = \"small\"\ndir = \"x\"\n[schedule]\nwarmup_iterations = 1\ntotal_iterations = 4\n\
             [train]\nbatch_size = 4\nval_interval = 2\nseed = 1\n[checkpoint]\ndir = \"r\"\nevery = 2\n"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn resume_names_changed_encoder_settings_and_refuses_old_runs() {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("config.json");
        std::fs::write(&saved, serde_json::to_vec(&config("dim = 32")).unwrap()).unwrap();
        assert!(check_same_run(&saved, dir.path(), &config("dim = 32")).is_ok());
        // Leaving out a key that had its default value is not a change.
        std::fs::write(&saved, serde_json::to_vec(&config("dim = 128")).unwrap()).unwrap();
        assert!(check_same_run(&saved, dir.path(), &config("")).is_ok());
        let err = check_same_run(&saved, dir.path(), &config("channels = [8, 8]")).unwrap_err().to_string();
        assert!(err.contains("model.audio"), "{err}");
        // The text folder may move; its vocabulary may not change.
        std::fs::write(dir.path().join("vocab.txt"), "[PAD]\nhello\n").unwrap();
        let err = check_same_run(&saved, dir.path(), &config("dim = 128")).unwrap_err().to_string();
        assert!(err.contains("model.text.dir") && err.contains("vocab.txt"), "{err}");
        std::fs::remove_file(dir.path().join("vocab.txt")).unwrap();

        std::fs::write(&saved, br#"{"model": {"audio_encoder": "cnn14", "text_encoder_dir": "x"}}"#).unwrap();
        let err = check_same_run(&saved, dir.path(), &config("")).unwrap_err().to_string();
        assert!(err.contains("older clap-tools") && err.contains("config.json"), "{err}");
    }

    #[test]
    fn the_schedule_warms_up_then_decays_like_the_reference() {
        assert_eq!(learning_rate(1.0, 0, 20, 100), 0.0);
        assert!((learning_rate(1.0, 10, 20, 100) - 0.5).abs() < 1e-12);
        assert!((learning_rate(1.0, 20, 20, 100) - 1.0).abs() < 1e-12);
        assert!((learning_rate(1.0, 60, 20, 100) - 0.5).abs() < 1e-12);
        assert!(learning_rate(1.0, 99, 20, 100) < 0.01);
    }
}
