//! `clap-tools embed audio|text`: L2-normalised CLAP embeddings as .npy + Parquet.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap_tools::embed::{self, Embedder, ModelSource};
use clap_tools::manifest::queries::TextRow;
use clap_tools::model::tokenizer::CaptionTokenizer;
use clap_tools_backends::{default_device, Selected};
use tracing::{info, warn};

/// Embed clips or captions with a CLAP model.
///
/// The model is a clap-tools checkpoint directory (clap.json + model.safetensors, written by
/// `train`) or a checkpoint in the reference's released layout (a .pth whose state_dict holds
/// audio_encoder.*, text_encoder.model.*, audio_proj.*, text_proj.*, logit_scale) together with
/// --text-encoder, the Hugging Face folder of its BERT (config.json and vocab.txt or tokenizer.json).
///
/// Writes OUT.npy (float32, [rows, dim], L2-normalised) and OUT.parquet (audio_id, caption_index,
/// caption, row, embedding), so a similarity matrix is one matrix product of a text and an audio .npy.
#[derive(clap::Subcommand)]
pub enum Kind {
    /// Embed clips from packed shards or audio files.
    Audio(AudioArgs),
    /// Embed captions from a captions table, a caption JSON, or the command line.
    Text(TextArgs),
}

#[derive(clap::Args)]
pub struct ModelArgs {
    #[command(flatten)]
    model: crate::model_args::Model,
    /// Output: writes OUT.npy and OUT.parquet (given as out.npy or out.parquet, the pair is out.npy +
    /// out.parquet).
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(clap::Args)]
pub struct AudioArgs {
    /// A waveform index written by `pack` (waveform.csv or waveforms.parquet), or audio files and
    /// folders (decoded and resampled on the fly; audio_id = the file name).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Clips per forward pass (at most; only clips of one length share a pass unless
    /// --padded-batches).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[command(flatten)]
    padding: crate::model_args::Padding,
}

#[derive(clap::Args)]
pub struct TextArgs {
    /// A file of captions or queries, every one embedded: .txt (one per line), .csv with a caption
    /// column (or Clotho's file_name,caption_1..caption_5), a caption JSON, or a captions table
    /// (.parquet). Rows of a bare list get the audio_id query-1, query-2, …
    #[arg(long, conflicts_with = "text")]
    captions: Option<PathBuf>,
    /// Captions given directly (repeatable); their audio_id is query-1, query-2, …
    #[arg(long)]
    text: Vec<String>,
    #[command(flatten)]
    model: ModelArgs,
    /// Captions per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

pub fn run(kind: Kind) -> Result<()> {
    match kind {
        Kind::Audio(a) => audio(a),
        Kind::Text(a) => text(a),
    }
}

fn source(m: &ModelArgs) -> ModelSource {
    m.model.source()
}

fn load(m: &ModelArgs) -> Result<Embedder<Selected>> {
    let source = source(m);
    let e = Embedder::<Selected>::load(&source, default_device())?;
    info!(
        "model {}: {}, {}, shared {} dims, {} Hz, backend {}",
        m.model.checkpoint.display(),
        e.config.audio.describe(),
        e.config.text.describe(),
        e.config.shared_dim,
        e.config.sample_rate,
        clap_tools::backend_name()
    );
    Ok(e)
}

fn audio(a: AudioArgs) -> Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let mut e = load(&a.model)?;
    e.batching = a.padding.batching();
    let bar = crate::progress(0, "clips");
    let done = embed::embed_audio(&e, &embed::AudioInput::from_paths(&a.inputs), a.batch_size, &bar)?;
    bar.finish_and_clear();
    for s in &done.skipped {
        warn!("skipped audio_id {:?}: {}", s.audio_id, s.reason);
    }
    if done.rows.audio_ids.is_empty() {
        eprintln!("error: no clip could be embedded ({} failures)", done.skipped.len());
        std::process::exit(crate::exit_code(done.outcome));
    }
    let (npy, parquet) = embed::write(&a.model.output, &done.rows)?;
    info!("{} clips embedded → {} and {}", done.rows.audio_ids.len(), npy.display(), parquet.display());
    if !done.skipped.is_empty() {
        eprintln!("{} of {} clips failed (listed above)", done.skipped.len(), done.clips);
        std::process::exit(crate::exit_code(done.outcome));
    }
    Ok(())
}

fn text(a: TextArgs) -> Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let dir = source(&a.model).tokenizer_dir()?;
    let texts = if let Some(path) = &a.captions {
        clap_tools::manifest::queries::read(path)?
    } else if !a.text.is_empty() {
        a.text
            .iter()
            .enumerate()
            .map(|(i, t)| TextRow { audio_id: format!("query-{}", i + 1), caption_index: None, caption: t.clone() })
            .collect()
    } else {
        bail!("give --captions FILE or at least one --text");
    };
    let e = load(&a.model)?;
    let tokenizer = CaptionTokenizer::from_dir(&dir, e.config.max_tokens)?;
    let bar = crate::progress(0, "captions");
    let rows = embed::embed_text(&e, &tokenizer, texts, a.batch_size, &bar)?;
    bar.finish_and_clear();
    let (npy, parquet) = embed::write(&a.model.output, &rows)?;
    info!("{} captions embedded → {} and {}", rows.audio_ids.len(), npy.display(), parquet.display());
    Ok(())
}
