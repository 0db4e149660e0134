//! `agentbench peers`: several agent implementations, each a separate process,
//! benchmarked side by side against the same backend and measured from outside.
//!
//! # The external-agent protocol
//!
//! Any program can be benchmarked when it
//!
//! 1. accepts `--base-url URL --runs N --out FILE` (appended to its command line by
//!    the harness; URL is `http://127.0.0.1:PORT` with no trailing slash),
//! 2. runs the workflow N times against the Ollama API at URL (ingest the corpus,
//!    analysis call, parse, report call, with the prompts of [`crate::prompt`]:
//!    byte-identical prompts are verified), and
//! 3. appends to FILE one JSON line per run, `{"kind":"workflow", …}`, matching the
//!    committed JSON Schema `schema/workflow-record.schema.json`
//!    ([`schema::WORKFLOW_SCHEMA`]) — the same lines `agentbench run` writes in
//!    records.jsonl (other lines, e.g. a header, are ignored),
//! 4. and exits 0 (non-zero is reported with its log; the runs it wrote are kept).
//!
//! Its stdout and stderr go to a log file beside FILE. `rust=builtin` names this
//! binary's own agent (`agentbench agent`, hidden), which follows the same contract
//! and is measured the same way.
//!
//! # What is measured
//!
//! From outside, per process ([`ProcessRecord`]): wall time, user and system CPU
//! time and peak RSS (`wait4`), and — against an embedded stub — the time from the
//! spawn instant to the first request the stub saw. From the records, per call:
//! client overhead, TTFT, E2E and the server's decode tok/s
//! ([`crate::metrics::CallMetrics`]). Rounds interleave the agents in a seeded
//! shuffled order ([`crate::sweep::interleaved`]), so drift spreads over all of
//! them. Every call's prompt is verified ([`prompts::verify_prompts`]).

pub mod figures;
pub mod process;
pub mod prompts;
mod report;
mod runner;
pub mod schema;
pub mod spec;

use std::path::PathBuf;

use serde::Serialize;

pub use figures::{AgentFigures, MetricStats, PeerMetric, Ratio, TARGETS};
pub use process::ExitInfo;
pub use prompts::{verify_prompts, PromptCheck, PromptIssue};
pub use report::PeersReportPaths;
pub use runner::{run_peers, PeersConfig, PeersOutcome};
pub use schema::{Schema, WORKFLOW_SCHEMA};
pub use spec::{AgentCommand, AgentSpec, PeerBackend};

/// Errors at the peers module's boundary.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    /// A `--agent` value that is not `NAME=CMD`.
    #[error("--agent {given:?}: {reason}; expected NAME=CMD, e.g. rust=builtin or python='python3 peers/python/agent.py'")]
    BadAgent {
        /// The value as given.
        given: String,
        /// What is wrong.
        reason: String,
    },
    /// Two agents with the same name.
    #[error("--agent: the name {0:?} is given twice; each agent needs its own NAME")]
    DuplicateAgent(String),
    /// No agent given.
    #[error("no --agent given; expected at least one --agent NAME=CMD")]
    NoAgents,
    /// A `--backend` that is neither a stub nor a URL.
    #[error("--backend {0:?}: expected instant, paced or an http:// URL")]
    BadBackend(String),
    /// `--runs` or `--rounds` of 0.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The output folder already holds a peers result.
    #[error("{0} already exists; choose another --out so that earlier results are kept")]
    OutExists(PathBuf),
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An agent could not be started at all.
    #[error("cannot start agent {agent:?} ({program}): {source}")]
    Spawn {
        /// Agent name.
        agent: String,
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The embedded stub could not start.
    #[error(transparent)]
    Stub(#[from] crate::stub::StubError),
    /// The schema could not be loaded.
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    /// The report could not be rendered.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// A record file could not be written.
    #[error(transparent)]
    Records(#[from] crate::record::RecordWriteError),
    /// Anything else while setting up (runtime, client).
    #[error("{0}")]
    Setup(String),
}

/// One agent process as measured from outside (a row of peers.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessRecord {
    /// Agent name.
    pub agent: String,
    /// 0-based round.
    pub round: u32,
    /// 0-based position of the agent within its round.
    pub position: u32,
    /// The full command line run.
    pub command: Vec<String>,
    /// How it ended.
    pub exit: ExitInfo,
    /// Killed by the harness at `--agent-timeout`.
    pub timed_out: bool,
    /// Spawn → exit, ns.
    pub wall_ns: u64,
    /// User CPU time, ns (wait4).
    pub user_ns: u64,
    /// System CPU time, ns (wait4).
    pub sys_ns: u64,
    /// Peak RSS, bytes (wait4 `ru_maxrss` × 1024).
    pub peak_rss_bytes: u64,
    /// Spawn → the first request the embedded stub saw from it, ns; absent against a
    /// URL backend (not observable) or when it sent no request.
    pub start_to_first_request_ns: Option<u64>,
    /// That first request, `METHOD /path`.
    pub first_request: Option<String>,
    /// Requests the stub saw while the process ran.
    pub requests: Option<usize>,
    /// The agent's `--out FILE`.
    pub records_file: PathBuf,
    /// Its stdout + stderr.
    pub log_file: PathBuf,
    /// Workflow lines accepted from FILE.
    pub runs_recorded: usize,
    /// Lines of FILE rejected (schema violations or undecodable), with the reason.
    pub rejected_lines: Vec<String>,
}
