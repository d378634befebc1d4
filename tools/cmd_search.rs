//! `clap-tools search`: the best clips of an index for text, audio or embedded queries.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::index::query::{self, Query, QueryModel};
use clap_tools::index::Index;
use clap_tools::model::checkpoint::Embedder;
use clap_tools_backends::{default_device, Selected};

/// Search an index with captions, audio clips or query embeddings.
///
/// Exact search: every clip of the index is scored by the inner product of the L2-normalised
/// embeddings (cosine similarity), and the k best are printed, best first. Text and audio queries
/// are embedded with the model the index records (--checkpoint gives its new place if it moved; a
/// different model is refused). All queries are searched together as one matrix product.
#[derive(clap::Args)]
pub struct Args {
    /// The index folder (`index build`).
    index: PathBuf,
    /// A caption to search with (repeatable).
    #[arg(long, group = "queries_from")]
    text: Vec<String>,
    /// An audio file to search with: finds the clips that sound alike (repeatable).
    #[arg(long, group = "queries_from")]
    audio: Vec<PathBuf>,
    /// A file of captions: .txt (one per line), .csv with a caption column, a caption JSON, or a
    /// captions or queries table (.parquet).
    #[arg(long, value_name = "FILE", group = "queries_from")]
    queries: Option<PathBuf>,
    /// Query embeddings computed elsewhere: a float32 .npy [queries, dim] (named by the .parquet
    /// beside it when it is an `embed` output).
    #[arg(long, value_name = "Q.npy", group = "queries_from")]
    query_embeddings: Option<PathBuf>,
    /// Hits per query.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Print one JSON array: an object per query, {"query": …, "hits": [{"audio_id", "score"}, …]},
    /// hits best first.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    model: crate::model_args::IndexModel,
    /// Captions per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

pub fn run(a: Args) -> Result<()> {
    let ix = Index::open(&a.index)?;
    let (names, matrix) = if let Some(q) = &a.query_embeddings {
        query::read_embeddings(q, ix.dim())?
    } else {
        let queries: Vec<Query> = if let Some(f) = &a.queries {
            clap_tools::manifest::queries::read(f)?.into_iter().map(|r| Query::Text(r.caption)).collect()
        } else if !a.text.is_empty() {
            a.text.iter().cloned().map(Query::Text).collect()
        } else if !a.audio.is_empty() {
            a.audio.iter().cloned().map(Query::Audio).collect()
        } else {
            anyhow::bail!("give --text, --audio, --queries or --query-embeddings");
        };
        let source = a.model.for_index(&ix)?;
        let model = Embedder::<Selected>::load(&source, default_device())?;
        if model.dim() != ix.dim() {
            anyhow::bail!("the model embeds in {} dims but the index holds {}", model.dim(), ix.dim());
        }
        // Only caption queries need the tokenizer.
        let tokenizer = if queries.iter().any(|q| matches!(q, Query::Text(_))) {
            Some(crate::model_args::tokenizer_of(&source, &model)?)
        } else {
            None
        };
        let m = QueryModel { model: &model, tokenizer: tokenizer.as_ref() };
        let matrix = query::embed(&m, &queries, a.batch_size)?;
        (queries.iter().map(Query::label).collect(), matrix)
    };
    let started = std::time::Instant::now();
    let results = query::search(&ix, names, &matrix, a.k)?;
    tracing::info!(
        "{} queries searched over {} clips in {:.1} ms",
        results.len(),
        ix.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    for r in &results {
        println!("{:?}", r.query);
        for (rank, h) in r.hits.iter().enumerate() {
            let c = &ix.clips[h.row];
            let mut about = Vec::new();
            if let Some(d) = &c.dataset {
                about.push(match &c.split {
                    Some(s) => format!("{d}/{s}"),
                    None => d.clone(),
                });
            }
            if let Some(d) = c.duration {
                about.push(format!("{d:.1} s"));
            }
            if let Some(first) = c.captions.as_ref().and_then(|c| c.first()) {
                about.push(format!("{first:?}"));
            }
            println!("{:>4}  {:.4}  {}  {}", rank + 1, h.score, c.audio_id, about.join("  "));
        }
    }
    Ok(())
}
