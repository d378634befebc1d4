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
//! Several processes (nodes, or one process per GPU) follow the same shape: the embeddings are
//! gathered across processes before the loss and the summed gradients summed again across them
//! ([`super::collective`]).

use std::ops::Range;

use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use clap_tools_backends::burn;

use super::collective::ProcessGroup;
use super::data::TrainBatch;
use crate::error::Result;
use crate::model::clap::{info_nce, Clap};
use crate::split::SplitMix64;

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
/// `seed` is the iteration's: each part's random draws (dropout) are seeded from it and the part's
/// index in the whole job, so they do not depend on how parts are spread over devices and processes.
///
/// In a job of several processes (`group`), `batch` holds this process's rows: the embeddings of
/// every process's rows are gathered before the loss (this process's keep their gradient path), so
/// the loss is the global batch's in every process, and the logit scale's gradient is taken in rank
/// 0 alone (zero elsewhere), so the sum of the processes' gradients is one process's gradient of
/// that loss.
pub fn step<B: AutodiffBackend>(
    model: &Clap<B>,
    devices: &[B::Device],
    batch: &TrainBatch,
    frozen: Frozen,
    seed: u64,
    group: Option<&ProcessGroup<B::InnerBackend>>,
) -> Result<(Tensor<B, 1>, GradientsParams)> {
    let main = &devices[0];
    let ranges = shard_ranges(batch.mel.batch, devices.len());
    // Fresh copies for the other devices: new autodiff leaves with the model's parameter ids.
    // `valid()` per copy: cloning an inner module would drop the parameters' require-grad flag.
    let copies: Vec<Clap<B>> =
        devices[1..ranges.len()].iter().map(|d| Clap::<B>::from_inner(model.valid()).fork(d)).collect();
    let mut audio = Vec::with_capacity(ranges.len());
    let mut text = Vec::with_capacity(ranges.len());
    let first_part = group.map_or(0, |g| g.rank() * devices.len());
    for (k, rows) in ranges.iter().enumerate() {
        let (replica, device) = if k == 0 { (model, main) } else { (&copies[k - 1], &devices[k]) };
        // burn's backends keep one random stream (the device argument is not used).
        B::seed(device, part_seed(seed, first_part + k));
        let (a, t) = forward_part(replica, batch, rows.clone(), device, frozen);
        audio.push(a.to_device(main));
        text.push(t.to_device(main));
    }
    let (audio, text) = (Tensor::cat(audio, 0), Tensor::cat(text, 0));
    let loss = match group {
        None => info_nce(audio, text, model.logit_scale.val()),
        Some(g) => {
            let (audio, text) = g.gather_rows(audio, text, batch.global_batch)?;
            let scale = model.logit_scale.val();
            // The scale's gradient is taken once, in rank 0; the others give it a zero gradient (not
            // none: every process sends the gradients of the same parameters).
            let scale = if g.rank() == 0 { scale } else { scale.clone().mul_scalar(0.0) + scale.detach() };
            info_nce(audio, text, scale)
        }
    };
    let mut grads = loss.backward();
    let own = GradientsParams::from_module(&mut grads, model);
    if copies.is_empty() {
        return Ok((loss, own));
    }
    let mut sum = GradientsAccumulator::<Clap<B>>::new();
    sum.accumulate(model, own);
    for copy in &copies {
        let part = GradientsParams::from_module(&mut grads, copy).to_device(main, model);
        sum.accumulate(model, part);
    }
    Ok((loss, sum.grads()))
}

/// The seed of part `part` of an iteration seeded `seed` (part 0 keeps the iteration's own, so one
/// device draws as it always did).
pub fn part_seed(seed: u64, part: usize) -> u64 {
    if part == 0 {
        seed
    } else {
        SplitMix64::new(seed ^ (part as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
    }
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
