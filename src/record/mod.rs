//! The record file: one JSONL file per invocation. Line 1 is a [`Header`]
//! (provenance); each further line is a [`WorkflowRecord`]. Lines carry a `kind`
//! tag. Records hold raw observations only; derived figures are computed on read.

mod io;

pub use io::{
    cut_torn_tail, read_records, RecordFile, RecordReadError, RecordWriteError, RecordWriter,
    TornLine,
};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// The start state is the client's (it prepares it); re-exported here, where the header
// records it, so `crate::record::StartState` keeps working.
pub use crate::client::StartState;
use crate::client::{CallRecord, RequestSettings, ServerInfo};
use crate::ingest::CorpusStats;
use crate::prompt::Analysis;
use crate::provenance::{Harness, Host};

/// Version of the record format; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One line of a record file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Line {
    /// First line: provenance.
    Header(Box<Header>),
    /// One workflow run.
    Workflow(Box<WorkflowRecord>),
}

/// Provenance of every record in the file: who measured what, where, against what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The harness build.
    pub harness: Harness,
    /// When the file was started, ns since the Unix epoch.
    pub created_unix_ns: u64,
    /// The measuring machine.
    pub host: Host,
    /// The server measured.
    pub backend: Backend,
    /// What the server said about itself and the model.
    pub server: ServerInfo,
    /// Model name as requested.
    pub model: String,
    /// Options and keep_alive sent with every call.
    pub settings: RequestSettings,
    /// The corpus ingested, as seen when the file was started.
    pub corpus: CorpusInfo,
    /// SHA-256 of each prompt template's static text.
    pub prompt_templates: BTreeMap<String, String>,
}

impl Header {
    /// A header stamped now, for this harness build on this host, with the current
    /// prompt template hashes; the caller says what is measured.
    pub fn new(
        backend: Backend,
        server: ServerInfo,
        model: &str,
        settings: &RequestSettings,
        corpus: CorpusInfo,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            harness: Harness::current(),
            created_unix_ns: crate::clock::unix_ns_now(),
            host: Host::current(),
            backend,
            server,
            model: model.to_string(),
            settings: settings.clone(),
            corpus,
            prompt_templates: crate::prompt::template_hashes()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }
}

/// The server measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backend {
    /// Base URL.
    pub url: String,
    /// Wire protocol: `ollama` or `openai` ([`crate::client::Protocol::name`]).
    pub protocol: String,
    /// Endpoint used for the calls.
    pub endpoint: crate::client::Endpoint,
    /// The embedded stub's profile when the server is agentbench's own stub.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stub: Option<String>,
}

impl Backend {
    /// The URL path the calls used: the endpoint in the recorded protocol (Ollama's
    /// when the protocol is not one this build knows).
    pub fn path(&self) -> &'static str {
        let protocol = self.protocol.parse().unwrap_or_default();
        self.endpoint.path_for(protocol)
    }
}

/// The corpus root and what ingest found there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusInfo {
    /// Root as given.
    pub root: String,
    /// Counts, bytes and skipped files with reasons.
    pub stats: CorpusStats,
}

/// The workflow's stages that call the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// First call: analyse the data summary.
    Analysis,
    /// Second call: write the report from the parsed analysis.
    Report,
}

impl Stage {
    /// Both stages in workflow order.
    pub const ALL: [Stage; 2] = [Stage::Analysis, Stage::Report];

    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Analysis => "analysis",
            Stage::Report => "report",
        }
    }
}

/// The phases of one workflow run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Walk and parse the corpus, build the data summary.
    Ingest,
    /// Build the analysis prompt.
    AnalysisPrompt,
    /// The analysis call.
    AnalysisCall,
    /// Parse the analysis response.
    Parse,
    /// Build the report prompt.
    ReportPrompt,
    /// The report call.
    ReportCall,
}

/// A phase's span, offsets in ns from the run's start instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseSpan {
    /// Which phase.
    pub phase: Phase,
    /// Start offset.
    pub start_ns: u64,
    /// End offset (≥ start).
    pub end_ns: u64,
}

/// One call of the workflow: its stage, the exact prompt, and the raw record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCall {
    /// Which stage made the call.
    pub stage: Stage,
    /// The prompt sent, byte for byte.
    pub prompt: String,
    /// Raw observations.
    pub call: CallRecord,
}

/// Where a run stopped: ingest (no call made) or a stage's call.
///
/// Serialized as `ingest`, `analysis`, `report`: files written before `ingest`
/// existed (an ingest failure was then recorded as `analysis`) read unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailedStep {
    /// Walking or parsing the corpus failed; no call was made.
    Ingest,
    /// The analysis call failed.
    Analysis,
    /// The report call failed.
    Report,
}

impl FailedStep {
    /// Lowercase name, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            FailedStep::Ingest => "ingest",
            FailedStep::Analysis => "analysis",
            FailedStep::Report => "report",
        }
    }

    /// What failed, for a message: `ingest` or `<stage> call`.
    pub fn what(self) -> &'static str {
        match self {
            FailedStep::Ingest => "ingest",
            FailedStep::Analysis => "analysis call",
            FailedStep::Report => "report call",
        }
    }

    /// The stage whose call failed (`None` for ingest).
    pub fn stage(self) -> Option<Stage> {
        match self {
            FailedStep::Ingest => None,
            FailedStep::Analysis => Some(Stage::Analysis),
            FailedStep::Report => Some(Stage::Report),
        }
    }
}

impl From<Stage> for FailedStep {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::Analysis => FailedStep::Analysis,
            Stage::Report => FailedStep::Report,
        }
    }
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFailure {
    /// What failed: ingest, or the stage whose call failed.
    pub stage: FailedStep,
    /// The error message (a call's kind is in its call record).
    pub message: String,
}

impl std::fmt::Display for RunFailure {
    /// `ingest failed: …` or `analysis call failed: …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.stage.what(), self.message)
    }
}

/// One run of the workflow: ingest → analysis call → parse → report call.
///
/// Invariants: `phases` are in workflow order and do not overlap; `calls` holds
/// one entry per call made (the report call is not made when the analysis failed,
/// and `failure` says so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// 0-based index within the invocation.
    pub run_index: u32,
    /// Wall-clock start, ns since the Unix epoch.
    pub started_unix_ns: u64,
    /// Model state before the run.
    pub start_state: StartState,
    /// Files ingested in this run (it may differ from the header if the corpus
    /// changed mid-invocation).
    pub corpus_files: u64,
    /// Phase spans.
    pub phases: Vec<PhaseSpan>,
    /// The calls made.
    pub calls: Vec<StageCall>,
    /// The parsed analysis, when the analysis call succeeded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub analysis: Option<Analysis>,
    /// Set when a call failed and the run stopped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure: Option<RunFailure>,
    /// The sweep configuration this run measured (sweeps only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub config: Option<String>,
    /// The sweep round (0-based, warm-up rounds first; sweeps only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub round: Option<u32>,
    /// A warm-up run: recorded, kept out of every statistic.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub warmup: bool,
    /// The harness expected the run's first call to reload the model because its
    /// `num_ctx` / `num_gpu` differ from the previous call's (or the previous state is
    /// unknown). Independent of the server's `load_duration`.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub expected_reload: bool,
}

impl WorkflowRecord {
    /// An empty run (no phases, no calls, as-is start state, no sweep tags), to be
    /// filled in with struct-update syntax.
    pub fn new(run_index: u32, started_unix_ns: u64) -> Self {
        Self {
            run_index,
            started_unix_ns,
            start_state: StartState::AsIs,
            corpus_files: 0,
            phases: Vec::new(),
            calls: Vec::new(),
            analysis: None,
            failure: None,
            config: None,
            round: None,
            warmup: false,
            expected_reload: false,
        }
    }

    /// The call made by `stage`, if any.
    pub fn call(&self, stage: Stage) -> Option<&StageCall> {
        self.calls.iter().find(|c| c.stage == stage)
    }

    /// The span of `phase`, if the run reached it.
    pub fn phase(&self, phase: Phase) -> Option<&PhaseSpan> {
        self.phases.iter().find(|p| p.phase == phase)
    }
}
