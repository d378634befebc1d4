//! Timing side of `benches/model.py`: the log-mel front end and the audio encoders' clip embeddings
//! (full size, eval mode) on the CPU backend, on synthetic clips. Prints one JSON object; the Python
//! script runs torchaudio / PyTorch on the same work and reports the ratios (see BENCHMARKS.md).
//!
//!     cargo run --release --example bench_model -- logmel --clips 50 --seconds 10
//!     cargo run --release --example bench_model -- cnn14 --batch 8 --seconds 10 --repeats 3
//!     cargo run --release --example bench_model -- resnet38 --batch 8 --seconds 10 --repeats 3
//!     cargo run --release --example bench_model -- wavegram_logmel_cnn14 --batch 8 --seconds 10 --repeats 3
//!     cargo run --release --example bench_model -- ast --batch 4 --seconds 10 --repeats 2
//!     cargo run --release --example bench_model -- layers --batch 8 --seconds 10 --repeats 3
//!
//! `layers` times CNN14's twelve 3×3 convolutions one by one (forward with a bias, as inference runs
//! them, then the input and weight gradients, as training does), and a 2048³ matrix product as the
//! machine's attainable peak; one JSON object per line, with GFLOP/s counted as a direct convolution
//! (2·batch·c_out·c_in·9·positions). `CLAP_TOOLS_KERNELS=stock` times burn-flex's own kernels.
//!
//! The thread count is rayon's (RAYON_NUM_THREADS).

use std::time::Instant;

use clap_tools::model::encoder::AudioEncoder;
use clap_tools::model::logmel::LogMel;
use clap_tools_backends::burn::tensor::module::conv2d;
use clap_tools_backends::burn::tensor::ops::{ConvOptions, ModuleOps};
use clap_tools_backends::burn::tensor::{Distribution, Tensor, TensorPrimitive};
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
        "layers" => layers(&args, seconds),
        _ => {
            eprintln!("usage: bench_model layers|logmel|cnn14|wavegram_logmel_cnn14|resnet38|ast [--rate R] [--seconds S] [--clips N | --batch B --repeats R]");
            std::process::exit(2);
        }
    }
}

/// The median of `repeats` timed runs of `f`, after one to warm up, in seconds.
fn median_time(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// CNN14's convolutions one by one (see the module docs).
fn layers(args: &[String], seconds: f64) {
    type B = Cpu;
    let batch = arg(args, "--batch", 8.0) as usize;
    let repeats = arg(args, "--repeats", 3.0) as usize;
    let device = Default::default();
    let threads = rayon::current_num_threads();
    let kernels = std::env::var("CLAP_TOOLS_KERNELS").unwrap_or_else(|_| "auto".into());
    let a = Tensor::<B, 2>::random([2048, 2048], Distribution::Default, &device);
    let b = Tensor::<B, 2>::random([2048, 2048], Distribution::Default, &device);
    let t = median_time(repeats, || {
        std::hint::black_box(a.clone().matmul(b.clone()).into_data());
    });
    println!(
        "{}",
        serde_json::json!({"what": "matmul 2048^3", "threads": threads, "kernels": kernels, "s": t, "gflops": 2.0 * 2048f64.powi(3) / t / 1e9})
    );
    // 10 s at 32 kHz: 1001 frames × 64 mel bins, halved by each block's 2×2 pooling.
    let (mut h, mut w) = (((seconds * 100.0) as usize) + 1, 64);
    let channels = [1, 64, 128, 256, 512, 1024, 2048];
    for block in 0..6 {
        for (conv, c_in) in [(1, channels[block]), (2, channels[block + 1])] {
            let c_out = channels[block + 1];
            let x = Tensor::<B, 4>::random([batch, c_in, h, w], Distribution::Default, &device);
            let weight = Tensor::<B, 4>::random([c_out, c_in, 3, 3], Distribution::Default, &device);
            let bias = Tensor::<B, 1>::random([c_out], Distribution::Default, &device);
            let grad = Tensor::<B, 4>::random([batch, c_out, h, w], Distribution::Default, &device);
            let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
            let prim = |t: Tensor<B, 4>| t.into_primitive().tensor();
            let forward = median_time(repeats, || {
                std::hint::black_box(
                    conv2d(x.clone(), weight.clone(), Some(bias.clone()), options.clone()).into_data(),
                );
            });
            let input_grad = median_time(repeats, || {
                let g = <B as ModuleOps<B>>::conv2d_x_backward(
                    prim(x.clone()),
                    prim(weight.clone()),
                    prim(grad.clone()),
                    options.clone(),
                );
                std::hint::black_box(Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(g)).into_data());
            });
            let weight_grad = median_time(repeats, || {
                let g = <B as ModuleOps<B>>::conv2d_weight_backward(
                    prim(x.clone()),
                    prim(weight.clone()),
                    prim(grad.clone()),
                    options.clone(),
                );
                std::hint::black_box(Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(g)).into_data());
            });
            let flop = 2.0 * (batch * c_out * c_in * 9 * h * w) as f64;
            println!(
                "{}",
                serde_json::json!({"what": format!("conv_block{}.conv{conv}", block + 1), "threads": threads, "kernels": kernels,
                    "batch": batch, "c_in": c_in, "c_out": c_out, "h": h, "w": w, "gflop": flop / 1e9,
                    "forward_s": forward, "input_grad_s": input_grad, "weight_grad_s": weight_grad,
                    "forward_gflops": flop / forward / 1e9, "input_grad_gflops": flop / input_grad / 1e9,
                    "weight_grad_gflops": flop / weight_grad / 1e9})
            );
        }
        if block < 5 {
            (h, w) = (h / 2, w / 2);
        }
    }
}
