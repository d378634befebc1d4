//! The Audio Spectrogram Transformer as the reference's audio encoder uses it: BatchNorm over the mel
//! bins (`init_bn`), the log-mel cut to at most `input_frames` frames (shorter clips are not padded),
//! 16×16 patches at strides (10, 10) over (frequency, time), a class and a distillation token, the
//! first positional embeddings for as many tokens as there are, a DeiT encoder, and the mean of the
//! two tokens as the clip vector. No length mask: batch padding is seen, as in the reference.
//!
//! Reference: `AudioSpectrogramTransformer` and `PatchEmbed` in
//! <https://github.com/wsntxxn/DCASE2022T6_CLAP/blob/main/models/audio_encoder.py> (after
//! <https://github.com/YuanGongND/ast/blob/master/src/models/ast_models.py>), over timm's DeiT
//! (`VisionTransformerDistilled`: pre-norm blocks, LayerNorm eps 1e-6, exact GELU).
//!
//! Parameter names follow the checkpoints: `init_bn` and `v.{cls_token, dist_token, pos_embed,
//! patch_embed.proj, blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm}`; AST's
//! AudioSet checkpoint holds `v.*` under `module.` ([`Ast::load_audioset`]).

use std::path::Path;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use clap_tools_backends::burn;
use serde::{Deserialize, Serialize};

use super::cnn14::normalise_bins;
use super::weights::{self, Layout, LoadSpec};
use crate::error::{Error, Result};

/// The patch size (both axes), as in every DeiT the reference uses.
pub const PATCH: usize = 16;

/// Shape of an AST: the DeiT's width, depth and heads (AudioSet's `base384`: 768, 12, 12), the mel bins
/// and frames of its input (128, 1024) and the patch strides over frequency and time (10, 10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AstConfig {
    pub dim: usize,
    pub depth: usize,
    pub heads: usize,
    /// The MLP's hidden width (4 × dim in every DeiT).
    pub mlp_dim: usize,
    pub n_mels: usize,
    pub input_frames: usize,
    pub fstride: usize,
    pub tstride: usize,
}

impl Default for AstConfig {
    fn default() -> Self {
        Self {
            dim: 768,
            depth: 12,
            heads: 12,
            mlp_dim: 3072,
            n_mels: 128,
            input_frames: 1024,
            fstride: 10,
            tstride: 10,
        }
    }
}

impl AstConfig {
    /// Patches along frequency and time for `frames` input frames (a convolution's output size).
    pub fn grid(&self, frames: usize) -> (usize, usize) {
        ((self.n_mels.max(PATCH) - PATCH) / self.fstride + 1, (frames.max(PATCH) - PATCH) / self.tstride + 1)
    }

    /// Tokens of the positional embedding: the two tokens and the patches of `input_frames`.
    pub fn positions(&self) -> usize {
        let (f, t) = self.grid(self.input_frames);
        2 + f * t
    }

    /// Read the shape from the tensors of a weights file. `prefix` is where `init_bn` and `v.` sit
    /// (`""` for a bare AST, `module.` in AST's AudioSet checkpoint, `audio_encoder.` in a CLAP
    /// checkpoint); the strides and input frames, which no tensor records, are the reference's
    /// (10, 10, 1024), checked against the positional embedding's length.
    pub fn from_weights(path: &Path, top_level_key: Option<&str>, prefix: &str) -> Result<Self> {
        let shapes = weights::shapes(path, top_level_key)?;
        let shape = |key: String| -> Result<Vec<usize>> {
            shapes
                .get(&key)
                .cloned()
                .ok_or_else(|| Error::file(path, format!("missing tensor {key:?}: not an AST checkpoint")))
        };
        let proj = shape(format!("{prefix}v.patch_embed.proj.weight"))?;
        let fc1 = shape(format!("{prefix}v.blocks.0.mlp.fc1.weight"))?;
        let pos = shape(format!("{prefix}v.pos_embed"))?;
        let n_mels = match shapes.contains_key(&format!("{prefix}init_bn.running_mean")) {
            true => shape(format!("{prefix}init_bn.running_mean"))?[0],
            false => 128,
        };
        if n_mels < PATCH {
            return Err(Error::file(
                path,
                format!("{prefix}init_bn has {n_mels} mel bins, fewer than a patch ({PATCH})"),
            ));
        }
        let depth = (0..).take_while(|i| shapes.contains_key(&format!("{prefix}v.blocks.{i}.norm1.weight"))).count();
        let dim = proj.first().copied().unwrap_or(0);
        // The heads are not in the weights: every DeiT has 64 dimensions per head.
        let heads = if dim % 64 == 0 { (dim / 64).max(1) } else { 1 };
        let mut cfg = Self { dim, depth, heads, mlp_dim: fc1.first().copied().unwrap_or(0), n_mels, ..Self::default() };
        // The input frames are not in the weights either: the positional embedding's length gives
        // the time patches; 1024 frames (the reference's) when they agree, else the fewest frames
        // that make as many patches (the same model: frames past the last whole patch are unused).
        let (f, _) = cfg.grid(PATCH);
        let patches = pos.get(1).copied().unwrap_or(0).saturating_sub(2);
        if pos.len() != 3 || patches == 0 || patches % f != 0 {
            return Err(Error::file(
                path,
                format!("{prefix}v.pos_embed of shape {pos:?} is not 2 tokens + {f} frequency patches × time patches"),
            ));
        }
        if cfg.positions() != patches + 2 {
            cfg.input_frames = (patches / f - 1) * cfg.tstride + PATCH;
        }
        Ok(cfg)
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Ast<B> {
        let zeros = |n: usize| Param::from_tensor(Tensor::zeros([1, n, self.dim], device));
        let blocks = (0..self.depth)
            .map(|_| Block {
                norm1: LayerNormConfig::new(self.dim).with_epsilon(1e-6).init(device),
                attn: Attention {
                    qkv: LinearConfig::new(self.dim, 3 * self.dim).init(device),
                    proj: LinearConfig::new(self.dim, self.dim).init(device),
                    heads: self.heads,
                },
                norm2: LayerNormConfig::new(self.dim).with_epsilon(1e-6).init(device),
                mlp: Mlp {
                    fc1: LinearConfig::new(self.dim, self.mlp_dim).init(device),
                    fc2: LinearConfig::new(self.mlp_dim, self.dim).init(device),
                },
            })
            .collect();
        Ast {
            init_bn: BatchNormConfig::new(self.n_mels).init(device),
            v: Deit {
                cls_token: zeros(1),
                dist_token: zeros(1),
                // Lazy, as every burn initialiser: loading weights over it draws nothing.
                pos_embed: burn::module::Initializer::Normal { mean: 0.0, std: 0.02 }
                    .init([1, self.positions(), self.dim], device),
                patch_embed: PatchEmbed {
                    proj: Conv2dConfig::new([1, self.dim], [PATCH, PATCH])
                        .with_stride([self.fstride, self.tstride])
                        .init(device),
                },
                blocks,
                norm: LayerNormConfig::new(self.dim).with_epsilon(1e-6).init(device),
            },
            input_frames: self.input_frames,
        }
    }
}

/// The patch projection (`v.patch_embed.proj`): one input channel, 16×16, strides (10, 10).
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    pub proj: Conv2d<B>,
}

/// Multi-head self-attention with one qkv projection (timm's `Attention`).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub qkv: Linear<B>,
    pub proj: Linear<B>,
    heads: usize,
}

impl<B: Backend> Attention<B> {
    /// # Shapes
    /// - x: [batch, tokens, dim] → same
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, d] = x.dims();
        let h = self.heads;
        // [b, n, 3, h, d/h] → [3, b, h, n, d/h]
        let qkv = self.qkv.forward(x).reshape([b, n, 3, h, d / h]).permute([2, 0, 3, 1, 4]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).reshape([b, h, n, d / h]);
        let (q, k, v) = (part(0), part(1), part(2));
        let scale = (d as f64 / h as f64).powf(-0.5);
        let attn = softmax(q.mul_scalar(scale).matmul(k.swap_dims(2, 3)), 3);
        let out = attn.matmul(v).swap_dims(1, 2).reshape([b, n, d]);
        self.proj.forward(out)
    }
}

/// The transformer's MLP: fc1, exact GELU, fc2.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
}

/// A pre-norm transformer block (timm's `Block`).
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub attn: Attention<B>,
    pub norm2: LayerNorm<B>,
    pub mlp: Mlp<B>,
}

impl<B: Backend> Block<B> {
    /// # Shapes
    /// - x: [batch, tokens, dim] → same
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        let h = self.mlp.fc2.forward(gelu(self.mlp.fc1.forward(self.norm2.forward(x.clone()))));
        x + h
    }
}

/// The DeiT (`v` in the checkpoints), without its classification heads.
#[derive(Module, Debug)]
pub struct Deit<B: Backend> {
    pub cls_token: Param<Tensor<B, 3>>,
    pub dist_token: Param<Tensor<B, 3>>,
    pub pos_embed: Param<Tensor<B, 3>>,
    pub patch_embed: PatchEmbed<B>,
    pub blocks: Vec<Block<B>>,
    pub norm: LayerNorm<B>,
}

#[derive(Module, Debug)]
pub struct Ast<B: Backend> {
    pub init_bn: BatchNorm<B>,
    pub v: Deit<B>,
    input_frames: usize,
}

impl<B: Backend> Ast<B> {
    /// Load AST's AudioSet checkpoint (`audioset_10_10_0.4593.pth`: a DataParallel state dict,
    /// `module.v.*` and `module.mlp_head.*`; its classifier heads are skipped). It has no `init_bn`
    /// (AST normalises with dataset statistics instead), so the reference starts that BatchNorm
    /// fresh, as here. The shape is read from the file.
    pub fn load_audioset(path: &Path, device: &B::Device) -> Result<Self> {
        Self::load_audioset_as(path, &AstConfig::from_weights(path, None, "module.")?, device)
    }

    /// [`load_audioset`](Self::load_audioset) with the file's shape already read.
    fn load_audioset_as(path: &Path, cfg: &AstConfig, device: &B::Device) -> Result<Self> {
        let spec = LoadSpec::new().remap(r"^module\.", "").and(Self::load_spec(""));
        let spec = ["init_bn.gamma", "init_bn.beta", "init_bn.running_mean", "init_bn.running_var"]
            .into_iter()
            .fold(spec, LoadSpec::separately);
        weights::load(cfg.init(device), path, Layout::Pytorch, &spec)
    }

    /// The keys of an AST state dict under `prefix` that are not parameters here (the classifier
    /// heads of DeiT and AST, counters).
    pub fn load_spec(prefix: &str) -> LoadSpec {
        let p = regex::escape(prefix);
        [
            format!(r"^{p}v\.head\."),
            format!(r"^{p}v\.head_dist\."),
            format!(r"^{p}v\.pre_logits\."),
            format!(r"^{p}mlp_head\."),
            format!(r"^{p}melspec_extractor\."),
            format!(r"^{p}.*num_batches_tracked$"),
        ]
        .into_iter()
        .fold(LoadSpec::new(), LoadSpec::ignore)
    }

    pub fn embed_dim(&self) -> usize {
        self.v.norm.gamma.dims()[0]
    }

    /// Clip embeddings of a log-mel batch: the mean of the class and distillation tokens.
    ///
    /// # Shapes
    /// - mel: [batch, frames, n_mels], at least [`PATCH`] frames; frames past `input_frames` are cut
    /// - returns: [batch, dim]
    pub fn forward(&self, mel: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, frames, _] = mel.dims();
        assert!(frames >= PATCH, "AST needs at least {PATCH} frames, got {frames}");
        let x = normalise_bins(&self.init_bn, mel); // [batch, 1, frames, n_mels]
        let x = if frames > self.input_frames { x.narrow(2, 0, self.input_frames) } else { x };
        let x = x.swap_dims(2, 3); // [batch, 1, n_mels, frames]: frequency is the image's height
        let x = self.v.patch_embed.proj.forward(x); // [batch, dim, f, t]
        let [_, dim, f, t] = x.dims();
        let patches = x.reshape([batch, dim, f * t]).swap_dims(1, 2); // frequency-major, as flatten(2)
        let cls = self.v.cls_token.val().expand([batch, 1, dim]);
        let dist = self.v.dist_token.val().expand([batch, 1, dim]);
        let x = Tensor::cat(vec![cls, dist, patches], 1);
        let tokens = x.dims()[1];
        let positions = self.v.pos_embed.dims()[1];
        assert!(tokens <= positions, "{tokens} tokens but {positions} positional embeddings");
        let mut x = x + self.v.pos_embed.val().narrow(1, 0, tokens);
        for block in &self.v.blocks {
            x = block.forward(x);
        }
        let x = self.v.norm.forward(x);
        let two = x.narrow(1, 0, 2).mean_dim(1); // [batch, 1, dim]
        two.reshape([batch, dim])
    }
}

impl<B: Backend> super::encoder::AudioEncoder<B> for Ast<B> {
    fn encode(&self, x: super::encoder::AudioTensors<B>, _valid_frames: &[usize]) -> Tensor<B, 2> {
        self.forward(x.mel)
    }
    fn output_dim(&self) -> usize {
        self.embed_dim()
    }
    fn min_frames(&self) -> usize {
        PATCH
    }
}

/// `[model.audio] kind = "ast"` in a training config: the reference's AST, from AST's AudioSet
/// checkpoint or from scratch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AstSettings {
    /// The DeiT's width (default 768); the heads are width / 64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// Transformer blocks (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// Attention heads (default dim / 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads: Option<usize>,
    /// Frames the positional embedding covers; longer inputs are cut (default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_frames: Option<usize>,
    /// AST's AudioSet checkpoint (`audioset_10_10_0.4593.pth`) to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<std::path::PathBuf>,
}

impl AstSettings {
    pub fn config(&self) -> AstConfig {
        let d = AstConfig::default();
        let dim = self.dim.unwrap_or(d.dim);
        AstConfig {
            dim,
            depth: self.depth.unwrap_or(d.depth),
            heads: self.heads.unwrap_or((dim / 64).max(1)),
            mlp_dim: 4 * dim,
            input_frames: self.input_frames.unwrap_or(d.input_frames),
            ..d
        }
    }

    /// Bad values, each with its key under `key`.
    pub fn problems(&self, key: &str, check: &mut dyn FnMut(bool, String, &str)) {
        let c = self.config();
        check((1..=super::encoder::MAX_WIDTH).contains(&c.dim), format!("{key}.dim"), "must be 1 to 16384");
        check((1..=64).contains(&c.depth), format!("{key}.depth"), "must be 1 to 64");
        check(c.heads >= 1 && c.dim.is_multiple_of(c.heads), format!("{key}.heads"), "must divide dim");
        check((PATCH..=100_000).contains(&c.input_frames), format!("{key}.input_frames"), "must be 16 to 100000");
    }

    /// AST's AudioSet checkpoint, if the settings name one; its shape must be `config`'s.
    pub fn load_pretrained<B: Backend>(&self, config: &AstConfig, device: &B::Device) -> Result<Option<Ast<B>>> {
        let Some(p) = &self.pretrained else { return Ok(None) };
        let found = AstConfig::from_weights(p, None, "module.")?;
        if (found.dim, found.depth, found.mlp_dim) != (config.dim, config.depth, config.mlp_dim) {
            return Err(Error::file(
                p,
                format!(
                    "its AST (dim {}, depth {}) differs from model.audio's (dim {}, depth {})",
                    found.dim, found.depth, config.dim, config.depth
                ),
            ));
        }
        Ok(Some(Ast::<B>::load_audioset_as(p, &found, device)?))
    }
}
