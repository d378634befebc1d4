//! Progress of long work, reported to whoever drives it. The library counts; the command line draws
//! (a bar on a terminal, plain lines in a log), so no terminal type appears in library signatures.

/// Receives the size of a job and its advances; shared by worker threads, so `Sync`.
pub trait Progress: Sync {
    /// The job has `total` items (called again when the total becomes known or changes).
    fn start(&self, _total: u64) {}
    /// `n` more items are done (successfully or not).
    fn advance(&self, _n: u64) {}
}

/// No progress reporting.
pub struct Silent;

impl Progress for Silent {}

/// How a batch job over many items ended: every item done, some, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    Partial,
    Failed,
}

impl Outcome {
    /// The outcome of a job with `done` items done and `failed` items failed.
    pub fn of(done: usize, failed: usize) -> Self {
        match (done, failed) {
            (_, 0) => Outcome::Complete,
            (0, _) => Outcome::Failed,
            _ => Outcome::Partial,
        }
    }
}
