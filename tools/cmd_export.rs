//! `clap-tools export`: the standard tables → the reference's formats.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::manifest;
use tracing::info;

/// Write the standard tables in the reference's formats.
#[derive(clap::Subcommand)]
pub enum Target {
    /// Captions table → the reference's caption JSON.
    ///
    /// {"audios": [{"audio_id", "captions": [...]}]}, indented as the reference writes it. Every column is kept, so `import json` of the result gives back the same table.
    Json {
        /// Captions table (.parquet) or caption JSON.
        captions: PathBuf,
        /// Output caption JSON.
        #[arg(short, long)]
        output: PathBuf,
    },
}

pub fn run(t: Target) -> Result<()> {
    match t {
        Target::Json { captions, output } => {
            let rows = manifest::read_captions(&captions)?;
            manifest::caption_json::export(&rows, &captions, &output)?;
            info!("{} captions → {}", rows.len(), output.display());
        }
    }
    Ok(())
}
