//! The model flags that `embed`, `eval` and `submit` share.

use std::path::PathBuf;

use clap_tools::index::Index;
use clap_tools::model::checkpoint::{Batching, Embedder, ModelSource};
use clap_tools::model::registry::ReferenceAudioKind;
use clap_tools::model::tokenizer::CaptionTokenizer;
use clap_tools_backends::{default_device, Selected};

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
    /// The audio encoder of a reference checkpoint: cnn14, wavegram_logmel_cnn14, resnet38 or ast.
    /// By default it is recognised from the checkpoint's keys; named, the checkpoint must hold that
    /// one (a missing tensor is named). clap-tools checkpoints record their own.
    #[arg(long, value_name = "KIND")]
    pub audio_encoder: Option<ReferenceAudioKind>,
}

impl Model {
    pub fn source(&self) -> ModelSource {
        ModelSource {
            checkpoint: self.checkpoint.clone(),
            text_encoder: self.text_encoder.clone(),
            sample_rate: self.sample_rate,
            audio_encoder: self.audio_encoder,
        }
    }
}

/// How clips of different lengths share a forward pass.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Padding {
    /// Zero-pad every clip of a batch to the longest one, as the reference batches them: this
    /// reproduces the reference's numbers exactly, but a clip's embedding then moves slightly with
    /// the clips batched with it. By default only clips of the same length share a forward pass, so
    /// each clip's embedding is its own whatever --batch-size.
    #[arg(long)]
    pub padded_batches: bool,
}

impl Padding {
    pub fn batching(&self) -> Batching {
        if self.padded_batches {
            Batching::Padded
        } else {
            Batching::EqualLengths
        }
    }
}

/// Where a retrieval set's candidate clips are: a folder of audio or a waveform index.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Candidates {
    /// Folder of the candidate audio (e.g. Clotho's retrieval_audio/), searched recursively and
    /// decoded on the fly; the file name is the clip's name. Unreadable files are listed and nothing
    /// is scored.
    #[arg(long, value_name = "DIR")]
    pub audio_dir: Option<PathBuf>,
    /// Waveform index of the packed candidate audio (waveforms.parquet or waveform.csv of `pack`).
    #[arg(long, value_name = "INDEX")]
    pub waveforms: Option<PathBuf>,
}

impl Candidates {
    pub fn get(&self) -> clap_tools::eval::Candidates {
        match (&self.audio_dir, &self.waveforms) {
            (Some(d), _) => clap_tools::eval::Candidates::AudioDir(d.clone()),
            (None, Some(w)) => clap_tools::eval::Candidates::Packed(w.clone()),
            // The group is required: clap has given one of the two.
            (None, None) => unreachable!("clap requires --audio-dir or --waveforms"),
        }
    }
}

/// The model flags of the commands that work on an index (`search`, `serve`, `classify`, `index
/// add`): by default the index's own model.
#[derive(clap::Args)]
pub struct IndexModel {
    /// The model's checkpoint: needed for an index made from embeddings, or where the index's model
    /// has moved (it must be the same model: its hash is checked).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// The text encoder's folder, for a reference checkpoint.
    #[arg(long)]
    pub text_encoder: Option<PathBuf>,
}

impl IndexModel {
    /// The named model, at `sample_rate`.
    pub fn named(&self, sample_rate: u32) -> Option<ModelSource> {
        self.checkpoint.clone().map(|checkpoint| ModelSource {
            checkpoint,
            text_encoder: self.text_encoder.clone(),
            sample_rate,
            audio_encoder: None,
        })
    }

    /// The model for `ix`: its own, or the one named (checked to be the same).
    pub fn for_index(&self, ix: &Index) -> anyhow::Result<ModelSource> {
        let rate = ix.manifest.model.as_ref().map_or(32000, |m| m.front_end.sample_rate);
        Ok(ix.query_model(self.named(rate).as_ref())?)
    }
}

/// Load a model and its tokenizer.
pub fn load_with_tokenizer(source: &ModelSource) -> anyhow::Result<(Embedder<Selected>, CaptionTokenizer)> {
    let model = Embedder::<Selected>::load(source, default_device())?;
    let tokenizer = tokenizer_of(source, &model)?;
    Ok((model, tokenizer))
}

/// The tokenizer of a loaded model (its folder, or the text encoder's).
pub fn tokenizer_of(source: &ModelSource, model: &Embedder<Selected>) -> anyhow::Result<CaptionTokenizer> {
    Ok(CaptionTokenizer::from_dir(&source.tokenizer_dir()?, model.config.max_tokens)?)
}
