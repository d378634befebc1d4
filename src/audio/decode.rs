//! Decoding with symphonia: any supported file → mono f32 (the mean of the channels), streamed through
//! the resampler packet by packet, so a clip is held in memory only once, at the target rate.

use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use super::resample::MonoResampler;

/// A decoded clip.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Mono samples at `sample_rate`.
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// The file's own rate and channels.
    pub source_rate: u32,
    pub source_channels: usize,
}

/// Why a file could not be decoded: a short reason for the failures table.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeFailure(pub String);

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(msg: impl Into<String>) -> Result<T, DecodeFailure> {
    Err(DecodeFailure(msg.into()))
}

/// Decode `path` to mono and resample it to `target_rate` (`None`: keep the file's rate). A panic
/// inside the decoder is this file's failure, not the caller's.
pub fn decode_mono(path: &Path, target_rate: Option<u32>) -> Result<Decoded, DecodeFailure> {
    crate::isolate::isolate("decoding", "the decoder", || decode(path, target_rate, None)).map_err(DecodeFailure)?
}

/// The start of the reason [`decode_mono_at_most`] gives for a file longer than its limit.
pub const TOO_LONG: &str = "longer than";

/// [`decode_mono`] that stops, with a reason starting [`TOO_LONG`], as soon as the decoded audio
/// passes `max_seconds` (a small compressed file can decode into hours).
pub fn decode_mono_at_most(path: &Path, target_rate: Option<u32>, max_seconds: f64) -> Result<Decoded, DecodeFailure> {
    crate::isolate::isolate("decoding", "the decoder", || decode(path, target_rate, Some(max_seconds)))
        .map_err(DecodeFailure)?
}

fn decode(path: &Path, target_rate: Option<u32>, max_seconds: Option<f64>) -> Result<Decoded, DecodeFailure> {
    if let Some(r) = target_rate {
        super::check_format(r, 1).map_err(|e| DecodeFailure(format!("target {e}")))?;
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return fail("file not found"),
        Err(e) => return fail(format!("cannot open: {e}")),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len == 0 {
        return fail("empty file");
    }
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format =
        match symphonia::default::get_probe().probe(&hint, mss, FormatOptions::default(), MetadataOptions::default()) {
            Ok(f) => f,
            Err(SymError::Unsupported(m)) => return fail(format!("unsupported or not audio ({m})")),
            Err(e) => return fail(format!("not a readable audio file: {e}")),
        };
    let Some(track) = format.default_track(TrackType::Audio) else { return fail("no audio track") };
    let track_id = track.id;
    let Some(params) = track.codec_params.as_ref().and_then(|p| p.audio()).cloned() else {
        return fail("no audio codec parameters");
    };
    let mut decoder =
        match symphonia::default::get_codecs().make_audio_decoder(&params, &AudioDecoderOptions::default()) {
            Ok(d) => d,
            Err(e) => return fail(format!("unsupported codec: {e}")),
        };
    let mut source_rate = params.sample_rate.unwrap_or(0);
    let mut channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(0);
    // Refuse impossible headers before the decoder or the resampler allocate for them.
    if source_rate != 0 {
        super::check_format(source_rate, channels.max(1)).map_err(DecodeFailure)?;
    }
    let mut resampler: Option<MonoResampler> = None;
    let mut out = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut mono: Vec<f32> = Vec::new();
    let mut frames_total: u64 = 0;
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return fail(format!("corrupt stream after {frames_total} frames: {e}")),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => return fail(format!("decode error after {frames_total} frames: {e}")),
        };
        let frames = buf.frames();
        if frames == 0 {
            continue;
        }
        let rate = buf.spec().rate();
        let ch = buf.spec().channels().count().max(1);
        super::check_format(rate, ch).map_err(DecodeFailure)?;
        if resampler.is_some() && (rate != source_rate || ch != channels) {
            return fail(format!("stream changes format mid-file ({source_rate} Hz × {channels} → {rate} Hz × {ch})"));
        }
        source_rate = rate;
        channels = ch;
        buf.copy_to_vec_interleaved(&mut interleaved);
        if let Some(i) = interleaved.iter().position(|v| !v.is_finite()) {
            return fail(format!("non-finite sample (NaN or Inf) at frame {}", frames_total + (i / ch) as u64));
        }
        let samples: &[f32] = if ch == 1 {
            &interleaved
        } else {
            let scale = 1.0 / ch as f32;
            mono.clear();
            mono.extend(interleaved.chunks_exact(ch).map(|f| f.iter().sum::<f32>() * scale));
            &mono
        };
        frames_total += frames as u64;
        if let Some(max) = max_seconds {
            if frames_total as f64 > max * rate as f64 {
                return fail(format!("{TOO_LONG} {max} s"));
            }
        }
        if resampler.is_none() {
            resampler = Some(MonoResampler::new(rate, target_rate.unwrap_or(rate)).map_err(DecodeFailure)?);
        }
        resampler.as_mut().expect("set above").push(samples, &mut out).map_err(DecodeFailure)?;
    }
    let Some(resampler) = resampler else {
        return fail(if bad_packets > 0 { "corrupt: no packet could be decoded" } else { "no audio samples" });
    };
    // A file much shorter than its header says is truncated.
    if let Some(n) = format.default_track(TrackType::Audio).and_then(|t| t.num_frames) {
        if frames_total < n.saturating_sub(n / 100 + 2048) {
            return fail(format!("truncated: {frames_total} of {n} frames decoded"));
        }
    }
    resampler.finish(&mut out).map_err(DecodeFailure)?;
    Ok(Decoded {
        samples: out,
        sample_rate: target_rate.unwrap_or(source_rate),
        source_rate,
        source_channels: channels,
    })
}
