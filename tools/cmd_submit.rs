//! `clap-tools submit`: a DCASE language-based audio retrieval submission from a checkpoint.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap_tools::eval::submission::{self, SystemInfo, Year};
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
/// order; every name a clip; no clip twice in a row). The YAML holds the submission and system
/// fields of DCASE's meta-information files; the authors are left for you to fill in.
///
/// Labels name the year's task: Lastname_INST_task6b_N (2022, 2023), _task8_N (2024), _task6_N
/// (2025). Clips are named as the evaluation set names them when --names lists them (a file saved
/// with `:` written `_` is submitted under its listed name).
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
    /// The challenge year: 2025 (the score matrix) or 2024 (the top 10 file names; also 2022 and
    /// 2023).
    #[arg(long, default_value = "2025", value_parser = ["2022", "2023", "2024", "2025"])]
    format: String,
    /// The submission label, e.g. Lastname_INST_task6_1 (2025); by default the year's example label
    /// (Lastname_INST_task6b_1, Lastname_INST_task8_1, Lastname_INST_task6_1).
    #[arg(long)]
    label: Option<String>,
    /// The evaluation set's own file names: its relevance CSV (query,audio_filenames, e.g.
    /// metadata_eval.csv) or a CSV with a file_name column (retrieval_audio_metadata.csv). Each clip
    /// is submitted under the name listed for it (matched as is, or as saved with `:` written `_`);
    /// a clip it does not list is an error.
    #[arg(long, value_name = "CSV")]
    names: Option<PathBuf>,
    /// Clips per forward pass (at most; only clips of one length share a pass unless
    /// --padded-batches).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[command(flatten)]
    padding: crate::model_args::Padding,
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
    let year = Year::from_number(a.format.parse()?).ok_or_else(|| anyhow::anyhow!("--format: not a year"))?;
    let label = a.label.clone().unwrap_or_else(|| year.default_label());
    let source = a.model.source();
    let (mut e, tokenizer) = load_with_tokenizer::<Selected>(&source, default_device())?;
    e.batching = a.padding.batching();
    let bar = crate::progress(0, "clips");
    let scored = score_queries(&e, &tokenizer, &a.queries, &a.candidates.get(), a.batch_size, &bar)?;
    bar.finish_and_clear();
    // Submissions name clips by file name (the baseline takes os.path.basename).
    let mut files: Vec<String> =
        scored.audio_ids.iter().map(|id| id.rsplit('/').next().unwrap_or(id).to_string()).collect();
    if let Some(names) = &a.names {
        files = submission::official_names(names, &files)?;
    }
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
    let written = submission::write(&a.output, &label, year, &queries, &files, &scored.sims, &system)?;
    info!("{} queries × {} clips", queries.len(), files.len());
    println!("{}", written.output.display());
    println!("{}", written.meta.display());
    Ok(())
}
