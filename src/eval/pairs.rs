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
    /// Captions and their clips (every row one relevant column, every column at least one row),
    /// scored both ways.
    Grouped(Metrics),
    /// Queries with relevance judgements (any number of relevant columns; rows without any are
    /// unjudged, left out), scored by relevance.
    Relevance(RelevanceMetrics),
}

/// What the rows of a matrix are: the meaning of its pairs, from the file's header (`caption,clip`
/// or `query,clip`) or, for a bare `row,column` file, given by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairsKind {
    /// Captions of clips: one relevant clip per row, every clip captioned.
    Captions,
    /// Queries with relevance judgements.
    Queries,
}

impl PairsKind {
    /// The header a file of this kind is written with.
    pub fn header(self) -> [&'static str; 2] {
        match self {
            PairsKind::Captions => ["caption", "clip"],
            PairsKind::Queries => ["query", "clip"],
        }
    }
}

/// Write `pairs` (row, column) as a CSV headed by `kind` (`caption,clip` or `query,clip`), replacing
/// only a regular file.
pub fn write(path: &Path, kind: PairsKind, pairs: impl IntoIterator<Item = (usize, usize)>) -> Result<()> {
    use std::io::Write;
    let [a, b] = kind.header();
    crate::atomic::write_file(path, |w| {
        writeln!(w, "{a},{b}").map_err(|e| Error::io(path, e))?;
        for (r, c) in pairs {
            writeln!(w, "{r},{c}").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// The pairs of `path`, checked against a matrix of `rows` × `cols`: each index a whole number in
/// range, no pair twice; a bad line is an error naming it. The kind comes from the header
/// (`caption,clip`, `query,clip`); a `row,column` file needs `kind`, and a `kind` that contradicts
/// the header is an error.
pub fn read(path: &Path, rows: usize, cols: usize, kind: Option<PairsKind>) -> Result<(PairsKind, Vec<Vec<usize>>)> {
    let (text, _) = read_utf8_or_latin1(path)?;
    let csv = Delimited::parse(path, &text, b',')?;
    let named = |k: PairsKind| {
        let [a, b] = k.header();
        csv.position(a).is_some() && csv.position(b).is_some()
    };
    let from_header = [PairsKind::Captions, PairsKind::Queries].into_iter().find(|&k| named(k));
    let kind = match (from_header, kind) {
        (Some(h), Some(k)) if h != k => {
            return Err(Error::file(
                path,
                format!("its header says {} pairs, but {} pairs were asked for", h.header()[0], k.header()[0]),
            ))
        }
        (Some(h), _) => h,
        (None, Some(k)) => k,
        (None, None) => {
            return Err(Error::file(
                path,
                "its header (row,column) does not say what the rows are: give the kind (captions of clips, or \
                 queries with relevance judgements), or head the file caption,clip or query,clip",
            ))
        }
    };
    let [r, c] = match from_header {
        Some(k) => csv.require(path, k.header())?,
        None => csv.require(path, ["row", "column"])?,
    };
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
        if kind == PairsKind::Captions && !relevant[row].is_empty() {
            return Err(Error::line(
                path,
                *line,
                format!("caption {row} has a second clip ({col}): captions have one"),
            ));
        }
        relevant[row].push(col);
    }
    if relevant.iter().all(Vec::is_empty) {
        return Err(Error::file(path, "holds no pairs"));
    }
    Ok((kind, relevant))
}

/// Score a row-major matrix of `shape` by the pairs of `path`, as their kind says (see [`read`]).
pub fn score(path: &Path, data: &[f32], shape: &[usize], kind: Option<PairsKind>) -> Result<Scored> {
    let [rows, cols] = shape else {
        return Err(Error::file(path, format!("pairs need a 2-D matrix, not shape {shape:?}")));
    };
    let (kind, relevant) = read(path, *rows, *cols, kind)?;
    match kind {
        PairsKind::Captions => {
            if let Some(row) = relevant.iter().position(Vec::is_empty) {
                return Err(Error::file(path, format!("caption (row) {row} has no clip")));
            }
            let mut covered = vec![false; *cols];
            relevant.iter().flatten().for_each(|&c| covered[c] = true);
            if let Some(col) = covered.iter().position(|&c| !c) {
                return Err(Error::file(path, format!("clip (column) {col} has no caption")));
            }
            let clip_of: Vec<usize> = relevant.iter().map(|r| r[0]).collect();
            Ok(Scored::Grouped(evaluate_grouped(data, shape, &clip_of)?))
        }
        PairsKind::Queries => {
            let judged: Vec<(usize, Vec<usize>)> =
                relevant.into_iter().enumerate().filter(|(_, r)| !r.is_empty()).collect();
            Ok(Scored::Relevance(relevance_of_rows(data, shape, &judged)?.0))
        }
    }
}
