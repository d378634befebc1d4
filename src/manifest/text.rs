//! Reading text files with the encoding each format needs, and CSV/TSV records with line numbers.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};

/// Which encoding a file was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Latin1,
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Read a file that must be UTF-8 (a leading BOM is allowed). Invalid bytes are an error naming the line.
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = read_bytes(path)?;
    utf8_or_error(path, strip_bom(&bytes)).map(str::to_owned)
}

fn utf8_or_error<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64;
        let col = 1 + at - bytes[..at].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        Error::line(
            path,
            line,
            format!("not valid UTF-8 (byte 0x{:02X} at column {col}); this file must be UTF-8", bytes[at]),
        )
    })
}

/// Read a file that is UTF-8 or ISO-8859-1 (Clotho's metadata CSVs): UTF-8 when the bytes are valid
/// UTF-8, Latin-1 otherwise (Latin-1 text with accents is practically never valid UTF-8).
pub fn read_utf8_or_latin1(path: &Path) -> Result<(String, Encoding)> {
    let bytes = read_bytes(path)?;
    let bytes = strip_bom(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((s.to_owned(), Encoding::Utf8)),
        Err(_) => Ok((bytes.iter().map(|&b| b as char).collect(), Encoding::Latin1)),
    }
}

/// A CSV/TSV file parsed into a header and records, each with the line it starts on.
pub struct Delimited {
    pub header: Vec<String>,
    index: HashMap<String, usize>,
    pub records: Vec<(u64, csv::StringRecord)>,
}

impl Delimited {
    /// Parse `text` (the content of `path`) with the given delimiter. Ragged rows are errors.
    pub fn parse(path: &Path, text: &str, delimiter: u8) -> Result<Self> {
        check_quotes(path, text, delimiter)?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let header: Vec<String> =
            reader.headers().map_err(|e| csv_error(path, e))?.iter().map(|h| h.trim().to_string()).collect();
        if header.iter().all(|h| h.is_empty()) {
            return Err(Error::file(path, "empty file: no header line"));
        }
        // A repeated column name would silently shadow the first (two caption_1 columns).
        for (i, h) in header.iter().enumerate() {
            if !h.is_empty() && header[..i].contains(h) {
                return Err(Error::line(path, 1, format!("column {h:?} appears twice in the header")));
            }
        }
        let index = header.iter().enumerate().map(|(i, h)| (h.clone(), i)).collect();
        let mut records = Vec::new();
        for rec in reader.records() {
            let rec = rec.map_err(|e| csv_error(path, e))?;
            let line = rec.position().map_or(0, |p| p.line());
            // Skip blank lines at the end of hand-edited files.
            if rec.len() == 1 && rec[0].trim().is_empty() {
                continue;
            }
            records.push((line, rec));
        }
        Ok(Delimited { header, index, records })
    }

    /// Read and parse a UTF-8 file.
    pub fn read_utf8(path: &Path, delimiter: u8) -> Result<Self> {
        Self::parse(path, &read_utf8(path)?, delimiter)
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The index of each named column; a missing one is an error naming it and the columns found.
    pub fn require<const N: usize>(&self, path: &Path, names: [&str; N]) -> Result<[usize; N]> {
        let mut out = [0; N];
        for (o, name) in out.iter_mut().zip(names) {
            *o = self.position(name).ok_or_else(|| Error::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
                found: self.header.join(", "),
            })?;
        }
        Ok(out)
    }
}

/// The csv crate reads an unterminated quoted field to the end of the file without complaint; such a
/// file is malformed (a caption would swallow every line after it), so find the quote that opened it.
fn check_quotes(path: &Path, text: &str, delimiter: u8) -> Result<()> {
    let bytes = text.as_bytes();
    let (mut line, mut open_line) = (1u64, 0u64);
    let (mut in_quotes, mut field_start) = (false, true);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quotes {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else if b == b'"' && field_start {
            in_quotes = true;
            open_line = line;
        }
        if b == b'\n' {
            line += 1;
        }
        field_start = !in_quotes && (b == delimiter || b == b'\n' || b == b'\r');
        i += 1;
    }
    if in_quotes {
        return Err(Error::line(path, open_line, "malformed CSV: quoted field is never closed"));
    }
    Ok(())
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    let msg = match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("malformed row: {len} fields where the header has {expected_len}")
        }
        _ => format!("malformed CSV: {e}"),
    };
    if line > 0 {
        Error::line(path, line, msg)
    } else {
        Error::file(path, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, b"a,b\nok,fine\nbad,caf\xE9\n").unwrap();
        let err = read_utf8(&p).unwrap_err().to_string();
        assert!(err.contains("x.csv:3:"), "{err}");
        assert!(err.contains("0xE9 at column 8"), "{err}");
    }

    #[test]
    fn latin1_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(&p, b"file_name\ncaf\xE9.wav\n").unwrap();
        let (s, enc) = read_utf8_or_latin1(&p).unwrap();
        assert_eq!(enc, Encoding::Latin1);
        assert!(s.contains("café.wav"));
        std::fs::write(&p, "file_name\ncafé.wav\n").unwrap();
        let (s, enc) = read_utf8_or_latin1(&p).unwrap();
        assert_eq!(enc, Encoding::Utf8);
        assert!(s.contains("café.wav"));
    }

    #[test]
    fn unterminated_quote_names_its_line() {
        let p = Path::new("q.csv");
        let err = Delimited::parse(p, "a,b\n1,\"ok \"\"x\"\"\"\n2,\"open\n3,4\n", b',').err().unwrap().to_string();
        assert!(err.contains("q.csv:3: malformed CSV: quoted field is never closed"), "{err}");
        // A quote inside an unquoted field is literal, as in Python's csv.
        let t = Delimited::parse(p, "a,b\n1,a 5\" speaker\n", b',').unwrap();
        assert_eq!(&t.records[0].1[1], "a 5\" speaker");
    }

    #[test]
    fn ragged_row_names_line() {
        let p = Path::new("r.csv");
        let err = Delimited::parse(p, "a,b\n1,2\n\"multi\nline\",2\n3\n", b',').err().unwrap().to_string();
        assert!(err.contains("r.csv:5:"), "{err}");
        assert!(err.contains("1 fields where the header has 2"), "{err}");
    }
}
