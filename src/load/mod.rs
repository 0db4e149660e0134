//! Load: many requests against one server, timed from the intended send.
//!
//! ```text
//! schedule  seeded arrivals → intended offsets (pure)            schedule.rs
//! engine    one thread, current-thread runtime: timerfd waits,   engine.rs, clock.rs
//!           open loop / ceiling / closed loop → RequestRecord
//! sink      writer thread: JSONL lines, fsync ≥ once a second    sink.rs, record.rs
//! analyse   records → percentiles (intended and service views),  analyse.rs, slo.rs
//!           lag, rates, goodput, per-second rows, client check
//! jobs      agent sessions → job latency, per-turn rows, cache     jobs.rs
//!           reuse measured vs best, job goodput (same pass)
//! output    summary.json, summary.md, index.html, hdr/, interval log   output.rs
//! ```
//!
//! Everything after the engine works on the record file only, so `agentbench
//! report` renders a load run (even an interrupted one) the same way `load` does.

pub mod analyse;
pub mod clock;
pub mod engine;
pub mod jobs;
pub mod merge;
pub mod output;
pub mod record;
mod recorder;
pub mod schedule;
pub mod session;
pub mod session_engine;
pub mod shard;
pub mod sink;
pub mod slo;
pub mod think;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use analyse::{analyse_file, LoadAnalysis, LoadSummary};
pub use engine::{Mode, Progress, SessionPlan};
pub use jobs::{JobsAnalyser, JobsSummary};
pub use record::{
    is_load_file, read_load_file, LoadFile, LoadHeader, LoadLine, LoadPlanInfo, PromptInfo,
    RequestRecord, RunEnd, ShardInfo, ShardRow, Warmup,
};
pub use schedule::{Arrival, Extent, OpenSchedule};
pub use slo::Slo;

use crate::client::{LlmClient, PreparedCall, RequestSettings, ServerInfo};
use crate::record::Backend;

/// Exit code of `load` when the client could not keep up.
pub const EXIT_CLIENT_LIMITED: u8 = 5;

/// How far in the future the origin is set when a run starts, so that the engine's
/// thread, runtime and timer exist before the first intended send.
pub const START_LEAD: Duration = Duration::from_millis(30);

/// One load run, fully specified.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The client, bound to the server and protocol.
    pub client: LlmClient,
    /// The prompts, used in turn, with what the header says of them.
    pub prompts: Vec<(PromptInfo, PreparedCall)>,
    /// How load is offered.
    pub mode: Mode,
    /// The plan as the header records it.
    pub plan: LoadPlanInfo,
    /// The server measured.
    pub backend: Backend,
    /// What it said about itself.
    pub server: ServerInfo,
    /// The model.
    pub model: String,
    /// Options sent.
    pub settings: RequestSettings,
}

/// Where a run's outputs went, and its figures.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// The output folder.
    pub out_dir: PathBuf,
    /// records.jsonl.
    pub records: PathBuf,
    /// The files written from the records.
    pub outputs: output::OutputPaths,
    /// The analysis.
    pub analysis: LoadAnalysis,
}

/// A load run failed before or while writing its records.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The output folder could not be made, or already holds records.
    #[error("cannot use the output folder {path}: {why}")]
    OutDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Writing the records failed.
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
    /// The engine's thread could not start.
    #[error("cannot start the load engine: {0}")]
    Engine(#[source] std::io::Error),
    /// Reading the records back failed.
    #[error(transparent)]
    Read(#[from] record::LoadReadError),
    /// Writing the outputs failed.
    #[error(transparent)]
    Output(#[from] output::OutputError),
}

/// How often [`run_load`] calls its watcher.
pub const TICK: Duration = Duration::from_millis(50);

/// What a watcher tells [`run_load`] after each tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    /// Go on.
    Continue,
    /// Stop offering load (requests in flight finish and are recorded); the reason
    /// goes into the end line.
    Stop(String),
}

/// Runs `spec`, writing `out_dir/records.jsonl` as requests finish, then the
/// outputs computed from it. `watch` is called every [`TICK`] with the live
/// counters and the time since the start (for a progress line, or to stop a run
/// early, e.g. when the server is overloaded).
pub fn run_load(
    spec: LoadSpec,
    out_dir: &Path,
    mut watch: impl FnMut(&Progress, Duration) -> Watch,
) -> Result<LoadOutcome, LoadError> {
    let records = out_dir.join("records.jsonl");
    prepare_out_dir(out_dir, &records)?;
    let (origin_mono_ns, origin_unix_ns) =
        shard::origin(spec.plan.shard.as_ref().map(|s| s.start_unix_ns));
    let mut spec = spec;
    if let Some(s) = spec.plan.shard.as_mut() {
        s.offset_ns = shard::offset_near_origin(origin_mono_ns, s.start_unix_ns);
    }
    let header = LoadHeader {
        schema_version: record::LOAD_SCHEMA_VERSION,
        harness: crate::provenance::Harness::current(),
        host: crate::provenance::Host::current(),
        backend: spec.backend,
        server: spec.server,
        model: spec.model,
        settings: spec.settings,
        plan: spec.plan,
        prompts: spec.prompts.iter().map(|(i, _)| i.clone()).collect(),
        origin_unix_ns,
    };
    let (tx, writer) = sink::start_writer(&records, &header)?;
    let cfg = engine::EngineConfig {
        client: spec.client,
        prompts: Arc::new(spec.prompts.into_iter().map(|(_, p)| p).collect()),
        mode: spec.mode,
        warmup: header.plan.warmup(),
        origin_mono_ns,
        stop: None,
    };
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cfg = engine::EngineConfig {
        stop: Some(stop.clone()),
        ..cfg
    };
    let engine_tx = tx.clone();
    let engine_progress = progress.clone();
    let sessions = match &cfg.mode {
        Mode::Sessions(plan) => Some(session_engine::SessionConfig {
            client: cfg.client.clone(),
            model: header.model.clone(),
            settings: header.settings.clone(),
            endpoint: header.backend.endpoint,
            workload: plan.workload.clone(),
            think: plan.think,
            seed: plan.seed,
            mode: plan.mode.clone(),
            shard: plan.shard,
            warmup: cfg.warmup,
            origin_mono_ns: cfg.origin_mono_ns,
            stop: cfg.stop.clone(),
        }),
        _ => None,
    };
    let engine = std::thread::Builder::new()
        .name("agentbench-load-main".into())
        .spawn(move || match sessions {
            Some(s) => session_engine::run_sessions(s, engine_tx, engine_progress),
            None => engine::run_engine(cfg, engine_tx, engine_progress),
        })
        .map_err(LoadError::Engine)?;
    let started = std::time::Instant::now();
    let mut stopped = None;
    while !engine.is_finished() {
        std::thread::sleep(TICK);
        if stopped.is_none() {
            if let Watch::Stop(why) = watch(&progress, started.elapsed()) {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                stopped = Some(why);
            }
        }
    }
    let mut end = engine
        .join()
        .map_err(|_| LoadError::Engine(std::io::Error::other("the load engine panicked")))?
        .map_err(LoadError::Engine)?;
    if stopped.is_some() {
        end.stopped_early = stopped;
    }
    tx.end(end);
    drop(tx);
    writer
        .join()
        .map_err(|_| LoadError::Engine(std::io::Error::other("the record writer panicked")))??;
    let analysis = analyse_file(&records)?;
    let outputs = output::write_outputs(&analysis, out_dir)?;
    Ok(LoadOutcome {
        out_dir: out_dir.to_path_buf(),
        records,
        outputs,
        analysis,
    })
}

fn prepare_out_dir(out_dir: &Path, records: &Path) -> Result<(), LoadError> {
    let fail = |why: String| LoadError::OutDir {
        path: out_dir.to_path_buf(),
        why,
    };
    if records.exists() {
        return Err(fail(format!(
            "{} already exists; choose another --out so that earlier records are kept",
            records.display()
        )));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| fail(e.to_string()))
}
