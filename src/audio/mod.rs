//! Audio files: which ones clap-tools reads, what their headers say, decoding to mono and resampling.

pub mod decode;
pub mod probe;
pub mod resample;

pub use decode::{decode_mono, DecodeFailure, Decoded};
pub use probe::{is_audio_file, probe, Probe, AUDIO_EXTENSIONS};
pub use resample::{resample, MonoResampler};
