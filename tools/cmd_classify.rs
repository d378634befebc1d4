//! `clap-tools classify`: zero-shot labels for clips, and accuracy on labelled clips.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap_tools::index::classify::{self, Prediction};
use clap_tools::index::Index;
use tracing::warn;

/// Zero-shot classification with a CLAP model.
///
/// Each label becomes captions through the prompt templates (default "This is a sound of
/// {label}."); their embeddings are averaged into the label's. A clip's label probabilities are the
/// softmax over the labels of the model's exp(logit_scale) × cosine similarity. Prints each clip's
/// top labels; with --truth (labelled clips), the accuracy and a confusion table.
#[derive(clap::Args)]
pub struct Args {
    /// Audio files and folders to label (folders searched recursively).
    audio: Vec<PathBuf>,
    /// The labels, comma-separated: "dog barking,rain,siren".
    #[arg(long, group = "label_source")]
    labels: Option<String>,
    /// A file of labels, one per line (# comments).
    #[arg(long, value_name = "FILE", group = "label_source")]
    labels_file: Option<PathBuf>,
    /// A prompt template with {label} (repeatable: the labels' embeddings average over them).
    #[arg(long, default_value = classify::TEMPLATE)]
    template: Vec<String>,
    /// Labels shown per clip (and the k of the top-k accuracy).
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Labelled clips: a folder with one subfolder per label, or a CSV with file,label columns
    /// (files relative to the CSV). Without --labels, the labels are the truth's.
    #[arg(long, value_name = "DIR|CSV")]
    truth: Option<PathBuf>,
    /// Label the clips of an index from their stored embeddings (no audio is decoded); the model is
    /// the index's. With --truth, labelled files the index holds use their stored embeddings.
    #[arg(long, value_name = "INDEX")]
    index: Option<PathBuf>,
    /// Print JSON: {"predictions": [{"audio_id", "truth"?, "labels": [[label, p], …]}], "confusion"?}.
    #[arg(long)]
    json: bool,
    /// A clap-tools checkpoint folder or a reference .pth (with --text-encoder); with --index, the
    /// index's own model by default.
    #[command(flatten)]
    model: crate::model_args::IndexModel,
    /// Front-end sample rate of a reference checkpoint.
    #[arg(long, default_value_t = 32000)]
    sample_rate: u32,
}

pub fn run(a: Args) -> Result<()> {
    let truth = a.truth.as_deref().map(classify::read_truth).transpose()?;
    let labels = match (&a.labels, &a.labels_file, &truth) {
        (Some(l), _, _) => classify::parse_labels(l)?,
        (_, Some(f), _) => classify::read_labels(f)?,
        (None, None, Some(t)) => {
            let mut l: Vec<String> = t.iter().map(|(_, l)| l.clone()).collect();
            l.sort();
            l.dedup();
            l
        }
        _ => bail!("give --labels, --labels-file or --truth"),
    };
    classify::check_templates(&a.template)?;
    let index = a.index.as_deref().map(Index::open).transpose()?;
    let source = match (&index, a.model.named(a.sample_rate)) {
        (Some(ix), _) => a.model.for_index(ix)?,
        (None, Some(s)) => s,
        (None, None) => bail!("give --checkpoint (or --index, whose model is used)"),
    };
    let (model, tokenizer) = crate::model_args::load_with_tokenizer(&source)?;
    let label_emb = classify::label_embeddings(&model, &tokenizer, &labels, &a.template)?;

    // The clips: labelled files (their stored embeddings where an index holds them), an index's
    // clips, or files.
    if let Some(ix) = &index {
        if ix.dim() != model.dim() {
            bail!("the model embeds in {} dims but the index holds {}", model.dim(), ix.dim());
        }
    }
    if !a.audio.is_empty() && (truth.is_some() || index.is_some()) {
        bail!("give audio files, or --truth and/or --index, not both");
    }
    let dim = model.dim();
    let (ids, truths, audio, skipped) = match (&truth, &index) {
        (None, Some(ix)) => {
            let ids: Vec<String> = ix.clips.iter().map(|c| c.audio_id.clone()).collect();
            (ids, None, ix.embeddings_f32(), Vec::new())
        }
        (Some(t), _) => {
            // Rows of the index by their source file, to reuse its embeddings.
            let stored: HashMap<PathBuf, usize> = index
                .as_ref()
                .map(|ix| {
                    ix.clips
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| c.source_file.as_ref().map(|f| (canonical(Path::new(f)), i)))
                        .collect()
                })
                .unwrap_or_default();
            let all = index.as_ref().map(|ix| ix.embeddings_f32()).unwrap_or_default();
            let rows: Vec<Option<usize>> = t.iter().map(|(f, _)| stored.get(&canonical(f)).copied()).collect();
            let to_embed: Vec<(String, PathBuf)> = t
                .iter()
                .zip(&rows)
                .filter(|(_, r)| r.is_none())
                .map(|((f, _), _)| (f.display().to_string(), f.clone()))
                .collect();
            let bar = crate::progress(0, "clips");
            let (done, data, skipped) = classify::embed_files(&model, &to_embed, &bar)?;
            bar.finish_and_clear();
            let embedded: HashMap<&str, &[f32]> =
                done.iter().zip(data.chunks(dim)).map(|(&i, e)| (to_embed[i].0.as_str(), e)).collect();
            let (mut ids, mut truths, mut audio) = (Vec::new(), Vec::new(), Vec::new());
            for ((f, label), row) in t.iter().zip(rows) {
                let name = f.display().to_string();
                let e = match row {
                    Some(r) => &all[r * dim..(r + 1) * dim],
                    None => match embedded.get(name.as_str()) {
                        Some(e) => *e,
                        None => continue, // skipped: reported below
                    },
                };
                ids.push(name);
                truths.push(label.clone());
                audio.extend_from_slice(e);
            }
            (ids, Some(truths), audio, skipped)
        }
        (None, None) => {
            if a.audio.is_empty() {
                bail!("give audio files or folders to label (or --truth, or --index)");
            }
            let files = classify::audio_files(&a.audio)?;
            let bar = crate::progress(0, "clips");
            let (done, data, skipped) = classify::embed_files(&model, &files, &bar)?;
            bar.finish_and_clear();
            (done.iter().map(|&i| files[i].0.clone()).collect(), None, data, skipped)
        }
    };
    for s in &skipped {
        warn!("skipped {:?}: {}", s.audio_id, s.reason);
    }
    let probs = classify::probabilities(&audio, &label_emb, model.dim(), model.model.temperature_scale());
    let mut predictions: Vec<Prediction> = classify::predict(&ids, &probs, &labels, a.top);
    if let Some(t) = &truths {
        for (p, t) in predictions.iter_mut().zip(t) {
            p.truth = Some(t.clone());
        }
    }
    let confusion = truths.is_some().then(|| classify::confusion(&predictions, &labels)).transpose()?;
    if a.json {
        let v = serde_json::json!({ "labels": labels, "predictions": predictions, "confusion": confusion });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for p in &predictions {
            let shown: Vec<String> = p.labels.iter().map(|(l, pr)| format!("{l} {:.1}%", 100.0 * pr)).collect();
            match &p.truth {
                Some(t) => println!("{}  [{t}]  {}", p.audio_id, shown.join(", ")),
                None => println!("{}  {}", p.audio_id, shown.join(", ")),
            }
        }
        if let Some(c) = &confusion {
            println!();
            println!("accuracy {:.1}% (top-{} {:.1}%) over {} clips", c.accuracy, c.top, c.top_k_accuracy, c.clips);
            print!("{}", classify::render(c));
        }
    }
    if !skipped.is_empty() {
        eprintln!("{} clips could not be read (listed above)", skipped.len());
        std::process::exit(crate::exit_code(clap_tools::progress::Outcome::of(ids.len(), skipped.len())));
    }
    Ok(())
}

/// A path made canonical where it exists (so two spellings of one file match).
fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}
