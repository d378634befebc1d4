//! `clap-tools demo`: the whole toolkit on a synthesised corpus, on the CPU in minutes. In parts:
//! [`sounds`] (what is synthesised and how it is described), [`formats`] (the datasets' native
//! file formats, which the tests write with too), [`corpus`] (the corpus in those formats),
//! [`pipeline`] (the data steps) and [`training`] (train, evaluate, search).

pub mod corpus;
pub mod formats;
pub mod pipeline;
pub mod sounds;
pub mod training;

pub use corpus::{synthesize, Corpus, CorpusOptions, DemoClip};
pub use pipeline::{prepare_out, run, DemoOptions, DemoOutputs, Prepared, MARKER};
pub use sounds::{Noise, Pitch, SoundKind};
pub use training::{train_and_search, train_config, write_text_encoder, DemoTrainOptions, DemoTrained, Search};
