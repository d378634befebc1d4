//! Timing side of `benches/train.py`: training steps of the CLAP model of
//! configs/cnn14_bertmedium.toml (CNN14 + BERT-medium, shared 1024; random weights, which do not
//! change the work) on the build's backend: forward on every device, the InfoNCE loss over the whole
//! batch, backward, Adam. Prints one JSON object; the Python script runs the reference's model in
//! PyTorch on the same work and reports the ratio (see BENCHMARKS.md).
//!
//!     cargo run --features cuda --example bench_train -- --batch 128 --seconds 10 --steps 5
//!
//! Options: --batch, --seconds (clip length), --steps (timed), --warmup (untimed steps first),
//! --devices (data parallel over the first N; default 1), --encoder cnn14|wavegram_logmel_cnn14|resnet38|ast
//! (the audio encoder at full size, default cnn14). The log-mel front end runs on the CPU in
//! the trainer's background workers; it is timed apart (`host_logmel_s_per_batch`) to show whether
//! the workers keep up with the device.

use std::time::Instant;

use clap_tools::model::bert::BertConfig;
use clap_tools::model::clap::ClapConfig;
use clap_tools::model::registry::TextEncoderConfig;
use clap_tools::model::tokenizer::Tokens;
use clap_tools::train::data::TrainBatch;
use clap_tools::train::parallel;
use clap_tools_backends::burn::optim::{AdamConfig, Optimizer};
use clap_tools_backends::burn::tensor::backend::Backend;
use clap_tools_backends::AutodiffSelected;

type B = AutodiffSelected;

#[path = "common.rs"]
mod common;
use common::{arg, clip, full_size_encoder};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let batch = arg(&args, "--batch", 128.0) as usize;
    let seconds = arg(&args, "--seconds", 10.0);
    let steps = arg(&args, "--steps", 5.0) as usize;
    let warmup = arg(&args, "--warmup", 2.0) as usize;
    let devices = clap_tools_backends::devices(Some(arg(&args, "--devices", 1.0) as usize)).expect("devices");
    clap_tools_backends::check_transfers(&devices).expect("transfers between devices");

    let encoder = args.windows(2).find(|w| w[0] == "--encoder").map_or("cnn14", |w| w[1].as_str());
    let audio = full_size_encoder(encoder);

    // The batch: log-mels of `batch` clips (timed, as the workers compute them; the encoder's own
    // front end), 30 tokens per caption.
    let logmel = audio.front_end(32000).expect("32 kHz");
    let n = (seconds * 32000.0) as usize;
    let waves: Vec<Vec<f32>> = (0..batch).map(|i| clip(i, n)).collect();
    let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let t = Instant::now();
    let mel = logmel.batch(&refs);
    let host_logmel = t.elapsed().as_secs_f64();
    let seq = 30;
    let mut ids = Vec::with_capacity(batch * seq);
    let mut mask = Vec::with_capacity(batch * seq);
    for i in 0..batch {
        let len = 8 + i % 20;
        for k in 0..seq {
            ids.push(if k < len { 1000 + ((i * 31 + k * 7) % 20000) as i64 } else { 0 });
            mask.push(i64::from(k < len));
        }
    }
    let data = TrainBatch {
        iteration: 0,
        global_batch: batch,
        valid_frames: mel.wave_lengths.iter().map(|&l| logmel.frames(l)).collect(),
        mel,
        tokens: Tokens { token_type_ids: vec![0; ids.len()], ids, attention_mask: mask, batch, seq_len: seq },
        audio_ids: (0..batch).map(|i| i.to_string()).collect(),
    };

    let config = ClapConfig {
        sample_rate: 32000,
        audio,
        // prajjwal1/bert-medium: 8 layers, hidden 512, 8 heads, intermediate 2048.
        text: TextEncoderConfig::Bert(BertConfig::new(30522, 512, 8, 8, 2048, 512)),
        shared_dim: 1024,
        max_tokens: seq,
    };
    B::seed(&devices[0], 1);
    let mut model = config.init::<B>(&devices[0]).expect("model");
    let mut optim = AdamConfig::new().init();
    let mut times = Vec::new();
    let mut last_loss = 0f32;
    for step in 0..warmup + steps {
        let t = Instant::now();
        let (loss, grads) = parallel::step(&model, &devices, &data, Default::default(), 1, None).expect("a step");
        model = optim.step(1e-4, model, grads);
        // Reading the loss waits for the device, as the trainer does every iteration.
        last_loss = loss.into_scalar();
        if step >= warmup {
            times.push(t.elapsed().as_secs_f64());
        }
        eprintln!("step {}: {:.3} s, loss {last_loss:.4}", step + 1, t.elapsed().as_secs_f64());
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    println!(
        "{}",
        serde_json::json!({
            "backend": clap_tools_backends::backend_name(),
            "encoder": encoder,
            "devices": devices.len(),
            "batch": batch,
            "seconds": seconds,
            "steps": times.len(),
            "s_per_step": mean,
            "samples_per_s": batch as f64 / mean,
            "step_times": times,
            "last_loss": last_loss,
            "host_logmel_s_per_batch": host_logmel,
            "host_threads": rayon::current_num_threads(),
        })
    );
}
