//! The reference's tab-separated index files: `wav.csv` (`audio_id`, `file_name`) and `waveform.csv`
//! (`audio_id`, `hdf5_path`). Read with line numbers, written atomically.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{check_problems, Error, Result};
use crate::manifest::text::Delimited;

/// A TSV table with an `audio_id` column, in file order.
#[derive(Debug, Clone)]
pub struct Tsv {
    pub header: Vec<String>,
    /// (line number, fields) per row.
    pub rows: Vec<(u64, Vec<String>)>,
}

impl Tsv {
    /// Read a UTF-8 TSV that has an `audio_id` column; empty or duplicate ids are errors naming the line.
    pub fn read(path: &Path) -> Result<Tsv> {
        let table = Delimited::read_utf8(path, b'\t')?;
        let [id] = table.require(path, ["audio_id"])?;
        let mut problems = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut rows = Vec::with_capacity(table.records.len());
        for (line, rec) in &table.records {
            let audio_id = &rec[id];
            if audio_id.is_empty() {
                problems.push(format!("line {line}: empty audio_id"));
            } else if let Some(first) = seen.insert(audio_id.to_string(), *line) {
                problems.push(format!("line {line}: audio_id {audio_id:?}: duplicate (first on line {first})"));
            }
            rows.push((*line, rec.iter().map(String::from).collect()));
        }
        check_problems(path, problems)?;
        Ok(Tsv { header: table.header, rows })
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The audio_ids, in file order.
    pub fn audio_ids(&self) -> impl Iterator<Item = &str> {
        let id = self.column("audio_id").expect("checked by Tsv::read");
        self.rows.iter().map(move |(_, r)| r[id].as_str())
    }

    /// The values of two columns per row, e.g. (`audio_id`, `file_name`).
    pub fn pairs(&self, path: &Path, key: &str, value: &str) -> Result<Vec<(String, String)>> {
        let missing = |c: &str| Error::MissingColumn {
            path: path.to_path_buf(),
            column: c.to_string(),
            found: self.header.join(", "),
        };
        let k = self.column(key).ok_or_else(|| missing(key))?;
        let v = self.column(value).ok_or_else(|| missing(value))?;
        Ok(self.rows.iter().map(|(_, r)| (r[k].clone(), r[v].clone())).collect())
    }
}

/// Write a TSV atomically (fields quoted only where a tab, quote or newline needs it).
pub fn write_tsv<'a>(path: &Path, header: &[&str], rows: impl IntoIterator<Item = Vec<&'a str>>) -> Result<()> {
    crate::atomic::write_file(path, |w| {
        let mut csv = csv::WriterBuilder::new().delimiter(b'\t').from_writer(w);
        let err = |e: csv::Error| Error::file(path, format!("writing: {e}"));
        csv.write_record(header).map_err(err)?;
        for row in rows {
            csv.write_record(&row).map_err(err)?;
        }
        csv.flush().map_err(|e| Error::io(path, e))?;
        Ok(())
    })
}
