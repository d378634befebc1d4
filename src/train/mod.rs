//! Training CLAP models: the TOML configuration ([`config`]), batches from packed shards prepared by
//! background workers ([`data`]), the loop with checkpoints and resume ([`trainer`]), data parallel
//! steps over several devices ([`parallel`]) and over several processes ([`collective`]), TensorBoard event files ([`tensorboard`]); it validates with [`crate::eval`].

pub mod collective;
pub mod config;
pub mod data;
pub mod parallel;
pub mod run;
pub mod runs;
pub mod tensorboard;
pub mod trainer;
