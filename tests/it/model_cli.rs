//! `clap-tools features` and `clap-tools embed` as a user runs them, checked against the reference
//! outputs in tests/fixtures/model (see generate.py there).

use std::path::{Path, PathBuf};

use crate::common::{fails, ok, run, s, WavSample};
use clap_tools::model::logmel::LogMel;
use clap_tools::npy;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(rel)
}

fn write_f32_wav(path: &Path, samples: &[f32]) {
    let x: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
    crate::common::write_wav_raw(path, 32000, 1, WavSample::F32, false, &x);
}

fn min_cosine(a: &npy::Array, b: &npy::Array) -> f64 {
    assert_eq!(a.shape, b.shape);
    let dim = a.shape[1];
    a.data
        .chunks(dim)
        .zip(b.data.chunks(dim))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| *p as f64 * *q as f64).sum();
            let n = |v: &[f32]| v.iter().map(|p| (*p as f64).powi(2)).sum::<f64>().sqrt();
            dot / (n(x) * n(y))
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn features_writes_the_log_mel_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let tones = npy::read_f32(&fixture("logmel/tones_32000.npy")).unwrap().data;
    let wav = dir.path().join("tones.wav");
    write_f32_wav(&wav, &tones);
    let out = dir.path().join("tones.npy");
    ok(&["features", s(&wav), "-o", s(&out)]);
    let mel = npy::read_f32(&out).unwrap();
    let lm = LogMel::for_rate(32000).unwrap();
    assert_eq!(mel.shape, vec![lm.frames(tones.len()), 64]);
    assert_eq!(mel.data, lm.compute(&tones), "a float WAV at 32 kHz decodes losslessly");
    // and it is torchaudio's log-mel: within 0.01 dB wherever torchaudio's float32 is exact to 0.005
    let torch = npy::read_f32(&fixture("logmel/tones_32000.mel.npy")).unwrap().data;
    let exact = npy::read_f32(&fixture("logmel/tones_32000.mel64.npy")).unwrap().data;
    let mut compared = 0;
    for ((a, b), e) in mel.data.iter().zip(&torch).zip(&exact) {
        if *b > -100.0 && (b - e).abs() <= 0.005 {
            assert!((a - b).abs() <= 0.01, "ours {a} vs torchaudio {b}");
            compared += 1;
        }
    }
    assert!(compared > mel.data.len() / 2);

    let err = fails(&["features", s(&dir.path().join("nope.wav")), "-o", s(&out)]);
    assert!(err.contains("nope.wav"), "{err}");
    let err = fails(&["features", s(&wav), "-o", s(&out), "--sample-rate", "44100"]);
    assert!(err.contains("44100"), "{err}");
}

/// The two clips of the checkpoint fixture as WAV files.
fn fixture_clips(dir: &Path) -> Vec<PathBuf> {
    let waves = [
        crate::common::prng::wave("small0", 2.0, 32000, 500.0),
        crate::common::prng::wave("small1", 1.3, 32000, 2500.0),
    ];
    waves
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let p = dir.join(format!("clip{i}.wav"));
            write_f32_wav(&p, w);
            p
        })
        .collect()
}

#[test]
fn embed_audio_and_text_from_a_reference_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let clips = fixture_clips(&dir.path().join("audio"));
    let ckpt = fixture("checkpoint/reference.pth");
    let text_dir = dir.path().join("bert");
    std::fs::create_dir_all(&text_dir).unwrap();
    std::fs::copy(fixture("text/bert/config.json"), text_dir.join("config.json")).unwrap();
    std::fs::copy(fixture("text/tokenizer/vocab.txt"), text_dir.join("vocab.txt")).unwrap();
    let out = dir.path().join("audio_emb");
    // batch of two: the fixture embedded both clips in one zero-padded batch
    ok(&[
        "embed",
        "audio",
        s(&clips[0]),
        s(&clips[1]),
        "--checkpoint",
        s(&ckpt),
        "--text-encoder",
        s(&text_dir),
        "-o",
        s(&out),
        "--batch-size",
        "2",
        // The fixture is the reference's batch of two, zero-padded to the longer clip.
        "--padded-batches",
    ]);
    let ours = npy::read_f32(&out.with_extension("npy")).unwrap();
    let reference = npy::read_f32(&fixture("checkpoint/audio_emb.npy")).unwrap();
    let c = min_cosine(&ours, &reference);
    assert!(c >= 0.9999, "audio embeddings: cosine {c}");
    let norms: Vec<f32> =
        ours.data.chunks(ours.shape[1]).map(|r| r.iter().map(|x| x * x).sum::<f32>().sqrt()).collect();
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "L2-normalised: {norms:?}");
    let table = clap_tools::table::read_batches(&out.with_extension("parquet")).unwrap();
    assert_eq!(table.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    // the same clips packed into shards
    let wav_csv = dir.path().join("wav.csv");
    ok(&["scan", s(&dir.path().join("audio")), "-o", s(&wav_csv)]);
    let packed = dir.path().join("packed");
    ok(&["pack", s(&wav_csv), "-o", s(&packed), "--sample-rate", "32000", "--dtype", "f32"]);
    let out2 = dir.path().join("packed_emb");
    ok(&[
        "embed",
        "audio",
        s(&packed.join("waveforms.parquet")),
        "--checkpoint",
        s(&ckpt),
        "--text-encoder",
        s(&text_dir),
        "-o",
        s(&out2),
        "--batch-size",
        "2",
        "--padded-batches",
    ]);
    let batches = clap_tools::table::read_batches(&out2.with_extension("parquet")).unwrap();
    let ids: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name("audio_id").unwrap();
            let col = col.as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
            col.iter().map(|v| v.unwrap().to_string()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, ["clip0.wav", "clip1.wav"], "rows follow the waveform index");
    let c = min_cosine(&npy::read_f32(&out2.with_extension("npy")).unwrap(), &reference);
    assert!(c >= 0.9999, "audio embeddings from shards: cosine {c}");

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("checkpoint/captions.json")).unwrap()).unwrap();
    let mut args: Vec<String> = ["embed", "text", "--checkpoint", s(&ckpt), "--text-encoder", s(&text_dir)]
        .iter()
        .map(|x| x.to_string())
        .collect();
    for c in meta["captions"].as_array().unwrap() {
        args.push("--text".into());
        args.push(c.as_str().unwrap().into());
    }
    let out3 = dir.path().join("text_emb");
    args.extend(["-o".to_string(), s(&out3).to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&refs);
    let c = min_cosine(
        &npy::read_f32(&out3.with_extension("npy")).unwrap(),
        &npy::read_f32(&fixture("checkpoint/text_emb.npy")).unwrap(),
    );
    assert!(c >= 0.9999, "text embeddings: cosine {c}");
}

#[test]
fn embed_reports_bad_inputs_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let clips = fixture_clips(&dir.path().join("audio"));
    let broken = dir.path().join("audio/broken.wav");
    std::fs::write(&broken, b"RIFF\x10\x00\x00\x00WAVEfmt garbage").unwrap();
    let ckpt = fixture("checkpoint/reference.pth");
    let text_dir = fixture("text/bert");
    let out = dir.path().join("emb");
    let (okay, _, stderr) = run(&[
        "embed",
        "audio",
        s(&dir.path().join("audio")),
        "--checkpoint",
        s(&ckpt),
        "--text-encoder",
        s(&text_dir),
        "-o",
        s(&out),
    ]);
    assert!(!okay, "a failed clip makes the exit status non-zero");
    assert!(stderr.contains("broken.wav"), "{stderr}");
    let got = npy::read_f32(&out.with_extension("npy")).unwrap();
    assert_eq!(got.shape[0], clips.len(), "the good clips are embedded");

    let err = fails(&["embed", "audio", s(&clips[0]), "--checkpoint", s(&ckpt), "-o", s(&out)]);
    assert!(err.contains("--text-encoder"), "{err}");
    let err = fails(&[
        "embed",
        "audio",
        s(&clips[0]),
        "--checkpoint",
        s(&dir.path().join("none.pth")),
        "--text-encoder",
        s(&text_dir),
        "-o",
        s(&out),
    ]);
    assert!(err.contains("none.pth"), "{err}");
    let err = fails(&[
        "embed",
        "text",
        "--text",
        "a dog",
        "--checkpoint",
        s(&ckpt),
        "--text-encoder",
        s(&dir.path().join("audio")),
        "-o",
        s(&out),
    ]);
    // a text-encoder folder without the BERT's files: the error names the folder's missing file
    assert!(err.contains(s(&dir.path().join("audio"))) && err.contains("not found"), "{err}");
}
