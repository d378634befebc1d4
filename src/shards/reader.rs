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
