//! `clap-tools inspect`: what is in a dataset.

use std::path::PathBuf;

use anyhow::Result;

/// Summarise captions tables (and clips tables): counts, lengths, vocabulary, coverage, duplicates.
///
/// Reports clips and captions per dataset and split, captions per
/// clip, caption length in words (min/median/max and histogram), vocabulary size and top words,
/// durations (from clips tables), captions without audio, audio without captions, and exact duplicate
/// captions.
///
/// Captions without audio are judged against the clips tables when given, otherwise by the captions'
/// audio_path (set by `import --audio-dir/--wav-csv`).
///
/// Given queries tables (from `import clotho-retrieval`), it reports the retrieval set instead:
/// queries, judged queries, words per query, relevant clips per judged query and queries per
/// judged clip.
#[derive(clap::Args)]
pub struct Args {
    /// Captions tables (.parquet) or caption JSONs, and optionally clips tables (.parquet, from
    /// `scan -o clips.parquet`); or queries tables alone. The kind of each is told by its columns.
    #[arg(required = true)]
    tables: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// How many top words, duplicates and examples to list.
    #[arg(long, default_value_t = 10)]
    top: usize,
}

pub fn run(a: Args) -> Result<()> {
    if clap_tools::inspect::all_queries(&a.tables)? {
        let report = clap_tools::inspect::inspect_queries(&a.tables)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", clap_tools::inspect::render_queries(&report));
        }
        return Ok(());
    }
    let report = clap_tools::inspect::inspect(&a.tables, a.top)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", clap_tools::inspect::render(&report));
    }
    Ok(())
}
