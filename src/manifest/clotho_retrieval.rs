//! Clotho's DCASE retrieval evaluation set: `retrieval_captions.csv` (column `caption`, the queries)
//! and, from 2025, relevance judgements: a CSV with columns `query,audio_filenames`, the file names a
//! Python list literal (`"['bird_in_rain.wav', 'woodsbirds.wav']"`), several relevant clips per query.
//!
//! Reference: the 2025 baseline reads them as `pd.read_csv(...)["caption"]` and
//! `ast.literal_eval(audio_filenames)`, matching queries by exact text
//! (<https://github.com/CPJKU/dcase2025_task6_baseline/blob/main/d25_t6/retrieval_module.py>).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::text::{self, Delimited};
use crate::schema::Query;

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct RetrievalImport {
    /// `retrieval_captions.csv` (or any CSV with a `caption` column).
    pub captions: PathBuf,
    /// The relevance CSV (`query,audio_filenames`).
    pub relevance: Option<PathBuf>,
    /// The retrieval audio folder (searched recursively): relevant file names must name its files.
    pub audio_dir: Option<PathBuf>,
    /// Dataset name (default `clotho`).
    pub dataset: Option<String>,
}

/// The queries, in file order, with their relevant clips where the relevance CSV names them.
pub fn import(opts: &RetrievalImport) -> Result<Vec<Query>> {
    let path = &opts.captions;
    let (text, _) = text::read_utf8_or_latin1(path)?;
    let csv = Delimited::parse(path, &text, b',')?;
    let [col] = csv.require(path, ["caption"])?;
    let dataset = opts.dataset.clone().unwrap_or_else(|| "clotho".to_string());
    let mut queries = Vec::with_capacity(csv.records.len());
    for (line, rec) in &csv.records {
        let query = rec.get(col).unwrap_or("").trim();
        if query.is_empty() {
            return Err(Error::line(path, *line, "empty caption"));
        }
        let query_index = u32::try_from(queries.len() + 1).map_err(|_| Error::line(path, *line, "too many queries"))?;
        queries.push(Query { query_index, query: query.to_string(), dataset: dataset.clone(), relevant: None });
    }
    if queries.is_empty() {
        return Err(Error::file(path, "holds no queries"));
    }
    let Some(rel_path) = &opts.relevance else { return Ok(queries) };
    let files = opts.audio_dir.as_deref().map(audio_names).transpose()?;
    let what = format!("the audio folder {}", opts.audio_dir.as_deref().unwrap_or(Path::new("")).display());
    let relevance = read_relevance(rel_path, files.as_ref().map(|f| (f, what.as_str())))?;
    assign_relevance(&mut queries, relevance, rel_path, path)?;
    Ok(queries)
}

/// Give each query the judgements of its exact text (from [`read_relevance`] of `rel_path`). The
/// same text twice is the same query: both get its judgements. A judged text that is not among
/// the queries (of `queries_path`) is an error naming its line.
pub fn assign_relevance(
    queries: &mut [Query],
    relevance: BTreeMap<String, (u64, Vec<String>)>,
    rel_path: &Path,
    queries_path: &Path,
) -> Result<()> {
    let mut by_text: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, q) in queries.iter().enumerate() {
        by_text.entry(q.query.as_str()).or_default().push(i);
    }
    let mut assigned = Vec::new();
    for (query, (line, names)) in relevance {
        let rows = by_text.get(query.as_str()).ok_or_else(|| {
            Error::line(
                rel_path,
                line,
                format!("query {query:?} is not among the queries of {}", queries_path.display()),
            )
        })?;
        assigned.extend(rows.iter().map(|&i| (i, names.clone())));
    }
    for (i, names) in assigned {
        queries[i].relevant = Some(names);
    }
    Ok(())
}

/// The relevance CSV: query text → (line, relevant file names). File names are matched to `files`
/// (the names, and what they are, for messages) when given ([`match_file_name`]); an unmatched
/// name, a repeated name or a repeated query is an error naming the line.
pub fn read_relevance(
    path: &Path,
    files: Option<(&HashSet<String>, &str)>,
) -> Result<BTreeMap<String, (u64, Vec<String>)>> {
    let (text, _) = text::read_utf8_or_latin1(path)?;
    let csv = Delimited::parse(path, &text, b',')?;
    let [q, f] = csv.require(path, ["query", "audio_filenames"])?;
    let mut out = BTreeMap::new();
    for (line, rec) in &csv.records {
        let query = rec.get(q).unwrap_or("").trim().to_string();
        if query.is_empty() {
            return Err(Error::line(path, *line, "empty query"));
        }
        let names = parse_python_list(rec.get(f).unwrap_or(""))
            .map_err(|e| Error::line(path, *line, format!("audio_filenames: {e}")))?;
        if names.is_empty() {
            return Err(Error::line(path, *line, "audio_filenames lists no file"));
        }
        let mut seen = HashSet::new();
        let mut matched = Vec::with_capacity(names.len());
        for name in names {
            let name = match files {
                Some((files, what)) => match_file_name(&name, files)
                    .ok_or_else(|| Error::line(path, *line, format!("{name:?} is not a clip of {what}")))?,
                None => name,
            };
            if !seen.insert(name.clone()) {
                return Err(Error::line(path, *line, format!("{name:?} is listed twice")));
            }
            matched.push(name);
        }
        if let Some((first, _)) = out.insert(query.clone(), (*line, matched)) {
            return Err(Error::line(path, *line, format!("query {query:?} already has judgements (line {first})")));
        }
    }
    if out.is_empty() {
        return Err(Error::file(path, "holds no judgements"));
    }
    Ok(out)
}

/// The name under which `name` is among `files`: itself, or with `:` rewritten to `_` (as tools
/// that cannot store `:` in file names save Clotho's files).
pub fn match_file_name(name: &str, files: &HashSet<String>) -> Option<String> {
    if files.contains(name) {
        return Some(name.to_string());
    }
    let rewritten = name.replace(':', "_");
    files.contains(&rewritten).then_some(rewritten)
}

/// The file names of the audio files below `dir` (recursively), as `scan` finds them.
pub fn audio_names(dir: &Path) -> Result<HashSet<String>> {
    use crate::manifest::scan::{list_audio, IdFrom, ScanOptions};
    let listing = list_audio(dir, &ScanOptions { recursive: true, id_from: IdFrom::Name })?;
    Ok(listing.files.into_iter().map(|(id, _)| id).collect())
}

/// A Python list literal of strings, as `repr` writes it: `['a.wav', "it's.wav"]`, with `\\`, `\'`,
/// `\"` escapes. Anything else (numbers, nesting) is an error.
pub fn parse_python_list(s: &str) -> std::result::Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("{s:?} is not a list literal ['…', …]"))?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(quote) = chars.next() else { break };
        if quote != '\'' && quote != '"' {
            return Err(format!("expected a quoted string, found {quote:?}"));
        }
        let mut item = String::new();
        loop {
            match chars.next() {
                None => return Err("a string is not closed".into()),
                Some('\\') => match chars.next() {
                    Some(c @ ('\\' | '\'' | '"')) => item.push(c),
                    Some('n') => item.push('\n'),
                    Some('t') => item.push('\t'),
                    Some(c) => return Err(format!("unsupported escape \\{c}")),
                    None => return Err("a string is not closed".into()),
                },
                Some(c) if c == quote => break,
                Some(c) => item.push(c),
            }
        }
        out.push(item);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(format!("expected ',' or ']', found {c:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_lists_as_repr_writes_them() {
        assert_eq!(parse_python_list("['a.wav', 'b c.wav']").unwrap(), ["a.wav", "b c.wav"]);
        assert_eq!(
            parse_python_list(r#"["it's.wav", 'x\'y.wav', 'back\\slash.wav']"#).unwrap(),
            ["it's.wav", "x'y.wav", "back\\slash.wav"]
        );
        assert_eq!(parse_python_list(" [ 'a.wav' , ] ").unwrap(), ["a.wav"]);
        assert_eq!(parse_python_list("[]").unwrap(), Vec::<String>::new());
        assert!(parse_python_list("'a.wav'").unwrap_err().contains("not a list literal"));
        assert!(parse_python_list("[1, 2]").unwrap_err().contains("quoted string"));
        assert!(parse_python_list("['a.wav' 'b.wav']").unwrap_err().contains("expected ','"));
        assert!(parse_python_list("['a.wav]").unwrap_err().contains("not closed"));
    }

    #[test]
    fn a_repeated_query_text_gets_its_judgements_on_every_row() {
        let q = |i: u32, t: &str| Query { query_index: i, query: t.into(), dataset: "clotho".into(), relevant: None };
        let mut queries = [q(1, "rain"), q(2, "birds"), q(3, "rain")];
        let rel = BTreeMap::from([("rain".to_string(), (2, vec!["a.wav".to_string()]))]);
        assign_relevance(&mut queries, rel, Path::new("r.csv"), Path::new("q.csv")).unwrap();
        let got: Vec<_> = queries.iter().map(|q| q.relevant.clone()).collect();
        assert_eq!(got, [Some(vec!["a.wav".to_string()]), None, Some(vec!["a.wav".to_string()])]);
        let rel = BTreeMap::from([("wind".to_string(), (3, vec!["a.wav".to_string()]))]);
        let err = assign_relevance(&mut queries, rel, Path::new("r.csv"), Path::new("q.csv")).unwrap_err().to_string();
        assert!(err.contains("r.csv:3") && err.contains("\"wind\" is not among the queries of q.csv"), "{err}");
    }

    #[test]
    fn file_names_match_exactly_or_after_the_colon_rewrite() {
        let files: HashSet<String> = ["a_b.wav".to_string(), "c:d.wav".to_string()].into();
        assert_eq!(match_file_name("a:b.wav", &files).as_deref(), Some("a_b.wav"));
        assert_eq!(match_file_name("c:d.wav", &files).as_deref(), Some("c:d.wav"));
        assert_eq!(match_file_name("e.wav", &files), None);
    }
}
