//! `clap-tools submit`: a DCASE language-based audio retrieval submission from a checkpoint.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap_tools::eval::submission::{self, Format, SystemInfo};
use clap_tools::eval::{load_with_tokenizer, score_queries};
use clap_tools_backends::{default_device, Selected};
use tracing::info;

/// Write a DCASE retrieval submission: `<LABEL>.output.csv` and `<LABEL>.meta.yaml` in OUTDIR.
///
/// Every query is scored against every clip of --audio-dir (decoded on the fly) or --waveforms (the
/// folder packed once, faster when scored again).
/// --format 2025 (default) writes the full score matrix: header `index` then one column per audio
/// file name, one row per query (first column the query text), as the 2025 baseline's predict.py
/// writes it. --format 2024 (2022–2024) writes `caption,fname_1,…,fname_10`: per query its 10
/// best-scored file names in rank order. The file is read back and checked (every query once, in
/// order; every name a clip; no clip twice in a row). The YAML holds the submission fields; the
/// authors are left for you to fill in.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: crate::model_args::Model,
    /// The queries: Clotho's retrieval_captions.csv, the queries table of `import clotho-retrieval`,
    /// or a .txt with one per line.
    #[arg(long)]
    queries: PathBuf,
    #[command(flatten)]
    candidates: crate::model_args::Candidates,
    /// Folder for the two files (created if needed).
    #[arg(short, long)]
    output: PathBuf,
    /// 2025 (the score matrix) or 2024 (the top 10 file names; also 2022 and 2023).
    #[arg(long, default_value = "2025", value_parser = ["2022", "2023", "2024", "2025"])]
    format: String,
    /// The submission label, e.g. Lastname_INST_task6_1.
    #[arg(long, default_value = "clap-tools_task6_1")]
    label: String,
    /// Clips per forward pass.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
}

/// The caption tables a clap-tools run trained on, when the checkpoint is one of its folders
/// (RUN/best, RUN/checkpoints/iter-N: the run's config.json is above it).
fn training_data(checkpoint: &std::path::Path) -> Vec<String> {
    let config = checkpoint.ancestors().skip(1).take(2).map(|d| d.join("config.json")).find(|p| p.is_file());
    let Some(text) = config.and_then(|p| std::fs::read_to_string(p).ok()) else { return Vec::new() };
    match serde_json::from_str::<clap_tools::train::config::TrainConfig>(&text) {
        Ok(cfg) => cfg.data.train_captions.iter().map(|p| p.display().to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

pub fn run(a: Args) -> Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let format = if a.format == "2025" { Format::Scores } else { Format::Top10 };
    let source = a.model.source();
    let (e, tokenizer) = load_with_tokenizer::<Selected>(&source, default_device())?;
    let bar = crate::progress(0, "clips");
    let scored = score_queries(&e, &tokenizer, &a.queries, &a.candidates.get(), a.batch_size, &bar)?;
    bar.finish_and_clear();
    // Submissions name clips by file name (the baseline takes os.path.basename).
    let files: Vec<String> =
        scored.audio_ids.iter().map(|id| id.rsplit('/').next().unwrap_or(id).to_string()).collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = files.iter().find(|f| !seen.insert(f.as_str())) {
        bail!(
            "{}: two clips have the file name {dup:?}; a submission names clips by file name",
            a.candidates.get().path().display()
        );
    }
    use clap_tools_backends::burn::module::Module;
    let system = SystemInfo {
        audio_encoder: e.config.audio.kind().to_string(),
        text_encoder: e.config.text.kind().to_string(),
        parameters: e.model.num_params(),
        sample_rate: e.config.sample_rate,
        checkpoint: a.model.checkpoint.display().to_string(),
        training_data: training_data(&a.model.checkpoint),
    };
    let queries: Vec<String> = scored.queries.iter().map(|q| q.query.clone()).collect();
    let written = submission::write(&a.output, &a.label, format, &queries, &files, &scored.sims, &system)?;
    info!("{} queries × {} clips", queries.len(), files.len());
    println!("{}", written.output.display());
    println!("{}", written.meta.display());
    Ok(())
}
