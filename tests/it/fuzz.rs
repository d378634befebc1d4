//! Fuzzing on stable Rust: the parsers and decoders that read files users hand us get valid files
//! with random corruption (bytes flipped, overwritten, cut short, spliced) and random text, and must
//! answer with a result — an error naming the problem is fine; a panic, an abort or a hang is not.
//! The case count is small so the suite stays fast; `PROPTEST_CASES=100000 cargo test --test it fuzz`
//! runs longer (README, "Fuzzing").

use std::path::Path;

use proptest::prelude::*;

use crate::common::*;

/// A byte-level corruption of a valid file.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        value: u8,
    },
    /// Overwrite 4 bytes with a little-endian u32 (header fields: sizes, rates, counts).
    Word {
        at: usize,
        value: u32,
    },
    Truncate {
        at: usize,
    },
    Splice {
        at: usize,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        (any::<usize>(), prop_oneof![Just(0u32), Just(1), Just(u32::MAX), Just(65535), any::<u32>()])
            .prop_map(|(at, value)| Mutation::Word { at, value }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(at, bytes)| Mutation::Splice { at, bytes }),
    ]
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        if b.is_empty() {
            break;
        }
        let n = b.len();
        match m {
            Mutation::Flip { at, bit } => b[at % n] ^= 1 << bit,
            Mutation::Set { at, value } => b[at % n] = *value,
            Mutation::Word { at, value } => {
                let at = at % n;
                for (i, v) in value.to_le_bytes().iter().enumerate() {
                    if at + i < n {
                        b[at + i] = *v;
                    }
                }
            }
            Mutation::Truncate { at } => b.truncate(at % n),
            Mutation::Splice { at, bytes } => {
                let at = at % n;
                b.splice(at..at, bytes.iter().copied());
            }
        }
    }
    b
}

/// Mutations aimed at the first bytes, where the headers are.
fn header_mutations() -> impl Strategy<Value = Vec<Mutation>> {
    proptest::collection::vec(mutation(), 1..4).prop_map(|ms| {
        ms.into_iter()
            .map(|m| match m {
                Mutation::Flip { at, bit } => Mutation::Flip { at: at % 64, bit },
                Mutation::Set { at, value } => Mutation::Set { at: at % 64, value },
                Mutation::Word { at, value } => Mutation::Word { at: at % 64, value },
                other => other,
            })
            .collect()
    })
}

/// 64 cases per target in the everyday suite; `PROPTEST_CASES=N` for longer runs.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// One source's import of a caption file.
type Importer = dyn Fn(&Path) -> clap_tools::Result<Vec<clap_tools::schema::Caption>>;

/// A PyTorch file's pickle and its storages (key, bytes).
type PthParts = (Vec<u8>, Vec<(String, Vec<u8>)>);

/// The parts of the reference checkpoint fixture.
fn reference_pth() -> &'static PthParts {
    static PTH: std::sync::OnceLock<PthParts> = std::sync::OnceLock::new();
    PTH.get_or_init(|| {
        use std::io::Read;
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/model/checkpoint/reference.pth");
        let mut zip = zip::ZipArchive::new(std::fs::File::open(p).unwrap()).unwrap();
        let (mut pickle, mut storages) = (Vec::new(), Vec::new());
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            let name = f.name().to_string();
            if name.ends_with("data.pkl") {
                pickle = bytes;
            } else if let Some((_, key)) = name.split_once("/data/") {
                storages.push((key.to_string(), bytes));
            }
        }
        (pickle, storages)
    })
}

fn fixture_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

proptest! {
    #![proptest_config(config())]

    /// WAV (as written by the demo) and FLAC, MP3, Ogg fixtures, corrupted: probe and decode answer.
    #[test]
    fn audio_headers_and_streams(ms in header_mutations(), which in 0usize..4, tail in proptest::collection::vec(mutation(), 0..3)) {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio");
        let (name, bytes) = match which {
            0 => {
                let p = dir.path().join("seed.wav");
                write_wav(&p, 16000, 2, 800);
                ("x.wav", fixture_bytes(&p))
            }
            1 => ("x.flac", fixture_bytes(&root.join("stereo.flac"))),
            2 => ("x.mp3", fixture_bytes(&root.join("stereo.mp3"))),
            _ => ("x.ogg", fixture_bytes(&root.join("stereo.ogg"))),
        };
        let p = dir.path().join(name);
        std::fs::write(&p, mutate(mutate(bytes, &ms), &tail)).unwrap();
        let _ = clap_tools::audio::probe(&p);
        if let Ok(d) = clap_tools::audio::decode_mono(&p, Some(32000)) {
            prop_assert!(d.samples.iter().all(|v| v.is_finite()));
        }
    }

    /// `.npy` files, corrupted anywhere: read_f32 answers, and what it returns matches its shape.
    #[test]
    fn npy_reader(ms in proptest::collection::vec(mutation(), 1..4), header in header_mutations()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        clap_tools::npy::write_f32(&p, &[3, 5], &[0.5; 15]).unwrap();
        let bytes = mutate(mutate(std::fs::read(&p).unwrap(), &header), &ms);
        std::fs::write(&p, bytes).unwrap();
        if let Ok(a) = clap_tools::npy::read_f32(&p) {
            prop_assert_eq!(a.data.len(), a.shape.iter().product::<usize>());
        }
    }

    /// The native caption files, corrupted: every import answers (an error names the file).
    #[test]
    fn manifest_parsers(ms in proptest::collection::vec(mutation(), 1..6), which in 0usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (path, import): (std::path::PathBuf, Box<Importer>) = match which {
            0 => {
                let c = clotho(d);
                (c.captions, Box::new(|p: &Path| clap_tools::manifest::clotho::import(&clap_tools::manifest::clotho::ClothoImport {
                    captions: vec![p.to_path_buf()], metadata: vec![], split: None })))
            }
            1 => {
                let a = audiocaps(d);
                (a.val, Box::new(|p: &Path| clap_tools::manifest::audiocaps::import(&clap_tools::manifest::audiocaps::AudioCapsImport {
                    csvs: vec![p.to_path_buf()], ..Default::default() })))
            }
            2 => {
                let m = macs(d);
                (m.yaml, Box::new(|p: &Path| clap_tools::manifest::macs::import(&clap_tools::manifest::macs::MacsImport {
                    yaml: p.to_path_buf(), split: None })))
            }
            _ => {
                let p = d.join("text.json");
                std::fs::write(&p, r#"{"audios": [{"audio_id": "a.wav", "captions": [{"caption": "A dog barks.", "cap_id": "1", "caption_index": 1}, {"caption": "Rain.", "cap_id": "2"}]}]}"#).unwrap();
                (p, Box::new(|p: &Path| clap_tools::manifest::caption_json::import(p, &Default::default())))
            }
        };
        let bytes = mutate(std::fs::read(&path).unwrap(), &ms);
        std::fs::write(&path, bytes).unwrap();
        if let Err(e) = import(&path) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            prop_assert!(e.to_string().contains(&name), "error without the file name: {}", e);
        }
    }

    /// A real checkpoint's pickle (`tests/fixtures/model/checkpoint/reference.pth`), corrupted and
    /// re-archived beside its tensors: the guard refuses it, or burn-store reads every tensor.
    #[test]
    fn pth_pickles(ms in proptest::collection::vec(mutation(), 1..4), header in header_mutations()) {
        let (pickle, storages) = reference_pth();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pth");
        let storages: Vec<(&str, Vec<u8>)> = storages.iter().map(|(k, b)| (k.as_str(), b.clone())).collect();
        pth::write_pth(&p, &mutate(mutate(pickle.clone(), &header), &ms), &storages);
        if clap_tools::model::pickle_guard::check(&p).is_ok() {
            if let Ok(keys) = clap_tools::model::weights::keys(&p, None) {
                for k in keys {
                    if let Ok((values, shape)) = clap_tools::model::weights::read_tensor(&p, None, &k) {
                        prop_assert_eq!(values.len(), shape.iter().product::<usize>().max(1));
                    }
                }
            }
        }
    }

    /// Caption and query lists as arbitrary text.
    #[test]
    fn query_files(text in ".{0,400}", ext in prop_oneof![Just("txt"), Just("csv")]) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(format!("q.{ext}"));
        std::fs::write(&p, &text).unwrap();
        if let Ok(rows) = clap_tools::manifest::queries::read(&p) {
            prop_assert!(rows.iter().all(|r| !r.caption.trim().is_empty()));
        }
    }
}
