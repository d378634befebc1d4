//! `clap-tools eval`: retrieval metrics of a checkpoint on captions and packed waveforms.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap_tools::eval::{evaluate_checkpoint, render, EvalOptions};
use clap_tools::model::checkpoint::ModelSource;
use clap_tools_backends::{default_device, Selected};
use tracing::{info, warn};

/// Evaluate a CLAP checkpoint: text-to-audio and audio-to-text R@1/5/10/50, MedR, MeanR, the
/// geometric mean of R1-R5-R10 and the DCASE mAP@10, on the clips of --waveforms that have captions.
/// R@k, the geometric mean and mAP@10 are percentages (0–100), in the table and in --json alike.
///
/// Each clip is embedded whole; each clip contributes its first K captions (--captions-per-clip,
/// default the most common count; clips with fewer are left out and reported), as the metrics need
/// the same number of captions per clip.
#[derive(clap::Args)]
pub struct Args {
    /// A clap-tools checkpoint folder (RUN/best, RUN/checkpoints/iter-N) or a reference .pth.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text encoder folder (config.json + vocab); a clap-tools checkpoint folder carries its own.
    #[arg(long)]
    text_encoder: Option<PathBuf>,
    /// Captions tables (Parquet or caption JSON) of the evaluation clips.
    #[arg(long, required = true, num_args = 1..)]
    captions: Vec<PathBuf>,
    /// Waveform index of the packed evaluation clips (waveform.csv or waveforms.parquet).
    #[arg(long)]
    waveforms: PathBuf,
    #[arg(long)]
    captions_per_clip: Option<usize>,
    /// Clips per forward pass.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Front-end sample rate of a reference checkpoint.
    #[arg(long, default_value_t = 32000)]
    sample_rate: u32,
    /// Write the metrics as JSON to this file.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also write the similarity matrix (float32 .npy, captions × clips, rows grouped by clip).
    #[arg(long)]
    sims: Option<PathBuf>,
    /// Print the metrics as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.captions_per_clip == Some(0) || a.batch_size == 0 {
        bail!("--captions-per-clip and --batch-size must be at least 1");
    }
    let source = ModelSource {
        checkpoint: a.checkpoint.clone(),
        text_encoder: a.text_encoder.clone(),
        sample_rate: a.sample_rate,
    };
    let opts = EvalOptions {
        captions: a.captions.clone(),
        waveforms: a.waveforms.clone(),
        captions_per_clip: a.captions_per_clip,
        batch_size: a.batch_size,
    };
    let bar = crate::progress(0, "clips");
    let done = evaluate_checkpoint::<Selected>(&source, &opts, default_device(), &bar)?;
    bar.finish_and_clear();
    if !done.no_waveform.is_empty() {
        warn!(
            "{} clips have captions but no packed waveform (first: {:?}); left out",
            done.no_waveform.len(),
            done.no_waveform[0]
        );
    }
    let m = &done.evaluation.metrics;
    if done.set.dropped > 0 {
        warn!("{} clips have fewer than {} captions; left out", done.set.dropped, m.captions_per_clip);
    }
    info!("evaluated on {} clips × {} captions each", m.clips, m.captions_per_clip);
    if let Some(p) = &a.sims {
        clap_tools::npy::write_f32(p, &[m.captions, m.clips], &done.evaluation.sims)?;
    }
    let json = serde_json::to_string_pretty(m)?;
    if let Some(p) = &a.output {
        clap_tools::atomic::write_bytes(p, json.as_bytes())?;
    }
    if a.json {
        println!("{json}");
    } else {
        print!("{}", render(m));
    }
    Ok(())
}
