//! Parity of the audio side of the model core with the reference's PyTorch stack: the log-mel front
//! end against torchaudio, CNN14 against the reference's Cnn14 (full size with deterministic weights,
//! and a narrow one from a PANNs-layout .pth), and the errors of weight loading. Fixtures:
//! tests/fixtures/model/generate.py.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap_tools::model::cnn14::{Cnn14, Cnn14Config};
use clap_tools::model::logmel::LogMel;
use clap_tools::npy;
use clap_tools_backends::burn::tensor::{Tensor, TensorData};
use clap_tools_backends::Cpu;

pub(crate) fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(rel)
}

pub(crate) fn load(rel: &str) -> npy::Array {
    npy::read_f32(&fixture(rel)).unwrap_or_else(|e| panic!("{e}"))
}

/// Compare ours with torchaudio over the bins it puts above -100 dB; returns the worst excess over the
/// tolerance (≤ 0 passes) and where it is.
///
/// torchaudio computes in float32, and on pure tones and sweeps its own FFT rounding moves the weak
/// bins (120+ dB below the frame's energy) by up to 0.1 dB from the exact values (the fixtures hold
/// both: `*.mel.npy` float32, `*.mel64.npy` float64). So each bin must be within 0.01 dB of
/// torchaudio's float32 value, or else no further from the exact value than torchaudio's float32 is,
/// plus 0.01 dB. Bins at the floor must be at the floor in ours too.
fn db_excess(ours: &[f32], ref32: &[f32], ref64: &[f32]) -> (f32, String) {
    assert_eq!(ours.len(), ref32.len(), "frame count or band count differs");
    let mut worst = (f32::MIN, String::new());
    for (i, ((&a, &b), &e)) in ours.iter().zip(ref32).zip(ref64).enumerate() {
        let excess = if b <= -100.0 {
            assert!(a < -99.5, "element {i}: reference at the floor ({b}), ours {a}");
            continue;
        } else {
            ((a - b).abs() - 0.01).min((a - e).abs() - ((b - e).abs() + 0.01))
        };
        if excess > worst.0 {
            worst = (excess, format!("frame {} band {}: ours {a} dB, torchaudio {b} dB, exact {e} dB", i / 64, i % 64));
        }
    }
    worst
}

#[test]
fn logmel_matches_torchaudio_per_signal() {
    for sr in [32000, 16000] {
        let lm = LogMel::for_rate(sr).unwrap();
        for name in ["noise", "tones", "sweep", "silence", "quiet", "short"] {
            let x = load(&format!("logmel/{name}_{sr}.npy"));
            let reference = load(&format!("logmel/{name}_{sr}.mel.npy"));
            let exact = load(&format!("logmel/{name}_{sr}.mel64.npy"));
            let ours = lm.compute(&x.data);
            assert_eq!(reference.shape, vec![lm.frames(x.data.len()), 64], "{name} at {sr} Hz");
            let (excess, at) = db_excess(&ours, &reference.data, &exact.data);
            assert!(excess <= 0.0, "{name} at {sr} Hz: {excess} dB over the tolerance at {at}");
        }
    }
}

#[test]
fn logmel_batch_matches_torchaudio_with_zero_padding() {
    for sr in [32000usize, 16000] {
        let lm = LogMel::for_rate(sr as u32).unwrap();
        let sweep = load(&format!("logmel/sweep_{sr}.npy")).data;
        let noise = load(&format!("logmel/noise_{sr}.npy")).data;
        let tones = load(&format!("logmel/tones_{sr}.npy")).data;
        let clips: [&[f32]; 3] = [&sweep, &noise[..300], &tones[..3 * sr / 10]];
        let batch = lm.batch(&clips);
        let reference = load(&format!("logmel/batch_{sr}.mel.npy"));
        let exact = load(&format!("logmel/batch_{sr}.mel64.npy"));
        assert_eq!(reference.shape, vec![3, batch.frames, 64]);
        assert_eq!(batch.wave_lengths, vec![sweep.len(), 300, 3 * sr / 10]);
        let (excess, at) = db_excess(&batch.data, &reference.data, &exact.data);
        assert!(excess <= 0.0, "batch at {sr} Hz: {excess} dB over the tolerance at {at}");
    }
}

/// The PANNs keys and shapes of a CNN14 with the given block widths.
fn panns_shapes(cfg: &Cnn14Config) -> Vec<(String, Vec<usize>)> {
    let bn = |p: &str, c: usize| {
        ["weight", "bias", "running_mean", "running_var"].map(|s| (format!("{p}.{s}"), vec![c])).to_vec()
    };
    let mut out = bn("bn0", cfg.n_mels);
    let mut c_in = 1;
    for (i, &c) in cfg.channels.iter().enumerate() {
        let b = format!("conv_block{}", i + 1);
        out.push((format!("{b}.conv1.weight"), vec![c, c_in, 3, 3]));
        out.push((format!("{b}.conv2.weight"), vec![c, c, 3, 3]));
        out.extend(bn(&format!("{b}.bn1"), c));
        out.extend(bn(&format!("{b}.bn2"), c));
        c_in = c;
    }
    out.push(("fc1.weight".into(), vec![c_in, c_in]));
    out.push(("fc1.bias".into(), vec![c_in]));
    out
}

pub(crate) fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, s, v)| (k.clone(), s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, s, b)| {
            (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
        })
        .collect();
    safetensors::serialize_to_file(views, None::<HashMap<String, String>>, path).unwrap();
}

fn panns_tensors(cfg: &Cnn14Config) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    filled(panns_shapes(cfg))
}

/// Each tensor (PANNs key names) filled with its deterministic values (`prng::panns_value`, as the
/// fixture script fills the reference's modules).
pub(crate) fn filled(shapes: Vec<(String, Vec<usize>)>) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    shapes
        .into_iter()
        .map(|(k, s)| {
            let v = crate::common::prng::panns_value(&k, &s);
            (k, s, v)
        })
        .collect()
}

fn embed(model: &Cnn14<Cpu>, clips: &[&[f32]]) -> (Vec<f32>, usize) {
    let lm = LogMel::for_rate(32000).unwrap();
    let batch = lm.batch(clips);
    let valid: Vec<usize> = batch.wave_lengths.iter().map(|&n| lm.frames(n)).collect();
    let mel = Tensor::<Cpu, 3>::from_data(
        TensorData::new(batch.data.clone(), [batch.batch, batch.frames, batch.n_mels]),
        &Default::default(),
    );
    let out = model.forward(mel, &valid);
    let dim = out.dims()[1];
    (out.into_data().into_vec::<f32>().unwrap(), dim)
}

pub(crate) fn assert_rows_close(ours: &[f32], reference: &npy::Array, min_cos: f64, what: &str) {
    let dim = reference.shape[1];
    assert_eq!(ours.len(), reference.data.len(), "{what}: shape");
    for (r, (a, b)) in ours.chunks(dim).zip(reference.data.chunks(dim)).enumerate() {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let cos = dot / (na * nb);
        assert!(cos >= min_cos, "{what}: row {r} cosine {cos} < {min_cos}");
        assert!(nb > 0.0 && a.iter().all(|x| x.is_finite()), "{what}: row {r} degenerate");
    }
}

#[test]
fn cnn14_full_size_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn14.safetensors");
    write_safetensors(&path, &panns_tensors(&Cnn14Config::default()));
    let model = Cnn14::<Cpu>::load_panns(&path, &Default::default()).unwrap();
    assert_eq!(model.embed_dim(), 2048);
    let waves = [
        crate::common::prng::wave("clip0", 3.0, 32000, 440.0),
        crate::common::prng::wave("clip1", 2.2, 32000, 1000.0),
        crate::common::prng::wave("clip2", 1.5, 32000, 3000.0),
    ];
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let (ours, _) = embed(&model, &clips);
    assert_rows_close(&ours, &load("cnn14/full_batch.npy"), 0.99999, "batch of three lengths");
    let (alone, _) = embed(&model, &clips[1..2]);
    assert_rows_close(&alone, &load("cnn14/full_clip1_alone.npy"), 0.99999, "clip alone");
}

#[test]
fn cnn14_loads_a_panns_checkpoint() {
    let path = fixture("cnn14/panns_small.pth");
    let model = Cnn14::<Cpu>::load_panns(&path, &Default::default()).unwrap();
    assert_eq!(model.embed_dim(), 64);
    let waves = [
        crate::common::prng::wave("small0", 2.0, 32000, 500.0),
        crate::common::prng::wave("small1", 1.3, 32000, 2500.0),
    ];
    let clips: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
    let (ours, _) = embed(&model, &clips);
    let reference = load("cnn14/panns_small_emb.npy");
    assert_rows_close(&ours, &reference, 0.99999, "narrow CNN14 from .pth");
    let worst = ours.iter().zip(&reference.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "max abs difference {worst}");
}

#[test]
fn bad_weights_are_named() {
    let cfg = Cnn14Config { channels: [4, 4, 8, 8, 8, 8], n_mels: 64, dropout: true };
    let good = panns_tensors(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let try_load = |name: &str, tensors: Vec<(String, Vec<usize>, Vec<f32>)>| -> String {
        let path = dir.path().join(name);
        write_safetensors(&path, &tensors);
        let err = Cnn14::<Cpu>::load_panns(&path, &Default::default()).unwrap_err().to_string();
        assert!(err.contains(name), "error should name the file: {err}");
        err
    };
    let missing: Vec<_> = good.iter().filter(|t| t.0 != "conv_block3.conv2.weight").cloned().collect();
    let err = try_load("missing.safetensors", missing);
    assert!(err.contains("conv_block3.conv2.weight"), "{err}");

    let mut misshapen = good.clone();
    let bias = misshapen.iter_mut().find(|t| t.0 == "fc1.bias").unwrap();
    *bias = ("fc1.bias".into(), vec![5], vec![0.0; 5]);
    let err = try_load("misshapen.safetensors", misshapen);
    assert!(err.contains("fc1.bias"), "{err}");

    let mut extra = good.clone();
    extra.push(("conv_block7.conv1.weight".into(), vec![2, 2], vec![0.0; 4]));
    extra.push(("fc_audioset.weight".into(), vec![527, 8], vec![0.0; 527 * 8]));
    let err = try_load("extra.safetensors", extra);
    assert!(err.contains("conv_block7.conv1.weight"), "{err}");
    assert!(!err.contains("fc_audioset"), "PANNs' classifier is ignored: {err}");

    let err = Cnn14::<Cpu>::load_panns(&dir.path().join("nope.pth"), &Default::default()).unwrap_err().to_string();
    assert!(err.contains("nope.pth"), "{err}");
}

/// `embed audio` of one generated clip with a reference-layout CLAP checkpoint of the fixtures and
/// the fixtures' BERT folder, its audio encoder named with `--audio-encoder` or recognised.
pub(crate) struct ReferenceEmbed {
    dir: tempfile::TempDir,
    wav: PathBuf,
    text: PathBuf,
    checkpoint: PathBuf,
}

impl ReferenceEmbed {
    pub(crate) fn new(checkpoint: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("bert");
        std::fs::create_dir_all(&text).unwrap();
        std::fs::copy(fixture("text/bert/config.json"), text.join("config.json")).unwrap();
        std::fs::copy(fixture("text/tokenizer/vocab.txt"), text.join("vocab.txt")).unwrap();
        let wav = dir.path().join("clip.wav");
        crate::common::write_wav(&wav, 32000, 1, 32000);
        Self { wav, text, checkpoint: fixture(checkpoint), dir }
    }

    /// Run it into `out`.npy with `kind` (None: recognised) and `extra` arguments: (success,
    /// stdout, stderr).
    pub(crate) fn run(&self, kind: Option<&str>, out: &str, extra: &[&str]) -> (bool, String, String) {
        let s = crate::common::s;
        let out = self.dir.path().join(out);
        let mut args =
            vec!["embed", "audio", s(&self.wav), "--checkpoint", s(&self.checkpoint), "--text-encoder", s(&self.text)];
        if let Some(k) = kind {
            args.extend(["--audio-encoder", k]);
        }
        args.extend(extra);
        args.extend(["-o", s(&out)]);
        crate::common::run(&args)
    }

    /// Named as its keys show, or recognised: the same embeddings.
    pub(crate) fn named_and_recognised_agree(&self, kind: &str) {
        let (good, _, err) = self.run(Some(kind), "named", &[]);
        assert!(good, "{err}");
        let (good, _, err) = self.run(None, "recognised", &[]);
        assert!(good, "{err}");
        let a = npy::read_f32(&self.dir.path().join("named.npy")).unwrap();
        let b = npy::read_f32(&self.dir.path().join("recognised.npy")).unwrap();
        assert_eq!(a.data, b.data);
    }
}

/// The 3×3 stride-1 convolution's gradients through burn's autodiff on the CPU backend (the
/// kernels of `CLAP_TOOLS_KERNELS`, see README "Building") against the definition in f64, on layers
/// that take each path: Winograd (32 tiles or more per image), im2col, and a single input channel
/// (whose input gradient burn-flex computes).
#[test]
#[allow(clippy::needless_range_loop)] // the definition, index by index
fn conv3x3_gradients_through_autodiff_match_the_definition() {
    use clap_tools::split::SplitMix64;
    use clap_tools_backends::burn::backend::Autodiff;
    use clap_tools_backends::burn::tensor::module::conv2d;
    use clap_tools_backends::burn::tensor::ops::ConvOptions;
    type A = Autodiff<Cpu>;
    let mut rng = SplitMix64::new(3);
    for (batch, c_in, c_out, h, w) in [(2, 8, 9, 24, 25), (3, 10, 12, 5, 3), (2, 1, 8, 9, 7)] {
        let mut draw = |n: usize| -> Vec<f32> {
            (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect()
        };
        let (xv, wv, bv, gv) =
            (draw(batch * c_in * h * w), draw(c_out * c_in * 9), draw(c_out), draw(batch * c_out * h * w));
        fn tensor<const D: usize>(v: &[f32], shape: [usize; D]) -> Tensor<A, D> {
            Tensor::from_data(TensorData::new(v.to_vec(), shape), &Default::default())
        }
        let x: Tensor<A, 4> = tensor(&xv, [batch, c_in, h, w]).require_grad();
        let weight: Tensor<A, 4> = tensor(&wv, [c_out, c_in, 3, 3]).require_grad();
        let bias: Tensor<A, 1> = tensor(&bv, [c_out]).require_grad();
        let g: Tensor<A, 4> = tensor(&gv, [batch, c_out, h, w]);
        let y = conv2d(x.clone(), weight.clone(), Some(bias.clone()), ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
        let grads = (y.clone() * g).sum().backward();
        let values = |t: Tensor<Cpu, 4>| t.into_data().to_vec::<f32>().unwrap();
        let (y, dx, dw) = (values(y.inner()), values(x.grad(&grads).unwrap()), values(weight.grad(&grads).unwrap()));
        // The definition: y = b + Σ w·x; dx and dw by the chain rule, in f64.
        let at = |n: usize, c: usize, yy: usize, xx: usize, ch: usize| ((n * ch + c) * h + yy) * w + xx;
        let (mut ey, mut edx, mut edw) = (vec![0f64; y.len()], vec![0f64; dx.len()], vec![0f64; dw.len()]);
        for n in 0..batch {
            for k in 0..c_out {
                for oy in 0..h {
                    for ox in 0..w {
                        let o = at(n, k, oy, ox, c_out);
                        ey[o] += bv[k] as f64;
                        for c in 0..c_in {
                            for tap in 0..9 {
                                let (iy, ix) = ((oy + tap / 3).wrapping_sub(1), (ox + tap % 3).wrapping_sub(1));
                                if iy < h && ix < w {
                                    let (i, wi) = (at(n, c, iy, ix, c_in), (k * c_in + c) * 9 + tap);
                                    ey[o] += wv[wi] as f64 * xv[i] as f64;
                                    edx[i] += wv[wi] as f64 * gv[o] as f64;
                                    edw[wi] += xv[i] as f64 * gv[o] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        for (name, ours, exact) in [("output", &y, &ey), ("input gradient", &dx, &edx), ("weight gradient", &dw, &edw)]
        {
            let worst = ours.iter().zip(exact.iter()).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
            let scale = exact.iter().fold(1f64, |m, v| m.max(v.abs()));
            assert!(
                worst <= 1e-5 * scale,
                "[{batch}, {c_in}, {h}, {w}] → {c_out}: {name} off by {worst} (largest value {scale})"
            );
        }
    }
}
