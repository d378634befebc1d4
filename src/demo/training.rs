//! The demo's model steps: a text encoder folder over the demo captions, a config written beside the
//! data (paths relative to it), training, evaluation of the best checkpoint on the held-out clips, and
//! a few text searches.

use std::path::{Path, PathBuf};

use super::pipeline::DemoOutputs;
use crate::error::{Error, Result};

/// Settings of the demo's training run: the small CNN and the small text encoder, trained from scratch on
/// the CPU.
#[derive(Debug, Clone)]
pub struct DemoTrainOptions {
    pub iterations: u64,
    pub batch_size: usize,
    pub val_interval: u64,
    pub crop_seconds: f64,
    /// Widths of the small CNN's blocks, and its clip vector.
    pub audio_channels: Vec<usize>,
    pub audio_dim: usize,
    /// Width of the small text encoder (and of the BERT config written beside the vocabulary).
    pub hidden: usize,
    pub shared_dim: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for DemoTrainOptions {
    fn default() -> Self {
        Self {
            iterations: 300,
            batch_size: 32,
            val_interval: 100,
            crop_seconds: 1.5,
            audio_channels: vec![16, 32, 64, 128],
            audio_dim: 128,
            hidden: 64,
            shared_dim: 64,
            lr: 2e-3,
            seed: 1,
        }
    }
}

/// Write a text encoder folder for the demo: a WordPiece vocabulary of every word of the captions
/// (so nothing is [UNK]) and a small BERT config.json (random weights: it is trained from scratch).
pub fn write_text_encoder(dir: &Path, captions: &[String], hidden: usize) -> Result<usize> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut words = std::collections::BTreeSet::new();
    for c in captions {
        let lower = c.to_lowercase();
        let mut word = String::new();
        for ch in lower.chars() {
            if ch.is_alphanumeric() {
                word.push(ch);
            } else {
                if !word.is_empty() {
                    words.insert(std::mem::take(&mut word));
                }
                if !ch.is_whitespace() {
                    words.insert(ch.to_string());
                }
            }
        }
        if !word.is_empty() {
            words.insert(word);
        }
    }
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].iter().map(|s| s.to_string()).collect();
    vocab.extend(words);
    crate::atomic::write_bytes(&dir.join("vocab.txt"), (vocab.join("\n") + "\n").as_bytes())?;
    let config = crate::model::bert::BertConfig::new(vocab.len(), hidden, 2, 4, hidden * 2, 64);
    crate::atomic::write_bytes(&dir.join("config.json"), config.to_json()?.as_bytes())?;
    Ok(vocab.len())
}

/// The training config of the demo, with paths into its output folder.
pub fn train_config(out: &Path, data: &DemoOutputs, o: &DemoTrainOptions) -> crate::train::config::TrainConfig {
    use crate::train::config::*;
    let waveforms = data.packed.index_csv.with_file_name("waveforms.parquet");
    TrainConfig {
        data: DataConfig {
            train_captions: vec![data.train.clone()],
            train_waveforms: waveforms.clone(),
            val_captions: vec![data.val.clone()],
            val_waveforms: waveforms,
            sample_rate: data.sample_rate,
            crop_seconds: o.crop_seconds,
        },
        model: ModelConfig {
            audio: AudioSection::SmallCnn(crate::model::small_cnn::SmallCnnSettings {
                channels: Some(o.audio_channels.clone()),
                dim: Some(o.audio_dim),
            }),
            text: TextSection::Small(crate::model::small_text::SmallTextSettings {
                dir: out.join("text_encoder"),
                dim: Some(o.hidden),
            }),
            shared_dim: o.shared_dim,
            max_tokens: 30,
            specaugment: false,
            init: None,
            freeze: Vec::new(),
        },
        optimizer: OptimizerConfig { lr: o.lr, grad_clip_norm: Some(5.0), ..Default::default() },
        schedule: ScheduleConfig { warmup_iterations: (o.iterations / 10).max(1), total_iterations: o.iterations },
        train: LoopConfig {
            batch_size: o.batch_size,
            val_interval: o.val_interval,
            val_batch_size: 16,
            padded_val_batches: false,
            seed: o.seed,
            workers: 2,
            // The demo is small: one device, the same run on any build.
            devices: Some(1),
            tensorboard: true,
        },
        checkpoint: CheckpointConfig { dir: out.join("run"), every: o.val_interval, keep: 1 },
    }
}

/// Write the index's clips with the kind of sound each is (`file,label`, files relative to the CSV),
/// as labelled data for `classify --truth`.
fn write_labels(path: &Path, index: &crate::index::Index, data: &DemoOutputs) -> Result<PathBuf> {
    let kinds: std::collections::HashMap<&str, String> =
        data.corpus.clips.iter().map(|c| (c.file_name.as_str(), c.kind.label())).collect();
    crate::atomic::write_file(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        let err = |e: csv::Error| Error::file(path, e.to_string());
        csv.write_record(["file", "label"]).map_err(err)?;
        for c in &index.clips {
            let (Some(file), Some(kind)) = (&c.source_file, kinds.get(c.audio_id.as_str())) else { continue };
            let rel = crate::paths::relative_to(path, Path::new(file));
            csv.write_record([rel.to_string_lossy().as_ref(), kind.as_str()]).map_err(err)?;
        }
        csv.flush().map_err(|e| Error::io(path, e))
    })?;
    Ok(path.to_path_buf())
}

/// The demo's searches of its index.
pub const SEARCHES: [&str; 4] =
    ["a low rumble", "a tone rising in pitch", "rapid clicks", "harsh white noise followed by slow clicks"];

/// A text query against the held-out clips and its best matches (audio_id, cosine, the clip's kind).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Search {
    pub query: String,
    pub hits: Vec<(String, f32, String)>,
}

/// What the demo's training produced.
#[derive(Debug, Clone)]
pub struct DemoTrained {
    pub config: PathBuf,
    pub summary: crate::train::trainer::Summary,
    /// Held-out metrics of the best checkpoint.
    pub metrics: crate::eval::Metrics,
    /// t2a R@1 of a random ranking, in percent.
    pub chance_r1: f64,
    /// The search index of the held-out clips.
    pub index: PathBuf,
    /// The held-out clips labelled by the kind of their sound (`file,label`), for `classify --truth`.
    pub labels: PathBuf,
    pub searches: Vec<Search>,
}

/// The demo's model steps: write the text encoder folder and the config (OUT/demo.toml), train,
/// evaluate the best checkpoint on the held-out clips, and search them with a few queries.
pub fn train_and_search(
    out: &Path,
    data: &DemoOutputs,
    o: &DemoTrainOptions,
    on: impl FnMut(crate::train::trainer::Event),
) -> Result<DemoTrained> {
    use crate::eval::{evaluate_loaded, EvalOptions};
    use crate::model::checkpoint::{Embedder, ModelSource};
    use crate::train::{config::TrainConfig, trainer};
    let captions: Vec<String> = data.corpus.clips.iter().flat_map(|c| c.captions.iter().cloned()).collect();
    write_text_encoder(&out.join("text_encoder"), &captions, o.hidden)?;
    let config_path = out.join("demo.toml");
    // Paths relative to demo.toml, so the demo folder works from any working directory and when moved.
    let cfg = train_config(out, data, o).relative_to(&config_path);
    let text = toml::to_string(&cfg).map_err(|e| Error::Internal(format!("demo config: {e}")))?;
    crate::atomic::write_bytes(&config_path, text.as_bytes())?;
    // Train from the file, as a user's run would.
    let cfg = TrainConfig::from_file(&config_path)?;
    let summary = trainer::train(&cfg, &trainer::TrainOptions::default(), on)?;

    let best = summary.run_dir.join("best");
    let source = ModelSource {
        checkpoint: best.clone(),
        text_encoder: None,
        sample_rate: cfg.data.sample_rate,
        audio_encoder: None,
    };
    let opts = EvalOptions {
        captions: cfg.data.val_captions.clone(),
        waveforms: cfg.data.val_waveforms.clone(),
        captions_per_clip: None,
        batch_size: 16,
        batching: Default::default(),
        relevance: None,
    };
    // One model and one held-out set for the evaluation and the searches.
    let model = Embedder::<clap_tools_backends::Selected>::load(&source, clap_tools_backends::default_device())?;
    let tokenizer = crate::model::tokenizer::CaptionTokenizer::from_dir(&best, model.config.max_tokens)?;
    let eval = evaluate_loaded(&model, &tokenizer, &opts, &crate::progress::Silent)?;
    let chance_r1 = 100.0 / eval.set.audio_ids.len() as f64;

    // The held-out clips as a search index (with their captions and datasets), searched as a user
    // would with `index build` and `search`.
    let identity = crate::index::ModelIdentity::of(&source, &model)?;
    let index_dir = out.join("index");
    if index_dir.exists() {
        std::fs::remove_dir_all(&index_dir).map_err(|e| Error::io(&index_dir, e))?;
    }
    let mut build = crate::index::BuildOptions::new(
        index_dir.clone(),
        crate::index::BuildMode::Build,
        crate::index::Source::Clips(cfg.data.val_captions.clone()),
    );
    build.waveforms = Some(cfg.data.val_waveforms.clone());
    crate::index::build(Some((&model, &identity)), &build, &crate::progress::Silent)?;
    let index = crate::index::Index::open(&index_dir)?;
    let labels = write_labels(&out.join("val_labels.csv"), &index, data)?;
    let kinds: std::collections::HashMap<&str, String> =
        data.corpus.clips.iter().map(|c| (c.file_name.as_str(), c.kind.label())).collect();
    let queries = SEARCHES.map(|q| crate::index::query::Query::Text(q.to_string()));
    let qm = crate::index::query::QueryModel { model: &model, tokenizer: Some(&tokenizer) };
    let matrix = crate::index::query::embed(&qm, &queries, 16)?;
    let found = crate::index::query::search(&index, SEARCHES.map(String::from).to_vec(), &matrix, 3)?;
    let searches = found
        .into_iter()
        .map(|r| Search {
            query: r.query,
            hits: r
                .hits
                .into_iter()
                .map(|h| {
                    let kind = kinds.get(h.audio_id.as_str()).cloned().unwrap_or_default();
                    (h.audio_id, h.score, kind)
                })
                .collect(),
        })
        .collect();
    Ok(DemoTrained {
        config: config_path,
        summary,
        metrics: eval.evaluation.metrics,
        chance_r1,
        index: index_dir,
        labels,
        searches,
    })
}
