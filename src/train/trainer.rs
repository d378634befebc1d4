//! The training loop: Adam, cosine schedule with linear warm-up per iteration, optional gradient
//! clipping, validation every N iterations with all retrieval metrics, the best checkpoint by the
//! t2a geometric mean of R1-R5-R10, periodic checkpoints with retention, a JSONL log, and resume.
//! The run folder it writes is [`super::run`]'s. Batches depend only on (seed, iteration) and the
//! random state is reseeded per iteration, so resuming continues exactly where the checkpoint was.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamConfig, Optimizer};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ElementConversion;
use clap_tools_backends::{burn, AutodiffSelected};

use super::collective::{JobConfig, ProcessGroup};
use super::config::{Part, TrainConfig};
use super::data::{Loader, TrainSource};
use super::run::{
    check_same_run, checkpoints_dir, first_non_finite, latest_checkpoint, prune, restore_best, save_checkpoint,
    write_json, Log,
};
pub use super::run::{TrainState, TOKENIZER_FILES};
use crate::error::{Error, Result};
use crate::eval::metrics::Metrics;
use crate::eval::{evaluate_model, join, EvalSet};
use crate::model::checkpoint::Batching;
use crate::model::clap::{Clap, ClapConfig};
use crate::model::tokenizer::CaptionTokenizer;

/// The learning rate of iteration `i` (0-based): linear warm-up from 0, then half a cosine to 0, as
/// the reference's `cosine_with_warmup` (a LambdaLR stepped once per iteration).
pub fn learning_rate(base: f64, i: u64, warmup: u64, total: u64) -> f64 {
    if i < warmup {
        return base * i as f64 / warmup.max(1) as f64;
    }
    let progress = (i - warmup) as f64 / (total - warmup).max(1) as f64;
    base * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
}

#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint of the run folder.
    pub resume: bool,
    /// Stop after this many iterations in total (a shorter run of the same schedule).
    pub stop_after: Option<u64>,
    /// This process's place in a job of several processes (None: the job is this process).
    pub job: Option<JobConfig>,
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

fn seed_for(seed: u64, iteration: u64) -> u64 {
    let mut r = crate::split::SplitMix64::new(seed ^ iteration.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64()
}

/// Train (or resume) the run of `cfg` with the backend of this build, on `train.devices` of its
/// devices (all it sees when not set).
pub fn train(cfg: &TrainConfig, opts: &TrainOptions, on: impl FnMut(Event)) -> Result<Summary> {
    let mut devices =
        clap_tools_backends::devices(cfg.train.devices).map_err(|e| Error::Device(format!("train.devices: {e}")))?;
    // Several processes on one host, devices not named: each takes the device of its local rank
    // (one process per GPU); one process per host drives all it sees.
    if let Some(job) = opts.job.as_ref().filter(|j| j.local_world_size > 1 && cfg.train.devices.is_none()) {
        let d = devices[job.local_rank % devices.len()].clone();
        devices = vec![d];
    }
    if devices.len() > cfg.train.batch_size {
        tracing::warn!(
            "{} devices for batches of {}: training on the first {}",
            devices.len(),
            cfg.train.batch_size,
            cfg.train.batch_size
        );
        devices.truncate(cfg.train.batch_size);
    }
    clap_tools_backends::check_transfers(&devices).map_err(|e| Error::Device(format!("train.devices: {e}")))?;
    train_on::<AutodiffSelected>(cfg, opts, &devices, on)
}

/// The data and model shape of a config, read and checked before any training.
struct Prepared {
    tokenizer: CaptionTokenizer,
    logmel: crate::model::logmel::LogMel,
    train_join: crate::eval::Joined,
    val: EvalSet,
    config: ClapConfig,
}

fn prepare(cfg: &TrainConfig) -> Result<Prepared> {
    let tokenizer = CaptionTokenizer::from_dir(cfg.model.text.dir(), cfg.model.max_tokens)?;
    let audio = cfg.model.audio.encoder();
    let logmel = audio.front_end(cfg.data.sample_rate)?;
    let train_join = join(&cfg.data.train_captions, &cfg.data.train_waveforms, cfg.data.sample_rate)?;
    if !train_join.no_waveform.is_empty() {
        tracing::warn!(
            "{} training clips have captions but no packed waveform (first: {:?}); they are left out",
            train_join.no_waveform.len(),
            train_join.no_waveform[0]
        );
    }
    let val = EvalSet::new(join(&cfg.data.val_captions, &cfg.data.val_waveforms, cfg.data.sample_rate)?, None)?;
    let text = cfg.model.text.encoder(tokenizer.vocab_size(), cfg.model.max_tokens)?;
    let config = ClapConfig {
        sample_rate: cfg.data.sample_rate,
        audio,
        text,
        shared_dim: cfg.model.shared_dim,
        max_tokens: cfg.model.max_tokens,
    };
    Ok(Prepared { tokenizer, logmel, train_join, val, config })
}

/// The weights of `model.init` (a clap-tools checkpoint folder or a reference `.pth`), checked to be
/// the model of `config`.
fn init_from<B: AutodiffBackend>(
    path: &Path,
    cfg: &TrainConfig,
    config: &ClapConfig,
    device: &B::Device,
) -> Result<Clap<B>> {
    let (model, saved) = if path.is_dir() {
        Clap::<B>::load_dir(path, device)?
    } else {
        // The config names the encoder the checkpoint must hold.
        let kind = crate::model::registry::ReferenceAudioKind::of(&cfg.model.audio);
        Clap::<B>::load_reference(path, &cfg.model.text.dir().join("config.json"), cfg.data.sample_rate, kind, device)?
    };
    let differs: Vec<&str> = [
        ("[model.audio]", saved.audio != config.audio),
        ("[model.text]", saved.text != config.text),
        ("model.shared_dim", saved.shared_dim != config.shared_dim),
        ("data.sample_rate", saved.sample_rate != config.sample_rate),
    ]
    .into_iter()
    .filter_map(|(k, d)| d.then_some(k))
    .collect();
    if !differs.is_empty() {
        return Err(Error::file(
            path,
            format!(
                "model.init: this checkpoint's model differs from the config's in {} (its clap.json or weights give the shape to put in the config)",
                differs.join(", ")
            ),
        ));
    }
    tracing::info!("starting from the weights of {} (new optimizer, schedule from 0)", path.display());
    Ok(model)
}

/// What a run would train on and with (`train --dry-run`): the data as joined and the model's size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub train_clips: usize,
    pub train_captions: usize,
    /// Clips with captions but no packed waveform (left out).
    pub train_no_waveform: usize,
    pub val_clips: usize,
    pub val_captions: usize,
    pub audio_encoder: String,
    pub audio_parameters: usize,
    pub text_encoder: String,
    pub text_parameters: usize,
    /// The two projections into the shared space and the logit scale.
    pub head_parameters: usize,
    pub iterations: u64,
    pub batch_size: usize,
    /// Passes over the training captions the schedule makes.
    pub epochs: f64,
    /// The run folder already holds checkpoints (`--resume` continues it).
    pub run_exists: bool,
    /// The weights a new run starts from.
    pub init: Option<PathBuf>,
    /// Encoders that do not train.
    pub frozen: Vec<Part>,
}

/// Read the data and build the model of `cfg` (on the CPU, weights as initialised) without
/// training: what `train --dry-run` reports.
pub fn plan(cfg: &TrainConfig) -> Result<Plan> {
    let p = prepare(cfg)?;
    let device = Default::default();
    let model = p.config.init::<clap_tools_backends::Cpu>(&device)?;
    let (audio, text) = (model.audio_encoder.num_params(), model.text_encoder.num_params());
    let train_captions: usize = p.train_join.clips.iter().map(|c| c.captions.len()).sum();
    let run = &cfg.checkpoint.dir;
    Ok(Plan {
        train_clips: p.train_join.clips.len(),
        train_captions,
        train_no_waveform: p.train_join.no_waveform.len(),
        val_clips: p.val.audio_ids.len(),
        val_captions: p.val.captions.len(),
        audio_encoder: p.config.audio.kind().to_string(),
        audio_parameters: audio,
        text_encoder: p.config.text.kind().to_string(),
        text_parameters: text,
        head_parameters: model.num_params() - audio - text,
        iterations: cfg.schedule.total_iterations,
        batch_size: cfg.train.batch_size,
        epochs: cfg.schedule.total_iterations as f64 * cfg.train.batch_size as f64 / train_captions.max(1) as f64,
        run_exists: latest_checkpoint(run)?.is_some() || run.join("best").exists(),
        init: cfg.model.init.clone(),
        frozen: cfg.model.freeze.clone(),
    })
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
    // In a job of several processes, rank 0 alone writes the run folder (logs, checkpoints, best/)
    // and validates; the others read it only to resume.
    let (rank, world) = opts.job.as_ref().map_or((0, 1), |j| (j.rank, j.world_size));
    let lead = rank == 0;
    let parts = world * devices.len();
    if cfg.train.batch_size < parts {
        return Err(Error::config(
            "train.batch_size",
            format!(
                "{} rows cannot be split over {world} process(es) × {} device(s)",
                cfg.train.batch_size,
                devices.len()
            ),
        ));
    }
    if lead {
        std::fs::create_dir_all(checkpoints_dir(&run)).map_err(|e| Error::io(&run, e))?;
    }

    let Prepared { tokenizer, logmel, train_join, val, config } = prepare(cfg)?;
    let group = match &opts.job {
        Some(job) => Some(ProcessGroup::<B::InnerBackend>::join(job, &device)?),
        None => None,
    };
    let text_dir = cfg.model.text.dir();
    let source = Arc::new(
        TrainSource::new(
            train_join,
            logmel.clone(),
            tokenizer.clone(),
            cfg.train.batch_size,
            cfg.data.crop_seconds,
            cfg.train.seed,
            cfg.model.specaugment,
            logmel.samples_for(config.audio.min_frames()),
        )?
        .for_process(rank, world),
    );

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
        .with_weight_decay(
            (cfg.optimizer.weight_decay > 0.0)
                .then(|| burn::optim::decay::WeightDecayConfig::new(cfg.optimizer.weight_decay)),
        )
        .with_grad_clipping(cfg.optimizer.grad_clip_norm.map(burn::grad_clipping::GradientClippingConfig::Norm))
        .init::<B, Clap<B>>();
    let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
    let latest = latest_checkpoint(&run)?;
    if lead && !opts.resume && (latest.is_some() || run.join("best").exists()) {
        return Err(Error::RunExists { run: run.clone() });
    }
    let resumed = if opts.resume { latest } else { None };
    let changed = match &resumed {
        Some((_, dir)) => check_same_run(&run.join("config.json"), dir, cfg)?,
        None => Vec::new(),
    };
    if lead {
        restore_best(&run)?;
    }
    let (mut model, mut state) = match &resumed {
        Some((_, dir)) => {
            let saved = ClapConfig::from_dir(dir)?;
            if saved.audio != config.audio
                || saved.text != config.text
                || saved.shared_dim != config.shared_dim
                || saved.sample_rate != config.sample_rate
            {
                return Err(Error::file(
                    dir,
                    "the checkpoint's model differs from the config's; resume with the config the run was started with",
                ));
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
            let state: TrainState = serde_json::from_str(&text).map_err(|e| Error::file(&state_path, e.to_string()))?;
            (model, state)
        }
        None => {
            if opts.resume {
                tracing::warn!("{}: no checkpoint to resume from; starting a new run", run.display());
            }
            B::seed(&device, cfg.train.seed);
            let model = match &cfg.model.init {
                Some(path) => init_from::<B>(path, cfg, &config, &device)?,
                None => {
                    let mut model = config.init::<B>(&device)?;
                    if let Some(audio) = cfg.model.audio.load_pretrained::<B>(&config.audio, &device)? {
                        model.audio_encoder = audio;
                    }
                    if let Some(text) = cfg.model.text.load_pretrained::<B>(&device)? {
                        model.text_encoder = text;
                    }
                    model
                }
            };
            // burn makes parameter values at first use: make them now, so the initial weights come
            // from the seed alone, whatever runs first (one device or several, one process or several).
            super::collective::materialize(&model);
            (
                model,
                TrainState { iteration: 0, best_score: None, best_iteration: None, seed: cfg.train.seed, devices: 1 },
            )
        }
    };
    if lead && resumed.is_some() && state.devices != parts {
        tracing::warn!(
            "the run trained on {} device(s) and resumes on {parts}: batches split differently from here on (BatchNorm statistics per part), so it will not end exactly as an uninterrupted run",
            state.devices,
        );
    }
    state.devices = parts;
    let start = state.iteration;
    if let Some(g) = &group {
        if !g.same_everywhere(start, "agreeing on the iteration to start from")? {
            return Err(Error::config(
                "checkpoint.dir",
                format!(
                    "rank {rank} starts at iteration {start} and another process elsewhere: {} must be on a file system every process of the job sees",
                    run.display()
                ),
            ));
        }
    }
    let frozen = super::parallel::Frozen {
        audio: cfg.model.freeze.contains(&Part::Audio),
        text: cfg.model.freeze.contains(&Part::Text),
    };
    let mut log = match lead {
        true => {
            write_json(&run.join("config.json"), cfg)?;
            Some(Log::open(&run.join("log.jsonl"), resumed.as_ref().map(|(i, _)| *i))?)
        }
        false => None,
    };
    let mut tensorboard = match cfg.train.tensorboard && lead {
        // A resumed session logs again from the step after its checkpoint: readers drop what an
        // earlier session logged from there on.
        true => Some(super::tensorboard::EventWriter::create(&run, resumed.as_ref().map(|(i, _)| *i + 1))?),
        false => None,
    };
    if !changed.is_empty() {
        tracing::warn!("resuming at iteration {start} with changed settings: {}", changed.join(", "));
        if let Some(log) = &mut log {
            log.line(serde_json::json!({"iteration": start, "changed": changed}))?;
        }
    }
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
        let batch = loader
            .next_batch()
            .ok_or_else(|| Error::Internal(format!("the batch loader stopped before iteration {}", i + 1)))??;
        let lr = learning_rate(cfg.optimizer.lr, i, cfg.schedule.warmup_iterations, total);
        let step_began = Instant::now();
        // One seed per iteration (and part, see parallel::step) makes dropout a function of (seed,
        // iteration).
        let (loss, grads) =
            super::parallel::step(&model, devices, &batch, frozen, seed_for(cfg.train.seed, i), group.as_ref())?;
        // Every process applies the sum of all processes' gradients: the same step everywhere.
        let grads = match &group {
            Some(g) => g.sum_gradients(&model, grads)?,
            None => grads,
        };
        let loss_value: f32 = loss.into_scalar().elem();
        if !loss_value.is_finite() {
            return Err(Error::Training {
                iteration: i + 1,
                msg: format!(
                    "the loss is {loss_value} (clips {:?}); lower optimizer.lr or set optimizer.grad_clip_norm (or check those clips), then run again with --resume: it continues from {}",
                    batch.audio_ids,
                    latest_checkpoint(&run)?.map_or("the start".to_string(), |(_, d)| d.display().to_string())
                ),
            });
        }
        model = optim.step(lr, model, grads);
        samples += batch.global_batch;
        let rate = samples as f64 / began.elapsed().as_secs_f64();
        let scale: f32 = model.logit_scale.val().into_scalar().elem();
        if let Some(log) = &mut log {
            let mut line = serde_json::json!({"iteration": i + 1, "loss": loss_value, "lr": lr, "logit_scale": scale,
                "samples_per_s": rate, "step_s": step_began.elapsed().as_secs_f64()});
            // In a job: the part of the step spent exchanging with the other processes (waiting
            // for the slowest included).
            if let Some(g) = &group {
                line["exchange_s"] = g.take_exchange_time().as_secs_f64().into();
            }
            log.line(line)?;
        }
        if let Some(tb) = &mut tensorboard {
            tb.scalars(
                i + 1,
                &[
                    ("train/loss", loss_value as f64),
                    ("train/lr", lr),
                    ("train/logit_scale", scale as f64),
                    ("train/samples_per_s", rate),
                ],
            )?;
        }
        on(Event::Step { iteration: i + 1, loss: loss_value, lr, samples_per_second: rate });
        state.iteration = i + 1;

        let validate = lead && ((i + 1) % cfg.train.val_interval == 0 || i + 1 == total);
        let mut best_model = None;
        if validate {
            on(Event::Validating { iteration: i + 1 });
            let inner = model.valid();
            let batching = if cfg.train.padded_val_batches { Batching::Padded } else { Batching::EqualLengths };
            let eval =
                evaluate_model(&inner, &val, &logmel, &tokenizer, cfg.train.val_batch_size, batching, &device, |_| {})?;
            let score = eval.metrics.t2a.geometric_mean_r1_r5_r10;
            let best = state.best_score.is_none_or(|b| score > b);
            if best {
                state.best_score = Some(score);
                state.best_iteration = Some(i + 1);
                best_model = Some(inner);
            }
            if let Some(log) = &mut log {
                log.line(serde_json::json!({"iteration": i + 1, "val": eval.metrics, "best": best}))?;
            }
            if let Some(tb) = &mut tensorboard {
                let values = super::tensorboard::validation_scalars(&eval.metrics);
                let refs: Vec<(&str, f64)> = values.iter().map(|(t, v)| (t.as_str(), *v)).collect();
                tb.scalars(i + 1, &refs)?;
            }
            on(Event::Validated { iteration: i + 1, metrics: &eval.metrics, best });
            last_metrics = Some(eval.metrics);
        }
        let save = lead && (validate || (i + 1) % cfg.checkpoint.every == 0 || i + 1 == end);
        // A checkpoint is never written with NaN or infinite weights (a finite loss can still be
        // followed by a step that overflows): stop, naming the parameter and the last good one.
        if save {
            if let Some(param) = first_non_finite(&model) {
                return Err(Error::Training {
                    iteration: i + 1,
                    msg: format!(
                        "parameter {param} holds NaN or infinite values after this step; no checkpoint was written. Lower optimizer.lr or set optimizer.grad_clip_norm, then run again with --resume: it continues from {}",
                        latest_checkpoint(&run)?.map_or("the start".to_string(), |(_, d)| d.display().to_string())
                    ),
                });
            }
        }
        // The periodic checkpoint (with the new best score in its state) is written before best/, so
        // a resume never starts from a state older than best/.
        if save {
            let dest = checkpoints_dir(&run).join(format!("iter-{:08}", i + 1));
            let record = optim.to_record();
            let model_record = model.clone().into_record();
            save_checkpoint(&model.valid(), &config, text_dir, &dest, |p| {
                recorder.record(record, p.join("optimizer")).map_err(|e| {
                    Error::file(p.join("optimizer.bin"), format!("cannot write the optimizer state: {e}"))
                })?;
                recorder
                    .record(model_record, p.join("model"))
                    .map_err(|e| Error::file(p.join("model.bin"), format!("cannot write the training state: {e}")))?;
                write_json(&p.join("state.json"), &state)
            })?;
            on(Event::Checkpoint { path: &dest });
            prune(&run, cfg.checkpoint.keep)?;
        }
        if let Some(inner) = best_model {
            save_checkpoint(&inner, &config, text_dir, &run.join("best"), |p| {
                write_json(&p.join("state.json"), &state)
            })?;
        }
    }
    drop(loader);
    if let Some(g) = group {
        // rank 0 hosts the orchestrator: no process leaves before all are done.
        g.barrier("finishing the job")?;
        g.finish();
    }
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
