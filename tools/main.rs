//! The `clap-tools` command line: one module per subcommand, each thin over the library.

mod cmd_classify;
mod cmd_concat;
mod cmd_demo;
mod cmd_embed;
mod cmd_eval;
mod cmd_export;
mod cmd_features;
mod cmd_import;
mod cmd_index;
mod cmd_inspect;
mod cmd_launch;
mod cmd_metrics;
mod cmd_pack;
mod cmd_runs;
mod cmd_scan;
mod cmd_search;
mod cmd_serve;
mod cmd_split;
mod cmd_submit;
mod cmd_train;
mod model_args;
mod progress;

use clap::{Parser, Subcommand};

const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), "\nbackends: cpu (flex) always; cuda and wgpu with `--features cuda|wgpu`");

/// Language-based audio retrieval: dataset tables, packed waveforms, CLAP training and evaluation.
///
/// Exit status: 0 success; 1 an error (a message names the file and line or audio_id; no output file
/// is left half-written); 2 bad command-line usage.
#[derive(Parser)]
#[command(name = "clap-tools", version, long_version = LONG_VERSION, propagate_version = true)]
struct Cli {
    /// Print only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Scan(cmd_scan::Args),
    #[command(subcommand)]
    Import(cmd_import::Source),
    #[command(subcommand)]
    Export(cmd_export::Target),
    Concat(cmd_concat::Args),
    Split(cmd_split::Args),
    Inspect(cmd_inspect::Args),
    Pack(cmd_pack::Args),
    Demo(cmd_demo::Args),
    Metrics(cmd_metrics::Args),
    Features(cmd_features::Args),
    #[command(subcommand)]
    Embed(cmd_embed::Kind),
    Train(cmd_train::Args),
    Launch(cmd_launch::Args),
    Eval(cmd_eval::Args),
    Submit(cmd_submit::Args),
    Runs(cmd_runs::Args),
    #[command(subcommand)]
    Index(cmd_index::Action),
    Search(cmd_search::Args),
    Classify(cmd_classify::Args),
    Serve(cmd_serve::Args),
}

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`| head`) would panic; restore the
    // default: the process ends quietly when its reader has gone.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let level = if cli.quiet { "warn" } else { "info" };
    // burn-collective and its transport log every connection at info level: only their warnings
    // unless CLAP_TOOLS_LOG asks.
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLAP_TOOLS_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{level},burn_collective=warn,burn_communication=warn"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = clap_tools_backends::check_cpu_kernels() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
    let result = match cli.command {
        Command::Scan(a) => cmd_scan::run(a),
        Command::Runs(a) => cmd_runs::run(a),
        Command::Import(s) => cmd_import::run(s),
        Command::Export(t) => cmd_export::run(t),
        Command::Concat(a) => cmd_concat::run(a),
        Command::Split(a) => cmd_split::run(a),
        Command::Inspect(a) => cmd_inspect::run(a),
        Command::Pack(a) => cmd_pack::run(a),
        Command::Demo(a) => cmd_demo::run(a),
        Command::Metrics(a) => cmd_metrics::run(a),
        Command::Features(a) => cmd_features::run(a),
        Command::Embed(k) => cmd_embed::run(k),
        Command::Train(a) => cmd_train::run(a),
        Command::Launch(a) => cmd_launch::run(a),
        Command::Eval(a) => cmd_eval::run(a),
        Command::Submit(a) => cmd_submit::run(a),
        Command::Index(a) => cmd_index::run(a),
        Command::Search(a) => cmd_search::run(a),
        Command::Classify(a) => cmd_classify::run(a),
        Command::Serve(a) => cmd_serve::run(a),
    };
    if let Err(e) = result {
        // The library names options by their own names; here they become the flags users typed.
        match e.downcast_ref::<clap_tools::Error>() {
            Some(clap_tools::Error::Config { key, msg }) if flag(key).is_some() => {
                eprintln!("error: {}: {msg}", flag(key).unwrap_or_default())
            }
            _ => eprintln!("error: {}", message(&e)),
        }
        std::process::exit(1);
    }
}

/// An error and its causes, each cause once: the library's errors already show their source (an
/// I/O error after the file's name), which anyhow's chain would repeat.
fn message(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg = format!("{msg}: {c}");
        }
    }
    msg
}

/// The command-line flag of a library option, where one sets it.
fn flag(key: &str) -> Option<&'static str> {
    Some(match key {
        "part_size" => "--part-size",
        "shard" => "--shard",
        "jobs" => "--jobs",
        "audio_name" => "--audio-name",
        "text_encoder" => "--text-encoder",
        "val_fraction" => "--val-fraction",
        "validation_size" => "--val-clips/--val-fraction",
        "captions_per_clip" => "--captions-per-clip",
        "sample_rate" => "--sample-rate",
        "label" => "--label",
        "format" => "--format",
        "batch_size" => "--batch-size",
        "part_clips" => "--save-every",
        "checkpoint" => "--checkpoint",
        "embeddings" => "--embeddings",
        "k" => "-k",
        "labels" => "--labels",
        "addr" => "--addr",
        "template" => "--template",
        _ => return None,
    })
}

pub use progress::{progress, Bar};

/// The documented exit status of a batch job (pack, embed): 0 every item done, 3 some failed (they
/// are reported), 4 none done.
pub fn exit_code(outcome: clap_tools::progress::Outcome) -> i32 {
    use clap_tools::progress::Outcome;
    match outcome {
        Outcome::Complete => 0,
        Outcome::Partial => 3,
        Outcome::Failed => 4,
    }
}

/// Run `f` on a rayon pool of `jobs` threads (0: one per core).
pub fn with_jobs<T: Send>(jobs: usize, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    Ok(pool.install(f))
}
