//! NumPy `.npy` files of little-endian float32 (format 1.0/2.0/3.0), read and written: the exchange
//! format of fixtures, features and embeddings; float16 too, for the halved embeddings of an index.

use std::path::Path;

use crate::error::{Error, Result};

/// An f32 array and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Read a C-ordered little-endian float32 `.npy` file. The data is read straight into the result, so a
/// large matrix is held in memory once.
pub fn read_f32(path: &Path) -> Result<Array> {
    use std::io::{Read, Seek};
    let (mut file, layout) = open(path, &[Dtype::F32])?;
    let bad = |m: &str| Error::file(path, format!("not a float32 .npy file: {m}"));
    file.seek(std::io::SeekFrom::Start(layout.offset)).map_err(|e| Error::io(path, e))?;
    // One read straight into the result's bytes (then byte order fixed in place where the machine is
    // big-endian): no staging buffer, no per-element copy.
    let mut data = vec![0f32; layout.len];
    file.read_exact(bytemuck::cast_slice_mut(&mut data))
        .map_err(|_| bad(&format!("fewer data bytes than shape {:?} needs", layout.shape)))?;
    if cfg!(target_endian = "big") {
        for v in &mut data {
            *v = f32::from_bits(u32::from_le(v.to_bits()));
        }
    }
    Ok(Array { shape: layout.shape, data })
}

/// The element types read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
}

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F16 => "<f2",
        }
    }
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 => 2,
        }
    }
}

/// A float32 (or float16) `.npy` file's data mapped into memory (read-only, no copy), or read where it
/// cannot be (a big-endian machine, data not aligned in the file).
pub struct MappedArray {
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    data: Mapped,
}

enum Mapped {
    Map(memmap2::Mmap, usize, usize),
    Read(Vec<f32>),
    ReadF16(Vec<half::f16>),
}

/// The values of a [`MappedArray`], by element type.
pub enum Values<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
}

impl MappedArray {
    /// The values, row-major, of a float32 array (what [`map_f32`] returns); empty for float16.
    pub fn data(&self) -> &[f32] {
        match self.values() {
            Values::F32(v) => v,
            Values::F16(_) => &[],
        }
    }

    /// The values, row-major.
    pub fn values(&self) -> Values<'_> {
        match (&self.data, self.dtype) {
            // Checked when mapped: aligned and in bounds.
            (Mapped::Map(m, offset, len), Dtype::F32) => {
                Values::F32(bytemuck::cast_slice(&m[*offset..*offset + len * 4]))
            }
            (Mapped::Map(m, offset, len), Dtype::F16) => {
                Values::F16(bytemuck::cast_slice(&m[*offset..*offset + len * 2]))
            }
            (Mapped::Read(v), _) => Values::F32(v),
            (Mapped::ReadF16(v), _) => Values::F16(v),
        }
    }
}

/// [`read_f32`] without the copy: the file's pages are mapped (and faulted in at once), which for a
/// large matrix read once is about half the time of reading it. The file must not be truncated while
/// the array is alive.
pub fn map_f32(path: &Path) -> Result<MappedArray> {
    map_as(path, &[Dtype::F32])
}

/// [`map_f32`] for a float32 or float16 file.
pub fn map_float(path: &Path) -> Result<MappedArray> {
    map_as(path, &[Dtype::F32, Dtype::F16])
}

fn map_as(path: &Path, dtypes: &[Dtype]) -> Result<MappedArray> {
    let (file, layout) = open(path, dtypes)?;
    let size = layout.dtype.size();
    if cfg!(target_endian = "little") && layout.offset.is_multiple_of(size as u64) && layout.len > 0 {
        // SAFETY: the map is read-only and private; the file's length was checked to hold the data.
        let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }.map_err(|e| Error::io(path, e))?;
        let (offset, len) = (layout.offset as usize, layout.len);
        if map.len() >= offset + len * size && (map.as_ptr() as usize + offset).is_multiple_of(size) {
            return Ok(MappedArray { shape: layout.shape, dtype: layout.dtype, data: Mapped::Map(map, offset, len) });
        }
    }
    if layout.dtype == Dtype::F16 {
        use std::io::{Read, Seek};
        let mut file = file;
        file.seek(std::io::SeekFrom::Start(layout.offset)).map_err(|e| Error::io(path, e))?;
        let mut bytes = vec![0u8; layout.len * 2];
        file.read_exact(&mut bytes).map_err(|e| Error::io(path, e))?;
        let data = bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]])).collect();
        return Ok(MappedArray { shape: layout.shape, dtype: Dtype::F16, data: Mapped::ReadF16(data) });
    }
    let a = read_f32(path)?;
    Ok(MappedArray { shape: a.shape, dtype: Dtype::F32, data: Mapped::Read(a.data) })
}

/// Where the data of a `.npy` file is: after its header, exactly `len` values to the end.
struct Layout {
    shape: Vec<usize>,
    dtype: Dtype,
    len: usize,
    offset: u64,
}

/// Open `path` and check its header against its length, before anything is allocated for the data.
/// Its element type must be one of `dtypes`.
fn open(path: &Path, dtypes: &[Dtype]) -> Result<(std::fs::File, Layout)> {
    use std::io::Read;
    let kind = if dtypes.len() > 1 { "float32 or float16" } else { "float32" };
    let bad = |m: &str| Error::file(path, format!("not a {kind} .npy file: {m}"));
    let io = |e: std::io::Error| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::with_capacity(12);
    (&mut file).take(12).read_to_end(&mut head).map_err(io)?;
    let got = head.len();
    head.resize(12, 0);
    if got < 8 || &head[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start) = match head[6] {
        1 if got >= 10 => (u16::from_le_bytes([head[8], head[9]]) as usize, 10u64),
        2 | 3 if got >= 12 => (u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize, 12),
        1..=3 => return Err(bad("short header")),
        v => return Err(bad(&format!("version {v}"))),
    };
    if header_len > MAX_HEADER {
        return Err(bad(&format!("header of {header_len} bytes (at most {MAX_HEADER})")));
    }
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).map_err(|_| bad("short header"))?;
    let header = std::str::from_utf8(&header).map_err(|_| bad("header not UTF-8"))?;
    let h = parse_header(header).map_err(|m| bad(&format!("header: {m}")))?;
    let Some(dtype) = dtypes.iter().copied().find(|d| d.descr() == h.descr) else {
        return Err(bad(&format!("dtype {:?}", h.descr)));
    };
    if h.fortran_order {
        return Err(bad("Fortran order"));
    }
    let shape = h.shape;
    // The data must be exactly what the file holds after the header: checked before allocating, so a
    // header claiming a huge shape costs nothing.
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(&format!("shape {shape:?} overflows")))?;
    let offset = start + header_len as u64;
    let file_len = file.metadata().map_err(io)?.len();
    let data_bytes = file_len.saturating_sub(offset);
    let need =
        (len as u64).checked_mul(dtype.size() as u64).ok_or_else(|| bad(&format!("shape {shape:?} overflows")))?;
    if need > data_bytes {
        return Err(bad(&format!("fewer data bytes than shape {shape:?} needs ({data_bytes} of {need})")));
    }
    if need < data_bytes {
        return Err(bad(&format!("more data bytes than shape {shape:?} holds")));
    }
    Ok((file, Layout { shape, dtype, len, offset }))
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
    let mut bytes = header_bytes(shape, data.len(), Dtype::F32)?;
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    crate::atomic::write_bytes(path, &bytes)
}

/// Write `data` rounded to float16 as a `.npy` file (format 1.0), atomically.
pub fn write_f16(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let mut bytes = header_bytes(shape, data.len(), Dtype::F16)?;
    for v in data {
        bytes.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes());
    }
    crate::atomic::write_bytes(path, &bytes)
}

/// The magic, version and header of a `.npy` file of `len` values of `shape`, with room for the data.
fn header_bytes(shape: &[usize], len: usize, dtype: Dtype) -> Result<Vec<u8>> {
    let n: usize = shape.iter().product();
    if n != len {
        return Err(Error::Internal(format!("shape {shape:?} does not hold {len} values")));
    }
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}", dtype.descr());
    // Pad so that the data starts on a 64-byte boundary, ending with a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + len * dtype.size());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    Ok(bytes)
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

    #[test]
    fn mapped_equals_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.npy");
        let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin()).collect();
        write_f32(&p, &[40, 25], &values).unwrap();
        let m = map_f32(&p).unwrap();
        assert_eq!((m.shape.as_slice(), m.data()), ([40, 25].as_slice(), values.as_slice()));
        // An empty matrix; a file cut short or too long is refused as by read_f32.
        write_f32(&p, &[0, 3], &[]).unwrap();
        assert_eq!(map_f32(&p).unwrap().data(), &[] as &[f32]);
        write_f32(&p, &[4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
        assert!(map_f32(&p).err().unwrap().to_string().contains("fewer data bytes"));
        std::fs::write(&p, [&bytes[..], &[0]].concat()).unwrap();
        assert!(map_f32(&p).err().unwrap().to_string().contains("more data bytes"));
        std::fs::write(&p, b"\x93NUMPY\x01").unwrap();
        assert!(map_f32(&p).err().unwrap().to_string().contains("no NUMPY magic"));
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
