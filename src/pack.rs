//! Packing audio into HDF5 shards: decode, downmix and resample in parallel, one writer per shard,
//! every shard written under a temporary name and renamed when closed, resumable after a crash.
//!
//! # Layout of OUT
//! ```text
//! OUT/hdf5/{k}.h5            shard k (1-based), one float16 dataset per clip at the root
//! OUT/parts/{k}.parquet      the index rows of shard k; written last, so it marks the shard complete
//! OUT/parts/{k}.failures.csv the clips of shard k that could not be packed
//! OUT/pack.json              the options and input the shards were made with (checked on resume)
//! OUT/waveform.csv           the reference's index: audio_id, absolute hdf5_path (tab-separated)
//! OUT/waveforms.parquet      the waveform index table (samples, sample rate, source file, duration)
//! OUT/failures.csv           audio_id, file, reason of every clip that was not packed
//! ```
//! With `PackOptions::shard = (I, N)` only shards k with (k − 1) mod N = I − 1 are packed, and the three index files
//! are named `waveform-I-of-N.csv` etc.; `clap-tools concat` joins them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::audio::decode_mono;
use crate::error::{Error, Result};
use crate::manifest::{extension, text::Delimited, wav_csv::write_tsv};
use crate::progress::Progress;
use crate::schema::{fail, WaveformEntry};
use crate::shards::{SampleType, ShardWriter};

/// Options of a pack run.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// A `wav.csv` (audio_id, file_name) or a clips table (.parquet).
    pub input: PathBuf,
    pub out: PathBuf,
    /// Target sample rate; `None` keeps each file's own rate.
    pub sample_rate: Option<u32>,
    /// Clips per shard.
    pub part_size: usize,
    /// Decoding threads (0: one per core).
    pub jobs: usize,
    pub dtype: SampleType,
    /// Pack only slice I of N (1-based I).
    pub shard: Option<(usize, usize)>,
}

/// A clip that was not packed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub audio_id: String,
    pub file: String,
    pub reason: String,
}

pub use crate::progress::Outcome;

/// The most decoding threads `pack` starts (far above the cores of any machine it runs on).
pub const MAX_JOBS: usize = 1024;

/// What a run did.
#[derive(Debug, Clone)]
pub struct PackSummary {
    pub clips: usize,
    pub packed: usize,
    pub failures: Vec<Failure>,
    pub shards_written: usize,
    /// Shards found complete from an earlier run and kept.
    pub shards_resumed: usize,
    pub index_csv: PathBuf,
    pub index_parquet: PathBuf,
    pub failures_csv: PathBuf,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
struct Item {
    audio_id: String,
    file: PathBuf,
}

/// Read the clips to pack. Duplicate and empty audio_ids become failures; a malformed file is an error.
fn read_input(path: &Path) -> Result<(Vec<Item>, Vec<Failure>)> {
    let rows: Vec<(String, String, String)> = match extension(path).as_str() {
        "parquet" => crate::table::read_clips(path)?
            .into_iter()
            .enumerate()
            .map(|(i, c)| (format!("row {}", i + 1), c.audio_id, c.file_name))
            .collect(),
        _ => {
            let t = Delimited::read_utf8(path, b'\t')?;
            let [id, file] = t.require(path, ["audio_id", "file_name"])?;
            t.records.iter().map(|(line, r)| (format!("line {line}"), r[id].to_string(), r[file].to_string())).collect()
        }
    };
    let mut items = Vec::with_capacity(rows.len());
    let mut failures = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (at, audio_id, file) in rows {
        if audio_id.trim().is_empty() {
            failures.push(Failure { audio_id, file, reason: format!("empty audio_id ({}, {at})", path.display()) });
            continue;
        }
        if let Some(first) = seen.get(&audio_id) {
            failures.push(Failure {
                audio_id,
                file,
                reason: format!("duplicate audio_id ({}, {at}; first on {first}); the first is packed", path.display()),
            });
            continue;
        }
        seen.insert(audio_id.clone(), at);
        let file = crate::paths::resolve(path, Path::new(&file));
        items.push(Item { audio_id, file });
    }
    Ok((items, failures))
}

/// FNV-1a, to tell whether the input changed between a run and its resumption.
fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Check (or record) that OUT holds shards made with the same options and input.
fn check_settings(opts: &PackOptions) -> Result<()> {
    let input = std::fs::read(&opts.input).map_err(|e| Error::io(&opts.input, e))?;
    let settings = serde_json::json!({
        "input": std::path::absolute(&opts.input).unwrap_or(opts.input.clone()),
        "input_fingerprint": fingerprint(&input),
        "sample_rate": opts.sample_rate,
        "part_size": opts.part_size,
        "dtype": opts.dtype.name(),
    });
    let path = opts.out.join("pack.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let old: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::file(&path, format!("unreadable ({e}); remove it to start over")))?;
            for key in ["input", "input_fingerprint", "sample_rate", "part_size", "dtype"] {
                if old.get(key) != settings.get(key) {
                    return Err(Error::file(
                        &path,
                        format!(
                            "{} was packed with {key} = {} but this run has {}: use another output folder, or remove it to start over",
                            opts.out.display(),
                            old.get(key).cloned().unwrap_or_default(),
                            settings[key]
                        ),
                    ));
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text =
                serde_json::to_string_pretty(&settings).map_err(|e| Error::Internal(format!("pack settings: {e}")))?;
            crate::atomic::write_bytes(&path, text.as_bytes())
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

fn read_failures(path: &Path) -> Result<Vec<Failure>> {
    let t = Delimited::read_utf8(path, b'\t')?;
    let [a, f, r] = t.require(path, [fail::AUDIO_ID, fail::FILE, fail::REASON])?;
    Ok(t.records
        .iter()
        .map(|(_, rec)| Failure { audio_id: rec[a].into(), file: rec[f].into(), reason: rec[r].into() })
        .collect())
}

fn write_failures(path: &Path, failures: &[Failure]) -> Result<()> {
    write_tsv(
        path,
        &[fail::AUDIO_ID, fail::FILE, fail::REASON],
        failures.iter().map(|f| vec![f.audio_id.as_str(), f.file.as_str(), f.reason.as_str()]),
    )
}

/// Pack one shard: decode its clips on the pool, write them as they arrive, rename when closed.
fn pack_shard(
    items: &[Item],
    h5_path: &Path,
    opts: &PackOptions,
    pool: &rayon::ThreadPool,
    progress: &dyn Progress,
) -> Result<(Vec<WaveformEntry>, Vec<Failure>)> {
    let mut writer = ShardWriter::create(h5_path)?;
    let hdf5_path = std::path::absolute(h5_path).map_err(|e| Error::io(h5_path, e))?.to_string_lossy().into_owned();
    let stop = AtomicBool::new(false);
    // Bounded: at most `capacity` decoded clips wait for the writer, so memory stays flat.
    let capacity = pool.current_num_threads() * 2;
    let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
    let mut entries: Vec<(usize, WaveformEntry)> = Vec::new();
    let mut failures: Vec<(usize, Failure)> = Vec::new();
    let mut write_error = None;
    std::thread::scope(|s| {
        s.spawn(|| {
            pool.install(|| {
                items.par_iter().enumerate().for_each_with(tx, |tx, (i, item)| {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let decoded = decode_mono(&item.file, opts.sample_rate)
                        .map(|d| (d.sample_rate, opts.dtype.encode(d.samples)));
                    let _ = tx.send((i, decoded));
                });
            })
        });
        for (i, decoded) in rx {
            let item = &items[i];
            let file = item.file.to_string_lossy().into_owned();
            progress.advance(1);
            if write_error.is_some() {
                continue;
            }
            match decoded {
                Ok((_, samples)) if samples.is_empty() => failures.push((
                    i,
                    Failure {
                        audio_id: item.audio_id.clone(),
                        file,
                        reason: "too short: no samples at the target rate".into(),
                    },
                )),
                Ok((sample_rate, samples)) => match writer.add(&item.audio_id, &samples) {
                    Ok(()) => entries.push((
                        i,
                        WaveformEntry {
                            audio_id: item.audio_id.clone(),
                            hdf5_path: hdf5_path.clone(),
                            samples: samples.len() as u64,
                            sample_rate,
                            source_file: Some(file),
                            duration: samples.len() as f64 / sample_rate as f64,
                        },
                    )),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        write_error = Some(e);
                    }
                },
                Err(reason) => failures.push((i, Failure { audio_id: item.audio_id.clone(), file, reason: reason.0 })),
            }
        }
    });
    if let Some(e) = write_error {
        return Err(e);
    }
    writer.finish()?;
    entries.sort_by_key(|e| e.0);
    failures.sort_by_key(|f| f.0);
    Ok((entries.into_iter().map(|e| e.1).collect(), failures.into_iter().map(|f| f.1).collect()))
}

/// Pack the clips of `opts.input` into HDF5 shards under `opts.out`.
pub fn pack(opts: &PackOptions, progress: &dyn Progress) -> Result<PackSummary> {
    if opts.part_size == 0 {
        return Err(Error::config("part_size", "must be at least 1"));
    }
    if opts.jobs > MAX_JOBS {
        return Err(Error::config("jobs", format!("{} threads: at most {MAX_JOBS}", opts.jobs)));
    }
    if let Some(rate) = opts.sample_rate {
        use crate::audio::{MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
            return Err(Error::config(
                "sample_rate",
                format!("{rate} Hz is outside {MIN_SAMPLE_RATE}–{MAX_SAMPLE_RATE} Hz"),
            ));
        }
    }
    if let Some((i, n)) = opts.shard {
        if n == 0 || i == 0 || i > n {
            return Err(Error::config("shard", format!("{i}/{n}: I must be between 1 and N")));
        }
    }
    let (items, input_failures) = read_input(&opts.input)?;
    if items.is_empty() && input_failures.is_empty() {
        return Err(Error::file(&opts.input, "no clips to pack"));
    }
    std::fs::create_dir_all(opts.out.join("parts")).map_err(|e| Error::io(&opts.out, e))?;
    check_settings(opts)?;

    let (slice, slices) = opts.shard.unwrap_or((1, 1));
    let shards: Vec<(usize, &[Item])> = items
        .chunks(opts.part_size)
        .enumerate()
        .map(|(i, c)| (i + 1, c))
        .filter(|(k, _)| (k - 1) % slices == slice - 1)
        .collect();
    let total: usize = shards.iter().map(|(_, c)| c.len()).sum();
    progress.start(total as u64);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs)
        .build()
        .map_err(|e| Error::config("jobs", format!("cannot start {} threads: {e}", opts.jobs)))?;
    let mut entries: Vec<WaveformEntry> = Vec::new();
    // Input problems are reported once, by the first slice.
    let mut failures: Vec<Failure> = if slice == 1 { input_failures } else { Vec::new() };
    let (mut written, mut resumed) = (0, 0);
    for (k, chunk) in shards {
        let h5_path = opts.out.join("hdf5").join(format!("{k}.h5"));
        let part = opts.out.join("parts").join(format!("{k}.parquet"));
        let part_failures = opts.out.join("parts").join(format!("{k}.failures.csv"));
        if part.exists() && h5_path.exists() {
            entries.extend(crate::table::read_waveforms(&part)?);
            failures.extend(read_failures(&part_failures)?);
            progress.advance(chunk.len() as u64);
            resumed += 1;
            continue;
        }
        let (e, f) = pack_shard(chunk, &h5_path, opts, &pool, progress)?;
        // The failures first and the index last: the index marks the shard complete.
        write_failures(&part_failures, &f)?;
        crate::table::write_waveforms(&part, &e)?;
        entries.extend(e);
        failures.extend(f);
        written += 1;
    }

    let suffix = opts.shard.map(|(i, n)| format!("-{i}-of-{n}")).unwrap_or_default();
    let index_csv = opts.out.join(format!("waveform{suffix}.csv"));
    let index_parquet = opts.out.join(format!("waveforms{suffix}.parquet"));
    let failures_csv = opts.out.join(format!("failures{suffix}.csv"));
    // The three index files are one set: all or none.
    crate::atomic::as_set(|| {
        write_tsv(
            &index_csv,
            &["audio_id", "hdf5_path"],
            entries.iter().map(|e| vec![e.audio_id.as_str(), e.hdf5_path.as_str()]),
        )?;
        crate::table::write_waveforms(&index_parquet, &entries)?;
        write_failures(&failures_csv, &failures)
    })?;
    let outcome = Outcome::of(entries.len(), failures.len());
    Ok(PackSummary {
        clips: total,
        packed: entries.len(),
        failures,
        shards_written: written,
        shards_resumed: resumed,
        index_csv,
        index_parquet,
        failures_csv,
        outcome,
    })
}
