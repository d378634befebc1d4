//! Exact top-k by inner product over a row-major embedding matrix: what `search` runs.
//!
//! The matrix is cut into blocks of rows; each block's scores for all queries are one matrix product
//! (the `gemm` crate, one thread per block), and each query keeps its k best rows in a small heap.
//! Blocks run in parallel, so one query reads the matrix once at memory bandwidth and many queries
//! share each block while it is in cache. A float16 index is widened block by block: nothing the size
//! of the index is ever copied.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::npy::Values;

/// Rows per block: 2048 rows of 1024 floats (8 MiB) keep a block's scores for 1000 queries at 8 MiB.
const BLOCK: usize = 2048;

/// Scores checked against a query's floor at once.
const LANES: usize = 16;

/// One result: a row of the index and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub row: usize,
    pub score: f32,
}

/// Ranked before: a higher score, then (ties) the lower row, as a stable sort of the scores would
/// put it. NaN ranks last.
#[derive(Clone, Copy)]
struct Cand(Hit);

impl Cand {
    fn key(&self) -> f32 {
        if self.0.score.is_nan() {
            f32::NEG_INFINITY
        } else {
            self.0.score
        }
    }
}

impl PartialEq for Cand {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cand {
    /// Greater = better.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().total_cmp(&other.key()).then_with(|| other.0.row.cmp(&self.0.row))
    }
}

/// The k best of what it has seen: a min-heap whose top is the worst kept.
#[derive(Clone)]
struct TopK {
    k: usize,
    heap: BinaryHeap<std::cmp::Reverse<Cand>>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    fn push(&mut self, hit: Hit) {
        let c = Cand(hit);
        if self.heap.len() < self.k {
            self.heap.push(std::cmp::Reverse(c));
        } else if let Some(worst) = self.heap.peek() {
            if c > worst.0 {
                self.heap.pop();
                self.heap.push(std::cmp::Reverse(c));
            }
        }
    }

    /// The lowest score that still gets in (−∞ until k are kept).
    fn floor(&self) -> f32 {
        match self.heap.peek() {
            Some(w) if self.heap.len() == self.k => w.0.key(),
            _ => f32::NEG_INFINITY,
        }
    }

    fn merge(mut self, other: TopK) -> TopK {
        for c in other.heap {
            self.push(c.0 .0);
        }
        self
    }

    fn into_sorted(self) -> Vec<Hit> {
        let mut v: Vec<Cand> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|c| c.0).collect()
    }
}

/// The `k` best rows of `matrix` ([rows, dim]) for each query of `queries` ([n, dim], row-major), by
/// inner product, best first; ties go to the lower row.
pub fn top_k(matrix: Values<'_>, dim: usize, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
    if dim == 0 || !queries.len().is_multiple_of(dim) {
        return Err(Error::Internal(format!("{} query values are not rows of {dim}", queries.len())));
    }
    let len = match matrix {
        Values::F32(v) => v.len(),
        Values::F16(v) => v.len(),
    };
    if !len.is_multiple_of(dim) {
        return Err(Error::Internal(format!("{len} index values are not rows of {dim}")));
    }
    let (rows, n) = (len / dim, queries.len() / dim);
    let k = k.min(rows);
    if n == 0 || k == 0 {
        return Ok(vec![Vec::new(); n]);
    }
    let blocks = rows.div_ceil(BLOCK);
    let found = (0..blocks)
        .into_par_iter()
        // Each thread keeps its score and widening buffers: fresh ones would fault in new pages
        // for every block.
        .map_init(
            || (Vec::<f32>::new(), Vec::<f32>::new()),
            |(scores, widened), b| {
                let start = b * BLOCK;
                let count = BLOCK.min(rows - start);
                let block: &[f32] = match matrix {
                    Values::F32(v) => &v[start * dim..(start + count) * dim],
                    Values::F16(v) => {
                        widened.clear();
                        widened.extend(v[start * dim..(start + count) * dim].iter().map(|x| x.to_f32()));
                        widened
                    }
                };
                scores.resize(n * count, 0.0);
                block_scores(queries, block, n, count, dim, scores);
                let mut tops = vec![TopK::new(k); n];
                for (q, top) in tops.iter_mut().enumerate() {
                    let mut floor = top.floor();
                    for (c, chunk) in scores[q * count..(q + 1) * count].chunks(LANES).enumerate() {
                        // Most rows fall below the floor: a chunk whose best does not pass is skipped
                        // whole (a vectorised max). Rows come in increasing order, so a score equal
                        // to the floor never gets in.
                        let best = chunk.iter().fold(f32::NEG_INFINITY, |m, &s| if s > m { s } else { m });
                        if top.heap.len() >= k && best <= floor {
                            continue;
                        }
                        for (j, &s) in chunk.iter().enumerate() {
                            if top.heap.len() < k || s > floor {
                                top.push(Hit { row: start + c * LANES + j, score: s });
                                floor = top.floor();
                            }
                        }
                    }
                }
                tops
            },
        )
        .reduce_with(|a, b| a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect())
        .unwrap_or_default();
    Ok(found.into_iter().map(TopK::into_sorted).collect())
}

/// queries [n, dim] × block [count, dim]ᵀ → out [n, count], row-major (overwritten).
fn block_scores(queries: &[f32], block: &[f32], n: usize, count: usize, dim: usize, out: &mut [f32]) {
    assert!(queries.len() >= n * dim && block.len() >= count * dim && out.len() >= n * count);
    // SAFETY: the strides describe exactly the three buffers, whose sizes are checked above: queries
    // n×dim row-major (rs dim, cs 1); the block read as its transpose dim×count (element (i, j) at
    // j·dim + i); out n×count row-major. With read_dst false (alpha 0) out is only written.
    unsafe {
        gemm::gemm(
            n,
            count,
            dim,
            out.as_mut_ptr(),
            1,
            count as isize,
            false,
            queries.as_ptr(),
            1,
            dim as isize,
            block.as_ptr(),
            dim as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(matrix: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<usize> {
        let rows = matrix.len() / dim;
        let s: Vec<f32> = (0..rows).map(|r| (0..dim).map(|i| matrix[r * dim + i] * q[i]).sum::<f32>()).collect();
        let mut order: Vec<usize> = (0..rows).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        order.truncate(k);
        order
    }

    #[test]
    fn matches_a_sort_across_blocks_in_both_precisions() {
        let (rows, dim) = (BLOCK * 2 + 37, 24);
        let mut x = 12345u64;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let matrix: Vec<f32> = (0..rows * dim).map(|_| next()).collect();
        let queries: Vec<f32> = (0..3 * dim).map(|_| next()).collect();
        let hits = top_k(Values::F32(&matrix), dim, &queries, 7).unwrap();
        for (q, h) in hits.iter().enumerate() {
            let rows: Vec<usize> = h.iter().map(|h| h.row).collect();
            assert_eq!(rows, brute(&matrix, dim, &queries[q * dim..(q + 1) * dim], 7));
            assert!(h.windows(2).all(|w| w[0].score >= w[1].score));
        }
        // Float16: the same ranking as a sort of the rounded matrix.
        let halves: Vec<half::f16> = matrix.iter().map(|&v| half::f16::from_f32(v)).collect();
        let rounded: Vec<f32> = halves.iter().map(|v| v.to_f32()).collect();
        let hits = top_k(Values::F16(&halves), dim, &queries, 5).unwrap();
        let rows: Vec<usize> = hits[1].iter().map(|h| h.row).collect();
        assert_eq!(rows, brute(&rounded, dim, &queries[dim..2 * dim], 5));
    }

    #[test]
    fn ties_go_to_the_lower_row_and_nan_ranks_last() {
        let matrix = [1.0, 0.0, f32::NAN, 1.0, 1.0, 0.0, 0.5];
        let hits = top_k(Values::F32(&matrix), 1, &[1.0], 10).unwrap();
        let rows: Vec<usize> = hits[0].iter().map(|h| h.row).collect();
        assert_eq!(rows, [0, 3, 4, 6, 1, 5, 2]);
        assert!(top_k(Values::F32(&matrix), 2, &[1.0, 0.0], 1).is_err(), "7 values are not rows of 2");
        assert_eq!(top_k(Values::F32(&matrix), 1, &[], 3).unwrap().len(), 0);
    }
}
