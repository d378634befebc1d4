//! `clap-tools pack`: audio files → HDF5 waveform shards.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::pack::{pack, Outcome, PackOptions};
use clap_tools::shards::SampleType;
use tracing::{info, warn};

/// Decode, downmix and resample audio into HDF5 shards in the reference's layout.
///
/// Each clip becomes a 1-D dataset named by its audio_id at the root of OUT/hdf5/{k}.h5 (k = 1, 2, …;
/// --part-size clips per shard); an audio_id containing '/' is stored with '%' → %25 and '/' → %2F.
/// OUT/waveform.csv is the reference's index (audio_id, absolute hdf5_path); OUT/waveforms.parquet adds
/// samples, sample rate, source file and duration; OUT/failures.csv lists every clip that could not be
/// packed (audio_id, file, reason): empty, truncated, corrupt or non-audio files, NaN/Inf samples,
/// missing paths, duplicate audio_ids. All other clips are packed.
///
/// Crash-safe and resumable: a shard is written under a temporary name and renamed when closed, and
/// its index part is written last; running the same command again after a crash or kill keeps the
/// finished shards and redoes the rest.
///
/// Exit status: 0 every clip packed; 3 partial (some clips failed, see failures.csv); 4 no clip
/// packed; 1 an error stopped the run (bad input file, unwritable output, different options than
/// the shards already in OUT).
#[derive(clap::Args)]
pub struct Args {
    /// A wav.csv (tab-separated audio_id, file_name; from `clap-tools scan`) or a clips table (.parquet).
    input: PathBuf,
    /// Output folder.
    #[arg(short, long)]
    output: PathBuf,
    /// Target sample rate in Hz (e.g. 32000 for CNN14, 16000); every clip is resampled to it.
    #[arg(long)]
    sample_rate: u32,
    /// Clips per HDF5 shard.
    #[arg(long, default_value_t = 50000)]
    part_size: usize,
    /// Decoding threads (0: one per core). One writer writes each shard.
    #[arg(short, long, default_value_t = 0)]
    jobs: usize,
    /// Sample type stored: f16 (as the reference), f32, or i16 (16-bit PCM).
    #[arg(long, value_enum, default_value_t = Dtype::F16)]
    dtype: Dtype,
    /// Pack only slice I of N (e.g. 3/8, for a slurm array): shards k with (k-1) mod N = I-1. Each
    /// slice writes waveform-I-of-N.csv; join them with `clap-tools concat`.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Dtype {
    F16,
    F32,
    I16,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: expected I/N, e.g. 2/8"))?;
    let i: usize = i.trim().parse().map_err(|_| format!("{s:?}: I is not a number"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("{s:?}: N is not a number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("{s:?}: I must be between 1 and N"));
    }
    Ok((i, n))
}

pub fn run(a: Args) -> Result<()> {
    let opts = PackOptions {
        input: a.input,
        out: a.output,
        sample_rate: Some(a.sample_rate),
        part_size: a.part_size,
        jobs: a.jobs,
        dtype: match a.dtype {
            Dtype::F16 => SampleType::F16,
            Dtype::F32 => SampleType::F32,
            Dtype::I16 => SampleType::I16,
        },
        shard: a.shard,
    };
    let bar = crate::progress(0, "files");
    let summary = pack(&opts, &bar)?;
    bar.finish_and_clear();
    for f in summary.failures.iter().take(20) {
        warn!("{}: {} ({})", f.audio_id, f.reason, f.file);
    }
    if summary.failures.len() > 20 {
        warn!("… and {} more in {}", summary.failures.len() - 20, summary.failures_csv.display());
    }
    info!(
        "{} of {} clips packed, {} failed; {} shards written, {} kept from an earlier run → {}",
        summary.packed,
        summary.clips,
        summary.failures.len(),
        summary.shards_written,
        summary.shards_resumed,
        summary.index_csv.display()
    );
    if summary.outcome != Outcome::Complete {
        std::process::exit(crate::exit_code(summary.outcome));
    }
    Ok(())
}
