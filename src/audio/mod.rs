//! Audio files: which ones clap-tools reads, what their headers say, decoding to mono and resampling.

pub mod decode;
pub mod probe;
pub mod resample;

pub use decode::{decode_mono, DecodeFailure, Decoded};

/// Sample rates outside these bounds are refused before anything is allocated for them: real audio
/// lies within, and a header claiming 1 Hz or 4 GHz would make the resampler allocate gigabytes.
pub const MIN_SAMPLE_RATE: u32 = 1000;
pub const MAX_SAMPLE_RATE: u32 = 768_000;
/// More channels than this are refused (the widest real formats, e.g. 22.2 sound, have 24).
pub const MAX_CHANNELS: usize = 256;

/// Check a header's sample rate and channel count against the bounds above.
pub fn check_format(sample_rate: u32, channels: usize) -> Result<(), String> {
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(format!(
            "sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz (a corrupt or hostile header?)"
        ));
    }
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(format!("{channels} channels is outside 1–{MAX_CHANNELS} (a corrupt or hostile header?)"));
    }
    Ok(())
}
pub use probe::{is_audio_file, probe, Probe, AUDIO_EXTENSIONS};
pub use resample::{resample, MonoResampler};
