//! `clap-tools concat`: join tables of one kind.

use std::path::PathBuf;

use anyhow::Result;
use tracing::info;

/// Concatenate tables of one kind into one.
///
/// Captions: captions tables (.parquet) and caption JSONs (.json), mixed, written as .parquet or .json.
/// Clips tables and waveform indexes (.parquet). The reference's TSVs (wav.csv, waveform.csv; .csv or
/// .tsv): the columns common to all inputs are kept. An audio_id found in two inputs with the same
/// content is written once; with different content it is an error that names both inputs.
#[derive(clap::Args)]
pub struct Args {
    /// Input tables, in order.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output table; its extension picks the format.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let rep = clap_tools::concat::concat(&a.inputs, &a.output)?;
    if rep.duplicates > 0 {
        info!("{} audio_ids appeared in several inputs with the same content and were kept once", rep.duplicates);
    }
    info!("{} clips, {} rows from {} inputs → {}", rep.clips, rep.rows, a.inputs.len(), a.output.display());
    Ok(())
}
