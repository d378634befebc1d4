//! Dataset inspection with polars: counts per source and split, captions per clip, caption lengths,
//! vocabulary, durations, captions without audio, audio without captions, duplicate captions.

use std::path::PathBuf;

use polars::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest;
use crate::schema::{cap, clip, Table};

/// Words: runs of letters, digits and apostrophes, lower-cased (used for the vocabulary).
const WORD: &str = r"[\p{L}\p{N}']+";

#[derive(Debug, Serialize, PartialEq)]
pub struct SourceCount {
    pub dataset: String,
    pub split: Option<String>,
    pub clips: u64,
    pub captions: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Summary {
    pub min: f64,
    pub median: f64,
    pub mean: f64,
    pub max: f64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Bin {
    pub value: u64,
    pub count: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct WordCount {
    pub word: String,
    pub count: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Durations {
    /// Clips with a known duration.
    pub clips: u64,
    pub seconds: Summary,
    pub total_hours: f64,
    /// Per dataset, for clips that join to a caption.
    pub per_dataset: Vec<(String, Summary)>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Duplicate {
    pub caption: String,
    pub count: u64,
}

/// Everything `inspect` reports.
#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    pub inputs: Vec<String>,
    pub clips: u64,
    pub captions: u64,
    pub per_source: Vec<SourceCount>,
    pub captions_per_clip: Summary,
    pub captions_per_clip_histogram: Vec<Bin>,
    pub caption_words: Summary,
    pub caption_words_histogram: Vec<Bin>,
    pub vocabulary_size: u64,
    pub top_words: Vec<WordCount>,
    pub durations: Option<Durations>,
    /// How "without audio" was decided: against the clips tables given, or by the captions'
    /// `audio_path` (set when the import was joined to an audio folder).
    pub audio_checked_against: String,
    pub clips_without_audio: u64,
    pub captions_without_audio: u64,
    pub clips_without_audio_examples: Vec<String>,
    /// Only known when clips tables are given.
    pub audio_without_captions: Option<u64>,
    pub audio_without_captions_examples: Vec<String>,
    /// Caption texts that occur more than once, and the rows they cover.
    pub duplicate_caption_texts: u64,
    pub duplicate_caption_rows: u64,
    pub top_duplicates: Vec<Duplicate>,
}

fn pe(context: &str) -> impl FnOnce(PolarsError) -> Error + '_ {
    move |e| Error::polars(context, e)
}

fn u64s(df: &DataFrame, name: &str) -> Result<Vec<u64>> {
    let c = df.column(name).map_err(pe(name))?.cast(&DataType::UInt64).map_err(pe(name))?;
    Ok(c.u64().map_err(pe(name))?.iter().map(|v| v.unwrap_or(0)).collect())
}

fn f64s(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = df.column(name).map_err(pe(name))?.cast(&DataType::Float64).map_err(pe(name))?;
    Ok(c.f64().map_err(pe(name))?.iter().collect())
}

fn strs(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let c = df.column(name).map_err(pe(name))?;
    Ok(c.str().map_err(pe(name))?.iter().map(|v| v.map(String::from)).collect())
}

/// min / median / mean / max of a numeric column of a frame.
fn summary(lf: LazyFrame, name: &str) -> Result<Summary> {
    let df = lf
        .select([
            col(name).cast(DataType::Float64).min().alias("min"),
            col(name).cast(DataType::Float64).median().alias("median"),
            col(name).cast(DataType::Float64).mean().alias("mean"),
            col(name).cast(DataType::Float64).max().alias("max"),
        ])
        .collect()
        .map_err(pe(name))?;
    let get = |c: &str| -> Result<f64> { Ok(f64s(&df, c)?.first().copied().flatten().unwrap_or(0.0)) };
    Ok(Summary { min: get("min")?, median: get("median")?, mean: get("mean")?, max: get("max")? })
}

fn histogram(lf: LazyFrame, name: &str) -> Result<Vec<Bin>> {
    let df = lf
        .group_by([col(name)])
        .agg([len().alias("count")])
        .sort([name], SortMultipleOptions::default())
        .collect()
        .map_err(pe(name))?;
    Ok(u64s(&df, name)?.into_iter().zip(u64s(&df, "count")?).map(|(value, count)| Bin { value, count }).collect())
}

/// The captions of all inputs as one frame: audio_id, caption, dataset, split, audio_path.
fn captions_frame(paths: &[PathBuf]) -> Result<DataFrame> {
    let mut rows = Vec::new();
    for p in paths {
        rows.extend(manifest::read_captions(p)?);
    }
    let df = DataFrame::new_infer_height(vec![
        Column::new(cap::AUDIO_ID.into(), rows.iter().map(|r| r.audio_id.as_str()).collect::<Vec<_>>()),
        Column::new(cap::CAPTION.into(), rows.iter().map(|r| r.caption.as_str()).collect::<Vec<_>>()),
        Column::new(cap::DATASET.into(), rows.iter().map(|r| r.dataset.as_str()).collect::<Vec<_>>()),
        Column::new(cap::SPLIT.into(), rows.iter().map(|r| r.split.as_deref()).collect::<Vec<_>>()),
        Column::new(cap::AUDIO_PATH.into(), rows.iter().map(|r| r.audio_path.as_deref()).collect::<Vec<_>>()),
    ])
    .map_err(pe("building the captions frame"))?;
    Ok(df)
}

/// The clips tables as one frame: audio_id, duration.
fn clips_frame(paths: &[PathBuf]) -> Result<DataFrame> {
    let mut ids = Vec::new();
    let mut durations = Vec::new();
    for p in paths {
        for c in crate::table::read_clips(p)? {
            ids.push(c.audio_id);
            durations.push(c.duration);
        }
    }
    DataFrame::new_infer_height(vec![
        Column::new(clip::AUDIO_ID.into(), ids),
        Column::new(clip::DURATION.into(), durations),
    ])
    .map_err(pe("building the clips frame"))
}

/// What is in a retrieval set's queries tables (from `import clotho-retrieval`).
#[derive(Debug, Serialize, PartialEq)]
pub struct QueriesReport {
    pub queries: u64,
    /// Queries with relevance judgements.
    pub judged: u64,
    /// Different query texts (a text twice is one query judged once).
    pub distinct_texts: u64,
    pub query_words: Summary,
    /// Over the judged queries.
    pub relevant_per_query: Option<Summary>,
    pub relevant_per_query_histogram: Vec<Bin>,
    /// Clips named relevant by at least one query.
    pub judged_clips: u64,
    /// Over those clips: how many queries name each.
    pub queries_per_clip: Option<Summary>,
    pub queries_per_clip_histogram: Vec<Bin>,
}

/// True when every input is a queries table (`inspect` then reports on the retrieval set).
pub fn all_queries(inputs: &[PathBuf]) -> Result<bool> {
    for p in inputs {
        if manifest::extension(p) != "parquet"
            || Table::detect(crate::table::column_names(p)?.iter().map(String::as_str)) != Some(Table::Queries)
        {
            return Ok(false);
        }
    }
    Ok(!inputs.is_empty())
}

/// Counts and distributions of queries tables: words per query, relevant clips per judged query,
/// and queries per judged clip.
pub fn inspect_queries(inputs: &[PathBuf]) -> Result<QueriesReport> {
    let mut queries = Vec::new();
    for p in inputs {
        queries.extend(crate::table::read_queries(p)?);
    }
    let words: Vec<u64> = queries.iter().map(|q| q.query.split_whitespace().count() as u64).collect();
    let relevant: Vec<u64> = queries.iter().filter_map(|q| q.relevant.as_ref().map(|r| r.len() as u64)).collect();
    let mut per_clip: std::collections::BTreeMap<&str, u64> = Default::default();
    for r in queries.iter().filter_map(|q| q.relevant.as_ref()) {
        for id in r {
            *per_clip.entry(id.as_str()).or_default() += 1;
        }
    }
    let per_clip: Vec<u64> = per_clip.into_values().collect();
    let texts: std::collections::HashSet<&str> = queries.iter().map(|q| q.query.as_str()).collect();
    Ok(QueriesReport {
        queries: queries.len() as u64,
        judged: relevant.len() as u64,
        distinct_texts: texts.len() as u64,
        query_words: summarize(&words).unwrap_or(Summary { min: 0.0, median: 0.0, mean: 0.0, max: 0.0 }),
        relevant_per_query: summarize(&relevant),
        relevant_per_query_histogram: bins(&relevant),
        judged_clips: per_clip.len() as u64,
        queries_per_clip: summarize(&per_clip),
        queries_per_clip_histogram: bins(&per_clip),
    })
}

fn summarize(values: &[u64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    Some(Summary { min: v[0], median, mean: v.iter().sum::<f64>() / n as f64, max: v[n - 1] })
}

fn bins(values: &[u64]) -> Vec<Bin> {
    let mut counts: std::collections::BTreeMap<u64, u64> = Default::default();
    values.iter().for_each(|&v| *counts.entry(v).or_default() += 1);
    counts.into_iter().map(|(value, count)| Bin { value, count }).collect()
}

/// The queries report as text for a terminal.
pub fn render_queries(r: &QueriesReport) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "{} queries ({} distinct texts), {} with relevance judgements\nwords per query: {}\n",
        r.queries,
        r.distinct_texts,
        r.judged,
        fmt_summary(&r.query_words)
    );
    if let Some(rel) = &r.relevant_per_query {
        let _ = writeln!(s, "\nrelevant clips per judged query: {}", fmt_summary(rel));
        s.push_str(&fmt_hist(&r.relevant_per_query_histogram, "clips"));
    }
    if let Some(per_clip) = &r.queries_per_clip {
        let _ = writeln!(s, "\n{} clips judged relevant; queries per clip: {}", r.judged_clips, fmt_summary(per_clip));
        s.push_str(&fmt_hist(&r.queries_per_clip_histogram, "queries"));
    }
    s
}

/// Sort the inputs into captions tables (Parquet or caption JSON) and clips tables.
pub fn classify(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut captions = Vec::new();
    let mut clips = Vec::new();
    for p in inputs {
        match manifest::extension(p).as_str() {
            "json" => captions.push(p.clone()),
            "parquet" => {
                let names = crate::table::column_names(p)?;
                match Table::detect(names.iter().map(String::as_str)) {
                    Some(Table::Captions) => captions.push(p.clone()),
                    Some(Table::Clips) => clips.push(p.clone()),
                    _ => {
                        return Err(Error::file(
                            p,
                            format!(
                                "neither a captions nor a clips table (columns: {}); a queries table is inspected on its own",
                                names.join(", ")
                            ),
                        ))
                    }
                }
            }
            _ => return Err(Error::file(p, "expected a captions or clips table (.parquet) or a caption JSON (.json)")),
        }
    }
    if captions.is_empty() {
        return Err(Error::config("inputs", "inspect needs at least one captions table (.parquet) or caption JSON"));
    }
    Ok((captions, clips))
}

/// Inspect captions tables, with optional clips tables for durations and audio coverage.
pub fn inspect(inputs: &[PathBuf], top: usize) -> Result<Report> {
    let (caption_paths, clip_paths) = classify(inputs)?;
    let caps = captions_frame(&caption_paths)?;
    let clips = if clip_paths.is_empty() { None } else { Some(clips_frame(&clip_paths)?) };

    let captions = caps.height() as u64;
    let per_clip = caps
        .clone()
        .lazy()
        .group_by([col(cap::AUDIO_ID)])
        .agg([len().alias("n"), col(cap::DATASET).first().alias(cap::DATASET)]);
    let n_clips = per_clip.clone().collect().map_err(pe("captions per clip"))?.height() as u64;

    let src = caps
        .clone()
        .lazy()
        .group_by([col(cap::DATASET), col(cap::SPLIT)])
        .agg([col(cap::AUDIO_ID).n_unique().alias("clips"), len().alias("captions")])
        .sort([cap::DATASET, cap::SPLIT], SortMultipleOptions::default().with_nulls_last(true))
        .collect()
        .map_err(pe("counts per source"))?;
    let per_source = strs(&src, cap::DATASET)?
        .into_iter()
        .zip(strs(&src, cap::SPLIT)?)
        .zip(u64s(&src, "clips")?.into_iter().zip(u64s(&src, "captions")?))
        .map(|((d, s), (clips, captions))| SourceCount { dataset: d.unwrap_or_default(), split: s, clips, captions })
        .collect();

    let words = caps.clone().lazy().select([col(cap::CAPTION).str().count_matches(lit(r"\S+"), false).alias("words")]);

    let vocab = caps
        .clone()
        .lazy()
        .select([col(cap::CAPTION)
            .str()
            .to_lowercase()
            .str()
            .extract_all(lit(WORD))
            .explode(ExplodeOptions { empty_as_null: false, keep_nulls: false })
            .alias("word")])
        .filter(col("word").is_not_null())
        .group_by([col("word")])
        .agg([len().alias("count")])
        .sort(["count", "word"], SortMultipleOptions::default().with_order_descending_multi([true, false]))
        .collect()
        .map_err(pe("vocabulary"))?;
    let top_words = strs(&vocab, "word")?
        .into_iter()
        .zip(u64s(&vocab, "count")?)
        .take(top)
        .map(|(w, count)| WordCount { word: w.unwrap_or_default(), count })
        .collect();

    let dups = caps
        .clone()
        .lazy()
        .group_by([col(cap::CAPTION)])
        .agg([len().alias("count")])
        .filter(col("count").gt(lit(1)))
        .sort(["count", cap::CAPTION], SortMultipleOptions::default().with_order_descending_multi([true, false]))
        .collect()
        .map_err(pe("duplicate captions"))?;
    let dup_counts = u64s(&dups, "count")?;
    let top_duplicates = strs(&dups, cap::CAPTION)?
        .into_iter()
        .zip(dup_counts.iter().copied())
        .take(top)
        .map(|(c, count)| Duplicate { caption: c.unwrap_or_default(), count })
        .collect();

    // Audio coverage.
    let (checked, missing_ids, durations, audio_without_captions, orphan_examples) = match &clips {
        Some(clips_df) => {
            let known = clips_df.clone().lazy().select([col(clip::AUDIO_ID)]).unique(None, UniqueKeepStrategy::First);
            let caption_ids = per_clip.clone().select([col(cap::AUDIO_ID)]);
            let missing = anti_join(caption_ids.clone(), known.clone(), cap::AUDIO_ID)
                .collect()
                .map_err(pe("captions without audio"))?;
            let orphans =
                anti_join(known, caption_ids, clip::AUDIO_ID).collect().map_err(pe("audio without captions"))?;
            let orphan_ids: Vec<String> = strs(&orphans, clip::AUDIO_ID)?.into_iter().flatten().collect();
            let durations = durations_of(clips_df, &per_clip)?;
            (
                format!(
                    "clips tables: {}",
                    clip_paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                ),
                strs(&missing, cap::AUDIO_ID)?.into_iter().flatten().collect::<Vec<_>>(),
                durations,
                Some(orphan_ids.len() as u64),
                orphan_ids.into_iter().take(top).collect(),
            )
        }
        None => {
            let missing = caps
                .clone()
                .lazy()
                .filter(col(cap::AUDIO_PATH).is_null())
                .select([col(cap::AUDIO_ID)])
                .unique(None, UniqueKeepStrategy::First)
                .sort([cap::AUDIO_ID], Default::default())
                .collect()
                .map_err(pe("captions without audio"))?;
            (
                "the captions' audio_path (set when import joins the audio)".to_string(),
                strs(&missing, cap::AUDIO_ID)?.into_iter().flatten().collect(),
                None,
                None,
                Vec::new(),
            )
        }
    };
    let missing_set: std::collections::HashSet<&str> = missing_ids.iter().map(String::as_str).collect();
    let captions_without_audio = strs(&caps, cap::AUDIO_ID)?
        .iter()
        .filter(|id| id.as_deref().is_some_and(|id| missing_set.contains(id)))
        .count() as u64;

    Ok(Report {
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        clips: n_clips,
        captions,
        per_source,
        captions_per_clip: summary(per_clip.clone(), "n")?,
        captions_per_clip_histogram: histogram(per_clip, "n")?,
        caption_words: summary(words.clone(), "words")?,
        caption_words_histogram: histogram(words, "words")?,
        vocabulary_size: vocab.height() as u64,
        top_words,
        durations,
        audio_checked_against: checked,
        clips_without_audio: missing_ids.len() as u64,
        captions_without_audio,
        clips_without_audio_examples: missing_ids.into_iter().take(top).collect(),
        audio_without_captions,
        audio_without_captions_examples: orphan_examples,
        duplicate_caption_texts: dup_counts.len() as u64,
        duplicate_caption_rows: dup_counts.iter().sum(),
        top_duplicates,
    })
}

/// The distinct values of `key` in `left` that are not in `right`, sorted.
fn anti_join(left: LazyFrame, right: LazyFrame, key: &str) -> LazyFrame {
    let marked = right.select([col(key), lit(true).alias("__present")]).unique(None, UniqueKeepStrategy::First);
    left.join(marked, [col(key)], [col(key)], JoinArgs::new(JoinType::Left))
        .filter(col("__present").is_null())
        .select([col(key)])
        .unique(None, UniqueKeepStrategy::First)
        .sort([key], Default::default())
}

fn durations_of(clips: &DataFrame, per_clip: &LazyFrame) -> Result<Option<Durations>> {
    let known = clips.clone().lazy().filter(col(clip::DURATION).is_not_null());
    let n = known.clone().collect().map_err(pe("durations"))?.height() as u64;
    if n == 0 {
        return Ok(None);
    }
    let seconds = summary(known.clone(), clip::DURATION)?;
    let total = known.clone().select([col(clip::DURATION).sum().alias("total")]).collect().map_err(pe("durations"))?;
    let total_hours = f64s(&total, "total")?.first().copied().flatten().unwrap_or(0.0) / 3600.0;
    let joined = known.join(
        per_clip.clone().select([col(cap::AUDIO_ID), col(cap::DATASET)]),
        [col(clip::AUDIO_ID)],
        [col(cap::AUDIO_ID)],
        JoinArgs::new(JoinType::Inner),
    );
    let datasets = joined
        .clone()
        .select([col(cap::DATASET)])
        .unique(None, UniqueKeepStrategy::First)
        .sort([cap::DATASET], Default::default())
        .collect()
        .map_err(pe("durations"))?;
    let mut per_dataset = Vec::new();
    for d in strs(&datasets, cap::DATASET)?.into_iter().flatten() {
        let s = summary(joined.clone().filter(col(cap::DATASET).eq(lit(d.clone()))), clip::DURATION)?;
        per_dataset.push((d, s));
    }
    Ok(Some(Durations { clips: n, seconds, total_hours, per_dataset }))
}

fn fmt_summary(s: &Summary) -> String {
    format!("min {:.1}, median {:.1}, mean {:.2}, max {:.1}", s.min, s.median, s.mean, s.max)
}

fn fmt_hist(bins: &[Bin], unit: &str) -> String {
    let max = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    bins.iter()
        .map(|b| {
            let bar = "█".repeat(((b.count as f64 / max as f64) * 40.0).ceil() as usize);
            format!("    {:>4} {unit:<8} {:>8}  {bar}\n", b.value, b.count)
        })
        .collect()
}

/// The report as text for a terminal.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    use std::fmt::Write;
    let _ = writeln!(s, "{} clips, {} captions from {}", r.clips, r.captions, r.inputs.join(", "));
    let _ = writeln!(s, "\nper dataset and split:");
    let _ = writeln!(s, "    {:<14} {:<14} {:>8} {:>9}", "dataset", "split", "clips", "captions");
    for c in &r.per_source {
        let _ = writeln!(
            s,
            "    {:<14} {:<14} {:>8} {:>9}",
            c.dataset,
            c.split.as_deref().unwrap_or("-"),
            c.clips,
            c.captions
        );
    }
    let _ = writeln!(s, "\ncaptions per clip: {}", fmt_summary(&r.captions_per_clip));
    s.push_str(&fmt_hist(&r.captions_per_clip_histogram, "captions"));
    let _ = writeln!(s, "\ncaption length in words: {}", fmt_summary(&r.caption_words));
    s.push_str(&fmt_hist(&r.caption_words_histogram, "words"));
    let _ = writeln!(
        s,
        "\nvocabulary: {} words; top: {}",
        r.vocabulary_size,
        r.top_words.iter().map(|w| format!("{} ({})", w.word, w.count)).collect::<Vec<_>>().join(", ")
    );
    match &r.durations {
        Some(d) => {
            let _ =
                writeln!(s, "\ndurations ({} clips, {:.2} h): {} s", d.clips, d.total_hours, fmt_summary(&d.seconds));
            for (ds, sm) in &d.per_dataset {
                let _ = writeln!(s, "    {ds:<14} {} s", fmt_summary(sm));
            }
        }
        None => {
            let _ =
                writeln!(s, "\ndurations: unknown (give a clips table from `clap-tools scan DIR -o clips.parquet`)");
        }
    }
    let _ = writeln!(s, "\naudio checked against {}", r.audio_checked_against);
    let _ = writeln!(
        s,
        "captions without audio: {} clips ({} captions){}",
        r.clips_without_audio,
        r.captions_without_audio,
        examples(&r.clips_without_audio_examples)
    );
    if let Some(n) = r.audio_without_captions {
        let _ = writeln!(s, "audio without captions: {n} clips{}", examples(&r.audio_without_captions_examples));
    }
    let _ = writeln!(
        s,
        "\nexact duplicate captions: {} texts on {} rows",
        r.duplicate_caption_texts, r.duplicate_caption_rows
    );
    for d in &r.top_duplicates {
        let _ = writeln!(s, "    {:>5} × {:?}", d.count, d.caption);
    }
    s
}

fn examples(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(", e.g. {}", ids.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", "))
    }
}
