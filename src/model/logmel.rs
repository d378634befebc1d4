//! The log-mel front end of CNN14, computed on the CPU (in the data workers, before the batch goes to
//! the device).
//!
//! It computes what the reference computes with torchaudio: `MelSpectrogram(n_fft = win = 32 ms,
//! hop = 10 ms, Hann (periodic), centred with reflect padding, power 2, 64 bands, f_min 50 Hz,
//! f_max 14 kHz at 32 kHz / 8 kHz at 16 kHz, norm="slaney", mel_scale="slaney")` followed by
//! `AmplitudeToDB()` (10·log10(max(x, 1e-10)), no top_db). A clip of `n` samples has `n / hop + 1`
//! frames.
//!
//! The FFT, power and filterbank run in float64: torchaudio's float32 FFT already moves the weak bins
//! of tones and sweeps by up to 0.1 dB from the exact values, and a second float32 FFT would add its
//! own, different rounding on top.
//!
//! Batches are zero-padded to the longest clip before the transform, as the reference's collate
//! function pads them, so the frames of a short clip in a batch are the reference's frames too.

use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use clap_tools_backends::burn;
use rayon::prelude::*;
use realfft::{RealFftPlanner, RealToComplex};

use super::encoder::AudioTensors;
use crate::error::{Error, Result};
use crate::split::SplitMix64;

/// Number of mel bands of the reference front end.
pub const N_MELS: usize = 64;

/// Settings of the front end; [`LogMelConfig::for_rate`] gives the reference's for a sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct LogMelConfig {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub f_min: f64,
    pub f_max: f64,
    pub n_mels: usize,
}

impl LogMelConfig {
    /// The reference's settings: 32 ms windows, 10 ms hop, 50 Hz to 14 kHz (32 kHz) or 8 kHz (16 kHz).
    pub fn for_rate(sample_rate: u32) -> Result<Self> {
        let f_max = match sample_rate {
            32000 => 14000.0,
            16000 => 8000.0,
            other => {
                return Err(Error::config(
                    "sample_rate",
                    format!("the CNN14 front end is defined for 32000 and 16000 Hz, not {other} Hz (pack the waveforms at one of these rates)"),
                ))
            }
        };
        Ok(Self {
            sample_rate,
            n_fft: 32 * sample_rate as usize / 1000,
            hop: 10 * sample_rate as usize / 1000,
            f_min: 50.0,
            f_max,
            n_mels: N_MELS,
        })
    }
}

/// A log-mel batch: `data` is [batch, frames, n_mels] row-major.
#[derive(Debug, Clone)]
pub struct LogMelBatch {
    pub data: Vec<f32>,
    pub batch: usize,
    pub frames: usize,
    pub n_mels: usize,
    /// Samples of each clip before padding (the reference's `wave_length`).
    pub wave_lengths: Vec<usize>,
    /// The zero-padded waveforms the frames were computed from, [batch, samples] row-major, when the
    /// front end keeps them ([`LogMel::keeping_waveforms`]: an encoder that reads them too).
    pub waves: Option<Vec<f32>>,
    /// Samples of each padded waveform.
    pub samples: usize,
}

impl LogMelBatch {
    /// The frames of clip `i`, [frames, n_mels].
    pub fn clip(&self, i: usize) -> &[f32] {
        let n = self.frames * self.n_mels;
        &self.data[i * n..(i + 1) * n]
    }

    /// The clips `rows` as tensors on `device`: the frames, and the waveforms when kept.
    ///
    /// # Shapes
    /// - returns: mel [rows, frames, n_mels], wave [rows, samples]
    pub fn tensors<B: Backend>(&self, rows: std::ops::Range<usize>, device: &B::Device) -> AudioTensors<B> {
        let per = self.frames * self.n_mels;
        let mel = TensorData::new(
            self.data[rows.start * per..rows.end * per].to_vec(),
            [rows.len(), self.frames, self.n_mels],
        );
        let wave = self.waves.as_ref().map(|w| {
            let data = TensorData::new(
                w[rows.start * self.samples..rows.end * self.samples].to_vec(),
                [rows.len(), self.samples],
            );
            Tensor::from_data(data, device)
        });
        AudioTensors { mel: Tensor::from_data(mel, device), wave }
    }

    /// The whole batch as tensors on `device` (see [`tensors`](Self::tensors)).
    pub fn to_tensors<B: Backend>(&self, device: &B::Device) -> AudioTensors<B> {
        self.tensors(0..self.batch, device)
    }
}

/// One mel band: its first FFT bin and the weights of the bins it covers.
#[derive(Debug, Clone)]
struct Band {
    start: usize,
    weights: Vec<f64>,
}

/// The front end, with its FFT plan, window and filterbank made once.
#[derive(Clone)]
pub struct LogMel {
    cfg: LogMelConfig,
    window: Vec<f64>,
    bands: Vec<Band>,
    fft: Arc<dyn RealToComplex<f64>>,
    /// Whether batches keep their padded waveforms ([`LogMelBatch::waves`]).
    keep_waves: bool,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel").field("cfg", &self.cfg).finish()
    }
}

impl LogMel {
    pub fn new(cfg: LogMelConfig) -> Self {
        let n = cfg.n_fft;
        // torch.hann_window (periodic), computed in float32 as torch does: the window's float32
        // rounding sets the leakage floor of the weak bins, so an exact window would differ there.
        let step = (2.0 * std::f64::consts::PI / n as f64) as f32;
        let window = (0..n)
            .map(|i| {
                let c = ((i as f32 * step) as f64).cos() as f32;
                (c * -0.5 + 0.5) as f64
            })
            .collect();
        let fb = slaney_filterbank(n / 2 + 1, cfg.sample_rate as f64, cfg.f_min, cfg.f_max, cfg.n_mels);
        let bands = fb
            .into_iter()
            .map(|w| {
                let start = w.iter().position(|&v| v != 0.0).unwrap_or(0);
                let end = w.iter().rposition(|&v| v != 0.0).map_or(start, |e| e + 1);
                Band { start, weights: w[start..end].to_vec() }
            })
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        Self { cfg, window, bands, fft, keep_waves: false }
    }

    /// This front end, with batches that keep their zero-padded waveforms beside the frames (for an
    /// encoder that reads both).
    pub fn keeping_waveforms(mut self) -> Self {
        self.keep_waves = true;
        self
    }

    /// Whether batches keep their waveforms.
    pub fn keeps_waveforms(&self) -> bool {
        self.keep_waves
    }

    /// The reference front end for `sample_rate` (32000 or 16000).
    pub fn for_rate(sample_rate: u32) -> Result<Self> {
        Ok(Self::new(LogMelConfig::for_rate(sample_rate)?))
    }

    pub fn config(&self) -> &LogMelConfig {
        &self.cfg
    }

    /// Frames of a (padded) signal of `samples` samples.
    pub fn frames(&self, samples: usize) -> usize {
        samples.max(self.min_samples()) / self.cfg.hop + 1
    }

    /// The fewest samples that give `frames` frames (the inverse of [`frames`](Self::frames)): a batch
    /// zero-padded to this has the frames an encoder needs.
    pub fn samples_for(&self, frames: usize) -> usize {
        frames.saturating_sub(1) * self.cfg.hop
    }

    /// Reflect padding needs more samples than half a window; shorter signals are zero-padded to this
    /// length first (torch refuses them).
    pub fn min_samples(&self) -> usize {
        self.cfg.n_fft / 2 + 1
    }

    /// Log-mel of one clip: [frames, n_mels] row-major.
    pub fn compute(&self, wave: &[f32]) -> Vec<f32> {
        let total = wave.len().max(self.min_samples());
        let mut out = vec![0.0; self.frames(total) * self.cfg.n_mels];
        self.compute_into(wave, total, &mut out);
        out
    }

    /// Log-mel of a batch, each clip zero-padded to the longest (frames run in parallel).
    pub fn batch(&self, waves: &[&[f32]]) -> LogMelBatch {
        self.batch_padded(waves, 0)
    }

    /// [`LogMel::batch`] with every clip zero-padded to at least `min_len` samples (a model that
    /// needs a minimum number of frames); `wave_lengths` keep the clips' own lengths.
    pub fn batch_padded(&self, waves: &[&[f32]], min_len: usize) -> LogMelBatch {
        let longest = waves.iter().map(|w| w.len()).max().unwrap_or(0).max(self.min_samples()).max(min_len);
        let frames = self.frames(longest);
        let per = frames * self.cfg.n_mels;
        let mut data = vec![0.0; waves.len() * per];
        data.par_chunks_mut(per).zip(waves.par_iter()).for_each(|(out, w)| self.compute_into(w, longest, out));
        let padded = self.keep_waves.then(|| {
            let mut all = vec![0.0; waves.len() * longest];
            for (row, w) in all.chunks_mut(longest).zip(waves) {
                row[..w.len()].copy_from_slice(w);
            }
            all
        });
        LogMelBatch {
            data,
            batch: waves.len(),
            frames,
            n_mels: self.cfg.n_mels,
            wave_lengths: waves.iter().map(|w| w.len()).collect(),
            waves: padded,
            samples: longest,
        }
    }

    /// Fill `out` ([frames, n_mels]) with the log-mel of `wave` zero-padded to `total` samples.
    fn compute_into(&self, wave: &[f32], total: usize, out: &mut [f32]) {
        let n = self.cfg.n_fft;
        let pad = n / 2;
        let hop = self.cfg.hop;
        let frames = total / hop + 1;
        debug_assert!(total > pad && out.len() == frames * self.cfg.n_mels);
        // The padded signal: wave, then zeros up to `total`, reflected at both ends.
        let at = |i: isize| -> f64 {
            let last = total as isize - 1;
            let j = if i < 0 {
                -i
            } else if i > last {
                2 * last - i
            } else {
                i
            } as usize;
            wave.get(j).map_or(0.0, |&x| x as f64)
        };
        let mut frame = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f64; n / 2 + 1];
        for (t, row) in out.chunks_exact_mut(self.cfg.n_mels).enumerate() {
            let begin = (t * hop) as isize - pad as isize;
            if begin >= 0 && begin as usize + n <= wave.len() {
                let src = &wave[begin as usize..begin as usize + n];
                for ((f, &x), &w) in frame.iter_mut().zip(src).zip(&self.window) {
                    *f = x as f64 * w;
                }
            } else {
                for (k, (f, &w)) in frame.iter_mut().zip(&self.window).enumerate() {
                    *f = at(begin + k as isize) * w;
                }
            }
            // Lengths always match the plan, so this cannot fail.
            let _ = self.fft.process_with_scratch(&mut frame, &mut spec, &mut scratch);
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.re * c.re + c.im * c.im;
            }
            for (m, band) in row.iter_mut().zip(&self.bands) {
                let bins = &power[band.start..band.start + band.weights.len()];
                let e: f64 = bins.iter().zip(&band.weights).map(|(p, w)| p * w).sum();
                *m = (10.0 * e.max(1e-10).log10()) as f32;
            }
        }
    }
}

/// SpecAugment as the reference applies it in training (torchlibrosa's `SpecAugmentation(
/// time_drop_width=64, time_stripes_num=2, freq_drop_width=8, freq_stripes_num=2)`): per clip, two
/// stripes of 0..64 frames and two of 0..8 bands are set to zero. `data` is [batch, frames, n_mels].
#[derive(Debug, Clone, Copy)]
pub struct SpecAugment {
    pub time_width: usize,
    pub time_stripes: usize,
    pub freq_width: usize,
    pub freq_stripes: usize,
}

impl Default for SpecAugment {
    fn default() -> Self {
        Self { time_width: 64, time_stripes: 2, freq_width: 8, freq_stripes: 2 }
    }
}

impl SpecAugment {
    pub fn apply(&self, batch: &mut LogMelBatch, rng: &mut SplitMix64) {
        self.apply_from(batch, rng, 0);
    }

    /// The same stripes zeroed in a batch on the device, [batch, channels, frames, bins] (every
    /// channel alike), drawn from the backend's random stream (seeded per iteration and part by the
    /// trainer): what ResNet38 does to its normalised input in training, inside the model.
    pub fn apply_tensor<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, _, frames, bins] = x.dims();
        let device = x.device();
        let draw = Tensor::<B, 1>::random([2], burn::tensor::Distribution::Uniform(0.0, 1.0), &device);
        let seed: Vec<f32> = draw.into_data().convert::<f32>().into_vec::<f32>().unwrap_or_default();
        let bits = |i: usize| (seed.get(i).copied().unwrap_or(0.0) as f64 * (1u64 << 32) as f64) as u64;
        let mut rng = SplitMix64::new(bits(0) << 32 ^ bits(1));
        let mut mask = vec![1.0f32; batch * frames * bins];
        for clip in mask.chunks_exact_mut(frames * bins) {
            self.zero_stripes(clip, bins, &mut rng);
        }
        let mask = Tensor::<B, 4>::from_data(TensorData::new(mask, [batch, 1, frames, bins]), &device);
        x * mask
    }

    /// [`apply`](Self::apply) to rows `first_row..` of a larger batch of the same frames: the
    /// masks of the rows before are drawn and left out, so each row gets the mask it has in the
    /// whole batch.
    pub fn apply_from(&self, batch: &mut LogMelBatch, rng: &mut SplitMix64, first_row: usize) {
        let (frames, n_mels) = (batch.frames, batch.n_mels);
        for _ in 0..first_row {
            for _ in 0..self.time_stripes {
                stripe(rng, self.time_width, frames);
            }
            for _ in 0..self.freq_stripes {
                stripe(rng, self.freq_width, n_mels);
            }
        }
        for clip in batch.data.chunks_exact_mut(frames * n_mels) {
            self.zero_stripes(clip, n_mels, rng);
        }
    }

    /// Draw one clip's stripes and zero them in `clip` ([frames, bins] row-major).
    fn zero_stripes(&self, clip: &mut [f32], bins: usize, rng: &mut SplitMix64) {
        let frames = clip.len() / bins;
        for _ in 0..self.time_stripes {
            let (begin, width) = stripe(rng, self.time_width, frames);
            clip[begin * bins..(begin + width) * bins].fill(0.0);
        }
        for _ in 0..self.freq_stripes {
            let (begin, width) = stripe(rng, self.freq_width, bins);
            for row in clip.chunks_exact_mut(bins) {
                row[begin..begin + width].fill(0.0);
            }
        }
    }
}

/// A stripe as torchlibrosa draws it: width in [0, max_width), start in [0, total - width).
fn stripe(rng: &mut SplitMix64, max_width: usize, total: usize) -> (usize, usize) {
    let width = (rng.below(max_width as u64) as usize).min(total);
    let room = total - width;
    let begin = if room == 0 { 0 } else { rng.below(room as u64) as usize };
    (begin, width)
}

fn hz_to_mel_slaney(f: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz_slaney(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// Triangular filters on the slaney mel scale with slaney (area) normalisation, one row of
/// `n_freqs` weights per band, as torchaudio's `melscale_fbanks(norm="slaney", mel_scale="slaney")`.
pub fn slaney_filterbank(n_freqs: usize, sample_rate: f64, f_min: f64, f_max: f64, n_mels: usize) -> Vec<Vec<f64>> {
    let all_freqs: Vec<f64> =
        (0..n_freqs).map(|i| (sample_rate / 2.0).floor() * i as f64 / (n_freqs - 1) as f64).collect();
    let (m_min, m_max) = (hz_to_mel_slaney(f_min), hz_to_mel_slaney(f_max));
    let f_pts: Vec<f64> =
        (0..n_mels + 2).map(|i| mel_to_hz_slaney(m_min + (m_max - m_min) * i as f64 / (n_mels + 1) as f64)).collect();
    (0..n_mels)
        .map(|m| {
            let enorm = 2.0 / (f_pts[m + 2] - f_pts[m]);
            all_freqs
                .iter()
                .map(|&f| {
                    let down = (f - f_pts[m]) / (f_pts[m + 1] - f_pts[m]);
                    let up = (f_pts[m + 2] - f) / (f_pts[m + 2] - f_pts[m + 1]);
                    down.min(up).max(0.0) * enorm
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_reference_formula() {
        let lm = LogMel::for_rate(32000).unwrap();
        assert_eq!(lm.frames(320000), 1001);
        assert_eq!(lm.frames(319), lm.frames(513));
        assert_eq!(lm.compute(&vec![0.1; 32000]).len(), 101 * 64);
    }

    #[test]
    fn batch_padded_pads_to_the_minimum_and_keeps_lengths() {
        let lm = LogMel::for_rate(16000).unwrap();
        let (a, b) = (vec![0.1f32; 600], vec![0.2f32; 900]);
        let batch = lm.batch_padded(&[&a, &b], 4960);
        assert_eq!(batch.frames, lm.frames(4960));
        assert_eq!(batch.wave_lengths, vec![600, 900]);
        assert_eq!(batch.clip(1)[..64], lm.compute(&[b.clone(), vec![0.0; 4060]].concat())[..64]);
        assert_eq!(lm.batch_padded(&[&a, &b], 0).frames, lm.batch(&[&a, &b]).frames);
    }

    #[test]
    fn other_rates_are_refused() {
        assert!(LogMelConfig::for_rate(44100).unwrap_err().to_string().contains("44100"));
    }

    #[test]
    fn silence_is_the_floor() {
        let lm = LogMel::for_rate(16000).unwrap();
        assert!(lm.compute(&vec![0.0; 4000]).iter().all(|&v| v == -100.0));
    }

    #[test]
    fn spec_augment_zeroes_at_most_the_stripes() {
        let lm = LogMel::for_rate(16000).unwrap();
        let wave: Vec<f32> = (0..48000).map(|i| (i as f32 * 0.3).sin()).collect();
        let mut batch = lm.batch(&[&wave, &wave]);
        let before = batch.clone();
        SpecAugment::default().apply(&mut batch, &mut SplitMix64::new(3));
        for c in 0..2 {
            let (a, b) = (before.clip(c), batch.clip(c));
            let zero_frames: Vec<bool> = b.chunks_exact(64).map(|r| r.iter().all(|&v| v == 0.0)).collect();
            let zero_bands: Vec<bool> = (0..64).map(|m| b.chunks_exact(64).all(|r| r[m] == 0.0)).collect();
            assert!(zero_frames.iter().filter(|&&z| z).count() <= 2 * 63);
            assert!(zero_bands.iter().filter(|&&z| z).count() <= 2 * 7);
            let mut changed = 0;
            for i in 0..a.len() {
                if a[i] != b[i] {
                    changed += 1;
                    assert!(zero_frames[i / 64] || zero_bands[i % 64], "element {i} changed outside a stripe");
                }
            }
            assert!(changed > 0, "seeded stripes should hit something");
        }
    }

    #[test]
    fn stripes_of_a_batch_part_are_those_of_the_whole_batch() {
        let lm = LogMel::for_rate(32000).unwrap();
        let waves: Vec<Vec<f32>> = (0..5).map(|i| vec![0.1 + i as f32 * 0.01; 32000]).collect();
        let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
        let mut whole = lm.batch(&refs);
        SpecAugment::default().apply(&mut whole, &mut SplitMix64::new(9));
        let mut part = lm.batch(&refs[2..4]);
        SpecAugment::default().apply_from(&mut part, &mut SplitMix64::new(9), 2);
        assert_eq!(part.clip(0), whole.clip(2));
        assert_eq!(part.clip(1), whole.clip(3));
    }

    #[test]
    fn stripes_on_the_device_follow_the_backends_seed() {
        clap_tools_backends::own_process!(1, {
            use burn::tensor::backend::Backend as _;
            type B = clap_tools_backends::Cpu;
            let device = Default::default();
            let run = |seed| {
                B::seed(&device, seed);
                let x = Tensor::<B, 4>::ones([2, 1, 100, 64], &device);
                SpecAugment::default().apply_tensor(x).into_data().convert::<f32>().into_vec::<f32>().unwrap()
            };
            let (a, b, c) = (run(1), run(1), run(2));
            assert_eq!(a, b, "the same seed, the same stripes");
            assert_ne!(a, c, "another seed, other stripes");
            for clip in a.chunks_exact(100 * 64) {
                let zero_frames = clip.chunks_exact(64).filter(|r| r.iter().all(|&v| v == 0.0)).count();
                let zero_bands = (0..64).filter(|&m| clip.chunks_exact(64).all(|r| r[m] == 0.0)).count();
                assert!(zero_frames <= 2 * 63 && zero_bands <= 2 * 7, "{zero_frames} frames, {zero_bands} bands");
                assert!(clip.iter().all(|&v| v == 0.0 || v == 1.0));
            }
            assert!(a.contains(&0.0));
        });
    }
}
