//! Parquet reading and writing of the tables declared in [`crate::schema`].
//!
//! Writers build Arrow arrays from the row types and write one Parquet file atomically. Readers accept
//! any Parquet file with the required columns (extra columns are ignored, optional ones may be
//! absent) and cast compatible types, so tables written by polars or pandas load too.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::schema::{
    cap, clip, emb, idx, query, wav, Caption, Clip, IndexClip, Query, QueryResultRow, Table, WaveformEntry,
};

/// Parquet key-value metadata key naming the table kind.
pub const TABLE_KEY: &str = "clap_tools.table";

fn utf8<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn utf8_list<'a>(values: impl Iterator<Item = Option<&'a [String]>>) -> ArrayRef {
    let mut b = ListBuilder::new(StringBuilder::new());
    for v in values {
        match v {
            Some(items) => {
                for s in items {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

/// Write `columns` (in the table's declared order) as a Parquet file, atomically.
pub fn write_columns(path: &Path, table: Table, columns: Vec<ArrayRef>) -> Result<()> {
    let batch = RecordBatch::try_new(table.arrow_schema(), columns)
        .map_err(|e| Error::file(path, format!("building the {} table: {e}", table.name())))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![KeyValue::new(TABLE_KEY.to_string(), table.name().to_string())]))
        .build();
    crate::atomic::write_file(path, |w| {
        let mut writer = ArrowWriter::try_new(w, batch.schema(), Some(props)).map_err(|e| Error::parquet(path, e))?;
        writer.write(&batch).map_err(|e| Error::parquet(path, e))?;
        writer.close().map_err(|e| Error::parquet(path, e))?;
        Ok(())
    })
}

pub fn write_captions(path: &Path, rows: &[Caption]) -> Result<()> {
    let s = |f: fn(&Caption) -> Option<&str>| utf8(rows.iter().map(f));
    let columns: Vec<ArrayRef> = vec![
        s(|r| Some(&r.audio_id)),
        s(|r| Some(&r.caption)),
        Arc::new(rows.iter().map(|r| r.caption_index).collect::<UInt32Array>()),
        s(|r| r.cap_id.as_deref()),
        s(|r| Some(&r.dataset)),
        s(|r| r.split.as_deref()),
        s(|r| r.file_name.as_deref()),
        s(|r| r.audio_path.as_deref()),
        Arc::new(rows.iter().map(|r| r.audiocap_id).collect::<Int64Array>()),
        s(|r| r.youtube_id.as_deref()),
        Arc::new(rows.iter().map(|r| r.start_time).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.annotator_id).collect::<Int64Array>()),
        utf8_list(rows.iter().map(|r| r.tags.as_deref())),
        utf8_list(rows.iter().map(|r| r.keywords.as_deref())),
        s(|r| r.sound_id.as_deref()),
        s(|r| r.sound_link.as_deref()),
        s(|r| r.start_end_samples.as_deref()),
        s(|r| r.manufacturer.as_deref()),
        s(|r| r.license.as_deref()),
        s(|r| r.tokens.as_deref()),
        s(|r| r.audio_extra.as_deref()),
        s(|r| r.caption_extra.as_deref()),
    ];
    write_columns(path, Table::Captions, columns)
}

pub fn write_clips(path: &Path, rows: &[Clip]) -> Result<()> {
    let columns: Vec<ArrayRef> = vec![
        utf8(rows.iter().map(|r| Some(r.audio_id.as_str()))),
        utf8(rows.iter().map(|r| Some(r.file_name.as_str()))),
        utf8(rows.iter().map(|r| r.format.as_deref())),
        Arc::new(rows.iter().map(|r| r.sample_rate).collect::<UInt32Array>()),
        Arc::new(rows.iter().map(|r| r.channels).collect::<UInt16Array>()),
        Arc::new(rows.iter().map(|r| r.frames).collect::<UInt64Array>()),
        Arc::new(rows.iter().map(|r| r.duration).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.bytes).collect::<UInt64Array>()),
        utf8(rows.iter().map(|r| r.probe_error.as_deref())),
    ];
    write_columns(path, Table::Clips, columns)
}

/// Embeddings, one row each: `data` is [rows, dim] row-major.
#[derive(Debug, Clone, Default)]
pub struct EmbeddingRows {
    pub audio_ids: Vec<String>,
    /// 1-based caption numbers (text embeddings); `None` for audio embeddings.
    pub caption_index: Vec<Option<u32>>,
    pub captions: Vec<Option<String>>,
    pub data: Vec<f32>,
    pub dim: usize,
}

pub fn write_embeddings(path: &Path, rows: &EmbeddingRows) -> Result<()> {
    let n = rows.audio_ids.len();
    if rows.data.len() != n * rows.dim || rows.caption_index.len() != n || rows.captions.len() != n {
        return Err(Error::file(path, "embedding rows and data disagree in length"));
    }
    let item = Arc::new(arrow_schema::Field::new("item", DataType::Float32, false));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(rows.dim, n));
    let values = Arc::new(arrow_array::Float32Array::from(rows.data.clone()));
    let list = arrow_array::ListArray::try_new(item, offsets, values, None)
        .map_err(|e| Error::file(path, format!("building the embeddings table: {e}")))?;
    let columns: Vec<ArrayRef> = vec![
        utf8(rows.audio_ids.iter().map(|s| Some(s.as_str()))),
        Arc::new(rows.caption_index.iter().copied().collect::<UInt32Array>()),
        utf8(rows.captions.iter().map(|s| s.as_deref())),
        Arc::new((0..n as u64).collect::<UInt64Array>()),
        Arc::new(list),
    ];
    write_columns(path, Table::Embeddings, columns)
}

pub fn write_queries(path: &Path, rows: &[Query]) -> Result<()> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.query_index).collect::<UInt32Array>()),
        utf8(rows.iter().map(|r| Some(r.query.as_str()))),
        utf8(rows.iter().map(|r| Some(r.dataset.as_str()))),
        utf8_list(rows.iter().map(|r| r.relevant.as_deref())),
    ];
    write_columns(path, Table::Queries, columns)
}

pub fn write_query_results(path: &Path, rows: &[QueryResultRow]) -> Result<()> {
    let mut ranks = ListBuilder::new(arrow_array::builder::Float64Builder::new())
        .with_field(Arc::new(arrow_schema::Field::new("item", DataType::Float64, false)));
    for r in rows {
        ranks.values().append_slice(&r.ranks);
        ranks.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.query_index).collect::<UInt32Array>()),
        utf8(rows.iter().map(|r| Some(r.query.as_str()))),
        utf8_list(rows.iter().map(|r| Some(r.relevant.as_slice()))),
        Arc::new(ranks.finish()),
        Arc::new(rows.iter().map(|r| r.ap10).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.ap16).collect::<Float64Array>()),
    ];
    write_columns(path, Table::QueryResults, columns)
}

/// Write a waveform index table. HDF5 files below the table's folder are named relative to it
/// ([`crate::paths`]), so a packed folder can be moved as a whole; others keep absolute paths.
pub fn write_waveforms(path: &Path, rows: &[WaveformEntry]) -> Result<()> {
    let hdf5: Vec<String> = rows
        .iter()
        .map(|r| crate::paths::relative_to(path, Path::new(&r.hdf5_path)).to_string_lossy().into_owned())
        .collect();
    let columns: Vec<ArrayRef> = vec![
        utf8(rows.iter().map(|r| Some(r.audio_id.as_str()))),
        utf8(hdf5.iter().map(|p| Some(p.as_str()))),
        Arc::new(rows.iter().map(|r| r.samples).collect::<UInt64Array>()),
        Arc::new(rows.iter().map(|r| r.sample_rate).collect::<UInt32Array>()),
        utf8(rows.iter().map(|r| r.source_file.as_deref())),
        Arc::new(rows.iter().map(|r| r.duration).collect::<Float64Array>()),
    ];
    write_columns(path, Table::Waveforms, columns)
}

pub fn write_index_clips(path: &Path, rows: &[IndexClip]) -> Result<()> {
    let columns: Vec<ArrayRef> = vec![
        utf8(rows.iter().map(|r| Some(r.audio_id.as_str()))),
        utf8(rows.iter().map(|r| r.source_file.as_deref())),
        utf8(rows.iter().map(|r| r.hdf5_path.as_deref())),
        Arc::new(rows.iter().map(|r| r.duration).collect::<Float64Array>()),
        utf8(rows.iter().map(|r| r.dataset.as_deref())),
        utf8(rows.iter().map(|r| r.split.as_deref())),
        utf8_list(rows.iter().map(|r| r.captions.as_deref())),
    ];
    write_columns(path, Table::IndexClips, columns)
}

pub fn read_index_clips(path: &Path) -> Result<Vec<IndexClip>> {
    let mut rows = Vec::new();
    for batch in read_batches(path)? {
        let c = Columns { batch: &batch, path, table: Table::IndexClips };
        let audio_id = c.strings(idx::AUDIO_ID)?.expect("required");
        let source_file = c.strings(idx::SOURCE_FILE)?;
        let hdf5_path = c.strings(idx::HDF5_PATH)?;
        let duration = c.prim::<Float64Type>(idx::DURATION)?;
        let dataset = c.strings(idx::DATASET)?;
        let split = c.strings(idx::SPLIT)?;
        let captions = c.string_lists(idx::CAPTIONS)?;
        for i in 0..batch.num_rows() {
            rows.push(IndexClip {
                audio_id: audio_id.value(i).to_string(),
                source_file: opt_str(&source_file, i),
                hdf5_path: opt_str(&hdf5_path, i),
                duration: opt_prim(&duration, i),
                dataset: opt_str(&dataset, i),
                split: opt_str(&split, i),
                captions: opt_list(&captions, i),
            });
        }
    }
    Ok(rows)
}

/// The rows of an embeddings table (`embed`'s OUT.parquet) without the embedding column: (audio_id,
/// caption, row of the .npy) each. The `.npy` beside it holds the values.
pub fn read_embedding_ids(path: &Path) -> Result<Vec<(String, Option<String>, u64)>> {
    let mut rows = Vec::new();
    for batch in read_batches(path)? {
        let c = Columns { batch: &batch, path, table: Table::Embeddings };
        let audio_id = c.strings(emb::AUDIO_ID)?.expect("required");
        let caption = c.strings(emb::CAPTION)?;
        let row = c.prim::<UInt64Type>(emb::ROW)?.expect("required");
        for i in 0..batch.num_rows() {
            rows.push((audio_id.value(i).to_string(), opt_str(&caption, i), row.value(i)));
        }
    }
    Ok(rows)
}

/// Read all record batches of a Parquet file.
pub fn read_batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::parquet(path, e))?
        .build()
        .map_err(|e| Error::parquet(path, e))?;
    reader.map(|b| b.map_err(|e| Error::file(path, format!("reading Parquet: {e}")))).collect()
}

/// Column names of a Parquet file, without reading its data.
pub fn column_names(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))?;
    Ok(builder.schema().fields().iter().map(|f| f.name().clone()).collect())
}

/// Typed access to the columns of one batch, with errors that name the file and column.
struct Columns<'a> {
    batch: &'a RecordBatch,
    path: &'a Path,
    table: Table,
}

impl<'a> Columns<'a> {
    fn get(&self, name: &str, ty: &DataType) -> Result<Option<ArrayRef>> {
        let Some(array) = self.batch.column_by_name(name) else {
            let required = self.table.column(name).is_some_and(|c| !c.nullable);
            if required {
                let schema = self.batch.schema();
                let found: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(Error::MissingColumn {
                    path: self.path.to_path_buf(),
                    column: name.to_string(),
                    found: found.join(", "),
                });
            }
            return Ok(None);
        };
        let array = if array.data_type() == ty {
            array.clone()
        } else {
            arrow_cast::cast(array, ty).map_err(|e| {
                Error::file(
                    self.path,
                    format!("column {name:?} has type {} where {ty} is expected: {e}", array.data_type()),
                )
            })?
        };
        Ok(Some(array))
    }

    fn required_non_null(&self, name: &str, array: &Option<ArrayRef>) -> Result<()> {
        if let Some(a) = array {
            if a.null_count() > 0 {
                let row = (0..a.len()).find(|&i| a.is_null(i)).unwrap_or(0);
                return Err(Error::file(self.path, format!("column {name:?} has a null value (row {row})")));
            }
        }
        Ok(())
    }

    fn strings(&self, name: &str) -> Result<Option<StringArray>> {
        let a = self.get(name, &DataType::Utf8)?;
        if self.table.column(name).is_some_and(|c| !c.nullable) {
            self.required_non_null(name, &a)?;
        }
        Ok(a.map(|a| a.as_string::<i32>().clone()))
    }

    fn string_lists(&self, name: &str) -> Result<Option<ArrayRef>> {
        self.get(name, &crate::schema::Kind::Utf8List.data_type())
    }

    fn prim<T: arrow_array::ArrowPrimitiveType>(&self, name: &str) -> Result<Option<arrow_array::PrimitiveArray<T>>> {
        let a = self.get(name, &T::DATA_TYPE)?;
        if self.table.column(name).is_some_and(|c| !c.nullable) {
            self.required_non_null(name, &a)?;
        }
        Ok(a.map(|a| a.as_primitive::<T>().clone()))
    }
}

fn opt_str(a: &Option<StringArray>, i: usize) -> Option<String> {
    a.as_ref().and_then(|a| (!a.is_null(i)).then(|| a.value(i).to_string()))
}

fn opt_prim<T: arrow_array::ArrowPrimitiveType>(
    a: &Option<arrow_array::PrimitiveArray<T>>,
    i: usize,
) -> Option<T::Native> {
    a.as_ref().and_then(|a| (!a.is_null(i)).then(|| a.value(i)))
}

fn opt_list(a: &Option<ArrayRef>, i: usize) -> Option<Vec<String>> {
    let a = a.as_ref()?;
    if a.is_null(i) {
        return None;
    }
    let list = a.as_list::<i32>();
    let items = list.value(i);
    let items = items.as_string::<i32>();
    Some((0..items.len()).filter(|&j| !items.is_null(j)).map(|j| items.value(j).to_string()).collect())
}

pub fn read_captions(path: &Path) -> Result<Vec<Caption>> {
    let mut rows = Vec::new();
    for batch in read_batches(path)? {
        let c = Columns { batch: &batch, path, table: Table::Captions };
        let audio_id = c.strings(cap::AUDIO_ID)?.expect("required");
        let caption = c.strings(cap::CAPTION)?.expect("required");
        let caption_index = c.prim::<UInt32Type>(cap::CAPTION_INDEX)?.expect("required");
        let cap_id = c.strings(cap::CAP_ID)?;
        let dataset = c.strings(cap::DATASET)?.expect("required");
        let split = c.strings(cap::SPLIT)?;
        let file_name = c.strings(cap::FILE_NAME)?;
        let audio_path = c.strings(cap::AUDIO_PATH)?;
        let audiocap_id = c.prim::<Int64Type>(cap::AUDIOCAP_ID)?;
        let youtube_id = c.strings(cap::YOUTUBE_ID)?;
        let start_time = c.prim::<Int64Type>(cap::START_TIME)?;
        let annotator_id = c.prim::<Int64Type>(cap::ANNOTATOR_ID)?;
        let tags = c.string_lists(cap::TAGS)?;
        let keywords = c.string_lists(cap::KEYWORDS)?;
        let sound_id = c.strings(cap::SOUND_ID)?;
        let sound_link = c.strings(cap::SOUND_LINK)?;
        let start_end_samples = c.strings(cap::START_END_SAMPLES)?;
        let manufacturer = c.strings(cap::MANUFACTURER)?;
        let license = c.strings(cap::LICENSE)?;
        let tokens = c.strings(cap::TOKENS)?;
        let audio_extra = c.strings(cap::AUDIO_EXTRA)?;
        let caption_extra = c.strings(cap::CAPTION_EXTRA)?;
        for i in 0..batch.num_rows() {
            rows.push(Caption {
                audio_id: audio_id.value(i).to_string(),
                caption: caption.value(i).to_string(),
                caption_index: caption_index.value(i),
                cap_id: opt_str(&cap_id, i),
                dataset: dataset.value(i).to_string(),
                split: opt_str(&split, i),
                file_name: opt_str(&file_name, i),
                audio_path: opt_str(&audio_path, i),
                audiocap_id: opt_prim(&audiocap_id, i),
                youtube_id: opt_str(&youtube_id, i),
                start_time: opt_prim(&start_time, i),
                annotator_id: opt_prim(&annotator_id, i),
                tags: opt_list(&tags, i),
                keywords: opt_list(&keywords, i),
                sound_id: opt_str(&sound_id, i),
                sound_link: opt_str(&sound_link, i),
                start_end_samples: opt_str(&start_end_samples, i),
                manufacturer: opt_str(&manufacturer, i),
                license: opt_str(&license, i),
                tokens: opt_str(&tokens, i),
                audio_extra: opt_str(&audio_extra, i),
                caption_extra: opt_str(&caption_extra, i),
            });
        }
    }
    Ok(rows)
}

pub fn read_queries(path: &Path) -> Result<Vec<Query>> {
    let mut rows = Vec::new();
    for batch in read_batches(path)? {
        let c = Columns { batch: &batch, path, table: Table::Queries };
        let query_index = c.prim::<UInt32Type>(query::QUERY_INDEX)?.expect("required");
        let text = c.strings(query::QUERY)?.expect("required");
        let dataset = c.strings(query::DATASET)?.expect("required");
        let relevant = c.string_lists(query::RELEVANT)?;
        for i in 0..batch.num_rows() {
            rows.push(Query {
                query_index: query_index.value(i),
                query: text.value(i).to_string(),
                dataset: dataset.value(i).to_string(),
                relevant: opt_list(&relevant, i),
            });
        }
    }
    Ok(rows)
}

pub fn read_clips(path: &Path) -> Result<Vec<Clip>> {
    let mut rows = Vec::new();
    for batch in read_batches(path)? {
        let c = Columns { batch: &batch, path, table: Table::Clips };
        let audio_id = c.strings(clip::AUDIO_ID)?.expect("required");
        let file_name = c.strings(clip::FILE_NAME)?.expect("required");
        let format = c.strings(clip::FORMAT)?;
        let sample_rate = c.prim::<UInt32Type>(clip::SAMPLE_RATE)?;
        let channels = c.prim::<UInt16Type>(clip::CHANNELS)?;
        let frames = c.prim::<UInt64Type>(clip::FRAMES)?;
        let duration = c.prim::<Float64Type>(clip::DURATION)?;
        let bytes = c.prim::<UInt64Type>(clip::BYTES)?;
        let probe_error = c.strings(clip::PROBE_ERROR)?;
        for i in 0..batch.num_rows() {
            rows.push(Clip {
                audio_id: audio_id.value(i).to_string(),
                file_name: file_name.value(i).to_string(),
                format: opt_str(&format, i),
                sample_rate: opt_prim(&sample_rate, i),
                channels: opt_prim(&channels, i),
                frames: opt_prim(&frames, i),
                duration: opt_prim(&duration, i),
                bytes: opt_prim(&bytes, i).unwrap_or(0),
                probe_error: opt_str(&probe_error, i),
            });
        }
    }
    Ok(rows)
}

/// Read a waveform index table; `hdf5_path` comes back absolute (relative ones are taken from the
/// table's folder).
pub fn read_waveforms(path: &Path) -> Result<Vec<WaveformEntry>> {
    let mut rows = Vec::new();
    for batch in read_batches(path)? {
        let c = Columns { batch: &batch, path, table: Table::Waveforms };
        let audio_id = c.strings(wav::AUDIO_ID)?.expect("required");
        let hdf5_path = c.strings(wav::HDF5_PATH)?.expect("required");
        let samples = c.prim::<UInt64Type>(wav::SAMPLES)?.expect("required");
        let sample_rate = c.prim::<UInt32Type>(wav::SAMPLE_RATE)?.expect("required");
        let source_file = c.strings(wav::SOURCE_FILE)?;
        let duration = c.prim::<Float64Type>(wav::DURATION)?.expect("required");
        for i in 0..batch.num_rows() {
            rows.push(WaveformEntry {
                audio_id: audio_id.value(i).to_string(),
                hdf5_path: crate::paths::resolve(path, Path::new(hdf5_path.value(i))).to_string_lossy().into_owned(),
                samples: samples.value(i),
                sample_rate: sample_rate.value(i),
                source_file: opt_str(&source_file, i),
                duration: duration.value(i),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Caption> {
        vec![
            Caption {
                audio_id: "a b, \"c\".wav".into(),
                caption: "A dog barks, then\na car passes.".into(),
                caption_index: 1,
                cap_id: Some("1".into()),
                dataset: "clotho".into(),
                split: Some("development".into()),
                keywords: Some(vec!["dog".into(), "car".into()]),
                ..Default::default()
            },
            Caption {
                audio_id: "Ÿéü.wav".into(),
                caption: "Birds".into(),
                caption_index: 2,
                dataset: "macs".into(),
                annotator_id: Some(7),
                tags: Some(vec![]),
                audiocap_id: Some(-1),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn captions_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.parquet");
        write_captions(&p, &sample()).unwrap();
        assert_eq!(read_captions(&p).unwrap(), sample());
    }

    #[test]
    fn missing_required_column_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("clips.parquet");
        write_clips(&p, &[Clip { audio_id: "x".into(), file_name: "/x".into(), ..Default::default() }]).unwrap();
        let err = read_captions(&p).unwrap_err().to_string();
        assert!(err.contains("missing column \"caption\""), "{err}");
        assert!(err.contains("clips.parquet"), "{err}");
    }
}
