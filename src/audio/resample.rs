//! Band-limited resampling with rubato's FFT resampler, streamed in blocks so memory stays bounded,
//! with the filter delay removed so the output is sample-aligned with the input and has exactly
//! ceil(n · rate_out / rate_in) samples (librosa's length convention).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

/// Minimum FFT block in input frames: long enough for a steep anti-aliasing filter.
const MIN_BLOCK: usize = 2048;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A streaming mono resampler.
pub struct MonoResampler {
    inner: Option<Inner>,
    rate_in: u64,
    rate_out: u64,
    n_in: u64,
    n_out: u64,
}

struct Inner {
    fft: Fft<f32>,
    pending: Vec<f32>,
    block: Vec<f32>,
    /// Output frames of start-up delay still to drop.
    skip: usize,
}

impl MonoResampler {
    /// A resampler from `rate_in` to `rate_out` Hz (a pass-through when they are equal).
    pub fn new(rate_in: u32, rate_out: u32) -> Result<Self, String> {
        if rate_in == 0 || rate_out == 0 {
            return Err(format!("cannot resample {rate_in} Hz to {rate_out} Hz"));
        }
        // The FFT sizes grow with the rates' ratio: bounded rates bound them.
        super::check_format(rate_in, 1)?;
        super::check_format(rate_out, 1)?;
        let inner = if rate_in == rate_out {
            None
        } else {
            let (fi, fo) = (rate_in as usize, rate_out as usize);
            // A block that is a multiple of 2·(fi/gcd) makes both FFT sizes even, so the delay is an
            // exact number of output frames and trimming it aligns the output.
            let step = 2 * (fi / gcd(fi, fo));
            let chunk = MIN_BLOCK.div_ceil(step) * step;
            let fft = Fft::<f32>::new(fi, fo, chunk, 1, FixedSync::Both)
                .map_err(|e| format!("resampler {rate_in} Hz → {rate_out} Hz: {e}"))?;
            let skip = fft.output_delay();
            let block = vec![0.0; fft.output_frames_max()];
            Some(Inner { fft, pending: Vec::new(), block, skip })
        };
        Ok(MonoResampler { inner, rate_in: rate_in as u64, rate_out: rate_out as u64, n_in: 0, n_out: 0 })
    }

    /// The length of the output for `n` input samples.
    pub fn output_len(&self, n: u64) -> u64 {
        (n * self.rate_out).div_ceil(self.rate_in)
    }

    fn run(
        inner: &mut Inner,
        input: &[f32],
        out: &mut Vec<f32>,
        limit: Option<u64>,
        n_out: &mut u64,
    ) -> Result<(), String> {
        let n = input.len();
        let inp = InterleavedSlice::new(input, 1, n).map_err(|e| e.to_string())?;
        let cap = inner.block.len();
        let mut outp = InterleavedSlice::new_mut(&mut inner.block[..], 1, cap).map_err(|e| e.to_string())?;
        // A short block is padded with silence (the tail of the clip).
        let idx = Indexing::new().partial_len(n);
        let (_, produced) = inner.fft.process_into_buffer(&inp, &mut outp, Some(&idx)).map_err(|e| e.to_string())?;
        let d = inner.skip.min(produced);
        inner.skip -= d;
        let mut take = produced - d;
        if let Some(lim) = limit {
            take = take.min(lim.saturating_sub(*n_out) as usize);
        }
        out.extend_from_slice(&inner.block[d..d + take]);
        *n_out += take as u64;
        Ok(())
    }

    /// Feed input samples; resampled samples are appended to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        self.n_in += input.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.n_out += input.len() as u64;
            return Ok(());
        };
        let need = inner.fft.input_frames_next();
        let mut input = input;
        // Complete a pending partial block first, then run whole blocks straight from the input.
        if !inner.pending.is_empty() {
            let take = (need - inner.pending.len()).min(input.len());
            inner.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if inner.pending.len() < need {
                return Ok(());
            }
            let block = std::mem::take(&mut inner.pending);
            Self::run(inner, &block, out, None, &mut self.n_out)?;
            inner.pending = block;
            inner.pending.clear();
        }
        let mut blocks = input.chunks_exact(need);
        for block in blocks.by_ref() {
            Self::run(inner, block, out, None, &mut self.n_out)?;
        }
        inner.pending.extend_from_slice(blocks.remainder());
        Ok(())
    }

    /// Flush the tail; after this `out` holds exactly `output_len(total input)` samples.
    pub fn finish(mut self, out: &mut Vec<f32>) -> Result<(), String> {
        let target = self.output_len(self.n_in);
        let Some(inner) = self.inner.as_mut() else { return Ok(()) };
        let tail = std::mem::take(&mut inner.pending);
        if !tail.is_empty() {
            Self::run(inner, &tail, out, Some(target), &mut self.n_out)?;
        }
        while self.n_out < target {
            let before = self.n_out;
            Self::run(inner, &[], out, Some(target), &mut self.n_out)?;
            if self.n_out == before && inner.skip == 0 {
                return Err("resampler produced no output while flushing".into());
            }
        }
        Ok(())
    }
}

/// Resample a whole signal.
pub fn resample(input: &[f32], rate_in: u32, rate_out: u32) -> Result<Vec<f32>, String> {
    let mut r = MonoResampler::new(rate_in, rate_out)?;
    let mut out = Vec::with_capacity(r.output_len(input.len() as u64) as usize);
    // Feed in pieces, as the decoder does.
    for chunk in input.chunks(4096) {
        r.push(chunk, &mut out)?;
    }
    r.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(f: f64, sr: u32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / sr as f64).sin() as f32 * 0.5).collect()
    }

    fn snr_db(reference: &[f32], test: &[f32], edge: usize) -> f64 {
        let n = reference.len().min(test.len());
        let (mut s, mut e) = (0.0f64, 0.0f64);
        for i in edge..n - edge {
            s += (reference[i] as f64).powi(2);
            e += (reference[i] as f64 - test[i] as f64).powi(2);
        }
        10.0 * (s / e).log10()
    }

    #[test]
    fn lengths_follow_librosa() {
        for (n, a, b) in [
            (44100usize, 44100u32, 32000u32),
            (12345, 48000, 16000),
            (5, 22050, 32000),
            (0, 44100, 32000),
            (1000, 16000, 16000),
        ] {
            let y = resample(&vec![0.1; n], a, b).unwrap();
            assert_eq!(y.len() as u64, (n as u64 * b as u64).div_ceil(a as u64), "{n} {a}→{b}");
        }
    }

    #[test]
    fn tones_are_aligned_and_clean() {
        for (a, b) in [(44100u32, 32000u32), (48000, 16000), (22050, 32000), (8000, 32000)] {
            let f = 440.0;
            let x = tone(f, a, a as usize * 2);
            let y = resample(&x, a, b).unwrap();
            let want = tone(f, b, y.len());
            let snr = snr_db(&want, &y, 2000);
            assert!(snr > 90.0, "{a}→{b}: SNR {snr:.1} dB");
        }
    }
}
