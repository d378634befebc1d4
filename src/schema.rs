//! Every table clap-tools writes, declared once: column names, Arrow types and nullability.
//!
//! Readers and writers in the rest of the crate go through [`Table`] and the row types here
//! ([`Caption`], [`Clip`], [`WaveformEntry`]); no other module spells a column name.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    pub doc: &'static str,
}

/// The Arrow types clap-tools uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Utf8,
    UInt16,
    UInt32,
    UInt64,
    Int64,
    Float64,
    /// A list of UTF-8 strings (tags, keywords).
    Utf8List,
    /// A list of float32 (an embedding).
    Float32List,
    /// A list of float64 (ranks).
    Float64List,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Utf8 => DataType::Utf8,
            UInt16 => DataType::UInt16,
            UInt32 => DataType::UInt32,
            UInt64 => DataType::UInt64,
            Int64 => DataType::Int64,
            Float64 => DataType::Float64,
            Utf8List => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Float32List => DataType::List(Arc::new(Field::new("item", DataType::Float32, false))),
            Float64List => DataType::List(Arc::new(Field::new("item", DataType::Float64, false))),
        }
    }
}

const fn col(name: &'static str, kind: Kind, nullable: bool, doc: &'static str) -> Column {
    Column { name, kind, nullable, doc }
}

/// The kinds of table clap-tools reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// One row per caption.
    Captions,
    /// One row per audio file (from `scan`).
    Clips,
    /// One row per packed waveform (from `pack`).
    Waveforms,
    /// One row per embedding (from `embed`): a clip's, or a caption's.
    Embeddings,
    /// One row per retrieval query (from `import clotho-retrieval`), with its relevant clips.
    Queries,
    /// One row per query of an evaluation (`eval --per-query`): where its relevant clips ranked.
    QueryResults,
    /// One row per clip of a search index (`index build`), in the order of its embeddings.
    IndexClips,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Captions => "captions",
            Table::Clips => "clips",
            Table::Waveforms => "waveforms",
            Table::Embeddings => "embeddings",
            Table::Queries => "queries",
            Table::QueryResults => "query results",
            Table::IndexClips => "index clips",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Table::Captions => CAPTIONS,
            Table::Clips => CLIPS,
            Table::Waveforms => WAVEFORMS,
            Table::Embeddings => EMBEDDINGS,
            Table::Queries => QUERIES,
            Table::QueryResults => QUERY_RESULTS,
            Table::IndexClips => INDEX_CLIPS,
        }
    }

    pub fn arrow_schema(self) -> SchemaRef {
        let fields: Vec<Field> =
            self.columns().iter().map(|c| Field::new(c.name, c.kind.data_type(), c.nullable)).collect();
        Arc::new(Schema::new(fields))
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// Guess a table's kind from its column names (used by `inspect` and `concat`).
    pub fn detect<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Table> {
        let names: Vec<&str> = names.into_iter().collect();
        let has = |n: &str| names.contains(&n);
        if has(emb::EMBEDDING) && has(emb::AUDIO_ID) {
            Some(Table::Embeddings)
        } else if has(idx::CAPTIONS) && has(idx::SOURCE_FILE) && has(idx::AUDIO_ID) {
            Some(Table::IndexClips)
        } else if has(res::AP10) && has(res::QUERY) {
            Some(Table::QueryResults)
        } else if has(query::QUERY) && has(query::QUERY_INDEX) {
            Some(Table::Queries)
        } else if has(cap::CAPTION) && has(cap::AUDIO_ID) {
            Some(Table::Captions)
        } else if has(wav::HDF5_PATH) && has(wav::AUDIO_ID) {
            Some(Table::Waveforms)
        } else if has(clip::FILE_NAME) && has(clip::AUDIO_ID) {
            Some(Table::Clips)
        } else {
            None
        }
    }
}

/// Column names of the captions table.
pub mod cap {
    pub const AUDIO_ID: &str = "audio_id";
    pub const CAPTION: &str = "caption";
    pub const CAPTION_INDEX: &str = "caption_index";
    pub const CAP_ID: &str = "cap_id";
    pub const DATASET: &str = "dataset";
    pub const SPLIT: &str = "split";
    pub const FILE_NAME: &str = "file_name";
    pub const AUDIO_PATH: &str = "audio_path";
    pub const AUDIOCAP_ID: &str = "audiocap_id";
    pub const YOUTUBE_ID: &str = "youtube_id";
    pub const START_TIME: &str = "start_time";
    pub const ANNOTATOR_ID: &str = "annotator_id";
    pub const TAGS: &str = "tags";
    pub const KEYWORDS: &str = "keywords";
    pub const SOUND_ID: &str = "sound_id";
    pub const SOUND_LINK: &str = "sound_link";
    pub const START_END_SAMPLES: &str = "start_end_samples";
    pub const MANUFACTURER: &str = "manufacturer";
    pub const LICENSE: &str = "license";
    pub const TOKENS: &str = "tokens";
    pub const AUDIO_EXTRA: &str = "audio_extra";
    pub const CAPTION_EXTRA: &str = "caption_extra";
}

/// Column names of the clips table.
pub mod clip {
    pub const AUDIO_ID: &str = "audio_id";
    pub const FILE_NAME: &str = "file_name";
    pub const FORMAT: &str = "format";
    pub const SAMPLE_RATE: &str = "sample_rate";
    pub const CHANNELS: &str = "channels";
    pub const FRAMES: &str = "frames";
    pub const DURATION: &str = "duration";
    pub const BYTES: &str = "bytes";
    pub const PROBE_ERROR: &str = "probe_error";
}

/// Column names of the waveform index.
pub mod wav {
    pub const AUDIO_ID: &str = "audio_id";
    pub const HDF5_PATH: &str = "hdf5_path";
    pub const SAMPLES: &str = "samples";
    pub const SAMPLE_RATE: &str = "sample_rate";
    pub const SOURCE_FILE: &str = "source_file";
    pub const DURATION: &str = "duration";
}

/// Column names of the embeddings table.
pub mod emb {
    pub const AUDIO_ID: &str = "audio_id";
    pub const CAPTION_INDEX: &str = "caption_index";
    pub const CAPTION: &str = "caption";
    pub const ROW: &str = "row";
    pub const EMBEDDING: &str = "embedding";
}

/// Column names of the queries table.
pub mod query {
    pub const QUERY_INDEX: &str = "query_index";
    pub const QUERY: &str = "query";
    pub const DATASET: &str = "dataset";
    pub const RELEVANT: &str = "relevant";
}

/// Column names of the per-query results of an evaluation.
pub mod res {
    pub const QUERY_INDEX: &str = "query_index";
    pub const QUERY: &str = "query";
    pub const RELEVANT: &str = "relevant";
    pub const RANKS: &str = "ranks";
    pub const AP10: &str = "ap10";
    pub const AP16: &str = "ap16";
}

/// Column names of a search index's clips table.
pub mod idx {
    pub const AUDIO_ID: &str = "audio_id";
    pub const SOURCE_FILE: &str = "source_file";
    pub const HDF5_PATH: &str = "hdf5_path";
    pub const DURATION: &str = "duration";
    pub const DATASET: &str = "dataset";
    pub const SPLIT: &str = "split";
    pub const CAPTIONS: &str = "captions";
}

/// Column names of the failures table that `pack` writes beside its output (tab-separated).
pub mod fail {
    pub const AUDIO_ID: &str = "audio_id";
    pub const FILE: &str = "file";
    pub const REASON: &str = "reason";
}

use Kind::*;

static CAPTIONS: &[Column] = &[
    col(cap::AUDIO_ID, Utf8, false, "clip id; joins with the clips table and the waveform index"),
    col(cap::CAPTION, Utf8, false, "the caption text, as the source wrote it"),
    col(cap::CAPTION_INDEX, UInt32, false, "1-based position of the caption among its clip's captions"),
    col(cap::CAP_ID, Utf8, true, "the reference caption JSON's cap_id"),
    col(cap::DATASET, Utf8, false, "source dataset: clotho, audiocaps, macs, or a name given at import"),
    col(cap::SPLIT, Utf8, true, "the source's split (development, validation, evaluation, train, val, test)"),
    col(cap::FILE_NAME, Utf8, true, "audio file name as the source lists it"),
    col(cap::AUDIO_PATH, Utf8, true, "absolute path of the audio file, when joined to an audio folder"),
    col(cap::AUDIOCAP_ID, Int64, true, "AudioCaps audiocap_id"),
    col(cap::YOUTUBE_ID, Utf8, true, "AudioCaps youtube_id"),
    col(cap::START_TIME, Int64, true, "AudioCaps start_time (seconds into the YouTube video)"),
    col(cap::ANNOTATOR_ID, Int64, true, "MACS annotator_id"),
    col(cap::TAGS, Utf8List, true, "MACS tags of this annotation"),
    col(cap::KEYWORDS, Utf8List, true, "Clotho keywords (metadata CSV)"),
    col(cap::SOUND_ID, Utf8, true, "Clotho Freesound sound_id (metadata CSV)"),
    col(cap::SOUND_LINK, Utf8, true, "Clotho sound_link (metadata CSV)"),
    col(cap::START_END_SAMPLES, Utf8, true, "Clotho start_end_samples (metadata CSV)"),
    col(cap::MANUFACTURER, Utf8, true, "Clotho manufacturer (metadata CSV)"),
    col(cap::LICENSE, Utf8, true, "Clotho license (metadata CSV)"),
    col(cap::TOKENS, Utf8, true, "the reference caption JSON's tokens"),
    col(cap::AUDIO_EXTRA, Utf8, true, "JSON object of clip-level keys of a caption JSON that have no column"),
    col(cap::CAPTION_EXTRA, Utf8, true, "JSON object of caption-level keys of a caption JSON that have no column"),
];

static CLIPS: &[Column] = &[
    col(clip::AUDIO_ID, Utf8, false, "clip id (the file name, as the reference's wav.csv)"),
    col(clip::FILE_NAME, Utf8, false, "absolute path of the audio file"),
    col(clip::FORMAT, Utf8, true, "container format, from the file extension"),
    col(clip::SAMPLE_RATE, UInt32, true, "sample rate in Hz, from the header"),
    col(clip::CHANNELS, UInt16, true, "number of channels, from the header"),
    col(clip::FRAMES, UInt64, true, "samples per channel, from the header when it says"),
    col(clip::DURATION, Float64, true, "duration in seconds (frames / sample_rate)"),
    col(clip::BYTES, UInt64, false, "file size in bytes"),
    col(clip::PROBE_ERROR, Utf8, true, "why the header could not be read; null when it could"),
];

static WAVEFORMS: &[Column] = &[
    col(wav::AUDIO_ID, Utf8, false, "clip id; the dataset name inside the HDF5 file (escaped, see shards)"),
    col(wav::HDF5_PATH, Utf8, false, "absolute path of the HDF5 shard holding the waveform"),
    col(wav::SAMPLES, UInt64, false, "number of samples of the mono waveform"),
    col(wav::SAMPLE_RATE, UInt32, false, "sample rate in Hz"),
    col(wav::SOURCE_FILE, Utf8, true, "the audio file it was decoded from"),
    col(wav::DURATION, Float64, false, "duration in seconds"),
];

static EMBEDDINGS: &[Column] = &[
    col(emb::AUDIO_ID, Utf8, false, "the clip embedded, or the clip the caption describes"),
    col(emb::CAPTION_INDEX, UInt32, true, "1-based caption number of a text embedding; null for audio"),
    col(emb::CAPTION, Utf8, true, "the caption of a text embedding; null for audio"),
    col(emb::ROW, UInt64, false, "row of this embedding in the .npy written beside the table"),
    col(emb::EMBEDDING, Float32List, false, "the L2-normalised embedding"),
];

static QUERIES: &[Column] = &[
    col(query::QUERY_INDEX, UInt32, false, "1-based position of the query in its source file"),
    col(query::QUERY, Utf8, false, "the query text, as the source wrote it"),
    col(query::DATASET, Utf8, false, "source dataset (clotho)"),
    col(query::RELEVANT, Utf8List, true, "audio_ids of the clips judged relevant; null where not judged"),
];

static QUERY_RESULTS: &[Column] = &[
    col(res::QUERY_INDEX, UInt32, false, "1-based position of the query in the evaluation"),
    col(res::QUERY, Utf8, false, "the query text"),
    col(res::RELEVANT, Utf8List, false, "audio_ids of its relevant clips"),
    col(res::RANKS, Float64List, false, "0-based rank of each relevant clip (same order; ties averaged)"),
    col(res::AP10, Float64, false, "average precision at 10 (fraction)"),
    col(res::AP16, Float64, false, "average precision at 16 (fraction)"),
];

static INDEX_CLIPS: &[Column] = &[
    col(idx::AUDIO_ID, Utf8, false, "clip id, unique in the index; row i is embedding row i"),
    col(idx::SOURCE_FILE, Utf8, true, "absolute path of the audio file embedded (or packed from)"),
    col(idx::HDF5_PATH, Utf8, true, "absolute path of the HDF5 shard the clip was read from, when packed"),
    col(idx::DURATION, Float64, true, "duration in seconds"),
    col(idx::DATASET, Utf8, true, "source dataset, when a captions table named it"),
    col(idx::SPLIT, Utf8, true, "the source's split, when a captions table named it"),
    col(idx::CAPTIONS, Utf8List, true, "the clip's captions, when a captions table gave them"),
];

/// One clip of a search index: a row of the index clips table.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct IndexClip {
    pub audio_id: String,
    pub source_file: Option<String>,
    pub hdf5_path: Option<String>,
    pub duration: Option<f64>,
    pub dataset: Option<String>,
    pub split: Option<String>,
    pub captions: Option<Vec<String>>,
}

/// One retrieval query: a row of the queries table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub query_index: u32,
    pub query: String,
    pub dataset: String,
    pub relevant: Option<Vec<String>>,
}

/// One query's evaluation: a row of the query results table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResultRow {
    pub query_index: u32,
    pub query: String,
    pub relevant: Vec<String>,
    pub ranks: Vec<f64>,
    pub ap10: f64,
    pub ap16: f64,
}

/// One caption: a row of the captions table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caption {
    pub audio_id: String,
    pub caption: String,
    pub caption_index: u32,
    pub cap_id: Option<String>,
    pub dataset: String,
    pub split: Option<String>,
    pub file_name: Option<String>,
    pub audio_path: Option<String>,
    pub audiocap_id: Option<i64>,
    pub youtube_id: Option<String>,
    pub start_time: Option<i64>,
    pub annotator_id: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub keywords: Option<Vec<String>>,
    pub sound_id: Option<String>,
    pub sound_link: Option<String>,
    pub start_end_samples: Option<String>,
    pub manufacturer: Option<String>,
    pub license: Option<String>,
    pub tokens: Option<String>,
    pub audio_extra: Option<String>,
    pub caption_extra: Option<String>,
}

/// One audio file: a row of the clips table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clip {
    pub audio_id: String,
    pub file_name: String,
    pub format: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub frames: Option<u64>,
    pub duration: Option<f64>,
    pub bytes: u64,
    pub probe_error: Option<String>,
}

/// One packed waveform: a row of the waveform index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaveformEntry {
    pub audio_id: String,
    pub hdf5_path: String,
    pub samples: u64,
    pub sample_rate: u32,
    pub source_file: Option<String>,
    pub duration: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_per_table() {
        for t in [Table::Captions, Table::Clips, Table::Waveforms, Table::Queries, Table::QueryResults] {
            let mut names: Vec<_> = t.columns().iter().map(|c| c.name).collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "duplicate column in {}", t.name());
        }
    }

    #[test]
    fn detect_tells_tables_apart() {
        let names = |t: Table| t.columns().iter().map(|c| c.name).collect::<Vec<_>>();
        for t in [Table::Captions, Table::Clips, Table::Waveforms, Table::Queries, Table::QueryResults] {
            assert_eq!(Table::detect(names(t)), Some(t));
        }
        assert_eq!(Table::detect(["audio_id", "something"]), None);
    }
}
