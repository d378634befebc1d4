//! Queries of an index: captions and audio files embedded with the index's model, or embeddings
//! computed elsewhere; searched together as one matrix.

use std::path::{Path, PathBuf};

use super::{Hit, Index};
use crate::error::{Error, Result};
use crate::model::checkpoint::Embedder;
use crate::model::tokenizer::CaptionTokenizer;
use clap_tools_backends::burn::tensor::backend::Backend;

/// One query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Text(String),
    Audio(PathBuf),
}

impl Query {
    /// How results name the query: the text, or the audio file as given.
    pub fn label(&self) -> String {
        match self {
            Query::Text(t) => t.clone(),
            Query::Audio(p) => p.display().to_string(),
        }
    }
}

/// The model that embeds queries, and its tokenizer when there are text queries.
pub struct QueryModel<'a, B: Backend> {
    pub model: &'a Embedder<B>,
    pub tokenizer: Option<&'a CaptionTokenizer>,
}

/// The embeddings of `queries` ([n, dim], row-major), texts `batch` at a time. An audio query that
/// cannot be decoded is an error naming its file.
pub fn embed<B: Backend>(m: &QueryModel<'_, B>, queries: &[Query], batch: usize) -> Result<Vec<f32>> {
    let dim = m.model.dim();
    let mut out = vec![0f32; queries.len() * dim];
    let texts: Vec<(usize, &str)> = queries
        .iter()
        .enumerate()
        .filter_map(|(i, q)| match q {
            Query::Text(t) => Some((i, t.as_str())),
            Query::Audio(_) => None,
        })
        .collect();
    if !texts.is_empty() {
        let tokenizer = m.tokenizer.ok_or_else(|| Error::Internal("text queries without a tokenizer".into()))?;
        for chunk in texts.chunks(batch.max(1)) {
            let refs: Vec<&str> = chunk.iter().map(|(_, t)| *t).collect();
            let e = m.model.text(tokenizer, &refs)?;
            for (j, (i, _)) in chunk.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&e[j * dim..(j + 1) * dim]);
            }
        }
    }
    for (i, q) in queries.iter().enumerate() {
        if let Query::Audio(path) = q {
            let wave = crate::embed::decode_file(path, m.model.config.sample_rate)?;
            if wave.is_empty() {
                return Err(Error::file(path, "holds no audio samples"));
            }
            out[i * dim..(i + 1) * dim].copy_from_slice(&m.model.audio(&[&wave])?);
        }
    }
    Ok(out)
}

/// Query embeddings computed elsewhere: `Q.npy` [n, dim] (float32), named by the `Q.parquet` of an
/// `embed` output beside it (its captions, else its audio_ids), else `query-1`, `query-2`, …; each row
/// L2-normalised, so scores are cosines.
pub fn read_embeddings(path: &Path, dim: usize) -> Result<(Vec<String>, Vec<f32>)> {
    let a = crate::npy::read_f32(path)?;
    let n = match a.shape[..] {
        [n, d] if d == dim => n,
        [d] if d == dim => 1,
        _ => {
            return Err(Error::file(
                path,
                format!("shape {:?}: query embeddings must be [queries, {dim}] (the index's dimension)", a.shape),
            ))
        }
    };
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::file(path, format!("query {} has a non-finite value", i / dim + 1)));
    }
    // Scores are cosines, as for every other query: each row is L2-normalised here (embeddings from
    // elsewhere need not be). Rows already of unit length (an `embed` output) are kept as they are,
    // so they score exactly as the same captions searched by text. An all-zero row has no direction.
    let mut data = a.data;
    for (i, row) in data.chunks_mut(dim).enumerate() {
        let norm = row.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(Error::file(path, format!("query {} is all zeros (no direction to search)", i + 1)));
        }
        if (norm - 1.0).abs() > 1e-6 {
            row.iter_mut().for_each(|v| *v = (f64::from(*v) / norm) as f32);
        }
    }
    let table = path.with_extension("parquet");
    let names = if table.is_file() {
        let rows = crate::table::read_embedding_ids(&table)?;
        if rows.len() != n {
            return Err(Error::file(&table, format!("names {} rows but {} holds {n}", rows.len(), path.display())));
        }
        rows.into_iter().map(|(id, caption, _)| caption.unwrap_or(id)).collect()
    } else {
        (1..=n).map(|i| format!("query-{i}")).collect()
    };
    Ok((names, data))
}

/// One query's results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Results {
    pub query: String,
    pub hits: Vec<ResultHit>,
}

/// A hit as shown: the clip's id and score (and its row, for the clip's other columns).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResultHit {
    pub audio_id: String,
    pub score: f32,
    #[serde(skip)]
    pub row: usize,
}

/// Search `index` with the embedded queries `matrix` named by `names`, `k` hits each.
pub fn search(index: &Index, names: Vec<String>, matrix: &[f32], k: usize) -> Result<Vec<Results>> {
    if k == 0 {
        return Err(Error::config("k", "must be at least 1"));
    }
    let found = index.search(matrix, k)?;
    Ok(names
        .into_iter()
        .zip(found)
        .map(|(query, hits)| Results {
            query,
            hits: hits
                .into_iter()
                .map(|Hit { row, score }| ResultHit { audio_id: index.clips[row].audio_id.clone(), score, row })
                .collect(),
        })
        .collect())
}
