//! Parity of the CLAP head, the InfoNCE loss (value and gradients) and the import of a checkpoint in
//! the reference's released layout. Fixtures: tests/fixtures/model/generate.py.

use std::path::{Path, PathBuf};

use clap_tools::model::clap::{info_nce, l2_normalize, Clap};
use clap_tools::model::logmel::LogMel;
use clap_tools::model::tokenizer::CaptionTokenizer;
use clap_tools::npy;
use clap_tools_backends::burn::backend::Autodiff;
use clap_tools_backends::burn::tensor::{Tensor, TensorData};
use clap_tools_backends::Cpu;

type Ad = Autodiff<Cpu>;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(rel)
}

fn tensor<const D: usize>(v: &serde_json::Value) -> Tensor<Ad, D> {
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let data: Vec<f32> = v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    let shape = if shape.is_empty() { vec![1] } else { shape };
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

fn values(v: &serde_json::Value) -> Vec<f32> {
    v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn infonce_loss_and_gradients_match_pytorch() {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("clap/loss.json")).unwrap()).unwrap();
    let v = &doc["values"];
    let audio = tensor::<2>(&v["audio"]).require_grad();
    let text = tensor::<2>(&v["text"]).require_grad();
    // PyTorch Linear weights are [out, in]: y = x W^T + b
    let aw = tensor::<2>(&v["audio_proj.weight"]).require_grad();
    let ab = tensor::<1>(&v["audio_proj.bias"]).require_grad();
    let tw = tensor::<2>(&v["text_proj.weight"]).require_grad();
    let tb = tensor::<1>(&v["text_proj.bias"]).require_grad();
    let scale = tensor::<1>(&v["logit_scale"]).require_grad();
    let a = l2_normalize(audio.clone().matmul(aw.clone().transpose()) + ab.clone().unsqueeze());
    let t = l2_normalize(text.clone().matmul(tw.clone().transpose()) + tb.clone().unsqueeze());
    let loss = info_nce(a, t, scale.clone());
    let value: f32 = loss.clone().into_scalar();
    let expected = doc["loss"].as_f64().unwrap() as f32;
    assert!((value - expected).abs() <= 1e-5, "loss {value} vs PyTorch {expected}");
    let grads = loss.backward();
    let g = &doc["grads"];
    let check = |name: &str, ours: Vec<f32>| {
        let d = max_diff(&ours, &values(&g[name]));
        assert!(d <= 1e-5, "gradient of {name}: max difference {d}");
    };
    check("audio", audio.grad(&grads).unwrap().into_data().into_vec().unwrap());
    check("text", text.grad(&grads).unwrap().into_data().into_vec().unwrap());
    check("audio_proj.weight", aw.grad(&grads).unwrap().into_data().into_vec().unwrap());
    check("audio_proj.bias", ab.grad(&grads).unwrap().into_data().into_vec().unwrap());
    check("text_proj.weight", tw.grad(&grads).unwrap().into_data().into_vec().unwrap());
    check("text_proj.bias", tb.grad(&grads).unwrap().into_data().into_vec().unwrap());
    check("logit_scale", scale.grad(&grads).unwrap().into_data().into_vec().unwrap());
}

fn cosines(ours: &[f32], reference: &npy::Array) -> Vec<f64> {
    let dim = reference.shape[1];
    assert_eq!(ours.len(), reference.data.len());
    ours.chunks(dim)
        .zip(reference.data.chunks(dim))
        .map(|(a, b)| {
            let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            dot / (n(a) * n(b))
        })
        .collect()
}

#[test]
fn reference_checkpoint_embeddings_match_pytorch() {
    let device = Default::default();
    let (model, _) = Clap::<Cpu>::load_reference(
        &fixture("checkpoint/reference.pth"),
        &fixture("text/bert/config.json"),
        32000,
        None,
        &device,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("checkpoint/captions.json")).unwrap()).unwrap();
    let scale = meta["logit_scale"].as_f64().unwrap() as f32;
    let ours_scale: f32 = model.logit_scale.val().into_scalar();
    assert!((ours_scale - scale).abs() < 1e-6, "logit_scale {ours_scale} vs {scale}");

    let lm = LogMel::for_rate(32000).unwrap();
    let waves = [
        crate::common::prng::wave("small0", 2.0, 32000, 500.0),
        crate::common::prng::wave("small1", 1.3, 32000, 2500.0),
    ];
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let batch = lm.batch(&clips);
    let valid: Vec<usize> = batch.wave_lengths.iter().map(|&n| lm.frames(n)).collect();
    let mel = Tensor::<Cpu, 3>::from_data(TensorData::new(batch.data, [batch.batch, batch.frames, 64]), &device);
    let audio: Vec<f32> = model.encode_audio(mel, &valid).into_data().into_vec().unwrap();
    for (i, c) in cosines(&audio, &npy::read_f32(&fixture("checkpoint/audio_emb.npy")).unwrap()).iter().enumerate() {
        assert!(*c >= 0.9999, "audio embedding {i}: cosine {c}");
    }

    let tok = CaptionTokenizer::from_dir(&fixture("text/tokenizer"), 30).unwrap();
    let captions: Vec<String> =
        meta["captions"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
    let (ids, mask, types) = tok.encode_batch(&refs).unwrap().to_tensors::<Cpu>(&device);
    let text: Vec<f32> = model.encode_text(ids, mask, types).into_data().into_vec().unwrap();
    for (i, c) in cosines(&text, &npy::read_f32(&fixture("checkpoint/text_emb.npy")).unwrap()).iter().enumerate() {
        assert!(*c >= 0.9999, "text embedding {i}: cosine {c}");
    }
}

#[test]
fn clap_tools_checkpoint_round_trips() {
    let device = Default::default();
    let path = fixture("checkpoint/reference.pth");
    let (model, config) =
        Clap::<Cpu>::load_reference(&path, &fixture("text/bert/config.json"), 32000, None, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    model.save_dir(&config, &ckpt).unwrap();
    let names: Vec<String> =
        std::fs::read_dir(&ckpt).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "no temporary files left: {names:?}");
    // The weight names are the reference's (the encoder's kind is in clap.json, not in the names).
    let keys = clap_tools::model::weights::keys(&ckpt.join("model.safetensors"), None).unwrap();
    assert!(keys.iter().any(|k| k == "audio_encoder.conv_block1.conv1.weight"), "{keys:?}");
    assert!(keys.iter().any(|k| k == "text_encoder.encoder.layer.0.attention.self_attn.query.weight"), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("Cnn14") || k.contains("Bert")), "{keys:?}");
    let (loaded, cfg) = Clap::<Cpu>::load_dir(&ckpt, &device).unwrap();
    assert_eq!(cfg.shared_dim, 24);
    assert_eq!(cfg.audio, config.audio);
    let lm = LogMel::for_rate(32000).unwrap();
    let wave = crate::common::prng::wave("small0", 2.0, 32000, 500.0);
    let mel =
        || Tensor::<Cpu, 3>::from_data(TensorData::new(lm.compute(&wave), [1, lm.frames(wave.len()), 64]), &device);
    let valid = [lm.frames(wave.len())];
    let a: Vec<f32> = model.encode_audio(mel(), &valid).into_data().into_vec().unwrap();
    let b: Vec<f32> = loaded.encode_audio(mel(), &valid).into_data().into_vec().unwrap();
    assert_eq!(a, b, "audio embeddings after save/load");
    let tok = CaptionTokenizer::from_dir(&fixture("text/tokenizer"), 30).unwrap();
    let t = |m: &Clap<Cpu>| -> Vec<f32> {
        let (ids, mask, types) = tok.encode_batch(&["a dog barks"]).unwrap().to_tensors::<Cpu>(&device);
        m.encode_text(ids, mask, types).into_data().into_vec().unwrap()
    };
    assert_eq!(t(&model), t(&loaded), "text embeddings after save/load");
    let s1: f32 = model.logit_scale.val().into_scalar();
    let s2: f32 = loaded.logit_scale.val().into_scalar();
    assert_eq!(s1, s2);

    // A clap.json from before the encoders had kinds reads as CNN14 + BERT.
    let mut old: serde_json::Value = serde_json::from_slice(&std::fs::read(ckpt.join("clap.json")).unwrap()).unwrap();
    old["audio"].as_object_mut().unwrap().remove("kind");
    old["text"].as_object_mut().unwrap().remove("kind");
    std::fs::write(ckpt.join("clap.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    let (_, cfg) = Clap::<Cpu>::load_dir(&ckpt, &device).unwrap();
    assert_eq!((cfg.audio.kind(), cfg.text.kind()), ("cnn14", "bert"));

    // a damaged config is an error naming the file
    std::fs::write(ckpt.join("clap.json"), b"{\"sample_rate\": 32000}").unwrap();
    let err = Clap::<Cpu>::load_dir(&ckpt, &device).unwrap_err().to_string();
    assert!(err.contains("clap.json"), "{err}");
}
