//! `clap-tools scan`: list a folder of audio as `wav.csv`, or as a clips table with header facts.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::manifest::{extension, scan, wav_csv};
use tracing::{info, warn};

/// List the audio files of a folder.
///
/// Writes the reference's `wav.csv` (tab-separated `audio_id`, absolute `file_name`) when OUTPUT ends
/// in .csv or .tsv, or the clips table (Parquet) when it ends in .parquet: then each file's header is
/// read, in parallel, for sample rate, channels, length and duration (no full decode); files whose
/// header cannot be read keep their row with the reason in `probe_error` and are reported.
/// Formats: wav, flac, mp3, ogg (Vorbis), m4a/mp4/aac, aiff, caf. Names starting with "." are skipped.
#[derive(clap::Args)]
pub struct Args {
    /// Folder holding the audio files.
    audio_dir: PathBuf,
    /// Output: wav.csv / .tsv (reference index) or .parquet (clips table).
    #[arg(short, long)]
    output: PathBuf,
    /// Descend into subfolders.
    #[arg(short, long)]
    recursive: bool,
    /// How audio_ids are formed: `name` (file name, as the reference) or `relative` (path relative
    /// to AUDIO_DIR, for trees whose file names repeat).
    #[arg(long, value_enum, default_value_t = IdFrom::Name)]
    id: IdFrom,
    /// Threads probing headers (0: one per core).
    #[arg(short, long, default_value_t = 0)]
    jobs: usize,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum IdFrom {
    Name,
    Relative,
}

pub fn run(a: Args) -> Result<()> {
    let opts = scan::ScanOptions {
        recursive: a.recursive,
        id_from: match a.id {
            IdFrom::Name => scan::IdFrom::Name,
            IdFrom::Relative => scan::IdFrom::Relative,
        },
    };
    let listing = match scan::list_audio(&a.audio_dir, &opts) {
        Ok(l) => l,
        // Repeated file names in a tree: the flag that takes audio_ids from the paths instead.
        Err(e @ clap_tools::Error::Many { .. }) if opts.id_from == scan::IdFrom::Name => {
            anyhow::bail!("{e}use --id relative to take audio_ids from the paths below the folder")
        }
        Err(e) => return Err(e.into()),
    };
    for (path, reason) in &listing.skipped {
        warn!("skipped {}: {reason}", path.display());
    }
    if listing.files.is_empty() {
        anyhow::bail!(
            "{}: no audio files found{}",
            a.audio_dir.display(),
            if a.recursive { "" } else { " (use --recursive to look in subfolders)" }
        );
    }
    match extension(&a.output).as_str() {
        "csv" | "tsv" => {
            let rows = listing.files.iter().map(|(id, p)| vec![id.as_str(), p.to_str().unwrap_or_default()]);
            wav_csv::write_tsv(&a.output, &["audio_id", "file_name"], rows)?;
            info!("{} files → {}", listing.files.len(), a.output.display());
        }
        "parquet" => {
            let bar = crate::progress(listing.files.len() as u64, "files");
            let clips = crate::with_jobs(a.jobs, || scan::probe_all(&listing.files, &bar))?;
            bar.finish_and_clear();
            let bad: Vec<_> = clips.iter().filter(|c| c.probe_error.is_some()).collect();
            for c in &bad {
                warn!("{}: {}", c.file_name, c.probe_error.as_deref().unwrap_or_default());
            }
            clap_tools::table::write_clips(&a.output, &clips)?;
            let hours: f64 = clips.iter().filter_map(|c| c.duration).sum::<f64>() / 3600.0;
            info!(
                "{} files ({:.2} h), {} with unreadable headers → {}",
                clips.len(),
                hours,
                bad.len(),
                a.output.display()
            );
        }
        _ => anyhow::bail!("{}: output must end in .csv, .tsv or .parquet", a.output.display()),
    }
    Ok(())
}
