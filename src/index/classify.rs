//! Zero-shot labels: each label becomes captions from prompt templates ("This is a sound of
//! {label}."), their embeddings are averaged into the label's, and a clip's label probabilities are
//! the softmax of exp(logit_scale) × cosine over the labels, as CLAP models are used for zero-shot
//! classification. With labelled clips (a folder per label, or a CSV `file,label`), accuracy and a
//! confusion table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::extension;
use crate::model::checkpoint::Embedder;
use crate::model::tokenizer::CaptionTokenizer;
use clap_tools_backends::burn::tensor::backend::Backend;

/// The default prompt template.
pub const TEMPLATE: &str = "This is a sound of {label}.";

/// Labels given as one comma-separated list: trimmed, empty items dropped, a repeat is an error.
pub fn parse_labels(list: &str) -> Result<Vec<String>> {
    unique(list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(), "--labels")
}

/// Labels from a file, one per line (blank lines and lines starting with `#` skipped).
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let labels: Vec<String> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
    unique(labels, &path.display().to_string())
}

fn unique(labels: Vec<String>, from: &str) -> Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    for l in &labels {
        if !seen.insert(l.as_str()) {
            return Err(Error::config("labels", format!("{from}: label {l:?} is given twice")));
        }
    }
    if labels.len() < 2 {
        return Err(Error::config("labels", format!("{from}: give at least two labels ({} found)", labels.len())));
    }
    Ok(labels)
}

/// Check prompt templates: each names `{label}` once.
pub fn check_templates(templates: &[String]) -> Result<()> {
    for t in templates {
        if t.matches("{label}").count() != 1 {
            return Err(Error::config("template", format!("{t:?} must contain {{label}} exactly once")));
        }
    }
    if templates.is_empty() {
        return Err(Error::config("template", "give at least one template"));
    }
    Ok(())
}

/// One embedding per label ([labels, dim]): the mean of its templates' normalised caption
/// embeddings, normalised again.
pub fn label_embeddings<B: Backend>(
    model: &Embedder<B>,
    tokenizer: &CaptionTokenizer,
    labels: &[String],
    templates: &[String],
) -> Result<Vec<f32>> {
    check_templates(templates)?;
    let dim = model.dim();
    let mut out = vec![0f32; labels.len() * dim];
    for t in templates {
        let captions: Vec<String> = labels.iter().map(|l| t.replace("{label}", l)).collect();
        let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
        let e = model.text(tokenizer, &refs)?;
        out.iter_mut().zip(e).for_each(|(o, v)| *o += v);
    }
    for row in out.chunks_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt() + 1e-7;
        row.iter_mut().for_each(|v| *v /= norm);
    }
    Ok(out)
}

/// Label probabilities of each clip ([clips, labels]): softmax over labels of `scale` × cosine.
pub fn probabilities(audio: &[f32], labels: &[f32], dim: usize, scale: f32) -> Vec<f32> {
    let n_labels = labels.len() / dim;
    let mut out = Vec::with_capacity(audio.len() / dim * n_labels);
    for a in audio.chunks(dim) {
        let logits: Vec<f32> =
            labels.chunks(dim).map(|l| scale * a.iter().zip(l).map(|(x, y)| x * y).sum::<f32>()).collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = exp.iter().sum();
        out.extend(exp.iter().map(|e| e / sum));
    }
    out
}

/// A clip's labels, most probable first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Prediction {
    pub audio_id: String,
    /// The true label, when the clips are labelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truth: Option<String>,
    pub labels: Vec<(String, f32)>,
}

/// The `top` most probable labels of each clip.
pub fn predict(audio_ids: &[String], probs: &[f32], labels: &[String], top: usize) -> Vec<Prediction> {
    let n = labels.len();
    audio_ids
        .iter()
        .zip(probs.chunks(n))
        .map(|(id, p)| {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]).then(a.cmp(&b)));
            Prediction {
                audio_id: id.clone(),
                truth: None,
                labels: order.into_iter().take(top.max(1)).map(|i| (labels[i].clone(), p[i])).collect(),
            }
        })
        .collect()
}

/// Labelled clips: (audio file, label), from a folder with one subfolder per label (its audio files
/// below it, recursively) or a CSV with `file` and `label` columns (files relative to the CSV).
pub fn read_truth(path: &Path) -> Result<Vec<(PathBuf, String)>> {
    if path.is_dir() {
        let mut items = Vec::new();
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect();
        dirs.sort();
        for d in dirs {
            let label = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let opts = crate::manifest::scan::ScanOptions {
                recursive: true,
                id_from: crate::manifest::scan::IdFrom::Relative,
            };
            for (_, file) in crate::manifest::scan::list_audio(&d, &opts)?.files {
                items.push((file, label.clone()));
            }
        }
        if items.is_empty() {
            return Err(Error::file(path, "no audio files in subfolders (one subfolder per label)"));
        }
        return Ok(items);
    }
    if extension(path) != "csv" {
        return Err(Error::file(path, "labelled clips are a folder per label or a CSV with file,label columns"));
    }
    let t = crate::manifest::text::Delimited::read_utf8(path, b',')?;
    let [file, label] = t.require(path, ["file", "label"])?;
    let mut items = Vec::new();
    for (line, r) in &t.records {
        let (f, l) = (r[file].trim(), r[label].trim());
        if f.is_empty() || l.is_empty() {
            return Err(Error::line(path, *line, "empty file or label"));
        }
        items.push((crate::paths::resolve(path, Path::new(f)), l.to_string()));
    }
    if items.is_empty() {
        return Err(Error::file(path, "no labelled clips"));
    }
    Ok(items)
}

/// Accuracy of top-1 predictions against the truth, and the confusion counts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Confusion {
    pub labels: Vec<String>,
    /// counts[true][predicted].
    pub counts: Vec<Vec<usize>>,
    pub clips: usize,
    /// Top-1 accuracy in percent.
    pub accuracy: f64,
    /// Percent of clips whose true label is among their `top` predictions.
    pub top_k_accuracy: f64,
    pub top: usize,
}

/// Score `predictions` (each with its truth set) over `labels`. A true label outside `labels` is an
/// error naming the clip.
pub fn confusion(predictions: &[Prediction], labels: &[String]) -> Result<Confusion> {
    let index: HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let mut counts = vec![vec![0usize; labels.len()]; labels.len()];
    let (mut right, mut in_top) = (0usize, 0usize);
    let top = predictions.first().map_or(1, |p| p.labels.len());
    for p in predictions {
        let truth = p.truth.as_deref().unwrap_or_default();
        let &t = index.get(truth).ok_or_else(|| {
            Error::config(
                "labels",
                format!("clip {:?} is labelled {truth:?}, which is not among the labels", p.audio_id),
            )
        })?;
        let Some((best, _)) = p.labels.first() else { continue };
        let b = index[best.as_str()];
        counts[t][b] += 1;
        right += (t == b) as usize;
        in_top += p.labels.iter().any(|(l, _)| l == truth) as usize;
    }
    let n = predictions.len().max(1) as f64;
    Ok(Confusion {
        labels: labels.to_vec(),
        counts,
        clips: predictions.len(),
        accuracy: 100.0 * right as f64 / n,
        top_k_accuracy: 100.0 * in_top as f64 / n,
        top,
    })
}

/// The confusion table as text: rows are true labels, columns predicted (numbered as the rows), then
/// each label's recall.
pub fn render(c: &Confusion) -> String {
    const HEAD: &str = "true \\ predicted";
    let w = c.labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(HEAD.len());
    let mut s = format!("{:>3} {HEAD:<w$} ", "");
    for i in 0..c.labels.len() {
        s += &format!("{:>5}", i + 1);
    }
    s += "  recall\n";
    for (i, (l, row)) in c.labels.iter().zip(&c.counts).enumerate() {
        s += &format!("{:>3} {l:<w$} ", i + 1);
        for v in row {
            s += &format!("{v:>5}");
        }
        let total: usize = row.iter().sum();
        s += &match total {
            0 => "       –\n".to_string(),
            t => format!("  {:5.1}%\n", 100.0 * row[i] as f64 / t as f64),
        };
    }
    s
}

/// Audio files and folders as (audio_id, file): a file by its name, a folder's files (recursively)
/// by their paths below it.
pub fn audio_files(paths: &[PathBuf]) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let opts = crate::manifest::scan::ScanOptions {
                recursive: true,
                id_from: crate::manifest::scan::IdFrom::Relative,
            };
            out.extend(crate::manifest::scan::list_audio(p, &opts)?.files);
        } else if p.is_file() {
            out.push((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), p.clone()));
        } else {
            return Err(Error::file(p, "no such file or folder"));
        }
    }
    Ok(out)
}

/// Embed audio files one at a time (each clip its own embedding), decoding in parallel. Returns
/// which of `files` were embedded, their embeddings ([embedded, dim]) and the files that failed.
pub fn embed_files<B: Backend>(
    model: &Embedder<B>,
    files: &[(String, PathBuf)],
    progress: &dyn crate::progress::Progress,
) -> Result<(Vec<usize>, Vec<f32>, Vec<crate::embed::Skipped>)> {
    use rayon::prelude::*;
    let rate = model.config.sample_rate;
    progress.start(files.len() as u64);
    let (mut done, mut data, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for (c, chunk) in files.chunks(8).enumerate() {
        let waves: Vec<Result<Vec<f32>>> = chunk.par_iter().map(|(_, f)| crate::embed::decode_file(f, rate)).collect();
        for (j, ((id, _), w)) in chunk.iter().zip(waves).enumerate() {
            match w {
                Ok(w) if !w.is_empty() => {
                    data.extend(model.audio(&[&w])?);
                    done.push(c * 8 + j);
                }
                Ok(_) => skipped.push(crate::embed::Skipped { audio_id: id.clone(), reason: "empty waveform".into() }),
                Err(e) => skipped.push(crate::embed::Skipped { audio_id: id.clone(), reason: e.to_string() }),
            }
            progress.advance(1);
        }
    }
    Ok((done, data, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_templates_and_scores() {
        assert_eq!(parse_labels(" dog barking, rain ,,").unwrap(), ["dog barking", "rain"]);
        assert!(parse_labels("rain, rain").unwrap_err().to_string().contains("given twice"));
        assert!(parse_labels("rain").unwrap_err().to_string().contains("at least two"));
        assert!(check_templates(&["no slot".into()]).is_err());
        assert!(check_templates(&["{label} and {label}".into()]).is_err());
        // Two labels along the axes; a clip near the first.
        let probs = probabilities(&[0.9, 0.1], &[1.0, 0.0, 0.0, 1.0], 2, 10.0);
        assert!((probs[0] - 1.0 / (1.0 + (-8.0f32).exp())).abs() < 1e-6 && (probs[0] + probs[1] - 1.0).abs() < 1e-6);
        let labels = ["a".to_string(), "b".to_string()];
        let mut p = predict(&["x".into(), "y".into()], &[0.8, 0.2, 0.3, 0.7], &labels, 2);
        assert_eq!(p[0].labels[0].0, "a");
        p[0].truth = Some("a".into());
        p[1].truth = Some("a".into());
        let c = confusion(&p, &labels).unwrap();
        assert_eq!(c.counts, [[1, 1], [0, 0]]);
        assert_eq!((c.accuracy, c.top_k_accuracy), (50.0, 100.0));
        p[1].truth = Some("z".into());
        assert!(confusion(&p, &labels).unwrap_err().to_string().contains("\"y\""));
    }
}
