//! ResNet38 against the reference's own class: full size with deterministic weights, a narrow one
//! from a `.pth` in PANNs' layout, a CLAP checkpoint in the reference's released layout over one
//! (recognised by its keys), errors that name the key, a training-mode step, and `train` → `eval` /
//! `embed` with `kind = "resnet38"`. Fixtures: tests/fixtures/model/generate.py (resnet38.py).

use std::path::Path;

use clap_tools::model::clap::Clap;
use clap_tools::model::logmel::LogMel;
use clap_tools::model::registry::AudioEncoderConfig;
use clap_tools::model::resnet38::{ResNet38, ResNet38Config};
use clap_tools_backends::burn::backend::Autodiff;
use clap_tools_backends::burn::module::Param;
use clap_tools_backends::burn::tensor::{Tensor, TensorData};
use clap_tools_backends::Cpu;

use crate::model_audio::{assert_rows_close, fixture, load, write_safetensors};

/// Every tensor of a ResNet38 in PANNs' key names, with its shape.
fn panns_shapes(cfg: &ResNet38Config) -> Vec<(String, Vec<usize>)> {
    let bn = |p: &str, c: usize| {
        ["weight", "bias", "running_mean", "running_var"].map(|s| (format!("{p}.{s}"), vec![c])).to_vec()
    };
    let mut out = bn("bn0", cfg.n_mels);
    let block = |name: &str, c_in: usize, c: usize, out: &mut Vec<(String, Vec<usize>)>| {
        out.push((format!("{name}.conv1.weight"), vec![c, c_in, 3, 3]));
        out.push((format!("{name}.conv2.weight"), vec![c, c, 3, 3]));
        out.extend(bn(&format!("{name}.bn1"), c));
        out.extend(bn(&format!("{name}.bn2"), c));
    };
    block("conv_block1", 1, cfg.stem, &mut out);
    let mut c_in = cfg.stem;
    for (s, (&w, &n)) in cfg.widths.iter().zip(&cfg.blocks).enumerate() {
        for i in 0..n {
            let name = format!("resnet.layer{}.{i}", s + 1);
            block(&name, c_in, w, &mut out);
            if i == 0 && (s > 0 || c_in != w) {
                // [AvgPool2d, conv, bn] in a halving stage, [conv, bn] in the first.
                let (conv, norm) = if s > 0 { (1, 2) } else { (0, 1) };
                out.push((format!("{name}.downsample.{conv}.weight"), vec![w, c_in, 1, 1]));
                out.extend(bn(&format!("{name}.downsample.{norm}"), w));
            }
            c_in = w;
        }
    }
    block("conv_block_after1", c_in, cfg.out, &mut out);
    out.push(("fc1.weight".into(), vec![cfg.out, cfg.out]));
    out.push(("fc1.bias".into(), vec![cfg.out]));
    out
}

fn panns_tensors(cfg: &ResNet38Config) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    crate::model_audio::filled(panns_shapes(cfg))
}

fn mel_batch(clips: &[&[f32]]) -> (Tensor<Cpu, 3>, Vec<usize>) {
    let lm = LogMel::for_rate(32000).unwrap();
    let batch = lm.batch(clips);
    let valid: Vec<usize> = batch.wave_lengths.iter().map(|&n| lm.frames(n)).collect();
    let mel = Tensor::<Cpu, 3>::from_data(
        TensorData::new(batch.data.clone(), [batch.batch, batch.frames, batch.n_mels]),
        &Default::default(),
    );
    (mel, valid)
}

fn embed(model: &ResNet38<Cpu>, clips: &[&[f32]]) -> Vec<f32> {
    let (mel, valid) = mel_batch(clips);
    model.forward(mel, &valid).into_data().into_vec::<f32>().unwrap()
}

fn small_waves() -> Vec<Vec<f32>> {
    vec![
        crate::common::prng::wave("small0", 2.0, 32000, 500.0),
        crate::common::prng::wave("small1", 1.3, 32000, 2500.0),
    ]
}

#[test]
fn resnet38_full_size_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnet38.safetensors");
    write_safetensors(&path, &panns_tensors(&ResNet38Config::default()));
    let model = ResNet38::<Cpu>::load_panns(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.embed_dim(), 2048);
    assert_eq!(model.shape(), ([64, 128, 256, 512], [3, 4, 6, 3]));
    let waves = [
        crate::common::prng::wave("clip0", 3.0, 32000, 440.0),
        crate::common::prng::wave("clip1", 2.2, 32000, 1000.0),
        crate::common::prng::wave("clip2", 1.5, 32000, 3000.0),
    ];
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    assert_rows_close(&embed(&model, &clips), &load("resnet38/full_batch.npy"), 0.99999, "batch of three lengths");
    assert_rows_close(&embed(&model, &clips[1..2]), &load("resnet38/full_clip1_alone.npy"), 0.99999, "clip alone");
}

#[test]
fn resnet38_loads_a_panns_checkpoint() {
    let path = fixture("resnet38/panns_small.pth");
    let model = ResNet38::<Cpu>::load_panns(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    // The first block (4) is narrower than the first stage (8): layer1.0 has a [conv, bn] shortcut.
    assert_eq!(model.shape(), ([8, 16, 16, 32], [3, 4, 6, 3]));
    assert!(model.resnet.layer1[0].downsample.is_some() && model.resnet.layer1[1].downsample.is_none());
    let waves = small_waves();
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let ours = embed(&model, &clips);
    let reference = load("resnet38/panns_small_emb.npy");
    assert_rows_close(&ours, &reference, 0.99999, "narrow ResNet38 from .pth");
    let worst = ours.iter().zip(&reference.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "max abs difference {worst}");
}

#[test]
fn a_reference_clap_checkpoint_over_resnet38_is_recognised_and_matches() {
    let device = Default::default();
    let (model, config) = Clap::<Cpu>::load_reference(
        &fixture("resnet38/reference.pth"),
        &fixture("text/bert/config.json"),
        32000,
        None,
        &device,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(config.audio, AudioEncoderConfig::ResNet38(ref c) if c.out == 64), "{:?}", config.audio);
    let waves = small_waves();
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let (mel, valid) = mel_batch(&clips);
    let audio: Vec<f32> = model.encode_audio(mel, &valid).into_data().into_vec().unwrap();
    assert_rows_close(&audio, &load("resnet38/audio_emb.npy"), 0.9999, "CLAP audio embeddings over ResNet38");
}

#[test]
fn bad_resnet38_weights_are_named() {
    let cfg = ResNet38Config { stem: 4, widths: [4, 8, 8, 8], blocks: [1, 2, 1, 1], out: 8, ..Default::default() };
    let good = panns_tensors(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, tensors: Vec<(String, Vec<usize>, Vec<f32>)>| {
        let path = dir.path().join(name);
        write_safetensors(&path, &tensors);
        path
    };
    let path = write("good.safetensors", good.clone());
    let model = ResNet38::<Cpu>::load_panns(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.shape(), ([4, 8, 8, 8], [1, 2, 1, 1]));

    let missing_key = "resnet.layer2.0.downsample.2.running_var";
    let missing: Vec<_> = good.iter().filter(|t| t.0 != missing_key).cloned().collect();
    let err = ResNet38::<Cpu>::load_panns(&write("missing.safetensors", missing), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.safetensors") && err.contains("downsample"), "{err}");

    let mut misshapen = good.clone();
    let t = misshapen.iter_mut().find(|t| t.0 == "resnet.layer3.0.conv2.weight").unwrap();
    *t = (t.0.clone(), vec![8, 8, 1, 1], vec![0.0; 64]);
    let err = ResNet38::<Cpu>::load_panns(&write("misshapen.safetensors", misshapen), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("misshapen.safetensors") && err.contains("layer3.0.conv2"), "{err}");

    let no_resnet: Vec<_> = good.iter().filter(|t| !t.0.starts_with("resnet.")).cloned().collect();
    let path = write("cnn.safetensors", no_resnet);
    let err = ResNet38::<Cpu>::load_panns(&path, &Default::default()).unwrap_err().to_string();
    assert!(err.contains("cnn.safetensors") && err.contains("not a ResNet38"), "{err}");
}

#[test]
fn resnet38_trains_a_step_in_training_mode() {
    clap_tools_backends::own_process!(1, {
        type Ad = Autodiff<Cpu>;
        let device = Default::default();
        let cfg = ResNet38Config { stem: 4, widths: [4, 8, 8, 8], blocks: [1, 1, 1, 1], out: 8, ..Default::default() };
        let mut model = cfg.init::<Ad>(&device);
        // A positive fc1 bias keeps the head's ReLU units alive (a head dead for every clip is the
        // one way the whole gradient could be zero): the gradient reaches layer2 by design.
        model.fc1.bias = Some(Param::from_tensor(Tensor::ones([8], &device)));
        let waves = small_waves();
        let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
        let (mel, valid) = mel_batch(&clips);
        let mel = Tensor::<Ad, 3>::from_data(mel.into_data(), &device);
        let out = model.forward(mel, &valid);
        assert_eq!(out.dims(), [2, 8]);
        let grads = out.sum().backward();
        let g = model.resnet.layer2[0].conv1.weight.grad(&grads).expect("a gradient for layer2.0.conv1");
        let g: Vec<f32> = g.into_data().into_vec().unwrap();
        assert!(g.iter().all(|x| x.is_finite()) && g.iter().any(|x| *x != 0.0), "gradient {g:?}");
        // BatchNorm's running statistics moved (batch statistics in training).
        let rm: Vec<f32> = model.resnet.layer1[0].bn1.running_mean.value_sync().into_data().into_vec().unwrap();
        assert!(rm.iter().any(|x| *x != 0.0), "running mean {rm:?}");
    });
}

#[test]
fn train_fine_tunes_a_reference_resnet38_checkpoint_and_eval_and_embed_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let audio = "stem = 4\nwidths = [8, 16, 16, 32]\nblocks = [3, 4, 6, 3]\nout = 64";
    let data = crate::common::fine_tune(dir.path(), "resnet38/reference.pth", audio, "resnet38");
    crate::common::embed_and_eval_the_fine_tuned(dir.path(), &data);
}

#[test]
fn the_resnet38_config_is_the_reference_shape_and_bad_values_are_named() {
    use clap_tools::train::config::TrainConfig;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = TrainConfig::from_file(&repo.join("configs/resnet38_bertmedium.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.model.audio.encoder(), AudioEncoderConfig::ResNet38(ResNet38Config::default()));
    assert_eq!(cfg.model.audio.encoder().output_dim(), 2048);

    let err = TrainConfig::from_file_with(
        &repo.join("configs/resnet38_bertmedium.toml"),
        &["model.audio.widths=[8, 16, 32]".into(), "model.audio.blocks=[3, 0, 6, 3]".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("model.audio.widths") && err.contains("model.audio.blocks"), "{err}");
    let err = TrainConfig::from_file_with(
        &repo.join("configs/resnet38_bertmedium.toml"),
        &["model.audio.channels=[8]".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("channels"), "a key resnet38 does not take is named: {err}");
}

#[test]
fn audio_encoder_names_the_kind_of_a_reference_checkpoint() {
    let embed = crate::model_audio::ReferenceEmbed::new("resnet38/reference.pth");
    embed.named_and_recognised_agree("resnet38");
    // Named otherwise: the checkpoint lacks that encoder's tensors, and says so.
    let (good, _, err) = embed.run(Some("cnn14"), "wrong", &[]);
    assert!(!good && err.contains("reference.pth") && err.contains("not a CNN14 checkpoint"), "{err}");
    let (good, _, err) = embed.run(Some("vgg"), "unknown", &[]);
    assert!(!good && err.contains("cnn14, wavegram_logmel_cnn14, resnet38 or ast"), "{err}");
}
