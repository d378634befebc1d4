//! `clap-tools train`: train a CLAP model from a TOML config.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::eval::render;
use clap_tools::train::collective::JobConfig;
use clap_tools::train::config::TrainConfig;
use clap_tools::train::trainer::{train, Event, TrainOptions};
use tracing::info;

/// Train a CLAP model (CNN14 + BERT, contrastive loss) from packed waveforms and caption tables.
///
/// The config (TOML, see configs/) names the data, the model, the optimizer (Adam), the schedule
/// (linear warm-up, cosine decay, per iteration), the batch size, the validation interval and the
/// run folder. Every `train.val_interval` iterations the model is evaluated on the validation set with
/// all retrieval metrics; the best by the t2a geometric mean of R1-R5-R10 is kept in RUN/best/.
/// Periodic checkpoints go to RUN/checkpoints/ (the newest `checkpoint.keep` are kept) and every
/// iteration is logged to RUN/log.jsonl. After an interruption (even kill -9), `--resume` continues
/// from the newest checkpoint with the same schedule, optimizer state and batches.
///
/// The backend is the build's: the CPU by default, `--features cuda` or `--features wgpu` for GPUs.
/// With several GPUs, training is data parallel over all of them (or `--devices N`): each takes a
/// part of every batch and the loss sees the whole batch (`train.batch_size` is the global batch).
///
/// Several processes train as one job when started by slurm (`srun clap-tools train …`: rank,
/// world size and coordinator from SLURM_PROCID, SLURM_STEP_NUM_TASKS and the first node of
/// SLURM_JOB_NODELIST) or by `clap-tools launch` (CLAP_TOOLS_RANK, CLAP_TOOLS_WORLD_SIZE,
/// CLAP_TOOLS_COORDINATOR): each
/// process takes its rows of the global batch, the embeddings of all are gathered before the loss
/// and the gradients summed, so every process takes the step one process would. Rank 0 logs,
/// validates and writes the run folder, which must be on a file system all processes see for
/// --resume.
#[derive(clap::Args)]
pub struct Args {
    /// The run's TOML config (configs/cnn14_bertmedium.toml mirrors the reference's setting).
    #[arg(long)]
    config: PathBuf,
    /// Continue the run from its newest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Stop after this many iterations in total (the schedule still spans the config's total).
    #[arg(long)]
    stop_after: Option<u64>,
    /// Train on the first N devices (overrides the config's train.devices; default: all visible).
    #[arg(long, value_name = "N")]
    devices: Option<usize>,
    /// Override a config key: `--set train.batch_size=64 --set optimizer.lr=3e-4` (any key; the value
    /// in TOML syntax, or plain text for a string; typed and checked like the file; recorded in the
    /// run's config.json). A relative path given here is taken from the working directory.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Start a new run from these weights (fine-tuning): a clap-tools checkpoint folder or the
    /// reference's released .pth; the same as `--set model.init=PATH`. Freeze encoders with
    /// `--set 'model.freeze=["audio"]'`.
    #[arg(long, value_name = "PATH")]
    init: Option<PathBuf>,
    /// Print the resolved config and what the run would train on (clips, captions, parameters per
    /// encoder, epochs), then exit without training.
    #[arg(long)]
    dry_run: bool,
    /// In a job of several processes: where rank 0 listens for the others (HOST:PORT; default under
    /// slurm: the job's first node, port 20000 + job id mod 20000; under `launch`: its own choice).
    #[arg(long, value_name = "HOST:PORT")]
    coordinator: Option<String>,
    /// In a job of several processes: the host name or address the others reach this process at
    /// (default: this host's address on the route to the coordinator).
    #[arg(long, value_name = "HOST")]
    advertise: Option<String>,
    /// In a job of several processes: the longest one exchange may wait for the others before this
    /// process stops with an error (a process that died; rank 0's validation counts here too).
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    collective_timeout: u64,
}

pub fn run(a: Args) -> Result<()> {
    let mut sets = a.sets.clone();
    if let Some(p) = &a.init {
        sets.push(format!("model.init={}", toml::Value::String(p.to_string_lossy().into_owned())));
    }
    let mut cfg = TrainConfig::from_file_with(&a.config, &sets)?;
    if a.devices.is_some() {
        cfg.train.devices = a.devices;
        if let Some(p) = cfg.problems().into_iter().find(|p| p.starts_with("train.")) {
            anyhow::bail!("--devices: {p}");
        }
    }
    if a.dry_run {
        return dry_run(&cfg);
    }
    let timeout = std::time::Duration::from_secs(a.collective_timeout);
    let mut job = JobConfig::from_env(|k| std::env::var(k).ok(), a.coordinator.clone(), timeout)?;
    if let Some(j) = &mut job {
        j.advertise = a.advertise.clone();
    }
    // In a job, rank 0 reports; the others speak only of trouble.
    let lead = job.as_ref().is_none_or(|j| j.rank == 0);
    if let Some(j) = job.as_ref().filter(|_| lead) {
        info!("rank 0 of a job of {} processes; coordinator {}", j.world_size, j.coordinator);
    }
    let opts = TrainOptions { resume: a.resume, stop_after: a.stop_after, job };
    let bar = match lead {
        true => crate::progress(cfg.schedule.total_iterations, "iterations"),
        false => crate::progress::Bar::hidden(),
    };
    let summary = match train(&cfg, &opts, |e| match e {
        Event::Start { total, start, .. } if !lead => {
            bar.set_length(total);
            bar.set_position(start);
        }
        Event::Start { total, start, train_clips, val_clips, val_captions, devices } => {
            bar.set_length(total);
            bar.set_position(start);
            info!(
                "training on {train_clips} clips, validating on {val_clips} clips / {val_captions} captions; backend {}, {devices} device{}; {}",
                clap_tools::backend_name(),
                if devices == 1 { "" } else { "s" },
                if start > 0 { format!("resuming at iteration {start}") } else { "from the start".into() }
            );
        }
        Event::Step { iteration, loss, lr, samples_per_second } => {
            bar.set_position(iteration);
            bar.set_message(format!("loss {loss:.4} lr {lr:.2e} {samples_per_second:.1} samples/s"));
        }
        Event::Validating { iteration } => bar.set_message(format!("validating at iteration {iteration}")),
        Event::Validated { iteration, metrics, best } => {
            bar.suspend(|| {
                info!(
                    "iteration {iteration}: t2a R1 {:.2} R5 {:.2} R10 {:.2} (geometric mean {:.2}), a2t R1 {:.2}, mAP@10 {:.2}{}",
                    metrics.t2a.r1,
                    metrics.t2a.r5,
                    metrics.t2a.r10,
                    metrics.t2a.geometric_mean_r1_r5_r10,
                    metrics.a2t.r1,
                    metrics.map10,
                    if best { " — best so far" } else { "" }
                )
            });
        }
        Event::Checkpoint { path } => bar.suspend(|| info!("checkpoint {}", path.display())),
    }) {
        Ok(s) => s,
        Err(e @ clap_tools::Error::RunExists { .. }) => anyhow::bail!("{e} (--resume continues it)"),
        Err(e) => return Err(e.into()),
    };
    bar.finish_and_clear();
    if !lead {
        return Ok(());
    }
    info!(
        "{} iterations ({:.1} samples/s); best t2a geometric mean {:.2} at iteration {} → {}",
        summary.iterations,
        summary.samples_per_second,
        summary.best_score.unwrap_or(f64::NAN),
        summary.best_iteration.map_or("-".into(), |i| i.to_string()),
        summary.run_dir.join("best").display()
    );
    if let Some(m) = &summary.last_metrics {
        print!("{}", render(m));
    }
    Ok(())
}

/// The resolved config as TOML, then the plan.
fn dry_run(cfg: &TrainConfig) -> Result<()> {
    let p = clap_tools::train::trainer::plan(cfg)?;
    print!("# resolved config\n{}", toml::to_string(cfg)?);
    let m = |n: usize| format!("{:.2} M", n as f64 / 1e6);
    println!(
        "\n# plan\n\
         train: {} clips, {} captions{}\n\
         validation: {} clips, {} captions\n\
         model: audio {} ({} parameters), text {} ({}), projections and scale {}; {} in all\n\
         schedule: {} iterations of {} = {:.1} epochs over the training captions\n\
         start: {}{}\n\
         run folder: {}{}",
        p.train_clips,
        p.train_captions,
        if p.train_no_waveform > 0 {
            format!(" ({} clips with no waveform left out)", p.train_no_waveform)
        } else {
            String::new()
        },
        p.val_clips,
        p.val_captions,
        p.audio_encoder,
        m(p.audio_parameters),
        p.text_encoder,
        m(p.text_parameters),
        m(p.head_parameters),
        m(p.audio_parameters + p.text_parameters + p.head_parameters),
        p.iterations,
        p.batch_size,
        p.epochs,
        p.init
            .as_ref()
            .map_or("new weights (and the encoders' pretrained ones)".to_string(), |i| i.display().to_string()),
        if p.frozen.is_empty() { String::new() } else { format!("; frozen: {:?}", p.frozen) },
        cfg.checkpoint.dir.display(),
        if p.run_exists { " (holds a run: --resume continues it)" } else { "" }
    );
    Ok(())
}
