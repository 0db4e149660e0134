//! Comparing two record sets: per metric, the change of the median, a seeded
//! bootstrap interval of the difference, Welch and Mann–Whitney p-values, and a
//! verdict against a per-metric noise threshold. Provenance is compared first: a
//! comparison across different models, servers, prompts or harness versions is
//! refused unless forced, and the refusal says what differs.

mod bmf;
mod provenance;

use std::collections::BTreeMap;

use serde::Serialize;
use thiserror::Error;

pub use bmf::bencher_metric_format;
pub use provenance::{provenance_mismatches, ProvenanceMismatch};

use crate::metrics::stats::{bootstrap_ci, compare_samples, BootstrapOpts, CompareOpts, Statistic};
use crate::metrics::CallMetrics;
use crate::record::{Phase, RecordFile, Stage, WorkflowRecord};

/// Whether a larger value is better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Latencies, overheads, phase times.
    LowerIsBetter,
    /// Throughput.
    HigherIsBetter,
}

/// A metric that `compare` knows how to draw from records.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec {
    /// Stable name, e.g. `analysis.ttft_ms`.
    pub name: &'static str,
    /// Unit of the samples.
    pub unit: &'static str,
    /// Which way is better.
    pub direction: Direction,
    /// Default noise threshold: changes smaller than this (in %) are `unchanged`
    /// even when significant.
    pub threshold_pct: f64,
    extract: fn(&[WorkflowRecord]) -> Vec<f64>,
}

impl MetricSpec {
    /// The metric's samples from `runs` (completed calls / reached phases only).
    pub fn samples(&self, runs: &[WorkflowRecord]) -> Vec<f64> {
        (self.extract)(runs)
    }
}

fn call_samples(
    runs: &[WorkflowRecord],
    stage: Stage,
    f: impl Fn(&CallMetrics<'_>) -> Option<f64>,
) -> Vec<f64> {
    runs.iter()
        .filter_map(|r| r.call(stage))
        .filter_map(|c| f(&CallMetrics::new(&c.call)))
        .collect()
}

fn phase_samples(runs: &[WorkflowRecord], phases: &[Phase]) -> Vec<f64> {
    runs.iter()
        .filter_map(|r| {
            let spans: Vec<_> = phases.iter().map(|p| r.phase(*p)).collect::<Option<_>>()?;
            Some(
                spans
                    .iter()
                    .map(|s| s.end_ns.saturating_sub(s.start_ns) as f64 / 1e6)
                    .sum(),
            )
        })
        .collect()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

macro_rules! call_metric {
    ($name:literal, $stage:expr, $unit:literal, $dir:expr, $pct:literal, $f:expr) => {
        MetricSpec {
            name: $name,
            unit: $unit,
            direction: $dir,
            threshold_pct: $pct,
            extract: |runs| call_samples(runs, $stage, $f),
        }
    };
}

use Direction::{HigherIsBetter, LowerIsBetter};

/// Every metric compared, with its default threshold. Client overhead and phase
/// times are the harness's own cost; TTFT, E2E and decode rate are dominated by the
/// server.
pub const METRICS: &[MetricSpec] = &[
    call_metric!(
        "analysis.ttft_ms",
        Stage::Analysis,
        "ms",
        LowerIsBetter,
        5.0,
        |m| m.ttft().map(ms)
    ),
    call_metric!(
        "analysis.e2e_ms",
        Stage::Analysis,
        "ms",
        LowerIsBetter,
        5.0,
        |m| m.e2e().map(ms)
    ),
    call_metric!(
        "analysis.client_overhead_ms",
        Stage::Analysis,
        "ms",
        LowerIsBetter,
        5.0,
        |m| m.client_overhead_ns().map(|n| n as f64 / 1e6)
    ),
    call_metric!(
        "analysis.decode_tps",
        Stage::Analysis,
        "tok/s",
        HigherIsBetter,
        3.0,
        |m| m.decode_tps()
    ),
    call_metric!(
        "report.ttft_ms",
        Stage::Report,
        "ms",
        LowerIsBetter,
        5.0,
        |m| m.ttft().map(ms)
    ),
    call_metric!(
        "report.e2e_ms",
        Stage::Report,
        "ms",
        LowerIsBetter,
        5.0,
        |m| m.e2e().map(ms)
    ),
    call_metric!(
        "report.client_overhead_ms",
        Stage::Report,
        "ms",
        LowerIsBetter,
        5.0,
        |m| m.client_overhead_ns().map(|n| n as f64 / 1e6)
    ),
    call_metric!(
        "report.decode_tps",
        Stage::Report,
        "tok/s",
        HigherIsBetter,
        3.0,
        |m| m.decode_tps()
    ),
    MetricSpec {
        name: "workflow.ingest_ms",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        extract: |runs| phase_samples(runs, &[Phase::Ingest]),
    },
    MetricSpec {
        name: "workflow.prompt_build_ms",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        extract: |runs| phase_samples(runs, &[Phase::AnalysisPrompt, Phase::ReportPrompt]),
    },
];

/// The verdict on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly better by at least the threshold.
    Improved,
    /// Significantly worse by at least the threshold.
    Regressed,
    /// Neither.
    Unchanged,
    /// Fewer than 2 samples on a side: no interval, no verdict.
    Insufficient,
}

/// One metric compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    /// Metric name.
    pub metric: String,
    /// Unit.
    pub unit: String,
    /// Which way is better.
    pub direction: Direction,
    /// Baseline samples.
    pub n_baseline: usize,
    /// Candidate samples.
    pub n_candidate: usize,
    /// Baseline median.
    pub median_baseline: Option<f64>,
    /// Candidate median.
    pub median_candidate: Option<f64>,
    /// 100 · (median_c − median_b) / |median_b|.
    pub change_pct: Option<f64>,
    /// Bootstrap interval (95%) of median_c − median_b: lower bound.
    pub diff_ci_lower: Option<f64>,
    /// Upper bound of the same interval.
    pub diff_ci_upper: Option<f64>,
    /// Candidate median's bootstrap interval (95%), for Bencher's bounds.
    pub candidate_ci: Option<(f64, f64)>,
    /// Welch's t-test p-value (two-sided).
    pub p_welch: Option<f64>,
    /// Mann–Whitney U p-value (two-sided).
    pub p_mann_whitney: Option<f64>,
    /// Noise threshold applied, %.
    pub threshold_pct: f64,
    /// The verdict.
    pub verdict: Verdict,
}

/// Options of [`compare`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Per-metric thresholds (%) overriding [`MetricSpec::threshold_pct`].
    pub thresholds: BTreeMap<String, f64>,
    /// Bootstrap resamples, confidence and seed.
    pub bootstrap: BootstrapOpts,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            thresholds: BTreeMap::new(),
            bootstrap: BootstrapOpts {
                resamples: 5_000,
                ..BootstrapOpts::default()
            },
        }
    }
}

/// A threshold given for a metric that does not exist, or a bad value.
#[derive(Debug, Error, PartialEq)]
pub enum ThresholdError {
    /// Not `metric=percent`.
    #[error("threshold `{0}` is not of the form metric=percent (e.g. analysis.ttft_ms=10)")]
    Form(String),
    /// Unknown metric name.
    #[error("unknown metric `{0}`; known: {known}", known = METRICS.iter().map(|m| m.name).collect::<Vec<_>>().join(", "))]
    UnknownMetric(String),
    /// Not a non-negative number.
    #[error("threshold for `{0}` must be a non-negative percentage")]
    BadValue(String),
}

impl CompareOptions {
    /// Applies `metric=percent` overrides.
    pub fn with_thresholds<S: AsRef<str>>(mut self, pairs: &[S]) -> Result<Self, ThresholdError> {
        for pair in pairs {
            let pair = pair.as_ref();
            let (name, pct) = pair
                .split_once('=')
                .ok_or_else(|| ThresholdError::Form(pair.to_string()))?;
            if !METRICS.iter().any(|m| m.name == name) {
                return Err(ThresholdError::UnknownMetric(name.to_string()));
            }
            let pct: f64 = pct
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| ThresholdError::BadValue(name.to_string()))?;
            self.thresholds.insert(name.to_string(), pct);
        }
        Ok(self)
    }
}

/// Baseline versus candidate, every metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareReport {
    /// Provenance differences (empty when comparable).
    pub provenance: Vec<ProvenanceMismatch>,
    /// Per metric, in [`METRICS`] order.
    pub metrics: Vec<MetricComparison>,
}

impl CompareReport {
    /// True when any metric regressed.
    pub fn regressed(&self) -> bool {
        self.metrics.iter().any(|m| m.verdict == Verdict::Regressed)
    }
}

/// Compares one metric's samples. Pure and deterministic for the options' seed.
pub fn compare_metric(
    spec: &MetricSpec,
    baseline: &[f64],
    candidate: &[f64],
    opts: &CompareOptions,
) -> MetricComparison {
    let threshold_pct = opts
        .thresholds
        .get(spec.name)
        .copied()
        .unwrap_or(spec.threshold_pct);
    let higher_is_better = spec.direction == HigherIsBetter;
    let cmp_opts = CompareOpts {
        bootstrap: opts.bootstrap,
        statistic: Statistic::Median,
    };
    let comparison = compare_samples(baseline, candidate, &cmp_opts).ok();
    let candidate_ci = bootstrap_ci(candidate, Statistic::Median, &opts.bootstrap)
        .ok()
        .map(|b| (b.ci.lower, b.ci.upper));
    let change_pct = comparison.and_then(|c| c.change_pct_median);
    let big_enough = change_pct.is_some_and(|p| p.abs() >= threshold_pct);
    let verdict = match comparison {
        Some(c) if c.diff_ci.is_some() => {
            if c.regresses(higher_is_better) && big_enough {
                Verdict::Regressed
            } else if c.beats_baseline(higher_is_better) && big_enough {
                Verdict::Improved
            } else {
                Verdict::Unchanged
            }
        }
        _ => Verdict::Insufficient,
    };
    MetricComparison {
        metric: spec.name.to_string(),
        unit: spec.unit.to_string(),
        direction: spec.direction,
        n_baseline: baseline.len(),
        n_candidate: candidate.len(),
        median_baseline: comparison.map(|c| c.median_baseline),
        median_candidate: comparison.map(|c| c.median_candidate),
        change_pct,
        diff_ci_lower: comparison.and_then(|c| c.diff_ci).map(|b| b.ci.lower),
        diff_ci_upper: comparison.and_then(|c| c.diff_ci).map(|b| b.ci.upper),
        candidate_ci,
        p_welch: comparison.and_then(|c| c.welch).map(|w| w.p_two_sided),
        p_mann_whitney: comparison
            .and_then(|c| c.mann_whitney)
            .map(|m| m.p_two_sided),
        threshold_pct,
        verdict,
    }
}

/// Compares every metric of `candidate` against `baseline`. Provenance mismatches
/// are listed in the report; refusing on them is the caller's decision.
pub fn compare(
    baseline: &RecordFile,
    candidate: &RecordFile,
    opts: &CompareOptions,
) -> CompareReport {
    CompareReport {
        provenance: provenance_mismatches(baseline, candidate),
        metrics: METRICS
            .iter()
            .map(|spec| {
                compare_metric(
                    spec,
                    &spec.samples(&baseline.runs),
                    &spec.samples(&candidate.runs),
                    opts,
                )
            })
            .collect(),
    }
}
