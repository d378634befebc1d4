//! The relevant (row, column) pairs of a similarity matrix, as a CSV (`row,column`, 0-based): what
//! `eval --sims` writes beside the matrix, so `metrics` can score it again whatever the set's shape
//! (any number of captions per clip, several relevant clips per query).

use std::path::Path;

use super::metrics::{evaluate_grouped, relevance_of_rows, Metrics, RelevanceMetrics};
use crate::error::{Error, Result};
use crate::manifest::text::{read_utf8_or_latin1, Delimited};

/// What a set of pairs makes of a matrix.
#[derive(Debug)]
pub enum Scored {
    /// Every row has exactly one relevant column and every column at least one row: captions and
    /// their clips, scored both ways.
    Grouped(Metrics),
    /// Rows with several relevant columns (or none: unjudged, left out): queries scored by relevance.
    Relevance(RelevanceMetrics),
}

/// Write `pairs` (row, column) as `row,column` CSV, replacing only a regular file.
pub fn write(path: &Path, pairs: impl IntoIterator<Item = (usize, usize)>) -> Result<()> {
    use std::io::Write;
    crate::atomic::write_file(path, |w| {
        writeln!(w, "row,column").map_err(|e| Error::io(path, e))?;
        for (r, c) in pairs {
            writeln!(w, "{r},{c}").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// The pairs of `path`, checked against a matrix of `rows` × `cols`: each index a whole number in
/// range, no pair twice; a bad line is an error naming it.
pub fn read(path: &Path, rows: usize, cols: usize) -> Result<Vec<Vec<usize>>> {
    let (text, _) = read_utf8_or_latin1(path)?;
    let csv = Delimited::parse(path, &text, b',')?;
    let [r, c] = csv.require(path, ["row", "column"])?;
    let mut relevant = vec![Vec::new(); rows];
    for (line, rec) in &csv.records {
        let index = |i: usize, name: &str, n: usize| -> Result<usize> {
            let v = rec.get(i).unwrap_or("").trim();
            let x: usize =
                v.parse().map_err(|_| Error::line(path, *line, format!("{name} {v:?} is not a whole number")))?;
            if x >= n {
                return Err(Error::line(path, *line, format!("{name} {x} is past the matrix's {n} {name}s")));
            }
            Ok(x)
        };
        let (row, col) = (index(r, "row", rows)?, index(c, "column", cols)?);
        if relevant[row].contains(&col) {
            return Err(Error::line(path, *line, format!("pair ({row}, {col}) given twice")));
        }
        relevant[row].push(col);
    }
    if relevant.iter().all(Vec::is_empty) {
        return Err(Error::file(path, "holds no pairs"));
    }
    Ok(relevant)
}

/// Score a row-major matrix of `shape` by the pairs of `path` (see [`Scored`]).
pub fn score(path: &Path, data: &[f32], shape: &[usize]) -> Result<Scored> {
    let [rows, cols] = shape else {
        return Err(Error::file(path, format!("pairs need a 2-D matrix, not shape {shape:?}")));
    };
    let relevant = read(path, *rows, *cols)?;
    let single = relevant.iter().all(|r| r.len() == 1);
    let mut covered = vec![false; *cols];
    relevant.iter().flatten().for_each(|&c| covered[c] = true);
    if single && covered.iter().all(|&c| c) {
        let clip_of: Vec<usize> = relevant.iter().map(|r| r[0]).collect();
        return Ok(Scored::Grouped(evaluate_grouped(data, shape, &clip_of)?));
    }
    let judged: Vec<(usize, Vec<usize>)> = relevant.into_iter().enumerate().filter(|(_, r)| !r.is_empty()).collect();
    Ok(Scored::Relevance(relevance_of_rows(data, shape, &judged)?.0))
}
