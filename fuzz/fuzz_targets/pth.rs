//! Any bytes as the pickle of a PyTorch file, archived with two float storages ("0": 64 elements,
//! "1": 4) the way torch.save stores them: the guard refuses it, or burn-store reads every tensor
//! it names. Seed the corpus with a real `data.pkl` (README, "Fuzzing").
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

use clap_tools::model::{pickle_guard, weights};

fuzz_target!(|pickle: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.pth");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [("archive/data.pkl", pickle), ("archive/data/0", &[0u8; 256]), ("archive/data/1", &[0u8; 16])] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    if pickle_guard::check(&path).is_ok()
        && let Ok(keys) = weights::keys(&path, None)
    {
        for key in keys {
            let _ = weights::read_tensor(&path, None, &key);
        }
    }
});
