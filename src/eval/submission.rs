//! DCASE language-based audio retrieval submissions: the system output file and its metadata.
//!
//! - 2025 (`<label>.output.csv`): the full score matrix, one row per query, first column the query
//!   text under the header `index`, then one column per audio file name — what the 2025 baseline's
//!   `predict.py` writes with pandas (`DataFrame(...).set_index('index').to_csv`).
//! - 2022–2024 (`<label>.output.csv`): header `caption,fname_1,…,fname_10`, per query its 10
//!   best-scored file names in rank order.
//!
//! Beside it `<label>.meta.yaml` holds the fields a submission package asks for, filled where
//! clap-tools knows them. Every file is checked after writing by reading it back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Which challenge year's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The top 10 file names per query (2022–2024).
    Top10,
    /// The full score matrix (2025).
    #[default]
    Scores,
}

/// How many file names a 2022–2024 row lists.
pub const TOP_K: usize = 10;

/// What the metadata file says about the system.
#[derive(Debug, Clone, Default)]
pub struct SystemInfo {
    pub audio_encoder: String,
    pub text_encoder: String,
    pub parameters: usize,
    pub sample_rate: u32,
    /// The checkpoint the outputs come from.
    pub checkpoint: String,
    /// Training data, when known (the run's caption tables).
    pub training_data: Vec<String>,
}

/// The files written.
#[derive(Debug, Clone)]
pub struct Written {
    pub output: PathBuf,
    pub meta: PathBuf,
}

/// Write `<label>.output.csv` and `<label>.meta.yaml` into `dir` (as one set) from the score matrix
/// `sims` [queries, clips] (row-major; `files` are the clips' file names), and check the output.
pub fn write(
    dir: &Path,
    label: &str,
    format: Format,
    queries: &[String],
    files: &[String],
    sims: &[f32],
    system: &SystemInfo,
) -> Result<Written> {
    check_label(label)?;
    let n = files.len();
    if n == 0 || queries.is_empty() || sims.len() != queries.len() * n {
        return Err(Error::Internal(format!(
            "submission: {} scores for {} queries × {n} clips",
            sims.len(),
            queries.len()
        )));
    }
    if format == Format::Top10 && n < TOP_K {
        return Err(Error::config("format", format!("the 2022–2024 format lists 10 clips per query; there are {n}")));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Error::file(dir, "is not a folder (the submission is written into a folder)"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let output = dir.join(format!("{label}.output.csv"));
    let meta = dir.join(format!("{label}.meta.yaml"));
    let csv = match format {
        Format::Scores => scores_csv(queries, files, sims),
        Format::Top10 => top10_csv(queries, files, sims),
    }
    .map_err(|e| Error::file(&output, format!("writing the CSV: {e}")))?;
    let yaml = meta_yaml(label, format, system).map_err(|e| Error::file(&meta, e))?;
    crate::atomic::as_set(|| {
        crate::atomic::write_bytes(&output, &csv)?;
        crate::atomic::write_bytes(&meta, yaml.as_bytes())
    })?;
    check(&output, format, queries, files)?;
    Ok(Written { output, meta })
}

/// DCASE labels look like `Lastname_INST_task6_1`: letters, digits, `_`, `-` and `.`.
fn check_label(label: &str) -> Result<()> {
    let ok = !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "label",
            format!("{label:?}: use letters, digits, '_', '-' and '.' (e.g. Lastname_INST_task6_1)"),
        ))
    }
}

fn scores_csv(queries: &[String], files: &[String], sims: &[f32]) -> std::result::Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(std::iter::once("index").chain(files.iter().map(String::as_str)))?;
    for (q, row) in queries.iter().zip(sims.chunks(files.len())) {
        // Shortest text that reads back as the same f32.
        w.write_record(std::iter::once(q.clone()).chain(row.iter().map(|v| v.to_string())))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

fn top10_csv(queries: &[String], files: &[String], sims: &[f32]) -> std::result::Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> =
        std::iter::once("caption".to_string()).chain((1..=TOP_K).map(|i| format!("fname_{i}"))).collect();
    w.write_record(&header)?;
    for (q, row) in queries.iter().zip(sims.chunks(files.len())) {
        let mut order: Vec<usize> = (0..row.len()).collect();
        // Highest first; ties by file order, so the output is deterministic.
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        w.write_record(std::iter::once(q.as_str()).chain(order[..TOP_K].iter().map(|&j| files[j].as_str())))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[derive(Serialize)]
struct Meta<'a> {
    submission: SubmissionMeta<'a>,
    system: SystemMeta<'a>,
}

#[derive(Serialize)]
struct SubmissionMeta<'a> {
    label: &'a str,
    name: &'a str,
    abbreviation: &'a str,
    authors: Vec<Author>,
}

#[derive(Serialize)]
struct Author {
    lastname: &'static str,
    firstname: &'static str,
    email: &'static str,
    corresponding: bool,
    affiliation: Affiliation,
}

#[derive(Serialize)]
struct Affiliation {
    institution: &'static str,
    department: &'static str,
    location: &'static str,
}

#[derive(Serialize)]
struct SystemMeta<'a> {
    description: Description<'a>,
    output_format: &'static str,
    source_code: &'static str,
}

#[derive(Serialize)]
struct Description<'a> {
    input_sampling_rate: u32,
    acoustic_features: &'static str,
    audio_encoder: &'a str,
    text_encoder: &'a str,
    total_parameters: usize,
    checkpoint: &'a str,
    training_data: &'a [String],
}

const FILL_IN: &str = "FILL IN";

fn meta_yaml(label: &str, format: Format, s: &SystemInfo) -> std::result::Result<String, String> {
    let meta = Meta {
        submission: SubmissionMeta {
            label,
            name: "CLAP (clap-tools)",
            abbreviation: "CLAP",
            authors: vec![Author {
                lastname: FILL_IN,
                firstname: FILL_IN,
                email: FILL_IN,
                corresponding: true,
                affiliation: Affiliation { institution: FILL_IN, department: FILL_IN, location: FILL_IN },
            }],
        },
        system: SystemMeta {
            description: Description {
                input_sampling_rate: s.sample_rate,
                acoustic_features: "log-mel energies",
                audio_encoder: &s.audio_encoder,
                text_encoder: &s.text_encoder,
                total_parameters: s.parameters,
                checkpoint: &s.checkpoint,
                training_data: &s.training_data,
            },
            output_format: match format {
                Format::Scores => "2025: the score matrix, one row per query, one column per audio file",
                Format::Top10 => "2022-2024: the 10 best file names per query, in rank order",
            },
            source_code: "clap-tools",
        },
    };
    let text = serde_norway::to_string(&meta).map_err(|e| e.to_string())?;
    Ok(format!(
        "# DCASE language-based audio retrieval submission, written by clap-tools submit.\n\
         # Fill in the fields marked {FILL_IN} (authors, affiliation) before submitting.\n{text}"
    ))
}

/// Read the output back as the challenge does: the header, every query once in order, every file
/// name one of the clips, no file twice in a row.
fn check(path: &Path, format: Format, queries: &[String], files: &[String]) -> Result<()> {
    let bad = |m: String| Error::file(path, format!("the written submission does not check out: {m}"));
    let mut r = csv::Reader::from_path(path).map_err(|e| bad(e.to_string()))?;
    let header: Vec<String> = r.headers().map_err(|e| bad(e.to_string()))?.iter().map(str::to_string).collect();
    let known: HashSet<&str> = files.iter().map(String::as_str).collect();
    match format {
        Format::Scores => {
            if header.first().map(String::as_str) != Some("index") || header[1..] != *files {
                return Err(bad("the header is not index and the file names".into()));
            }
        }
        Format::Top10 => {
            let want: Vec<String> =
                std::iter::once("caption".to_string()).chain((1..=TOP_K).map(|i| format!("fname_{i}"))).collect();
            if header != want {
                return Err(bad(format!("header {header:?}")));
            }
        }
    }
    let mut rows = 0;
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        if queries.get(i).map(String::as_str) != rec.get(0) {
            return Err(bad(format!("row {} is not query {:?}", i + 1, queries.get(i))));
        }
        match format {
            Format::Scores => {
                if rec.len() != files.len() + 1
                    || rec.iter().skip(1).any(|v| v.parse::<f32>().map_or(true, |x| !x.is_finite()))
                {
                    return Err(bad(format!("row {} does not hold {} finite scores", i + 1, files.len())));
                }
            }
            Format::Top10 => {
                let names: Vec<&str> = rec.iter().skip(1).collect();
                let distinct: HashSet<&str> = names.iter().copied().collect();
                if names.len() != TOP_K || distinct.len() != TOP_K || names.iter().any(|n| !known.contains(n)) {
                    return Err(bad(format!("row {} does not list {TOP_K} distinct clips", i + 1)));
                }
            }
        }
        rows += 1;
    }
    if rows != queries.len() {
        return Err(bad(format!("{rows} rows for {} queries", queries.len())));
    }
    Ok(())
}
