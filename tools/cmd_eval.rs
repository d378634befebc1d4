//! `clap-tools eval`: retrieval metrics of a checkpoint on captions (or queries with relevance
//! judgements) and packed waveforms.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap_tools::eval::{
    evaluate_checkpoint, evaluate_retrieval_checkpoint, render, render_relevance, EvalOptions, RetrievalOptions,
};
use clap_tools::model::checkpoint::ModelSource;
use clap_tools_backends::{default_device, Selected};
use tracing::{info, warn};

/// Evaluate a CLAP checkpoint: text-to-audio and audio-to-text R@1/5/10/50, MedR, MeanR, the
/// geometric mean of R1-R5-R10 and the DCASE mAP@10 and mAP@16, on the clips of --waveforms that have captions.
/// R@k, the geometric mean and mAP@k are percentages (0–100), in the table and in --json alike.
///
/// Each clip is embedded whole with all its captions, however many each has (t2a ranks each
/// caption's clip; a2t each clip's best-ranked caption).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: crate::model_args::Model,
    /// Captions tables (Parquet or caption JSON) of the evaluation clips: each caption's own clip is
    /// the one to retrieve.
    #[arg(long, num_args = 1.., required_unless_present = "queries")]
    captions: Vec<PathBuf>,
    /// A retrieval set's queries instead (DCASE: Clotho's retrieval_captions.csv, or the queries
    /// table of `import clotho-retrieval`, or a .txt with one per line), ranked against every clip
    /// of --waveforms and scored by relevance judgements (several relevant clips per query): R@k,
    /// MedR, MeanR of the best relevant clip, mAP@10 and mAP@16 (DCASE 2025's ranking figure).
    #[arg(long, conflicts_with_all = ["captions", "captions_per_clip"])]
    queries: Option<PathBuf>,
    /// Relevance judgements: the DCASE 2025 CSV (query,audio_filenames). With --queries, by default
    /// those of the queries table. With --captions, the judged captions (matched by text) are also
    /// scored with every relevant clip (JSON: under "relevance", beside the single-positive figures).
    #[arg(long)]
    relevance: Option<PathBuf>,
    /// With --queries or --relevance: write each judged query's relevant clips, their ranks and
    /// AP@10/AP@16 as a Parquet table, to look at failures.
    #[arg(long)]
    per_query: Option<PathBuf>,
    /// The evaluation clips: --waveforms, the packed clips' index (waveforms.parquet or
    /// waveform.csv), or, with --queries, --audio-dir, a folder decoded on the fly.
    #[command(flatten)]
    clips: crate::model_args::Candidates,
    /// Keep only the first K captions of each clip, leaving out clips with fewer (the reference's
    /// evaluation takes Clotho's 5).
    #[arg(long, value_name = "K")]
    captions_per_clip: Option<usize>,
    /// Clips per forward pass (at most; only clips of one length share a pass unless
    /// --padded-batches).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[command(flatten)]
    padding: crate::model_args::Padding,
    /// Write the metrics as JSON to this file.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also write the similarity matrix (float32 .npy, captions × clips, rows grouped by clip; with
    /// --queries, queries × clips in the order of the queries and of the sorted audio_ids), and beside
    /// it PATH.pairs.csv, the relevant (row, column) pairs, to score it again with `metrics --pairs`.
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
    let source = a.model.source();
    if let Some(queries) = &a.queries {
        return run_retrieval(&a, &source, queries);
    }
    if a.per_query.is_some() && a.relevance.is_none() {
        bail!("--per-query needs --queries or --relevance (results per judged query)");
    }
    let Some(waveforms) = &a.clips.waveforms else {
        bail!("--audio-dir goes with --queries; to evaluate on --captions, pack the clips and give --waveforms");
    };
    let opts = EvalOptions {
        captions: a.captions.clone(),
        waveforms: waveforms.clone(),
        captions_per_clip: a.captions_per_clip,
        batch_size: a.batch_size,
        batching: a.padding.batching(),
        relevance: a.relevance.clone(),
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
    if let (true, Some(k)) = (done.set.dropped > 0, a.captions_per_clip) {
        warn!("{} clips have fewer than {k} captions; left out (--captions-per-clip)", done.set.dropped);
    }
    info!("evaluated on {}", m.describe());
    let mut json = serde_json::to_value(m)?;
    let mut table = render(m);
    if let Some((r, _)) = &done.relevance {
        info!("{} of the captions judged, {:.2} relevant clips each", r.queries, r.relevant_per_query);
        json["relevance"] = serde_json::to_value(r)?;
        table.push_str(&render_relevance(r));
    }
    finish(&a, serde_json::to_string_pretty(&json)?, table, || {
        if let Some(p) = &a.sims {
            clap_tools::npy::write_f32(p, &[m.captions, m.clips], &done.evaluation.sims)?;
            clap_tools::eval::pairs::write(
                &pairs_path(p),
                clap_tools::eval::pairs::PairsKind::Captions,
                done.set.clip_of.iter().copied().enumerate(),
            )?;
        }
        match (&a.per_query, &done.relevance) {
            (Some(p), Some((_, rows))) => clap_tools::table::write_query_results(p, rows),
            _ => Ok(()),
        }
    })
}

/// Where the pairs of a similarity matrix go: `S.npy` → `S.pairs.csv`.
fn pairs_path(sims: &Path) -> PathBuf {
    sims.with_extension("pairs.csv")
}

/// Write the outputs as one set (`extra`'s and the JSON to -o), then print the JSON or `table`.
fn finish(a: &Args, json: String, table: String, extra: impl FnOnce() -> clap_tools::Result<()>) -> Result<()> {
    clap_tools::atomic::as_set(|| {
        extra()?;
        match &a.output {
            Some(p) => clap_tools::atomic::write_bytes(p, json.as_bytes()),
            None => Ok(()),
        }
    })?;
    if a.json {
        println!("{json}");
    } else {
        print!("{table}");
    }
    Ok(())
}

fn run_retrieval(a: &Args, source: &ModelSource, queries: &Path) -> Result<()> {
    let opts = RetrievalOptions {
        queries: queries.to_path_buf(),
        candidates: a.clips.get(),
        relevance: a.relevance.clone(),
        batch_size: a.batch_size,
        batching: a.padding.batching(),
    };
    let bar = crate::progress(0, "clips");
    let done = evaluate_retrieval_checkpoint::<Selected>(source, &opts, default_device(), &bar)?;
    bar.finish_and_clear();
    let m = &done.metrics;
    info!(
        "{} queries × {} clips; {} of them judged, {:.2} relevant clips each",
        done.queries.len(),
        done.audio_ids.len(),
        m.queries,
        m.relevant_per_query
    );
    let json = serde_json::to_string_pretty(&serde_json::json!({ "relevance": m }))?;
    finish(a, json, render_relevance(m), || {
        if let Some(p) = &a.sims {
            clap_tools::npy::write_f32(p, &[done.queries.len(), done.audio_ids.len()], &done.sims)?;
            clap_tools::eval::pairs::write(
                &pairs_path(p),
                clap_tools::eval::pairs::PairsKind::Queries,
                done.judged_pairs(),
            )?;
        }
        match &a.per_query {
            Some(p) => clap_tools::table::write_query_results(p, &done.results),
            None => Ok(()),
        }
    })
}
