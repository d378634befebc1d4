//! Hostile input: files that lie in their headers. Each is one item's failure, named with its reason;
//! the batch job goes on, and nothing is allocated for what the header claims.

use std::path::Path;

use crate::common::*;

/// A WAV whose header says whatever it is given (block align and byte rate wrap as a careless writer's
/// would), with `data` as its samples.
fn lying_wav(path: &Path, channels: u16, rate: u32, data: &[u8]) {
    let bits: u16 = 16;
    let block_align = channels.wrapping_mul(bits / 8);
    let byte_rate = rate.wrapping_mul(block_align as u32);
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&byte_rate.to_le_bytes());
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b).unwrap();
}

/// A folder with one good clip and three that lie: 65535 channels, 4294967295 Hz, 1 Hz.
fn hostile_folder(dir: &Path) -> std::path::PathBuf {
    let audio = dir.join("audio");
    write_wav(&audio.join("good.wav"), 16000, 1, 8000);
    lying_wav(&audio.join("channels.wav"), 65535, 16000, &[1u8; 8192]);
    lying_wav(&audio.join("rate_huge.wav"), 1, u32::MAX, &[1u8; 8192]);
    lying_wav(&audio.join("rate_1hz.wav"), 1, 1, &[1u8, 0, 2, 0, 3, 0]);
    audio
}

#[test]
fn scan_and_pack_report_lying_headers_and_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let audio = hostile_folder(dir.path());
    // scan: every file keeps its row; the liars carry the reason.
    let clips_table = dir.path().join("clips.parquet");
    ok(&["scan", s(&audio), "-o", s(&clips_table)]);
    let clips = clap_tools::table::read_clips(&clips_table).unwrap();
    assert_eq!(clips.len(), 4);
    for c in &clips {
        match c.audio_id.as_str() {
            "good.wav" => assert!(c.probe_error.is_none(), "{c:?}"),
            _ => assert!(c.probe_error.is_some(), "{} should carry a probe error: {c:?}", c.audio_id),
        }
    }
    // pack: the good clip is packed, the three others are failure rows with a reason; exit 3.
    let wav_csv = dir.path().join("wav.csv");
    ok(&["scan", s(&audio), "-o", s(&wav_csv)]);
    let out = dir.path().join("packed");
    let started = std::time::Instant::now();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["pack", s(&wav_csv), "-o", s(&out), "--sample-rate", "32000"])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(3), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(!String::from_utf8_lossy(&status.stderr).contains("panicked at"), "a raw panic was printed");
    let failures = std::fs::read_to_string(out.join("failures.csv")).unwrap();
    for name in ["channels.wav", "rate_huge.wav", "rate_1hz.wav"] {
        let line = failures.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not in {failures}"));
        assert!(line.contains("Hz") || line.contains("channels") || line.contains("panicked"), "{line}");
    }
    let packed = clap_tools::shards::reader::read_index(&out.join("waveform.csv")).unwrap();
    assert_eq!(packed.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["good.wav"]);
    // Refused from the header, not after gigabytes (well under the minutes it took before).
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn features_refuses_an_impossible_rate_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let audio = hostile_folder(dir.path());
    for name in ["rate_1hz.wav", "rate_huge.wav", "channels.wav"] {
        let err = fails(&["features", s(&audio.join(name)), "-o", s(&dir.path().join("m.npy"))]);
        assert!(err.contains(name), "{err}");
        assert!(!err.contains("panicked at"), "{err}");
    }
    assert_absent(&dir.path().join("m.npy"));
}

#[test]
fn numbers_and_headers_that_lie_are_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("ac.parquet");
    for (value, field) in [("9223372036854775807", "start_time"), ("1e30", "start_time"), ("-5", "start_time")] {
        let csv = d.join("train.csv");
        std::fs::write(&csv, format!("audiocap_id,youtube_id,start_time,caption\n1,abc,{value},A dog barks\n"))
            .unwrap();
        let err = fails(&["import", "audiocaps", s(&csv), "-o", s(&out)]);
        assert!(err.contains("train.csv") && err.contains("line 2") && err.contains(field), "{value}: {err}");
        assert!(!err.contains("panicked at"), "{err}");
    }
    let csv = d.join("train.csv");
    std::fs::write(&csv, "audiocap_id,youtube_id,start_time,caption\n99999999999999999999999,abc,30,A dog barks\n")
        .unwrap();
    let err = fails(&["import", "audiocaps", s(&csv), "-o", s(&out)]);
    assert!(err.contains("line 2") && err.contains("audiocap_id") && err.contains("not an integer"), "{err}");
    assert_absent(&out);

    // Two caption_1 columns; two captions numbered 1.
    let clotho = d.join("clotho_captions_development.csv");
    std::fs::write(&clotho, "file_name,caption_1,caption_1\na.wav,one,two\n").unwrap();
    let err = fails(&["import", "clotho", s(&clotho), "-o", s(&out)]);
    assert!(err.contains("clotho_captions_development.csv:1") && err.contains("caption_1"), "{err}");
    let json = d.join("text.json");
    std::fs::write(
        &json,
        r#"{"audios": [{"audio_id": "a.wav", "captions": [{"caption": "x", "caption_index": 1}, {"caption": "y", "caption_index": 1}]}]}"#,
    )
    .unwrap();
    let err = fails(&["import", "json", s(&json), "-o", s(&out)]);
    assert!(err.contains("text.json") && err.contains("caption_index 1"), "{err}");
    assert_absent(&out);
}

#[test]
fn outputs_are_a_set_and_only_regular_files_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = clotho(d);
    let captions = d.join("captions.parquet");
    ok(&["import", "clotho", s(&c.captions), "-o", s(&captions)]);
    // Two outputs naming one file: refused, nothing written.
    let same = d.join("same.parquet");
    let err = fails(&["split", s(&captions), "--val-fraction", "0.4", "--train-out", s(&same), "--val-out", s(&same)]);
    assert!(err.contains("same.parquet") && err.contains("two outputs"), "{err}");
    assert_absent(&same);
    // The second output cannot be written (its path is a folder): the first is not left behind.
    let (train, val) = (d.join("train.parquet"), d.join("val_dir.parquet"));
    std::fs::create_dir_all(&val).unwrap();
    let err = fails(&["split", s(&captions), "--val-fraction", "0.4", "--train-out", s(&train), "--val-out", s(&val)]);
    assert!(err.contains("val_dir") && err.contains("folder"), "{err}");
    assert_absent(&train);
    // A symlink or a device as the output is refused and left as it was.
    let target = d.join("precious.json");
    std::fs::write(&target, "keep").unwrap();
    let link = d.join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = fails(&["export", "json", s(&captions), "-o", s(&link)]);
    assert!(err.contains("link.json") && err.contains("symbolic link"), "{err}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    let err = fails(&["export", "json", s(&captions), "-o", "/dev/null"]);
    assert!(err.contains("/dev/null") && err.contains("device"), "{err}");
}

#[test]
fn pack_refuses_impossible_options_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    write_wav(&audio.join("a.wav"), 16000, 1, 1600);
    let wav_csv = dir.path().join("wav.csv");
    ok(&["scan", s(&audio), "-o", s(&wav_csv)]);
    let out = dir.path().join("packed");
    let err = fails(&["pack", s(&wav_csv), "-o", s(&out), "--sample-rate", "0"]);
    assert!(err.contains("--sample-rate") && err.contains("0 Hz"), "{err}");
    let err = fails(&["pack", s(&wav_csv), "-o", s(&out), "--sample-rate", "32000", "--jobs", "200000"]);
    assert!(err.contains("--jobs") && err.contains("200000"), "{err}");
    assert!(!out.join("waveform.csv").exists());
}

#[test]
fn scan_does_not_follow_a_symlink_back_into_its_tree() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    write_wav(&audio.join("sub/a.wav"), 16000, 1, 1600);
    std::os::unix::fs::symlink(&audio, audio.join("sub/loop")).unwrap();
    let out = dir.path().join("wav.csv");
    ok(&["scan", s(&audio), "-r", "--id", "relative", "-o", s(&out)]);
    let rows = clap_tools::manifest::wav_csv::Tsv::read(&out).unwrap();
    assert_eq!(rows.audio_ids().collect::<Vec<_>>(), ["sub/a.wav"]);
}

mod pth {
    use std::path::{Path, PathBuf};

    use clap_tools::model::pickle_guard;
    use clap_tools::model::weights;

    use crate::common::pth::*;
    use crate::common::*;

    fn one_tensor(dir: &Path, name: &str, numel: i64, offset: i64, size: &[i64], stride: &[i64]) -> PathBuf {
        let p = dir.join(name);
        let pickle = Pickle::state_dict(&[("w", Pickle::default().tensor("0", numel, offset, size, stride))]);
        write_pth(&p, &pickle.0, &[("0", f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))]);
        p
    }

    fn refused(path: &Path, what: &str) {
        let err = pickle_guard::check(path).unwrap_err().to_string();
        assert!(err.contains(&*path.to_string_lossy()) && err.contains(what), "{err}");
        // The loaders check before burn-store reads a byte.
        let err = weights::keys(path, None).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    }

    /// The hand-written file is a real PyTorch file: it passes and reads back its values.
    #[test]
    fn a_well_formed_file_passes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = one_tensor(dir.path(), "ok.pth", 6, 0, &[2, 3], &[3, 1]);
        pickle_guard::check(&p).unwrap();
        assert_eq!(weights::read_tensor(&p, None, "w").unwrap(), (vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![2, 3]));
        // A view at an offset, and an empty tensor, are fine too.
        let p = one_tensor(dir.path(), "view.pth", 6, 4, &[2], &[1]);
        assert_eq!(weights::read_tensor(&p, None, "w").unwrap(), (vec![5.0, 6.0], vec![2]));
        pickle_guard::check(&one_tensor(dir.path(), "empty.pth", 6, 0, &[0, 5], &[5, 1])).unwrap();
    }

    #[test]
    fn the_reference_fixtures_pass() {
        for f in [
            "checkpoint/reference.pth",
            "cnn14/panns_small.pth",
            "resnet38/panns_small.pth",
            "resnet38/reference.pth",
            "ast/audioset_small.pth",
            "ast/reference.pth",
        ] {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model").join(f);
            pickle_guard::check(&p).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    /// Shapes, offsets and strides that ask for more than is stored (burn-store would allocate the
    /// shape, or read zeros past the end) are refused, naming the storage.
    #[test]
    fn tensors_that_claim_more_than_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        refused(
            &one_tensor(d, "huge.pth", 6, 0, &[1 << 40], &[1]),
            "needs more than the 24 bytes stored for storage \"0\"",
        );
        refused(&one_tensor(d, "square.pth", 6, 0, &[1 << 32, 1 << 32], &[1 << 32, 1]), "overflows");
        refused(&one_tensor(d, "negative.pth", 6, 0, &[-1], &[1]), "negative size");
        refused(&one_tensor(d, "offset.pth", 6, 1 << 62, &[2], &[1]), "at offset 4611686018427387904 needs more");
        refused(&one_tensor(d, "short.pth", 6, 5, &[2], &[1]), "needs more than the 24 bytes");
        refused(&one_tensor(d, "strided.pth", 6, 0, &[2, 3], &[1, 2]), "non-contiguously");
        // Storage named but absent from the archive.
        let p = d.join("missing.pth");
        let pickle = Pickle::state_dict(&[("w", Pickle::default().tensor("7", 6, 0, &[6], &[1]))]);
        write_pth(&p, &pickle.0, &[("0", f32_bytes(&[0.0; 6]))]);
        refused(&p, "no data/7 entry");
    }

    /// A memo bomb (a list of four references to the list before, twenty-four times: 4^24 objects
    /// once copied; about 300 bytes) and a million nested lists are refused before anything is built.
    #[test]
    fn memo_bombs_and_deep_nesting() {
        let dir = tempfile::tempdir().unwrap();
        let mut bomb = Pickle::new().op(b"]q\x00");
        for _ in 0..24 {
            bomb = bomb.op(b"(").op(&b"h\x00".repeat(4)).op(b"lq\x00");
        }
        let bomb = bomb.op(b".");
        assert!(bomb.0.len() < 400, "{}", bomb.0.len());
        let p = dir.path().join("bomb.pth");
        write_pth(&p, &bomb.0, &[]);
        refused(&p, "memo bomb");

        let deep = Pickle::new().op(&b"(".repeat(1_000_000)).op(&b"l".repeat(1_000_000)).op(b".");
        let p = dir.path().join("deep.pth");
        write_pth(&p, &deep.0, &[]);
        refused(&p, "nested over 64 deep");
        // The same as a plain pickle file (no zip archive).
        let p = dir.path().join("deep.pkl");
        std::fs::write(&p, &deep.0).unwrap();
        refused(&p, "nested over 64 deep");
    }

    #[test]
    fn formats_and_opcodes_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("legacy.pt");
        std::fs::write(&p, [0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.'])
            .unwrap();
        refused(&p, "PyTorch before 1.6");
        let p = dir.path().join("proto4.pth");
        write_pth(&p, &Pickle::new().op(b"\x8c\x01a.").0, &[]);
        refused(&p, "opcode 0x8c at byte 2");
        let p = dir.path().join("cut.pth");
        write_pth(&p, &Pickle::new().str("abc").0[..6], &[]);
        refused(&p, "cut short");
        let zip_with = |name: &str, options: zip::write::SimpleFileOptions| {
            let p = dir.path().join(name);
            let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
            z.start_file("archive/version", options).unwrap();
            z.finish().unwrap();
            p
        };
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        refused(&zip_with("nopickle.pth", stored), "no data.pkl");
        // burn-store reads tensor bytes at their offset in the file: a compressed entry is refused.
        refused(&zip_with("deflated.pth", Default::default()), "\"archive/version\" is compressed (Deflated)");
    }

    /// Through the command line: a bomb as the checkpoint of `embed` is a clean error naming the file.
    #[test]
    fn embed_with_a_hostile_checkpoint_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = one_tensor(dir.path(), "clap.pth", 6, 0, &[1 << 40], &[1]);
        write_wav(&dir.path().join("a.wav"), 16000, 1, 16000);
        let text = dir.path().join("bert");
        std::fs::create_dir_all(&text).unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/text");
        std::fs::copy(fixtures.join("bert/config.json"), text.join("config.json")).unwrap();
        std::fs::copy(fixtures.join("tokenizer/vocab.txt"), text.join("vocab.txt")).unwrap();
        let wav = dir.path().join("a.wav");
        let out = dir.path().join("e.npy");
        let err = fails(&["embed", "audio", s(&wav), "--checkpoint", s(&p), "--text-encoder", s(&text), "-o", s(&out)]);
        assert!(err.contains("clap.pth") && err.contains("refused as a PyTorch weights file"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_absent(&dir.path().join("e.npy"));
    }
}

#[test]
fn an_unknown_choice_of_cpu_kernels_is_named_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let audio = hostile_folder(dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clap-tools"))
        .args(["features", s(&audio.join("channels.wav")), "-o", s(&dir.path().join("m.npy"))])
        .env("CLAP_TOOLS_KERNELS", "fast")
        .output()
        .expect("run clap-tools");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CLAP_TOOLS_KERNELS=\"fast\": expected auto, portable or stock"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_absent(&dir.path().join("m.npy"));
}
