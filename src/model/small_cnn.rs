//! A small convolutional audio encoder for quick runs (the demo, tests, laptops): CNN14's front
//! (BatchNorm over the mel bins) and pooling (mean over frequency, max + mean over the valid frames),
//! with a few single-convolution blocks instead of six double ones.
//!
//! Parameters: `bn0`, `blocks.{i}.conv`, `blocks.{i}.bn`, `fc`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use burn::tensor::Tensor;
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::cnn14::{conv_bn_relu, normalise_bins, pool_valid_frames};
use super::encoder::AudioEncoder;

/// Shape of a [`SmallCnn`]: the width of each block (each halves time and frequency), the mel bins
/// and the size of the clip vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmallCnnConfig {
    pub channels: Vec<usize>,
    pub n_mels: usize,
    pub dim: usize,
}

impl SmallCnnConfig {
    /// The time reduction of the blocks' poolings (2 per block).
    pub fn downsample(&self) -> usize {
        1 << self.channels.len()
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> SmallCnn<B> {
        let mut c_in = 1;
        let blocks = self
            .channels
            .iter()
            .map(|&c| {
                let block = SmallBlock {
                    conv: Conv2dConfig::new([c_in, c], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .with_bias(false)
                        .init(device),
                    bn: BatchNormConfig::new(c).init(device),
                };
                c_in = c;
                block
            })
            .collect();
        SmallCnn {
            bn0: BatchNormConfig::new(self.n_mels).init(device),
            blocks,
            fc: LinearConfig::new(c_in, self.dim).init(device),
        }
    }
}

/// A 3×3 convolution without bias, BatchNorm, ReLU, then 2×2 average pooling.
#[derive(Module, Debug)]
pub struct SmallBlock<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: BatchNorm<B>,
}

#[derive(Module, Debug)]
pub struct SmallCnn<B: Backend> {
    pub bn0: BatchNorm<B>,
    pub blocks: Vec<SmallBlock<B>>,
    pub fc: Linear<B>,
}

impl<B: Backend> SmallCnn<B> {
    /// Clip vectors of a log-mel batch.
    ///
    /// # Shapes
    /// - mel: [batch, frames, n_mels], at least 2^blocks frames
    /// - valid_frames: one per clip, its frames before batch padding
    /// - returns: [batch, dim]
    pub fn forward(&self, mel: Tensor<B, 3>, valid_frames: &[usize]) -> Tensor<B, 2> {
        let [batch, frames, _] = mel.dims();
        let need = AudioEncoder::min_frames(self);
        assert!(frames >= need, "this small CNN needs at least {need} frames, got {frames}");
        assert_eq!(valid_frames.len(), batch, "one valid length per clip");
        let mut x = normalise_bins(&self.bn0, mel);
        for block in &self.blocks {
            x = conv_bn_relu(&block.conv, &block.bn, x);
            x = avg_pool2d(x, [2, 2], [2, 2], [0, 0], true, false);
        }
        relu(self.fc.forward(pool_valid_frames(x, valid_frames, need)))
    }
}

impl<B: Backend> AudioEncoder<B> for SmallCnn<B> {
    fn encode(&self, x: super::encoder::AudioTensors<B>, valid_frames: &[usize]) -> Tensor<B, 2> {
        self.forward(x.mel, valid_frames)
    }
    fn output_dim(&self) -> usize {
        self.fc.weight.dims()[1]
    }
    /// 2 per block: the blocks' poolings must leave at least one frame.
    fn min_frames(&self) -> usize {
        1 << self.blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::tensor::Distribution;
    use clap_tools_backends::Cpu;

    fn config() -> SmallCnnConfig {
        SmallCnnConfig { channels: vec![4, 8, 8], n_mels: 64, dim: 12 }
    }

    #[test]
    fn shapes_and_padding_do_not_leak_into_a_clip() {
        clap_tools_backends::own_process!(1, {
            let device = Default::default();
            let model = config().init::<Cpu>(&device);
            assert_eq!(AudioEncoder::<Cpu>::output_dim(&model), 12);
            assert_eq!(model.min_frames(), 8);
            let mel = Tensor::<Cpu, 3>::random([2, 40, 64], Distribution::Normal(0.0, 1.0), &device);
            let out = model.forward(mel.clone(), &[40, 17]);
            assert_eq!(out.dims(), [2, 12]);
            // Clip 1 alone, cut to its 17 valid frames plus what the 8× pooling rounds to, gives the same
            // vector: frames past the valid ones do not count.
            let alone = model.forward(mel.slice([1..2, 0..24, 0..64]), &[17]);
            let (a, b): (Vec<f32>, Vec<f32>) =
                (out.slice([1..2, 0..12]).into_data().into_vec().unwrap(), alone.into_data().into_vec().unwrap());
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
        });
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        clap_tools_backends::own_process!(2, {
            type Ad = Autodiff<Cpu>;
            let device = Default::default();
            let model = config().init::<Ad>(&device);
            let mel = Tensor::<Ad, 3>::random([3, 32, 64], Distribution::Normal(0.0, 1.0), &device);
            let grads = model.forward(mel, &[32, 20, 9]).sum().backward();
            let weight = model.blocks[0].conv.weight.val().grad(&grads).expect("conv grad");
            assert!(weight.abs().sum().into_scalar() > 0.0);
            assert!(model.fc.weight.val().grad(&grads).is_some());
        });
    }
}

/// `[model.audio] kind = "small_cnn"` in a training config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmallCnnSettings {
    /// One width per block, 1 to 6 blocks (default [16, 32, 64, 128]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
    /// Size of the clip vector (default 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
}

impl SmallCnnSettings {
    /// The shape: the reference's 64-bin log-mel input and these widths.
    pub fn config(&self) -> SmallCnnConfig {
        let n_mels = super::logmel::N_MELS;
        SmallCnnConfig {
            channels: self.channels.clone().unwrap_or_else(|| vec![16, 32, 64, 128]),
            n_mels,
            dim: self.dim.unwrap_or(128),
        }
    }

    /// Bad values, each with its key under `key`.
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        if let Some(c) = &self.channels {
            super::encoder::check_widths(key, c, check);
            check((1..=6).contains(&c.len()), format!("{key}.channels"), "small_cnn takes 1 to 6 blocks");
        }
        super::encoder::check_dim(key, self.dim, check);
    }
}
