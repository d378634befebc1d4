//! Wavegram-Logmel-CNN14 (PANNs) as the reference's audio encoder uses it: a learnt front end over
//! the raw waveform (the "wavegram": a strided 1-D convolution and three 1-D blocks that pool time by
//! 4, reshaped into a few channels of 32 pseudo-frequency bins, then a conv block that halves time)
//! beside CNN14's log-mel branch (BatchNorm over the bins, conv_block1); both are cut to the shorter
//! time axis and stacked along the channels, then conv blocks 2–6, CNN14's pooling over the valid
//! frames and fc1 with ReLU.
//!
//! Reference: `Wavegram_Logmel_Cnn14` and `ConvPreWavBlock` in
//! <https://github.com/wsntxxn/DCASE2022T6_CLAP/blob/main/models/audio_encoder.py> (from
//! <https://github.com/qiuqiangkong/audioset_tagging_cnn/blob/master/pytorch/models.py>). The
//! reference asserts 32 kHz: the wavegram's stride (5 · 4 · 4 · 4 = 320 samples) is the log-mel
//! hop only there.
//!
//! Parameter names follow the PANNs checkpoint (`pre_conv0`, `pre_bn0`, `pre_block{1..4}`, `bn0`,
//! `conv_block{1..6}`, `fc1`), so `Wavegram_Logmel_Cnn14_mAP=0.439.pth` loads key for key.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv1d, max_pool1d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::cnn14::{batch_norm_train, clip_head, fold_bn, normalise_bins, pool_valid_frames, Cnn14, ConvBlock};
use super::encoder::AudioTensors;
use super::weights::{self, LoadSpec};
use crate::error::{Error, Result};

/// The time reduction of the joint conv stack, as CNN14's (the reference's `downsample_ratio`).
pub const DOWNSAMPLE: usize = 32;

/// The fewest log-mel frames of a batch: 32 leave each branch 16 frames after its first halving,
/// as blocks 2–5 need, and one more frame keeps the wavegram (one frame shorter) there too.
pub const MIN_FRAMES: usize = DOWNSAMPLE + 1;

/// The sample rate the wavegram's strides are made for.
pub const SAMPLE_RATE: u32 = 32_000;

/// Shape of a Wavegram-Logmel-CNN14: the six conv block widths (PANNs: 64 … 2048; conv_block2 reads
/// conv_block1's channels and the wavegram's together), the wavegram's widths and the mel bins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WavegramLogmelCnn14Config {
    pub channels: [usize; 6],
    /// Widths of pre_conv0 and pre_block1–3 (PANNs: 64, 64, 128, 128). pre_block3's must be a
    /// multiple of the bins after conv_block1 (n_mels / 2): it is reshaped into that many bins.
    pub wave: [usize; 4],
    /// Width of pre_block4, the wavegram's conv block (PANNs: 64).
    pub wave_out: usize,
    pub n_mels: usize,
    /// The reference's dropout (0.2 after the joined branches and each later block, 0.5 around fc1)
    /// in training.
    #[serde(default = "yes")]
    pub dropout: bool,
}

fn yes() -> bool {
    true
}

impl Default for WavegramLogmelCnn14Config {
    fn default() -> Self {
        Self {
            channels: [64, 128, 256, 512, 1024, 2048],
            wave: [64, 64, 128, 128],
            wave_out: 64,
            n_mels: super::logmel::N_MELS,
            dropout: true,
        }
    }
}

impl WavegramLogmelCnn14Config {
    /// Size of the clip embedding (the last block's width; fc1 keeps it).
    pub fn embed_dim(&self) -> usize {
        self.channels[5]
    }

    /// The wavegram's pseudo-frequency bins: conv_block1's output bins, which it is stacked with.
    pub fn wave_bins(&self) -> usize {
        self.n_mels / 2
    }

    /// Why this shape cannot be built, if it cannot: the wavegram must reshape into whole bins.
    pub fn shape_problem(&self) -> Option<String> {
        let bins = self.wave_bins();
        (bins == 0 || !self.wave[3].is_multiple_of(bins)).then(|| {
            format!(
                "the wavegram's last width ({}) must be a multiple of the {bins} bins after conv_block1 (n_mels {} / 2)",
                self.wave[3], self.n_mels
            )
        })
    }

    /// Read the shape from the tensors of a weights file (so narrower models load too). `prefix` is
    /// the key prefix of the encoder (`""` for PANNs, `audio_encoder.` in a CLAP checkpoint).
    pub fn from_weights(path: &Path, top_level_key: Option<&str>, prefix: &str) -> Result<Self> {
        let shapes = weights::shapes(path, top_level_key)?;
        let width = |name: &str| -> Result<usize> {
            let key = format!("{prefix}{name}.running_mean");
            let shape = shapes.get(&key).ok_or_else(|| {
                Error::file(path, format!("missing tensor {key:?}: not a Wavegram-Logmel-CNN14 checkpoint"))
            })?;
            Ok(shape.first().copied().unwrap_or(0))
        };
        let mut channels = [0; 6];
        for (i, c) in channels.iter_mut().enumerate() {
            *c = width(&format!("conv_block{}.bn1", i + 1))?;
        }
        let cfg = Self {
            channels,
            wave: [width("pre_bn0")?, width("pre_block1.bn1")?, width("pre_block2.bn1")?, width("pre_block3.bn1")?],
            wave_out: width("pre_block4.bn1")?,
            n_mels: width("bn0")?,
            dropout: true,
        };
        match cfg.shape_problem() {
            Some(p) => Err(Error::file(path, p)),
            None => Ok(cfg),
        }
    }

    /// The module of this shape; [`shape_problem`](Self::shape_problem) must be `None`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> WavegramLogmelCnn14<B> {
        let [w0, w1, w2, w3] = self.wave;
        let ch = self.channels;
        let block = |i: usize, c_in: usize| ConvBlock::new(c_in, ch[i], device);
        let p = |rate: f64| DropoutConfig::new(if self.dropout { rate } else { 0.0 }).init();
        WavegramLogmelCnn14 {
            pre_conv0: Conv1dConfig::new(1, w0, 11)
                .with_stride(5)
                .with_padding(PaddingConfig1d::Explicit(5, 5))
                .with_bias(false)
                .init(device),
            pre_bn0: BatchNormConfig::new(w0).init(device),
            pre_block1: ConvPreWavBlock::new(w0, w1, device),
            pre_block2: ConvPreWavBlock::new(w1, w2, device),
            pre_block3: ConvPreWavBlock::new(w2, w3, device),
            pre_block4: ConvBlock::new(w3 / self.wave_bins().max(1), self.wave_out, device),
            bn0: BatchNormConfig::new(self.n_mels).init(device),
            conv_block1: block(0, 1),
            conv_block2: block(1, ch[0] + self.wave_out),
            conv_block3: block(2, ch[1]),
            conv_block4: block(3, ch[2]),
            conv_block5: block(4, ch[3]),
            conv_block6: block(5, ch[4]),
            fc1: LinearConfig::new(ch[5], ch[5]).init(device),
            block_dropout: p(0.2),
            fc_dropout: p(0.5),
        }
    }
}

/// Two 1-D convolutions without bias (the second dilated by 2), each followed by BatchNorm and
/// ReLU, then max pooling over time.
#[derive(Module, Debug)]
pub struct ConvPreWavBlock<B: Backend> {
    pub conv1: Conv1d<B>,
    pub conv2: Conv1d<B>,
    pub bn1: BatchNorm<B>,
    pub bn2: BatchNorm<B>,
}

impl<B: Backend> ConvPreWavBlock<B> {
    fn new(c_in: usize, c_out: usize, device: &B::Device) -> Self {
        let conv = |i, dilation| {
            Conv1dConfig::new(i, c_out, 3)
                .with_dilation(dilation)
                .with_padding(PaddingConfig1d::Explicit(dilation, dilation))
                .with_bias(false)
                .init(device)
        };
        Self {
            conv1: conv(c_in, 1),
            conv2: conv(c_out, 2),
            bn1: BatchNormConfig::new(c_out).init(device),
            bn2: BatchNormConfig::new(c_out).init(device),
        }
    }

    /// # Shapes
    /// - x: [batch, c_in, samples] → [batch, c_out, samples / pool]
    pub fn forward(&self, x: Tensor<B, 3>, pool: usize) -> Tensor<B, 3> {
        let x = conv1d_bn_relu(&self.conv1, &self.bn1, x);
        let x = conv1d_bn_relu(&self.conv2, &self.bn2, x);
        max_pool1d(x, pool, pool, 0, 1, false)
    }
}

/// ReLU(BatchNorm(conv1d(x))), with BatchNorm folded into the convolution in inference, as CNN14's
/// 2-D blocks are (see [`super::cnn14`]).
///
/// # Shapes
/// - x: [batch, c_in, length] → [batch, c_out, length']
fn conv1d_bn_relu<B: Backend>(conv: &Conv1d<B>, bn: &BatchNorm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    if B::ad_enabled(&x.device()) {
        let y = conv.forward(x);
        let [b, c, l] = y.dims();
        return relu(batch_norm_train(bn, y.reshape([b, c, l, 1])).reshape([b, c, l]));
    }
    let padding = match conv.padding {
        PaddingConfig1d::Valid => 0,
        PaddingConfig1d::Explicit(left, right) if left == right => left,
        _ => return relu(bn.forward(conv.forward(x))),
    };
    let (scale, bias) = fold_bn(bn, conv.bias.as_ref().map(|b| b.val()));
    let [c_out, ..] = conv.weight.dims();
    let weight = conv.weight.val() * scale.reshape([c_out, 1, 1]);
    let options = ConvOptions::new([conv.stride], [padding], [conv.dilation], conv.groups);
    relu(conv1d(x, weight, Some(bias), options))
}

#[derive(Module, Debug)]
pub struct WavegramLogmelCnn14<B: Backend> {
    pub pre_conv0: Conv1d<B>,
    pub pre_bn0: BatchNorm<B>,
    pub pre_block1: ConvPreWavBlock<B>,
    pub pre_block2: ConvPreWavBlock<B>,
    pub pre_block3: ConvPreWavBlock<B>,
    pub pre_block4: ConvBlock<B>,
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

impl<B: Backend> WavegramLogmelCnn14<B> {
    /// Load a PANNs checkpoint (`Wavegram_Logmel_Cnn14_mAP=0.439.pth`: weights under `model`; PANNs'
    /// own front end and `fc_audioset` are ignored). The shape is read from the file.
    pub fn load_panns(path: &Path, device: &B::Device) -> Result<Self> {
        let cfg = WavegramLogmelCnn14Config::from_weights(path, weights::panns_top_level_key(path), "")?;
        Self::load_panns_as(path, &cfg, device)
    }

    /// [`load_panns`](Self::load_panns) with the file's shape already read.
    fn load_panns_as(path: &Path, cfg: &WavegramLogmelCnn14Config, device: &B::Device) -> Result<Self> {
        weights::load_panns(cfg.init(device), path, Self::load_spec(""))
    }

    /// How a PyTorch state dict of this encoder under `prefix` maps onto this module: key for key,
    /// with CNN14's front-end and classifier keys ignored.
    pub fn load_spec(prefix: &str) -> LoadSpec {
        Cnn14::<B>::ignored_keys(prefix).into_iter().fold(LoadSpec::new(), LoadSpec::ignore)
    }

    pub fn embed_dim(&self) -> usize {
        self.fc1.weight.dims()[1]
    }

    /// The shape of this module (what [`WavegramLogmelCnn14Config`] describes, dropout aside).
    pub fn shape(&self) -> ([usize; 6], [usize; 4], usize) {
        let channels = [
            &self.conv_block1,
            &self.conv_block2,
            &self.conv_block3,
            &self.conv_block4,
            &self.conv_block5,
            &self.conv_block6,
        ]
        .map(|b| b.conv1.weight.dims()[0]);
        let wave = [&self.pre_conv0, &self.pre_block1.conv1, &self.pre_block2.conv1, &self.pre_block3.conv1]
            .map(|c| c.weight.dims()[0]);
        (channels, wave, self.pre_block4.conv1.weight.dims()[0])
    }

    /// Switch the reference's dropout on or off (see [`WavegramLogmelCnn14Config::dropout`]).
    pub fn with_dropout(mut self, on: bool) -> Self {
        self.block_dropout = DropoutConfig::new(if on { 0.2 } else { 0.0 }).init();
        self.fc_dropout = DropoutConfig::new(if on { 0.5 } else { 0.0 }).init();
        self
    }

    /// Clip embeddings of a batch: its log-mel frames and the zero-padded waveforms they were
    /// computed from.
    ///
    /// # Shapes
    /// - mel: [batch, frames, n_mels], at least [`MIN_FRAMES`] frames
    /// - wave: [batch, samples], the samples the frames were computed from (frames = samples / 320 + 1)
    /// - valid_frames: one per clip, the frames of the clip before batch padding
    /// - returns: [batch, embed_dim]
    pub fn forward(&self, mel: Tensor<B, 3>, wave: Tensor<B, 2>, valid_frames: &[usize]) -> Tensor<B, 2> {
        let [batch, frames, _] = mel.dims();
        assert!(frames >= MIN_FRAMES, "Wavegram-Logmel-CNN14 needs at least {MIN_FRAMES} frames, got {frames}");
        assert_eq!(valid_frames.len(), batch, "one valid length per clip");
        assert_eq!(wave.dims()[0], batch, "one waveform per clip");

        // The wavegram: [batch, samples] → [batch, wave_out, time, bins].
        let a = conv1d_bn_relu(&self.pre_conv0, &self.pre_bn0, wave.unsqueeze_dim::<3>(1));
        let a = self.pre_block1.forward(a, 4);
        let a = self.pre_block2.forward(a, 4);
        let a = self.pre_block3.forward(a, 4);
        let [_, width, time] = a.dims();
        let bins = self.bn0.gamma.dims()[0] / 2;
        let a = a.reshape([batch, width / bins, bins, time]).swap_dims(2, 3);
        let a = self.pre_block4.forward_pooled(a, [2, 1]);

        // The log-mel branch: [batch, frames, n_mels] → [batch, channels[0], frames / 2, n_mels / 2].
        let x = self.conv_block1.forward(normalise_bins(&self.bn0, mel), 2);

        // Both cut to the shorter time axis, stacked along the channels.
        let time = x.dims()[2].min(a.dims()[2]);
        let x = Tensor::cat(vec![x.narrow(2, 0, time), a.narrow(2, 0, time)], 1);
        let mut x = self.block_dropout.forward(x);
        for (block, pool) in [
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

impl<B: Backend> super::encoder::AudioEncoder<B> for WavegramLogmelCnn14<B> {
    fn encode(&self, x: AudioTensors<B>, valid_frames: &[usize]) -> Tensor<B, 2> {
        // The registry's front end for this encoder keeps the waveforms (AudioInput::WaveformAndLogMel).
        let wave = x.wave.expect("Wavegram-Logmel-CNN14 reads the waveforms, which its front end keeps");
        self.forward(x.mel, wave, valid_frames)
    }
    fn output_dim(&self) -> usize {
        self.embed_dim()
    }
    fn min_frames(&self) -> usize {
        MIN_FRAMES
    }
}

/// `[model.audio] kind = "wavegram_logmel_cnn14"` in a training config: PANNs' Wavegram-Logmel-CNN14,
/// from its checkpoint or from scratch (32 kHz only, as the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WavegramLogmelCnn14Settings {
    /// The six conv block widths (default [64, 128, 256, 512, 1024, 2048]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
    /// Widths of pre_conv0 and pre_block1–3 (default [64, 64, 128, 128]); the last a multiple of 32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<Vec<usize>>,
    /// Width of pre_block4 (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave_out: Option<usize>,
    /// The reference's dropout (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<bool>,
    /// A PANNs checkpoint (`Wavegram_Logmel_Cnn14_mAP=0.439.pth`) to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<std::path::PathBuf>,
}

impl WavegramLogmelCnn14Settings {
    /// The shape: the reference's 64-bin log-mel input and these widths.
    pub fn config(&self) -> WavegramLogmelCnn14Config {
        let d = WavegramLogmelCnn14Config::default();
        WavegramLogmelCnn14Config {
            channels: match self.channels.as_deref() {
                Some(&[a, b, c, e, f, g]) => [a, b, c, e, f, g],
                _ => d.channels,
            },
            wave: match self.wave.as_deref() {
                Some(&[a, b, c, e]) => [a, b, c, e],
                _ => d.wave,
            },
            wave_out: self.wave_out.unwrap_or(d.wave_out),
            n_mels: d.n_mels,
            dropout: self.dropout.unwrap_or(true),
        }
    }

    /// Bad values, each with its key under `key`.
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        if let Some(c) = &self.channels {
            super::encoder::check_widths(key, c, check);
            check(
                c.len() == 6,
                format!("{key}.channels"),
                "wavegram_logmel_cnn14 has six conv blocks: give six widths",
            );
        }
        super::encoder::check_widths(key, &self.wave_out.into_iter().collect::<Vec<_>>(), check);
        if let Some(w) = &self.wave {
            super::encoder::check_widths(key, w, check);
            let ok = w.len() == 4;
            check(
                ok,
                format!("{key}.wave"),
                "give four wavegram widths (pre_conv0, pre_block1, pre_block2, pre_block3)",
            );
            if ok {
                let problem = self.config().shape_problem();
                check(problem.is_none(), format!("{key}.wave"), problem.as_deref().unwrap_or(""));
            }
        }
    }

    /// The PANNs checkpoint's Wavegram-Logmel-CNN14, if the settings name one; its shape must be
    /// `config`'s.
    pub fn load_pretrained<B: Backend>(
        &self,
        config: &WavegramLogmelCnn14Config,
        device: &B::Device,
    ) -> Result<Option<WavegramLogmelCnn14<B>>> {
        let Some(p) = &self.pretrained else { return Ok(None) };
        let cfg = WavegramLogmelCnn14Config::from_weights(p, weights::panns_top_level_key(p), "")?;
        if (cfg.channels, cfg.wave, cfg.wave_out) != (config.channels, config.wave, config.wave_out) {
            return Err(Error::file(
                p,
                format!(
                    "its Wavegram-Logmel-CNN14 (channels {:?}, wave {:?}, wave_out {}) differs from model.audio's \
                     (channels {:?}, wave {:?}, wave_out {})",
                    cfg.channels, cfg.wave, cfg.wave_out, config.channels, config.wave, config.wave_out
                ),
            ));
        }
        Ok(Some(WavegramLogmelCnn14::<B>::load_panns_as(p, &cfg, device)?.with_dropout(config.dropout)))
    }
}
