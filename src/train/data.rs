//! Training and validation data from packed shards and caption tables.
//!
//! Training batches are a pure function of (seed, iteration): the clips of an epoch are a seeded
//! permutation, and each batch's crops, captions and SpecAugment masks come from a generator seeded
//! with the iteration. So a resumed run sees exactly the batches the uninterrupted run would have.
//! Background workers prepare batches (read crops, log-mel, SpecAugment, tokenise) ahead of the
//! model, and the loader hands them out in order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::{Error, Result};
pub use crate::eval::set::{join, ClipCaptions, Joined};
use crate::model::logmel::{LogMel, LogMelBatch, SpecAugment};
use crate::model::tokenizer::{CaptionTokenizer, Tokens};
use crate::shards::WaveformReader;
use crate::split::{shuffle, SplitMix64};

/// A prepared training batch (in a job of several processes, this process's rows of it).
pub struct TrainBatch {
    pub iteration: u64,
    /// The rows of the whole batch (of every process).
    pub global_batch: usize,
    pub mel: LogMelBatch,
    /// Valid log-mel frames of each clip (its crop's samples / hop + 1).
    pub valid_frames: Vec<usize>,
    pub tokens: Tokens,
    pub audio_ids: Vec<String>,
}

/// What a training batch is made of: the same for the same (seed, iteration).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// (clip index, crop start in samples, caption index)
    pub items: Vec<(usize, usize, usize)>,
    pub specaug_seed: u64,
}

fn mix(a: u64, b: u64) -> u64 {
    let mut r = SplitMix64::new(a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    r.next_u64()
}

/// The shared, read-only state the workers prepare batches from.
pub struct TrainSource {
    pub clips: Vec<ClipCaptions>,
    lengths: Vec<usize>,
    reader: WaveformReader,
    logmel: LogMel,
    tokenizer: CaptionTokenizer,
    batch_size: usize,
    crop: usize,
    seed: u64,
    specaugment: bool,
    /// Batches are zero-padded to at least this many samples (the audio encoder's fewest frames).
    min_samples: usize,
    /// This process's place among the processes of a job, (rank, world size): it prepares its rows.
    part: (usize, usize),
}

impl TrainSource {
    #[allow(clippy::too_many_arguments)] // each is a separate setting of the batches; a struct would only rename them
    pub fn new(
        joined: Joined,
        logmel: LogMel,
        tokenizer: CaptionTokenizer,
        batch_size: usize,
        crop_seconds: f64,
        seed: u64,
        specaugment: bool,
        min_samples: usize,
    ) -> Result<Self> {
        if joined.clips.len() < batch_size {
            return Err(Error::file(
                &joined.index,
                format!(
                    "{} training clips with captions and waveforms, fewer than one batch of {batch_size}",
                    joined.clips.len()
                ),
            ));
        }
        let reader = WaveformReader::from_pairs(joined.pairs);
        let lengths = joined.clips.iter().map(|c| reader.len(&c.audio_id)).collect::<Result<Vec<_>>>()?;
        let crop = (crop_seconds * logmel.config().sample_rate as f64).round() as usize;
        Ok(Self {
            clips: joined.clips,
            lengths,
            reader,
            logmel,
            tokenizer,
            batch_size,
            crop,
            seed,
            specaugment,
            min_samples,
            part: (0, 1),
        })
    }

    /// Prepare only the rows of process `rank` of `world` (contiguous, as
    /// [`super::parallel::shard_ranges`] splits a batch): each row as the whole batch would have it
    /// (its crop, caption, SpecAugment mask and the padding to the batch's longest crop).
    pub fn for_process(mut self, rank: usize, world: usize) -> Self {
        self.part = (rank, world.max(1));
        self
    }

    pub fn batches_per_epoch(&self) -> u64 {
        (self.clips.len() / self.batch_size) as u64
    }

    /// The clips, crops and captions of batch `iteration` (0-based).
    pub fn plan(&self, iteration: u64) -> Plan {
        let per_epoch = self.batches_per_epoch();
        let (epoch, slot) = (iteration / per_epoch, (iteration % per_epoch) as usize);
        let mut order: Vec<usize> = (0..self.clips.len()).collect();
        shuffle(&mut order, &mut SplitMix64::new(mix(self.seed, epoch)));
        let mut rng = SplitMix64::new(mix(self.seed ^ 0x5EED, iteration));
        let items = order[slot * self.batch_size..(slot + 1) * self.batch_size]
            .iter()
            .map(|&c| {
                let len = self.lengths[c];
                let start = if len > self.crop { rng.below((len - self.crop + 1) as u64) as usize } else { 0 };
                let caption = rng.below(self.clips[c].captions.len() as u64) as usize;
                (c, start, caption)
            })
            .collect();
        Plan { items, specaug_seed: rng.next_u64() }
    }

    /// Read, transform and tokenise batch `iteration` (this process's rows of it).
    pub fn prepare(&self, iteration: u64) -> Result<TrainBatch> {
        let plan = self.plan(iteration);
        let global_batch = plan.items.len();
        let (rank, world) = self.part;
        let rows = super::parallel::shard_ranges(global_batch, world).get(rank).cloned().unwrap_or(0..0);
        // The whole batch is padded to its longest crop: so is every process's part of it.
        let longest =
            plan.items.iter().map(|&(c, start, _)| self.lengths[c].saturating_sub(start).min(self.crop)).max();
        let pad_to = longest.unwrap_or(0).max(self.min_samples);
        let mut waves = Vec::with_capacity(rows.len());
        let mut captions = Vec::with_capacity(rows.len());
        let mut audio_ids = Vec::with_capacity(rows.len());
        for &(c, start, cap) in &plan.items[rows.clone()] {
            let clip = &self.clips[c];
            waves.push(self.reader.read_crop(&clip.audio_id, start, self.crop)?);
            captions.push(clip.captions[cap].as_str());
            audio_ids.push(clip.audio_id.clone());
        }
        let refs: Vec<&[f32]> = waves.iter().map(|w| w.as_slice()).collect();
        // The audio encoder needs a few frames (CNN14: 32): a batch of very short clips is
        // zero-padded to that.
        let mut mel = self.logmel.batch_padded(&refs, pad_to);
        if self.specaugment {
            SpecAugment::default().apply_from(&mut mel, &mut SplitMix64::new(plan.specaug_seed), rows.start);
        }
        let valid_frames = mel.wave_lengths.iter().map(|&n| self.logmel.frames(n)).collect();
        let tokens = self.tokenizer.encode_batch(&captions)?;
        Ok(TrainBatch { iteration, global_batch, mel, valid_frames, tokens, audio_ids })
    }
}

/// Batches `start..end` prepared by background threads and handed out in order.
pub type Loader = Prefetch<TrainBatch>;

impl Prefetch<TrainBatch> {
    pub fn new(source: Arc<TrainSource>, start: u64, end: u64, workers: usize) -> Self {
        let names = source.clone();
        Prefetch::start(
            move |i| source.prepare(i),
            move |i| {
                let ids: Vec<&str> =
                    names.plan(i).items.iter().map(|&(c, _, _)| names.clips[c].audio_id.as_str()).collect();
                ids.join(", ")
            },
            start,
            end,
            workers,
        )
    }
}

/// Items `start..end` made by `workers` background threads and handed out in order. At most
/// `2 × workers` items wait beyond the next one to hand out, however slow the consumer or however
/// far one item lags; a panic while making an item is that item's error, naming it.
pub struct Prefetch<T> {
    rx: Option<Receiver<(u64, Result<T>)>>,
    pending: BTreeMap<u64, Result<T>>,
    next: u64,
    /// The next item to hand out, as the workers see it (they take no item past its window).
    handed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> Prefetch<T> {
    /// `make(i)` makes item `i`; `name(i)` says what it holds, for the error when `make` panics.
    pub fn start(
        make: impl Fn(u64) -> Result<T> + Send + Sync + 'static,
        name: impl Fn(u64) -> String + Send + Sync + 'static,
        start: u64,
        end: u64,
        workers: usize,
    ) -> Self {
        let workers = workers.max(1);
        let window = 2 * workers as u64;
        let (tx, rx) = sync_channel(window as usize);
        let counter = Arc::new(AtomicU64::new(start));
        let handed = Arc::new(AtomicU64::new(start));
        let stop = Arc::new(AtomicBool::new(false));
        let (make, name) = (Arc::new(make), Arc::new(name));
        let threads = (0..workers)
            .map(|_| {
                let (tx, counter, handed, stop) = (tx.clone(), counter.clone(), handed.clone(), stop.clone());
                let (make, name) = (make.clone(), name.clone());
                std::thread::spawn(move || loop {
                    let i = counter.fetch_add(1, Ordering::SeqCst);
                    if i >= end {
                        break;
                    }
                    // Wait for the consumer to come within the window: the items held (in the
                    // channel and the reorder map) stay bounded.
                    while i >= handed.load(Ordering::SeqCst) + window {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let item = crate::isolate::isolate("preparing a batch", "it", || make(i)).unwrap_or_else(|panic| {
                        Err(Error::Training {
                            iteration: i + 1,
                            msg: format!(
                                "a data worker failed ({}) on batch {} (clips: {})",
                                panic,
                                i + 1,
                                crate::isolate::isolate("naming the clips", "it", || name(i))
                                    .unwrap_or_else(|_| "unknown".into())
                            ),
                        })
                    });
                    if tx.send((i, item)).is_err() {
                        break;
                    }
                })
            })
            .collect();
        Self { rx: Some(rx), pending: BTreeMap::new(), next: start, handed, stop, threads }
    }

    /// The next item in order (None when the range is done).
    pub fn next_batch(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(b) = self.pending.remove(&self.next) {
                self.next += 1;
                self.handed.store(self.next, Ordering::SeqCst);
                return Some(b);
            }
            match self.rx.as_ref()?.recv() {
                Ok((i, b)) => {
                    self.pending.insert(i, b);
                }
                Err(_) => return None,
            }
        }
    }

    /// Items made and not yet handed out (in the reorder map).
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Workers blocked on a full channel get an error once the receiver is gone, and stop.
        drop(self.rx.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_worker_is_an_error_naming_the_batch_and_its_clips() {
        let mut p = Prefetch::start(
            |i| if i == 3 { panic!("corrupt shard") } else { Ok(i) },
            |i| format!("clip-{i}a.wav, clip-{i}b.wav"),
            0,
            6,
            2,
        );
        for want in 0..3 {
            assert_eq!(p.next_batch().unwrap().unwrap(), want);
        }
        let err = p.next_batch().unwrap().unwrap_err().to_string();
        assert!(
            err.contains("iteration 4") && err.contains("corrupt shard") && err.contains("clip-3a.wav, clip-3b.wav"),
            "{err}"
        );
    }

    #[test]
    fn items_waiting_stay_within_the_window_when_one_lags() {
        // Item 0 is slow: the others may not pile up behind it.
        let made = Arc::new(AtomicU64::new(0));
        let counted = made.clone();
        let mut p = Prefetch::start(
            move |i| {
                if i == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                }
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            },
            |i| i.to_string(),
            0,
            1000,
            3,
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        // Item 0 is still being made; at most the window (2 × 3) beyond it were started.
        assert!(made.load(Ordering::SeqCst) <= 6, "{} items made ahead", made.load(Ordering::SeqCst));
        for want in 0..1000 {
            assert_eq!(p.next_batch().unwrap().unwrap(), want);
            assert!(p.waiting() <= 6, "{} items waiting", p.waiting());
        }
        assert!(p.next_batch().is_none());
    }
}
