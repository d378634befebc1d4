//! Retrieval metrics of a text × audio similarity matrix, with the reference's definitions
//! (wsntxxn/DCASE2022T6_CLAP `models/metric.py`: `t2a_metrics`, `a2t_metrics`, `cols2metrics`) and the
//! DCASE 2022 Task 6B mAP@10.
//!
//! The matrix has one row per caption and one column per clip. Which clip a caption describes is
//! either implied, as the reference orders them (the captions of clip `j` are rows `j·k .. (j+1)·k`,
//! `k` captions per clip: [`ranks`]), or given per row, any number of captions per clip
//! ([`ranks_grouped`]); the definitions are the same. Higher scores rank first.
//!
//! Definitions (ranks are 0-based internally, as the reference's `cols`):
//! - **t2a rank** of caption `i` (clip `j = i / k`): with `g` the number of clips scored strictly higher
//!   than clip `j` in row `i` and `e` the number scored exactly equal (clip `j` included), the rank is
//!   `g + (e − 1) / 2`: the mean of the positions `g .. g+e−1` that the tied scores occupy in the sorted
//!   row, which is what the reference's "averaging" tie-break computes.
//! - **a2t rank** of clip `j`: in column `j`, the smallest such averaged rank among the clip's
//!   captions. That minimum is always the rank of the caption with the highest score (any caption scored
//!   lower sits behind all the ties of the highest), so it is computed once per clip.
//! - **R@k** (k = 1, 5, 10, 50): the percentage of queries with rank `< k` (R1: rank exactly 0, so a
//!   query tied for first with others does not count). **MedR** and **MeanR**: the median (the mean of
//!   the two middle values for an even count) and the mean of the ranks, plus 1 (1-based).
//!   **geometric_mean_R1-R5-R10**: `exp(mean(ln(R1, R5, R10)))`, 0 when any of them is 0.
//! - **mAP@10** (DCASE 2022 Task 6B, one relevant clip per caption): the mean over captions of
//!   `1 / rank` when the 1-based t2a rank is at most 10, else 0, reported in percent like every other
//!   metric ([`map_at_k`] itself is the fraction). Ties use the averaged rank (a caption
//!   tied with one other clip for first place has rank 1.5 and scores 2/3). **mAP@16** is the same at
//!   16, the cut-off DCASE 2025 ranks by.
//! - **Several relevant clips per query** (DCASE 2025's relevance judgements, [`relevance`]): each
//!   relevant clip's averaged rank in the query's row; R@k counts a query whose best relevant clip
//!   ranks `< k`, MedR/MeanR are over that best rank, and the **AP@k** of a query sorts its relevant
//!   ranks `r₁ ≤ r₂ ≤ …` and sums `i / (rᵢ + 1)` over those with `rᵢ < k`, divided by the number of
//!   relevant clips (the 2025 baseline's `average_precision_at_k`). With one relevant clip and no
//!   ties this is the mAP@k above (a tied rank between k−1 and k counts here, not there).
//!
//! Counting instead of sorting makes this O(captions × clips), parallel over rows with rayon.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::npy;

/// One direction's metrics, named as the reference names them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrievalMetrics {
    /// Percentage of queries ranked first (rank exactly 1).
    #[serde(rename = "R1")]
    pub r1: f64,
    /// Percentage of queries ranked within the top 5.
    #[serde(rename = "R5")]
    pub r5: f64,
    #[serde(rename = "R10")]
    pub r10: f64,
    #[serde(rename = "R50")]
    pub r50: f64,
    /// Median rank, 1-based.
    #[serde(rename = "MedR")]
    pub medr: f64,
    /// Mean rank, 1-based.
    #[serde(rename = "MeanR")]
    pub meanr: f64,
    /// Geometric mean of R1, R5 and R10 (the reference's model-selection criterion on t2a).
    #[serde(rename = "geometric_mean_R1-R5-R10")]
    pub geometric_mean_r1_r5_r10: f64,
}

/// Text-to-audio and audio-to-text metrics of one similarity matrix, and the DCASE mAP@10 and @16.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub captions: usize,
    pub clips: usize,
    /// The number of captions of every clip; `null` when clips have different numbers.
    pub captions_per_clip: Option<usize>,
    /// Each caption ranks all clips.
    pub t2a: RetrievalMetrics,
    /// Each clip ranks all captions; its best-ranked caption counts.
    pub a2t: RetrievalMetrics,
    /// DCASE 2022 Task 6B mAP@10 of the t2a ranks, in percent (as R@k).
    #[serde(rename = "mAP@10")]
    pub map10: f64,
    /// The same at 16 (DCASE 2025's cut-off), in percent.
    #[serde(rename = "mAP@16")]
    pub map16: f64,
}

/// The 0-based ranks of one similarity matrix (fractional where scores tie), as the reference hands
/// them to its `cols2metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranks {
    /// `None` when clips have different numbers of captions.
    pub captions_per_clip: Option<usize>,
    /// One per caption (row): where its clip ranks among all clips.
    pub t2a: Vec<f64>,
    /// One per clip (column): where its best caption ranks among all captions.
    pub a2t: Vec<f64>,
}

/// The t2a and a2t ranks of a row-major matrix of `shape` (captions × clips). It must be 2-D and not
/// empty, with rows = clips × `captions_per_clip` (inferred as rows / columns when `None`), and every
/// value finite; otherwise [`Error::Model`] says what is wrong with the model's scores (and where the
/// first NaN is).
pub fn ranks(data: &[f32], shape: &[usize], captions_per_clip: Option<usize>) -> Result<Ranks> {
    ranks_or_message(data, shape, captions_per_clip).map_err(|m| Error::Model(format!("similarity matrix: {m}")))
}

/// The t2a and a2t ranks of a row-major matrix of `shape` (captions × clips) whose row `i` describes
/// clip `clip_of[i]` (any number of captions per clip, in any order). Every clip needs a caption.
pub fn ranks_grouped(data: &[f32], shape: &[usize], clip_of: &[usize]) -> Result<Ranks> {
    ranks_grouped_or_message(data, shape, clip_of).map_err(|m| Error::Model(format!("similarity matrix: {m}")))
}

/// All metrics of a matrix whose row `i` describes clip `clip_of[i]` (see [`ranks_grouped`]).
pub fn evaluate_grouped(data: &[f32], shape: &[usize], clip_of: &[usize]) -> Result<Metrics> {
    Ok(Metrics::from_ranks(&ranks_grouped(data, shape, clip_of)?))
}

/// All metrics of a row-major matrix of `shape` (captions × clips); see [`ranks`] for what it must be.
pub fn evaluate(data: &[f32], shape: &[usize], captions_per_clip: Option<usize>) -> Result<Metrics> {
    Ok(Metrics::from_ranks(&ranks(data, shape, captions_per_clip)?))
}

/// All metrics of a matrix read from `path` (see [`evaluate_npy`]); a bad matrix is an error naming
/// `path`.
pub fn evaluate_array(path: &Path, data: &[f32], shape: &[usize], captions_per_clip: Option<usize>) -> Result<Metrics> {
    if captions_per_clip == Some(0) {
        return Err(Error::config("captions_per_clip", "must be at least 1"));
    }
    let r = ranks_or_message(data, shape, captions_per_clip).map_err(|m| Error::file(path, m))?;
    Ok(Metrics::from_ranks(&r))
}

/// All metrics of a float32 `.npy` similarity matrix (captions × clips). A bad file — not float32,
/// not 2-D, rows not clips × captions per clip, NaN or infinite values — is an error naming it.
pub fn evaluate_npy(path: &Path, captions_per_clip: Option<usize>) -> Result<Metrics> {
    if captions_per_clip == Some(0) {
        return Err(Error::config("captions_per_clip", "must be at least 1"));
    }
    let array = npy::map_f32(path)?;
    evaluate_array(path, array.data(), &array.shape, captions_per_clip)
}

impl Metrics {
    /// "N clips × k captions", or "N clips, M captions (varying per clip)".
    pub fn describe(&self) -> String {
        match self.captions_per_clip {
            Some(k) => format!("{} clips × {k} captions", self.clips),
            None => format!("{} clips, {} captions (varying per clip)", self.clips, self.captions),
        }
    }

    /// Both directions' metrics and the mAP@10 of the t2a ranks (NaN for a direction without ranks;
    /// [`ranks`] never makes those).
    pub fn from_ranks(ranks: &Ranks) -> Metrics {
        let summary = |r: &[f64]| RetrievalMetrics::from_ranks(r).unwrap_or(RetrievalMetrics::NAN);
        Metrics {
            captions: ranks.t2a.len(),
            clips: ranks.a2t.len(),
            captions_per_clip: ranks.captions_per_clip,
            t2a: summary(&ranks.t2a),
            a2t: summary(&ranks.a2t),
            map10: 100.0 * map_at_k(&ranks.t2a, 10),
            map16: 100.0 * map_at_k(&ranks.t2a, 16),
        }
    }
}

/// Rows × columns × captions per clip of a checked shape.
#[derive(Debug, Clone, Copy)]
struct Shape {
    captions: usize,
    clips: usize,
    per_clip: usize,
}

/// Rows × columns of a 2-D, non-empty matrix holding `len` values.
fn check_2d(len: usize, shape: &[usize]) -> Result<(usize, usize), String> {
    let &[rows, cols] = shape else {
        return Err(format!(
            "expected a 2-D similarity matrix (captions × clips), found {} dimensions (shape {shape:?})",
            shape.len()
        ));
    };
    if rows.checked_mul(cols) != Some(len) {
        return Err(format!("shape {shape:?} does not hold {len} values"));
    }
    if rows == 0 || cols == 0 {
        return Err(format!("empty similarity matrix (shape {shape:?})"));
    }
    Ok((rows, cols))
}

fn check_shape(len: usize, shape: &[usize], captions_per_clip: Option<usize>) -> Result<Shape, String> {
    let (rows, cols) = check_2d(len, shape)?;
    let per_clip = match captions_per_clip {
        Some(0) => return Err("captions per clip must be at least 1".into()),
        Some(k) if cols.checked_mul(k) != Some(rows) => {
            return Err(format!(
                "{rows} rows are not {cols} clips (columns) × {k} captions per clip = {}: rows must be the \
                 captions of clip 0, then those of clip 1, and so on",
                cols.saturating_mul(k)
            ))
        }
        Some(k) => k,
        None if rows % cols != 0 => {
            return Err(format!(
                "{rows} rows are not a multiple of {cols} columns (clips): rows must be the captions grouped \
                 by clip, the same number for each clip"
            ))
        }
        None => rows / cols,
    };
    Ok(Shape { captions: rows, clips: cols, per_clip })
}

fn ranks_or_message(data: &[f32], shape: &[usize], captions_per_clip: Option<usize>) -> Result<Ranks, String> {
    let s = check_shape(data.len(), shape, captions_per_clip)?;
    let clip_of: Vec<usize> = (0..s.captions).map(|i| i / s.per_clip).collect();
    let (t2a, a2t) = twice_ranks(data, s.clips, &clip_of)?;
    Ok(Ranks { captions_per_clip: Some(s.per_clip), t2a: half(t2a), a2t: half(a2t) })
}

fn ranks_grouped_or_message(data: &[f32], shape: &[usize], clip_of: &[usize]) -> Result<Ranks, String> {
    let (rows, cols) = check_2d(data.len(), shape)?;
    if clip_of.len() != rows {
        return Err(format!("{rows} rows (captions) but {} caption-to-clip entries", clip_of.len()));
    }
    let mut per_clip = vec![0usize; cols];
    for (i, &j) in clip_of.iter().enumerate() {
        *per_clip.get_mut(j).ok_or_else(|| format!("row {i} names clip {j}, but there are {cols} columns"))? += 1;
    }
    if let Some(j) = per_clip.iter().position(|&n| n == 0) {
        return Err(format!("clip {j} (column {j}) has no caption"));
    }
    let uniform = per_clip.iter().all(|&n| n == per_clip[0]).then_some(per_clip[0]);
    let (t2a, a2t) = twice_ranks(data, cols, clip_of)?;
    Ok(Ranks { captions_per_clip: uniform, t2a: half(t2a), a2t: half(a2t) })
}

fn half(twice: Vec<u64>) -> Vec<f64> {
    twice.into_iter().map(|t| t as f64 / 2.0).collect()
}

/// Column counts of one block of rows: scores strictly above and equal to each clip's best caption
/// score, and whether a non-finite value was seen.
struct Counts {
    greater: Vec<u32>,
    equal: Vec<u32>,
    nonfinite: bool,
}

impl Counts {
    fn new(m: usize) -> Self {
        Counts { greater: vec![0; m], equal: vec![0; m], nonfinite: false }
    }
    fn add(mut self, other: Counts) -> Self {
        self.greater.iter_mut().zip(other.greater).for_each(|(a, b)| *a += b);
        self.equal.iter_mut().zip(other.equal).for_each(|(a, b)| *a += b);
        self.nonfinite |= other.nonfinite;
        self
    }
}

/// Twice the 0-based averaged ranks (integers: ranks are multiples of ½), t2a per caption and a2t per
/// clip, in one parallel pass over the matrix of `m` columns; then the error if a value was not finite.
///
/// t2a, row i of clip j = clip_of[i]: g scores > row[j], e scores == row[j] (itself included); rank
/// g + (e − 1)/2. a2t, clip j: the same counts down column j against the best score of the clip's
/// captions (the caption with the best score has the best averaged rank).
fn twice_ranks(data: &[f32], m: usize, clip_of: &[usize]) -> Result<(Vec<u64>, Vec<u64>), String> {
    let n = clip_of.len();
    // f32::max ignores NaN; any NaN is reported below.
    let mut best = vec![f32::NEG_INFINITY; m];
    for (i, &j) in clip_of.iter().enumerate() {
        best[j] = best[j].max(data[i * m + j]);
    }
    const ROWS_PER_TASK: usize = 32;
    let kernel = row_kernel();
    let mut t2a = vec![0u64; n];
    let counts = data
        .par_chunks(m * ROWS_PER_TASK)
        .zip(t2a.par_chunks_mut(ROWS_PER_TASK))
        .enumerate()
        .fold(
            || Counts::new(m),
            |mut c, (block, (rows, out))| {
                for (r, (row, rank)) in rows.chunks_exact(m).zip(out).enumerate() {
                    let gt = row[clip_of[block * ROWS_PER_TASK + r]];
                    let (greater, equal, bad) = kernel(row, gt, &best, &mut c.greater, &mut c.equal);
                    c.nonfinite |= bad;
                    // equal ≥ 1 when the ground truth is finite; the pass is void otherwise.
                    *rank = (2 * greater as u64 + equal as u64).saturating_sub(1);
                }
                c
            },
        )
        .reduce(|| Counts::new(m), Counts::add);
    if counts.nonfinite {
        return Err(nonfinite_message(data, m));
    }
    let a2t =
        counts.greater.iter().zip(&counts.equal).map(|(&g, &e)| (2 * g as u64 + e as u64).saturating_sub(1)).collect();
    Ok((t2a, a2t))
}

/// One row's work: its t2a counts against `gt` (strictly greater, equal), its contribution to the a2t
/// column counts against `best`, and whether it holds a non-finite value.
type RowKernel = fn(&[f32], f32, &[f32], &mut [u32], &mut [u32]) -> (u32, u32, bool);

#[inline(always)]
fn row_counts(row: &[f32], gt: f32, best: &[f32], greater: &mut [u32], equal: &mut [u32]) -> (u32, u32, bool) {
    let (mut g, mut e, mut bad) = (0u32, 0u32, 0u32);
    for ((&x, &b), (cg, ce)) in row.iter().zip(best).zip(greater.iter_mut().zip(equal.iter_mut())) {
        g += (x > gt) as u32;
        e += (x == gt) as u32;
        *cg += (x > b) as u32;
        *ce += (x == b) as u32;
        bad |= !x.is_finite() as u32;
    }
    (g, e, bad != 0)
}

/// The same loop compiled for AVX2 (8 lanes instead of SSE2's 4), used where the CPU has it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn row_counts_avx2(row: &[f32], gt: f32, best: &[f32], greater: &mut [u32], equal: &mut [u32]) -> (u32, u32, bool) {
    row_counts(row, gt, best, greater, equal)
}

fn row_kernel() -> RowKernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return |row, gt, best, greater, equal| unsafe { row_counts_avx2(row, gt, best, greater, equal) };
    }
    row_counts
}

/// Where the first non-finite value is, and how many there are.
fn nonfinite_message(data: &[f32], cols: usize) -> String {
    let i = data.par_iter().position_first(|x| !x.is_finite()).unwrap_or(0);
    let bad = data.par_iter().filter(|x| !x.is_finite()).count();
    format!(
        "{} at row {}, column {} ({bad} non-finite value{} in all): similarities must be finite",
        if data[i].is_nan() { "NaN" } else { "infinite value" },
        i / cols,
        i % cols,
        if bad == 1 { "" } else { "s" }
    )
}

impl RetrievalMetrics {
    const NAN: RetrievalMetrics = RetrievalMetrics {
        r1: f64::NAN,
        r5: f64::NAN,
        r10: f64::NAN,
        r50: f64::NAN,
        medr: f64::NAN,
        meanr: f64::NAN,
        geometric_mean_r1_r5_r10: f64::NAN,
    };

    /// The reference's `cols2metrics` over 0-based ranks (one per query; fractional ranks from ties).
    pub fn from_ranks(ranks: &[f64]) -> Result<Self> {
        let n = ranks.len();
        if n == 0 {
            return Err(Error::Internal("no ranks to summarise".into()));
        }
        let pct = |k: f64| 100.0 * ranks.iter().filter(|&&r| r < k).count() as f64 / n as f64;
        let r1 = 100.0 * ranks.iter().filter(|&&r| r == 0.0).count() as f64 / n as f64;
        let (r5, r10, r50) = (pct(5.0), pct(10.0), pct(50.0));
        let mut sorted = ranks.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        let mean = ranks.iter().sum::<f64>() / n as f64;
        Ok(RetrievalMetrics {
            r1,
            r5,
            r10,
            r50,
            medr: median + 1.0,
            meanr: mean + 1.0,
            geometric_mean_r1_r5_r10: geometric_mean(&[r1, r5, r10]),
        })
    }
}

/// `exp(mean(ln x))`; 0 when any value is 0.
fn geometric_mean(x: &[f64]) -> f64 {
    (x.iter().map(|v| v.ln()).sum::<f64>() / x.len() as f64).exp()
}

/// Mean average precision at `k` with one relevant item per query, from 0-based ranks: the mean of
/// `1 / (rank + 1)` over the queries whose 1-based rank is at most `k` (0 for the others).
pub fn map_at_k(ranks: &[f64], k: usize) -> f64 {
    if ranks.is_empty() {
        return 0.0;
    }
    let sum: f64 = ranks.iter().map(|&r| if r + 1.0 <= k as f64 { 1.0 / (r + 1.0) } else { 0.0 }).sum();
    sum / ranks.len() as f64
}

/// Metrics of queries with several relevant clips each (DCASE 2025), in percent like [`Metrics`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelevanceMetrics {
    pub queries: usize,
    pub clips: usize,
    /// Mean number of relevant clips per query.
    pub relevant_per_query: f64,
    /// R@k, MedR, MeanR of each query's best-ranked relevant clip.
    pub t2a: RetrievalMetrics,
    #[serde(rename = "mAP@10")]
    pub map10: f64,
    /// The figure DCASE 2025 ranks systems by.
    #[serde(rename = "mAP@16")]
    pub map16: f64,
}

/// One query's relevant clips (columns), their 0-based averaged ranks (same order) and its AP@10 and
/// AP@16 as fractions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    pub relevant: Vec<usize>,
    pub ranks: Vec<f64>,
    pub ap10: f64,
    pub ap16: f64,
}

/// Metrics of a row-major matrix of `shape` (queries × clips) where query `i` has the relevant clips
/// (columns) `relevant[i]`, and each query's result. Every query needs at least one relevant clip,
/// each named once.
pub fn relevance(
    data: &[f32],
    shape: &[usize],
    relevant: &[Vec<usize>],
) -> Result<(RelevanceMetrics, Vec<QueryResult>)> {
    relevance_or_message(data, shape, relevant).map_err(|m| Error::Model(format!("similarity matrix: {m}")))
}

fn relevance_or_message(
    data: &[f32],
    shape: &[usize],
    relevant: &[Vec<usize>],
) -> Result<(RelevanceMetrics, Vec<QueryResult>), String> {
    let (rows, cols) = check_2d(data.len(), shape)?;
    if relevant.len() != rows {
        return Err(format!("{rows} rows (queries) but relevant clips for {} queries", relevant.len()));
    }
    for (i, rel) in relevant.iter().enumerate() {
        if rel.is_empty() {
            return Err(format!("query {i} has no relevant clip"));
        }
        if let Some(&j) = rel.iter().find(|&&j| j >= cols) {
            return Err(format!("query {i} names clip {j}, but there are {cols} columns"));
        }
        let mut sorted = rel.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("query {i} names clip {} twice", w[0]));
        }
    }
    if data.par_iter().any(|x| !x.is_finite()) {
        return Err(nonfinite_message(data, cols));
    }
    let results: Vec<QueryResult> = data
        .par_chunks(cols)
        .zip(relevant)
        .map(|(row, rel)| {
            let ranks: Vec<f64> = rel
                .iter()
                .map(|&j| {
                    let (g, e) =
                        row.iter().fold((0u64, 0u64), |(g, e), &x| (g + (x > row[j]) as u64, e + (x == row[j]) as u64));
                    (2 * g + e - 1) as f64 / 2.0
                })
                .collect();
            QueryResult {
                ap10: average_precision_at_k(&ranks, 10),
                ap16: average_precision_at_k(&ranks, 16),
                relevant: rel.clone(),
                ranks,
            }
        })
        .collect();
    let best: Vec<f64> = results.iter().map(|q| q.ranks.iter().copied().fold(f64::INFINITY, f64::min)).collect();
    let mean = |f: &dyn Fn(&QueryResult) -> f64| results.iter().map(f).sum::<f64>() / rows as f64;
    let metrics = RelevanceMetrics {
        queries: rows,
        clips: cols,
        relevant_per_query: mean(&|q| q.relevant.len() as f64),
        t2a: RetrievalMetrics::from_ranks(&best).map_err(|e| e.to_string())?,
        map10: 100.0 * mean(&|q| q.ap10),
        map16: 100.0 * mean(&|q| q.ap16),
    };
    Ok((metrics, results))
}

/// [`relevance`] over some rows of a row-major matrix of `shape`: `judged` holds each scored row and
/// its relevant columns (rows left out are unjudged).
pub fn relevance_of_rows(
    data: &[f32],
    shape: &[usize],
    judged: &[(usize, Vec<usize>)],
) -> Result<(RelevanceMetrics, Vec<QueryResult>)> {
    let cols = shape.get(1).copied().unwrap_or(0);
    let rows: Vec<f32> = judged.iter().flat_map(|(i, _)| data[i * cols..(i + 1) * cols].iter().copied()).collect();
    let relevant: Vec<Vec<usize>> = judged.iter().map(|(_, r)| r.clone()).collect();
    relevance(&rows, &[judged.len(), cols], &relevant)
}

/// AP@k of one query from the 0-based ranks of its relevant clips (any order): sorted, the i-th
/// (1-based) with rank `r < k` adds `i / (r + 1)`; the sum is divided by the number of relevant clips.
pub fn average_precision_at_k(ranks: &[f64], k: usize) -> f64 {
    if ranks.is_empty() {
        return 0.0;
    }
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let sum: f64 =
        sorted.iter().enumerate().take_while(|(_, &r)| r < k as f64).map(|(i, &r)| (i + 1) as f64 / (r + 1.0)).sum();
    sum / ranks.len() as f64
}

/// A plain-text summary of the multi-relevance metrics.
pub fn render_relevance(m: &RelevanceMetrics) -> String {
    let r = &m.t2a;
    format!(
        "{} queries × {} clips, {:.2} relevant clips per query\n{:<5}{:>8}{:>8}{:>8}{:>8}{:>8}{:>9}{:>9}{:>9}\n{:<5}{:>8.2}{:>8.2}{:>8.2}{:>8.2}{:>8.2}{:>9.2}{:>9.2}{:>9.2}\n",
        m.queries, m.clips, m.relevant_per_query, "", "R@1", "R@5", "R@10", "R@50", "MedR", "MeanR", "mAP@10", "mAP@16",
        "t2a", r.r1, r.r5, r.r10, r.r50, r.medr, r.meanr, m.map10, m.map16
    )
}

/// A plain-text table of the metrics.
pub fn render(m: &Metrics) -> String {
    let per_clip = match m.captions_per_clip {
        Some(1) => "1 caption per clip".to_string(),
        Some(k) => format!("{k} captions per clip"),
        None => "captions per clip vary".to_string(),
    };
    let mut out = format!("{} captions × {} clips, {per_clip}\n", m.captions, m.clips);
    out += &format!(
        "{:<5}{:>8}{:>8}{:>8}{:>8}{:>8}{:>9}{:>19}\n",
        "", "R@1", "R@5", "R@10", "R@50", "MedR", "MeanR", "gmean(R1,R5,R10)"
    );
    for (name, r) in [("t2a", &m.t2a), ("a2t", &m.a2t)] {
        out += &format!(
            "{name:<5}{:>8.2}{:>8.2}{:>8.2}{:>8.2}{:>8.2}{:>9.2}{:>19.2}\n",
            r.r1, r.r5, r.r10, r.r50, r.medr, r.meanr, r.geometric_mean_r1_r5_r10
        );
    }
    out += &format!("mAP@10 (t2a, DCASE 2022–24): {:.2}   mAP@16 (DCASE 2025): {:.2}\n", m.map10, m.map16);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sort-based ranks, straight from the definition, for comparison.
    fn slow_t2a(data: &[f32], m: usize, k: usize) -> Vec<f64> {
        slow_t2a_of(data, m, &(0..data.len() / m).map(|i| i / k).collect::<Vec<_>>())
    }

    /// The mean position of `value` among the row sorted high to low.
    fn slow_rank(row: &[f32], value: f32) -> f64 {
        let mut sorted = row.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let pos: Vec<usize> = (0..row.len()).filter(|&p| sorted[p] == value).collect();
        pos.iter().sum::<usize>() as f64 / pos.len() as f64
    }

    fn slow_t2a_of(data: &[f32], m: usize, clip_of: &[usize]) -> Vec<f64> {
        data.chunks(m).enumerate().map(|(i, row)| slow_rank(row, row[clip_of[i]])).collect()
    }

    fn slow_a2t(data: &[f32], m: usize, k: usize) -> Vec<f64> {
        slow_a2t_of(data, m, &(0..data.len() / m).map(|i| i / k).collect::<Vec<_>>())
    }

    fn slow_a2t_of(data: &[f32], m: usize, clip_of: &[usize]) -> Vec<f64> {
        let n = data.len() / m;
        (0..m)
            .map(|j| {
                let col: Vec<f32> = (0..n).map(|i| data[i * m + j]).collect();
                (0..n).filter(|&i| clip_of[i] == j).map(|i| slow_rank(&col, col[i])).fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 40) as f32 / (1u64 << 24) as f32
    }

    #[test]
    fn ranks_match_sorting_with_ties() {
        let mut seed = 7;
        for (m, k, levels) in [(10, 5, 4.0), (25, 1, 3.0), (12, 5, 1e6), (7, 3, 1.0), (130, 2, 8.0)] {
            let data: Vec<f32> = (0..m * k * m).map(|_| (lcg(&mut seed) * levels).round() / levels).collect();
            let r = ranks(&data, &[m * k, m], Some(k)).unwrap();
            assert_eq!(r.t2a, slow_t2a(&data, m, k), "t2a m={m} k={k}");
            assert_eq!(r.a2t, slow_a2t(&data, m, k), "a2t m={m} k={k}");
        }
    }

    /// Clips with 1, 3 and 5 captions, rows in any order: the same ranks as sorting; and the grouped
    /// path over a uniform grouping gives exactly the uniform path's ranks.
    #[test]
    fn ragged_groups_match_sorting_and_the_uniform_path() {
        let mut seed = 11;
        let m = 9;
        let counts = [1usize, 3, 5, 1, 3, 5, 2, 4, 1];
        let mut clip_of: Vec<usize> = counts.iter().enumerate().flat_map(|(j, &c)| std::iter::repeat_n(j, c)).collect();
        clip_of.reverse();
        clip_of.swap(0, 7);
        for levels in [3.0f32, 1e6] {
            let data: Vec<f32> = (0..clip_of.len() * m).map(|_| (lcg(&mut seed) * levels).round() / levels).collect();
            let r = ranks_grouped(&data, &[clip_of.len(), m], &clip_of).unwrap();
            assert_eq!(r.captions_per_clip, None);
            assert_eq!(r.t2a, slow_t2a_of(&data, m, &clip_of));
            assert_eq!(r.a2t, slow_a2t_of(&data, m, &clip_of));
        }
        let (m, k) = (12, 5);
        let data: Vec<f32> = (0..m * k * m).map(|_| (lcg(&mut seed) * 4.0).round() / 4.0).collect();
        let uniform: Vec<usize> = (0..m * k).map(|i| i / k).collect();
        assert_eq!(ranks_grouped(&data, &[m * k, m], &uniform).unwrap(), ranks(&data, &[m * k, m], Some(k)).unwrap());
        let e = |clip_of: &[usize]| ranks_grouped(&data, &[m * k, m], clip_of).unwrap_err().to_string();
        assert!(e(&uniform[1..]).contains("59 caption-to-clip entries"));
        let mut missing = uniform.clone();
        missing.iter_mut().filter(|j| **j == 3).for_each(|j| *j = 4);
        assert!(e(&missing).contains("clip 3 (column 3) has no caption"));
        missing[0] = 12;
        assert!(e(&missing).contains("row 0 names clip 12"));
    }

    /// Several relevant clips per query: ranks as sorting gives them, AP@k by its definition, R@k by
    /// the best relevant clip; one relevant clip per query gives the single-positive metrics.
    #[test]
    fn relevance_metrics_follow_the_definitions() {
        // Row 0: scores 0.9 (clip 2), 0.8 (clip 0), 0.7 (clip 3), 0.1 (clip 1).
        let data = [0.8f32, 0.1, 0.9, 0.7, 0.0, 0.5, 0.25, 1.0];
        let (m, q) = relevance(&data, &[2, 4], &[vec![0, 3], vec![0]]).unwrap();
        assert_eq!(q[0].ranks, [1.0, 2.0]);
        assert_eq!(q[1].ranks, [3.0]);
        // AP@10 of query 0: (1/2 + 2/3) / 2; of query 1: 1/4.
        assert!((q[0].ap10 - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((q[1].ap10 - 0.25).abs() < 1e-12);
        assert!((m.map10 - 100.0 * ((0.5 + 2.0 / 3.0) / 2.0 + 0.25) / 2.0).abs() < 1e-9);
        assert_eq!((m.t2a.r1, m.t2a.r5, m.relevant_per_query), (0.0, 100.0, 1.5));
        assert!((average_precision_at_k(&[20.0, 3.0, 15.0], 16) - (1.0 / 4.0 + 2.0 / 16.0) / 3.0).abs() < 1e-12);
        assert_eq!(average_precision_at_k(&[16.0], 16), 0.0);

        let mut seed = 5;
        let (rows, cols) = (40, 25);
        let data: Vec<f32> = (0..rows * cols).map(|_| lcg(&mut seed)).collect();
        let clip_of: Vec<usize> = (0..rows).map(|i| (i * 7) % cols).collect();
        let single: Vec<Vec<usize>> = clip_of.iter().map(|&j| vec![j]).collect();
        let (m, q) = relevance(&data, &[rows, cols], &single).unwrap();
        let t2a = slow_t2a_of(&data, cols, &clip_of);
        assert_eq!(q.iter().map(|r| r.ranks[0]).collect::<Vec<_>>(), t2a);
        let plain = RetrievalMetrics::from_ranks(&t2a).unwrap();
        assert_eq!(m.t2a, plain);
        assert!((m.map10 - 100.0 * map_at_k(&t2a, 10)).abs() < 1e-9);
        assert!((m.map16 - 100.0 * map_at_k(&t2a, 16)).abs() < 1e-9);

        let e = |rel: &[Vec<usize>]| relevance(&data[..8], &[2, 4], rel).unwrap_err().to_string();
        assert!(e(&[vec![0], vec![]]).contains("query 1 has no relevant clip"));
        assert!(e(&[vec![0], vec![4]]).contains("query 1 names clip 4"));
        assert!(e(&[vec![1, 1], vec![0]]).contains("query 0 names clip 1 twice"));
        assert!(e(&[vec![0]]).contains("relevant clips for 1 queries"));
    }

    #[test]
    fn every_kernel_counts_the_same() {
        let mut seed = 3;
        let m = 1045;
        let row: Vec<f32> =
            (0..m).map(|i| if i % 97 == 5 { -0.0 } else { (lcg(&mut seed) * 8.0).round() / 8.0 }).collect();
        let best: Vec<f32> = (0..m).map(|_| (lcg(&mut seed) * 8.0).round() / 8.0).collect();
        let run = |kernel: RowKernel| {
            let (mut g, mut e) = (vec![1u32; m], vec![2u32; m]);
            let counts = kernel(&row, 0.5, &best, &mut g, &mut e);
            (counts, g, e)
        };
        let want = run(row_counts);
        assert_eq!(run(row_kernel()), want);
        let mut bad = row.clone();
        bad[m - 1] = f32::NAN;
        assert!(row_kernel()(&bad, 0.5, &best, &mut vec![0; m], &mut vec![0; m]).2);
        assert!(row_counts(&bad, 0.5, &best, &mut vec![0; m], &mut vec![0; m]).2);
    }

    #[test]
    fn all_equal_is_the_middle_rank() {
        let data = vec![0.5f32; 20 * 4];
        let r = ranks(&data, &[20, 4], None).unwrap();
        assert_eq!(r.captions_per_clip, Some(5));
        assert!(r.t2a.iter().all(|&r| r == 1.5));
        assert!(r.a2t.iter().all(|&r| r == 9.5));
        let m = Metrics::from_ranks(&r);
        assert_eq!((m.captions, m.clips, m.captions_per_clip), (20, 4, Some(5)));
        assert_eq!((m.t2a.r1, m.t2a.r5, m.t2a.medr, m.t2a.meanr), (0.0, 100.0, 2.5, 2.5));
        assert_eq!(m.t2a.geometric_mean_r1_r5_r10, 0.0);
        assert!((m.map10 - 100.0 / 2.5).abs() < 1e-12);
        assert_eq!((m.a2t.r5, m.a2t.r10, m.a2t.medr), (0.0, 100.0, 10.5));
    }

    #[test]
    fn perfect_diagonal() {
        let m = 6;
        let data: Vec<f32> = (0..m * m).map(|i| if i / m == i % m { 1.0 } else { -0.0 }).collect();
        let r = evaluate(&data, &[m, m], Some(1)).unwrap();
        assert_eq!((r.t2a.r1, r.a2t.r1, r.t2a.medr, r.a2t.meanr, r.map10), (100.0, 100.0, 1.0, 1.0, 100.0));
        assert!((r.t2a.geometric_mean_r1_r5_r10 - 100.0).abs() < 1e-12);
    }

    #[test]
    fn map_at_10_counts_ranks_up_to_10() {
        assert_eq!(map_at_k(&[0.0, 1.0, 9.0, 9.5, 10.0], 10), (1.0 + 0.5 + 0.1) / 5.0);
    }

    #[test]
    fn bad_matrices_are_errors() {
        let e = |d: &[f32], s: &[usize], k| evaluate(d, s, k).unwrap_err().to_string();
        assert!(e(&[0.0; 8], &[8], None).contains("2-D"));
        assert!(e(&[0.0; 8], &[2, 2, 2], None).contains("2-D"));
        assert!(e(&[], &[0, 3], None).contains("empty"));
        assert!(e(&[0.0; 21], &[7, 3], None).contains("not a multiple"));
        assert!(e(&[0.0; 30], &[10, 3], Some(5)).contains("3 clips (columns) × 5"));
        assert!(e(&[0.0; 9], &[3, 3], Some(0)).contains("at least 1"));
        assert!(e(&[0.0; 9], &[3, 4], None).contains("does not hold 9 values"));
        let mut d = vec![0.0f32; 12];
        d[7] = f32::NAN;
        d[9] = f32::INFINITY;
        let msg = e(&d, &[6, 2], None);
        assert!(msg.contains("NaN at row 3, column 1") && msg.contains("2 non-finite values"), "{msg}");
        d[7] = 0.0;
        assert!(e(&d, &[6, 2], None).contains("infinite value at row 4, column 1"));
    }
}
