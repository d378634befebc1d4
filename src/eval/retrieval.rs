//! Evaluation on a retrieval set, the DCASE way: text queries (Clotho's `retrieval_captions.csv`, a
//! queries table from `import clotho-retrieval`, or any list) against every packed clip, scored by
//! relevance judgements with several relevant clips per query (DCASE 2025: mAP@16).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use clap_tools_backends::burn;

use super::evaluate::{load_with_tokenizer, similarities, Clips};
use super::metrics::{relevance, RelevanceMetrics};
use crate::error::{Error, Result};
use crate::manifest::clotho_retrieval::{assign_relevance, match_file_name, read_relevance};
use crate::model::checkpoint::{Embedder, ModelSource};
use crate::model::tokenizer::CaptionTokenizer;
use crate::schema::{Query, QueryResultRow, Table};
use crate::shards::reader::read_index_at;
use crate::shards::WaveformReader;

/// What to evaluate on.
#[derive(Debug, Clone)]
pub struct RetrievalOptions {
    /// The queries: a queries table (.parquet, from `import clotho-retrieval`), a .csv with a
    /// `caption` column, or a .txt with one query per line.
    pub queries: PathBuf,
    /// Waveform index of the packed retrieval clips (every clip in it is a candidate).
    pub waveforms: PathBuf,
    /// Relevance judgements (`query,audio_filenames`); by default those of the queries table.
    pub relevance: Option<PathBuf>,
    /// Clips per forward pass.
    pub batch_size: usize,
}

/// The result: the full score matrix, and the metrics over the judged queries.
pub struct RetrievalEvaluation {
    pub queries: Vec<Query>,
    /// Candidate clips, the matrix's columns (sorted by audio_id).
    pub audio_ids: Vec<String>,
    /// [queries, clips], row-major.
    pub sims: Vec<f32>,
    /// Over the queries with judgements.
    pub metrics: RelevanceMetrics,
    /// One per judged query.
    pub results: Vec<QueryResultRow>,
}

/// The queries of `path` by its kind (see [`RetrievalOptions::queries`]).
pub fn read_queries(path: &Path) -> Result<Vec<Query>> {
    if crate::manifest::extension(path) == "parquet"
        && Table::detect(crate::table::column_names(path)?.iter().map(String::as_str)) == Some(Table::Queries)
    {
        let queries = crate::table::read_queries(path)?;
        if queries.is_empty() {
            return Err(Error::file(path, "holds no queries"));
        }
        return Ok(queries);
    }
    let rows = crate::manifest::queries::read(path)?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| Query { query_index: i as u32 + 1, query: r.caption, dataset: String::new(), relevant: None })
        .collect())
}

/// Each judged query's relevant clips as column indices into `audio_ids`: from the relevance CSV
/// when given (names matched to the clips), else from the queries' own `relevant` lists. A judged
/// name that is not a candidate clip is an error naming it.
fn judgements(
    queries: &mut [Query],
    audio_ids: &[String],
    relevance_csv: Option<&Path>,
    queries_path: &Path,
    index: &Path,
) -> Result<Vec<(usize, Vec<usize>)>> {
    let ids: HashSet<String> = audio_ids.iter().cloned().collect();
    if let Some(csv) = relevance_csv {
        let what = format!("the waveform index {}", index.display());
        let judged = read_relevance(csv, Some((&ids, what.as_str())))?;
        assign_relevance(queries, judged, csv, queries_path)?;
    }
    let column: HashMap<&str, usize> = audio_ids.iter().enumerate().map(|(j, id)| (id.as_str(), j)).collect();
    let mut out = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let Some(names) = &q.relevant else { continue };
        let mut cols = Vec::with_capacity(names.len());
        for name in names {
            let id = match_file_name(name, &ids).ok_or_else(|| {
                Error::file(
                    queries_path,
                    format!(
                        "query {} ({:?}): relevant clip {name:?} is not in the waveform index",
                        q.query_index, q.query
                    ),
                )
            })?;
            cols.push(column[id.as_str()]);
        }
        out.push((i, cols));
    }
    if out.is_empty() {
        return Err(Error::file(
            relevance_csv.unwrap_or(queries_path),
            "no query has relevance judgements: give them with --relevance (query,audio_filenames)",
        ));
    }
    Ok(out)
}

/// Load the model of `source` and evaluate it on the retrieval set of `opts`.
pub fn evaluate_retrieval_checkpoint<B: Backend>(
    source: &ModelSource,
    opts: &RetrievalOptions,
    device: B::Device,
    progress: &dyn crate::progress::Progress,
) -> Result<RetrievalEvaluation> {
    let (e, tokenizer) = load_with_tokenizer::<B>(source, device)?;
    evaluate_retrieval(&e, &tokenizer, opts, progress)
}

/// Queries scored against every clip of a waveform index.
pub struct Scored {
    pub queries: Vec<Query>,
    /// The matrix's columns, sorted.
    pub audio_ids: Vec<String>,
    /// [queries, clips], row-major.
    pub sims: Vec<f32>,
}

/// The sorted clips of a waveform index (at the model's rate), and a reader for them.
fn candidates(waveforms: &Path, sample_rate: u32) -> Result<(Vec<String>, WaveformReader)> {
    let mut pairs = read_index_at(waveforms, sample_rate)?;
    if pairs.is_empty() {
        return Err(Error::file(waveforms, "holds no clips"));
    }
    pairs.sort();
    Ok((pairs.iter().map(|(id, _)| id.clone()).collect(), WaveformReader::from_pairs(pairs)))
}

fn score<B: Backend>(
    e: &Embedder<B>,
    tokenizer: &CaptionTokenizer,
    queries: &[Query],
    audio_ids: &[String],
    reader: &WaveformReader,
    batch_size: usize,
    progress: &dyn crate::progress::Progress,
) -> Result<Vec<f32>> {
    let texts: Vec<String> = queries.iter().map(|q| q.query.clone()).collect();
    progress.start(audio_ids.len() as u64);
    let clips = Clips { audio_ids, reader };
    similarities(&e.model, &clips, &texts, &e.logmel, tokenizer, batch_size, &e.device, |n| progress.advance(n as u64))
}

/// Score every query of `queries` (any kind [`read_queries`] takes) against every clip of
/// `waveforms`, without judgements (for a submission).
pub fn score_queries<B: Backend>(
    e: &Embedder<B>,
    tokenizer: &CaptionTokenizer,
    queries: &Path,
    waveforms: &Path,
    batch_size: usize,
    progress: &dyn crate::progress::Progress,
) -> Result<Scored> {
    let queries = read_queries(queries)?;
    let (audio_ids, reader) = candidates(waveforms, e.config.sample_rate)?;
    let sims = score(e, tokenizer, &queries, &audio_ids, &reader, batch_size, progress)?;
    Ok(Scored { queries, audio_ids, sims })
}

/// Embed every query and every clip of `opts.waveforms` with a loaded model, and score the judged
/// queries; `progress` counts embedded clips.
pub fn evaluate_retrieval<B: Backend>(
    e: &Embedder<B>,
    tokenizer: &CaptionTokenizer,
    opts: &RetrievalOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<RetrievalEvaluation> {
    let mut queries = read_queries(&opts.queries)?;
    let (audio_ids, reader) = candidates(&opts.waveforms, e.config.sample_rate)?;
    // Judgements first: a bad one fails before the clips are embedded.
    let judged = judgements(&mut queries, &audio_ids, opts.relevance.as_deref(), &opts.queries, &opts.waveforms)?;
    let sims = score(e, tokenizer, &queries, &audio_ids, &reader, opts.batch_size, progress)?;
    let n = audio_ids.len();
    let rows: Vec<f32> = judged.iter().flat_map(|(i, _)| sims[i * n..(i + 1) * n].iter().copied()).collect();
    let relevant: Vec<Vec<usize>> = judged.iter().map(|(_, r)| r.clone()).collect();
    let (metrics, per_query) = relevance(&rows, &[judged.len(), n], &relevant)?;
    let results = judged
        .iter()
        .zip(per_query)
        .map(|((i, cols), r)| QueryResultRow {
            query_index: queries[*i].query_index,
            query: queries[*i].query.clone(),
            relevant: cols.iter().map(|&j| audio_ids[j].clone()).collect(),
            ranks: r.ranks,
            ap10: r.ap10,
            ap16: r.ap16,
        })
        .collect();
    Ok(RetrievalEvaluation { queries, audio_ids, sims, metrics, results })
}
