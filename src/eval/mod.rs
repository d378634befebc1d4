//! Evaluation of retrieval: [`metrics`] scores a text × audio similarity matrix (t2a and a2t R@k, MedR,
//! MeanR, the geometric mean of R1-R5-R10, DCASE mAP@10) with the reference's definitions; [`set`]
//! joins caption tables with packed waveforms into an evaluation set; [`evaluate`] embeds a set with
//! a model and scores it (`eval`, the trainer's validation and the demo all go through it).

pub mod evaluate;
pub mod metrics;
pub mod set;

pub use evaluate::{
    evaluate_checkpoint, evaluate_loaded, evaluate_model, similarity, CheckpointEvaluation, EvalOptions, Evaluation,
};
pub use set::{join, EvalSet, Joined};

pub use metrics::{evaluate, evaluate_array, evaluate_npy, map_at_k, ranks, render, Metrics, Ranks, RetrievalMetrics};
