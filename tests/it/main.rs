//! The integration tests, as one test binary (one link instead of one per file): each module is one
//! area of the toolkit, run against generated data in temporary folders and the CLI as users run it.

mod common;

mod demo;
mod distributed;
mod fuzz;
mod hostile;
mod import;
mod index;
mod metrics;
mod model_ast;
mod model_audio;
mod model_clap;
mod model_cli;
mod model_resnet38;
mod model_wavegram;
mod pack;
mod parallel;
mod readme;
mod resample;
mod retrieval;
mod scan;
mod serve;
mod tables;
mod text_encoder;
mod train;
mod workflow;
