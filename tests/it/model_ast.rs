//! AST against the reference's own `AudioSpectrogramTransformer` (over a DeiT from today's timm, see
//! tests/fixtures/model/ast_encoder.py): a narrow one from a `.pth` in the layout of AST's AudioSet
//! checkpoint (a clip longer than its input frames included), a CLAP checkpoint in the reference's
//! released layout over one (recognised by its keys), errors that name the key, a training-mode step,
//! and `train` → `embed` with `kind = "ast"`.

use std::path::Path;

use clap_tools::model::ast::{Ast, AstConfig};
use clap_tools::model::clap::Clap;
use clap_tools::model::logmel::{LogMel, LogMelConfig};
use clap_tools::model::registry::AudioEncoderConfig;
use clap_tools::npy;
use clap_tools_backends::burn::backend::Autodiff;
use clap_tools_backends::burn::tensor::{Tensor, TensorData};
use clap_tools_backends::Cpu;

use crate::common::ok_in;
use crate::model_audio::{assert_rows_close, fixture, load};

/// The reference AST's front end: its log-mel with 128 bins.
fn mel_batch(clips: &[&[f32]]) -> Tensor<Cpu, 3> {
    let lm = LogMel::new(LogMelConfig { n_mels: 128, ..LogMelConfig::for_rate(32000).unwrap() });
    let batch = lm.batch(clips);
    Tensor::<Cpu, 3>::from_data(TensorData::new(batch.data, [batch.batch, batch.frames, 128]), &Default::default())
}

fn waves3() -> Vec<Vec<f32>> {
    vec![
        crate::common::prng::wave("ast0", 3.0, 32000, 700.0),
        crate::common::prng::wave("ast1", 1.2, 32000, 2000.0),
        crate::common::prng::wave("ast2", 2.0, 32000, 350.0),
    ]
}

#[test]
fn ast_loads_an_audioset_layout_checkpoint_and_matches_the_reference() {
    let path = fixture("ast/audioset_small.pth");
    let cfg = AstConfig::from_weights(&path, None, "module.").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((cfg.dim, cfg.depth, cfg.heads, cfg.mlp_dim, cfg.input_frames), (128, 2, 2, 512, 256), "{cfg:?}");
    let model = Ast::<Cpu>::load_audioset(&path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let waves = waves3();
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    // 3 s is 301 frames: cut to the 256 the positional embedding covers, as the reference cuts.
    let ours: Vec<f32> = model.forward(mel_batch(&clips)).into_data().into_vec().unwrap();
    assert_rows_close(&ours, &load("ast/audioset_small_emb.npy"), 0.99999, "narrow AST from .pth");
}

#[test]
fn a_reference_clap_checkpoint_over_ast_is_recognised_and_matches() {
    let device = Default::default();
    let (model, config) = Clap::<Cpu>::load_reference(
        &fixture("ast/reference.pth"),
        &fixture("text/bert/config.json"),
        32000,
        None,
        &device,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(config.audio, AudioEncoderConfig::Ast(ref c) if (c.dim, c.heads, c.input_frames) == (64, 1, 256)),
        "{:?}",
        config.audio
    );
    // The front end follows the registered input: 128 bins.
    assert_eq!(config.audio.front_end(32000).unwrap().config().n_mels, 128);
    let waves = [
        crate::common::prng::wave("small0", 2.0, 32000, 500.0),
        crate::common::prng::wave("small1", 1.3, 32000, 2500.0),
    ];
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let valid = [0, 0]; // unused: the reference's AST has no length mask
    let audio: Vec<f32> = model.encode_audio(mel_batch(&clips), &valid).into_data().into_vec().unwrap();
    assert_rows_close(&audio, &load("ast/audio_emb.npy"), 0.9999, "CLAP audio embeddings over AST");
}

#[test]
fn bad_ast_weights_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("ast/audioset_small.pth");
    let keys = clap_tools::model::weights::keys(&src, None).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = keys
        .iter()
        .map(|k| {
            let (v, s) = clap_tools::model::weights::read_tensor(&src, None, k).unwrap();
            (k.clone(), s, v)
        })
        .collect();
    let write = |name: &str, t: &[(String, Vec<usize>, Vec<f32>)]| {
        let p = dir.path().join(name);
        crate::model_audio::write_safetensors(&p, t);
        p
    };
    // The same tensors as safetensors load (the layout is the keys, not the container).
    let ok_path = write("good.safetensors", &tensors);
    Ast::<Cpu>::load_audioset(&ok_path, &Default::default()).unwrap_or_else(|e| panic!("{e}"));

    let missing: Vec<_> = tensors.iter().filter(|t| t.0 != "module.v.blocks.1.attn.qkv.bias").cloned().collect();
    let err = Ast::<Cpu>::load_audioset(&write("missing.safetensors", &missing), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.safetensors") && err.contains("blocks.1.attn.qkv.bias"), "{err}");

    let pos = tensors.iter_mut().find(|t| t.0 == "module.v.pos_embed").unwrap();
    *pos = (pos.0.clone(), vec![1, 7, 128], vec![0.0; 7 * 128]);
    let err =
        Ast::<Cpu>::load_audioset(&write("pos.safetensors", &tensors), &Default::default()).unwrap_err().to_string();
    assert!(err.contains("pos.safetensors") && err.contains("pos_embed"), "{err}");
}

#[test]
fn ast_trains_a_step_in_training_mode() {
    clap_tools_backends::own_process!(1, {
        type Ad = Autodiff<Cpu>;
        let device = Default::default();
        let cfg = AstConfig { dim: 32, depth: 2, heads: 2, mlp_dim: 128, input_frames: 128, ..AstConfig::default() };
        let model = cfg.init::<Ad>(&device);
        let waves = waves3();
        let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
        let mel = Tensor::<Ad, 3>::from_data(mel_batch(&clips).into_data(), &device);
        let out = model.forward(mel);
        assert_eq!(out.dims(), [3, 32]);
        // A sum of squares: a plain sum after LayerNorm (γ = 1, β = 0) is constant, with no gradient.
        let grads = (out.clone() * out).sum().backward();
        let qkv = model.v.blocks[0].attn.qkv.weight.grad(&grads).map(|g| g.into_data());
        let proj = model.v.patch_embed.proj.weight.grad(&grads).map(|g| g.into_data());
        for (what, g) in [("blocks.0.attn.qkv", qkv), ("patch_embed.proj", proj)] {
            let g: Vec<f32> = g.unwrap_or_else(|| panic!("a gradient for {what}")).into_vec().unwrap();
            let nonzero = g.iter().filter(|x| **x != 0.0).count();
            assert!(g.iter().all(|x| x.is_finite()) && nonzero > 0, "{what}: {nonzero} of {} nonzero", g.len());
        }
        let g: Vec<f32> = model.v.pos_embed.grad(&grads).expect("pos_embed's gradient").into_data().into_vec().unwrap();
        // Only the positions of the tokens present (2 + 12 × 12 for 128 frames) get a gradient.
        let used = (2 + 12 * 12) * 32;
        assert!(g[..used].iter().any(|x| *x != 0.0) && g[used..].iter().all(|x| *x == 0.0));
    });
}

#[test]
fn train_fine_tunes_a_reference_ast_checkpoint_and_embed_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let audio = "dim = 64\ndepth = 2\nheads = 1\ninput_frames = 256";
    crate::common::fine_tune(dir.path(), "ast/reference.pth", audio, "ast");
    let sub = dir.path().join("elsewhere");
    std::fs::create_dir_all(&sub).unwrap();
    ok_in(&sub, &["embed", "audio", "../demo/packed/waveforms.parquet", "--checkpoint", "../run/best", "-o", "a"]);
    let emb = npy::read_f32(&sub.join("a.npy")).unwrap();
    assert_eq!(emb.shape, vec![24, 24]);
    assert!(emb.data.iter().all(|x| x.is_finite()));
}

#[test]
fn the_ast_config_is_the_reference_shape() {
    use clap_tools::train::config::TrainConfig;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/ast_bertmedium.toml");
    let cfg = TrainConfig::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let audio = cfg.model.audio.encoder();
    assert_eq!(audio, AudioEncoderConfig::Ast(AstConfig::default()));
    // 12 frequency × 101 time patches + 2 tokens, as AST's AudioSet checkpoint's pos_embed.
    assert_eq!(AstConfig::default().positions(), 1214);
    assert_eq!(audio.front_end(32000).unwrap().config().n_mels, 128);
    let err = TrainConfig::from_file_with(&path, &["model.audio.heads=5".into()]).unwrap_err().to_string();
    assert!(err.contains("model.audio.heads"), "{err}");
}
