//! CNN14 (PANNs) as the reference's audio encoder uses it: BatchNorm over the mel bins, six conv
//! blocks, mean over frequency, max + mean over the valid frames, fc1 with ReLU.
//!
//! Parameter names follow the PANNs checkpoint (`bn0`, `conv_block{1..6}.conv{1,2}`, `.bn{1,2}`,
//! `fc1`), so `Cnn14_mAP=0.431.pth` loads key for key ([`Cnn14::load_panns`]).

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::weights::{self, LoadSpec};
use crate::error::{Error, Result};

/// The time (and frequency) reduction of the five 2×2 poolings.
pub const DOWNSAMPLE: usize = 32;

/// Shape of a CNN14: the channels of its six blocks (PANNs: 64 … 2048) and the mel bins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cnn14Config {
    pub channels: [usize; 6],
    pub n_mels: usize,
    /// The reference's dropout (0.2 after each block, 0.5 around fc1) in training; off for very
    /// narrow models, where it mostly slows learning.
    #[serde(default = "yes")]
    pub dropout: bool,
}

fn yes() -> bool {
    true
}

impl Default for Cnn14Config {
    fn default() -> Self {
        Self { channels: [64, 128, 256, 512, 1024, 2048], n_mels: super::logmel::N_MELS, dropout: true }
    }
}

impl Cnn14Config {
    /// Size of the clip embedding (the channels of the last block; fc1 keeps it).
    pub fn embed_dim(&self) -> usize {
        self.channels[5]
    }

    /// Read the block widths from the shapes in a weights file (so narrower CNN14s load too).
    /// `prefix` is the key prefix of the encoder (`""` for PANNs, `audio_encoder.` in a CLAP
    /// checkpoint).
    pub fn from_weights(path: &Path, top_level_key: Option<&str>, prefix: &str) -> Result<Self> {
        let shapes = weights::shapes(path, top_level_key)?;
        let width = |name: &str| -> Result<usize> {
            let key = format!("{prefix}{name}.running_mean");
            let shape = shapes
                .get(&key)
                .ok_or_else(|| Error::file(path, format!("missing tensor {key:?}: not a CNN14 checkpoint")))?;
            Ok(shape.first().copied().unwrap_or(0))
        };
        let mut channels = [0; 6];
        for (i, c) in channels.iter_mut().enumerate() {
            *c = width(&format!("conv_block{}.bn1", i + 1))?;
        }
        Ok(Self { channels, n_mels: width("bn0")?, dropout: true })
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Cnn14<B> {
        let ch = self.channels;
        let block = |i: usize| ConvBlock::new(if i == 0 { 1 } else { ch[i - 1] }, ch[i], device);
        let (b1, b2, b3, b4, b5, b6) = (block(0), block(1), block(2), block(3), block(4), block(5));
        let c_in = ch[5];
        Cnn14 {
            bn0: BatchNormConfig::new(self.n_mels).init(device),
            conv_block1: b1,
            conv_block2: b2,
            conv_block3: b3,
            conv_block4: b4,
            conv_block5: b5,
            conv_block6: b6,
            fc1: LinearConfig::new(c_in, c_in).init(device),
            block_dropout: DropoutConfig::new(if self.dropout { 0.2 } else { 0.0 }).init(),
            fc_dropout: DropoutConfig::new(if self.dropout { 0.5 } else { 0.0 }).init(),
        }
    }
}

/// Two 3×3 convolutions without bias, each followed by BatchNorm and ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    pub conv1: Conv2d<B>,
    pub conv2: Conv2d<B>,
    pub bn1: BatchNorm<B>,
    pub bn2: BatchNorm<B>,
}

impl<B: Backend> ConvBlock<B> {
    pub(crate) fn new(c_in: usize, c_out: usize, device: &B::Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device)
        };
        Self {
            conv1: conv(c_in, c_out),
            conv2: conv(c_out, c_out),
            bn1: BatchNormConfig::new(c_out).init(device),
            bn2: BatchNormConfig::new(c_out).init(device),
        }
    }

    /// # Shapes
    /// - x: [batch, c_in, frames, bins] → [batch, c_out, frames / pool, bins / pool]
    pub fn forward(&self, x: Tensor<B, 4>, pool: usize) -> Tensor<B, 4> {
        self.forward_pooled(x, [pool, pool])
    }

    /// [`forward`](Self::forward) with an average pooling of `[time, freq]` (Wavegram-Logmel-CNN14's
    /// wavegram block pools time only).
    ///
    /// # Shapes
    /// - x: [batch, c_in, frames, bins] → [batch, c_out, frames / pool[0], bins / pool[1]]
    pub fn forward_pooled(&self, x: Tensor<B, 4>, pool: [usize; 2]) -> Tensor<B, 4> {
        let x = conv_bn_relu(&self.conv1, &self.bn1, x);
        let x = conv_bn_relu(&self.conv2, &self.bn2, x);
        if pool == [1, 1] {
            x
        } else {
            avg_pool2d(x, pool, pool, [0, 0], true, false)
        }
    }
}

/// ReLU(BatchNorm(conv(x))).
pub(crate) fn conv_bn_relu<B: Backend>(conv: &Conv2d<B>, bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    relu(conv_bn(conv, bn, x))
}

/// BatchNorm(conv(x)). Without autodiff (inference) BatchNorm uses its running statistics, an affine
/// map per channel, so it is folded into the convolution's weights and bias: one pass over the
/// activations instead of five element-wise ones.
pub(crate) fn conv_bn<B: Backend>(conv: &Conv2d<B>, bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    if B::ad_enabled(&x.device()) {
        return batch_norm_train(bn, conv.forward(x));
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => [top, left],
        // Asymmetric padding has no ConvOptions form: convolve, then normalise.
        _ => return bn.forward(conv.forward(x)),
    };
    let (scale, bias) = fold_bn(bn, conv.bias.as_ref().map(|b| b.val()));
    let [c_out, ..] = conv.weight.dims();
    let weight = conv.weight.val() * scale.reshape([c_out, 1, 1, 1]);
    let options = ConvOptions::new(conv.stride, padding, conv.dilation, conv.groups);
    conv2d(x, weight, Some(bias), options)
}

/// Inference BatchNorm after a convolution as the convolution's own affine map: the per-channel
/// scale of its weights, and its bias (the convolution's, if any, scaled, plus BatchNorm's shift).
pub(crate) fn fold_bn<B: Backend>(bn: &BatchNorm<B>, conv_bias: Option<Tensor<B, 1>>) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
    let bias = match conv_bias {
        Some(b) => b * scale.clone() + shift,
        None => shift,
    };
    (scale, bias)
}

/// BatchNorm in training mode (batch statistics; running statistics updated with momentum and, as
/// PyTorch does, the unbiased variance). Written as row-wise reductions and per-row scalars over an
/// [batch·channels, positions] view, the shapes burn-flex has fast kernels for; burn's own
/// formulation broadcasts [1, C, 1, 1] tensors through a slow generic path.
///
/// # Shapes
/// - x: [batch, channels, h, w] → same
pub fn batch_norm_train<B: Backend>(bn: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, c, h, w] = x.dims();
    let rows = x.reshape([b * c, h * w]);
    let mean = rows.clone().mean_dim(1).reshape([b, c]).mean_dim(0); // [1, c]
    let mean_sq = rows.clone().square().mean_dim(1).reshape([b, c]).mean_dim(0);
    let var = (mean_sq - mean.clone().square()).clamp_min(0.0); // biased, for normalising
    let scale = bn.gamma.val().reshape([1, c]) / (var.clone() + bn.epsilon).sqrt();
    let shift = bn.beta.val().reshape([1, c]) - mean.clone() * scale.clone();
    let per_row = |t: Tensor<B, 2>| t.repeat_dim(0, b).reshape([b * c, 1]);
    let y = rows * per_row(scale) + per_row(shift);

    let n = (b * h * w) as f64;
    let m = bn.momentum;
    let unbiased = var.detach() * (n / (n - 1.0).max(1.0));
    let running_mean = bn.running_mean.value_sync().mul_scalar(1.0 - m) + mean.detach().reshape([c]).mul_scalar(m);
    let running_var = bn.running_var.value_sync().mul_scalar(1.0 - m) + unbiased.reshape([c]).mul_scalar(m);
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
    y.reshape([b, c, h, w])
}

/// BatchNorm over the mel bins (batch statistics in training, running ones in inference), as
/// CNN14's `bn0` normalises its input.
///
/// # Shapes
/// - mel: [batch, frames, n_mels] → [batch, 1, frames, n_mels]
pub(crate) fn normalise_bins<B: Backend>(bn0: &BatchNorm<B>, mel: Tensor<B, 3>) -> Tensor<B, 4> {
    let x = mel.swap_dims(1, 2); // [batch, n_mels, frames]: BatchNorm over the mel bins
    let x = if B::ad_enabled(&x.device()) {
        let [b, m, t] = x.dims();
        batch_norm_train(bn0, x.reshape([b, m, t, 1])).reshape([b, m, t])
    } else {
        bn0.forward(x)
    };
    x.swap_dims(1, 2).unsqueeze_dim::<4>(1)
}

/// Mean over frequency, then max + mean over each clip's valid frames: the clip vector of CNN14.
/// `downsample` is the time reduction of the conv stack; a clip keeps `valid / downsample` output
/// frames (the reference's feat_length), at least one.
///
/// # Shapes
/// - x: [batch, channels, time, freq]; valid_frames: one per clip (log-mel frames)
/// - returns: [batch, channels]
pub(crate) fn pool_valid_frames<B: Backend>(
    x: Tensor<B, 4>,
    valid_frames: &[usize],
    downsample: usize,
) -> Tensor<B, 2> {
    let batch = x.dims()[0];
    // [batch, channels, time, freq] → mean over freq → [batch, time, channels]
    let x = x.mean_dim(3).squeeze_dim::<3>(3).swap_dims(1, 2);
    let [_, time, channels] = x.dims();
    // The reference's feat_length = (samples // hop + 1) // 32; a clip too short for one
    // output frame keeps one (the reference would divide by zero). The mask stops at the frames
    // there are; the mean divides by feat_length even where it is one more (Wavegram-Logmel-CNN14
    // cuts a frame the log-mel branch had), as the reference's mean_with_lens does.
    let lens: Vec<i64> = valid_frames.iter().map(|&f| (f / downsample).clamp(1, time) as i64).collect();
    let divisors: Vec<f32> = valid_frames.iter().map(|&f| (f / downsample).max(1) as f32).collect();
    let device = x.device();
    let lens_t = Tensor::<B, 1, Int>::from_data(TensorData::new(lens, [batch]), &device);
    let steps = Tensor::<B, 1, Int>::arange(0..time as i64, &device).unsqueeze_dim::<2>(0);
    let invalid: Tensor<B, 2, Bool> = steps.greater_equal(lens_t.clone().unsqueeze_dim::<2>(1));
    let invalid3 = invalid.unsqueeze_dim::<3>(2).expand([batch, time, channels]);
    let max = x.clone().mask_fill(invalid3.clone(), f32::NEG_INFINITY).max_dim(1).squeeze_dim::<2>(1);
    let sum = x.mask_fill(invalid3, 0.0).sum_dim(1).squeeze_dim::<2>(1);
    let divisors = Tensor::<B, 1>::from_data(TensorData::new(divisors, [batch]), &device);
    let mean = sum / divisors.unsqueeze_dim::<2>(1);
    max + mean
}

/// PANNs' clip head, as CNN14 and ResNet38 end: dropout, fc1 with ReLU, dropout.
///
/// # Shapes
/// - pooled: [batch, channels] → [batch, channels]
pub(crate) fn clip_head<B: Backend>(fc1: &Linear<B>, dropout: &Dropout, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
    dropout.forward(relu(fc1.forward(dropout.forward(pooled))))
}

#[derive(Module, Debug)]
pub struct Cnn14<B: Backend> {
    pub bn0: BatchNorm<B>,
    pub conv_block1: ConvBlock<B>,
    pub conv_block2: ConvBlock<B>,
    pub conv_block3: ConvBlock<B>,
    pub conv_block4: ConvBlock<B>,
    pub conv_block5: ConvBlock<B>,
    pub conv_block6: ConvBlock<B>,
    pub fc1: Linear<B>,
    block_dropout: Dropout,
    fc_dropout: Dropout,
}

impl<B: Backend> Cnn14<B> {
    /// Load a PANNs checkpoint (`Cnn14_mAP=0.431.pth`: weights under `model`; PANNs' own front end
    /// and `fc_audioset` are ignored). Block widths are read from the file.
    pub fn load_panns(path: &Path, device: &B::Device) -> Result<Self> {
        let cfg = Cnn14Config::from_weights(path, weights::panns_top_level_key(path), "")?;
        let spec = Self::ignored_keys("").into_iter().fold(LoadSpec::new(), LoadSpec::ignore);
        weights::load_panns(cfg.init(device), path, spec)
    }

    /// Keys of PANNs and reference checkpoints that are not parameters of this module (regexes),
    /// under `prefix`.
    pub fn ignored_keys(prefix: &str) -> Vec<String> {
        let p = regex::escape(prefix);
        vec![
            format!(r"^{p}spectrogram_extractor\."),
            format!(r"^{p}logmel_extractor\."),
            format!(r"^{p}melspec_extractor\."),
            format!(r"^{p}fc_audioset\."),
            format!(r"^{p}.*num_batches_tracked$"),
        ]
    }

    pub fn embed_dim(&self) -> usize {
        self.fc1.weight.dims()[1]
    }

    /// The six block widths.
    pub fn channels(&self) -> [usize; 6] {
        [
            &self.conv_block1,
            &self.conv_block2,
            &self.conv_block3,
            &self.conv_block4,
            &self.conv_block5,
            &self.conv_block6,
        ]
        .map(|b| b.conv1.weight.dims()[0])
    }

    /// Switch the reference's dropout on or off (see [`Cnn14Config::dropout`]).
    pub fn with_dropout(mut self, on: bool) -> Self {
        self.block_dropout = DropoutConfig::new(if on { 0.2 } else { 0.0 }).init();
        self.fc_dropout = DropoutConfig::new(if on { 0.5 } else { 0.0 }).init();
        self
    }

    /// Clip embeddings of a log-mel batch.
    ///
    /// # Shapes
    /// - mel: [batch, frames, n_mels], at least [`DOWNSAMPLE`] frames
    /// - valid_frames: one per clip, the frames of the clip before batch padding
    ///   ([`super::logmel::LogMel::frames`] of its samples)
    /// - returns: [batch, embed_dim]
    pub fn forward(&self, mel: Tensor<B, 3>, valid_frames: &[usize]) -> Tensor<B, 2> {
        let [batch, frames, _] = mel.dims();
        assert!(frames >= DOWNSAMPLE, "CNN14 needs at least {DOWNSAMPLE} frames, got {frames}");
        assert_eq!(valid_frames.len(), batch, "one valid length per clip");
        let mut x = normalise_bins(&self.bn0, mel);
        for (block, pool) in [
            (&self.conv_block1, 2),
            (&self.conv_block2, 2),
            (&self.conv_block3, 2),
            (&self.conv_block4, 2),
            (&self.conv_block5, 2),
            (&self.conv_block6, 1),
        ] {
            x = self.block_dropout.forward(block.forward(x, pool));
        }
        let pooled = pool_valid_frames(x, valid_frames, DOWNSAMPLE);
        clip_head(&self.fc1, &self.fc_dropout, pooled)
    }
}

impl<B: Backend> super::encoder::AudioEncoder<B> for Cnn14<B> {
    fn encode(&self, x: super::encoder::AudioTensors<B>, valid_frames: &[usize]) -> Tensor<B, 2> {
        self.forward(x.mel, valid_frames)
    }
    fn output_dim(&self) -> usize {
        self.embed_dim()
    }
    fn min_frames(&self) -> usize {
        DOWNSAMPLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use clap_tools_backends::Cpu;

    #[test]
    fn batch_norm_train_matches_the_definition() {
        type Ad = Autodiff<Cpu>;
        let device = Default::default();
        let bn = BatchNormConfig::new(3).init::<Ad>(&device);
        let bn =
            BatchNorm { gamma: burn::module::Param::from_tensor(Tensor::from_floats([1.5, 0.5, 2.0], &device)), ..bn };
        // Values from a stream of the test's own (burn's random stream is shared by every test).
        let mut rng = crate::split::SplitMix64::new(5);
        let values: Vec<f32> =
            (0..4 * 3 * 5 * 2).map(|_| 1.0 + 4.0 * (rng.below(1000) as f32 / 1000.0 - 0.5)).collect();
        let x = Tensor::<Ad, 4>::from_data(TensorData::new(values, [4, 3, 5, 2]), &device);
        let ours = batch_norm_train(&bn, x.clone());
        // reference: normalise each channel by its batch mean and biased variance
        let data: Vec<f32> = x.clone().into_data().into_vec().unwrap();
        let got: Vec<f32> = ours.into_data().into_vec().unwrap();
        let gamma = [1.5f32, 0.5, 2.0];
        for ch in 0..3 {
            let idx: Vec<usize> = (0..4).flat_map(|b| (0..10).map(move |k| b * 30 + ch * 10 + k)).collect();
            let n = idx.len() as f64;
            let mean = idx.iter().map(|&i| data[i] as f64).sum::<f64>() / n;
            let var = idx.iter().map(|&i| (data[i] as f64 - mean).powi(2)).sum::<f64>() / n;
            for &i in &idx {
                let want = (data[i] as f64 - mean) / (var + 1e-5).sqrt() * gamma[ch] as f64;
                assert!((got[i] as f64 - want).abs() < 1e-4, "channel {ch}: {} vs {want}", got[i]);
            }
            // running statistics as PyTorch keeps them: momentum 0.1, unbiased variance
            let rm: Vec<f32> = bn.running_mean.value_sync().into_data().into_vec().unwrap();
            let rv: Vec<f32> = bn.running_var.value_sync().into_data().into_vec().unwrap();
            assert!((rm[ch] as f64 - 0.1 * mean).abs() < 1e-4);
            assert!((rv[ch] as f64 - (0.9 + 0.1 * var * n / (n - 1.0))).abs() < 1e-4);
        }
    }
}

/// `[model.audio] kind = "cnn14"` in a training config: the reference's audio encoder, from PANNs'
/// checkpoint or from scratch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cnn14Settings {
    /// The six block widths (default PANNs' [64, 128, 256, 512, 1024, 2048]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
    /// The reference's dropout (default true; off for very narrow models, where it mostly slows
    /// learning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<bool>,
    /// A PANNs checkpoint (`Cnn14_mAP=0.431.pth`) to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<std::path::PathBuf>,
}

impl Cnn14Settings {
    /// The shape: the reference's 64-bin log-mel input and these widths.
    pub fn config(&self) -> Cnn14Config {
        let n_mels = super::logmel::N_MELS;
        Cnn14Config {
            channels: match self.channels.as_deref() {
                Some(&[a, b, c, d, e, f]) => [a, b, c, d, e, f],
                _ => Cnn14Config::default().channels,
            },
            n_mels,
            dropout: self.dropout.unwrap_or(true),
        }
    }

    /// Bad values, each with its key under `key`.
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        if let Some(c) = &self.channels {
            super::encoder::check_widths(key, c, check);
            check(c.len() == 6, format!("{key}.channels"), "cnn14 has six blocks: give six widths");
        }
    }

    /// The PANNs checkpoint's CNN14, if the settings name one; its widths must be `config`'s.
    pub fn load_pretrained<B: Backend>(&self, config: &Cnn14Config, device: &B::Device) -> Result<Option<Cnn14<B>>> {
        let Some(p) = &self.pretrained else { return Ok(None) };
        let cnn = Cnn14::<B>::load_panns(p, device)?;
        if cnn.channels() != config.channels {
            return Err(Error::file(
                p,
                format!("its CNN14 widths {:?} differ from model.audio.channels {:?}", cnn.channels(), config.channels),
            ));
        }
        Ok(Some(cnn.with_dropout(config.dropout)))
    }
}
