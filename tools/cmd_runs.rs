//! `clap-tools runs`: training runs side by side, and their curves on one figure.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::train::runs::{config_differences, plot, read_run};

/// Compare training runs: the config keys that differ between them, each run's iterations, best
/// validation (iteration, t2a R@1/R@10, a2t R@1, mAP@10, by the trainer's criterion) and median
/// samples/s. --plot draws the training loss and the validation t2a R@1 of every run against the
/// iteration on one figure (.svg or .png).
#[derive(clap::Args)]
pub struct Args {
    /// Run folders (as `train` writes them: config.json, log.jsonl).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Draw the curves into this file (.svg or .png).
    #[arg(long, value_name = "OUT")]
    plot: Option<PathBuf>,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let runs = a.runs.iter().map(|r| read_run(r)).collect::<clap_tools::Result<Vec<_>>>()?;
    let diff = config_differences(&runs);
    if let Some(out) = &a.plot {
        plot(&runs, out)?;
        tracing::info!("curves of {} runs drawn into {}", runs.len(), out.display());
    }
    if a.json {
        let diff: serde_json::Map<String, serde_json::Value> =
            diff.into_iter().map(|(k, v)| (k, serde_json::json!(v))).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "runs": runs, "config_differences": diff }))?);
        return Ok(());
    }
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
    let metric = |r: &clap_tools::train::runs::RunSummary, p: &str| {
        f(r.best.as_ref().and_then(|b| b.pointer(p)).and_then(|v| v.as_f64()))
    };
    println!(
        "{:<24} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10}",
        "run", "iterations", "best at", "t2a R@1", "t2a R@10", "a2t R@1", "mAP@10", "samples/s"
    );
    for r in &runs {
        println!(
            "{:<24} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>10}",
            r.name,
            r.iterations,
            r.best_iteration.map_or("-".into(), |i| i.to_string()),
            metric(r, "/t2a/R1"),
            metric(r, "/t2a/R10"),
            metric(r, "/a2t/R1"),
            metric(r, "/mAP@10"),
            f(r.samples_per_s)
        );
    }
    if diff.is_empty() {
        println!("\nthe configs are the same");
    } else {
        println!("\nconfig differences:");
        for (k, values) in diff {
            println!("  {k}: {}", values.join(" | "));
        }
    }
    Ok(())
}
