//! Records → figures: everything a load run reports is computed here from the
//! record file, in one streaming pass (memory is fixed-size histograms plus one
//! row per second, however many requests there were).
//!
//! Latency is measured from the intended send by default (what a waiting user
//! sees); service time (from the actual send) and scheduler lag sit beside it.
//! Failed requests count in every rate, in the error rate and in goodput's
//! denominator; they are never latency samples, and a second set of percentiles
//! treats them as infinitely slow.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::jobs::{JobsAnalyser, JobsSummary};
use super::record::{scan_load_file, LoadHeader, LoadReadError, RequestRecord, RunEnd};
use super::slo::{Slo, SloFigures};
use crate::metrics::hdr::new_histogram;
use crate::metrics::CallMetrics;

/// Above this fraction of the run's wall time on CPU, the measuring thread is
/// taken as saturated.
pub const CPU_SATURATED: f64 = 0.90;

/// The achieved send rate must be at least this fraction of the target.
pub const MIN_RATE_RATIO: f64 = 0.99;

/// Percentiles of one quantity, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Pcts {
    /// Samples.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Pcts {
    /// From a histogram in microseconds (HDR precision, 3 significant digits).
    pub fn of_us(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Pcts::default();
        }
        let ms = |v: u64| v as f64 / 1e3;
        Pcts {
            n: h.len(),
            mean: h.mean() / 1e3,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// A latency seen from the intended send and from the actual send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TwoViews {
    /// From the intended send (default view: what the user waited).
    pub from_intended: Pcts,
    /// From the actual send (service time).
    pub service: Pcts,
}

/// Percentiles over every measured request where a failed one counts as
/// infinitely slow: `None` means the percentile falls among the failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FailuresAsInfinite {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// Goodput under the run's SLO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Goodput {
    /// The SLO, as given.
    pub slo: String,
    /// Measured requests that met every bound.
    pub met: u64,
    /// met / measured requests (failures are misses).
    pub fraction: f64,
    /// met per second of the measured window.
    pub rate_per_s: f64,
}

/// Whether the client kept up, with the numbers behind the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientCheck {
    /// True when any reason below applies: the figures describe agentbench, not
    /// the server.
    pub client_limited: bool,
    /// Why, in words (empty when the client kept up).
    pub reasons: Vec<String>,
    /// p99 of the scheduler lag of measured requests, ms.
    pub lag_p99_ms: f64,
    /// The bound on it, ms.
    pub max_lag_ms: f64,
    /// Open loop: achieved dispatch rate / target rate over the measured window.
    pub rate_ratio: Option<f64>,
    /// The measuring thread's CPU time / the run's wall time (absent after a crash).
    pub cpu_busy: Option<f64>,
    /// How the record writer ran (absent after a crash, and in records from
    /// before it was recorded).
    pub writer: Option<super::record::WriterAccount>,
}

/// One second of the run (by the second in which each event happened).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecondRow {
    /// Seconds from the origin at the start of this row.
    pub t: u64,
    /// Sends the schedule intended in this second (open loop).
    pub intended: u64,
    /// Requests sent in this second.
    pub sent: u64,
    /// Requests finished in this second.
    pub done: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Requests in flight at the end of this second.
    pub in_flight: u64,
    /// TTFT from the intended send of requests finishing in this second: p50, p99 (ms).
    pub ttft_p50: Option<f64>,
    /// See `ttft_p50`.
    pub ttft_p99: Option<f64>,
    /// E2E from the intended send: p50, p99 (ms).
    pub e2e_p50: Option<f64>,
    /// See `e2e_p50`.
    pub e2e_p99: Option<f64>,
    /// Scheduler lag p99 of requests sent in this second, ms.
    pub lag_p99: Option<f64>,
}

/// Everything `load` reports, computed from the records.
#[derive(Debug, Clone, Serialize)]
pub struct LoadSummary {
    /// `closed` or `open`.
    pub mode: String,
    /// Open loop: the target rate.
    pub target_rate: Option<f64>,
    /// Request lines read.
    pub requests: u64,
    /// Of those, warm-up (excluded from every figure below).
    pub warmup: u64,
    /// Measured requests.
    pub measured: u64,
    /// Measured requests that completed.
    pub ok: u64,
    /// Measured requests that failed.
    pub failed: u64,
    /// Failures by error class.
    pub errors: BTreeMap<String, u64>,
    /// Measured requests sent more than once because the server closed the
    /// connection before any response header ([`crate::client::CallRecord::attempt`]);
    /// their latency counts from the first send, and a failed resend is a failure.
    pub resent: u64,
    /// failed / measured.
    pub error_rate: f64,
    /// First measured intended send → last measured request seen, s.
    pub window_s: f64,
    /// Measured requests sent per second, over the span from the first to the last
    /// dispatch (a wait for a concurrency slot excluded).
    pub send_rate: f64,
    /// Measured requests finished (ok or failed) per second of the window.
    pub request_rate: f64,
    /// Completed requests per second.
    pub ok_rate: f64,
    /// Output tokens of completed requests per second.
    pub output_tokens_per_s: f64,
    /// Time to first token.
    pub ttft: TwoViews,
    /// End to end.
    pub e2e: TwoViews,
    /// Time per output token (the same from either send).
    pub tpot: Pcts,
    /// Scheduler lag: actual − intended send, less any wait for a slot.
    pub lag: Pcts,
    /// Wait for a concurrency slot (open loop with a ceiling).
    pub slot_wait: Option<Pcts>,
    /// TTFT from the intended send with failures as infinite latency.
    pub ttft_failures_infinite: FailuresAsInfinite,
    /// E2E likewise.
    pub e2e_failures_infinite: FailuresAsInfinite,
    /// Goodput, when an SLO was given.
    pub goodput: Option<Goodput>,
    /// Did the client keep up?
    pub client: ClientCheck,
    /// The most requests in flight (from the client's accounts).
    pub peak_in_flight: Option<u64>,
    /// Why the run stopped early, when it did; also set when the end line is
    /// missing (an interrupted run).
    pub stopped_early: Option<String>,
    /// Lines that did not parse, as (line, reason).
    pub skipped_lines: Vec<(usize, String)>,
    /// One row per second.
    pub seconds: Vec<SecondRow>,
    /// Agent workloads (any request with a [`super::session::TurnRef`]): the
    /// job-level figures of the sessions. Absent (and left out of the JSON) for a
    /// request-only run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<JobsSummary>,
}

/// The analysis's histograms (µs), for the HDR files and the plots.
#[derive(Debug, Clone)]
pub struct LoadHistograms {
    /// TTFT from the intended send.
    pub ttft: Histogram<u64>,
    /// TTFT from the actual send.
    pub ttft_service: Histogram<u64>,
    /// E2E from the intended send.
    pub e2e: Histogram<u64>,
    /// E2E from the actual send.
    pub e2e_service: Histogram<u64>,
    /// Scheduler lag.
    pub lag: Histogram<u64>,
    /// Per second (by completion): E2E from the intended send, for the interval log.
    pub e2e_per_second: Vec<Histogram<u64>>,
    /// Per second (by completion): TTFT from the intended send.
    pub ttft_per_second: Vec<Histogram<u64>>,
    /// Agent workloads: job latency of completed jobs (session intended start →
    /// last turn's end); `None` for a request-only run.
    pub jobs: Option<Histogram<u64>>,
}

/// The full analysis of one record file.
#[derive(Debug, Clone)]
pub struct LoadAnalysis {
    /// The file's header.
    pub header: LoadHeader,
    /// The figures.
    pub summary: LoadSummary,
    /// The histograms behind them.
    pub histograms: LoadHistograms,
}

fn us(ns: u64) -> u64 {
    (ns / 1_000).max(1)
}

fn second_hist() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, crate::metrics::hdr::HIGHEST_US, 2)
        .expect("1 µs .. 1 h at 2 significant digits is a valid range");
    h.auto(false);
    h
}

struct Acc {
    h: LoadHistograms,
    slot_wait: Histogram<u64>,
    tpot: Histogram<u64>,
    seconds: Vec<SecondRow>,
    lag_per_second: Vec<Histogram<u64>>,
    in_flight_delta: Vec<i64>,
    requests: u64,
    warmup: u64,
    ok: u64,
    failed: u64,
    errors: BTreeMap<String, u64>,
    resent: u64,
    first_intended: Option<u64>,
    last_seen: u64,
    first_dispatch: Option<u64>,
    last_dispatch: u64,
    fit: RateFit,
    output_tokens: u64,
    slo: Option<Slo>,
    met: u64,
    jobs: Option<JobsAnalyser>,
}

impl Acc {
    fn row(&mut self, sec: u64) -> usize {
        let i = sec as usize;
        while self.seconds.len() <= i {
            let t = self.seconds.len() as u64;
            self.seconds.push(SecondRow {
                t,
                ..SecondRow::default()
            });
            self.lag_per_second.push(second_hist());
            self.h.e2e_per_second.push(second_hist());
            self.h.ttft_per_second.push(second_hist());
            self.in_flight_delta.push(0);
        }
        i
    }

    fn add(&mut self, r: &RequestRecord) {
        if let Some(jobs) = &mut self.jobs {
            jobs.add(r);
        }
        self.requests += 1;
        let sent_s = self.row(r.sent_ns / 1_000_000_000);
        self.seconds[sent_s].sent += 1;
        self.in_flight_delta[sent_s] += 1;
        let end = r.last_seen_ns();
        let end_s = self.row(end / 1_000_000_000);
        self.in_flight_delta[end_s] -= 1;
        self.seconds[end_s].done += 1;
        if r.warmup {
            self.warmup += 1;
            return;
        }
        self.first_intended = Some(
            self.first_intended
                .map_or(r.intended_ns, |f| f.min(r.intended_ns)),
        );
        self.last_seen = self.last_seen.max(end);
        let dispatch = r.sent_ns - r.slot_wait_ns.min(r.behind_ns());
        self.first_dispatch = Some(self.first_dispatch.map_or(dispatch, |f| f.min(dispatch)));
        self.last_dispatch = self.last_dispatch.max(dispatch);
        self.fit.add(r.intended_ns, dispatch);
        let _ = self.h.lag.record(us(r.lag_ns()));
        let _ = self.lag_per_second[sent_s].record(us(r.lag_ns()));
        if r.slot_wait_ns > 0 || !self.slot_wait.is_empty() {
            let _ = self.slot_wait.record(us(r.slot_wait_ns));
        }
        if r.call.was_retried() {
            self.resent += 1;
        }
        let m = CallMetrics::new(&r.call);
        if !r.call.is_ok() {
            self.failed += 1;
            self.seconds[end_s].failed += 1;
            let kind = r.call.error.as_ref().map_or_else(
                || "incomplete".to_string(),
                |e| crate::report::error_kind_name(e.kind),
            );
            *self.errors.entry(kind).or_default() += 1;
            return;
        }
        self.ok += 1;
        let behind = r.behind_ns();
        let ttft = m.ttft().map(crate::clock::nanos);
        let e2e = m.e2e().map(crate::clock::nanos);
        let tpot = m.tpot().map(crate::clock::nanos);
        if let Some(t) = ttft {
            let _ = self.h.ttft.record(us(t + behind));
            let _ = self.h.ttft_service.record(us(t));
            let _ = self.h.ttft_per_second[end_s].record(us(t + behind));
        }
        if let Some(e) = e2e {
            let _ = self.h.e2e.record(us(e + behind));
            let _ = self.h.e2e_service.record(us(e));
            let _ = self.h.e2e_per_second[end_s].record(us(e + behind));
        }
        if let Some(t) = tpot {
            let _ = self.tpot.record(us(t));
        }
        self.output_tokens += m.output_tokens().unwrap_or(0);
        if let Some(slo) = &self.slo {
            let figures = SloFigures {
                ttft_ns: ttft.map(|t| t + behind),
                tpot_ns: tpot,
                e2e_ns: e2e.map(|e| e + behind),
            };
            if slo.met(Some(figures)) {
                self.met += 1;
            }
        }
    }
}

/// Percentiles with failures as infinite: the q-quantile of all `n_ok + failed`
/// samples, failures above every completed one.
pub(crate) fn failures_infinite(h: &Histogram<u64>, failed: u64) -> FailuresAsInfinite {
    let ok = h.len();
    let total = ok + failed;
    let at = |q: f64| -> Option<f64> {
        if total == 0 || ok == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        if rank > ok {
            return None;
        }
        let q_ok = rank as f64 / ok as f64;
        Some(h.value_at_quantile(q_ok.min(1.0)) as f64 / 1e3)
    };
    FailuresAsInfinite {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
    }
}

/// Analyses the record file at `path`.
pub fn analyse_file(path: &Path) -> Result<LoadAnalysis, LoadReadError> {
    // The header comes first: read it on its own so that every request is folded
    // as it is read (memory: the histograms, not the records).
    let mut acc: Option<Acc> = super::record::read_header(path).map(|h| new_acc(&h));
    let mut pending: Vec<RequestRecord> = Vec::new();
    let scan = {
        let acc_ref = &mut acc;
        let pending_ref = &mut pending;
        scan_load_file(path, |r| match acc_ref {
            Some(a) => a.add(&r),
            None => pending_ref.push(r),
        })?
    };
    let mut a = acc.unwrap_or_else(|| new_acc(&scan.header));
    for r in pending {
        a.add(&r);
    }
    Ok(finish(scan.header, a, scan.end, scan.skipped))
}

fn new_acc(header: &LoadHeader) -> Acc {
    Acc {
        h: LoadHistograms {
            ttft: new_histogram(),
            ttft_service: new_histogram(),
            e2e: new_histogram(),
            e2e_service: new_histogram(),
            lag: new_histogram(),
            e2e_per_second: Vec::new(),
            ttft_per_second: Vec::new(),
            jobs: None,
        },
        slot_wait: new_histogram(),
        tpot: new_histogram(),
        seconds: Vec::new(),
        lag_per_second: Vec::new(),
        in_flight_delta: Vec::new(),
        requests: 0,
        warmup: 0,
        ok: 0,
        failed: 0,
        errors: BTreeMap::new(),
        resent: 0,
        first_intended: None,
        last_seen: 0,
        first_dispatch: None,
        last_dispatch: 0,
        fit: RateFit::default(),
        output_tokens: 0,
        slo: header.plan.slo.as_deref().and_then(|s| s.parse().ok()),
        met: 0,
        jobs: Some(JobsAnalyser::new(header)),
    }
}

/// The streaming analysis of one record file's requests, fed one at a time
/// (what [`analyse_file`] does while it reads; `merge-runs` uses it for each
/// shard while it copies the shard's lines).
pub struct Analyser {
    header: LoadHeader,
    acc: Acc,
}

impl Analyser {
    /// An empty analysis of a file with this header.
    pub fn new(header: LoadHeader) -> Self {
        let acc = new_acc(&header);
        Analyser { header, acc }
    }

    /// Folds one request in.
    pub fn add(&mut self, r: &RequestRecord) {
        self.acc.add(r);
    }

    /// Replaces the header [`Analyser::finish`] reports (and judges the plan by),
    /// e.g. once a merged header's per-shard rows are known.
    pub fn set_header(&mut self, header: LoadHeader) {
        self.header = header;
    }

    /// The figures, given the file's end line and its skipped lines.
    pub fn finish(self, end: Option<RunEnd>, skipped: Vec<(usize, String)>) -> LoadAnalysis {
        finish(self.header, self.acc, end, skipped)
    }
}

/// Analyses records already in memory (tests, and callers that hold them).
pub fn analyse_records(
    header: LoadHeader,
    requests: impl IntoIterator<Item = RequestRecord>,
    end: Option<RunEnd>,
) -> LoadAnalysis {
    let mut a = new_acc(&header);
    for r in requests {
        a.add(&r);
    }
    finish(header, a, end, Vec::new())
}

fn finish(
    header: LoadHeader,
    mut a: Acc,
    end: Option<RunEnd>,
    skipped: Vec<(usize, String)>,
) -> LoadAnalysis {
    let plan = &header.plan;
    let measured = a.ok + a.failed;
    let jobs = a.jobs.take().and_then(JobsAnalyser::finish);
    let (sessions, jobs_hist) = jobs.map_or((None, None), |(s, h)| (Some(s), Some(h)));
    a.h.jobs = jobs_hist;
    let window_ns = a
        .first_intended
        .map_or(0, |f| a.last_seen.saturating_sub(f));
    let window_s = window_ns as f64 / 1e9;
    let per_s = |n: u64| {
        if window_s > 0.0 {
            n as f64 / window_s
        } else {
            0.0
        }
    };

    // In flight at the end of each second; intended sends per second.
    let mut level = 0i64;
    for (row, d) in a.seconds.iter_mut().zip(&a.in_flight_delta) {
        level += d;
        row.in_flight = level.max(0) as u64;
    }
    if let Some(sched) = open_schedule(&header) {
        // A shard intended only its share: arrivals k with k mod count == index.
        let (index, count) = plan
            .shard
            .as_ref()
            .map_or((0, 1), |s| (u64::from(s.index), u64::from(s.count.max(1))));
        let mut k = 0u64;
        sched.for_each(|t| {
            let i = (t / 1_000_000_000) as usize;
            if k % count == index {
                if let Some(row) = a.seconds.get_mut(i) {
                    row.intended += 1;
                }
            }
            k += 1;
        });
    }
    let q =
        |h: &Histogram<u64>, q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1e3);
    for (i, row) in a.seconds.iter_mut().enumerate() {
        row.ttft_p50 = q(&a.h.ttft_per_second[i], 0.5);
        row.ttft_p99 = q(&a.h.ttft_per_second[i], 0.99);
        row.e2e_p50 = q(&a.h.e2e_per_second[i], 0.5);
        row.e2e_p99 = q(&a.h.e2e_per_second[i], 0.99);
        row.lag_p99 = q(&a.lag_per_second[i], 0.99);
    }

    let lag = Pcts::of_us(&a.h.lag);
    let max_lag_ms = plan.max_lag_ns as f64 / 1e6;
    let mut reasons = Vec::new();
    if lag.n > 0 && lag.p99 > max_lag_ms {
        reasons.push(format!(
            "scheduler lag p99 {:.3} ms exceeds --max-lag {:.3} ms",
            lag.p99, max_lag_ms
        ));
    }
    let rate_ratio = plan.rate.and_then(|_| a.fit.rate_ratio());
    if let Some(r) = rate_ratio {
        if r < MIN_RATE_RATIO {
            reasons.push(format!(
                "achieved send rate is {:.1} % of the target (below {:.0} %)",
                r * 100.0,
                MIN_RATE_RATIO * 100.0
            ));
        }
    }
    let cpu_busy = end
        .as_ref()
        .filter(|e| e.wall_ns > 0)
        .map(|e| e.client_cpu_ns as f64 / e.wall_ns as f64);
    if let Some(b) = cpu_busy {
        if b >= CPU_SATURATED {
            reasons.push(format!(
                "the measuring thread was on CPU {:.0} % of the run (saturated at {:.0} %)",
                b * 100.0,
                CPU_SATURATED * 100.0
            ));
        }
    }
    // A merged run: one client-limited shard marks the whole run.
    for s in plan.shards.iter().filter(|s| s.client_limited) {
        reasons.push(format!(
            "shard {}/{} ({}) was client-limited: {}",
            s.index,
            s.count,
            s.host.as_deref().unwrap_or(&s.folder),
            s.reasons.join("; ")
        ));
    }
    let goodput = a.slo.as_ref().map(|slo| Goodput {
        slo: slo.to_string(),
        met: a.met,
        fraction: if measured > 0 {
            a.met as f64 / measured as f64
        } else {
            0.0
        },
        rate_per_s: per_s(a.met),
    });
    let slot_wait = (!a.slot_wait.is_empty()).then(|| Pcts::of_us(&a.slot_wait));
    let stopped_early = match &end {
        None => Some("the record file has no end line: the run was interrupted; figures cover the requests recorded".to_string()),
        Some(e) => e.stopped_early.clone(),
    };
    let summary = LoadSummary {
        mode: plan.mode.clone(),
        target_rate: plan.rate,
        requests: a.requests,
        warmup: a.warmup,
        measured,
        ok: a.ok,
        failed: a.failed,
        errors: a.errors.clone(),
        resent: a.resent,
        error_rate: if measured > 0 {
            a.failed as f64 / measured as f64
        } else {
            0.0
        },
        window_s,
        send_rate: match a.first_dispatch {
            Some(f) if a.last_dispatch > f => {
                (measured.saturating_sub(1)) as f64 / ((a.last_dispatch - f) as f64 / 1e9)
            }
            _ => 0.0,
        },
        request_rate: per_s(measured),
        ok_rate: per_s(a.ok),
        output_tokens_per_s: per_s(a.output_tokens),
        ttft: TwoViews {
            from_intended: Pcts::of_us(&a.h.ttft),
            service: Pcts::of_us(&a.h.ttft_service),
        },
        e2e: TwoViews {
            from_intended: Pcts::of_us(&a.h.e2e),
            service: Pcts::of_us(&a.h.e2e_service),
        },
        tpot: Pcts::of_us(&a.tpot),
        lag,
        slot_wait,
        ttft_failures_infinite: failures_infinite(&a.h.ttft, a.failed),
        e2e_failures_infinite: failures_infinite(&a.h.e2e, a.failed),
        goodput,
        client: ClientCheck {
            client_limited: !reasons.is_empty(),
            reasons,
            lag_p99_ms: lag.p99,
            max_lag_ms,
            rate_ratio,
            cpu_busy,
            writer: end.as_ref().and_then(|e| e.writer),
        },
        peak_in_flight: end.as_ref().map(|e| e.peak_in_flight),
        stopped_early,
        skipped_lines: skipped,
        seconds: a.seconds,
        sessions,
    };
    LoadAnalysis {
        header,
        summary,
        histograms: a.h,
    }
}

/// The open-loop schedule a header describes, to count intended sends per second.
fn open_schedule(header: &LoadHeader) -> Option<super::schedule::OpenSchedule> {
    let plan = &header.plan;
    let arrival = plan.arrival.as_deref()?.parse().ok()?;
    let extent = match (plan.requests, plan.duration_ns) {
        (Some(k), _) => super::schedule::Extent::Requests(k),
        (None, Some(d)) => super::schedule::Extent::DurationNs(d),
        _ => return None,
    };
    Some(super::schedule::OpenSchedule {
        rate: plan.rate?,
        arrival,
        seed: plan.seed,
        extent,
    })
}

/// Least-squares fit of dispatch times on intended times (seconds): a client that
/// keeps pace has slope 1 (a constant delay shifts the line, it does not tilt it);
/// one that sends slower than the schedule has slope > 1. The achieved/target rate
/// ratio is 1 / slope: robust to a few late sends at either end of the run, which
/// a first-to-last span is not.
#[derive(Debug, Default, Clone, Copy)]
struct RateFit {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
}

impl RateFit {
    fn add(&mut self, intended_ns: u64, dispatch_ns: u64) {
        let (x, y) = (intended_ns as f64 / 1e9, dispatch_ns as f64 / 1e9);
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.sxy += x * y;
    }

    fn rate_ratio(&self) -> Option<f64> {
        if self.n < 2.0 {
            return None;
        }
        let den = self.n * self.sxx - self.sx * self.sx;
        if den <= 0.0 {
            return None;
        }
        let slope = (self.n * self.sxy - self.sx * self.sy) / den;
        (slope > 0.0).then(|| 1.0 / slope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_fit_sees_a_slow_client_and_forgives_a_constant_delay() {
        let mut on_time = RateFit::default();
        let mut delayed = RateFit::default();
        let mut slow = RateFit::default();
        for i in 0..1000u64 {
            let t = i * 1_000_000; // 1,000/s
            on_time.add(t, t);
            delayed.add(t, t + 5_000_000);
            slow.add(t, i * 1_250_000); // 800/s achieved
        }
        assert!((on_time.rate_ratio().unwrap() - 1.0).abs() < 1e-9);
        assert!((delayed.rate_ratio().unwrap() - 1.0).abs() < 1e-9);
        assert!((slow.rate_ratio().unwrap() - 0.8).abs() < 1e-9);
    }

    #[test]
    fn failures_as_infinite_latency() {
        let mut h = new_histogram();
        for v in 1..=98u64 {
            h.record(v * 1000).unwrap();
        }
        let f = failures_infinite(&h, 2);
        assert!(f.p50.is_some());
        assert!(f.p90.is_some());
        // 100 samples, 2 infinite: p99 is the 99th value, among the failures.
        assert_eq!(f.p99, None);
        let none_failed = failures_infinite(&h, 0);
        assert!(none_failed.p99.is_some());
    }
}
