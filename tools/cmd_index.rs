//! `clap-tools index build|add|info`: a folder of clip embeddings to search.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::index::{self, BuildMode, BuildOptions, Index, ModelIdentity, Source};
use clap_tools::model::checkpoint::{Embedder, ModelSource};
use clap_tools_backends::{default_device, Selected};
use tracing::{info, warn};

/// Build, extend or describe a search index.
///
/// An index folder holds the L2-normalised CLAP embeddings of a collection of clips
/// (embeddings.npy, float32 or float16), their table (clips.parquet: audio_id, source file, shard,
/// duration, dataset, split, captions) and the identity of the model that embedded them
/// (index.json: checkpoint, its SHA-256, front-end settings). `search`, `classify` and `serve` use it.
#[derive(clap::Subcommand)]
pub enum Action {
    /// Embed clips into a new index. A killed build keeps what it embedded: rerun the same command
    /// to complete it (every clip once).
    Build(BuildArgs),
    /// Embed more clips into an index, with the model it was built with (clips already in it are
    /// left as they are).
    Add(AddArgs),
    /// Describe an index: rows, dimension, model.
    Info(InfoArgs),
}

#[derive(clap::Args)]
pub struct Sources {
    /// Audio files and folders (searched recursively; audio_id = the path below the folder), a
    /// `pack` output folder or waveform index (read from its shards), a clips table (`scan`), a
    /// wav.csv, or a captions table (its clips, with their dataset, split and captions).
    sources: Vec<PathBuf>,
    /// A waveform index (waveforms.parquet or waveform.csv): clips it lists are read from its shards
    /// instead of decoded, e.g. a captions table's clips from `pack`'s output.
    #[arg(long, value_name = "INDEX")]
    waveforms: Option<PathBuf>,
    /// A captions table: the clips it names get its dataset, split and captions columns.
    #[arg(long, value_name = "TABLE")]
    captions: Option<PathBuf>,
    /// Clips per forward pass (at most; only clips of one length share a pass unless
    /// --padded-batches).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[command(flatten)]
    padding: crate::model_args::Padding,
    /// Clips embedded between saves: a killed run redoes at most this many (a save also happens
    /// every minute).
    #[arg(long, default_value_t = 256, value_name = "N")]
    save_every: usize,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    #[command(flatten)]
    sources: Sources,
    /// The index folder to create.
    #[arg(short, long)]
    output: PathBuf,
    /// A clap-tools checkpoint folder (RUN/best) or a checkpoint in the reference's released layout
    /// (.pth, with --text-encoder).
    #[arg(long, required_unless_present = "embeddings")]
    checkpoint: Option<PathBuf>,
    /// The text encoder's folder (config.json and vocab.txt or tokenizer.json), for a reference
    /// checkpoint.
    #[arg(long)]
    text_encoder: Option<PathBuf>,
    /// Front-end sample rate of a reference checkpoint (clap-tools checkpoints record their own).
    #[arg(long, default_value_t = 32000)]
    sample_rate: u32,
    /// Make the index from an `embed audio` output (OUT.npy + OUT.parquet) instead of embedding
    /// clips: no SOURCE and no model; text or audio queries on it then need `search --checkpoint`.
    #[arg(long, value_name = "OUT", conflicts_with_all = ["sources", "checkpoint", "waveforms"])]
    embeddings: Option<PathBuf>,
    /// Store the embeddings as float16: half the size; scores change by about 1e-3.
    #[arg(long)]
    f16: bool,
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The index folder.
    index: PathBuf,
    #[command(flatten)]
    sources: Sources,
    #[command(flatten)]
    model: crate::model_args::IndexModel,
}

#[derive(clap::Args)]
pub struct InfoArgs {
    index: PathBuf,
}

pub fn run(action: Action) -> Result<()> {
    match action {
        Action::Build(a) => build(a),
        Action::Add(a) => add(a),
        Action::Info(a) => describe(a),
    }
}

fn options(out: PathBuf, mode: BuildMode, source: Source, s: &Sources) -> BuildOptions {
    let mut o = BuildOptions::new(out, mode, source);
    o.waveforms = s.waveforms.clone();
    o.captions = s.captions.clone();
    o.batch_size = s.batch_size;
    o.part_clips = s.save_every;
    o
}

fn build(a: BuildArgs) -> Result<()> {
    if let Some(e) = a.embeddings {
        let mut o = options(a.output, BuildMode::Build, Source::Embeddings(e), &a.sources);
        o.f16 = a.f16;
        let s = index::build::<Selected>(None, &o, &clap_tools::progress::Silent)?;
        info!("index of {} embeddings → {}", s.rows, o.out.display());
        return Ok(());
    }
    if a.sources.sources.is_empty() {
        anyhow::bail!("give the clips to index (audio files or folders, a pack output, a clips or captions table)");
    }
    let checkpoint = a.checkpoint.expect("clap requires --checkpoint without --embeddings");
    let source =
        ModelSource { checkpoint, text_encoder: a.text_encoder, sample_rate: a.sample_rate, audio_encoder: None };
    let mut o = options(a.output, BuildMode::Build, Source::Clips(a.sources.sources.clone()), &a.sources);
    o.f16 = a.f16;
    embed_into(&source, &o, a.sources.padding)
}

fn add(a: AddArgs) -> Result<()> {
    if a.sources.sources.is_empty() {
        anyhow::bail!("give the clips to add");
    }
    let ix = Index::open(&a.index)?;
    let source = a.model.for_index(&ix)?;
    drop(ix);
    let o = options(a.index, BuildMode::Add, Source::Clips(a.sources.sources.clone()), &a.sources);
    embed_into(&source, &o, a.sources.padding)
}

fn embed_into(source: &ModelSource, o: &BuildOptions, padding: crate::model_args::Padding) -> Result<()> {
    let mut model = Embedder::<Selected>::load(source, default_device())?;
    model.batching = padding.batching();
    let identity = ModelIdentity::of(source, &model)?;
    info!("model {}: {}, backend {}", identity.name(), identity.audio_encoder, clap_tools::backend_name());
    let bar = crate::progress(0, "clips");
    let s = index::build(Some((&model, &identity)), o, &bar)?;
    bar.finish_and_clear();
    for k in &s.skipped {
        warn!("skipped audio_id {:?}: {}", k.audio_id, k.reason);
    }
    let mut done = format!("{} clips embedded", s.embedded);
    if s.resumed > 0 {
        done += &format!(", {} kept from the interrupted run", s.resumed);
    }
    if s.already > 0 {
        done += &format!(", {} already in the index", s.already);
    }
    info!("{done}; the index {} holds {} clips", o.out.display(), s.rows);
    if !s.skipped.is_empty() {
        eprintln!("{} clips could not be embedded (listed above)", s.skipped.len());
        std::process::exit(crate::exit_code(s.outcome));
    }
    Ok(())
}

fn describe(a: InfoArgs) -> Result<()> {
    let ix = Index::open(&a.index)?;
    let m = &ix.manifest;
    println!("index {}: {} clips × {} dims ({})", a.index.display(), m.rows, m.dim, m.dtype);
    match &m.model {
        Some(id) => {
            println!("model: {}", id.name());
            println!("  audio: {}; text: {}", id.audio_encoder, id.text_encoder_kind);
            let f = &id.front_end;
            println!(
                "  front end: {} Hz, n_fft {}, hop {}, {} mels {}–{} Hz",
                f.sample_rate, f.n_fft, f.hop, f.n_mels, f.f_min, f.f_max
            );
        }
        None => println!(
            "model: none recorded (made from {})",
            m.embeddings_from.as_ref().map_or("embeddings".into(), |p| p.display().to_string())
        ),
    }
    let datasets: std::collections::BTreeMap<&str, usize> = ix.clips.iter().fold(Default::default(), |mut acc, c| {
        *acc.entry(c.dataset.as_deref().unwrap_or("(no dataset)")).or_default() += 1;
        acc
    });
    for (d, n) in datasets {
        println!("  {d}: {n} clips");
    }
    Ok(())
}
