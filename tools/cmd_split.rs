//! `clap-tools split`: seeded train/validation split by clip.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::{manifest, split};
use tracing::{info, warn};

/// Split captions into training and validation sets by clip.
///
/// All captions of a clip land on one side. The same input, size and seed give the same split on every machine (the shuffle is SplitMix64 +
/// Fisher–Yates over the sorted audio_ids, independent of row order). Outputs keep the input's format
/// (.parquet or .json) unless named otherwise.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("size").required(true).args(["val_clips", "val_fraction", "val_ref"])))]
pub struct Args {
    /// Captions table (.parquet) or caption JSON (.json).
    input: PathBuf,
    /// Put this many clips in validation.
    #[arg(long)]
    val_clips: Option<usize>,
    /// Put this fraction of the clips in validation (rounded, at least one).
    #[arg(long)]
    val_fraction: Option<f64>,
    /// Put the clips listed in this file in validation: a captions table or caption JSON, a TSV with
    /// an audio_id column (wav.csv), or a text file with one audio_id per line.
    #[arg(long)]
    val_ref: Option<PathBuf>,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Training output (default: INPUT's stem + "_train", same extension).
    #[arg(long)]
    train_out: Option<PathBuf>,
    /// Validation output (default: INPUT's stem + "_val", same extension).
    #[arg(long)]
    val_out: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let size = match (a.val_clips, a.val_fraction, a.val_ref) {
        (Some(n), _, _) => split::ValidationSize::Clips(n),
        (_, Some(f), _) => split::ValidationSize::Fraction(f),
        (_, _, Some(p)) => split::ValidationSize::Reference(p),
        _ => unreachable!("clap requires one"),
    };
    let (default_train, default_val) = split::default_outputs(&a.input);
    let train_out = a.train_out.unwrap_or(default_train);
    let val_out = a.val_out.unwrap_or(default_val);
    let rows = manifest::read_captions(&a.input)?;
    let s = split::split(rows, &size, a.seed)?;
    if s.reference_unmatched > 0 {
        warn!("{} audio_ids of the reference list are not in {}", s.reference_unmatched, a.input.display());
    }
    if s.val.is_empty() || s.train.is_empty() {
        anyhow::bail!(
            "split leaves {} training and {} validation clips: both sides need at least one",
            s.train_clips,
            s.val_clips
        );
    }
    // Both outputs or neither; the same path for both is refused.
    clap_tools::atomic::as_set(|| {
        manifest::write_captions(&train_out, &s.train, &a.input)?;
        manifest::write_captions(&val_out, &s.val, &a.input)
    })?;
    info!(
        "train: {} clips, {} captions → {}; validation: {} clips, {} captions → {}",
        s.train_clips,
        s.train.len(),
        train_out.display(),
        s.val_clips,
        s.val.len(),
        val_out.display()
    );
    Ok(())
}
