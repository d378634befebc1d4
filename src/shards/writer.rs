//! Writing one HDF5 shard under a temporary name, renamed into place when it is closed.

use std::path::{Path, PathBuf};

use half::f16;

use crate::error::{Error, Result};

/// How samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleType {
    /// IEEE half precision, as the reference stores waveforms.
    #[default]
    F16,
    F32,
    /// 16-bit PCM (samples × 32767, clipped).
    I16,
}

impl SampleType {
    pub fn name(self) -> &'static str {
        match self {
            SampleType::F16 => "f16",
            SampleType::F32 => "f32",
            SampleType::I16 => "i16",
        }
    }

    /// Convert samples to this type (done by the decoding threads, so the writer only writes).
    pub fn encode(self, samples: Vec<f32>) -> Encoded {
        match self {
            // Slice conversion uses the CPU's F16C instructions where it has them.
            SampleType::F16 => Encoded::F16(half::vec::HalfFloatVecExt::from_f32_slice(&samples)),
            SampleType::F32 => Encoded::F32(samples),
            SampleType::I16 => {
                Encoded::I16(samples.iter().map(|&x| (x.clamp(-1.0, 1.0) * 32767.0).round() as i16).collect())
            }
        }
    }
}

/// Samples in their stored type.
#[derive(Debug, Clone)]
pub enum Encoded {
    F16(Vec<f16>),
    F32(Vec<f32>),
    I16(Vec<i16>),
}

impl Encoded {
    pub fn len(&self) -> usize {
        match self {
            Encoded::F16(v) => v.len(),
            Encoded::F32(v) => v.len(),
            Encoded::I16(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An HDF5 file being written. It exists under a hidden temporary name until [`ShardWriter::finish`];
/// dropping an unfinished writer removes it.
pub struct ShardWriter {
    file: Option<hdf5::File>,
    tmp: PathBuf,
    path: PathBuf,
}

fn h5err(path: &Path, what: &str, e: hdf5::Error) -> Error {
    Error::file(path, format!("HDF5 {what}: {e}"))
}

impl ShardWriter {
    /// Start writing `path` (through a temporary file beside it).
    pub fn create(path: &Path) -> Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.partial"));
        // HDF5 would follow a symlink at either name and truncate its target.
        crate::atomic::check_replaceable(path)?;
        crate::atomic::check_replaceable(&tmp)?;
        let file = hdf5::File::create(&tmp).map_err(|e| h5err(&tmp, "create", e))?;
        Ok(ShardWriter { file: Some(file), tmp, path: path.to_path_buf() })
    }

    /// Add one waveform as a root dataset named after `audio_id` (escaped, see [`super::dataset_name`]).
    pub fn add(&mut self, audio_id: &str, samples: &Encoded) -> Result<()> {
        let file = self.file.as_ref().expect("open until finish");
        let name = super::dataset_name(audio_id);
        if file.link_exists(&name) {
            return Err(Error::item(&self.path, audio_id, "already in this shard"));
        }
        let builder = file.new_dataset_builder();
        let r = match samples {
            Encoded::F16(v) => builder.with_data(&v[..]).create(name.as_str()),
            Encoded::F32(v) => builder.with_data(&v[..]).create(name.as_str()),
            Encoded::I16(v) => builder.with_data(&v[..]).create(name.as_str()),
        }
        .map(|_| ());
        r.map_err(|e| Error::item(&self.path, audio_id, format!("HDF5 write: {e}")))
    }

    /// Close the file, flush it to disk and rename it to its final name.
    pub fn finish(mut self) -> Result<PathBuf> {
        let file = self.file.take().expect("open until finish");
        file.flush().map_err(|e| h5err(&self.tmp, "flush", e))?;
        file.close().map_err(|e| h5err(&self.tmp, "close", e))?;
        std::fs::File::open(&self.tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(self.path.clone())
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            drop(file);
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_shard_or_its_temporary_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious.bin");
        std::fs::write(&target, "keep").unwrap();
        let shard = dir.path().join("1.h5");
        std::os::unix::fs::symlink(&target, dir.path().join(".1.h5.partial")).unwrap();
        let err = ShardWriter::create(&shard).err().expect("refused").to_string();
        assert!(err.contains(".1.h5.partial") && err.contains("symbolic link"), "{err}");
        std::os::unix::fs::symlink(&target, &shard).unwrap();
        let err = ShardWriter::create(&shard).err().expect("refused").to_string();
        assert!(err.contains("1.h5") && err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
