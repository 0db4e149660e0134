//! The load run's record file: `records.jsonl`, line 1 a [`LoadHeader`], then one
//! [`RequestRecord`] per request in completion order, and a [`RunEnd`] when the run
//! finished (absent after a crash: every complete line before it still counts).
//!
//! Every time is an offset in nanoseconds from the run's one monotonic origin
//! ([`LoadHeader::origin_unix_ns`] is the same instant on the wall clock, for humans
//! and for aligning hosts). A request's [`CallRecord`] keeps its own offsets from
//! its t0, which is [`RequestRecord::sent_ns`] on the run's clock.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::{CallRecord, RequestSettings, ServerInfo};
use crate::provenance::{Harness, Host};
use crate::record::Backend;

/// Version of the load record format; bumped on an incompatible change.
pub const LOAD_SCHEMA_VERSION: u32 = 1;

/// One line of a load record file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadLine {
    /// First line: provenance and the plan.
    LoadHeader(Box<LoadHeader>),
    /// One request.
    Request(Box<RequestRecord>),
    /// Written once the last request completed: the client's own accounts.
    LoadEnd(Box<RunEnd>),
}

/// Provenance and the plan of a load run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadHeader {
    /// [`LOAD_SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The harness build.
    pub harness: Harness,
    /// The measuring machine.
    pub host: Host,
    /// The server measured.
    pub backend: Backend,
    /// What the server said about itself and the model.
    pub server: ServerInfo,
    /// Model name as requested.
    pub model: String,
    /// Options sent with every request.
    pub settings: RequestSettings,
    /// How load was offered.
    pub plan: LoadPlanInfo,
    /// The prompts sent, by index ([`RequestRecord::prompt`]).
    pub prompts: Vec<PromptInfo>,
    /// Wall-clock time of the run's monotonic origin, ns since the Unix epoch.
    pub origin_unix_ns: u64,
}

/// The plan as recorded: enough to regenerate the schedule and to judge the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPlanInfo {
    /// `closed` or `open`.
    pub mode: String,
    /// Closed loop: workers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub concurrency: Option<u32>,
    /// Closed loop: think time between a worker's requests, ns.
    #[serde(default)]
    pub think_ns: u64,
    /// Open loop: target arrivals per second.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate: Option<f64>,
    /// Open loop: `constant`, `poisson` or `gamma:CV`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arrival: Option<String>,
    /// Open loop: the ceiling on requests in flight.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_concurrency: Option<u32>,
    /// Seed of the schedule.
    pub seed: u64,
    /// Requests to send, when bounded by count.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests: Option<u64>,
    /// Length of the run, ns, when bounded by time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ns: Option<u64>,
    /// Requests intended before this offset are warm-up: recorded, excluded from
    /// statistics.
    pub warmup_ns: u64,
    /// The first this many requests (request seq below it) or, for agent
    /// sessions, sessions (session id below it) are warm-up too: a closed loop's
    /// warm-up, whose intended times are not known before the run.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub warmup_first: u64,
    /// Open loop: number of intended sends and the SHA-256 of their offsets.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub schedule: Option<ScheduleInfo>,
    /// The SLO of goodput, as given (`ttft=500ms,…`), when any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub slo: Option<String>,
    /// p99 scheduler lag above which the run is client-limited, ns.
    pub max_lag_ns: u64,
    /// A shard of a sharded run (`--shard I/N --start-at …`): which share of the
    /// global schedule this run offered, and when it started.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<ShardInfo>,
    /// A merged run (`agentbench merge-runs`): one row per shard, in shard order,
    /// with each shard's own figures.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub shards: Vec<ShardRow>,
    /// Agent workloads (`load --workload agent`): the sessions' plan. Absent for
    /// the requests workload (and in files written before sessions existed).
    /// With it, `mode` says how sessions (not requests) were offered, and
    /// `concurrency`, `rate`, `requests` and `think_ns` are unset (see
    /// [`AgentPlanInfo`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub agent: Option<AgentPlanInfo>,
}

impl LoadPlanInfo {
    /// The plan's warm-up rule.
    pub fn warmup(&self) -> Warmup {
        Warmup {
            before_ns: self.warmup_ns,
            first: self.warmup_first,
        }
    }
}

/// Which requests (or sessions) are warm-up: recorded, excluded from statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Warmup {
    /// Those intended before this offset, ns.
    pub before_ns: u64,
    /// Those numbered below this (request seq; for sessions, session id).
    pub first: u64,
}

impl Warmup {
    /// Whether the request (session) numbered `index`, intended at `intended_ns`,
    /// is warm-up.
    pub fn excludes(&self, intended_ns: u64, index: u64) -> bool {
        intended_ns < self.before_ns || index < self.first
    }
}

/// The plan of an agent workload, as recorded: how sessions were made and offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentPlanInfo {
    /// `agent`.
    pub workload: String,
    /// `chat` or `workflow`.
    pub session: String,
    /// Turns each session plans.
    pub turns: u32,
    /// The tool time between turns, canonical form (`200ms`, `exp:200ms`,
    /// `uniform:100ms..300ms`; see [`super::think::Think`]).
    pub think: String,
    /// Closed loop: session slots (each runs sessions back to back and holds its
    /// slot through tool time).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sessions: Option<u32>,
    /// Open loop: target session arrivals per second.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_rate: Option<f64>,
    /// Sessions to start in all, when bounded by count.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jobs: Option<u64>,
    /// How a chat session's follow-up user message is made from the previous
    /// answer, in words.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub follow_up: Option<String>,
    /// Trace replay (`--trace`): the trace replayed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace: Option<TraceInfo>,
}

/// The trace an agent run replayed (`load --workload agent --trace FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceInfo {
    /// The file as given.
    pub path: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// `mooncake` or `agentic`.
    pub format: String,
    /// Prompt tokens per `hash_ids` block.
    pub block_tokens: u32,
    /// The factor applied to the trace's times.
    pub time_scale: f64,
    /// Sessions in the trace (before `--jobs` / `--duration` cut it).
    pub sessions: u64,
    /// Bad lines skipped (`--skip-bad`).
    #[serde(default)]
    pub skipped_lines: u64,
}

/// One shard of a sharded run, as its header records it.
///
/// Open loop: arrival `k` of the global schedule belongs to shard `k mod count`
/// and keeps `k` as its [`RequestRecord::seq`]. Closed loop: the shard runs the
/// workers `w` with `w mod count == index`; its `j`-th send has seq
/// `j · count + index`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// This shard, 0-based.
    pub index: u32,
    /// Shards in the run.
    pub count: u32,
    /// Where `index`/`count` came from: `flag`, `slurm` or `kubernetes`.
    pub source: String,
    /// Host name of the shard's machine.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    /// The shared start every shard was asked to use, ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// This shard's origin on its own wall clock minus the requested start, ns
    /// (≈ 0 when it was ready in time; positive when it started late).
    pub offset_ns: i64,
}

/// One shard of a merged run: who it was and its own figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRow {
    /// The shard, 0-based.
    pub index: u32,
    /// Shards in the run.
    pub count: u32,
    /// Host name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    /// The shard's output folder as given to `merge-runs`.
    pub folder: String,
    /// [`ShardInfo::offset_ns`].
    pub offset_ns: i64,
    /// Set when `|offset_ns|` exceeded `--max-skew`: the warning, naming the shard.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skew_warning: Option<String>,
    /// Request lines.
    pub requests: u64,
    /// Agent workloads: distinct sessions in the shard's records (warm-up
    /// included); `None` for requests.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sessions: Option<u64>,
    /// Agent workloads: measured sessions (jobs) whose every planned turn
    /// completed; `None` for requests.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jobs_completed: Option<u64>,
    /// Measured (non-warm-up) requests.
    pub measured: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Open loop: this shard's share of the target rate (rate / count).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_rate: Option<f64>,
    /// Measured requests sent per second.
    pub send_rate: f64,
    /// Open loop: achieved / target send rate (the slope fit of the client check).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rate_ratio: Option<f64>,
    /// Scheduler lag p99, ms.
    pub lag_p99_ms: f64,
    /// The shard's own client check failed: the merged run is client-limited too.
    pub client_limited: bool,
    /// Why, in words.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub reasons: Vec<String>,
}

/// The open-loop schedule's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// Intended sends.
    pub count: u64,
    /// [`super::schedule::schedule_hash`] of the offsets.
    pub sha256: String,
}

/// One prompt of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptInfo {
    /// `analysis`, `report` or `synthetic`.
    pub name: String,
    /// SHA-256 of the prompt text.
    pub sha256: String,
    /// Length in bytes.
    pub bytes: u64,
}

/// One request of a load run.
///
/// Invariants: `intended_ns <= sent_ns`; `slot_wait_ns <= sent_ns - intended_ns`;
/// the call's t0 is `sent_ns`. Latency from the intended send = `sent_ns −
/// intended_ns` + the call's own offset; scheduler lag = `sent_ns − intended_ns −
/// slot_wait_ns` (the harness's own lateness, excluding waits for a concurrency
/// slot, which the server's pace causes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Position in the schedule (open loop) or in the order of sends (closed loop).
    pub seq: u64,
    /// Closed loop: the worker; open loop: 0.
    pub worker: u32,
    /// Index into [`LoadHeader::prompts`].
    pub prompt: u32,
    /// Intended before the warm-up ended: excluded from statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
    /// When the request should have been sent, ns from the origin.
    pub intended_ns: u64,
    /// When it was sent (the call's t0), ns from the origin.
    pub sent_ns: u64,
    /// Time spent waiting for a concurrency slot (`--max-concurrency`), ns.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slot_wait_ns: u64,
    /// Agent workloads: the session turn this request is (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<super::session::TurnRef>,
    /// The call's raw observations.
    pub call: CallRecord,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl RequestRecord {
    /// Scheduler lag: how late the harness itself sent the request, ns.
    pub fn lag_ns(&self) -> u64 {
        self.sent_ns
            .saturating_sub(self.intended_ns)
            .saturating_sub(self.slot_wait_ns)
    }

    /// Offset to add to a call offset to measure it from the intended send.
    pub fn behind_ns(&self) -> u64 {
        self.sent_ns.saturating_sub(self.intended_ns)
    }

    /// The last moment the request is known to have been alive, ns from the
    /// origin: its end when complete, else its last chunk or headers, else its send.
    pub fn last_seen_ns(&self) -> u64 {
        let c = &self.call;
        let off = c
            .end_ns
            .or_else(|| c.chunk_ns.last().copied())
            .or(c.headers_ns)
            .unwrap_or(0);
        self.sent_ns + off
    }
}

/// The client's own accounts, written after the last request completed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// Origin → last request completed, ns.
    pub wall_ns: u64,
    /// CPU time of the thread that sent every request and read every response
    /// (the measuring thread), ns.
    pub client_cpu_ns: u64,
    /// CPU time of the whole process, ns (includes an embedded stub when there is
    /// one, and the record writer).
    pub process_cpu_ns: u64,
    /// Requests sent.
    pub sent: u64,
    /// The most requests in flight at once.
    pub peak_in_flight: u64,
    /// Set when the run stopped before its plan was done, with the reason.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stopped_early: Option<String>,
    /// How the record writer ran, as the writer itself accounted it when it wrote
    /// this line (absent in records written before it was recorded).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub writer: Option<WriterAccount>,
}

/// How the record writer thread ran during a load run: whether it could stay out
/// of the measuring thread's way, and how much memory its backlog took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterAccount {
    /// It ran in the idle scheduling class while it kept up (false: in the
    /// normal class throughout: one CPU, or a process that may not leave the idle
    /// class again; see `load::sink`).
    pub idle_class: bool,
    /// Times it was moved out of the idle class (more than a second behind, or
    /// its backlog over the mark); while out, it competed with the measuring
    /// thread for CPU.
    pub promotions: u64,
    /// The largest backlog of records handed on and not yet written, in
    /// estimated heap bytes.
    pub peak_backlog_bytes: u64,
    /// Request lines it had written when it wrote the end line.
    #[serde(default)]
    pub records: u64,
    /// Its thread's CPU time until then, ns (serialising and writing the
    /// records: the harness's cost per request beside the measuring thread's).
    #[serde(default)]
    pub cpu_ns: u64,
}

/// A load record file as read: header, requests, and the end line when present.
#[derive(Debug, Clone)]
pub struct LoadFile {
    /// The header.
    pub header: LoadHeader,
    /// The requests, in file order.
    pub requests: Vec<RequestRecord>,
    /// The end line (absent after a crash).
    pub end: Option<RunEnd>,
    /// Lines that did not parse, as (1-based line, reason): a torn last line after
    /// a crash is one.
    pub skipped: Vec<(usize, String)>,
}

/// Reading a load record file failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadReadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Line 1 is not a load header.
    #[error("{path}:1 is not a load record header ({why}); is this the records.jsonl of `agentbench load`?")]
    NotLoad {
        /// The file.
        path: PathBuf,
        /// What line 1 was.
        why: String,
    },
}

/// True when the first line of `path` is a load header (cheap: reads one line).
pub fn is_load_file(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut first = String::new();
    if BufReader::new(f).read_line(&mut first).is_err() {
        return false;
    }
    first.contains("\"kind\":\"load_header\"")
}

/// The header of a load record file (line 1), or `None` when line 1 is not one.
/// Cheap: reads one line.
pub fn read_header(path: &Path) -> Option<LoadHeader> {
    let mut first = Vec::new();
    BufReader::new(File::open(path).ok()?)
        .read_until(b'\n', &mut first)
        .ok()?;
    match serde_json::from_slice(&first).ok()? {
        LoadLine::LoadHeader(h) => Some(*h),
        _ => None,
    }
}

/// What [`scan_load_file`] found besides the requests.
#[derive(Debug, Clone)]
pub struct LoadScan {
    /// The header.
    pub header: LoadHeader,
    /// The end line (absent after a crash).
    pub end: Option<RunEnd>,
    /// Lines that did not parse, as (1-based line, reason).
    pub skipped: Vec<(usize, String)>,
}

/// Reads a load record file line by line, handing each request to `on_request`
/// without keeping it (memory stays flat however long the run was). Lines that do
/// not parse (a torn last line after a crash) are skipped and listed; every
/// complete line counts.
pub fn scan_load_file(
    path: &Path,
    mut on_request: impl FnMut(RequestRecord),
) -> Result<LoadScan, LoadReadError> {
    let io = |source| LoadReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_load = |why: String| LoadReadError::NotLoad {
        path: path.to_path_buf(),
        why,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let mut header = None;
    let mut end = None;
    let mut skipped = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(io)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: Result<LoadLine, _> = serde_json::from_slice(&line);
        match (i, parsed) {
            (0, Ok(LoadLine::LoadHeader(h))) => header = Some(*h),
            (0, Ok(_)) => return Err(not_load("another kind of line".into())),
            (0, Err(e)) => return Err(not_load(e.to_string())),
            (_, Ok(LoadLine::Request(r))) => on_request(*r),
            (_, Ok(LoadLine::LoadEnd(e))) => end = Some(*e),
            (n, Ok(LoadLine::LoadHeader(_))) => {
                skipped.push((n + 1, "a second header".to_string()))
            }
            (n, Err(e)) => skipped.push((n + 1, e.to_string())),
        }
    }
    let header = header.ok_or_else(|| not_load("the file is empty".into()))?;
    Ok(LoadScan {
        header,
        end,
        skipped,
    })
}

/// Reads a whole load record file into memory (see [`scan_load_file`] for the
/// streaming form).
pub fn read_load_file(path: &Path) -> Result<LoadFile, LoadReadError> {
    let mut requests = Vec::new();
    let scan = scan_load_file(path, |r| requests.push(r))?;
    Ok(LoadFile {
        header: scan.header,
        requests,
        end: scan.end,
        skipped: scan.skipped,
    })
}
