//! `clap-tools demo`: the whole data path on a synthesised corpus.

use std::path::PathBuf;

use anyhow::Result;
use clap_tools::demo;
use clap_tools::train::trainer::Event;

/// Run the toolkit end to end on a synthesised corpus, on the CPU in a few minutes.
///
/// The corpus: tones of several pitches, sweeps up and down, white/pink/brown noise, slow and fast
/// clicks, and sequences of two, each clip with several templated captions, written as Clotho CSVs,
/// an AudioCaps CSV and a MACS YAML. Then the real path: scan → import → concat → export → split →
/// inspect → pack (32 kHz HDF5 shards) → train a small CLAP model (small CNN + small text encoder, from
/// scratch; config in OUT/demo.toml, run in OUT/run) → evaluate the best checkpoint on the held-out
/// clips → search them with a few text queries. The summary compares held-out t2a R@1 with chance.
#[derive(clap::Args)]
pub struct Args {
    /// Working folder (audio, native files and tables are written here).
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Number of clips to synthesise.
    #[arg(long, default_value_t = 300)]
    clips: usize,
    /// Seed of the corpus and of the split.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Replace OUT even if it is not an earlier demo output (an earlier demo output is replaced without
    /// it, and the demo says so).
    #[arg(long)]
    force: bool,
    /// Training iterations.
    #[arg(long, default_value_t = 300)]
    iterations: u64,
    /// Stop after the data steps (no training).
    #[arg(long)]
    no_train: bool,
}

pub fn run(a: Args) -> Result<()> {
    if a.clips < 10 {
        anyhow::bail!("--clips {}: the demo needs at least 10 clips", a.clips);
    }
    match demo::prepare_out(&a.out, a.force) {
        Ok(demo::Prepared::New) => {}
        Ok(demo::Prepared::Replaced { entries, earlier_demo }) => eprintln!(
            "• replacing {} {} ({entries} entries removed)",
            if earlier_demo { "the earlier demo output in" } else { "the contents of" },
            a.out.display()
        ),
        Err(e @ clap_tools::Error::File { .. }) if a.out.is_dir() => {
            anyhow::bail!("{e}; choose another --out, or pass --force to replace its contents")
        }
        Err(e) => return Err(e.into()),
    }
    let opts = demo::DemoOptions {
        out: a.out.clone(),
        corpus: demo::CorpusOptions { clips: a.clips, seed: a.seed, ..Default::default() },
        val_fraction: 0.2,
        pack_rate: 32000,
    };
    let outputs = demo::run(&opts, &mut |line| eprintln!("• {line}"))?;
    println!("{}", clap_tools::inspect::render(&outputs.report));
    println!("tables: {}", outputs.captions.parent().map(|p| p.display().to_string()).unwrap_or_default());
    println!("  captions  {}", outputs.captions.display());
    println!("  JSON      {}", outputs.caption_json.display());
    println!("  clips     {}", outputs.clips_table.display());
    println!("  wav.csv   {}", outputs.wav_csv.display());
    println!(
        "  train/val {} / {} ({} / {} clips)",
        outputs.train.display(),
        outputs.val.display(),
        outputs.split.0,
        outputs.split.1
    );
    println!("  packed    {} ({} clips)", outputs.packed.index_csv.display(), outputs.packed.packed);
    if a.no_train {
        return Ok(());
    }
    let o = demo::DemoTrainOptions {
        iterations: a.iterations.max(1),
        val_interval: (a.iterations / 3).max(1),
        seed: a.seed,
        ..Default::default()
    };
    eprintln!(
        "• training a small CLAP model for {} iterations (backend: {})",
        o.iterations,
        clap_tools::backend_name()
    );
    let bar = crate::progress(o.iterations, "iterations");
    let trained = demo::train_and_search(&a.out, &outputs, &o, |e| match e {
        Event::Step { iteration, loss, samples_per_second, .. } => {
            bar.set_position(iteration);
            bar.set_message(format!("loss {loss:.3} {samples_per_second:.1} clips/s"));
        }
        Event::Validated { iteration, metrics, best } => bar.suspend(|| {
            eprintln!(
                "• iteration {iteration}: held-out t2a R@1 {:.1} R@5 {:.1} R@10 {:.1}{}",
                metrics.t2a.r1,
                metrics.t2a.r5,
                metrics.t2a.r10,
                if best { " (best)" } else { "" }
            )
        }),
        _ => {}
    })?;
    bar.finish_and_clear();
    let m = &trained.metrics;
    println!();
    println!(
        "trained {} iterations ({:.1} clips/s); config {}, run {}",
        trained.summary.iterations,
        trained.summary.samples_per_second,
        trained.config.display(),
        trained.summary.run_dir.display()
    );
    println!("held-out evaluation of the best checkpoint ({}):", m.describe());
    print!("{}", clap_tools::eval::render(m));
    let ratio = m.t2a.r1 / trained.chance_r1;
    println!("t2a R@1 {:.1}% = {:.1}× chance ({:.1}%)", m.t2a.r1, ratio, trained.chance_r1);
    println!(
        "search index of the held-out clips: {} (try `clap-tools search {} --text \"a dog barks\"`)",
        trained.index.display(),
        trained.index.display()
    );
    println!(
        "labelled held-out clips: {} (try `clap-tools classify --index {} --labels \"white noise,low tone,fast clicks\"`)",
        trained.labels.display(),
        trained.index.display()
    );
    for s in &trained.searches {
        println!("search {:?}:", s.query);
        for (id, score, kind) in &s.hits {
            println!("  {score:.3}  {kind:<40} {id}");
        }
    }
    let summary = serde_json::json!({
        "iterations": trained.summary.iterations,
        "samples_per_second": trained.summary.samples_per_second,
        "metrics": m,
        "chance_t2a_r1": trained.chance_r1,
        "t2a_r1_over_chance": ratio,
        "searches": trained.searches,
    });
    clap_tools::atomic::write_bytes(&a.out.join("summary.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(())
}
