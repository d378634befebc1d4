//! Header probing with symphonia: sample rate, channels and length without decoding the audio.

use std::fs::File;
use std::path::Path;

use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

/// File extensions (lower case) of the formats the decoder reads.
pub const AUDIO_EXTENSIONS: &[&str] =
    &["wav", "wave", "flac", "mp3", "ogg", "oga", "m4a", "mp4", "aac", "aif", "aiff", "aifc", "caf"];

/// Whether `path` has one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn is_audio_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// What a header says about an audio file.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    /// Samples per channel, when the container states it.
    pub frames: Option<u64>,
}

impl Probe {
    pub fn duration(&self) -> Option<f64> {
        match (self.frames, self.sample_rate) {
            (Some(n), Some(sr)) if sr > 0 => Some(n as f64 / sr as f64),
            _ => None,
        }
    }
}

/// Read the header of an audio file. The error is a short reason, for a report; a panic inside the
/// demuxer is one too.
pub fn probe(path: &Path) -> Result<Probe, String> {
    crate::isolate::isolate("reading the header", "the decoder", || probe_header(path))?
}

fn probe_header(path: &Path) -> Result<Probe, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let reader = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| format!("not a readable audio file: {e}"))?;
    let track = reader.default_track(TrackType::Audio).ok_or("no audio track")?;
    let params = track.codec_params.as_ref().and_then(|p| p.audio());
    let sample_rate = params.and_then(|p| p.sample_rate);
    let channels = params.and_then(|p| p.channels.as_ref()).map(|c| c.count());
    if let Some(r) = sample_rate {
        super::check_format(r, channels.unwrap_or(1))?;
    }
    let channels = channels.map(|c| c as u16);
    Ok(Probe { sample_rate, channels, frames: track.num_frames })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_a_wav_header() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.WAV");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for i in 0..22050 * 2 {
            w.write_sample((i % 100) as i16).unwrap();
        }
        w.finalize().unwrap();
        assert!(is_audio_file(&p));
        let pr = probe(&p).unwrap();
        assert_eq!(pr, Probe { sample_rate: Some(22050), channels: Some(2), frames: Some(22050) });
        assert_eq!(pr.duration(), Some(1.0));
    }

    #[test]
    fn non_audio_is_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fake.wav");
        std::fs::write(&p, b"this is not audio at all").unwrap();
        let err = probe(&p).unwrap_err();
        assert!(err.contains("not a readable audio file"), "{err}");
    }
}
