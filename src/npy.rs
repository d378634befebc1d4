//! NumPy `.npy` files of little-endian float32 (format 1.0/2.0/3.0), read and written: the exchange
//! format of fixtures, features and embeddings.

use std::path::Path;

use crate::error::{Error, Result};

/// An f32 array and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Read a C-ordered little-endian float32 `.npy` file. The data is read in blocks straight into the
/// result, so a large matrix is held in memory once.
pub fn read_f32(path: &Path) -> Result<Array> {
    use std::io::Read;
    let bad = |m: &str| Error::file(path, format!("not a float32 .npy file: {m}"));
    let io = |e: std::io::Error| Error::io(path, e);
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut magic = [0u8; 8];
    file.read_exact(&mut magic).map_err(|_| bad("no NUMPY magic"))?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let header_len = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            file.read_exact(&mut b).map_err(|_| bad("short header"))?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            file.read_exact(&mut b).map_err(|_| bad("short header"))?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(bad(&format!("version {v}"))),
    };
    if header_len > MAX_HEADER {
        return Err(bad(&format!("header of {header_len} bytes (at most {MAX_HEADER})")));
    }
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).map_err(|_| bad("short header"))?;
    let header = std::str::from_utf8(&header).map_err(|_| bad("header not UTF-8"))?;
    let h = parse_header(header).map_err(|m| bad(&format!("header: {m}")))?;
    if h.descr != "<f4" {
        return Err(bad(&format!("dtype {:?}", h.descr)));
    }
    if h.fortran_order {
        return Err(bad("Fortran order"));
    }
    let shape = h.shape;
    // The data must be exactly what the file holds after the header: checked before allocating, so a
    // header claiming a huge shape costs nothing.
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(&format!("shape {shape:?} overflows")))?;
    let offset = (if magic[6] == 1 { 10 } else { 12 }) + header_len as u64;
    let file_len = file.get_ref().metadata().map_err(io)?.len();
    let data_bytes = file_len.saturating_sub(offset);
    let need = (n as u64).checked_mul(4).ok_or_else(|| bad(&format!("shape {shape:?} overflows")))?;
    if need > data_bytes {
        return Err(bad(&format!("fewer data bytes than shape {shape:?} needs ({data_bytes} of {need})")));
    }
    let mut data = Vec::with_capacity(n);
    let mut block = vec![0u8; 1 << 16];
    while data.len() < n {
        let want = ((n - data.len()) * 4).min(block.len());
        file.read_exact(&mut block[..want])
            .map_err(|_| bad(&format!("fewer data bytes than shape {shape:?} needs")))?;
        data.extend(block[..want].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
    }
    if file.read(&mut block[..1]).map_err(io)? != 0 {
        return Err(bad(&format!("more data bytes than shape {shape:?} holds")));
    }
    Ok(Array { shape, data })
}

/// The longest header read (numpy writes well under 1 KiB).
const MAX_HEADER: usize = 1 << 16;

/// What a `.npy` header says.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parse the header, a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
/// as a parser, not by searching for keys (a key inside a string value is not a key). Each of the
/// three keys exactly once; nothing else.
fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect(b'{')?;
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let dup = |k: &str| format!("key {k:?} given twice");
        match key.as_str() {
            "descr" if descr.is_none() => descr = Some(p.string()?),
            "fortran_order" if fortran.is_none() => fortran = Some(p.boolean()?),
            "shape" if shape.is_none() => shape = Some(p.tuple()?),
            "descr" | "fortran_order" | "shape" => return Err(dup(&key)),
            other => return Err(format!("unknown key {other:?}")),
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect(b'}')?;
            break;
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("text after the dict at byte {}", p.i));
    }
    Ok(Header {
        descr: descr.ok_or("no descr")?,
        fortran_order: fortran.ok_or("no fortran_order")?,
        shape: shape.ok_or("no shape")?,
    })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += hit as usize;
        hit
    }
    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a string at byte {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != quote {
            if self.s[self.i] == b'\\' {
                return Err("escapes in header strings are not supported".into());
            }
            self.i += 1;
        }
        let v = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?.to_string();
        self.expect(quote)?;
        Ok(v)
    }
    fn boolean(&mut self) -> std::result::Result<bool, String> {
        for (word, v) in [(&b"True"[..], true), (&b"False"[..], false)] {
            if self.s[self.i..].starts_with(word) {
                self.i += word.len();
                return Ok(v);
            }
        }
        Err(format!("expected True or False at byte {}", self.i))
    }
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
            dims.push(digits.parse::<usize>().map_err(|_| format!("bad dimension at byte {start}"))?);
            if dims.len() > 32 {
                return Err("more than 32 dimensions".into());
            }
            self.ws();
            if !self.eat(b',') {
                self.ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// Write a float32 `.npy` file (format 1.0), atomically.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::Internal(format!("shape {shape:?} does not hold {} values", data.len())));
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // Pad so that the data starts on a 64-byte boundary, ending with a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + data.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::atomic::write_bytes(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_f32(&p, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.5]).unwrap();
        let a = read_f32(&p).unwrap();
        assert_eq!(a.shape, [2, 3]);
        assert_eq!(a.data, [1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        assert_eq!(std::fs::read(&p).unwrap().len() % 64, 24);
        write_f32(&p, &[1], &[7.0]).unwrap();
        assert_eq!(read_f32(&p).unwrap().shape, [1]);
        // Truncated and overlong data are errors.
        write_f32(&p, &[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 2]).unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("fewer data bytes"));
        std::fs::write(&p, [&bytes[..], &[0, 0, 0, 0]].concat()).unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("more data bytes"));
        std::fs::write(&p, b"not npy").unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("a.npy"));
    }

    /// A file with `header` as its header and `data_bytes` zero bytes of data.
    fn with_header(p: &Path, header: &str, data_bytes: usize) {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend(std::iter::repeat_n(0u8, data_bytes));
        std::fs::write(p, b).unwrap();
    }

    #[test]
    fn hostile_headers_are_refused_before_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.npy");
        let err = |h: &str, n: usize| {
            with_header(&p, h, n);
            read_f32(&p).unwrap_err().to_string()
        };
        // Huge shapes: refused from the file's size, no allocation.
        let e = err("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 1), }", 16);
        assert!(e.contains("fewer data bytes"), "{e}");
        let e = err("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 16);
        assert!(e.contains("overflows"), "{e}");
        // A key hidden inside a string value is not a key: this is float64 data.
        let e = err(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (8, 4), 'x': \"'descr': '<f4', 'shape': (8, 4)\"}",
            256,
        );
        assert!(e.contains("unknown key") || e.contains("dtype"), "{e}");
        let e = err("{'descr': '<f8', 'fortran_order': False, 'shape': (8, 4), }", 256);
        assert!(e.contains("dtype \"<f8\""), "{e}");
        let e = err("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8);
        assert!(e.contains("twice"), "{e}");
        let e = err("{'descr': '<f4', 'fortran_order': False}", 8);
        assert!(e.contains("no shape"), "{e}");
        // The real thing still reads.
        with_header(&p, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", 8);
        assert_eq!(read_f32(&p).unwrap().shape, [2, 1]);
        with_header(&p, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4);
        assert_eq!(read_f32(&p).unwrap().data.len(), 1);
    }
}
