//! Any bytes as an audio file (the first byte picks the extension): probe and decode answer with a
//! result, and decoded samples are finite.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let ext = ["wav", "flac", "mp3", "ogg", "aiff", "m4a", "caf"][pick as usize % 7];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("x.{ext}"));
    std::fs::write(&path, bytes).unwrap();
    let _ = clap_tools::audio::probe(&path);
    if let Ok(d) = clap_tools::audio::decode_mono(&path, Some(32000)) {
        assert!(d.samples.iter().all(|v| v.is_finite()));
    }
});
