//! ResNet38 (PANNs) as the reference's audio encoder uses it: CNN14's BatchNorm over the mel bins
//! (then, in training, SpecAugment's stripes, as the reference always does there) and first conv
//! block, a ResNet of basic blocks (3, 4, 6, 3; the three later stages halve time and frequency by
//! average pooling, not by strided convolutions), a 2×2 average pooling, a wide conv block (512 →
//! 2048), then CNN14's pooling over the valid frames and fc1 with ReLU.
//!
//! Reference: `ResNet38`, `_ResNet`, `_ResnetBasicBlock` in
//! <https://github.com/wsntxxn/DCASE2022T6_CLAP/blob/main/models/audio_encoder.py> (from
//! <https://github.com/qiuqiangkong/audioset_tagging_cnn/blob/master/pytorch/models.py>).
//!
//! Parameter names follow the PANNs checkpoint (`bn0`, `conv_block1`, `resnet.layer{1..4}.{i}.conv{1,2}`,
//! `.bn{1,2}`, `conv_block_after1`, `fc1`), except that a block's `downsample` Sequential
//! (`downsample.1` conv and `downsample.2` BatchNorm after an average pooling) is named
//! `downsample.conv` / `downsample.bn` here; [`ResNet38::load_panns`] renames them.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::avg_pool2d;
use burn::tensor::Tensor;
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::cnn14::{clip_head, conv_bn, conv_bn_relu, normalise_bins, pool_valid_frames, ConvBlock};
use super::logmel::SpecAugment;
use super::weights::{self, LoadSpec};
use crate::error::{Error, Result};

/// The time (and frequency) reduction: conv_block1's pooling, three strided stages and the pooling
/// before conv_block_after1, each 2×2.
pub const DOWNSAMPLE: usize = 32;

/// Shape of a ResNet38: the first block's width, each stage's width and number of basic blocks
/// (PANNs: 64; 64, 128, 256, 512; 3, 4, 6, 3), the last block's width (2048) and the mel bins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResNet38Config {
    pub stem: usize,
    pub widths: [usize; 4],
    pub blocks: [usize; 4],
    pub out: usize,
    pub n_mels: usize,
    /// The reference's dropout (0.2 after the stem, the ResNet and the last block, 0.1 inside each
    /// basic block, 0.5 around fc1) in training.
    #[serde(default = "yes")]
    pub dropout: bool,
}

fn yes() -> bool {
    true
}

impl Default for ResNet38Config {
    fn default() -> Self {
        Self {
            stem: 64,
            widths: [64, 128, 256, 512],
            blocks: [3, 4, 6, 3],
            out: 2048,
            n_mels: super::logmel::N_MELS,
            dropout: true,
        }
    }
}

impl ResNet38Config {
    /// Size of the clip embedding (the last block's width; fc1 keeps it).
    pub fn embed_dim(&self) -> usize {
        self.out
    }

    /// Read the shape from the tensors of a weights file (so narrower ResNet38s load too). `prefix`
    /// is the key prefix of the encoder (`""` for PANNs, `audio_encoder.` in a CLAP checkpoint).
    pub fn from_weights(path: &Path, top_level_key: Option<&str>, prefix: &str) -> Result<Self> {
        let shapes = weights::shapes(path, top_level_key)?;
        let first_dim = |key: String| -> Result<usize> {
            let shape = shapes
                .get(&key)
                .ok_or_else(|| Error::file(path, format!("missing tensor {key:?}: not a ResNet38 checkpoint")))?;
            Ok(shape.first().copied().unwrap_or(0))
        };
        let mut widths = [0; 4];
        let mut blocks = [0; 4];
        for s in 0..4 {
            widths[s] = first_dim(format!("{prefix}resnet.layer{}.0.bn1.running_mean", s + 1))?;
            // Blocks are numbered from 0 without gaps; the count is bounded by the keys present.
            blocks[s] = (0..)
                .take_while(|i| shapes.contains_key(&format!("{prefix}resnet.layer{}.{i}.bn1.running_mean", s + 1)))
                .count();
        }
        Ok(Self {
            stem: first_dim(format!("{prefix}conv_block1.bn1.running_mean"))?,
            widths,
            blocks,
            out: first_dim(format!("{prefix}conv_block_after1.bn1.running_mean"))?,
            n_mels: first_dim(format!("{prefix}bn0.running_mean"))?,
            dropout: true,
        })
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> ResNet38<B> {
        let mut c_in = self.stem;
        let mut stage = |s: usize| -> Vec<BasicBlock<B>> {
            let (width, stride2) = (self.widths[s], s > 0);
            (0..self.blocks[s])
                .map(|i| {
                    let block = BasicBlock::new(c_in, width, i == 0 && stride2, device);
                    c_in = width;
                    block
                })
                .collect()
        };
        let resnet = Stages { layer1: stage(0), layer2: stage(1), layer3: stage(2), layer4: stage(3) };
        let p = |on: bool, rate: f64| DropoutConfig::new(if on { rate } else { 0.0 }).init();
        ResNet38 {
            bn0: BatchNormConfig::new(self.n_mels).init(device),
            conv_block1: ConvBlock::new(1, self.stem, device),
            resnet,
            conv_block_after1: ConvBlock::new(self.widths[3], self.out, device),
            fc1: LinearConfig::new(self.out, self.out).init(device),
            block_dropout: p(self.dropout, 0.2),
            fc_dropout: p(self.dropout, 0.5),
        }
    }
}

fn conv3x3<B: Backend>(c_in: usize, c_out: usize, device: &B::Device) -> Conv2d<B> {
    Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// The shortcut of a block whose input differs in width or size: (average pooling when the block
/// halves,) a 1×1 convolution and BatchNorm.
#[derive(Module, Debug)]
pub struct Downsample<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: BatchNorm<B>,
}

/// Two 3×3 convolutions with BatchNorm and a shortcut; a halving block average-pools its input first.
#[derive(Module, Debug)]
pub struct BasicBlock<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm<B>,
    pub conv2: Conv2d<B>,
    pub bn2: BatchNorm<B>,
    pub downsample: Option<Downsample<B>>,
    /// Whether the block halves time and frequency (the first block of stages 2–4).
    halves: bool,
    dropout: Dropout,
}

impl<B: Backend> BasicBlock<B> {
    fn new(c_in: usize, c_out: usize, halves: bool, device: &B::Device) -> Self {
        let downsample = (halves || c_in != c_out).then(|| Downsample {
            conv: Conv2dConfig::new([c_in, c_out], [1, 1]).with_bias(false).init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        });
        Self {
            conv1: conv3x3(c_in, c_out, device),
            bn1: BatchNormConfig::new(c_out).init(device),
            conv2: conv3x3(c_out, c_out, device),
            bn2: BatchNormConfig::new(c_out).init(device),
            downsample,
            halves,
            dropout: DropoutConfig::new(0.1).init(),
        }
    }

    /// # Shapes
    /// - x: [batch, c_in, time, freq] → [batch, c_out, time / s, freq / s], s = 2 for a halving block
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = if self.halves { pool2(x) } else { x };
        let out = self.dropout.forward(conv_bn_relu(&self.conv1, &self.bn1, x.clone()));
        let out = conv_bn(&self.conv2, &self.bn2, out);
        let identity = match &self.downsample {
            Some(d) => conv_bn(&d.conv, &d.bn, x),
            None => x,
        };
        relu(out + identity)
    }
}

/// PyTorch's `F.avg_pool2d(x, 2)`: 2×2 windows, an odd last row or column dropped.
fn pool2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    avg_pool2d(x, [2, 2], [2, 2], [0, 0], true, false)
}

/// The four stages (`resnet.layer{1..4}` in the checkpoint).
#[derive(Module, Debug)]
pub struct Stages<B: Backend> {
    pub layer1: Vec<BasicBlock<B>>,
    pub layer2: Vec<BasicBlock<B>>,
    pub layer3: Vec<BasicBlock<B>>,
    pub layer4: Vec<BasicBlock<B>>,
}

#[derive(Module, Debug)]
pub struct ResNet38<B: Backend> {
    pub bn0: BatchNorm<B>,
    pub conv_block1: ConvBlock<B>,
    pub resnet: Stages<B>,
    pub conv_block_after1: ConvBlock<B>,
    pub fc1: Linear<B>,
    block_dropout: Dropout,
    fc_dropout: Dropout,
}

impl<B: Backend> ResNet38<B> {
    /// Load a PANNs checkpoint (`ResNet38_mAP=0.434.pth`: weights under `model`; PANNs' own front
    /// end and `fc_audioset` are ignored). The shape is read from the file.
    pub fn load_panns(path: &Path, device: &B::Device) -> Result<Self> {
        let cfg = ResNet38Config::from_weights(path, weights::panns_top_level_key(path), "")?;
        Self::load_panns_as(path, &cfg, device)
    }

    /// [`load_panns`](Self::load_panns) with the file's shape already read.
    fn load_panns_as(path: &Path, cfg: &ResNet38Config, device: &B::Device) -> Result<Self> {
        weights::load_panns(cfg.init(device), path, Self::load_spec(""))
    }

    /// How a PyTorch state dict of a ResNet38 under `prefix` maps onto this module: the Sequential
    /// shortcut renamed (a halving block's is `[AvgPool2d, conv, bn]`, another's `[conv, bn]`), and
    /// the keys that are not parameters here ignored.
    pub fn load_spec(prefix: &str) -> LoadSpec {
        let p = regex::escape(prefix);
        let mut spec = LoadSpec::new()
            // layer1 does not halve: its shortcut, when it has one, is [conv, bn].
            .remap(format!(r"^({p}resnet\.layer1\.\d+\.downsample)\.0\."), "$1.conv.")
            .remap(format!(r"^({p}resnet\.layer1\.\d+\.downsample)\.1\."), "$1.bn.")
            .remap(format!(r"^({p}resnet\.layer[234]\.\d+\.downsample)\.1\."), "$1.conv.")
            .remap(format!(r"^({p}resnet\.layer[234]\.\d+\.downsample)\.2\."), "$1.bn.");
        for pattern in super::cnn14::Cnn14::<B>::ignored_keys(prefix) {
            spec = spec.ignore(pattern);
        }
        spec
    }

    pub fn embed_dim(&self) -> usize {
        self.fc1.weight.dims()[1]
    }

    /// The shape of this module (what [`ResNet38Config`] describes).
    pub fn shape(&self) -> ([usize; 4], [usize; 4]) {
        let stages = [&self.resnet.layer1, &self.resnet.layer2, &self.resnet.layer3, &self.resnet.layer4];
        (stages.map(|s| s.first().map_or(0, |b| b.conv1.weight.dims()[0])), stages.map(|s| s.len()))
    }

    /// Switch the reference's dropout on or off (see [`ResNet38Config::dropout`]).
    pub fn with_dropout(mut self, on: bool) -> Self {
        self.block_dropout = DropoutConfig::new(if on { 0.2 } else { 0.0 }).init();
        self.fc_dropout = DropoutConfig::new(if on { 0.5 } else { 0.0 }).init();
        for stage in
            [&mut self.resnet.layer1, &mut self.resnet.layer2, &mut self.resnet.layer3, &mut self.resnet.layer4]
        {
            for b in stage.iter_mut() {
                b.dropout = DropoutConfig::new(if on { 0.1 } else { 0.0 }).init();
            }
        }
        self
    }

    /// Clip embeddings of a log-mel batch.
    ///
    /// # Shapes
    /// - mel: [batch, frames, n_mels], at least [`DOWNSAMPLE`] frames
    /// - valid_frames: one per clip, the frames of the clip before batch padding
    /// - returns: [batch, embed_dim]
    pub fn forward(&self, mel: Tensor<B, 3>, valid_frames: &[usize]) -> Tensor<B, 2> {
        let [batch, frames, _] = mel.dims();
        assert!(frames >= DOWNSAMPLE, "ResNet38 needs at least {DOWNSAMPLE} frames, got {frames}");
        assert_eq!(valid_frames.len(), batch, "one valid length per clip");
        let x = normalise_bins(&self.bn0, mel);
        // The reference's ResNet38 drops stripes of its normalised input whenever it trains (the
        // trainer's SpecAugment, when on, came before bn0).
        let x = if B::ad_enabled(&x.device()) { SpecAugment::default().apply_tensor(x) } else { x };
        let mut x = self.block_dropout.forward(self.conv_block1.forward(x, 2));
        for stage in [&self.resnet.layer1, &self.resnet.layer2, &self.resnet.layer3, &self.resnet.layer4] {
            for block in stage {
                x = block.forward(x);
            }
        }
        let x = self.block_dropout.forward(pool2(x));
        let x = self.block_dropout.forward(self.conv_block_after1.forward(x, 1));
        let pooled = pool_valid_frames(x, valid_frames, DOWNSAMPLE);
        clip_head(&self.fc1, &self.fc_dropout, pooled)
    }
}

impl<B: Backend> super::encoder::AudioEncoder<B> for ResNet38<B> {
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

/// `[model.audio] kind = "resnet38"` in a training config: PANNs' ResNet38, from its checkpoint or
/// from scratch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNet38Settings {
    /// The first block's width (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stem: Option<usize>,
    /// The four stages' widths (default [64, 128, 256, 512]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widths: Option<Vec<usize>>,
    /// The four stages' numbers of basic blocks (default [3, 4, 6, 3]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<usize>>,
    /// The last block's width and the clip embedding's size (default 2048).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<usize>,
    /// The reference's dropout (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<bool>,
    /// A PANNs checkpoint (`ResNet38_mAP=0.434.pth`) to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<std::path::PathBuf>,
}

impl ResNet38Settings {
    /// The shape: the reference's 64-bin log-mel input and these widths.
    pub fn config(&self) -> ResNet38Config {
        let d = ResNet38Config::default();
        let four = |v: &Option<Vec<usize>>, default| match v.as_deref() {
            Some(&[a, b, c, e]) => [a, b, c, e],
            _ => default,
        };
        ResNet38Config {
            stem: self.stem.unwrap_or(d.stem),
            widths: four(&self.widths, d.widths),
            blocks: four(&self.blocks, d.blocks),
            out: self.out.unwrap_or(d.out),
            n_mels: d.n_mels,
            dropout: self.dropout.unwrap_or(true),
        }
    }

    /// Bad values, each with its key under `key`.
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        let widths: Vec<usize> = self.stem.into_iter().chain(self.out).collect();
        super::encoder::check_widths(key, &widths, check);
        if let Some(w) = &self.widths {
            super::encoder::check_widths(key, w, check);
            check(w.len() == 4, format!("{key}.widths"), "resnet38 has four stages: give four widths");
        }
        if let Some(b) = &self.blocks {
            let ok = b.len() == 4 && b.iter().all(|&n| (1..=64).contains(&n));
            check(ok, format!("{key}.blocks"), "give four numbers of blocks, each 1 to 64");
        }
    }

    /// The PANNs checkpoint's ResNet38, if the settings name one; its shape must be `config`'s.
    pub fn load_pretrained<B: Backend>(
        &self,
        config: &ResNet38Config,
        device: &B::Device,
    ) -> Result<Option<ResNet38<B>>> {
        let Some(p) = &self.pretrained else { return Ok(None) };
        let cfg = ResNet38Config::from_weights(p, weights::panns_top_level_key(p), "")?;
        if (cfg.stem, cfg.widths, cfg.blocks, cfg.out) != (config.stem, config.widths, config.blocks, config.out) {
            return Err(Error::file(
                p,
                format!(
                    "its ResNet38 (stem {}, widths {:?}, blocks {:?}, out {}) differs from model.audio's \
                     (stem {}, widths {:?}, blocks {:?}, out {})",
                    cfg.stem, cfg.widths, cfg.blocks, cfg.out, config.stem, config.widths, config.blocks, config.out
                ),
            ));
        }
        Ok(Some(ResNet38::<B>::load_panns_as(p, &cfg, device)?.with_dropout(config.dropout)))
    }
}
