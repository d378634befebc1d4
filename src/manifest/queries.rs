//! Captions or text queries from any of the files people keep them in: a plain text file (one per
//! line), a CSV with a `caption` column (Clotho's `retrieval_captions.csv`, or any list), a Clotho
//! captions CSV (`file_name,caption_1..caption_5`), a caption JSON, or a captions Parquet table.

use std::path::Path;

use crate::error::{Error, Result};
use crate::manifest::{caption_json, clotho, extension, text};

/// One caption or query to embed or search with.
#[derive(Debug, Clone, PartialEq)]
pub struct TextRow {
    /// The clip it describes (tables, JSON, Clotho CSV), or `query-N` for a bare list (1-based).
    pub audio_id: String,
    /// The caption's index among its clip's captions, when it belongs to a clip.
    pub caption_index: Option<u32>,
    pub caption: String,
}

/// The kinds of file [`read`] takes, for messages.
pub const KINDS: &str =
    ".txt (one per line), .csv with a caption column or Clotho's caption_1..caption_5, caption JSON (.json), captions or queries table (.parquet)";

/// The captions or queries of `path`, by its extension. An empty caption is an error naming the line.
pub fn read(path: &Path) -> Result<Vec<TextRow>> {
    let rows = match extension(path).as_str() {
        "txt" => read_lines(path)?,
        "csv" => read_csv(path)?,
        "json" | "parquet" => {
            let names = if extension(path) == "parquet" { crate::table::column_names(path)? } else { Vec::new() };
            if crate::schema::Table::detect(names.iter().map(|s| s.as_str())) == Some(crate::schema::Table::Queries) {
                return Ok(crate::table::read_queries(path)?
                    .into_iter()
                    .map(|q| TextRow {
                        audio_id: format!("query-{}", q.query_index),
                        caption_index: None,
                        caption: q.query,
                    })
                    .collect());
            }
            let rows = if extension(path) == "json" {
                caption_json::import(path, &caption_json::JsonImport::default())?
            } else {
                crate::table::read_captions(path)?
            };
            rows.into_iter()
                .map(|r| TextRow { audio_id: r.audio_id, caption_index: Some(r.caption_index), caption: r.caption })
                .collect()
        }
        _ => return Err(Error::file(path, format!("unknown kind of caption file; the kinds are: {KINDS}"))),
    };
    if rows.is_empty() {
        return Err(Error::file(path, "holds no captions"));
    }
    Ok(rows)
}

fn query_id(n: usize) -> String {
    format!("query-{n}")
}

fn read_lines(path: &Path) -> Result<Vec<TextRow>> {
    let text = text::read_utf8(path)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    // Blank lines separate nothing: they are skipped, not queries.
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| TextRow { audio_id: query_id(i + 1), caption_index: None, caption: l.to_string() })
        .collect())
}

fn read_csv(path: &Path) -> Result<Vec<TextRow>> {
    let t = text::Delimited::read_utf8(path, b',')?;
    if t.position("caption").is_none() && t.position("caption_1").is_some() {
        // Clotho's captions CSV: every caption of every clip, as `import clotho` reads it.
        let rows = clotho::import(&clotho::ClothoImport {
            captions: vec![path.to_path_buf()],
            metadata: vec![],
            split: None,
        })?;
        return Ok(rows
            .into_iter()
            .map(|r| TextRow { audio_id: r.audio_id, caption_index: Some(r.caption_index), caption: r.caption })
            .collect());
    }
    let [c] = t.require(path, ["caption"])?;
    let id = t.position("audio_id").or_else(|| t.position("file_name"));
    let mut rows = Vec::with_capacity(t.records.len());
    for (i, (line, rec)) in t.records.iter().enumerate() {
        let caption = rec[c].trim();
        if caption.is_empty() {
            return Err(Error::line(path, *line, "empty caption"));
        }
        let audio_id = match id {
            Some(k) if !rec[k].trim().is_empty() => rec[k].trim().to_string(),
            _ => query_id(i + 1),
        };
        rows.push(TextRow { audio_id, caption_index: None, caption: caption.to_string() });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn every_kind_of_caption_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let txt = read(&write(d, "q.txt", "\u{feff}a dog barks\n\n  rain on a roof  \r\n")).unwrap();
        assert_eq!(
            txt.iter().map(|r| (r.audio_id.as_str(), r.caption.as_str())).collect::<Vec<_>>(),
            [("query-1", "a dog barks"), ("query-2", "rain on a roof")]
        );
        let csv = read(&write(d, "retrieval_captions.csv", "caption\n\"birds, then rain\"\nwind\n")).unwrap();
        assert_eq!(csv[0].caption, "birds, then rain");
        assert_eq!(csv[1].audio_id, "query-2");
        let clotho = read(&write(d, "c.csv", "file_name,caption_1,caption_2\na b.wav,one,two\n")).unwrap();
        assert_eq!(clotho.len(), 2);
        assert_eq!((clotho[1].audio_id.as_str(), clotho[1].caption_index), ("a b.wav", Some(2)));
    }

    #[test]
    fn bad_caption_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = read(&write(d, "x.csv", "text\nhello\n")).unwrap_err().to_string();
        assert!(err.contains("x.csv") && err.contains("caption"), "{err}");
        let err = read(&write(d, "e.csv", "audio_id,caption\na.wav,ok\nb.wav,\n")).unwrap_err().to_string();
        assert!(err.contains("e.csv:3") && err.contains("empty caption"), "{err}");
        let err = read(&write(d, "blank.txt", "\n \n")).unwrap_err().to_string();
        assert!(err.contains("blank.txt") && err.contains("no captions"), "{err}");
        let err = read(&write(d, "q.xlsx", "")).unwrap_err().to_string();
        assert!(err.contains("q.xlsx") && err.contains(".txt"), "{err}");
    }
}
