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

/// Read a C-ordered little-endian float32 `.npy` file.
pub fn read_f32(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |m: &str| Error::file(path, format!("not a float32 .npy file: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(&format!("version {v}"))),
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len).ok_or_else(|| bad("short header"))?)
        .map_err(|_| bad("header not UTF-8"))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))?;
        Some(header[i + key.len() + 2..].trim_start().trim_start_matches(':').trim_start())
    };
    let descr = field("descr").ok_or_else(|| bad("no descr"))?;
    if !descr.starts_with("'<f4'") {
        return Err(bad(&format!("dtype {}", descr.split(',').next().unwrap_or(descr))));
    }
    if field("fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad("Fortran order"));
    }
    let shape_text = field("shape").ok_or_else(|| bad("no shape"))?;
    let inner = shape_text.trim_start_matches('(').split(')').next().unwrap_or("");
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("shape")))
        .collect::<Result<_>>()?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + header_len..];
    if body.len() != n * 4 {
        return Err(bad(&format!("{} data bytes for shape {shape:?}", body.len())));
    }
    let data = body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(Array { shape, data })
}

/// Write a float32 `.npy` file (format 1.0), atomically.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::Usage(format!("shape {shape:?} does not hold {} values", data.len())));
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
        assert_eq!(std::fs::read(&p).unwrap().len() % 64, 24 % 64);
        write_f32(&p, &[1], &[7.0]).unwrap();
        assert_eq!(read_f32(&p).unwrap().shape, [1]);
        std::fs::write(&p, b"not npy").unwrap();
        assert!(read_f32(&p).unwrap_err().to_string().contains("a.npy"));
    }
}
