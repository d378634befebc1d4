//! Reading waveforms by audio_id, whole or cropped, from any shard of an index; also from HDF5 files
//! written by the reference's packer (any of f16/f32/f64/i16 datasets at the root).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use half::f16;
use hdf5::types::{FloatSize, IntSize, TypeDescriptor};

use crate::error::{Error, Result};
use crate::manifest::{extension, wav_csv::Tsv};

/// (audio_id, HDF5 file) pairs of a waveform index: the reference's `waveform.csv` (tab-separated
/// `audio_id`, `hdf5_path`) or clap-tools' `waveforms.parquet`. Relative paths are taken from the
/// index's folder.
pub fn read_index(path: &Path) -> Result<Vec<(String, PathBuf)>> {
    let pairs: Vec<(String, String)> = match extension(path).as_str() {
        "parquet" => crate::table::read_waveforms(path)?.into_iter().map(|w| (w.audio_id, w.hdf5_path)).collect(),
        _ => Tsv::read(path)?.pairs(path, "audio_id", "hdf5_path")?,
    };
    Ok(pairs.into_iter().map(|(id, p)| (id, crate::paths::resolve(path, Path::new(&p)))).collect())
}

/// The (audio_id, HDF5 file) pairs of an index whose clips must be packed at `sample_rate`: a
/// `waveforms.parquet` records each clip's rate and a clip at another rate is an error naming it (a
/// `waveform.csv` does not say). The index is read once.
pub fn read_index_at(path: &Path, sample_rate: u32) -> Result<Vec<(String, PathBuf)>> {
    if extension(path) != "parquet" {
        return read_index(path);
    }
    let rows = crate::table::read_waveforms(path)?;
    if let Some(w) = rows.iter().find(|w| w.sample_rate != sample_rate) {
        return Err(Error::item(
            path,
            &w.audio_id,
            format!("packed at {} Hz, but the model's front end runs at {sample_rate} Hz", w.sample_rate),
        ));
    }
    // read_waveforms has already taken relative hdf5 paths from the table's folder.
    Ok(rows.into_iter().map(|w| (w.audio_id, PathBuf::from(w.hdf5_path))).collect())
}

/// Random access to packed waveforms. Files are opened on first use and kept open.
pub struct WaveformReader {
    location: HashMap<String, PathBuf>,
    files: Mutex<HashMap<PathBuf, hdf5::File>>,
}

fn h5(path: &Path, audio_id: &str, e: hdf5::Error) -> Error {
    Error::item(path, audio_id, format!("HDF5: {e}"))
}

impl WaveformReader {
    /// A reader over the clips of a waveform index (`waveform.csv` or `waveforms.parquet`).
    pub fn from_index(index: &Path) -> Result<Self> {
        Ok(Self::from_pairs(read_index(index)?))
    }

    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, PathBuf)>) -> Self {
        WaveformReader { location: pairs.into_iter().collect(), files: Mutex::new(HashMap::new()) }
    }

    /// A reader over every root dataset of the given HDF5 files (names unescaped to audio_ids).
    pub fn from_files(paths: &[PathBuf]) -> Result<Self> {
        let mut pairs = Vec::new();
        for p in paths {
            let file = hdf5::File::open(p).map_err(|e| Error::file(p, format!("HDF5 open: {e}")))?;
            for name in file.member_names().map_err(|e| Error::file(p, format!("HDF5 list: {e}")))? {
                pairs.push((super::audio_id_of(&name), p.clone()));
            }
        }
        Ok(Self::from_pairs(pairs))
    }

    pub fn audio_ids(&self) -> impl Iterator<Item = &str> {
        self.location.keys().map(String::as_str)
    }

    pub fn contains(&self, audio_id: &str) -> bool {
        self.location.contains_key(audio_id)
    }

    fn with_dataset<T>(&self, audio_id: &str, f: impl FnOnce(&Path, hdf5::Dataset) -> Result<T>) -> Result<T> {
        let path = self.location.get(audio_id).ok_or_else(|| Error::Config {
            key: "audio_id".into(),
            msg: format!("{audio_id:?} is not in the waveform index"),
        })?;
        let ds = {
            let mut files = self.files.lock().expect("reader lock");
            if !files.contains_key(path) {
                let file = hdf5::File::open(path).map_err(|e| h5(path, audio_id, e))?;
                files.insert(path.clone(), file);
            }
            files[path].dataset(&super::dataset_name(audio_id)).map_err(|e| h5(path, audio_id, e))?
        };
        f(path, ds)
    }

    /// Number of samples of a clip.
    pub fn len(&self, audio_id: &str) -> Result<usize> {
        self.with_dataset(audio_id, |_, ds| Ok(ds.size()))
    }

    /// The whole waveform as f32.
    pub fn read(&self, audio_id: &str) -> Result<Vec<f32>> {
        self.with_dataset(audio_id, |path, ds| {
            let n = ds.size();
            read_range(path, audio_id, &ds, 0, n)
        })
    }

    /// `len` samples from `start` (clipped to the clip's end).
    pub fn read_crop(&self, audio_id: &str, start: usize, len: usize) -> Result<Vec<f32>> {
        self.with_dataset(audio_id, |path, ds| {
            let n = ds.size();
            let start = start.min(n);
            read_range(path, audio_id, &ds, start, (start + len).min(n))
        })
    }
}

fn read_range(path: &Path, audio_id: &str, ds: &hdf5::Dataset, start: usize, end: usize) -> Result<Vec<f32>> {
    if ds.ndim() != 1 {
        return Err(Error::item(path, audio_id, format!("dataset has shape {:?}, expected 1-D", ds.shape())));
    }
    let dtype = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| h5(path, audio_id, e))?;
    let e = |e| h5(path, audio_id, e);
    Ok(match dtype {
        TypeDescriptor::Float(FloatSize::U2) => {
            ds.read_slice_1d::<f16, _>(start..end).map_err(e)?.iter().map(|v| v.to_f32()).collect()
        }
        TypeDescriptor::Float(_) => ds.read_slice_1d::<f32, _>(start..end).map_err(e)?.to_vec(),
        TypeDescriptor::Integer(IntSize::U2) => {
            ds.read_slice_1d::<i16, _>(start..end).map_err(e)?.iter().map(|&v| v as f32 / 32768.0).collect()
        }
        other => return Err(Error::item(path, audio_id, format!("unsupported sample type {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::WaveformEntry;

    #[test]
    fn an_index_at_another_rate_is_named_and_paths_come_back_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("packed/waveforms.parquet");
        let entry = |id: &str, rate: u32| WaveformEntry {
            audio_id: id.into(),
            hdf5_path: dir.path().join("packed/hdf5/1.h5").to_string_lossy().into_owned(),
            samples: 10,
            sample_rate: rate,
            source_file: None,
            duration: 0.1,
        };
        crate::table::write_waveforms(&index, &[entry("a.wav", 32000), entry("b.wav", 32000)]).unwrap();
        let pairs = read_index_at(&index, 32000).unwrap();
        assert_eq!(pairs, read_index(&index).unwrap());
        assert_eq!(pairs[1], ("b.wav".to_string(), dir.path().join("packed/hdf5/1.h5")));
        crate::table::write_waveforms(&index, &[entry("a.wav", 32000), entry("b.wav", 16000)]).unwrap();
        let err = read_index_at(&index, 32000).unwrap_err().to_string();
        assert!(err.contains("waveforms.parquet") && err.contains("b.wav") && err.contains("16000 Hz"), "{err}");
    }
}
