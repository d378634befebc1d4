//! DCASE language-based audio retrieval submissions: the system output file and its metadata.
//!
//! - 2025 (`<label>.output.csv`): the full score matrix, one row per query, first column the query
//!   text under the header `index`, then one column per audio file name — what the 2025 baseline's
//!   `predict.py` writes with pandas (`DataFrame(...).set_index('index').to_csv`).
//! - 2022–2024 (`<label>.output.csv`): header `caption,fname_1,…,fname_10`, per query its 10
//!   best-scored file names in rank order.
//!
//! Beside it `<label>.meta.yaml` follows the `submission:` / `system:` layout of DCASE's
//! meta-information files (see `tests/fixtures/dcase/README.md` for what was found of each year's
//! template and where), filled where clap-tools knows the values. Clips are named by the evaluation
//! set's own file names ([`official_names`]), not by the names they have on disk. Every file is
//! checked after writing by reading it back.

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

/// A DCASE challenge year with a language-based audio retrieval task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Year {
    Y2022,
    Y2023,
    Y2024,
    Y2025,
    Y2026,
}

impl Year {
    pub fn from_number(year: u32) -> Option<Year> {
        Some(match year {
            2022 => Year::Y2022,
            2023 => Year::Y2023,
            2024 => Year::Y2024,
            2025 => Year::Y2025,
            2026 => Year::Y2026,
            _ => return None,
        })
    }

    pub fn number(self) -> u32 {
        match self {
            Year::Y2022 => 2022,
            Year::Y2023 => 2023,
            Year::Y2024 => 2024,
            Year::Y2025 => 2025,
            Year::Y2026 => 2026,
        }
    }

    /// The task as labels write it: retrieval was Task 6B in 2022–2023, Task 8 in 2024, Task 6 in
    /// 2025; 2026's Task 6 is audio moment retrieval.
    pub fn task(self) -> &'static str {
        match self {
            Year::Y2022 | Year::Y2023 => "task6b",
            Year::Y2024 => "task8",
            Year::Y2025 | Year::Y2026 => "task6",
        }
    }

    /// The system output this year takes from a score matrix: 2022–2024 the top 10 names, 2025
    /// the matrix. 2026's Task 6 (moment retrieval) takes time windows, not a score matrix.
    pub fn format(self) -> Option<Format> {
        match self {
            Year::Y2022 | Year::Y2023 | Year::Y2024 => Some(Format::Top10),
            Year::Y2025 => Some(Format::Scores),
            Year::Y2026 => None,
        }
    }

    /// The example label of this year: `Lastname_INST_<task>_1`.
    pub fn default_label(self) -> String {
        format!("Lastname_INST_{}_1", self.task())
    }
}

/// The evaluation set's own file names for the clips `files` (their names on disk), from a file
/// that lists them: the 2025 relevance CSV (`query,audio_filenames`), or a CSV with a `file_name`
/// column (`retrieval_audio_metadata.csv`, Clotho's captions CSVs). A listed name matches a clip
/// by equality or as saved with `:` written `_` — the listed name is kept, never made up by
/// reversing the substitution. A clip the file does not list is an error naming it.
pub fn official_names(path: &Path, files: &[String]) -> Result<Vec<String>> {
    use crate::manifest::clotho_retrieval::{match_file_name, read_relevance};
    use crate::manifest::text::{read_utf8_or_latin1, Delimited};
    let (text, _) = read_utf8_or_latin1(path)?;
    let csv = Delimited::parse(path, &text, b',')?;
    let listed: Vec<String> = if csv.position("audio_filenames").is_some() {
        read_relevance(path, None)?.into_values().flat_map(|(_, names)| names).collect()
    } else {
        let [col] = csv.require(path, ["file_name"])?;
        csv.records.iter().map(|(_, r)| r.get(col).unwrap_or("").trim().to_string()).collect()
    };
    let on_disk: HashSet<String> = files.iter().cloned().collect();
    let mut official: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for name in listed {
        let Some(clip) = match_file_name(&name, &on_disk) else { continue };
        if let Some(other) = official.get(&clip) {
            if *other != name {
                return Err(Error::file(
                    path,
                    format!("lists both {other:?} and {name:?}, which are one clip here ({clip:?})"),
                ));
            }
        }
        official.insert(clip, name);
    }
    let missing: Vec<&String> = files.iter().filter(|f| !official.contains_key(*f)).collect();
    if let Some(first) = missing.first() {
        return Err(Error::file(
            path,
            format!(
                "does not list {} of the clips (first: {first:?}): a submission names every clip as the evaluation set does",
                missing.len()
            ),
        ));
    }
    Ok(files.iter().map(|f| official[f].clone()).collect())
}

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
    year: Year,
    queries: &[String],
    files: &[String],
    sims: &[f32],
    system: &SystemInfo,
) -> Result<Written> {
    let format = year.format().ok_or_else(|| {
        Error::config(
            "year",
            "DCASE 2026 Task 6 is audio moment retrieval: its submission lists time windows per query, not clip scores",
        )
    })?;
    check_label(label, year)?;
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
    let yaml = meta_yaml(label, year, system).map_err(|e| Error::file(&meta, e))?;
    crate::atomic::as_set(|| {
        crate::atomic::write_bytes(&output, &csv)?;
        crate::atomic::write_bytes(&meta, yaml.as_bytes())
    })?;
    check(&output, format, queries, files)?;
    Ok(Written { output, meta })
}

/// DCASE labels look like `Lastname_INST_task6_1`: letters, digits, `_`, `-` and `.`, and the
/// year's task before the submission's number (1–4).
fn check_label(label: &str, year: Year) -> Result<()> {
    let example = year.default_label();
    let ok = !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !ok {
        return Err(Error::config(
            "label",
            format!("{label:?}: use letters, digits, '_', '-' and '.' (e.g. {example})"),
        ));
    }
    let mut parts = label.rsplitn(3, '_');
    let (index, task) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !matches!(index, "1" | "2" | "3" | "4") || !task.eq_ignore_ascii_case(year.task()) {
        return Err(Error::config(
            "label",
            format!(
                "{label:?}: a DCASE {} retrieval label ends with _{}_N, N the submission's number 1–4 (e.g. {example})",
                year.number(),
                year.task()
            ),
        ));
    }
    Ok(())
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
    abbreviation: &'static str,
    institute: &'static str,
    department: &'static str,
    location: &'static str,
}

#[derive(Serialize)]
struct SystemMeta<'a> {
    description: Description<'a>,
    complexity: Complexity,
    source_code: &'static str,
}

#[derive(Serialize)]
struct Description<'a> {
    input_sampling_rate: u32,
    acoustic_features: &'static str,
    audio_encoder: &'a str,
    text_encoder: &'a str,
}

#[derive(Serialize)]
struct Complexity {
    total_parameters: usize,
}

const FILL_IN: &str = "FILL IN";

fn meta_yaml(label: &str, year: Year, s: &SystemInfo) -> std::result::Result<String, String> {
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
                affiliation: Affiliation {
                    abbreviation: FILL_IN,
                    institute: FILL_IN,
                    department: FILL_IN,
                    location: FILL_IN,
                },
            }],
        },
        system: SystemMeta {
            description: Description {
                input_sampling_rate: s.sample_rate,
                acoustic_features: "log-mel energies",
                audio_encoder: &s.audio_encoder,
                text_encoder: &s.text_encoder,
            },
            complexity: Complexity { total_parameters: s.parameters },
            source_code: "https://github.com/wsntxxn/DCASE2022T6_CLAP (re-created with clap-tools)",
        },
    };
    let text = serde_norway::to_string(&meta).map_err(|e| e.to_string())?;
    let training = if s.training_data.is_empty() { "unknown".to_string() } else { s.training_data.join(", ") };
    Ok(format!(
        "# DCASE {year} Task {task} (language-based audio retrieval) submission meta information.\n\
         # Written by clap-tools submit from {checkpoint} (trained on: {training}).\n\
         # Fill in the fields marked {FILL_IN} (authors, affiliation) before submitting.\n{text}",
        year = year.number(),
        task = year.task().trim_start_matches("task").to_uppercase(),
        checkpoint = s.checkpoint,
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
