//! `clap-tools embed audio|text`: L2-normalised CLAP embeddings as .npy + Parquet.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap_tools::embed::{self, Embedder, ModelSource};
use clap_tools::model::tokenizer::CaptionTokenizer;
use clap_tools::shards::WaveformReader;
use clap_tools::table::EmbeddingRows;
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
    /// A clap-tools checkpoint directory, or a reference checkpoint (.pth).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The text encoder's folder: config.json and vocab.txt or tokenizer.json (Hugging Face layout).
    /// Needed for text, and to load a reference checkpoint.
    #[arg(long)]
    text_encoder: Option<PathBuf>,
    /// Front-end sample rate of a reference checkpoint (clap-tools checkpoints record their own).
    #[arg(long, default_value_t = 32000)]
    sample_rate: u32,
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
    /// Clips per forward pass. Batched clips are zero-padded to the longest, as the reference
    /// batches them, which shifts embeddings slightly; 1 makes each clip's embedding its own.
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
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
    ModelSource { checkpoint: m.checkpoint.clone(), text_encoder: m.text_encoder.clone(), sample_rate: m.sample_rate }
}

fn load(m: &ModelArgs) -> Result<Embedder<Selected>> {
    let source = source(m);
    let e = Embedder::<Selected>::load(&source, default_device())?;
    info!(
        "model {}: {}, {}, shared {} dims, {} Hz, backend {}",
        m.checkpoint.display(),
        e.config.audio.describe(),
        e.config.text.describe(),
        e.config.shared_dim,
        e.config.sample_rate,
        clap_tools::backend_name()
    );
    Ok(e)
}

/// A clip to embed: from shards or from a file.
enum Clip {
    Packed(String),
    File(String, PathBuf),
}

fn is_index(p: &Path) -> bool {
    p.is_file() && matches!(clap_tools::manifest::extension(p).as_str(), "csv" | "parquet")
}

fn audio(a: AudioArgs) -> Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let e = load(&a.model)?;
    let rate = e.config.sample_rate;
    let (reader, clips) = if a.inputs.len() == 1 && is_index(&a.inputs[0]) {
        let index = &a.inputs[0];
        if clap_tools::manifest::extension(index) == "parquet" {
            for w in clap_tools::table::read_waveforms(index)? {
                if w.sample_rate != rate {
                    bail!(
                        "{}: audio_id {:?} is packed at {} Hz but the model's front end runs at {rate} Hz",
                        index.display(),
                        w.audio_id,
                        w.sample_rate
                    );
                }
            }
        }
        // rows follow the index's order
        let pairs = clap_tools::shards::reader::read_index(index)?;
        let clips: Vec<Clip> = pairs.iter().map(|(id, _)| Clip::Packed(id.clone())).collect();
        (Some(WaveformReader::from_pairs(pairs)), clips)
    } else {
        let mut clips = Vec::new();
        for input in &a.inputs {
            if input.is_dir() {
                let listing = clap_tools::manifest::scan::list_audio(input, &Default::default())?;
                for (id, path) in listing.files {
                    clips.push(Clip::File(id, path));
                }
            } else if input.is_file() {
                let id = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                clips.push(Clip::File(id, input.clone()));
            } else {
                bail!("{}: no such file or folder", input.display());
            }
        }
        (None, clips)
    };
    if clips.is_empty() {
        bail!("no clips to embed in {:?}", a.inputs);
    }
    let bar = crate::progress(clips.len() as u64, "clips");
    let mut rows = EmbeddingRows { dim: e.dim(), ..Default::default() };
    let mut failures = Vec::new();
    for chunk in clips.chunks(a.batch_size) {
        let mut ids = Vec::new();
        let mut waves = Vec::new();
        for clip in chunk {
            let (id, wave) = match clip {
                Clip::Packed(id) => (id, reader.as_ref().expect("index").read(id)),
                Clip::File(id, path) => (id, embed::decode_file(path, rate)),
            };
            match wave {
                Ok(w) if !w.is_empty() => {
                    ids.push(id.clone());
                    waves.push(w);
                }
                Ok(_) => failures.push(format!("audio_id {id:?}: empty waveform")),
                Err(err) => failures.push(format!("audio_id {id:?}: {err}")),
            }
        }
        if !waves.is_empty() {
            let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
            rows.data.extend(e.audio(&refs));
            for id in ids {
                rows.audio_ids.push(id);
                rows.caption_index.push(None);
                rows.captions.push(None);
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    for f in &failures {
        warn!("skipped {f}");
    }
    if rows.audio_ids.is_empty() {
        eprintln!("error: no clip could be embedded ({} failures)", failures.len());
        std::process::exit(4);
    }
    let (npy, parquet) = embed::write(&a.model.output, &rows)?;
    info!("{} clips embedded → {} and {}", rows.audio_ids.len(), npy.display(), parquet.display());
    if !failures.is_empty() {
        eprintln!("{} of {} clips failed (listed above)", failures.len(), clips.len());
        std::process::exit(3);
    }
    Ok(())
}

fn text(a: TextArgs) -> Result<()> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let dir = source(&a.model).tokenizer_dir()?;
    let (ids, index, captions): (Vec<String>, Vec<Option<u32>>, Vec<String>) = if let Some(path) = &a.captions {
        let rows = clap_tools::manifest::queries::read(path)?;
        (
            rows.iter().map(|r| r.audio_id.clone()).collect(),
            rows.iter().map(|r| r.caption_index).collect(),
            rows.into_iter().map(|r| r.caption).collect(),
        )
    } else if !a.text.is_empty() {
        ((1..=a.text.len()).map(|i| format!("query-{i}")).collect(), vec![None; a.text.len()], a.text.clone())
    } else {
        bail!("give --captions FILE or at least one --text");
    };
    let e = load(&a.model)?;
    let tokenizer = CaptionTokenizer::from_dir(&dir, e.config.max_tokens)?;
    let bar = crate::progress(captions.len() as u64, "captions");
    let mut rows = EmbeddingRows { dim: e.dim(), ..Default::default() };
    for chunk in captions.chunks(a.batch_size) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        rows.data.extend(e.text(&tokenizer, &refs)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    rows.audio_ids = ids;
    rows.caption_index = index;
    rows.captions = captions.into_iter().map(Some).collect();
    let (npy, parquet) = embed::write(&a.model.output, &rows)?;
    info!("{} captions embedded → {} and {}", rows.audio_ids.len(), npy.display(), parquet.display());
    Ok(())
}
