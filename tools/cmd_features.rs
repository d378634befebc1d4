//! `clap-tools features`: the log-mel front end of one audio file, as a .npy.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap_tools::embed::decode_file;
use clap_tools::model::logmel::LogMel;
use clap_tools::npy;
use tracing::info;

/// Write the log-mel spectrogram that CNN14 sees: [frames, 64] float32 .npy.
///
/// The file is decoded, mixed to mono and resampled to --sample-rate, then transformed as the
/// reference does with torchaudio: 32 ms Hann windows (centred, reflect padding), 10 ms hop, power
/// spectrum, 64 slaney mel bands from 50 Hz to 14 kHz (8 kHz at 16 kHz), 10·log10(max(x, 1e-10)).
/// A clip of n samples has n / hop + 1 frames.
#[derive(clap::Args)]
pub struct Args {
    /// Audio file (WAV, FLAC, MP3, Ogg Vorbis, AAC/M4A, AIFF, CAF).
    input: PathBuf,
    /// Output .npy: float32, [frames, 64].
    #[arg(short, long)]
    output: PathBuf,
    /// Sample rate of the front end: 32000 (the reference's CNN14) or 16000.
    #[arg(long, default_value_t = 32000)]
    sample_rate: u32,
}

pub fn run(a: Args) -> Result<()> {
    let lm = LogMel::for_rate(a.sample_rate)?;
    let wave = decode_file(&a.input, a.sample_rate)?;
    let mel = lm.compute(&wave);
    let frames = mel.len() / lm.config().n_mels;
    npy::write_f32(&a.output, &[frames, lm.config().n_mels], &mel)
        .with_context(|| format!("writing {}", a.output.display()))?;
    info!(
        "{}: {} samples at {} Hz → {} frames × {} bands in {}",
        a.input.display(),
        wave.len(),
        a.sample_rate,
        frames,
        lm.config().n_mels,
        a.output.display()
    );
    Ok(())
}
