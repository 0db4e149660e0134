//! Derived figures: pure functions of raw records, with exactly the definitions of
//! `docs/metrics.md` (vLLM / AIPerf conventions). Nothing here is stored as truth.

pub mod call;
pub mod catalog;
pub mod hdr;
pub mod stats;
pub mod summary;

pub use call::CallMetrics;
pub use summary::{NegativeOverhead, Quantiles, RunSummary, StageSummary};
