//! TensorBoard event files: scalar summaries, one `events.out.tfevents.*` file per training session
//! in the run folder, readable by TensorBoard and by its Python `EventAccumulator`.
//!
//! No well-kept Rust crate writes them (the ones on crates.io are unmaintained and pin old protobuf
//! runtimes), so this is a small writer over well-kept parts: the messages encoded with `prost`, the
//! records framed as TFRecord (length, masked CRC32C of the length, data, masked CRC32C of the data)
//! with `crc32c`. Messages, from tensorflow/core/util/event.proto and
//! tensorflow/core/framework/summary.proto (only the fields used here):
//! <https://github.com/tensorflow/tensorflow/blob/master/tensorflow/core/util/event.proto>

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// `Event`: a wall time, a step and one of its payloads.
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    /// The first event of a file: "brain.Event:2".
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    /// A session (re)start: readers drop the events of earlier files from this step on. Field 7
    /// (6 is the deprecated `log_message`, which readers take as a log line and ignore).
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    /// In a oneof upstream: always written, zero included.
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SessionLog {
    /// 1 = START.
    #[prost(int32, tag = "1")]
    status: i32,
}

/// Appends scalar summaries to one new event file.
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// A new event file in `dir`. `restart_at`: the first step a resumed run logs, recorded so readers
    /// drop what an earlier session logged from that step on (those steps are logged again).
    pub fn create(dir: &Path, restart_at: Option<u64>) -> Result<Self> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        // TensorBoard reads a run's files in name order, and a resumed session's restart mark only
        // drops what it reads before it: the new file's second must sort after every earlier
        // file's, even when the earlier session ended within the same second (pids do not sort).
        let latest = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("events.out.tfevents.")?.split('.').next()?.parse::<u64>().ok()
            })
            .max();
        let secs = match latest {
            Some(t) if t >= now => t + 1,
            _ => now,
        };
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty() && !h.contains('/'));
        let name =
            format!("events.out.tfevents.{secs}.{}.{}", host.as_deref().unwrap_or("clap-tools"), std::process::id());
        let path = dir.join(name);
        let file =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| Error::io(&path, e))?;
        let mut w = Self { path, out: BufWriter::new(file) };
        w.event(0, What::FileVersion("brain.Event:2".into()))?;
        if let Some(step) = restart_at {
            w.event(step, What::SessionLog(SessionLog { status: 1 }))?;
        }
        w.flush()?;
        Ok(w)
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Scalars at `step` (one event), flushed so a reader sees them at once.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        let value = values.iter().map(|(t, v)| Value { tag: t.to_string(), simple_value: Some(*v as f32) }).collect();
        self.event(step, What::Summary(Summary { value }))?;
        self.flush()
    }

    fn event(&mut self, step: u64, what: What) -> Result<()> {
        use prost::Message;
        let wall_time = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let data = Event { wall_time, step: step as i64, what: Some(what) }.encode_to_vec();
        let len = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&len);
        record.extend_from_slice(&masked_crc(&len).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.out.write_all(&record).map_err(|e| Error::io(&self.path, e))
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// TFRecord's masked CRC32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The validation scalars of `metrics`, tagged `val/<direction>_<metric>` and `val/mAP10`, `val/mAP16`.
pub fn validation_scalars(metrics: &crate::eval::Metrics) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (dir, m) in [("t2a", &metrics.t2a), ("a2t", &metrics.a2t)] {
        for (name, v) in [
            ("R1", m.r1),
            ("R5", m.r5),
            ("R10", m.r10),
            ("R50", m.r50),
            ("MedR", m.medr),
            ("MeanR", m.meanr),
            ("geometric_mean_R1-R5-R10", m.geometric_mean_r1_r5_r10),
        ] {
            out.push((format!("val/{dir}_{name}"), v));
        }
    }
    out.push(("val/mAP10".into(), metrics.map10));
    out.push(("val/mAP16".into(), metrics.map16));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_framed_as_tfrecord() {
        // The CRC32C of "123456789" is 0xe3069283 (the standard check value).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path(), Some(7)).unwrap();
        w.scalars(8, &[("train/loss", 1.5)]).unwrap();
        let bytes = std::fs::read(w.path()).unwrap();
        // Three records, each: u64 length, masked crc of it, data, masked crc of the data.
        let mut at = 0;
        let mut n = 0;
        while at < bytes.len() {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            assert_eq!(u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()), masked_crc(&bytes[at..at + 8]));
            let data = &bytes[at + 12..at + 12 + len];
            assert_eq!(u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap()), masked_crc(data));
            at += 16 + len;
            n += 1;
        }
        assert_eq!((at, n), (bytes.len(), 3));
    }

    #[test]
    fn a_later_session_sorts_after_the_earlier_ones_files() {
        let dir = tempfile::tempdir().unwrap();
        let ahead = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 100;
        // An earlier session's file from the same second (here: a clock ahead), with a larger pid.
        std::fs::write(dir.path().join(format!("events.out.tfevents.{ahead}.host.99999999")), b"").unwrap();
        let w = EventWriter::create(dir.path(), Some(3)).unwrap();
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("events.out.tfevents.{}.", ahead + 1)), "{name}");
        let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names.last().unwrap().to_string_lossy(), name);
    }
}
