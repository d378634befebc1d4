//! Evaluation of retrieval: [`metrics`] scores a text × audio similarity matrix (t2a and a2t R@k, MedR,
//! MeanR, the geometric mean of R1-R5-R10, DCASE mAP@10) with the reference's definitions; [`set`]
//! joins caption tables with packed waveforms into an evaluation set; [`evaluate`] embeds a set with
//! a model and scores it (`eval`, the trainer's validation and the demo all go through it);
//! [`retrieval`] scores text queries against every packed clip by relevance judgements (DCASE 2025).

pub mod evaluate;
pub mod metrics;
pub mod pairs;
pub mod retrieval;
pub mod set;
pub mod submission;

pub use evaluate::load_with_tokenizer;
pub use evaluate::{
    evaluate_checkpoint, evaluate_loaded, evaluate_model, similarities, similarity, Batches, CheckpointEvaluation,
    ClipSource, Clips, EvalOptions, Evaluation,
};
pub use retrieval::{
    evaluate_retrieval, evaluate_retrieval_checkpoint, read_queries, score_queries, Candidates, RetrievalEvaluation,
    RetrievalOptions, Scored,
};
pub use set::{join, EvalSet, Joined};

pub use metrics::{
    average_precision_at_k, evaluate, evaluate_array, evaluate_grouped, evaluate_npy, map_at_k, ranks, ranks_grouped,
    relevance, render, render_relevance, Metrics, QueryResult, Ranks, RelevanceMetrics, RetrievalMetrics,
};
