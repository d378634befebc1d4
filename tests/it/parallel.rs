//! Data parallel training: a step over several devices computes what one device computes for the
//! same parts (the loss over the whole batch, the gradients summed), and a run over two devices
//! trains and checkpoints like any other. Without GPUs here, the devices are the CPU twice: each
//! part still goes through its own copy of the model, so the gather, the backward pass through it
//! and the sum of the copies' gradients are what is tested.

use crate::common::{fails, ok, s};
use clap_tools::model::clap::{info_nce, Clap, ClapConfig};
use clap_tools::model::logmel::LogMelBatch;
use clap_tools::model::registry::{AudioEncoderConfig, TextEncoderConfig};
use clap_tools::model::small_cnn::SmallCnnConfig;
use clap_tools::model::small_text::SmallTextConfig;
use clap_tools::model::tokenizer::Tokens;
use clap_tools::split::SplitMix64;
use clap_tools::train::data::TrainBatch;
use clap_tools::train::parallel;
use clap_tools_backends::burn::backend::Autodiff;
use clap_tools_backends::burn::module::{ModuleVisitor, Param};
use clap_tools_backends::burn::optim::GradientsParams;
use clap_tools_backends::burn::tensor::{Tensor, TensorData};
use clap_tools_backends::Cpu;

type Ad = Autodiff<Cpu>;

fn small_model(device: &<Cpu as clap_tools_backends::burn::tensor::backend::BackendTypes>::Device) -> Clap<Ad> {
    ClapConfig {
        sample_rate: 32000,
        audio: AudioEncoderConfig::SmallCnn(SmallCnnConfig { channels: vec![4, 8], n_mels: 64, dim: 16 }),
        text: TextEncoderConfig::Small(SmallTextConfig { vocab_size: 40, max_positions: 12, dim: 16 }),
        shared_dim: 8,
        max_tokens: 12,
    }
    .init::<Ad>(device)
    .unwrap()
}

fn batch(n: usize) -> TrainBatch {
    let mut r = SplitMix64::new(11);
    let (frames, seq) = (24, 12);
    let data = (0..n * frames * 64).map(|_| (r.next_u64() % 1000) as f32 / 100.0 - 50.0).collect();
    let mut ids = Vec::new();
    let mut mask = Vec::new();
    for i in 0..n {
        let len = 4 + i % 6;
        for t in 0..seq {
            ids.push(if t < len { 1 + (r.next_u64() % 39) as i64 } else { 0 });
            mask.push(i64::from(t < len));
        }
    }
    TrainBatch {
        iteration: 0,
        global_batch: n,
        mel: LogMelBatch { data, batch: n, frames, n_mels: 64, wave_lengths: vec![0; n], waves: None, samples: 0 },
        valid_frames: (0..n).map(|i| 10 + 2 * i).collect(),
        tokens: Tokens { token_type_ids: vec![0; ids.len()], ids, attention_mask: mask, batch: n, seq_len: seq },
        audio_ids: (0..n).map(|i| format!("clip{i}")).collect(),
    }
}

/// Compares the gradient of every parameter in two sets.
struct SameGrads<'a> {
    a: &'a GradientsParams,
    b: &'a GradientsParams,
    compared: usize,
}

impl ModuleVisitor<Ad> for SameGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
        // BatchNorm's running statistics are visited too, and have no gradient on either side.
        if self.a.get::<Cpu, D>(param.id).is_none() && self.b.get::<Cpu, D>(param.id).is_none() {
            return;
        }
        let (Some(a), Some(b)) = (self.a.get::<Cpu, D>(param.id), self.b.get::<Cpu, D>(param.id)) else {
            panic!(
                "parameter {} {:?}: gradient in the data parallel step {}, on one device {}",
                param.id,
                param.shape(),
                self.a.get::<Cpu, D>(param.id).is_some(),
                self.b.get::<Cpu, D>(param.id).is_some()
            )
        };
        let (a, b): (Vec<f32>, Vec<f32>) = (a.into_data().into_vec().unwrap(), b.into_data().into_vec().unwrap());
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-4 * scale, "parameter {}: {x} vs {y}", param.id);
        }
        self.compared += 1;
    }
}

#[test]
fn a_step_over_two_devices_equals_the_parts_on_one() {
    clap_tools_backends::own_process!(3, {
        let device = Default::default();
        let model = small_model(&device);
        let batch = batch(7);
        let (loss, grads) = parallel::step(&model, &[device, device], &batch, Default::default(), 0, None).unwrap();

        // The same parts (rows 0..4 and 4..7) through one model on one device, the loss over all 7.
        let mut audio = Vec::new();
        let mut text = Vec::new();
        for rows in [0..4, 4..7] {
            let per = batch.mel.frames * 64;
            let x = Tensor::<Ad, 3>::from_data(
                TensorData::new(
                    batch.mel.data[rows.start * per..rows.end * per].to_vec(),
                    [rows.len(), batch.mel.frames, 64],
                ),
                &device,
            );
            audio.push(model.encode_audio(x, &batch.valid_frames[rows.clone()]));
            let (ids, mask, types) = batch.tokens.rows(rows).to_tensors::<Ad>(&device);
            text.push(model.encode_text(ids, mask, types));
        }
        let want = info_nce(Tensor::cat(audio, 0), Tensor::cat(text, 0), model.logit_scale.val());
        let want_grads = GradientsParams::from_grads(want.backward(), &model);

        let (got, want): (f32, f32) = (loss.into_scalar(), want.into_scalar());
        assert!((got - want).abs() < 1e-5, "loss {got} vs {want}");
        let mut check = SameGrads { a: &grads, b: &want_grads, compared: 0 };
        use clap_tools_backends::burn::module::Module;
        model.visit(&mut check);
        assert!(check.compared >= 10, "every parameter compared ({})", check.compared);

        // One device alone sees a different batch split (BatchNorm over 7 rows): not the same loss, so
        // the comparison above is not vacuous.
        let (single, _) = parallel::step(&model, &[device], &batch, Default::default(), 0, None).unwrap();
        let single: f32 = single.into_scalar();
        assert!((single - got).abs() > 1e-7, "one device {single} vs two {got}");
    });
}

#[test]
fn a_run_over_two_devices_trains_and_checkpoints() {
    clap_tools_backends::own_process!(5, {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::common::demo_corpus(dir.path(), 40, 16);
        let run = dir.path().join("run");
        let config = format!(
            r#"
    {data_section}
    [model]
    shared_dim = 16
    specaugment = false

    [model.audio]
    kind = "small_cnn"
    channels = [4, 8, 16]
    dim = 16

    [model.text]
    kind = "small"
    dir = "{text}"
    dim = 16

    [schedule]
    warmup_iterations = 1
    total_iterations = 4

    [train]
    batch_size = 9
    val_interval = 4
    seed = 5
    workers = 2

    [checkpoint]
    dir = "{run}"
    every = 2
    "#,
            data_section = crate::common::demo_data_toml(&data),
            text = s(&dir.path().join("text")),
            run = s(&run),
        );
        let path = dir.path().join("small.toml");
        std::fs::write(&path, config).unwrap();

        // The CPU backend has one device: asking the command line for two is refused, naming why.
        let err = fails(&["train", "--config", s(&path), "--devices", "2"]);
        assert!(err.contains("train.devices") && err.contains("trains on 1"), "{err}");

        let cfg = clap_tools::train::config::TrainConfig::from_file(&path).unwrap();
        let device = Default::default();
        let mut devices_seen = 0;
        let summary = clap_tools::train::trainer::train_on::<Ad>(&cfg, &Default::default(), &[device, device], |e| {
            if let clap_tools::train::trainer::Event::Start { devices, .. } = e {
                devices_seen = devices;
            }
        })
        .unwrap();
        assert_eq!(devices_seen, 2);
        assert_eq!(summary.iterations, 4);
        assert!(summary.last_metrics.is_some());
        let losses: Vec<f64> = std::fs::read_to_string(run.join("log.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64())
            .collect();
        assert_eq!(losses.len(), 4);
        assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");
        // The best checkpoint is a model like any other: eval reads it.
        let json = ok(&[
            "eval",
            "--checkpoint",
            s(&run.join("best")),
            "--captions",
            s(&data.join("tables/captions_val.parquet")),
            "--waveforms",
            s(&data.join("packed/waveforms.parquet")),
            "--json",
        ]);
        let m: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(m["t2a"]["R10"].as_f64().is_some(), "{json}");
    });
}
