//! Concatenating tables of one kind: captions (Parquet tables and caption JSONs, mixed), clips tables,
//! waveform indexes, and the reference's TSVs. An audio_id in two inputs with the same content is
//! kept once; with different content it is an error naming both inputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::{self, extension, wav_csv::Tsv};
use crate::schema::{Caption, Table};

/// What a concatenation did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ConcatReport {
    /// Rows written (captions, clips or TSV rows).
    pub rows: usize,
    /// Distinct audio_ids written.
    pub clips: usize,
    /// audio_ids that appeared in more than one input with the same content, kept once.
    pub duplicates: usize,
}

/// The kind of table an input or output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Parquet(Table),
    CaptionJson,
    Tsv,
}

fn kind_of(path: &Path) -> Result<Kind> {
    match extension(path).as_str() {
        "json" => Ok(Kind::CaptionJson),
        "csv" | "tsv" => Ok(Kind::Tsv),
        "parquet" => {
            let names = crate::table::column_names(path)?;
            Table::detect(names.iter().map(String::as_str))
                .map(Kind::Parquet)
                .ok_or_else(|| Error::file(path, format!("not a clap-tools table (columns: {})", names.join(", "))))
        }
        _ => Err(Error::file(path, "expected .parquet, .json, .csv or .tsv")),
    }
}

fn is_captions(k: Kind) -> bool {
    matches!(k, Kind::CaptionJson | Kind::Parquet(Table::Captions))
}

/// Concatenate `inputs` into `output` (its extension picks the format; captions may be written as
/// `.parquet` or `.json` whatever the inputs were).
pub fn concat(inputs: &[PathBuf], output: &Path) -> Result<ConcatReport> {
    if inputs.is_empty() {
        return Err(Error::config("inputs", "concat needs at least one input"));
    }
    let kinds = inputs.iter().map(|p| kind_of(p)).collect::<Result<Vec<_>>>()?;
    let out_ext = extension(output);
    for (p, &k) in inputs.iter().zip(&kinds) {
        let compatible = if is_captions(kinds[0]) { is_captions(k) } else { k == kinds[0] };
        if !compatible {
            return Err(Error::file(p, format!("is a different kind of table than {}", inputs[0].display())));
        }
    }
    match kinds[0] {
        k if is_captions(k) => {
            if !matches!(out_ext.as_str(), "parquet" | "json") {
                return Err(Error::file(output, "captions are written as .parquet or .json"));
            }
            concat_captions(inputs, output)
        }
        Kind::Tsv => {
            if !matches!(out_ext.as_str(), "csv" | "tsv") {
                return Err(Error::file(output, "TSV inputs are written as .csv or .tsv"));
            }
            concat_tsv(inputs, output)
        }
        Kind::Parquet(table) => {
            if out_ext != "parquet" {
                return Err(Error::file(output, format!("{} tables are written as .parquet", table.name())));
            }
            match table {
                Table::Clips => {
                    let (rows, rep) = concat_keyed(inputs, crate::table::read_clips, |c| c.audio_id.clone())?;
                    crate::table::write_clips(output, &rows)?;
                    Ok(rep)
                }
                Table::Waveforms => {
                    let (rows, rep) = concat_keyed(inputs, crate::table::read_waveforms, |c| c.audio_id.clone())?;
                    crate::table::write_waveforms(output, &rows)?;
                    Ok(rep)
                }
                Table::Embeddings | Table::IndexClips => Err(Error::file(
                    &inputs[0],
                    format!("{} tables are not concatenated (their rows index a .npy beside them)", table.name()),
                )),
                Table::Queries | Table::QueryResults => Err(Error::file(
                    &inputs[0],
                    format!("{} tables are not concatenated (their query_index numbers one evaluation)", table.name()),
                )),
                Table::Captions => unreachable!("handled above"),
            }
        }
        _ => unreachable!("all kinds handled"),
    }
}

/// One-row-per-clip tables: rows keyed by audio_id.
fn concat_keyed<T: PartialEq + std::fmt::Debug>(
    inputs: &[PathBuf],
    read: fn(&Path) -> Result<Vec<T>>,
    key: fn(&T) -> String,
) -> Result<(Vec<T>, ConcatReport)> {
    let mut out: Vec<T> = Vec::new();
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    let mut rep = ConcatReport::default();
    for (i, path) in inputs.iter().enumerate() {
        for row in read(path)? {
            let k = key(&row);
            if let Some(&(src, at)) = seen.get(&k) {
                if out[at] != row {
                    return Err(Error::Conflict {
                        audio_id: k,
                        first: inputs[src].clone(),
                        second: path.clone(),
                        detail: format!("{:?} vs {:?}", out[at], row),
                    });
                }
                if src != i {
                    rep.duplicates += 1;
                }
                continue;
            }
            seen.insert(k, (i, out.len()));
            out.push(row);
        }
    }
    rep.rows = out.len();
    rep.clips = out.len();
    Ok((out, rep))
}

fn group_by_clip(rows: Vec<Caption>) -> Vec<(String, Vec<Caption>)> {
    let mut order: Vec<(String, Vec<Caption>)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for r in rows {
        match at.get(&r.audio_id) {
            Some(&i) => order[i].1.push(r),
            None => {
                at.insert(r.audio_id.clone(), order.len());
                order.push((r.audio_id.clone(), vec![r]));
            }
        }
    }
    order
}

fn describe_difference(a: &[Caption], b: &[Caption]) -> String {
    if a.len() != b.len() {
        return format!("{} captions vs {}", a.len(), b.len());
    }
    for (x, y) in a.iter().zip(b) {
        if x.caption != y.caption {
            return format!("caption {}: {:?} vs {:?}", x.caption_index, x.caption, y.caption);
        }
        if x != y {
            return format!("caption {}: other columns differ ({:?} vs {:?})", x.caption_index, x, y);
        }
    }
    "rows differ".into()
}

fn concat_captions(inputs: &[PathBuf], output: &Path) -> Result<ConcatReport> {
    let mut clips: Vec<(String, Vec<Caption>)> = Vec::new();
    let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
    let mut rep = ConcatReport::default();
    for (i, path) in inputs.iter().enumerate() {
        for (id, rows) in group_by_clip(manifest::read_captions(path)?) {
            if let Some(&(src, at)) = seen.get(&id) {
                if clips[at].1 != rows {
                    return Err(Error::Conflict {
                        audio_id: id,
                        first: inputs[src].clone(),
                        second: path.clone(),
                        detail: describe_difference(&clips[at].1, &rows),
                    });
                }
                rep.duplicates += 1;
                continue;
            }
            seen.insert(id.clone(), (i, clips.len()));
            clips.push((id, rows));
        }
    }
    let rows: Vec<Caption> = clips.into_iter().flat_map(|(_, r)| r).collect();
    rep.rows = rows.len();
    rep.clips = seen.len();
    manifest::write_captions(output, &rows, &inputs[0])?;
    Ok(rep)
}

fn concat_tsv(inputs: &[PathBuf], output: &Path) -> Result<ConcatReport> {
    let tables = inputs.iter().map(|p| Tsv::read(p)).collect::<Result<Vec<_>>>()?;
    // Columns common to all inputs, in the first input's order (the reference's inner join).
    let columns: Vec<String> =
        tables[0].header.iter().filter(|h| tables.iter().all(|t| t.column(h).is_some())).cloned().collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut seen: HashMap<String, (usize, u64, usize)> = HashMap::new();
    let mut rep = ConcatReport::default();
    for (i, (path, t)) in inputs.iter().zip(&tables).enumerate() {
        let idx: Vec<usize> = columns.iter().map(|c| t.column(c).expect("common column")).collect();
        let id = t.column("audio_id").expect("checked by Tsv::read");
        for (line, fields) in &t.rows {
            let row: Vec<String> = idx.iter().map(|&j| fields[j].clone()).collect();
            let audio_id = fields[id].clone();
            if let Some(&(src, first_line, at)) = seen.get(&audio_id) {
                if out[at] != row {
                    return Err(Error::Conflict {
                        audio_id,
                        first: inputs[src].clone(),
                        second: path.clone(),
                        detail: format!("line {first_line}: {:?} vs line {line}: {:?}", out[at], row),
                    });
                }
                rep.duplicates += 1;
                continue;
            }
            seen.insert(audio_id, (i, *line, out.len()));
            out.push(row);
        }
    }
    rep.rows = out.len();
    rep.clips = out.len();
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    manifest::wav_csv::write_tsv(output, &header, out.iter().map(|r| r.iter().map(String::as_str).collect()))?;
    Ok(rep)
}
