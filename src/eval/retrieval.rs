//! Evaluation on a retrieval set, the DCASE way: text queries (Clotho's `retrieval_captions.csv`, a
//! queries table from `import clotho-retrieval`, or any list) against every packed clip, scored by
//! relevance judgements with several relevant clips per query (DCASE 2025: mAP@16).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use clap_tools_backends::burn;

use super::evaluate::{load_with_tokenizer, similarities, Batches, ClipSource, Clips};
use super::metrics::{relevance_of_rows, RelevanceMetrics};
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
    /// The candidate clips (every one is ranked for every query).
    pub candidates: Candidates,
    /// Relevance judgements (`query,audio_filenames`); by default those of the queries table.
    pub relevance: Option<PathBuf>,
    /// Clips per forward pass.
    pub batch_size: usize,
    /// Whether clips of different lengths share a forward pass (zero-padded, as the reference).
    pub batching: crate::model::checkpoint::Batching,
}

/// Where the candidate clips of a retrieval set are.
#[derive(Debug, Clone)]
pub enum Candidates {
    /// A waveform index written by `pack` (waveforms.parquet or waveform.csv).
    Packed(PathBuf),
    /// A folder of audio files, searched recursively and decoded on the fly (audio_id = the file
    /// name, as Clotho's retrieval_audio/ names its clips).
    AudioDir(PathBuf),
}

impl Candidates {
    /// The index or folder, for messages.
    pub fn path(&self) -> &Path {
        match self {
            Candidates::Packed(p) | Candidates::AudioDir(p) => p,
        }
    }

    fn describe(&self) -> String {
        match self {
            Candidates::Packed(p) => format!("the waveform index {}", p.display()),
            Candidates::AudioDir(p) => format!("the audio folder {}", p.display()),
        }
    }
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
    /// Each judged query's row and relevant columns.
    pub judged: Vec<(usize, Vec<usize>)>,
}

impl RetrievalEvaluation {
    /// The relevant (row, column) pairs of the score matrix.
    pub fn judged_pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.judged.iter().flat_map(|(i, cols)| cols.iter().map(move |&c| (*i, c)))
    }
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
pub(crate) fn judgements(
    queries: &mut [Query],
    audio_ids: &[String],
    relevance_csv: Option<&Path>,
    queries_path: &Path,
    what: &str,
) -> Result<Vec<(usize, Vec<usize>)>> {
    let ids: HashSet<String> = audio_ids.iter().cloned().collect();
    if let Some(csv) = relevance_csv {
        let judged = read_relevance(csv, Some((&ids, what)))?;
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
                    format!("query {} ({:?}): relevant clip {name:?} is not in {what}", q.query_index, q.query),
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
    let (mut e, tokenizer) = load_with_tokenizer::<B>(source, device)?;
    e.batching = opts.batching;
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

/// The candidate clips, sorted, and where their waveforms are.
struct Loaded {
    audio_ids: Vec<String>,
    waves: Waves,
    sample_rate: u32,
}

/// The waveforms of a [`Loaded`] set: packed shards, or files with their lengths at the model's rate.
enum Waves {
    Packed(WaveformReader),
    Files(HashMap<String, (PathBuf, usize)>),
}

impl Loaded {
    fn source(&self) -> ClipSource<'_> {
        match &self.waves {
            Waves::Packed(r) => ClipSource::Packed(r),
            Waves::Files(files) => ClipSource::Files { files, sample_rate: self.sample_rate },
        }
    }
}

/// How many unreadable files an error lists by name.
const LISTED: usize = 5;

/// The sorted candidate clips (at the model's rate). The files of an audio folder are probed first:
/// unreadable ones are one error naming them, before any model work (a retrieval set or a submission
/// without some of its clips would be a different task).
fn candidates(c: &Candidates, sample_rate: u32) -> Result<Loaded> {
    use rayon::prelude::*;
    let loaded = match c {
        Candidates::Packed(index) => {
            let mut pairs = read_index_at(index, sample_rate)?;
            pairs.sort();
            let audio_ids = pairs.iter().map(|(id, _)| id.clone()).collect();
            Loaded { audio_ids, waves: Waves::Packed(WaveformReader::from_pairs(pairs)), sample_rate }
        }
        Candidates::AudioDir(dir) => {
            use crate::manifest::scan::{list_audio, IdFrom, ScanOptions};
            let listing = list_audio(dir, &ScanOptions { recursive: true, id_from: IdFrom::Name })?;
            // Each file's length at the model's rate, from its header (for ordering batches).
            let lengths: Vec<Result<usize, String>> = listing
                .files
                .par_iter()
                .map(|(_, path)| {
                    let p = crate::audio::probe::probe(path)?;
                    Ok(match (p.frames, p.sample_rate) {
                        (Some(n), Some(sr)) if sr > 0 => (n as f64 * sample_rate as f64 / sr as f64) as usize,
                        _ => 0,
                    })
                })
                .collect();
            let mut files = HashMap::new();
            let mut bad = Vec::new();
            for ((id, path), len) in listing.files.into_iter().zip(lengths) {
                match len {
                    Ok(len) => {
                        files.insert(id, (path, len));
                    }
                    Err(e) => bad.push(format!("{}: {e}", path.display())),
                }
            }
            if !bad.is_empty() {
                let more =
                    if bad.len() > LISTED { format!("; and {} more", bad.len() - LISTED) } else { String::new() };
                return Err(Error::file(
                    dir,
                    format!(
                        "{} audio files cannot be read (fix or remove them): {}{more}",
                        bad.len(),
                        bad[..bad.len().min(LISTED)].join("; ")
                    ),
                ));
            }
            let mut audio_ids: Vec<String> = files.keys().cloned().collect();
            audio_ids.sort();
            Loaded { audio_ids, waves: Waves::Files(files), sample_rate }
        }
    };
    if loaded.audio_ids.is_empty() {
        return Err(Error::file(c.path(), "holds no clips"));
    }
    Ok(loaded)
}

fn score<B: Backend>(
    e: &Embedder<B>,
    tokenizer: &CaptionTokenizer,
    queries: &[Query],
    loaded: &Loaded,
    batches: Batches,
    progress: &dyn crate::progress::Progress,
) -> Result<Vec<f32>> {
    let texts: Vec<String> = queries.iter().map(|q| q.query.clone()).collect();
    progress.start(loaded.audio_ids.len() as u64);
    let source = loaded.source();
    let clips = Clips { audio_ids: &loaded.audio_ids, source: &source };
    similarities(&e.model, &clips, &texts, &e.logmel, tokenizer, batches, &e.device, |n| progress.advance(n as u64))
}

/// Score every query of `queries` (any kind [`read_queries`] takes) against every candidate clip,
/// without judgements (for a submission).
pub fn score_queries<B: Backend>(
    e: &Embedder<B>,
    tokenizer: &CaptionTokenizer,
    queries: &Path,
    candidates_of: &Candidates,
    batch_size: usize,
    progress: &dyn crate::progress::Progress,
) -> Result<Scored> {
    let queries = read_queries(queries)?;
    let loaded = candidates(candidates_of, e.config.sample_rate)?;
    let batches = Batches { size: batch_size, batching: e.batching };
    let sims = score(e, tokenizer, &queries, &loaded, batches, progress)?;
    Ok(Scored { queries, audio_ids: loaded.audio_ids, sims })
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
    let loaded = candidates(&opts.candidates, e.config.sample_rate)?;
    // Judgements first: a bad one fails before the clips are embedded.
    let judged = judgements(
        &mut queries,
        &loaded.audio_ids,
        opts.relevance.as_deref(),
        &opts.queries,
        &opts.candidates.describe(),
    )?;
    let batches = Batches { size: opts.batch_size, batching: opts.batching };
    let sims = score(e, tokenizer, &queries, &loaded, batches, progress)?;
    let audio_ids = loaded.audio_ids;
    let (metrics, results) = score_judged(&queries, &audio_ids, &sims, &judged)?;
    Ok(RetrievalEvaluation { queries, audio_ids, sims, metrics, results, judged })
}

/// The multi-relevance metrics of the judged rows of `sims` ([queries, clips]) and each judged
/// query's result.
pub(crate) fn score_judged(
    queries: &[Query],
    audio_ids: &[String],
    sims: &[f32],
    judged: &[(usize, Vec<usize>)],
) -> Result<(RelevanceMetrics, Vec<QueryResultRow>)> {
    let (metrics, per_query) = relevance_of_rows(sims, &[queries.len(), audio_ids.len()], judged)?;
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
    Ok((metrics, results))
}
