//! `clap-tools import`: native dataset files → the standard captions table (or caption JSON).

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::manifest::{
    self, audiocaps, caption_json, clotho, clotho_retrieval, join::AudioSource, macs, MissingAudio,
};
use tracing::{info, warn};

/// Turn a dataset's native caption files into the captions table.
///
/// One row per caption. The output is a captions table when it ends in .parquet, or the reference's caption JSON when it
/// ends in .json. With --audio-dir or --wav-csv, each clip is joined to its audio file (column
/// `audio_path`) and clips whose audio is missing are reported.
#[derive(clap::Subcommand)]
pub enum Source {
    /// Clotho: clotho_captions_{split}.csv, optionally with clotho_metadata_{split}.csv.
    ///
    /// Captions: file_name, caption_1..caption_5 (UTF-8). Metadata: keywords, sound_id, license…
    /// (ISO-8859-1, as Clotho ships it, or UTF-8; told apart automatically).
    Clotho {
        /// Caption CSVs; the split is taken from each name (clotho_captions_development.csv →
        /// development) unless --split is given.
        #[arg(required = true)]
        captions: Vec<PathBuf>,
        /// Metadata CSVs, joined by file_name (keywords, sound_id, sound_link, start_end_samples,
        /// manufacturer, license).
        #[arg(long)]
        metadata: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// AudioCaps: train.csv / val.csv / test.csv (audiocap_id, youtube_id, start_time, caption).
    Audiocaps {
        /// AudioCaps CSVs; the split is each file's stem (train, val, test) unless --split is given.
        #[arg(required = true)]
        csvs: Vec<PathBuf>,
        /// Audio file name, which is also the audio_id. Placeholders: {youtube_id}, {start_time},
        /// {end_time} (start + 10), {audiocap_id}.
        #[arg(long, default_value = audiocaps::DEFAULT_AUDIO_NAME)]
        audio_name: String,
        #[command(flatten)]
        common: Common,
    },
    /// MACS: MACS.yaml (files: [{filename, annotations: [{annotator_id, sentence, tags}]}]).
    Macs {
        /// The MACS.yaml file.
        yaml: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Clotho's DCASE retrieval evaluation set: retrieval_captions.csv (column `caption`) → the
    /// queries table (query_index, query, dataset, relevant).
    ///
    /// With --relevance, the judgements of DCASE 2025 (a CSV `query,audio_filenames`, the names a
    /// Python list literal) fill each query's `relevant` clips, matched by exact query text. With
    /// --audio-dir (the retrieval_audio folder, searched recursively) every judged file name must
    /// name a file there, as it is or with `:` written `_` (as some tools save Clotho's names).
    #[command(name = "clotho-retrieval")]
    ClothoRetrieval {
        /// retrieval_captions.csv, or any CSV with a `caption` column.
        captions: PathBuf,
        /// The relevance judgements (2025: metadata_eval.csv).
        #[arg(long)]
        relevance: Option<PathBuf>,
        /// The retrieval audio folder, to check (and rewrite) the judged file names.
        #[arg(long)]
        audio_dir: Option<PathBuf>,
        /// Dataset name of the rows.
        #[arg(long, default_value = "clotho")]
        dataset: String,
        /// The queries table (.parquet).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// The reference's caption JSON.
    ///
    /// {"audios": [{"audio_id", "captions": [{"caption", "cap_id"…}]}]}. Keys without a column are kept (audio_extra / caption_extra), so a later export restores them.
    Json {
        /// The caption JSON file.
        json: PathBuf,
        /// Dataset name for clips without a "dataset" key (default: the file's stem).
        #[arg(long)]
        dataset: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Args)]
pub struct Common {
    /// Output: captions table (.parquet) or caption JSON (.json).
    #[arg(short, long)]
    output: PathBuf,
    /// Split name for every row (overrides the one taken from file names).
    #[arg(long)]
    split: Option<String>,
    /// Folder of the audio files (searched recursively, matched by file name).
    #[arg(long, conflicts_with = "wav_csv")]
    audio_dir: Option<PathBuf>,
    /// A wav.csv from `clap-tools scan`, matched by audio_id.
    #[arg(long)]
    wav_csv: Option<PathBuf>,
    /// Leave out clips whose audio is missing (default: keep them, with audio_path empty).
    #[arg(long)]
    drop_missing: bool,
    /// Fail (and write nothing) if any clip's audio is missing.
    #[arg(long, conflicts_with = "drop_missing")]
    require_audio: bool,
    /// Write the audio_ids of clips whose audio is missing to this file, one per line.
    #[arg(long)]
    missing_list: Option<PathBuf>,
}

pub fn run(source: Source) -> Result<()> {
    let (rows, input, common) = match source {
        Source::ClothoRetrieval { captions, relevance, audio_dir, dataset, output } => {
            if manifest::extension(&output) != "parquet" {
                anyhow::bail!("{}: the queries table is written as .parquet", output.display());
            }
            if audio_dir.is_some() && relevance.is_none() {
                warn!("--audio-dir checks the judged file names of --relevance; without it, it is not used");
            }
            let opts = clotho_retrieval::RetrievalImport { captions, relevance, audio_dir, dataset: Some(dataset) };
            let queries = clotho_retrieval::import(&opts)?;
            clap_tools::table::write_queries(&output, &queries)?;
            let judged: Vec<_> = queries.iter().filter_map(|q| q.relevant.as_ref()).collect();
            info!("{} queries → {}", queries.len(), output.display());
            if !judged.is_empty() {
                let total: usize = judged.iter().map(|r| r.len()).sum();
                info!(
                    "{} judged, {:.2} relevant clips per judged query",
                    judged.len(),
                    total as f64 / judged.len() as f64
                );
            }
            return Ok(());
        }
        Source::Clotho { captions, metadata, common } => {
            let rows = clotho::import(&clotho::ClothoImport {
                captions: captions.clone(),
                metadata,
                split: common.split.clone(),
            })?;
            (rows, captions[0].clone(), common)
        }
        Source::Audiocaps { csvs, audio_name, common } => {
            let rows = audiocaps::import(&audiocaps::AudioCapsImport {
                csvs: csvs.clone(),
                audio_name,
                split: common.split.clone(),
            })?;
            (rows, csvs[0].clone(), common)
        }
        Source::Macs { yaml, common } => {
            let rows = macs::import(&macs::MacsImport { yaml: yaml.clone(), split: common.split.clone() })?;
            (rows, yaml, common)
        }
        Source::Json { json, dataset, common } => {
            let rows = caption_json::import(&json, &caption_json::JsonImport { dataset, split: common.split.clone() })?;
            (rows, json, common)
        }
    };
    let audio = match (&common.audio_dir, &common.wav_csv) {
        (Some(d), _) => Some(AudioSource::Dir(d.clone())),
        (_, Some(w)) => Some(AudioSource::WavCsv(w.clone())),
        _ => None,
    };
    if audio.is_none() && (common.drop_missing || common.require_audio || common.missing_list.is_some()) {
        anyhow::bail!("--drop-missing, --require-audio and --missing-list need --audio-dir or --wav-csv");
    }
    let missing_audio = match (common.drop_missing, common.require_audio) {
        (true, _) => MissingAudio::Drop,
        (_, true) => MissingAudio::Fail,
        _ => MissingAudio::Keep,
    };
    // The table and the missing list are one set of outputs: both or neither.
    let report = clap_tools::atomic::as_set(|| {
        let report = manifest::finish_import(rows, audio.as_ref(), missing_audio, &input, &common.output)?;
        if let (Some(list), Some(j)) = (&common.missing_list, &report.join) {
            let mut text = j.missing.join("\n");
            text.push('\n');
            clap_tools::atomic::write_bytes(list, text.as_bytes())?;
        }
        Ok(report)
    })?;
    if let Some(j) = &report.join {
        if !j.missing.is_empty() {
            warn!(
                "{} of {} clips have no audio file{}, e.g. {:?}",
                j.missing.len(),
                j.clips,
                if common.drop_missing { " and were left out" } else { "" },
                &j.missing[..j.missing.len().min(5)]
            );
        }
    }
    info!("{} clips, {} captions → {}", report.clips, report.captions, common.output.display());
    Ok(())
}
