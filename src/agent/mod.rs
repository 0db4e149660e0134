//! The agent workflow: ingest → analysis call → parse → report call.
//!
//! [`Agent::run_once`] performs one run and returns its [`WorkflowRecord`]; it never
//! fails. A failed call is recorded with its error class and ends the run (the
//! report needs the analysis); it is never turned into a zero sample.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::client::{CallRecord, CallRequest, Endpoint, LlmClient, RequestSettings};
use crate::ingest::{
    check_root, ingest, summarize, CorpusStats, DataSummary, IngestError, IngestOptions,
};
use crate::prompt::{analysis_prompt, parse_analysis, report_prompt};
use crate::record::{FailedStep, Phase, PhaseSpan, RunFailure, Stage, StageCall, WorkflowRecord};

/// What one run does.
#[derive(Debug, Clone)]
pub struct WorkflowConfig {
    /// Corpus root to ingest.
    pub corpus_root: PathBuf,
    /// Ingest limits.
    pub ingest: IngestOptions,
    /// Model name.
    pub model: String,
    /// Options and keep_alive for both calls.
    pub settings: RequestSettings,
    /// generate or chat.
    pub endpoint: Endpoint,
}

/// The corpus root could not be ingested at all.
#[derive(Debug, Error)]
#[error(transparent)]
pub struct AgentError(#[from] pub IngestError);

/// Runs the workflow against one server.
#[derive(Debug, Clone)]
pub struct Agent {
    client: LlmClient,
    config: WorkflowConfig,
    retries: u32,
    /// An ingest made ahead by [`Agent::ingest_ahead`], kept for the next run.
    ahead: Arc<Mutex<Option<Ingested>>>,
}

/// One ingest's result and how long it took (walk, parse and summary).
#[derive(Debug)]
struct Ingested {
    stats: CorpusStats,
    summary: DataSummary,
    took: Duration,
}

impl Ingested {
    /// Ingests and summarises the corpus of `config`, timing both.
    fn now(config: &WorkflowConfig) -> Result<Self, AgentError> {
        let start = Instant::now();
        let corpus = ingest(&config.corpus_root, &config.ingest)?;
        let stats = corpus.stats();
        let summary = summarize(&corpus);
        Ok(Self {
            stats,
            summary,
            took: start.elapsed(),
        })
    }
}

/// An ingest running on tokio's blocking pool, started before the agent exists
/// (e.g. while the server is probed); hand it to [`Agent::ingest_ahead`].
/// Its measured duration is the ingest's own (walk, parse, summary), not the
/// wait for it.
#[derive(Debug)]
pub struct PendingIngest(tokio::task::JoinHandle<Result<Ingested, AgentError>>);

impl PendingIngest {
    /// Starts ingesting `config`'s corpus now. Must be called within a tokio
    /// runtime. Once the ingest is measured and done, its thread hands what the
    /// ingest freed back to the kernel ([`crate::memory::release_freed`], after the
    /// ingest's span, so not in its figure).
    pub fn start(config: &WorkflowConfig) -> Self {
        let config = config.clone();
        Self(tokio::task::spawn_blocking(move || {
            let ingested = Ingested::now(&config);
            crate::memory::release_freed();
            ingested
        }))
    }

    async fn finish(self) -> Result<Ingested, AgentError> {
        match self.0.await {
            Ok(result) => result,
            // The ingest panicked (a bug): let the panic continue here.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the ingest task was cancelled: {e}"),
        }
    }
}

/// Records phase spans relative to a run's start.
struct PhaseClock {
    start: Instant,
    spans: Vec<PhaseSpan>,
}

impl PhaseClock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            spans: Vec::with_capacity(6),
        }
    }

    fn offset(&self) -> u64 {
        crate::clock::nanos(self.start.elapsed())
    }

    /// Records `phase` as running from `start_ns` until now.
    fn close(&mut self, phase: Phase, start_ns: u64) {
        let end_ns = self.offset();
        self.spans.push(PhaseSpan {
            phase,
            start_ns,
            end_ns,
        });
    }

    /// Runs `f` as `phase` and records its span.
    fn time<T>(&mut self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let start_ns = self.offset();
        let out = f();
        self.close(phase, start_ns);
        out
    }

    /// Awaits the call `f` as `phase` and records its span.
    async fn time_call(&mut self, phase: Phase, f: impl Future<Output = CallRecord>) -> CallRecord {
        let start_ns = self.offset();
        let out = f.await;
        self.close(phase, start_ns);
        out
    }
}

impl Agent {
    /// An agent using `client` for both calls. Checks that the corpus root is a
    /// directory (one `stat`), so a bad root fails before any call.
    pub fn new(client: LlmClient, config: WorkflowConfig) -> Result<Self, AgentError> {
        check_root(&config.corpus_root)?;
        Ok(Self {
            client,
            config,
            retries: 0,
            ahead: Arc::default(),
        })
    }

    /// Waits for an ingest started earlier on its own thread ([`PendingIngest::start`],
    /// e.g. while the server was probed) and returns its statistics (for a record file's
    /// header), keeping the result for the next [`Agent::run_once`], which then
    /// records this ingest as its ingest phase instead of reading the corpus again:
    /// a command that needs the statistics before its first run reads the corpus
    /// once, not twice. The kept ingest's span is its measured duration, placed just
    /// before the run's next phase (what the caller did in between, e.g. writing the
    /// header, is not in the run). Later runs ingest for themselves, as each run
    /// of the workflow does. Clones of this agent share the kept ingest (the first
    /// of them to run takes it).
    pub async fn ingest_ahead(&self, pending: PendingIngest) -> Result<CorpusStats, AgentError> {
        Ok(self.keep(pending.finish().await?))
    }

    fn keep(&self, ingested: Ingested) -> CorpusStats {
        let stats = ingested.stats.clone();
        *self.ahead.lock().unwrap_or_else(|e| e.into_inner()) = Some(ingested);
        stats
    }

    /// Retries each failed call up to `retries` more times (default 0: no retry).
    /// A retried call's record says so ([`CallRecord::attempt`] > 1, earlier errors
    /// in [`CallRecord::retried_errors`]).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WorkflowConfig {
        &self.config
    }

    /// The client.
    pub fn client(&self) -> &LlmClient {
        &self.client
    }

    fn request<'a>(&'a self, prompt: &'a str) -> CallRequest<'a> {
        CallRequest {
            endpoint: self.config.endpoint,
            model: &self.config.model,
            prompt,
            settings: &self.config.settings,
        }
    }

    /// Performs one run. Never fails: a corpus that vanished or a failed call is
    /// recorded in [`WorkflowRecord::failure`] / the call's error.
    pub async fn run_once(&self, run_index: u32) -> WorkflowRecord {
        let ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut started_unix_ns = crate::clock::unix_ns_now();
        let mut clock = PhaseClock::new();
        if let Some(a) = &ahead {
            // The run began when its (earlier) ingest began; see `ingest_ahead`.
            if let Some(start) = clock.start.checked_sub(a.took) {
                clock.start = start;
                started_unix_ns = started_unix_ns.saturating_sub(crate::clock::nanos(a.took));
            }
        }
        let mut record = WorkflowRecord {
            calls: Vec::with_capacity(2),
            ..WorkflowRecord::new(run_index, started_unix_ns)
        };
        let ingested = match ahead {
            Some(a) => {
                clock.spans.push(PhaseSpan {
                    phase: Phase::Ingest,
                    start_ns: 0,
                    end_ns: crate::clock::nanos(a.took),
                });
                Ok((a.stats, a.summary))
            }
            None => clock.time(Phase::Ingest, || {
                ingest(&self.config.corpus_root, &self.config.ingest)
                    .map(|corpus| (corpus.stats(), summarize(&corpus)))
            }),
        };
        let summary = match ingested {
            Ok((stats, summary)) => {
                record.corpus_files = stats.files;
                summary
            }
            Err(e) => {
                record.failure = Some(RunFailure {
                    stage: FailedStep::Ingest,
                    message: e.to_string(),
                });
                record.phases = clock.spans;
                return record;
            }
        };

        let prompt = clock.time(Phase::AnalysisPrompt, || analysis_prompt(&summary));
        let call = clock
            .time_call(
                Phase::AnalysisCall,
                self.client
                    .call_with_retries(&self.request(&prompt), self.retries),
            )
            .await;
        let failed = call.error.as_ref().map(|e| e.message.clone());
        let response = call.response.clone();
        record.calls.push(StageCall {
            stage: Stage::Analysis,
            prompt,
            call,
        });
        if let Some(message) = failed {
            record.failure = Some(RunFailure {
                stage: FailedStep::Analysis,
                message,
            });
            record.phases = clock.spans;
            return record;
        }

        let analysis = clock.time(Phase::Parse, || parse_analysis(&response));
        let prompt = clock.time(Phase::ReportPrompt, || report_prompt(&analysis, &summary));
        let call = clock
            .time_call(
                Phase::ReportCall,
                self.client
                    .call_with_retries(&self.request(&prompt), self.retries),
            )
            .await;
        if let Some(e) = &call.error {
            record.failure = Some(RunFailure {
                stage: FailedStep::Report,
                message: e.message.clone(),
            });
        }
        record.calls.push(StageCall {
            stage: Stage::Report,
            prompt,
            call,
        });
        record.analysis = Some(analysis);
        record.phases = clock.spans;
        record
    }
}
