//! Comparing two record sets: per metric, the change of the median, a seeded
//! bootstrap interval of the difference, Welch and Mann–Whitney p-values, and a
//! verdict against a per-metric noise threshold. The intervals are Bonferroni-adjusted
//! over the metrics compared, so two record sets of one build fail the gate (any
//! metric regressed) with a chance of at most 1 − the options' confidence (5 %), not
//! that chance per metric. Provenance is compared first: a
//! comparison across different models, servers, prompts or harness versions is
//! refused unless forced, and the refusal says what differs.

mod bmf;
mod provenance;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;
use thiserror::Error;

pub use bmf::bencher_metric_format;
pub use provenance::{provenance_mismatches, ProvenanceMismatch};

use crate::metrics::stats::{bootstrap_ci, compare_samples, BootstrapOpts, CompareOpts, Statistic};
use crate::record::RecordFile;

pub use crate::metrics::catalog::Direction;

/// A metric that `compare` draws from records: a catalog entry at one stage (or a
/// workflow metric), named `<stage>.<history_id>` / `workflow.<history_id>`.
pub use crate::metrics::catalog::StageMetric as MetricSpec;

/// Every metric compared, in report order, from the metric catalog
/// ([`crate::metrics::catalog::history_metrics`]): per stage TTFT, E2E, client
/// overhead and decode rate, then the ingest and prompt-building phases. Each
/// entry's default threshold is the catalog's.
pub static METRICS: LazyLock<&'static [MetricSpec]> =
    LazyLock::new(crate::metrics::catalog::history_metrics);

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
    /// Bootstrap interval of median_c − median_b at [`Self::ci_confidence`]: lower bound.
    pub diff_ci_lower: Option<f64>,
    /// Upper bound of the same interval.
    pub diff_ci_upper: Option<f64>,
    /// Candidate median's bootstrap interval at [`Self::ci_confidence`], for Bencher's
    /// bounds.
    pub candidate_ci: Option<(f64, f64)>,
    /// Welch's t-test p-value (two-sided).
    pub p_welch: Option<f64>,
    /// Mann–Whitney U p-value (two-sided).
    pub p_mann_whitney: Option<f64>,
    /// Confidence of this metric's intervals: the family's, Bonferroni-adjusted in
    /// [`compare`] (0.995 for 10 metrics at 0.95).
    pub ci_confidence: f64,
    /// Noise threshold applied, %.
    pub threshold_pct: f64,
    /// The verdict.
    pub verdict: Verdict,
}

/// Options of [`compare`].
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Per-metric thresholds (%) overriding the catalog's
    /// [`threshold_pct`](crate::metrics::catalog::MetricDef::threshold_pct).
    pub thresholds: BTreeMap<String, f64>,
    /// Bootstrap resamples, seed and the family's confidence: [`compare`] draws each
    /// metric's intervals at [`BootstrapOpts::per_test`] of it.
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
    #[error("unknown metric `{0}`; known: {known}", known = METRICS.iter().map(|m| m.id).collect::<Vec<_>>().join(", "))]
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
            if !METRICS.iter().any(|m| m.id == name) {
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

/// Compares one metric's samples, its intervals at `opts.bootstrap.confidence` as given
/// (no adjustment: [`compare`] makes it). Pure and deterministic for the options' seed.
pub fn compare_metric(
    spec: &MetricSpec,
    baseline: &[f64],
    candidate: &[f64],
    opts: &CompareOptions,
) -> MetricComparison {
    let threshold_pct = opts
        .thresholds
        .get(spec.id)
        .copied()
        .unwrap_or(spec.def.threshold_pct);
    let higher_is_better = spec.def.higher_is_better();
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
        metric: spec.id.to_string(),
        unit: spec.def.unit.to_string(),
        direction: spec.def.direction,
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
        ci_confidence: opts.bootstrap.confidence,
        threshold_pct,
        verdict,
    }
}

/// Compares every metric of `candidate` against `baseline`, each metric's intervals
/// at the Bonferroni-adjusted confidence over all [`METRICS`], so that the chance of
/// any false "regressed" or "improved" is at most 1 − `opts.bootstrap.confidence`.
/// Provenance mismatches are listed in the report; refusing on them is the caller's
/// decision.
pub fn compare(
    baseline: &RecordFile,
    candidate: &RecordFile,
    opts: &CompareOptions,
) -> CompareReport {
    let opts = &CompareOptions {
        bootstrap: opts.bootstrap.per_test(METRICS.len()),
        ..opts.clone()
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// Eight runs a side drawn from one distribution whose spread (±8 %, about
    /// normal) is far above every threshold: how often does the gate (any metric
    /// regressed) fire? Seeded, so the result is fixed; `trials` pairs per setting.
    fn gate_false_alarm_rate(opts: &CompareOptions, trials: usize) -> f64 {
        let mut rng = SplitMix64::new(0xFA15E);
        let mut draw = |n: usize| -> Vec<f64> {
            (0..n)
                .map(|_| {
                    let z: f64 = (0..12).map(|_| rng.next_f64()).sum::<f64>() - 6.0;
                    0.25 * (1.0 + 0.08 * z)
                })
                .collect()
        };
        let fired = (0..trials)
            .filter(|_| {
                METRICS.iter().any(|spec| {
                    let (b, c) = (draw(8), draw(8));
                    compare_metric(spec, &b, &c, opts).verdict == Verdict::Regressed
                })
            })
            .count();
        fired as f64 / trials as f64
    }

    #[test]
    fn one_build_against_itself_fails_the_gate_at_most_at_the_family_rate() {
        assert_eq!(METRICS.len(), 10, "the README's 99.5 % assumes 10 metrics");
        let family = CompareOptions {
            bootstrap: BootstrapOpts {
                resamples: 1_000,
                ..BootstrapOpts::default()
            },
            ..CompareOptions::default()
        };
        let adjusted = CompareOptions {
            bootstrap: family.bootstrap.per_test(METRICS.len()),
            ..family.clone()
        };
        assert!((adjusted.bootstrap.confidence - 0.995).abs() < 1e-12);
        let per_metric = gate_false_alarm_rate(&family, 100);
        let gate = gate_false_alarm_rate(&adjusted, 100);
        // 95 % per metric: about 2 % one-sided each over 10 metrics, 15 % here; adjusted, 2 %.
        assert!(per_metric > 0.10, "unadjusted gate fired {per_metric}");
        assert!(gate <= 0.05, "adjusted gate fired {gate}");
    }
}
