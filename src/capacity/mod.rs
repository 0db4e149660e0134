//! Capacity under an SLO, with a confidence interval: the highest rate whose SLO
//! percentiles' upper 95 % bounds (batch means, the standard error floored by the
//! exceedances' autocorrelation time) stay within their limits, and the
//! lowest rate where a lower bound exceeds one (or the queue grew without bound),
//! found by probing rates with the load engine.
//!
//! ```text
//! slo       p99:ttft<=2s,…  → targets; requests a probe needs       slo.rs
//! search    which rate next; when is it bracketed (pure)             search.rs
//! stats     percentile intervals (failures = ∞); overload test      stats.rs
//! probe     one open-loop load run per rate (records, report), its
//!           verdict from its records; stopped early when overloaded  this file
//! output    capacity.json / .md / index.html                         output.rs
//! ```
//!
//! Every probe is a normal load run in `OUT/probes/NN-RATE/`; the capacity report
//! is computed from their records.
//!
//! With an [`AgentProbe`] (`--workload agent`) each probe is an open loop of agent
//! sessions at a session rate, the search's axis is sessions/s, a `job` target
//! bounds a percentile of job latency (session intended start → last turn's end,
//! failed or unfinished jobs ∞, from [`JobsAnalyser`]), per-turn targets keep
//! meaning per request, and overload is judged on the turns in flight (each is a
//! session waiting on the server).

pub mod output;
pub mod search;
pub mod slo;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::Serialize;

pub use search::{Axis, Bracket, Outcome, Search, SearchPlan, Step, Verdict};
pub use slo::{CapacitySlo, Metric, Target};
pub use stats::Interval;

use crate::client::{LlmClient, PreparedCall, RequestSettings, ServerInfo, Timeouts};
use crate::load::jobs::JobSample;
use crate::load::record::{read_header, scan_load_file, AgentPlanInfo, ScheduleInfo};
use crate::load::schedule::schedule_hash;
use crate::load::session_engine::{SessionMode, Workload, FOLLOW_UP_RULE};
use crate::load::slo::SloMetric;
use crate::load::think::Think;
use crate::load::{
    run_load, Arrival, Extent, JobsAnalyser, LoadError, LoadPlanInfo, LoadSpec, Mode, OpenSchedule,
    PromptInfo, SessionPlan, Watch,
};
use crate::metrics::CallMetrics;
use crate::record::Backend;

/// Confidence of the intervals.
pub const CONFIDENCE: f64 = 0.95;
/// Warm-up requests added to each probe, as a fraction of its measured requests:
/// a probe starts with an empty queue, and until the queue has filled its latencies
/// are lower than the rate's steady state (a pass biased towards rates beyond the
/// capacity). Half the measured requests, sent first and excluded from every
/// statistic: in simulation of the capacity stub's queue (64 slots of 200 ms,
/// Poisson arrivals, 400 requests a probe, batch-means verdicts), searches with a
/// tenth as warm-up were confidently wrong in 44 of 100, with half in 19 of 100.
pub const WARMUP_FRACTION: f64 = 0.5;

/// Makes a fresh client (its own connection pool) for each probe.
#[derive(Debug, Clone)]
pub struct ClientFactory {
    /// Base URL.
    pub url: String,
    /// Per-request limits.
    pub timeouts: Timeouts,
    /// Wire protocol.
    pub protocol: crate::client::Protocol,
}

impl ClientFactory {
    /// A new client.
    pub fn make(&self) -> Result<LlmClient, crate::client::ClientBuildError> {
        Ok(LlmClient::new(&self.url, self.timeouts)?.with_protocol(self.protocol))
    }
}

/// Agent sessions as each probe's load (`--workload agent`): an open loop of
/// sessions at the probe's session rate.
#[derive(Debug, Clone)]
pub struct AgentProbe {
    /// `chat` or `workflow`.
    pub session: String,
    /// What sessions are made of (its turns per session).
    pub workload: Workload,
    /// Tool time between turns.
    pub think: Think,
}

/// A capacity search, fully specified.
#[derive(Debug, Clone)]
pub struct CapacitySpec {
    /// Makes a fresh client (one connection pool) for each probe.
    pub client: ClientFactory,
    /// The prompts, used in turn.
    pub prompts: Vec<(PromptInfo, PreparedCall)>,
    /// The server measured.
    pub backend: Backend,
    /// What it said about itself.
    pub server: ServerInfo,
    /// The model.
    pub model: String,
    /// Options sent.
    pub settings: RequestSettings,
    /// The SLO.
    pub slo: CapacitySlo,
    /// The search's range and budget.
    pub plan: SearchPlan,
    /// Measured requests per probe (agent sessions: measured sessions), at least
    /// the SLO's minimum.
    pub requests: u64,
    /// Agent sessions instead of single requests (`None`: requests).
    pub agent: Option<AgentProbe>,
    /// Arrival process of every probe.
    pub arrival: Arrival,
    /// Seed: probe `i` uses `seed + i` for its schedule.
    pub seed: u64,
    /// The load engine's lag bound (a probe beyond it is client-limited).
    pub max_lag_ns: u64,
    /// How each probe's percentile intervals are computed.
    pub interval: Interval,
}

/// One target's percentile at one probe, ms (∞ when failures reach it).
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    /// The target, as written.
    pub target: String,
    /// Its limit, ms.
    pub limit_ms: f64,
    /// Samples (measured requests, or jobs for a `job` target; failures count as ∞).
    pub n: usize,
    /// The percentile.
    pub estimate_ms: Option<f64>,
    /// Lower bound of its 95 % interval (`None`: ∞, or no samples).
    pub lower_ms: Option<f64>,
    /// Upper bound (`None`: ∞, or no samples).
    pub upper_ms: Option<f64>,
    /// Whether the probe's later half alone also keeps the upper bound within the
    /// limit (a pass needs it: a queue still filling fails it).
    pub later_half_within: bool,
    /// Samples a probe at this load would need for the correlated interval to
    /// decide about the limit, if the fraction within it and the exceedances'
    /// autocorrelation time stayed as measured ([`stats::requests_to_decide`]; a
    /// planning figure). `None` when the fraction within the limit is exactly q.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_to_decide: Option<u64>,
}

impl TargetResult {
    /// Whether this target alone passes: its upper bound within the limit over
    /// the whole probe and its later half.
    pub fn passes(&self) -> bool {
        self.later_half_within && self.upper_ms.is_some_and(|u| u <= self.limit_ms)
    }

    /// Whether this target alone fails: it has samples and its lower bound is
    /// beyond the limit (or infinite).
    pub fn fails(&self) -> bool {
        self.n > 0 && self.lower_ms.is_none_or(|l| l > self.limit_ms)
    }
}

/// One probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    /// 1-based.
    pub index: usize,
    /// The load offered, in the report's `unit`: a rate (req/s; agent workloads:
    /// sessions/s), or a concurrency (requests, or sessions, in flight).
    pub load: f64,
    /// A second look at an inconclusive load.
    pub repeat: bool,
    /// Requests in the schedule, warm-up included (agent workloads: sessions).
    pub requests: u64,
    /// Requests measured (warm-up excluded), ok or failed (agent workloads: jobs).
    pub measured: u64,
    /// Of those, failed (agent workloads: failed or unfinished jobs).
    pub failed: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// Per target.
    pub targets: Vec<TargetResult>,
    /// Goodput fraction (every target's metric within its limit, per request;
    /// agent workloads: per job, the job's latency within every `job` limit and
    /// every turn within every per-turn limit; failures are misses).
    pub goodput: Option<f64>,
    /// Completed requests per second (agent workloads: completed jobs).
    pub ok_rate: f64,
    /// How the probe ended: `completed`, or why it stopped early.
    pub ended: String,
    /// Inconclusive probes: measured requests (agent workloads: sessions) a probe
    /// at this load would need to decide every undecided target, by
    /// [`TargetResult::requests_to_decide`]; sizes the repeat ([`repeat_requests`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_to_decide: Option<u64>,
    /// The probe's output folder.
    pub out_dir: PathBuf,
}

/// The capacity search's result.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// The SLO, as given.
    pub slo: String,
    /// `requests` or `agent`.
    pub workload: String,
    /// What the search varied: `rate` (open loops) or `concurrency` (closed
    /// loops).
    pub axis: Axis,
    /// The loads' unit: `req/s` or `sessions/s` (rate), `concurrent requests` or
    /// `concurrent sessions` (concurrency).
    pub unit: String,
    /// What a probe counts: `requests`, or `sessions`.
    pub counted: String,
    /// Agent workloads: the sessions probed, in words (kind, turns, think).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<String>,
    /// Range (in `unit`), budget and tolerance.
    pub min: f64,
    /// See `min`.
    pub max: f64,
    /// Probes allowed.
    pub max_probes: usize,
    /// ± fraction asked for.
    pub tolerance: f64,
    /// Measured requests (agent workloads: sessions) per probe, and how that
    /// was chosen.
    pub requests_per_probe: u64,
    /// Why that many.
    pub requests_why: String,
    /// The probes, in order.
    pub probes: Vec<ProbeResult>,
    /// Where the capacity lies.
    pub bracket: Bracket,
    /// How the search ended.
    pub outcome: Outcome,
    /// Geometric centre of the bracket, in `unit` (a fraction on the concurrency
    /// axis too: the capacity is the bracket's `pass`).
    pub estimate: Option<f64>,
    /// Half-width of the bracket relative to its centre.
    pub half_width: Option<f64>,
    /// Requests (agent workloads: sessions) sent over all probes.
    pub requests_spent: u64,
    /// How the probes' percentile intervals were computed.
    pub interval: Interval,
    /// Seconds the search took.
    pub wall_s: f64,
}

impl CapacityReport {
    /// One line: what was found.
    pub fn headline(&self) -> String {
        let b = &self.bracket;
        let u = &self.unit;
        let n = |v: f64| self.axis.format(v);
        let tail = format!(
            "{} probes, {} {}, {:.0} s",
            self.probes.len(),
            self.requests_spent,
            self.counted,
            self.wall_s
        );
        match (&self.outcome, b.pass, b.fail) {
            (Outcome::BelowRange, _, Some(f)) => format!(
                "capacity below the range: even {} {u} failed {} ({tail})",
                n(f),
                self.slo
            ),
            (Outcome::AboveRange, Some(p), _) => format!(
                "capacity above the range: {} {u} still met {} ({tail})",
                n(p),
                self.slo
            ),
            (_, Some(lo), Some(hi)) if self.axis == Axis::Concurrency && hi - lo <= 1.0 => {
                let at = self
                    .probes
                    .iter()
                    .rev()
                    .find(|p| p.load == lo && p.verdict.passes())
                    .map_or(String::new(), |p| {
                        format!("; {:.2} completed {}/s there", p.ok_rate, self.counted)
                    });
                format!(
                    "capacity {} {u}: {} met {} and {} did not{at} ({tail})",
                    n(lo),
                    n(lo),
                    self.slo,
                    n(hi)
                )
            }
            (o, Some(lo), Some(hi)) => format!(
                "capacity between {} and {} {u} (≈ {:.2} ± {:.1} %) under {}{} ({tail})",
                n(lo),
                n(hi),
                (lo * hi).sqrt(),
                100.0 * (hi - lo) / (hi + lo),
                self.slo,
                if *o == Outcome::Narrowed {
                    String::new()
                } else {
                    format!(
                        "; NOT narrowed to ± {:.0} % within the budget",
                        self.tolerance * 100.0
                    )
                }
            ),
            _ => format!("no {} could be judged ({tail})", self.axis.name()),
        }
    }

    /// When the search did not narrow: the loads left undecided inside the
    /// bracket (or, without one, every inconclusive load) and how many measured
    /// requests their last probe's data asked for to decide there
    /// ([`ProbeResult::requests_to_decide`]), as advice for a rerun. `None` when
    /// narrowed or nothing was asked.
    pub fn advice(&self) -> Option<String> {
        if self.outcome == Outcome::Narrowed {
            return None;
        }
        let mut asked: Vec<(f64, u64)> = Vec::new();
        for p in self.probes.iter().rev() {
            if let (Some(need), true) = (p.requests_to_decide, self.bracket.open_at(p.load)) {
                if !asked.iter().any(|(load, _)| *load == p.load) {
                    asked.push((p.load, need));
                }
            }
        }
        if asked.is_empty() {
            return None;
        }
        asked.sort_by(|a, b| a.0.total_cmp(&b.0));
        let each: Vec<String> = asked
            .iter()
            .map(|(load, need)| format!("{} {}: ≈ {need}", self.axis.format(*load), self.unit))
            .collect();
        let most = asked.iter().map(|(_, n)| *n).max().unwrap_or(0);
        Some(format!(
            "Undecided: measured {} that the inconclusive probes' data ask for to decide ({}); \
             a rerun with --probe-requests {most} would decide there if the server behaves as measured.",
            self.counted,
            each.join("; ")
        ))
    }
}

/// A capacity search failed.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// A probe's load run failed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A probe was client-limited: the search would measure agentbench.
    #[error("probe {index} at {} {load} was CLIENT-LIMITED ({why}); the capacity found would be agentbench's, not the server's — lower --max-{} or use a faster client host", axis.name(), axis.name())]
    ClientLimited {
        /// Probe number.
        index: usize,
        /// What the search varied.
        axis: Axis,
        /// Its load.
        load: f64,
        /// Why.
        why: String,
        /// The report up to and including that probe.
        partial: Box<CapacityReport>,
    },
    /// Reading a probe's records failed.
    #[error(transparent)]
    Read(#[from] crate::load::record::LoadReadError),
    /// Writing the report failed.
    #[error(transparent)]
    Output(#[from] output::OutputError),
}

/// The per-request SLO equivalent of the per-request targets, for each probe's
/// goodput: per metric, its strictest limit (`job` targets are left out: the
/// load runs' SLO grammar is per request). Empty when there is none.
pub fn request_slo(slo: &CapacitySlo) -> String {
    let mut parts: Vec<(SloMetric, u64)> = Vec::new();
    for t in &slo.targets {
        let Metric::Request(metric) = t.metric else {
            continue;
        };
        match parts.iter_mut().find(|(m, _)| *m == metric) {
            Some((_, l)) => *l = (*l).min(t.limit_ns),
            None => parts.push((metric, t.limit_ns)),
        }
    }
    parts
        .iter()
        .map(|(m, l)| format!("{}={}", m.name(), crate::load::slo::format_duration_ns(*l)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs the search, one load run per probe under `out_dir/probes/`, then writes
/// `capacity.json`, `capacity.md` and `index.html` into `out_dir`. `on_probe` is
/// called after each probe.
pub fn run_capacity(
    spec: &CapacitySpec,
    out_dir: &Path,
    mut on_probe: impl FnMut(&ProbeResult),
) -> Result<CapacityReport, CapacityError> {
    let started = std::time::Instant::now();
    let mut search = Search::new(spec.plan);
    let (workload, counted) = if spec.agent.is_some() {
        ("agent", "sessions")
    } else {
        ("requests", "requests")
    };
    let unit = spec.plan.axis.unit(spec.agent.is_some()).to_string();
    let mut report = CapacityReport {
        slo: spec.slo.to_string(),
        workload: workload.into(),
        axis: spec.plan.axis,
        unit,
        counted: counted.into(),
        sessions: spec.agent.as_ref().map(|a| {
            format!(
                "{} sessions of {} turns, think {}, {}",
                a.session,
                a.workload.turns(),
                a.think,
                match spec.plan.axis {
                    Axis::Rate => "open loop",
                    Axis::Concurrency => "closed loop",
                }
            )
        }),
        min: spec.plan.min,
        max: spec.plan.max,
        max_probes: spec.plan.max_probes,
        tolerance: spec.plan.tolerance,
        requests_per_probe: spec.requests,
        requests_why: match &spec.agent {
            None => format!(
                "at least {} = ⌈{} / (1 − q)⌉ for the highest percentile, so that {} samples lie beyond it",
                spec.slo.min_requests(),
                slo::TAIL_SAMPLES,
                slo::TAIL_SAMPLES
            ),
            Some(a) => {
                let turns = a.workload.turns();
                let each: Vec<String> = spec
                    .slo
                    .targets
                    .iter()
                    .map(|t| match t.metric {
                        Metric::Job => format!("{t}: {} jobs", t.min_requests()),
                        Metric::Request(_) => format!(
                            "{t}: {} turns = {} sessions of {turns}",
                            t.min_requests(),
                            t.min_requests().div_ceil(u64::from(turns.max(1)))
                        ),
                    })
                    .collect();
                format!(
                    "at least {} sessions, so that {} samples lie beyond each percentile, ⌈{} / (1 − q)⌉ ({})",
                    spec.slo.min_sessions(turns),
                    slo::TAIL_SAMPLES,
                    slo::TAIL_SAMPLES,
                    each.join("; ")
                )
            }
        },
        probes: Vec::new(),
        bracket: Bracket::default(),
        outcome: Outcome::NotNarrowed,
        estimate: None,
        half_width: None,
        requests_spent: 0,
        interval: spec.interval,
        wall_s: 0.0,
    };
    while let Step::Probe { load, repeat } = search.next() {
        let index = report.probes.len() + 1;
        let measured = if repeat {
            let need = report.probes.last().and_then(|p| p.requests_to_decide);
            repeat_requests(spec.requests, need)
        } else {
            spec.requests
        };
        let (probe, why_limited) = run_probe(spec, out_dir, index, load, repeat, measured)?;
        search.record(load, probe.verdict, repeat);
        report.requests_spent += probe.requests;
        on_probe(&probe);
        report.probes.push(probe);
        if let Some(why) = why_limited {
            finish(&mut report, &search, started);
            output::write_report(&report, out_dir)?;
            return Err(CapacityError::ClientLimited {
                index,
                axis: spec.plan.axis,
                load,
                why,
                partial: Box::new(report),
            });
        }
    }
    finish(&mut report, &search, started);
    output::write_report(&report, out_dir)?;
    Ok(report)
}

fn finish(report: &mut CapacityReport, search: &Search, started: std::time::Instant) {
    report.bracket = search.bracket.clone();
    report.outcome = search.outcome();
    if let (Some(lo), Some(hi)) = (report.bracket.pass, report.bracket.fail) {
        report.estimate = Some((lo * hi).sqrt());
        report.half_width = Some((hi - lo) / (hi + lo));
    }
    report.wall_s = started.elapsed().as_secs_f64();
}

/// A repeat measures at least this many times a probe's requests…
pub const REPEAT_MIN: u64 = 2;
/// …and at most this many.
pub const REPEAT_MAX: u64 = 8;

/// Measured requests of the repeat of an inconclusive probe of `requests`: what the
/// probe's data asked for (`need`, [`ProbeResult::requests_to_decide`]), within
/// [`REPEAT_MIN`] and [`REPEAT_MAX`] times `requests` ([`REPEAT_MAX`] times when
/// nothing was asked: a fraction exactly at the quantile).
pub fn repeat_requests(requests: u64, need: Option<u64>) -> u64 {
    let lo = requests.saturating_mul(REPEAT_MIN);
    let hi = requests.saturating_mul(REPEAT_MAX);
    need.unwrap_or(hi).clamp(lo, hi)
}

/// The largest [`TargetResult::requests_to_decide`] among the targets that
/// neither pass nor fail, in the probe's own count: per-turn targets of agent
/// workloads count turns, a probe counts sessions.
fn undecided_need(spec: &CapacitySpec, targets: &[TargetResult]) -> Option<u64> {
    let turns = spec
        .agent
        .as_ref()
        .map_or(1, |a| u64::from(a.workload.turns().max(1)));
    spec.slo
        .targets
        .iter()
        .zip(targets)
        .filter(|(_, r)| !r.passes() && !r.fails())
        .map(|(t, r)| {
            let need = r.requests_to_decide?;
            Some(match t.metric {
                Metric::Request(_) => need.div_ceil(turns),
                Metric::Job => need,
            })
        })
        .try_fold(0u64, |acc, n| n.map(|n| acc.max(n)))
}

/// What one probe offers: the engine's mode, the plan recorded in its header,
/// the requests (agent workloads: sessions) it starts, and the arrival rate of
/// work the overload test compares completions with (`None` for a closed loop,
/// whose work in flight is bounded by its concurrency).
struct Offered {
    mode: Mode,
    plan: LoadPlanInfo,
    scheduled: u64,
    overload_rate: Option<f64>,
}

/// An open loop at `rate` (agent workloads: sessions/s) on the seeded schedule of
/// `warm + measured` arrivals; the first `warm` are warm-up.
fn open_probe(spec: &CapacitySpec, rate: f64, seed: u64, warm: u64, measured: u64) -> Offered {
    let schedule = OpenSchedule {
        rate,
        arrival: spec.arrival,
        seed,
        extent: Extent::Requests(measured + warm),
    };
    let intended = schedule.intended();
    let warmup_ns = intended.get(warm as usize).copied().unwrap_or(0);
    let mut plan = probe_plan(spec, seed, warm + measured);
    plan.mode = "open".into();
    plan.rate = spec.agent.is_none().then_some(rate);
    plan.arrival = Some(spec.arrival.to_string());
    plan.warmup_ns = warmup_ns;
    plan.schedule = Some(ScheduleInfo {
        count: intended.len() as u64,
        sha256: schedule_hash(&intended),
    });
    if let Some(a) = plan.agent.as_mut() {
        a.session_rate = Some(rate);
    }
    let scheduled = intended.len() as u64;
    let mode = match &spec.agent {
        None => Mode::Open {
            intended: Arc::new(intended),
            seqs: None,
            max_concurrency: None,
        },
        Some(a) => Mode::Sessions(Box::new(SessionPlan {
            workload: a.workload.clone(),
            think: a.think,
            seed,
            mode: SessionMode::Open {
                arrivals: Arc::new(intended),
                max_concurrency: None,
            },
            shard: None,
        })),
    };
    // Sessions: each turn in flight is a session waiting on the server, and turns
    // are offered at about `turns` per session.
    let turns = spec.agent.as_ref().map_or(1, |a| a.workload.turns());
    Offered {
        mode,
        plan,
        scheduled,
        overload_rate: Some(rate * f64::from(turns)),
    }
}

/// A closed loop of `concurrency` workers (agent workloads: session slots, each
/// holding its slot through tool time) sending `warm + measured` requests
/// (sessions) back to back; the first `warm` are warm-up.
fn closed_probe(
    spec: &CapacitySpec,
    concurrency: u32,
    seed: u64,
    warm: u64,
    measured: u64,
) -> Offered {
    let total = warm + measured;
    let mut plan = probe_plan(spec, seed, total);
    plan.mode = "closed".into();
    plan.concurrency = spec.agent.is_none().then_some(concurrency);
    plan.warmup_first = warm;
    if let Some(a) = plan.agent.as_mut() {
        a.sessions = Some(concurrency);
    }
    let mode = match &spec.agent {
        None => Mode::Closed {
            concurrency,
            think_ns: 0,
            requests: Some(total),
            duration_ns: None,
            shard: None,
        },
        Some(a) => Mode::Sessions(Box::new(SessionPlan {
            workload: a.workload.clone(),
            think: a.think,
            seed,
            mode: SessionMode::Closed {
                slots: concurrency,
                duration_ns: None,
                jobs: Some(total),
            },
            shard: None,
        })),
    };
    Offered {
        mode,
        plan,
        scheduled: total,
        overload_rate: None,
    }
}

/// The plan fields every probe shares; the open and closed probes fill in how
/// load is offered.
fn probe_plan(spec: &CapacitySpec, seed: u64, total: u64) -> LoadPlanInfo {
    let slo = request_slo(&spec.slo);
    LoadPlanInfo {
        mode: String::new(),
        concurrency: None,
        think_ns: 0,
        rate: None,
        arrival: None,
        max_concurrency: None,
        seed,
        requests: spec.agent.is_none().then_some(total),
        duration_ns: None,
        warmup_ns: 0,
        warmup_first: 0,
        schedule: None,
        slo: (!slo.is_empty()).then_some(slo),
        max_lag_ns: spec.max_lag_ns,
        shard: None,
        shards: Vec::new(),
        agent: spec.agent.as_ref().map(|a| AgentPlanInfo {
            workload: "agent".into(),
            session: a.session.clone(),
            turns: a.workload.turns(),
            think: a.think.to_string(),
            sessions: None,
            session_rate: None,
            jobs: Some(total),
            follow_up: matches!(a.workload, Workload::Chat { .. })
                .then(|| FOLLOW_UP_RULE.to_string()),
            trace: None,
        }),
    }
}

/// One probe: a load run at `load` on the search's axis (an open loop at a rate,
/// or a closed loop at a concurrency; agent workloads: of sessions), then its
/// verdict from its records. Returns the client-limited reasons as the second
/// value when the client did not keep up.
fn run_probe(
    spec: &CapacitySpec,
    out_dir: &Path,
    index: usize,
    load: f64,
    repeat: bool,
    measured: u64,
) -> Result<(ProbeResult, Option<String>), CapacityError> {
    let warm = ((measured as f64) * WARMUP_FRACTION).ceil() as u64;
    let seed = spec.seed.wrapping_add(index as u64);
    let (offered, name) = match spec.plan.axis {
        Axis::Rate => {
            let unit = if spec.agent.is_some() { "sps" } else { "rps" };
            (
                open_probe(spec, load, seed, warm, measured),
                format!("{index:02}-{load:.3}{unit}"),
            )
        }
        Axis::Concurrency => (
            closed_probe(spec, load as u32, seed, warm, measured),
            format!("{index:02}-{load:.0}-concurrent"),
        ),
    };
    let dir = out_dir.join("probes").join(name);
    let Offered {
        mode,
        plan,
        scheduled,
        overload_rate,
    } = offered;
    let run = LoadSpec {
        client: spec.client.make().map_err(|e| {
            LoadError::Engine(std::io::Error::other(format!(
                "cannot build the client: {e}"
            )))
        })?,
        prompts: spec.prompts.clone(),
        mode,
        plan,
        backend: spec.backend.clone(),
        server: spec.server.clone(),
        model: spec.model.clone(),
        settings: spec.settings.clone(),
    };
    let mut overload = overload_rate.map(stats::OverloadTest::new);
    let outcome = run_load(run, &dir, |p, elapsed| {
        let Some(overload) = overload.as_mut() else {
            return Watch::Continue;
        };
        let why = overload.observe(
            elapsed.as_secs_f64(),
            p.in_flight.load(Ordering::Relaxed),
            p.sent.load(Ordering::Relaxed),
            p.done.load(Ordering::Relaxed),
        );
        why.map_or(Watch::Continue, Watch::Stop)
    })?;
    let s = &outcome.analysis.summary;
    let overloaded = s
        .stopped_early
        .as_deref()
        .filter(|w| w.starts_with("overloaded"))
        .map(str::to_string);
    let jobs = if spec.agent.is_some() {
        Some(job_samples(&outcome.records)?)
    } else {
        None
    };
    let targets = target_results(spec, &outcome.records, jobs.as_deref())?;
    let verdict = if overloaded.is_some() {
        Verdict::Overloaded
    } else if targets.iter().all(TargetResult::passes) {
        Verdict::Pass
    } else if targets.iter().any(TargetResult::fails) {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    };
    let requests_to_decide = (verdict == Verdict::Inconclusive)
        .then(|| undecided_need(spec, &targets))
        .flatten();
    // An overloaded probe stands whatever the client's pace: overload is judged
    // from what was sent against what completed, so the server fell behind even
    // the rate the client managed.
    let why_limited =
        (s.client.client_limited && overloaded.is_none()).then(|| s.client.reasons.join("; "));
    let (requests, measured, failed, goodput, ok_rate) = match &jobs {
        None => (
            s.requests,
            s.measured,
            s.failed,
            s.goodput.as_ref().map(|g| g.fraction),
            s.ok_rate,
        ),
        Some(jobs) => {
            let job_limit = spec
                .slo
                .targets
                .iter()
                .filter(|t| t.metric == Metric::Job)
                .map(|t| t.limit_ns)
                .min();
            let met = jobs
                .iter()
                .filter(|j| {
                    j.slo_met
                        && j.latency_ns
                            .is_some_and(|l| job_limit.is_none_or(|limit| l <= limit))
                })
                .count();
            let window_s = s.sessions.as_ref().map_or(0.0, |j| j.window_s);
            let completed = jobs.iter().filter(|j| j.latency_ns.is_some()).count();
            (
                scheduled,
                jobs.len() as u64,
                (jobs.len() - completed) as u64,
                (!jobs.is_empty()).then(|| met as f64 / jobs.len() as f64),
                if window_s > 0.0 {
                    completed as f64 / window_s
                } else {
                    0.0
                },
            )
        }
    };
    let probe = ProbeResult {
        index,
        load,
        repeat,
        requests,
        measured,
        failed,
        verdict,
        targets,
        goodput,
        ok_rate,
        ended: overloaded.unwrap_or_else(|| "completed".into()),
        requests_to_decide,
        out_dir: dir,
    };
    Ok((probe, why_limited))
}

/// The measured jobs of a probe's records, in order of their sessions' intended
/// starts (assembled by [`JobsAnalyser`], the load report's own job analysis).
fn job_samples(records: &Path) -> Result<Vec<JobSample>, CapacityError> {
    let header =
        read_header(records).ok_or_else(|| crate::load::record::LoadReadError::NotLoad {
            path: records.to_path_buf(),
            why: "no load header".into(),
        })?;
    let mut jobs = JobsAnalyser::new(&header).keep_samples();
    scan_load_file(records, |r| jobs.add(&r))?;
    Ok(jobs.finish_samples())
}

/// Each target's percentile and interval from a probe's records (measured requests
/// only; a failed request is ∞; TPOT only where defined) and, for `job` targets,
/// its measured jobs (a failed or unfinished job is ∞).
fn target_results(
    spec: &CapacitySpec,
    records: &Path,
    jobs: Option<&[JobSample]>,
) -> Result<Vec<TargetResult>, CapacityError> {
    let metrics: Vec<Metric> = spec.slo.targets.iter().map(|t| t.metric).collect();
    // (intended send, value) per target: the batches keep arrival order.
    let mut samples: Vec<Vec<(u64, f64)>> = vec![Vec::new(); metrics.len()];
    scan_load_file(records, |r| {
        if r.warmup {
            return;
        }
        let behind = r.behind_ns() as f64 / 1e6;
        let m = CallMetrics::new(&r.call);
        for (k, metric) in metrics.iter().enumerate() {
            let Metric::Request(metric) = metric else {
                continue; // from the jobs, below
            };
            let v = if !r.call.is_ok() {
                Some(f64::INFINITY)
            } else {
                match metric {
                    SloMetric::Ttft => m.ttft().map(|d| behind + d.as_secs_f64() * 1e3),
                    SloMetric::E2e => m.e2e().map(|d| behind + d.as_secs_f64() * 1e3),
                    SloMetric::Tpot => m.tpot().map(|d| d.as_secs_f64() * 1e3),
                }
            };
            if let Some(v) = v {
                samples[k].push((r.intended_ns, v));
            }
        }
    })?;
    // Jobs: one sample each, failed or unfinished ∞, in intended-start order.
    for (k, metric) in metrics.iter().enumerate() {
        if *metric == Metric::Job {
            samples[k] = jobs
                .unwrap_or_default()
                .iter()
                .map(|j| {
                    let v = j.latency_ns.map_or(f64::INFINITY, |l| l as f64 / 1e6);
                    (j.intended_ns, v)
                })
                .collect();
        }
    }
    let samples: Vec<Vec<f64>> = samples
        .into_iter()
        .map(|mut s| {
            s.sort_by_key(|(t, _)| *t);
            s.into_iter().map(|(_, v)| v).collect()
        })
        .collect();
    let finite = |v: f64| v.is_finite().then_some(v);
    Ok(spec
        .slo
        .targets
        .iter()
        .zip(samples)
        .map(|(t, s)| {
            let limit_ms = t.limit_ns as f64 / 1e6;
            let ci = spec.interval.ci(&s, t.quantile, CONFIDENCE);
            let later_half_within = spec
                .interval
                .later_half_within(&s, t.quantile, CONFIDENCE, limit_ms);
            TargetResult {
                target: t.to_string(),
                limit_ms,
                n: s.len(),
                estimate_ms: ci.and_then(|c| finite(c.estimate)),
                lower_ms: ci.and_then(|c| finite(c.lower)),
                upper_ms: ci.and_then(|c| finite(c.upper)),
                later_half_within,
                requests_to_decide: stats::requests_to_decide(&s, t.quantile, CONFIDENCE, limit_ms),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(index: usize, load: f64, verdict: Verdict, need: Option<u64>) -> ProbeResult {
        ProbeResult {
            index,
            load,
            repeat: false,
            requests: 600,
            measured: 400,
            failed: 0,
            verdict,
            targets: Vec::new(),
            goodput: None,
            ok_rate: load,
            ended: "completed".into(),
            requests_to_decide: need,
            out_dir: PathBuf::new(),
        }
    }

    fn report(probes: Vec<ProbeResult>, bracket: Bracket, outcome: Outcome) -> CapacityReport {
        CapacityReport {
            slo: "p95:ttft<=55ms".into(),
            workload: "requests".into(),
            axis: Axis::Rate,
            unit: "req/s".into(),
            counted: "requests".into(),
            sessions: None,
            min: 100.0,
            max: 400.0,
            max_probes: 12,
            tolerance: 0.1,
            requests_per_probe: 400,
            requests_why: String::new(),
            probes,
            bracket,
            outcome,
            estimate: None,
            half_width: None,
            requests_spent: 0,
            interval: Interval::Correlated,
            wall_s: 0.0,
        }
    }

    /// The advice names the undecided loads inside the bracket with what their
    /// last probes asked for, and the largest as the rerun's --probe-requests.
    #[test]
    fn an_unnarrowed_search_says_how_many_requests_would_decide() {
        let probes = vec![
            probe(1, 100.0, Verdict::Pass, None),
            probe(2, 400.0, Verdict::Fail, None),
            probe(3, 200.0, Verdict::Inconclusive, Some(900)),
            probe(4, 200.0, Verdict::Inconclusive, Some(5210)),
            probe(5, 300.0, Verdict::Inconclusive, Some(2000)),
            // Outside the final bracket [100, 400]: says nothing any more.
            probe(6, 450.0, Verdict::Inconclusive, Some(99_999)),
        ];
        let bracket = Bracket {
            pass: Some(100.0),
            fail: Some(400.0),
            inconclusive: vec![200.0, 300.0],
        };
        let r = report(probes.clone(), bracket.clone(), Outcome::NotNarrowed);
        let advice = r.advice().unwrap();
        assert!(advice.contains("200.00 req/s: ≈ 5210"), "{advice}");
        assert!(advice.contains("300.00 req/s: ≈ 2000"), "{advice}");
        assert!(
            !advice.contains("900") && !advice.contains("99999"),
            "{advice}"
        );
        assert!(advice.contains("--probe-requests 5210"), "{advice}");
        assert_eq!(report(probes, bracket, Outcome::Narrowed).advice(), None);
    }

    #[test]
    fn a_repeat_measures_what_was_asked_within_two_and_eight_times() {
        assert_eq!(repeat_requests(400, Some(100)), 800);
        assert_eq!(repeat_requests(400, Some(1234)), 1234);
        assert_eq!(repeat_requests(400, Some(1_000_000)), 3200);
        // Nothing asked: the fraction sat exactly at q, so the most.
        assert_eq!(repeat_requests(400, None), 3200);
        assert_eq!(repeat_requests(u64::MAX, Some(1)), u64::MAX);
    }
}
