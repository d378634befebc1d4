//! Evaluation of retrieval: [`metrics`] scores a text × audio similarity matrix (t2a and a2t R@k, MedR,
//! MeanR, the geometric mean of R1-R5-R10, DCASE mAP@10) with the reference's definitions.

pub mod metrics;

pub use metrics::{evaluate, evaluate_array, evaluate_npy, map_at_k, ranks, render, Metrics, Ranks, RetrievalMetrics};
