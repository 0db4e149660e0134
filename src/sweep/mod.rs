//! Options sweeps done right: a baseline plus the cartesian product of options,
//! N runs per configuration in an **interleaved** order (every round visits every
//! configuration in a freshly shuffled, seeded order), warm-up rounds recorded but
//! kept out of the statistics, cold/warm start states prepared and verified, the
//! reloads Ollama makes when num_ctx/num_gpu change labelled cold, comparability
//! flags (truncation, length limits), one resumable JSONL record file, and the
//! study computed from it ([`study`]).

pub mod matrix;
pub mod order;
pub mod runner;
pub mod study;

pub use matrix::{matrix, matrix_from_file, Axes, SweepConfig, BASELINE};
pub use order::{interleaved, Slot};
pub use runner::{run_sweep, PlanFile, SweepOutcome, SweepPaths, SweepSpec};
pub use study::{analyze, AnalysisOpts, SweepAnalysis, Warmth};
