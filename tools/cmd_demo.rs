//! `clap-tools demo`: the whole data path on a synthesised corpus.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::demo;

/// Run the toolkit end to end on a synthesised corpus.
///
/// The corpus: tones, sweeps, noises, clicks and sequences
/// of two, with templated captions, written as Clotho CSVs, an AudioCaps CSV and a MACS YAML; then
/// scan → import → concat → export → split → inspect → pack (32 kHz HDF5 shards), and print a summary.
#[derive(clap::Args)]
pub struct Args {
    /// Working folder (audio, native files and tables are written here).
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Number of clips to synthesise.
    #[arg(long, default_value_t = 300)]
    clips: usize,
    /// Seed of the corpus and of the split.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.out.exists() {
        if !a.force {
            anyhow::bail!("{} exists: pass --force to replace it", a.out.display());
        }
        std::fs::remove_dir_all(&a.out)?;
    }
    if a.clips < 10 {
        anyhow::bail!("--clips {}: the demo needs at least 10 clips", a.clips);
    }
    let opts = demo::DemoOptions {
        out: a.out.clone(),
        corpus: demo::CorpusOptions { clips: a.clips, seed: a.seed, ..Default::default() },
        val_fraction: 0.2,
        pack_rate: 32000,
    };
    let outputs = demo::run(&opts, &mut |line| eprintln!("• {line}"))?;
    println!("{}", clap_tools::inspect::render(&outputs.report));
    println!("tables: {}", outputs.captions.parent().map(|p| p.display().to_string()).unwrap_or_default());
    println!("  captions  {}", outputs.captions.display());
    println!("  JSON      {}", outputs.caption_json.display());
    println!("  clips     {}", outputs.clips_table.display());
    println!("  wav.csv   {}", outputs.wav_csv.display());
    println!("  train/val {} / {} ({} / {} clips)", outputs.train.display(), outputs.val.display(), outputs.split.0, outputs.split.1);
    println!("  packed    {} ({} clips)", outputs.packed.index_csv.display(), outputs.packed.packed);
    Ok(())
}
