//! Job-level analysis of agent sessions: one session (a chain of turns, see
//! [`super::session`]) is one job. Computed from the request records alone, in
//! the same single streaming pass as [`super::analyse`].
//!
//! Memory is bounded by the sessions open at once, not by the run's length: a
//! session's state is kept only until it is complete (all its planned turns
//! seen) or has failed (a session stops at its first failed turn); sessions
//! still open when the records end are finalised as `unfinished` failures. Per
//! turn index and per second of the run there is one fixed-size accumulator.
//!
//! Rules: a job's latency counts from its session's intended start to its last
//! turn's end ([`RequestRecord::last_seen_ns`]), so a stall in any turn is in
//! it. A session intended before the warm-up ended is excluded from every
//! figure. Failed jobs count in every rate, in the job error rate and in
//! goodput's denominator; they are never latency samples, and a second set of
//! percentiles treats them as infinitely slow.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::analyse::{failures_infinite, FailuresAsInfinite, Pcts};
use super::record::{LoadHeader, RequestRecord};
use super::session::TurnRef;
use super::slo::{Slo, SloFigures};
use crate::metrics::hdr::{new_histogram, HIGHEST_US};
use crate::metrics::CallMetrics;

/// Turn indices at or above this share one per-turn row (its `turn` is this
/// value and `and_later` is set), so that memory stays fixed however long a
/// session is.
pub const MAX_TURN_ROWS: u32 = 64;

/// Bucket lengths the jobs-over-time series may use, longest first: the longest
/// that still gives at least [`MIN_SERIES_POINTS`] points over the window.
pub const SERIES_BUCKETS_S: [u64; 3] = [60, 10, 1];

/// The fewest points the jobs-over-time series aims for (see [`SERIES_BUCKETS_S`]).
pub const MIN_SERIES_POINTS: u64 = 10;

/// Bytes of prompt text per token assumed where a server reports only the
/// tokens it evaluated (Ollama): the prompt's token count is estimated as
/// `prompt_text_bytes / 4`.
pub const BYTES_PER_TOKEN: u64 = 4;

/// The `failed_by_reason` key of a session whose records end before all its
/// planned turns (the run stopped or was interrupted).
pub const UNFINISHED: &str = "unfinished";

/// Where a measured prefix-cache reuse figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSource {
    /// llama.cpp's `timings`: Σ cache_n / Σ (cache_n + prompt_n), token-exact.
    LlamaCacheN,
    /// Ollama's `prompt_eval_count` against the prompt's estimated tokens
    /// (`prompt_text_bytes / 4`): 1 − Σ evaluated / Σ estimated, approximate.
    OllamaEstimate,
    /// The server reported neither: no measured figure.
    None,
}

/// Prefix-cache reuse of a set of turns: what the server reported against the
/// best any prefix cache could do with these prompts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CacheReuse {
    /// Fraction of prompt tokens the server reused from its cache (see
    /// [`CacheReuse::source`]); `None` when no completed turn reported it.
    pub measured: Option<f64>,
    /// How `measured` was computed.
    pub source: CacheSource,
    /// Completed turns whose figures `measured` is computed from.
    pub measured_requests: u64,
    /// Σ shared_prefix_bytes / Σ prompt_text_bytes over every measured turn
    /// (computed offline from the prompts); `None` when there were no prompt bytes.
    pub best: Option<f64>,
    /// best − measured: the reuse left on the table (when both exist).
    pub left_on_table: Option<f64>,
}

/// The figures of one turn index over every measured session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnRow {
    /// The turn index (0-based); with `and_later`, this and every later index.
    pub turn: u32,
    /// Set on the row that pools every index ≥ [`MAX_TURN_ROWS`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub and_later: bool,
    /// Measured requests at this index.
    pub requests: u64,
    /// Of those, failed.
    pub failed: u64,
    /// failed / requests.
    pub error_rate: f64,
    /// TTFT from the turn's intended send, completed turns (ms).
    pub ttft: Pcts,
    /// E2E from the turn's intended send, completed turns (ms).
    pub e2e: Pcts,
    /// Mean tool time (think) before this turn, ms (`None` when no request).
    pub think_mean_ms: Option<f64>,
    /// Prefix-cache reuse, measured vs best achievable.
    pub cache: CacheReuse,
}

/// Job goodput under the run's SLO: a job meets it when it completed and every
/// one of its turns met every bound.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobGoodput {
    /// The SLO, as given.
    pub slo: String,
    /// Measured jobs that met it.
    pub met: u64,
    /// met / measured jobs (failed and unfinished jobs are misses).
    pub fraction: f64,
    /// met per hour of the jobs' window.
    pub per_hour: f64,
}

/// Jobs finished in one bucket of the run (by the time their last turn was seen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct JobsBucket {
    /// Seconds from the origin at the start of the bucket.
    pub t: u64,
    /// Jobs completed (every planned turn ok).
    pub completed: u64,
    /// Jobs failed (a failed turn, or unfinished).
    pub failed: u64,
}

/// Everything the sessions (jobs) view reports, computed from the records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobsSummary {
    /// Distinct sessions seen (warm-up included).
    pub sessions: u64,
    /// Of those, intended before the warm-up ended: excluded from every figure below.
    pub warmup_sessions: u64,
    /// Measured jobs: completed + failed.
    pub jobs: u64,
    /// Jobs whose every planned turn completed.
    pub completed: u64,
    /// Jobs that did not complete: a failed turn, or unfinished.
    pub failed: u64,
    /// Failed jobs by reason: the error class of the failing turn (as in the
    /// request summary's `errors`), or [`UNFINISHED`].
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Of the failed jobs, those whose records end before all their planned turns.
    pub unfinished: u64,
    /// failed / jobs.
    pub error_rate: f64,
    /// First measured session's intended start → last measured turn seen, s.
    pub window_s: f64,
    /// Completed jobs per hour of the window.
    pub jobs_per_hour: f64,
    /// Job latency (session intended start → last turn's end) of completed jobs,
    /// ms (3 significant digits; a job longer than an hour counts as one hour).
    pub latency: Pcts,
    /// Job latency percentiles with failed jobs as infinitely slow.
    pub latency_failures_infinite: FailuresAsInfinite,
    /// Job goodput, when the run has an SLO.
    pub goodput: Option<JobGoodput>,
    /// One row per turn index, in order.
    pub turns: Vec<TurnRow>,
    /// Prefix-cache reuse over every turn.
    pub cache_total: CacheReuse,
    /// Length of a bucket of `over_time`, s.
    pub bucket_s: u64,
    /// Jobs finished per bucket, from the origin.
    pub over_time: Vec<JobsBucket>,
    /// The most sessions held open at once by the analysis (its memory bound).
    pub peak_open_sessions: u64,
}

/// Sums behind a [`CacheReuse`].
#[derive(Debug, Clone, Copy, Default)]
struct CacheAcc {
    llama_cached: u64,
    llama_prompt: u64,
    llama_n: u64,
    ollama_evaluated: u64,
    ollama_estimated: u64,
    ollama_n: u64,
    shared_bytes: u64,
    prompt_bytes: u64,
}

impl CacheAcc {
    fn add(&mut self, r: &RequestRecord, t: &TurnRef, ollama: bool) {
        self.shared_bytes += t.shared_prefix_bytes;
        self.prompt_bytes += t.prompt_text_bytes;
        if !r.call.is_ok() {
            return;
        }
        let server = &r.call.server;
        let llama = server.timings.as_ref().and_then(|tm| {
            let cached = u64::try_from(tm.cache_n?).ok()?;
            let prompt = u64::try_from(tm.prompt_n?).ok()?;
            Some((cached, prompt))
        });
        if let Some((cached, prompt)) = llama {
            self.llama_cached += cached;
            self.llama_prompt += cached + prompt;
            self.llama_n += 1;
        } else if ollama {
            // Ollama omits zero values: no prompt_eval_count on a completed call
            // means nothing was evaluated (a whole-prompt cache hit).
            self.ollama_evaluated += server.prompt_eval_count.unwrap_or(0);
            self.ollama_estimated += t.prompt_text_bytes / BYTES_PER_TOKEN;
            self.ollama_n += 1;
        }
    }

    fn merge(&mut self, o: &CacheAcc) {
        self.llama_cached += o.llama_cached;
        self.llama_prompt += o.llama_prompt;
        self.llama_n += o.llama_n;
        self.ollama_evaluated += o.ollama_evaluated;
        self.ollama_estimated += o.ollama_estimated;
        self.ollama_n += o.ollama_n;
        self.shared_bytes += o.shared_bytes;
        self.prompt_bytes += o.prompt_bytes;
    }

    fn reuse(&self) -> CacheReuse {
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let (measured, source, n) = if self.llama_n > 0 {
            (
                ratio(self.llama_cached, self.llama_prompt),
                CacheSource::LlamaCacheN,
                self.llama_n,
            )
        } else if self.ollama_n > 0 {
            let m = ratio(self.ollama_evaluated, self.ollama_estimated)
                .map(|e| (1.0 - e).clamp(0.0, 1.0));
            (m, CacheSource::OllamaEstimate, self.ollama_n)
        } else {
            (None, CacheSource::None, 0)
        };
        let best = ratio(self.shared_bytes, self.prompt_bytes);
        CacheReuse {
            measured,
            source,
            measured_requests: n,
            best,
            left_on_table: best.zip(measured).map(|(b, m)| b - m),
        }
    }
}

/// Accumulators of one turn index.
struct TurnAcc {
    requests: u64,
    failed: u64,
    ttft: Histogram<u64>,
    e2e: Histogram<u64>,
    think_ns: u128,
    cache: CacheAcc,
}

impl TurnAcc {
    fn new() -> Self {
        TurnAcc {
            requests: 0,
            failed: 0,
            ttft: turn_hist(),
            e2e: turn_hist(),
            think_ns: 0,
            cache: CacheAcc::default(),
        }
    }

    fn row(&self, turn: u32) -> TurnRow {
        TurnRow {
            turn,
            and_later: turn >= MAX_TURN_ROWS,
            requests: self.requests,
            failed: self.failed,
            error_rate: rate(self.failed, self.requests),
            ttft: Pcts::of_us(&self.ttft),
            e2e: Pcts::of_us(&self.e2e),
            think_mean_ms: (self.requests > 0)
                .then(|| self.think_ns as f64 / self.requests as f64 / 1e6),
            cache: self.cache.reuse(),
        }
    }
}

fn turn_hist() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, HIGHEST_US, 2)
        .expect("1 µs .. 1 h at 2 significant digits is a valid range");
    h.auto(false);
    h
}

fn us(ns: u64) -> u64 {
    (ns / 1_000).clamp(1, HIGHEST_US)
}

fn rate(n: u64, of: u64) -> f64 {
    if of > 0 {
        n as f64 / of as f64
    } else {
        0.0
    }
}

/// One open session's state (kept until the session is complete or failed).
#[derive(Debug, Clone, Copy)]
struct OpenSession {
    intended_ns: u64,
    turns: u32,
    last_end_ns: u64,
    slo_met: bool,
    warmup: bool,
}

/// One measured job, as a per-job consumer (the capacity search's bootstrap)
/// reads it: kept only when asked for with [`JobsAnalyser::keep_samples`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobSample {
    /// The session's intended start, ns from the origin.
    pub intended_ns: u64,
    /// Job latency (intended start → last turn's end), ns; `None` for a failed
    /// or unfinished job.
    pub latency_ns: Option<u64>,
    /// Every turn met the run's per-request SLO (true when it has none).
    pub slo_met: bool,
}

/// How a session ended.
enum Outcome {
    Completed,
    Failed(String),
}

/// The figures of one completed request checked against an SLO (latencies from
/// its intended send); `None` for a failed request.
pub fn slo_figures(r: &RequestRecord) -> Option<SloFigures> {
    if !r.call.is_ok() {
        return None;
    }
    let m = CallMetrics::new(&r.call);
    let behind = r.behind_ns();
    Some(SloFigures {
        ttft_ns: m.ttft().map(|t| crate::clock::nanos(t) + behind),
        tpot_ns: m.tpot().map(crate::clock::nanos),
        e2e_ns: m.e2e().map(|e| crate::clock::nanos(e) + behind),
    })
}

/// The streaming job-level analysis: fed every request record (in file order),
/// it keeps state only for sessions still open. [`super::analyse::Analyser`]
/// runs one for every record file.
///
/// Only each session's own turns need to come in order: its state is keyed by
/// session id and every figure is a sum, a min/max or a histogram, so how
/// sessions interleave does not change the result (only
/// [`JobsSummary::peak_open_sessions`], the analysis's memory bound). A merged
/// sharded run, whose records come shard after shard with each session whole on
/// one shard, therefore gets the figures of the same sessions in time order.
pub struct JobsAnalyser {
    warmup: super::record::Warmup,
    ollama: bool,
    slo: Option<Slo>,
    saw_turn: bool,
    open: HashMap<u64, OpenSession>,
    peak_open: usize,
    sessions: u64,
    warmup_sessions: u64,
    completed: u64,
    failed_by_reason: BTreeMap<String, u64>,
    slo_met: u64,
    latency: Histogram<u64>,
    turns: BTreeMap<u32, TurnAcc>,
    per_second: Vec<(u64, u64)>,
    first_intended: Option<u64>,
    last_seen: u64,
    samples: Option<Vec<JobSample>>,
}

impl JobsAnalyser {
    /// An empty analysis of a file with this header (its warm-up, SLO and
    /// protocol decide what is measured, what meets the SLO and how Ollama's
    /// cache figures are read).
    pub fn new(header: &LoadHeader) -> Self {
        JobsAnalyser {
            warmup: header.plan.warmup(),
            ollama: header.backend.protocol == "ollama",
            slo: header.plan.slo.as_deref().and_then(|s| s.parse().ok()),
            saw_turn: false,
            open: HashMap::new(),
            peak_open: 0,
            sessions: 0,
            warmup_sessions: 0,
            completed: 0,
            failed_by_reason: BTreeMap::new(),
            slo_met: 0,
            latency: new_histogram(),
            turns: BTreeMap::new(),
            per_second: Vec::new(),
            first_intended: None,
            last_seen: 0,
            samples: None,
        }
    }

    /// Also keeps one [`JobSample`] per measured job (memory grows with the
    /// jobs: for bounded runs such as capacity probes), returned by
    /// [`JobsAnalyser::finish_samples`].
    pub fn keep_samples(mut self) -> Self {
        self.samples = Some(Vec::new());
        self
    }

    /// Sessions held open right now.
    pub fn open_sessions(&self) -> usize {
        self.open.len()
    }

    /// The most sessions held open at once so far.
    pub fn peak_open_sessions(&self) -> usize {
        self.peak_open
    }

    /// Folds one request in; a request without a [`TurnRef`] is ignored.
    /// Turns of a session are expected in order (turn k+1 is sent after turn k
    /// ends, so it is recorded after it); a session closes at its last planned
    /// turn or at its first failed one. A record of a session already closed
    /// (which the session contract rules out) would open it anew and be counted
    /// as another session.
    pub fn add(&mut self, r: &RequestRecord) {
        let Some(t) = &r.turn else { return };
        self.saw_turn = true;
        let mut s = match self.open.remove(&t.session) {
            Some(s) => s,
            None => self.open_session(t),
        };
        let end = r.last_seen_ns();
        s.last_end_ns = s.last_end_ns.max(end);
        if !s.warmup {
            self.last_seen = self.last_seen.max(end);
            self.add_turn(r, t);
            s.slo_met &= self.slo.as_ref().is_none_or(|slo| slo.met(slo_figures(r)));
        }
        if !r.call.is_ok() {
            let kind = r.call.error.as_ref().map_or_else(
                || "incomplete".to_string(),
                |e| crate::report::error_kind_name(e.kind),
            );
            self.close(s, Outcome::Failed(kind));
        } else if t.turn + 1 >= s.turns {
            self.close(s, Outcome::Completed);
        } else {
            self.open.insert(t.session, s);
            self.peak_open = self.peak_open.max(self.open.len());
        }
    }

    fn open_session(&mut self, t: &TurnRef) -> OpenSession {
        self.sessions += 1;
        let warmup = self.warmup.excludes(t.session_intended_ns, t.session);
        if warmup {
            self.warmup_sessions += 1;
        } else {
            let f = self.first_intended.get_or_insert(t.session_intended_ns);
            *f = (*f).min(t.session_intended_ns);
        }
        // Counted as open while its first record is handled.
        self.peak_open = self.peak_open.max(self.open.len() + 1);
        OpenSession {
            intended_ns: t.session_intended_ns,
            turns: t.turns.max(1),
            last_end_ns: 0,
            slo_met: true,
            warmup,
        }
    }

    fn add_turn(&mut self, r: &RequestRecord, t: &TurnRef) {
        let acc = self
            .turns
            .entry(t.turn.min(MAX_TURN_ROWS))
            .or_insert_with(TurnAcc::new);
        acc.requests += 1;
        acc.think_ns += u128::from(t.think_ns);
        acc.cache.add(r, t, self.ollama);
        match slo_figures(r) {
            None => acc.failed += 1,
            Some(f) => {
                if let Some(v) = f.ttft_ns {
                    let _ = acc.ttft.record(us(v));
                }
                if let Some(v) = f.e2e_ns {
                    let _ = acc.e2e.record(us(v));
                }
            }
        }
    }

    fn close(&mut self, s: OpenSession, outcome: Outcome) {
        if s.warmup {
            return;
        }
        if let Some(samples) = self.samples.as_mut() {
            samples.push(JobSample {
                intended_ns: s.intended_ns,
                latency_ns: matches!(outcome, Outcome::Completed)
                    .then(|| s.last_end_ns.saturating_sub(s.intended_ns)),
                slo_met: s.slo_met,
            });
        }
        let sec = (s.last_end_ns / 1_000_000_000) as usize;
        if self.per_second.len() <= sec {
            self.per_second.resize(sec + 1, (0, 0));
        }
        match outcome {
            Outcome::Completed => {
                self.completed += 1;
                self.per_second[sec].0 += 1;
                let _ = self
                    .latency
                    .record(us(s.last_end_ns.saturating_sub(s.intended_ns)));
                if s.slo_met {
                    self.slo_met += 1;
                }
            }
            Outcome::Failed(reason) => {
                self.per_second[sec].1 += 1;
                *self.failed_by_reason.entry(reason).or_default() += 1;
            }
        }
    }

    /// The figures, or `None` when no record carried a [`TurnRef`] (a
    /// request-only run). Sessions still open are counted as failed
    /// ([`UNFINISHED`]).
    pub fn finish(mut self) -> Option<(JobsSummary, Histogram<u64>)> {
        if !self.saw_turn {
            return None;
        }
        self.close_open();
        let summary = self.summary();
        Some((summary, self.latency))
    }

    /// The measured jobs kept since [`JobsAnalyser::keep_samples`], in order of
    /// their sessions' intended starts (sessions still open count as failed, as
    /// in [`JobsAnalyser::finish`]); empty when samples were not kept.
    pub fn finish_samples(mut self) -> Vec<JobSample> {
        self.close_open();
        let mut samples = self.samples.take().unwrap_or_default();
        samples.sort_by_key(|s| s.intended_ns);
        samples
    }

    fn close_open(&mut self) {
        let mut open: Vec<OpenSession> = self.open.drain().map(|(_, s)| s).collect();
        open.sort_by_key(|s| s.intended_ns);
        for s in open {
            self.close(s, Outcome::Failed(UNFINISHED.to_string()));
        }
    }

    fn summary(&self) -> JobsSummary {
        let failed: u64 = self.failed_by_reason.values().sum();
        let jobs = self.completed + failed;
        let window_ns = self
            .first_intended
            .map_or(0, |f| self.last_seen.saturating_sub(f));
        let window_s = window_ns as f64 / 1e9;
        let per_hour = |n: u64| {
            if window_s > 0.0 {
                n as f64 / window_s * 3600.0
            } else {
                0.0
            }
        };
        let mut total = CacheAcc::default();
        for acc in self.turns.values() {
            total.merge(&acc.cache);
        }
        let (bucket_s, over_time) = self.series(window_s);
        JobsSummary {
            sessions: self.sessions,
            warmup_sessions: self.warmup_sessions,
            jobs,
            completed: self.completed,
            failed,
            failed_by_reason: self.failed_by_reason.clone(),
            unfinished: self.failed_by_reason.get(UNFINISHED).copied().unwrap_or(0),
            error_rate: rate(failed, jobs),
            window_s,
            jobs_per_hour: per_hour(self.completed),
            latency: Pcts::of_us(&self.latency),
            latency_failures_infinite: failures_infinite(&self.latency, failed),
            goodput: self.slo.as_ref().map(|slo| JobGoodput {
                slo: slo.to_string(),
                met: self.slo_met,
                fraction: rate(self.slo_met, jobs),
                per_hour: per_hour(self.slo_met),
            }),
            turns: self.turns.iter().map(|(k, acc)| acc.row(*k)).collect(),
            cache_total: total.reuse(),
            bucket_s,
            over_time,
            peak_open_sessions: self.peak_open as u64,
        }
    }

    /// Jobs finished per bucket: the longest bucket of [`SERIES_BUCKETS_S`] that
    /// gives at least [`MIN_SERIES_POINTS`] points over the window (else 1 s).
    fn series(&self, window_s: f64) -> (u64, Vec<JobsBucket>) {
        let bucket_s = SERIES_BUCKETS_S
            .iter()
            .copied()
            .find(|b| window_s / *b as f64 >= MIN_SERIES_POINTS as f64)
            .unwrap_or(1);
        let mut out: Vec<JobsBucket> = Vec::new();
        for (sec, (ok, failed)) in self.per_second.iter().enumerate() {
            let i = sec / bucket_s as usize;
            while out.len() <= i {
                let t = out.len() as u64 * bucket_s;
                out.push(JobsBucket {
                    t,
                    ..JobsBucket::default()
                });
            }
            out[i].completed += ok;
            out[i].failed += failed;
        }
        (bucket_s, out)
    }
}
