//! Timing side of `benches/model.py`: the log-mel front end and the audio encoders' clip embeddings
//! (full size, eval mode) on the CPU backend, on synthetic clips. Prints one JSON object; the Python
//! script runs torchaudio / PyTorch on the same work and reports the ratios (see BENCHMARKS.md).
//!
//!     cargo run --release --example bench_model -- logmel --clips 50 --seconds 10
//!     cargo run --release --example bench_model -- cnn14 --batch 8 --seconds 10 --repeats 3
//!     cargo run --release --example bench_model -- resnet38 --batch 8 --seconds 10 --repeats 3
//!     cargo run --release --example bench_model -- wavegram_logmel_cnn14 --batch 8 --seconds 10 --repeats 3
//!     cargo run --release --example bench_model -- ast --batch 4 --seconds 10 --repeats 2
//!
//! The thread count is rayon's (RAYON_NUM_THREADS).

use std::time::Instant;

use clap_tools::model::encoder::AudioEncoder;
use clap_tools::model::logmel::LogMel;
use clap_tools_backends::Cpu;

#[path = "common.rs"]
mod common;
use common::{arg, clip, full_size_encoder};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("");
    let rate = arg(&args, "--rate", 32000.0) as u32;
    let seconds = arg(&args, "--seconds", 10.0);
    let n = (seconds * rate as f64) as usize;
    let threads = rayon::current_num_threads();
    match which {
        "logmel" => {
            let clips = arg(&args, "--clips", 50.0) as usize;
            let lm = LogMel::for_rate(rate).expect("32000 or 16000");
            let waves: Vec<Vec<f32>> = (0..clips).map(|i| clip(i, n)).collect();
            let _ = lm.compute(&waves[0]); // warm up
                                           // one clip at a time, as a data worker computes them
            let t = Instant::now();
            for w in &waves {
                std::hint::black_box(lm.compute(w));
            }
            let single = t.elapsed().as_secs_f64() / clips as f64;
            // a batch, frames in parallel
            let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
            let t = Instant::now();
            std::hint::black_box(lm.batch(&refs));
            let batched = t.elapsed().as_secs_f64() / clips as f64;
            println!(
                "{}",
                serde_json::json!({"what": "logmel", "threads": threads, "clips": clips, "seconds": seconds,
                    "rate": rate, "ms_per_clip_single": single * 1e3, "ms_per_clip_batch": batched * 1e3})
            );
        }
        "cnn14" | "wavegram_logmel_cnn14" | "resnet38" | "ast" => {
            let batch = arg(&args, "--batch", 8.0) as usize;
            let repeats = arg(&args, "--repeats", 3.0) as usize;
            let device = Default::default();
            let config = full_size_encoder(which);
            let model = config.init::<Cpu>(&device);
            // The encoder's own front end (AST's has 128 mel bins).
            let lm = config.front_end(rate).expect("32000 or 16000");
            let waves: Vec<Vec<f32>> = (0..batch).map(|i| clip(i, n)).collect();
            let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
            let run = || {
                let mel = lm.batch(&refs);
                let valid: Vec<usize> = mel.wave_lengths.iter().map(|&k| lm.frames(k)).collect();
                let out = model.encode(mel.to_tensors::<Cpu>(&device), &valid);
                std::hint::black_box(out.into_data());
            };
            run(); // warm up
            let mut times = Vec::new();
            for _ in 0..repeats {
                let t = Instant::now();
                run();
                times.push(t.elapsed().as_secs_f64());
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "{}",
                serde_json::json!({"what": which, "threads": threads, "batch": batch, "seconds": seconds,
                    "s_per_batch": median, "clips_per_s": batch as f64 / median, "times": times})
            );
        }
        _ => {
            eprintln!("usage: bench_model logmel|cnn14|wavegram_logmel_cnn14|resnet38|ast [--rate R] [--seconds S] [--clips N | --batch B --repeats R]");
            std::process::exit(2);
        }
    }
}
