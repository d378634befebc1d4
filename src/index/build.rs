//! Building an index (`index build`) and adding to one (`index add`): embed every clip of the
//! sources, save the embeddings in parts as they come (a killed build continues where it stopped),
//! then write the index as a set.
//!
//! Sources: audio files and folders (searched recursively; audio_id = the path below the folder),
//! a `pack` output folder or waveform index (read from the shards), a clips table (`scan`), a
//! `wav.csv`, or a captions table (its clips, with their dataset, split and captions). Clips listed in
//! a `--waveforms` index are read from its shards whatever the source. A clip that cannot be read is
//! reported and skipped; the job goes on.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::{Index, Manifest, ModelIdentity, BUILD_DIR};
use crate::embed::{decode_file, Skipped};
use crate::error::{Error, Result};
use crate::manifest::extension;
use crate::model::checkpoint::Embedder;
use crate::progress::{Outcome, Progress};
use crate::schema::{IndexClip, Table, WaveformEntry};
use crate::shards::WaveformReader;
use clap_tools_backends::burn::tensor::backend::Backend;

/// A new index, or clips added to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildMode {
    Build,
    Add,
}

/// What an index is made from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Audio files and folders, pack outputs, clips/captions tables: embedded with the model.
    Clips(Vec<PathBuf>),
    /// An `embed audio` output (`OUT.npy` + `OUT.parquet`): taken as it is, no model.
    Embeddings(PathBuf),
}

/// Options of [`build`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub out: PathBuf,
    pub mode: BuildMode,
    pub source: Source,
    /// A waveform index: clips it lists are read from its shards.
    pub waveforms: Option<PathBuf>,
    /// A captions table: clips it names get its dataset, split and captions.
    pub captions: Option<PathBuf>,
    /// Clips per forward pass (at most: the model's [`Embedder::batching`] says which clips may
    /// share one).
    pub batch_size: usize,
    /// Store the embeddings as float16 (half the size; a new index only).
    pub f16: bool,
    /// Clips per saved part: a killed build redoes at most this many.
    pub part_clips: usize,
}

impl BuildOptions {
    pub fn new(out: PathBuf, mode: BuildMode, source: Source) -> Self {
        Self { out, mode, source, waveforms: None, captions: None, batch_size: 1, f16: false, part_clips: 256 }
    }
}

/// What [`build`] did.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// Rows of the index now.
    pub rows: usize,
    /// Clips embedded by this run.
    pub embedded: usize,
    /// Clips found embedded by an interrupted run and kept.
    pub resumed: usize,
    /// Clips already in the index (`add`), left as they were.
    pub already: usize,
    pub skipped: Vec<Skipped>,
    pub outcome: Outcome,
}

/// A clip to embed and where its audio is.
#[derive(Debug, Clone)]
struct Entry {
    clip: IndexClip,
    file: Option<PathBuf>,
    /// A packed clip's rate as its waveform table records it, and the table (a reference
    /// `waveform.csv` records none).
    packed_rate: Option<(u32, PathBuf)>,
}

/// Build or extend the index `opts.out` with `model` (whose identity is `identity`).
pub fn build<B: Backend>(
    model: Option<(&Embedder<B>, &ModelIdentity)>,
    opts: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildSummary> {
    if opts.batch_size == 0 {
        return Err(Error::config("batch_size", "must be at least 1"));
    }
    if opts.part_clips == 0 {
        return Err(Error::config("part_clips", "must be at least 1"));
    }
    let out = &opts.out;
    let existing = match opts.mode {
        BuildMode::Build => {
            if out.join(super::MANIFEST).exists() {
                return Err(Error::file(out, "is already an index: `index add` adds clips to it (or remove it first)"));
            }
            None
        }
        BuildMode::Add => Some(Index::open(out)?),
    };
    let (model, identity) = match (&opts.source, model) {
        (Source::Embeddings(path), _) => {
            if existing.is_some() {
                return Err(Error::config(
                    "embeddings",
                    "an index is made from embeddings by `index build`, not added to",
                ));
            }
            return from_embeddings(path, opts);
        }
        (Source::Clips(_), Some(m)) => m,
        (Source::Clips(_), None) => return Err(Error::config("checkpoint", "embedding clips needs a model")),
    };
    if let Some(ix) = &existing {
        match &ix.manifest.model {
            Some(id) if id.sha256 == identity.sha256 => {}
            Some(id) => {
                return Err(Error::config(
                    "checkpoint",
                    format!(
                        "{} was built by another model, {}; this one is {}",
                        out.display(),
                        id.name(),
                        identity.name()
                    ),
                ))
            }
            None => {
                return Err(Error::file(
                    out,
                    "was made from embeddings computed elsewhere and records no model: clips cannot be added to it",
                ))
            }
        }
    }
    let f16 = existing.as_ref().map_or(opts.f16, |ix| ix.manifest.is_f16());
    let Source::Clips(sources) = &opts.source else { unreachable!("embeddings returned above") };
    let rate = identity.front_end.sample_rate;
    let (entries, mut skipped) = plan(sources, opts.waveforms.as_deref(), opts.captions.as_deref(), rate)?;
    let packed: Vec<(String, PathBuf)> = entries
        .iter()
        .filter_map(|e| e.clip.hdf5_path.as_ref().map(|h| (e.clip.audio_id.clone(), PathBuf::from(h))))
        .collect();
    let reader = WaveformReader::from_pairs(packed);

    let abs = |p: &Path| crate::paths::absolute(p).to_string_lossy().into_owned();
    let plan = Plan {
        model_sha256: identity.sha256.clone(),
        model: identity.name(),
        add: opts.mode == BuildMode::Add,
        sources: sources.iter().map(|p| abs(p)).collect(),
        waveforms: opts.waveforms.as_deref().map(abs),
        captions: opts.captions.as_deref().map(abs),
        batching: Some(model.batching),
        f16,
    };
    let parts = Parts::open(&out.join(BUILD_DIR), plan)?;
    let done: HashSet<&str> =
        parts.done.iter().flat_map(|(_, clips)| clips.iter().map(|c| c.audio_id.as_str())).collect();
    let in_index: HashSet<&str> =
        existing.as_ref().map(|ix| ix.clips.iter().map(|c| c.audio_id.as_str()).collect()).unwrap_or_default();
    let (mut already, mut resumed) = (0, 0);
    let todo: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            let id = e.clip.audio_id.as_str();
            if in_index.contains(id) {
                already += 1;
                false
            } else if done.contains(id) {
                resumed += 1;
                false
            } else {
                true
            }
        })
        .collect();
    drop(done);
    progress.start(todo.len() as u64);
    let mut parts = parts;
    let mut pending = Pending::default();
    let mut embedded = 0;
    let mut last_save = Instant::now();
    for chunk in todo.chunks(opts.batch_size) {
        let waves: Vec<Result<Vec<f32>>> = chunk
            .par_iter()
            .map(|e| match (&e.clip.hdf5_path, &e.file) {
                (Some(_), _) => reader.read(&e.clip.audio_id),
                (None, Some(f)) => decode_file(f, rate),
                (None, None) => Err(Error::Internal("a clip without audio".into())),
            })
            .collect();
        let mut clips = Vec::new();
        let mut batch = Vec::new();
        for (e, w) in chunk.iter().zip(waves) {
            match w {
                Ok(w) if !w.is_empty() => {
                    let mut clip = e.clip.clone();
                    clip.duration = clip.duration.or(Some(w.len() as f64 / rate as f64));
                    clips.push(clip);
                    batch.push(w);
                }
                Ok(_) => skipped.push(Skipped { audio_id: e.clip.audio_id.clone(), reason: "empty waveform".into() }),
                Err(err) => skipped.push(Skipped { audio_id: e.clip.audio_id.clone(), reason: err.to_string() }),
            }
        }
        if !batch.is_empty() {
            let refs: Vec<&[f32]> = batch.iter().map(|w| w.as_slice()).collect();
            pending.data.extend(model.audio(&refs)?);
            embedded += clips.len();
            pending.clips.extend(clips);
        }
        progress.advance(chunk.len() as u64);
        // Saved often enough that a kill loses little, seldom enough that parts stay few.
        if pending.clips.len() >= opts.part_clips || (last_save.elapsed() > SAVE_EVERY && !pending.clips.is_empty()) {
            parts.save(std::mem::take(&mut pending), identity.shared_dim)?;
            last_save = Instant::now();
        }
    }
    if !pending.clips.is_empty() {
        parts.save(pending, identity.shared_dim)?;
    }

    // The index: what it held, then every part in order.
    let dim = identity.shared_dim;
    let (mut clips, mut data) = match &existing {
        Some(ix) => (ix.clips.clone(), ix.embeddings_f32()),
        None => (Vec::new(), Vec::new()),
    };
    for (npy, part) in &parts.done {
        let a = crate::npy::read_f32(npy)?;
        if a.shape != [part.len(), dim] {
            return Err(Error::file(
                npy,
                format!("holds {:?}, not [{}, {dim}]: remove {}", a.shape, part.len(), parts.dir.display()),
            ));
        }
        data.extend(a.data);
        clips.extend(part.iter().cloned());
    }
    if clips.is_empty() {
        return Err(Error::config("inputs", format!("no clip could be embedded ({} failed)", skipped.len())));
    }
    let manifest = Manifest::new(clips.len(), dim, f16, Some(identity.for_index(out)));
    if existing.is_none() || !parts.done.is_empty() {
        super::write(out, &manifest, &clips, &data)?;
    }
    parts.remove()?;
    let outcome = Outcome::of(embedded + resumed + already, skipped.len());
    Ok(BuildSummary { rows: clips.len(), embedded, resumed, already, skipped, outcome })
}

/// A part is saved at least this often while clips are being embedded.
const SAVE_EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Pending {
    clips: Vec<IndexClip>,
    data: Vec<f32>,
}

/// The parts of an unfinished build: `build/plan.json` (which model, which mode) and
/// `build/part-NNNNNN.{npy,parquet}`, each pair written as a set.
struct Parts {
    dir: PathBuf,
    /// (the part's .npy, its clips), in order.
    done: Vec<(PathBuf, Vec<IndexClip>)>,
    next: usize,
}

/// What a build was started with: a resume must embed the same clips the same way, or its parts
/// would mix two builds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Plan {
    model_sha256: String,
    model: String,
    add: bool,
    /// The sources, absolute (a plan written before they were recorded has none).
    #[serde(default)]
    sources: Vec<String>,
    #[serde(default)]
    waveforms: Option<String>,
    #[serde(default)]
    captions: Option<String>,
    #[serde(default)]
    batching: Option<crate::model::checkpoint::Batching>,
    #[serde(default)]
    f16: bool,
}

impl Plan {
    /// How `self` (the resumed build's plan) differs from `new`, in words; `None` if it does not.
    fn differs_from(&self, new: &Plan) -> Option<String> {
        let show = |v: &dyn std::fmt::Debug| format!("{v:?}");
        let mut diffs = Vec::new();
        if self.sources != new.sources {
            diffs.push(format!("sources {} (now {})", show(&self.sources), show(&new.sources)));
        }
        if self.waveforms != new.waveforms {
            diffs.push(format!("--waveforms {} (now {})", show(&self.waveforms), show(&new.waveforms)));
        }
        if self.captions != new.captions {
            diffs.push(format!("--captions {} (now {})", show(&self.captions), show(&new.captions)));
        }
        if self.batching != new.batching {
            diffs.push(format!("batching {} (now {})", show(&self.batching), show(&new.batching)));
        }
        if self.f16 != new.f16 {
            diffs.push(format!("--f16 {} (now {})", self.f16, new.f16));
        }
        if self.add != new.add {
            diffs.push(format!("index add {} (now {})", self.add, new.add));
        }
        (!diffs.is_empty()).then(|| diffs.join("; "))
    }
}

impl Parts {
    fn open(dir: &Path, plan: Plan) -> Result<Self> {
        let plan_path = dir.join("plan.json");
        let mut done = Vec::new();
        let mut next = 1;
        if plan_path.is_file() {
            let bytes = std::fs::read(&plan_path).map_err(|e| Error::io(&plan_path, e))?;
            let old: Plan = serde_json::from_slice(&bytes)
                .map_err(|e| Error::file(&plan_path, format!("not a build plan ({e}): remove {}", dir.display())))?;
            if old.model_sha256 != plan.model_sha256 {
                return Err(Error::file(
                    dir,
                    format!(
                        "holds an unfinished build by another model, {}: finish it with that model, or remove the folder",
                        old.model
                    ),
                ));
            }
            if let Some(diff) = old.differs_from(&plan) {
                return Err(Error::file(
                    dir,
                    format!(
                        "holds an unfinished build started with other sources or options: {diff}; \
                         run it again as it was started, or remove the folder"
                    ),
                ));
            }
            let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| extension(p) == "parquet")
                .collect();
            names.sort();
            for table in names {
                let npy = table.with_extension("npy");
                // Both files of a part or neither: a lone file is a part cut short (redone).
                if !npy.is_file() {
                    continue;
                }
                let number = table
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix("part-"))
                    .and_then(|s| s.parse::<usize>().ok());
                let Some(number) = number else { continue };
                next = next.max(number + 1);
                done.push((npy, crate::table::read_index_clips(&table)?));
            }
        } else {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            let json = serde_json::to_vec_pretty(&plan).map_err(|e| Error::Internal(format!("build plan: {e}")))?;
            crate::atomic::write_bytes(&plan_path, &json)?;
        }
        Ok(Self { dir: dir.to_path_buf(), done, next })
    }

    fn save(&mut self, part: Pending, dim: usize) -> Result<()> {
        let stem = self.dir.join(format!("part-{:06}", self.next));
        let (npy, table) = (stem.with_extension("npy"), stem.with_extension("parquet"));
        crate::atomic::as_set(|| {
            crate::npy::write_f32(&npy, &[part.clips.len(), dim], &part.data)?;
            crate::table::write_index_clips(&table, &part.clips)
        })?;
        self.next += 1;
        self.done.push((npy, part.clips));
        Ok(())
    }

    fn remove(self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&self.dir, e)),
        }
    }
}

/// The clips of `sources`, once each (a repeated audio_id is skipped, naming where it came first).
fn plan(
    sources: &[PathBuf],
    waveforms: Option<&Path>,
    captions: Option<&Path>,
    rate: u32,
) -> Result<(Vec<Entry>, Vec<Skipped>)> {
    let packed: HashMap<String, WaveformEntry> = match waveforms {
        Some(w) => waveform_entries(w)?.into_iter().map(|w| (w.audio_id.clone(), w)).collect(),
        None => HashMap::new(),
    };
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let mut first: HashMap<String, PathBuf> = HashMap::new();
    for source in sources {
        for mut e in entries_of(source)? {
            if let Some(w) = packed.get(&e.clip.audio_id) {
                e.packed_rate =
                    waveforms.filter(|p| extension(p) == "parquet").map(|p| (w.sample_rate, p.to_path_buf()));
                e.clip.hdf5_path = Some(w.hdf5_path.clone());
                e.clip.source_file = e.clip.source_file.or(w.source_file.clone());
                e.clip.duration = e.clip.duration.or(Some(w.duration));
            }
            if e.clip.hdf5_path.is_none() && e.file.is_none() {
                skipped.push(Skipped {
                    audio_id: e.clip.audio_id.clone(),
                    reason: format!(
                        "{} names no audio file for it (give --waveforms to read it from shards)",
                        source.display()
                    ),
                });
                continue;
            }
            if let Some(at) = first.get(&e.clip.audio_id) {
                skipped.push(Skipped {
                    audio_id: e.clip.audio_id.clone(),
                    reason: format!(
                        "duplicate audio_id in {} (first from {}); the first is kept",
                        source.display(),
                        at.display()
                    ),
                });
                continue;
            }
            first.insert(e.clip.audio_id.clone(), source.clone());
            entries.push(e);
        }
    }
    // Shards hold no rate of their own: a table that records another one (or none) would give the
    // model audio at the wrong speed, and `serve` would play it at the wrong pitch.
    for e in &entries {
        let Some((packed_at, table)) = e.clip.hdf5_path.as_ref().and(e.packed_rate.as_ref()) else { continue };
        if *packed_at == 0 {
            return Err(Error::item(
                table,
                &e.clip.audio_id,
                format!("records no sample rate (0 Hz) for it; the model's front end runs at {rate} Hz: pack it again"),
            ));
        }
        if *packed_at != rate {
            return Err(Error::item(
                table,
                &e.clip.audio_id,
                format!("packed at {packed_at} Hz, but the model's front end runs at {rate} Hz: pack at {rate} Hz"),
            ));
        }
    }
    if let Some(path) = captions {
        let by_clip = group_captions(crate::table::read_captions(path)?);
        for e in &mut entries {
            if let Some(c) = by_clip.get(&e.clip.audio_id) {
                e.clip.dataset = e.clip.dataset.take().or(c.dataset.clone());
                e.clip.split = e.clip.split.take().or(c.split.clone());
                e.clip.captions = e.clip.captions.take().or(c.captions.clone());
            }
        }
    }
    Ok((entries, skipped))
}

/// The rows of a waveform index (sample rate 0 where a `waveform.csv` does not say).
fn waveform_entries(path: &Path) -> Result<Vec<WaveformEntry>> {
    if extension(path) == "parquet" {
        return crate::table::read_waveforms(path);
    }
    Ok(crate::shards::reader::read_index(path)?
        .into_iter()
        .map(|(audio_id, h)| WaveformEntry {
            audio_id,
            hdf5_path: h.to_string_lossy().into_owned(),
            ..Default::default()
        })
        .collect())
}

/// The clips of one source, by what it is.
fn entries_of(source: &Path) -> Result<Vec<Entry>> {
    let clip = |audio_id: String| IndexClip { audio_id, ..Default::default() };
    if source.is_dir() {
        // A pack output folder: its waveform index.
        let index = source.join("waveforms.parquet");
        if index.is_file() {
            return entries_of(&index);
        }
        let listing = crate::manifest::scan::list_audio(
            source,
            &crate::manifest::scan::ScanOptions { recursive: true, id_from: crate::manifest::scan::IdFrom::Relative },
        )?;
        if listing.files.is_empty() {
            return Err(Error::file(source, "no audio files in this folder"));
        }
        return Ok(listing
            .files
            .into_iter()
            .map(|(id, path)| Entry {
                clip: IndexClip { source_file: Some(path.to_string_lossy().into_owned()), ..clip(id) },
                file: Some(path),
                packed_rate: None,
            })
            .collect());
    }
    if !source.is_file() {
        return Err(Error::file(source, "no such file or folder"));
    }
    match extension(source).as_str() {
        "parquet" => {
            let names = crate::table::column_names(source)?;
            match Table::detect(names.iter().map(|s| s.as_str())) {
                Some(Table::Waveforms) => Ok(packed_entries(waveform_entries(source)?, Some(source))),
                Some(Table::Clips) => Ok(crate::table::read_clips(source)?
                    .into_iter()
                    .map(|c| {
                        let path = crate::paths::resolve(source, Path::new(&c.file_name));
                        Entry {
                            clip: IndexClip {
                                source_file: Some(path.to_string_lossy().into_owned()),
                                duration: c.duration,
                                ..clip(c.audio_id)
                            },
                            file: Some(path),
                            packed_rate: None,
                        }
                    })
                    .collect()),
                Some(Table::Captions) => {
                    let rows = crate::table::read_captions(source)?;
                    Ok(group_captions(rows).into_values_ordered(source))
                }
                other => Err(Error::file(
                    source,
                    format!(
                        "is a {} table; an index is built from audio files, a waveform index, a clips table or a captions table",
                        other.map_or("unknown", |t| t.name())
                    ),
                )),
            }
        }
        "csv" | "tsv" => {
            let t = crate::manifest::wav_csv::Tsv::read(source)?;
            if t.column("hdf5_path").is_some() {
                Ok(packed_entries(waveform_entries(source)?, None))
            } else {
                let pairs = t.pairs(source, "audio_id", "file_name")?;
                Ok(pairs
                    .into_iter()
                    .map(|(id, f)| {
                        let path = crate::paths::resolve(source, Path::new(&f));
                        Entry {
                            clip: IndexClip { source_file: Some(path.to_string_lossy().into_owned()), ..clip(id) },
                            file: Some(path),
                            packed_rate: None,
                        }
                    })
                    .collect())
            }
        }
        _ if crate::audio::probe::is_audio_file(source) => {
            let id = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let path = crate::paths::absolute(source);
            Ok(vec![Entry {
                clip: IndexClip { source_file: Some(path.to_string_lossy().into_owned()), ..clip(id) },
                file: Some(path),
                packed_rate: None,
            }])
        }
        _ => Err(Error::file(
            source,
            "is not audio, a folder, a waveform index, a clips table, a wav.csv or a captions table",
        )),
    }
}

/// The clips of a waveform index; `table`: a waveforms table, whose recorded rates are checked.
fn packed_entries(rows: Vec<WaveformEntry>, table: Option<&Path>) -> Vec<Entry> {
    rows.into_iter()
        .map(|w| Entry {
            packed_rate: table.map(|t| (w.sample_rate, t.to_path_buf())),
            clip: IndexClip {
                audio_id: w.audio_id,
                source_file: w.source_file,
                hdf5_path: Some(w.hdf5_path),
                duration: (w.duration > 0.0).then_some(w.duration),
                ..Default::default()
            },
            file: None,
        })
        .collect()
}

/// The clips of a captions table in first-seen order, each with its captions (by caption_index).
struct Grouped {
    order: Vec<String>,
    clips: HashMap<String, Group>,
}

/// One clip of a captions table: its row, its (caption_index, caption)s, its audio file.
struct Group {
    clip: IndexClip,
    captions: Vec<(u32, String)>,
    file: Option<PathBuf>,
}

struct GroupedClip {
    dataset: Option<String>,
    split: Option<String>,
    captions: Option<Vec<String>>,
}

fn group_captions(rows: Vec<crate::schema::Caption>) -> Grouped {
    let mut g = Grouped { order: Vec::new(), clips: HashMap::new() };
    for r in rows {
        let e = g.clips.entry(r.audio_id.clone()).or_insert_with(|| {
            g.order.push(r.audio_id.clone());
            let clip = IndexClip {
                audio_id: r.audio_id.clone(),
                dataset: Some(r.dataset.clone()),
                split: r.split.clone(),
                ..Default::default()
            };
            Group { clip, captions: Vec::new(), file: None }
        });
        e.captions.push((r.caption_index, r.caption));
        if e.file.is_none() {
            e.file = r.audio_path.map(PathBuf::from);
        }
    }
    g
}

impl Grouped {
    fn get(&self, audio_id: &str) -> Option<GroupedClip> {
        self.clips.get(audio_id).map(|g| GroupedClip {
            dataset: g.clip.dataset.clone(),
            split: g.clip.split.clone(),
            captions: Some(sorted(&g.captions)),
        })
    }

    /// The clips in order; relative audio paths are taken from the table's folder.
    fn into_values_ordered(mut self, table: &Path) -> Vec<Entry> {
        self.order
            .iter()
            .filter_map(|id| self.clips.remove(id))
            .map(|Group { mut clip, captions, file }| {
                let file = file.map(|f| crate::paths::resolve(table, &f));
                clip.captions = Some(sorted(&captions));
                clip.source_file = file.as_ref().map(|f| f.to_string_lossy().into_owned());
                Entry { clip, file, packed_rate: None }
            })
            .collect()
    }
}

fn sorted(caps: &[(u32, String)]) -> Vec<String> {
    let mut c = caps.to_vec();
    c.sort_by_key(|(i, _)| *i);
    c.into_iter().map(|(_, s)| s).collect()
}

/// An index from an `embed audio` output: its rows as they are, checked.
fn from_embeddings(path: &Path, opts: &BuildOptions) -> Result<BuildSummary> {
    let stem = match extension(path).as_str() {
        "npy" | "parquet" => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut s = stem.as_os_str().to_owned();
        s.push(".");
        s.push(ext);
        PathBuf::from(s)
    };
    let (npy, table) = (with("npy"), with("parquet"));
    let matrix = crate::npy::read_f32(&npy)?;
    let ids = crate::table::read_embedding_ids(&table)?;
    let [rows, dim] = matrix.shape[..] else {
        return Err(Error::file(&npy, format!("shape {:?} is not [rows, dim]", matrix.shape)));
    };
    if ids.len() != rows || dim == 0 {
        return Err(Error::file(&table, format!("has {} rows but {} holds [{rows}, {dim}]", ids.len(), npy.display())));
    }
    let mut seen = HashSet::new();
    let mut clips = Vec::with_capacity(rows);
    for (i, (audio_id, caption, row)) in ids.into_iter().enumerate() {
        if caption.is_some() {
            return Err(Error::item(
                &table,
                &audio_id,
                "is a caption's embedding: an index holds clips (`embed audio` output)",
            ));
        }
        if row != i as u64 {
            return Err(Error::item(
                &table,
                &audio_id,
                format!("row {row} where {i} was expected (rows in .npy order)"),
            ));
        }
        if !seen.insert(audio_id.clone()) {
            return Err(Error::item(&table, &audio_id, "appears twice"));
        }
        if let Some(v) = matrix.data[i * dim..(i + 1) * dim].iter().find(|v| !v.is_finite()) {
            return Err(Error::item(&npy, &audio_id, format!("has a non-finite value ({v})")));
        }
        clips.push(IndexClip { audio_id, ..Default::default() });
    }
    if let Some(c) = &opts.captions {
        let g = group_captions(crate::table::read_captions(c)?);
        for clip in &mut clips {
            if let Some(x) = g.get(&clip.audio_id) {
                (clip.dataset, clip.split, clip.captions) = (x.dataset, x.split, x.captions);
            }
        }
    }
    let mut manifest = Manifest::new(rows, dim, opts.f16, None);
    manifest.embeddings_from = Some(crate::paths::absolute(&npy));
    super::write(&opts.out, &manifest, &clips, &matrix.data)?;
    Ok(BuildSummary { rows, embedded: 0, resumed: 0, already: 0, skipped: Vec::new(), outcome: Outcome::Complete })
}
