//! clap-tools: language-based audio retrieval in Rust.
//!
//! The data toolkit turns audio-caption datasets (Clotho, AudioCaps, MACS, a caption JSON, or a folder
//! of audio) into standard tables ([`schema`]): `scan`, `import`, `export`, `concat`, `split`, `inspect`;
//! [`pack`] decodes and resamples the audio into HDF5 shards ([`shards`]) in the reference's layout.

pub mod atomic;
pub mod audio;
pub mod concat;
pub mod demo;
pub mod embed;
pub mod error;
pub mod eval;
pub mod index;
pub mod inspect;
pub mod isolate;
pub mod manifest;
pub mod model;
pub mod npy;
pub mod pack;
pub mod paths;
pub mod progress;
pub mod schema;
pub mod serve;
pub mod shards;
pub mod split;
pub mod table;
pub mod train;

pub use error::{Error, Result};

/// The compute backend this build selected (see `backends/`).
pub fn backend_name() -> &'static str {
    clap_tools_backends::backend_name()
}
