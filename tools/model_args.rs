//! The model flags that `embed`, `eval` and `submit` share.

use std::path::PathBuf;

use clap_tools::model::checkpoint::ModelSource;

#[derive(clap::Args)]
pub struct Model {
    /// A clap-tools checkpoint folder (RUN/best, RUN/checkpoints/iter-N) or a checkpoint in the
    /// reference's released layout (.pth).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The text encoder's folder: config.json and vocab.txt or tokenizer.json (Hugging Face layout).
    /// Needed for a reference checkpoint; a clap-tools checkpoint folder carries its own.
    #[arg(long)]
    pub text_encoder: Option<PathBuf>,
    /// Front-end sample rate of a reference checkpoint (clap-tools checkpoints record their own).
    #[arg(long, default_value_t = 32000)]
    pub sample_rate: u32,
}

impl Model {
    pub fn source(&self) -> ModelSource {
        ModelSource {
            checkpoint: self.checkpoint.clone(),
            text_encoder: self.text_encoder.clone(),
            sample_rate: self.sample_rate,
        }
    }
}
