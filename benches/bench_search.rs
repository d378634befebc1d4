//! Timing side of `benches/search.py`: exact search of an index in-process, beside the machine's
//! memory read bandwidth over the same mapped embeddings. Prints one JSON object.
//!
//!     cargo run --release --example bench_search -- INDEX QUERIES.npy [--repeats 5]
//!
//! - bandwidth: the best of `repeats` parallel passes reading the whole mapped index (bytes ÷ seconds);
//! - single: the median time of one query (the first row of QUERIES), repeats × 4 runs;
//! - batch: the median time of all QUERIES at once, `repeats` runs;
//!   k = 10 throughout. The thread count is rayon's (RAYON_NUM_THREADS).

use std::path::Path;
use std::time::Instant;

use clap_tools::index::Index;
use rayon::prelude::*;

#[path = "common.rs"]
#[allow(dead_code)] // `clip` and `full_size_encoder` are for the model benchmarks
mod common;
use common::arg;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (index, queries) = (Path::new(&args[0]), Path::new(&args[1]));
    let repeats = arg(&args, "--repeats", 5.0) as usize;
    let ix = Index::open(index).expect("an index");
    let q = clap_tools::npy::read_f32(queries).expect("a float32 .npy of queries");
    let dim = ix.dim();
    assert_eq!(q.shape[1], dim, "queries of the index's dimension");
    let data = ix.embeddings.data();
    let bytes = size_of_val(data) as f64;
    let mut best = f64::INFINITY;
    for _ in 0..repeats {
        let t = Instant::now();
        // Integer sums of the bit patterns: they vectorise (a float sum's fixed order would not), so
        // the pass runs at the memory's speed, not the adder's.
        let s: u32 = data
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u32, |a, x| a.wrapping_add(x.to_bits())))
            .reduce(|| 0, u32::wrapping_add);
        std::hint::black_box(s);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let single: Vec<f64> = (0..repeats * 4)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(ix.search(&q.data[..dim], 10).unwrap());
            t.elapsed().as_secs_f64()
        })
        .collect();
    let batch: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(ix.search(&q.data, 10).unwrap());
            t.elapsed().as_secs_f64()
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "rows": ix.len(), "dim": dim, "queries": q.shape[0], "threads": rayon::current_num_threads(),
            "index_bytes": bytes, "bandwidth_gb_s": bytes / best / 1e9, "bound_single_ms": best * 1e3,
            "single_ms": median(single) * 1e3, "batch_ms": median(batch) * 1e3,
        })
    );
}
