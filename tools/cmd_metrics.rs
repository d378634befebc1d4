//! `clap-tools metrics`: retrieval metrics of any text × audio similarity matrix.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap_tools::{eval, npy};
use tracing::info;

/// Score a text × audio similarity matrix: t2a and a2t R@1/5/10/50, MedR, MeanR, geometric mean of
/// R1-R5-R10, and the DCASE mAP@10 and mAP@16.
///
/// SIMS is a float32 .npy of shape (captions, clips): row i, column j is the score of caption i against
/// clip j, higher is better, and the captions of clip j are rows j·k … j·k+k−1 (k captions per clip), as
/// the reference (wsntxxn/DCASE2022T6_CLAP) orders them. Ranks follow the reference's metric code: tied
/// scores take the average rank; a2t counts each clip's best-ranked caption; MedR and MeanR 1-based.
/// mAP@10 (DCASE 2022 Task 6B) is the mean over captions of 1/rank for t2a ranks ≤ 10 (mAP@16 the same at 16). R@k, the
/// geometric mean and mAP@k are percentages (0–100), in the table and in --json alike.
#[derive(clap::Args)]
pub struct Args {
    /// Similarity matrix: float32 .npy, captions × clips, rows grouped by clip.
    #[arg(long)]
    sims: PathBuf,
    /// Captions per clip (default: rows / columns).
    #[arg(long)]
    captions_per_clip: Option<usize>,
    /// The relevant (row, column) pairs instead, as a CSV (0-based; `eval --sims S.npy` writes them
    /// as S.pairs.csv). Its header says what the rows are: `caption,clip` — captions of clips (one
    /// clip each, any number per clip), scored both ways; `query,clip` — queries with relevance
    /// judgements (several relevant clips, rows without any left out), scored by relevance (R@k of
    /// the best relevant clip, mAP@10, mAP@16; JSON under "relevance"). A `row,column` file needs
    /// --pairs-kind.
    #[arg(long, conflicts_with = "captions_per_clip")]
    pairs: Option<PathBuf>,
    /// What the rows of a `row,column` pairs file are: captions (of clips) or queries (with
    /// relevance judgements). A file headed caption,clip or query,clip says so itself.
    #[arg(long, requires = "pairs", value_parser = ["captions", "queries"])]
    pairs_kind: Option<String>,
    /// Print the metrics as JSON (keys as the reference names them: R1, R5, R10, R50, MedR, MeanR,
    /// geometric_mean_R1-R5-R10; mAP@10 and mAP@16).
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.captions_per_clip == Some(0) {
        anyhow::bail!("--captions-per-clip must be at least 1");
    }
    let start = Instant::now();
    let array = npy::map_f32(&a.sims)?;
    let read = start.elapsed();
    let start = Instant::now();
    if let Some(pairs) = &a.pairs {
        let kind = a.pairs_kind.as_deref().map(|k| match k {
            "captions" => eval::pairs::PairsKind::Captions,
            _ => eval::pairs::PairsKind::Queries,
        });
        let (json, table) = match eval::pairs::score(pairs, array.data(), &array.shape, kind)
            .map_err(|e| anyhow::anyhow!("{}: {e}", a.sims.display()))?
        {
            eval::pairs::Scored::Grouped(m) => (serde_json::to_string_pretty(&m)?, eval::render(&m)),
            eval::pairs::Scored::Relevance(r) => {
                (serde_json::to_string_pretty(&serde_json::json!({ "relevance": r }))?, eval::render_relevance(&r))
            }
        };
        info!("metrics computed in {:.2} ms", start.elapsed().as_secs_f64() * 1e3);
        if a.json {
            println!("{json}");
        } else {
            print!("{}: {table}", a.sims.display());
        }
        return Ok(());
    }
    let m = eval::evaluate_array(&a.sims, array.data(), &array.shape, a.captions_per_clip)?;
    info!(
        "{}: {} × {} read in {:.1} ms, metrics computed in {:.2} ms",
        a.sims.display(),
        m.captions,
        m.clips,
        read.as_secs_f64() * 1e3,
        start.elapsed().as_secs_f64() * 1e3
    );
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
    } else {
        print!("{}: {}", a.sims.display(), eval::render(&m));
    }
    Ok(())
}
