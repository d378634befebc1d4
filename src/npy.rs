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
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header).map_err(|_| bad("short header"))?;
    let header = std::str::from_utf8(&header).map_err(|_| bad("header not UTF-8"))?;
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
}
