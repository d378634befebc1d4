//! PyTorch files written byte by byte: a protocol-2 pickle as `torch.save` writes it, in a stored
//! zip archive, so tests can say exactly what a hostile file claims.

use std::io::Write;
use std::path::Path;

/// A pickle under construction.
#[derive(Default, Clone)]
pub struct Pickle(pub Vec<u8>);

impl Pickle {
    pub fn new() -> Self {
        Pickle(vec![0x80, 2])
    }
    pub fn op(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn global(self, module: &str, name: &str) -> Self {
        self.op(format!("c{module}\n{name}\n").as_bytes())
    }
    pub fn str(mut self, s: &str) -> Self {
        self.0.push(b'X');
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// Any i64, as LONG1 of 8 bytes.
    pub fn int(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&[0x8a, 8]);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn ints(self, vs: &[i64]) -> Self {
        vs.iter().fold(self.op(b"("), |p, &v| p.int(v)).op(b"t")
    }
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())` over a
    /// FloatStorage of `numel` elements under `key`.
    pub fn tensor(self, key: &str, numel: i64, offset: i64, size: &[i64], stride: &[i64]) -> Self {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .op(b"(")
            .op(b"(")
            .str("storage")
            .global("torch", "FloatStorage")
            .str(key)
            .str("cpu")
            .int(numel)
            .op(b"tQ")
            .int(offset)
            .ints(size)
            .ints(stride)
            .op(&[0x89])
            .global("collections", "OrderedDict")
            .op(b")R")
            .op(b"tR")
    }
    /// `{name: tensor}` as a state dict, then STOP.
    pub fn state_dict(tensors: &[(&str, Pickle)]) -> Self {
        let mut p = Pickle::new().global("collections", "OrderedDict").op(b")Rq\x00(");
        for (name, t) in tensors {
            p = p.str(name);
            p.0.extend_from_slice(&t.0);
        }
        p.op(b"u.")
    }
}

/// Write `pickle` as `archive/data.pkl` with `storages` (key, bytes) beside it, stored uncompressed.
pub fn write_pth(path: &Path, pickle: &[u8], storages: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(pickle).unwrap();
    for (key, bytes) in storages {
        zip.start_file(format!("archive/data/{key}"), stored).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.start_file("archive/version", stored).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap();
}

/// Little-endian f32 bytes.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
