//! Several training runs side by side (`clap-tools runs`): what differs in their configs, their best
//! validation, their speed, and their loss and validation curves drawn on one figure.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// What a run folder's `config.json` and `log.jsonl` say.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub dir: PathBuf,
    /// A short name: the folder's name.
    pub name: String,
    /// The last iteration logged.
    pub iterations: u64,
    pub best_iteration: Option<u64>,
    /// The metrics of the best validation (t2a geometric mean of R1-R5-R10, the trainer's criterion).
    pub best: Option<Value>,
    /// Median samples/s over the logged iterations.
    pub samples_per_s: Option<f64>,
    /// (iteration, loss), as logged (a resumed run's repeated iterations: the last session's).
    pub loss: Vec<(u64, f64)>,
    /// (iteration, t2a R@1) of each validation.
    pub val_r1: Vec<(u64, f64)>,
    #[serde(skip)]
    config: Value,
}

/// Read one run folder. A bad log line is an error naming its line.
pub fn read_run(dir: &Path) -> Result<RunSummary> {
    let config_path = dir.join("config.json");
    let log_path = dir.join("log.jsonl");
    if !config_path.is_file() || !log_path.is_file() {
        return Err(Error::file(dir, "not a run folder (config.json and log.jsonl, as `train` writes them)"));
    }
    let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let config: Value = serde_json::from_str(&text).map_err(|e| Error::file(&config_path, e.to_string()))?;
    let log = std::fs::read_to_string(&log_path).map_err(|e| Error::io(&log_path, e))?;
    // Keyed by iteration, so a resumed session's lines replace the ones it repeats.
    let mut loss = std::collections::BTreeMap::new();
    let mut val = std::collections::BTreeMap::new();
    let mut rates = Vec::new();
    let (mut best_iteration, mut best) = (None, None);
    for (i, line) in log.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| Error::line(&log_path, i as u64 + 1, e.to_string()))?;
        let Some(it) = v.get("iteration").and_then(Value::as_u64) else {
            return Err(Error::line(&log_path, i as u64 + 1, "no iteration"));
        };
        if let Some(l) = v.get("loss").and_then(Value::as_f64) {
            loss.insert(it, l);
            if let Some(r) = v.get("samples_per_s").and_then(Value::as_f64) {
                rates.push(r);
            }
        }
        if let Some(m) = v.get("val") {
            if let Some(r1) = m.pointer("/t2a/R1").and_then(Value::as_f64) {
                val.insert(it, r1);
            }
            if v.get("best").and_then(Value::as_bool) == Some(true) {
                best_iteration = Some(it);
                best = Some(m.clone());
            }
        }
    }
    rates.sort_by(f64::total_cmp);
    let name = dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        name,
        iterations: loss.keys().chain(val.keys()).copied().max().unwrap_or(0),
        best_iteration,
        best,
        samples_per_s: rates.get(rates.len() / 2).copied(),
        loss: loss.into_iter().collect(),
        val_r1: val.into_iter().collect(),
        config,
    })
}

/// The config keys (dotted) whose values differ between the runs, with each run's value.
pub fn config_differences(runs: &[RunSummary]) -> Vec<(String, Vec<String>)> {
    let flat: Vec<std::collections::BTreeMap<String, String>> = runs
        .iter()
        .map(|r| {
            let mut out = std::collections::BTreeMap::new();
            flatten("", &r.config, &mut out);
            out
        })
        .collect();
    let keys: std::collections::BTreeSet<&String> = flat.iter().flat_map(|f| f.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let values: Vec<String> = flat.iter().map(|f| f.get(k).cloned().unwrap_or_else(|| "-".into())).collect();
            values.iter().any(|v| v != &values[0]).then(|| (k.clone(), values))
        })
        .collect()
}

fn flatten(prefix: &str, v: &Value, out: &mut std::collections::BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// Which curve of a run a panel draws.
type Curve = fn(&RunSummary) -> &Vec<(u64, f64)>;

/// The embedded font the plots' text is drawn with (DejaVu Sans, Bitstream Vera licence:
/// assets/fonts/LICENSE-DejaVu.txt), so a PNG needs no fonts installed.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Draw the runs' training loss and validation t2a R@1 against the iteration, one colour per run, on
/// one figure: SVG or PNG by `out`'s extension. Written atomically.
pub fn plot(runs: &[RunSummary], out: &Path) -> Result<()> {
    use plotters::prelude::*;
    let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let (w, h) = (1200u32, 500u32);
    let fail = |e: &dyn std::fmt::Display| Error::file(out, format!("cannot draw the plot: {e}"));
    // Registering twice is harmless; the font is parsed once per call.
    plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).map_err(|_| fail(&"bad embedded font"))?;
    fn draw<DB: DrawingBackend>(
        root: DrawingArea<DB, plotters::coord::Shift>,
        runs: &[RunSummary],
    ) -> std::result::Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let panels = root.split_evenly((1, 2));
        let series: [(&str, Curve); 2] = [("training loss", |r| &r.loss), ("validation t2a R@1 (%)", |r| &r.val_r1)];
        for (panel, (title, pick)) in panels.iter().zip(series) {
            let points = runs.iter().flat_map(|r| pick(r).iter());
            let (mut x1, mut y0, mut y1) = (1u64, f64::INFINITY, f64::NEG_INFINITY);
            for &(x, y) in points.filter(|p| p.1.is_finite()) {
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
            if !y0.is_finite() {
                (y0, y1) = (0.0, 1.0);
            }
            let pad = ((y1 - y0) * 0.05).max(1e-6);
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0u64..x1, (y0 - pad)..(y1 + pad))
                .map_err(|x| e(&x))?;
            chart.configure_mesh().x_desc("iteration").label_style(("sans-serif", 14)).draw().map_err(|x| e(&x))?;
            for (i, r) in runs.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let data: Vec<(u64, f64)> = pick(r).iter().copied().filter(|p| p.1.is_finite()).collect();
                chart
                    .draw_series(LineSeries::new(data, color.stroke_width(2)))
                    .map_err(|x| e(&x))?
                    .label(r.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .draw()
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))
    }
    match ext.as_deref() {
        Some("svg") => {
            let mut text = String::new();
            draw(SVGBackend::with_string(&mut text, (w, h)).into_drawing_area(), runs).map_err(|m| fail(&m))?;
            crate::atomic::write_bytes(out, text.as_bytes())
        }
        Some("png") => {
            let mut rgb = vec![0u8; (w * h * 3) as usize];
            draw(BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(), runs).map_err(|m| fail(&m))?;
            let mut bytes = Vec::new();
            let mut enc = png::Encoder::new(&mut bytes, w, h);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(|e| fail(&e))?;
            writer.write_image_data(&rgb).map_err(|e| fail(&e))?;
            writer.finish().map_err(|e| fail(&e))?;
            crate::atomic::write_bytes(out, &bytes)
        }
        _ => Err(Error::file(out, "the plot is written as .svg or .png: give one of those extensions")),
    }
}
