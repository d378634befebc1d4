//! Any bytes as a `.npy` file: read_f32 answers, and what it returns matches its shape.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    std::fs::write(&path, data).unwrap();
    if let Ok(a) = clap_tools::npy::read_f32(&path) {
        assert_eq!(a.data.len(), a.shape.iter().product::<usize>());
    }
});
