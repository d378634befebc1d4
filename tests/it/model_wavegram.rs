//! Wavegram-Logmel-CNN14 against the reference's own class: full size with deterministic weights, a
//! narrow one from a `.pth` in PANNs' layout, a CLAP checkpoint in the reference's released layout
//! over one (recognised by its keys, or named), errors that name the key, a training-mode step, and
//! `train` → `eval` / `embed` with `kind = "wavegram_logmel_cnn14"`. Fixtures:
//! tests/fixtures/model/generate.py (wavegram.py).

use std::path::Path;

use clap_tools::model::clap::Clap;
use clap_tools::model::logmel::LogMel;
use clap_tools::model::registry::AudioEncoderConfig;
use clap_tools::model::wavegram_logmel_cnn14::{WavegramLogmelCnn14, WavegramLogmelCnn14Config};
use clap_tools_backends::burn::backend::Autodiff;
use clap_tools_backends::burn::module::Param;
use clap_tools_backends::burn::tensor::backend::Backend;
use clap_tools_backends::burn::tensor::Tensor;
use clap_tools_backends::Cpu;

use crate::model_audio::{assert_rows_close, fixture, load, write_safetensors};

/// Every tensor of a Wavegram-Logmel-CNN14 in PANNs' key names, with its shape.
fn panns_shapes(cfg: &WavegramLogmelCnn14Config) -> Vec<(String, Vec<usize>)> {
    let bn = |p: &str, c: usize| {
        ["weight", "bias", "running_mean", "running_var"].map(|s| (format!("{p}.{s}"), vec![c])).to_vec()
    };
    let mut out = vec![("pre_conv0.weight".to_string(), vec![cfg.wave[0], 1, 11])];
    out.extend(bn("pre_bn0", cfg.wave[0]));
    for i in 0..3 {
        let (c_in, c) = (cfg.wave[i], cfg.wave[i + 1]);
        let name = format!("pre_block{}", i + 1);
        out.push((format!("{name}.conv1.weight"), vec![c, c_in, 3]));
        out.push((format!("{name}.conv2.weight"), vec![c, c, 3]));
        out.extend(bn(&format!("{name}.bn1"), c));
        out.extend(bn(&format!("{name}.bn2"), c));
    }
    let block = |name: &str, c_in: usize, c: usize, out: &mut Vec<(String, Vec<usize>)>| {
        out.push((format!("{name}.conv1.weight"), vec![c, c_in, 3, 3]));
        out.push((format!("{name}.conv2.weight"), vec![c, c, 3, 3]));
        out.extend(bn(&format!("{name}.bn1"), c));
        out.extend(bn(&format!("{name}.bn2"), c));
    };
    block("pre_block4", cfg.wave[3] / 32, cfg.wave_out, &mut out);
    out.extend(bn("bn0", cfg.n_mels));
    let mut c_in = 1;
    for (i, &c) in cfg.channels.iter().enumerate() {
        block(&format!("conv_block{}", i + 1), c_in, c, &mut out);
        c_in = if i == 0 { c + cfg.wave_out } else { c };
    }
    out.push(("fc1.weight".into(), vec![c_in, c_in]));
    out.push(("fc1.bias".into(), vec![c_in]));
    out
}

fn panns_tensors(cfg: &WavegramLogmelCnn14Config) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    crate::model_audio::filled(panns_shapes(cfg))
}

fn small() -> WavegramLogmelCnn14Config {
    WavegramLogmelCnn14Config { channels: [4, 8, 8, 8, 8, 8], wave: [4, 4, 8, 32], wave_out: 4, ..Default::default() }
}

/// The clips as the encoder's front end batches them: frames and padded waveforms, on `B`.
fn batch<B: Backend>(clips: &[&[f32]]) -> (Tensor<B, 3>, Tensor<B, 2>, Vec<usize>) {
    let lm = LogMel::for_rate(32000).unwrap().keeping_waveforms();
    let batch = lm.batch(clips);
    let valid: Vec<usize> = batch.wave_lengths.iter().map(|&n| lm.frames(n)).collect();
    let x = batch.to_tensors::<B>(&Default::default());
    (x.mel, x.wave.expect("the front end keeps the waveforms"), valid)
}

fn embed(model: &WavegramLogmelCnn14<Cpu>, clips: &[&[f32]]) -> Vec<f32> {
    let (mel, wave, valid) = batch::<Cpu>(clips);
    model.forward(mel, wave, &valid).into_data().into_vec::<f32>().unwrap()
}

fn small_waves() -> Vec<Vec<f32>> {
    vec![
        crate::common::prng::wave("small0", 2.0, 32000, 500.0),
        crate::common::prng::wave("small1", 1.3, 32000, 2500.0),
    ]
}

#[test]
fn wavegram_logmel_cnn14_full_size_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wavegram.safetensors");
    write_safetensors(&path, &panns_tensors(&WavegramLogmelCnn14Config::default()));
    let model = WavegramLogmelCnn14::<Cpu>::load_panns(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.shape(), ([64, 128, 256, 512, 1024, 2048], [64, 64, 128, 128], 64));
    let waves = [
        crate::common::prng::wave("clip0", 3.0, 32000, 440.0),
        crate::common::prng::wave("clip1", 2.2, 32000, 1000.0),
        crate::common::prng::wave("clip2", 1.5, 32000, 3000.0),
    ];
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    assert_rows_close(&embed(&model, &clips), &load("wavegram/full_batch.npy"), 0.99999, "batch of three lengths");
    assert_rows_close(&embed(&model, &clips[1..2]), &load("wavegram/full_clip1_alone.npy"), 0.99999, "clip alone");
}

#[test]
fn wavegram_logmel_cnn14_loads_a_panns_checkpoint() {
    let path = fixture("wavegram/panns_small.pth");
    let model = WavegramLogmelCnn14::<Cpu>::load_panns(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    // pre_block3's 64 channels become 2 channels of 32 bins for pre_block4.
    assert_eq!(model.shape(), ([8, 16, 16, 32, 32, 64], [8, 8, 16, 64], 8));
    assert_eq!(model.pre_block4.conv1.weight.dims(), [8, 2, 3, 3]);
    let waves = small_waves();
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let ours = embed(&model, &clips);
    let reference = load("wavegram/panns_small_emb.npy");
    assert_rows_close(&ours, &reference, 0.99999, "narrow Wavegram-Logmel-CNN14 from .pth");
    let worst = ours.iter().zip(&reference.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "max abs difference {worst}");

    // 20160 samples: 64 log-mel frames, 63 wavegram frames; after the cut one output frame is left
    // while the reference's mean divides by feat_length 2.
    let edge = crate::common::prng::wave("edge", 0.63, 32000, 700.0);
    assert_eq!(edge.len(), 20160);
    let ours = embed(&model, &[&edge]);
    let reference = load("wavegram/edge_emb.npy");
    assert_rows_close(&ours, &reference, 0.99999, "a clip whose wavegram is one frame short");
    let worst = ours.iter().zip(&reference.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "max abs difference {worst}");
}

#[test]
fn a_reference_clap_checkpoint_over_wavegram_logmel_cnn14_is_recognised_and_matches() {
    let device = Default::default();
    let (model, config) = Clap::<Cpu>::load_reference(
        &fixture("wavegram/reference.pth"),
        &fixture("text/bert/config.json"),
        32000,
        None,
        &device,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(config.audio, AudioEncoderConfig::WavegramLogmelCnn14(ref c) if c.wave == [8, 8, 16, 64]),
        "{:?}",
        config.audio
    );
    // The front end the registry gives this encoder keeps the waveforms: what embed, eval and train use.
    let lm = config.audio.front_end(32000).unwrap();
    assert!(lm.keeps_waveforms());
    let waves = small_waves();
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let batch = lm.batch(&clips);
    let valid: Vec<usize> = batch.wave_lengths.iter().map(|&n| lm.frames(n)).collect();
    let audio: Vec<f32> = model.encode_audio(batch.to_tensors::<Cpu>(&device), &valid).into_data().into_vec().unwrap();
    assert_rows_close(
        &audio,
        &load("wavegram/audio_emb.npy"),
        0.9999,
        "CLAP audio embeddings over Wavegram-Logmel-CNN14",
    );
    // The reference asserts 32 kHz; so does this encoder's front end.
    let err = config.audio.front_end(16000).unwrap_err().to_string();
    assert!(err.contains("32000 Hz only") && err.contains("sample_rate"), "{err}");
}

#[test]
fn bad_wavegram_logmel_cnn14_weights_are_named() {
    let good = panns_tensors(&small());
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, tensors: Vec<(String, Vec<usize>, Vec<f32>)>| {
        let path = dir.path().join(name);
        write_safetensors(&path, &tensors);
        path
    };
    let path = write("good.safetensors", good.clone());
    let model = WavegramLogmelCnn14::<Cpu>::load_panns(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.shape(), (small().channels, small().wave, small().wave_out));

    let missing: Vec<_> = good.iter().filter(|t| t.0 != "pre_block2.conv2.weight").cloned().collect();
    let err = WavegramLogmelCnn14::<Cpu>::load_panns(&write("missing.safetensors", missing), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.safetensors") && err.contains("pre_block2.conv2"), "{err}");

    let mut misshapen = good.clone();
    let t = misshapen.iter_mut().find(|t| t.0 == "pre_conv0.weight").unwrap();
    *t = (t.0.clone(), vec![4, 1, 5], vec![0.0; 20]);
    let err = WavegramLogmelCnn14::<Cpu>::load_panns(&write("misshapen.safetensors", misshapen), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("misshapen.safetensors") && err.contains("pre_conv0"), "{err}");

    // A wavegram that cannot be reshaped into whole bins of 32.
    let odd = panns_tensors(&WavegramLogmelCnn14Config { wave: [4, 4, 8, 32], ..small() })
        .into_iter()
        .map(
            |(k, shape, v)| {
                if k.starts_with("pre_block3.bn") {
                    (k, vec![24], v[..24].to_vec())
                } else {
                    (k, shape, v)
                }
            },
        )
        .collect();
    let err = WavegramLogmelCnn14::<Cpu>::load_panns(&write("odd.safetensors", odd), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("odd.safetensors") && err.contains("multiple of the 32 bins"), "{err}");

    let cnn14_only: Vec<_> = good.iter().filter(|t| !t.0.starts_with("pre_")).cloned().collect();
    let err = WavegramLogmelCnn14::<Cpu>::load_panns(&write("cnn.safetensors", cnn14_only), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cnn.safetensors") && err.contains("not a Wavegram-Logmel-CNN14"), "{err}");
}

#[test]
fn wavegram_logmel_cnn14_trains_a_step_in_training_mode() {
    clap_tools_backends::own_process!(1, {
        type Ad = Autodiff<Cpu>;
        let mut model = small().init::<Ad>(&Default::default());
        // A positive fc1 bias keeps the head's ReLU units alive (a head dead for every clip is the
        // one way the whole gradient could be zero): the gradient reaches pre_conv0 by design.
        model.fc1.bias = Some(Param::from_tensor(Tensor::ones([8], &Default::default())));
        let waves = small_waves();
        let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
        let (mel, wave, valid) = batch::<Ad>(&clips);
        let out = model.forward(mel, wave, &valid);
        assert_eq!(out.dims(), [2, 8]);
        let grads = out.sum().backward();
        // The gradient reaches the wavegram's first convolution, through the reshape and the cut.
        let g = model.pre_conv0.weight.grad(&grads).expect("a gradient for pre_conv0");
        let g: Vec<f32> = g.into_data().into_vec().unwrap();
        assert!(g.iter().all(|x| x.is_finite()) && g.iter().any(|x| *x != 0.0), "gradient {g:?}");
        // BatchNorm's running statistics moved (batch statistics in training), in 1-D blocks too.
        let rm: Vec<f32> = model.pre_block1.bn2.running_mean.value_sync().into_data().into_vec().unwrap();
        assert!(rm.iter().any(|x| *x != 0.0), "running mean {rm:?}");
    });
}

#[test]
fn train_fine_tunes_a_reference_wavegram_checkpoint_and_eval_and_embed_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let audio = "channels = [8, 16, 16, 32, 32, 64]\nwave = [8, 8, 16, 64]\nwave_out = 8";
    let data = crate::common::fine_tune(dir.path(), "wavegram/reference.pth", audio, "wavegram_logmel_cnn14");
    crate::common::embed_and_eval_the_fine_tuned(dir.path(), &data);
}

#[test]
fn the_wavegram_config_is_the_reference_shape_and_bad_values_are_named() {
    use clap_tools::train::config::TrainConfig;
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/wavegram_logmel_cnn14_bertmedium.toml");
    let cfg = TrainConfig::from_file(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.model.audio.encoder(),
        AudioEncoderConfig::WavegramLogmelCnn14(WavegramLogmelCnn14Config::default())
    );
    assert_eq!(cfg.model.audio.encoder().output_dim(), 2048);

    let err = TrainConfig::from_file_with(
        &file,
        &["model.audio.wave=[64, 64, 128, 100]".into(), "model.audio.channels=[8, 16]".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("model.audio.wave") && err.contains("multiple of") && err.contains("model.audio.channels"),
        "{err}"
    );
    let err = TrainConfig::from_file_with(&file, &["model.audio.stem=4".into()]).unwrap_err().to_string();
    assert!(err.contains("stem"), "a key wavegram_logmel_cnn14 does not take is named: {err}");
}

#[test]
fn audio_encoder_names_a_wavegram_reference_checkpoint() {
    let embed = crate::model_audio::ReferenceEmbed::new("wavegram/reference.pth");
    embed.named_and_recognised_agree("wavegram_logmel_cnn14");
    // At 16 kHz the front end refuses, naming the rate.
    let (good, _, err) = embed.run(None, "x", &["--sample-rate", "16000"]);
    assert!(!good && err.contains("32000 Hz only"), "{err}");
}
