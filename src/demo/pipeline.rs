//! The demo's data steps, run as a user runs them: synthesise → scan → import (three native
//! formats) → concat → export → split → inspect → pack, in an output folder a second run may replace.

use std::path::{Path, PathBuf};

use super::corpus::{synthesize, Corpus, CorpusOptions};
use crate::error::{Error, Result};

/// The file that marks a folder as the demo's output, so that a second run may replace it.
pub const MARKER: &str = ".clap-tools-demo";

/// What [`prepare_out`] found in the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// The folder did not exist or was empty.
    New,
    /// An earlier demo output (or, when forced, any folder) whose entries were removed.
    Replaced { entries: usize, earlier_demo: bool },
}

/// Make `out` ready for a demo run: an earlier demo's output (it holds [`MARKER`]) is emptied, as is
/// any folder when `force`; a folder with other content is refused, so a mistyped output folder
/// never loses someone's files. The folder itself is kept (it may be a symlink to elsewhere).
pub fn prepare_out(out: &Path, force: bool) -> Result<Prepared> {
    let meta = match std::fs::metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
            crate::atomic::write_bytes(&out.join(MARKER), b"clap-tools demo output\n")?;
            return Ok(Prepared::New);
        }
        Err(e) => return Err(Error::io(out, e)),
    };
    if !meta.is_dir() {
        return Err(Error::file(out, "exists and is not a folder; choose another output folder"));
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(|e| Error::io(out, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(out, err)))
        .collect::<Result<_>>()?;
    let earlier_demo = out.join(MARKER).is_file();
    let prepared = if entries.is_empty() {
        Prepared::New
    } else if earlier_demo || force {
        for p in &entries {
            // symlink_metadata: a link inside the folder is removed, never followed.
            let is_dir = std::fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false);
            let r = if is_dir { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
            r.map_err(|e| Error::io(p, e))?;
        }
        Prepared::Replaced { entries: entries.len(), earlier_demo }
    } else {
        return Err(Error::file(out, "exists and is not an earlier demo output (it has no .clap-tools-demo file)"));
    };
    crate::atomic::write_bytes(&out.join(MARKER), b"clap-tools demo output\n")?;
    Ok(prepared)
}

/// Options of the demo run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub out: PathBuf,
    pub corpus: CorpusOptions,
    /// Fraction of clips held out for validation.
    pub val_fraction: f64,
    /// Sample rate of the packed waveforms.
    pub pack_rate: u32,
}

/// What the demo produced.
#[derive(Debug)]
pub struct DemoOutputs {
    pub corpus: Corpus,
    pub wav_csv: PathBuf,
    pub clips_table: PathBuf,
    pub captions: PathBuf,
    pub caption_json: PathBuf,
    pub train: PathBuf,
    pub val: PathBuf,
    pub split: (usize, usize),
    pub report: crate::inspect::Report,
    pub packed: crate::pack::PackSummary,
    /// The rate the waveforms were packed at (the model's front end runs at it).
    pub sample_rate: u32,
}

/// The demo's data steps: synthesise → scan → import (three native formats) → concat → export →
/// split → inspect → pack. `log` receives one line per step.
pub fn run(opts: &DemoOptions, log: &mut dyn FnMut(&str)) -> Result<DemoOutputs> {
    use crate::manifest::{self, audiocaps, clotho, join::AudioSource, macs, scan};
    let out = &opts.out;
    let tables = out.join("tables");
    log(&format!("synthesising {} clips under {}", opts.corpus.clips, out.join("audio").display()));
    let corpus = synthesize(out, &opts.corpus)?;

    // scan: one wav.csv and one clips table per dataset, then concatenated.
    let mut wav_csvs = Vec::new();
    let mut clip_tables = Vec::new();
    for (name, dir) in
        [("clotho", &corpus.clotho_audio), ("audiocaps", &corpus.audiocaps_audio), ("macs", &corpus.macs_audio)]
    {
        let listing = scan::list_audio(dir, &scan::ScanOptions::default())?;
        let wav = tables.join(format!("{name}_wav.csv"));
        manifest::wav_csv::write_tsv(
            &wav,
            &["audio_id", "file_name"],
            listing.files.iter().map(|(id, p)| vec![id.as_str(), p.to_str().unwrap_or_default()]),
        )?;
        let clips = scan::probe_all(&listing.files, &crate::progress::Silent);
        let table = tables.join(format!("{name}_clips.parquet"));
        crate::table::write_clips(&table, &clips)?;
        log(&format!("scan {}: {} files → {}", dir.display(), clips.len(), wav.display()));
        wav_csvs.push(wav);
        clip_tables.push(table);
    }
    let wav_csv = tables.join("wav.csv");
    crate::concat::concat(&wav_csvs, &wav_csv)?;
    let clips_table = tables.join("clips.parquet");
    crate::concat::concat(&clip_tables, &clips_table)?;

    // import: each native format, joined to its audio.
    let imports = [
        (
            "clotho",
            clotho::import(&clotho::ClothoImport {
                captions: vec![corpus.clotho_captions.clone()],
                metadata: vec![corpus.clotho_metadata.clone()],
                split: None,
            })?,
            corpus.clotho_captions.clone(),
            corpus.clotho_audio.clone(),
        ),
        (
            "audiocaps",
            audiocaps::import(&audiocaps::AudioCapsImport {
                csvs: vec![corpus.audiocaps_csv.clone()],
                ..Default::default()
            })?,
            corpus.audiocaps_csv.clone(),
            corpus.audiocaps_audio.clone(),
        ),
        (
            "macs",
            macs::import(&macs::MacsImport { yaml: corpus.macs_yaml.clone(), split: Some("train".into()) })?,
            corpus.macs_yaml.clone(),
            corpus.macs_audio.clone(),
        ),
    ];
    let mut caption_tables = Vec::new();
    for (name, rows, source, audio) in imports {
        let table = tables.join(format!("{name}.parquet"));
        let rep = manifest::finish_import(
            rows,
            Some(&AudioSource::Dir(audio)),
            manifest::MissingAudio::Keep,
            &source,
            &table,
        )?;
        let missing = rep.join.as_ref().map_or(0, |j| j.missing.len());
        log(&format!(
            "import {name}: {} clips, {} captions, {missing} without audio → {}",
            rep.clips,
            rep.captions,
            table.display()
        ));
        caption_tables.push(table);
    }

    let captions = tables.join("captions.parquet");
    let rep = crate::concat::concat(&caption_tables, &captions)?;
    log(&format!("concat: {} clips, {} captions → {}", rep.clips, rep.rows, captions.display()));
    let caption_json = tables.join("text.json");
    manifest::caption_json::export(&crate::table::read_captions(&captions)?, &captions, &caption_json)?;
    log(&format!("export json → {}", caption_json.display()));

    let (train, val) = crate::split::default_outputs(&captions);
    let s = crate::split::split(
        crate::table::read_captions(&captions)?,
        &crate::split::ValidationSize::Fraction(opts.val_fraction),
        opts.corpus.seed,
    )?;
    crate::table::write_captions(&train, &s.train)?;
    crate::table::write_captions(&val, &s.val)?;
    log(&format!("split: {} train clips, {} validation clips", s.train_clips, s.val_clips));

    let report = crate::inspect::inspect(&[captions.clone(), clips_table.clone()], 10)?;

    let pack_opts = crate::pack::PackOptions {
        input: wav_csv.clone(),
        out: out.join("packed"),
        sample_rate: Some(opts.pack_rate),
        part_size: 1000,
        jobs: 0,
        dtype: crate::shards::SampleType::F16,
        shard: None,
    };
    let packed = crate::pack::pack(&pack_opts, &crate::progress::Silent)?;
    if packed.outcome != crate::pack::Outcome::Complete {
        return Err(Error::file(&packed.failures_csv, format!("{} demo clips failed to pack", packed.failures.len())));
    }
    log(&format!("pack: {} clips at {} Hz → {}", packed.packed, opts.pack_rate, packed.index_csv.display()));
    Ok(DemoOutputs {
        corpus,
        wav_csv,
        clips_table,
        captions,
        caption_json,
        train,
        val,
        split: (s.train_clips, s.val_clips),
        report,
        packed,
        sample_rate: opts.pack_rate,
    })
}
