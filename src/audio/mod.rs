//! Audio files: which ones clap-tools reads, and what their headers say.

pub mod probe;

pub use probe::{is_audio_file, probe, Probe, AUDIO_EXTENSIONS};
