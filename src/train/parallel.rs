//! Data parallel training in one process: every device takes a contiguous part of the batch through
//! its own copy of the model; the embeddings of all parts are gathered on the first device, so the
//! InfoNCE loss contrasts the whole batch (as the reference gathers across its DDP ranks before the
//! loss); one backward pass carries the gradients back to each device, and they are summed on the
//! first device, where the optimizer steps the one model.
//!
//! The copies are made afresh from the model at every step (their parameters keep the model's ids),
//! so they never drift. BatchNorm uses each part's own statistics, as under DDP without SyncBatchNorm;
//! the model's running statistics follow the first device's part, as DDP's rank 0 saves them.
//!
//! Several nodes would follow the same shape: gather the embeddings across nodes (all-gather) before
//! the loss and all-reduce the summed gradients (burn-collective), see the notes of [`step`].

use std::ops::Range;

use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use clap_tools_backends::burn;

use super::data::TrainBatch;
use crate::model::clap::{info_nce, Clap};

/// Rows of each device's part: contiguous, sizes differing by at most one, earlier parts larger.
pub fn shard_ranges(batch: usize, devices: usize) -> Vec<Range<usize>> {
    let devices = devices.clamp(1, batch.max(1));
    let (base, extra) = (batch / devices, batch % devices);
    let mut start = 0;
    (0..devices)
        .map(|d| {
            let len = base + usize::from(d < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .collect()
}

/// One training step's forward and backward over `devices` (the first holds `model`): returns the
/// loss of the whole batch and the gradients of the model's parameters, summed over the devices and
/// held on the first.
///
/// Across nodes, the gather of `audio`/`text` would become an all-gather (each node keeping the
/// gradient path of its own rows) and the summed gradients would be all-reduced before the step.
pub fn step<B: AutodiffBackend>(
    model: &Clap<B>,
    devices: &[B::Device],
    batch: &TrainBatch,
    frozen: Frozen,
) -> (Tensor<B, 1>, GradientsParams) {
    let main = &devices[0];
    let ranges = shard_ranges(batch.mel.batch, devices.len());
    // Fresh copies for the other devices: new autodiff leaves with the model's parameter ids.
    // `valid()` per copy: cloning an inner module would drop the parameters' require-grad flag.
    let copies: Vec<Clap<B>> =
        devices[1..ranges.len()].iter().map(|d| Clap::<B>::from_inner(model.valid()).fork(d)).collect();
    let mut audio = Vec::with_capacity(ranges.len());
    let mut text = Vec::with_capacity(ranges.len());
    for (k, rows) in ranges.iter().enumerate() {
        let (replica, device) = if k == 0 { (model, main) } else { (&copies[k - 1], &devices[k]) };
        let (a, t) = forward_part(replica, batch, rows.clone(), device, frozen);
        audio.push(a.to_device(main));
        text.push(t.to_device(main));
    }
    let loss = info_nce(Tensor::cat(audio, 0), Tensor::cat(text, 0), model.logit_scale.val());
    let mut grads = loss.backward();
    let own = GradientsParams::from_module(&mut grads, model);
    if copies.is_empty() {
        return (loss, own);
    }
    let mut sum = GradientsAccumulator::<Clap<B>>::new();
    sum.accumulate(model, own);
    for copy in &copies {
        let part = GradientsParams::from_module(&mut grads, copy).to_device(main, model);
        sum.accumulate(model, part);
    }
    (loss, sum.grads())
}

/// Encoders that do not train: they run on the inner (non-autodiff) backend, in inference mode, and
/// their outputs enter the graph as constants, so no gradient reaches them and their BatchNorm
/// statistics stay as loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Frozen {
    pub audio: bool,
    pub text: bool,
}

/// Normalised audio and text embeddings of the batch rows `rows`, on `device`.
///
/// # Shapes
/// - returns: ([rows, shared_dim], [rows, shared_dim])
fn forward_part<B: AutodiffBackend>(
    model: &Clap<B>,
    batch: &TrainBatch,
    rows: Range<usize>,
    device: &B::Device,
    frozen: Frozen,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    use crate::model::encoder::{AudioEncoder, TextEncoder};
    let valid = &batch.valid_frames[rows.clone()];
    let audio = if frozen.audio {
        let x = batch.mel.tensors::<B::InnerBackend>(rows.clone(), device);
        model.project_audio(Tensor::from_inner(model.audio_encoder.valid().encode(x, valid)))
    } else {
        model.encode_audio(batch.mel.tensors::<B>(rows.clone(), device), valid)
    };
    let text = if frozen.text {
        let (ids, mask, types) = batch.tokens.rows(rows).to_tensors::<B::InnerBackend>(device);
        model.project_text(Tensor::from_inner(model.text_encoder.valid().encode(ids, mask, types)))
    } else {
        let (ids, mask, types) = batch.tokens.rows(rows).to_tensors::<B>(device);
        model.encode_text(ids, mask, types)
    };
    (audio, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_batch_in_order() {
        assert_eq!(shard_ranges(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(shard_ranges(8, 2), vec![0..4, 4..8]);
        assert_eq!(shard_ranges(5, 1), vec![0..5]);
        // More devices than rows: the extra devices sit the step out.
        assert_eq!(shard_ranges(2, 4), vec![0..1, 1..2]);
    }
}
