//! Any bytes as a native caption file (the first byte picks Clotho CSV, AudioCaps CSV, MACS YAML or
//! caption JSON): the import answers, and an error names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

use clap_tools::manifest::{audiocaps, caption_json, clotho, macs};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let dir = tempfile::tempdir().unwrap();
    let name = ["clotho_captions_development.csv", "train.csv", "MACS.yaml", "captions.json"][pick as usize % 4];
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let result = match pick % 4 {
        0 => clotho::import(&clotho::ClothoImport { captions: vec![path.clone()], metadata: vec![], split: None }),
        1 => audiocaps::import(&audiocaps::AudioCapsImport { csvs: vec![path.clone()], ..Default::default() }),
        2 => macs::import(&macs::MacsImport { yaml: path.clone(), split: None }),
        _ => caption_json::import(&path, &Default::default()),
    };
    if let Err(e) = result {
        assert!(e.to_string().contains(name), "error without the file name: {e}");
    }
});
