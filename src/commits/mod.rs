//! Layer 2 of regression detection: two commits measured alternately against one
//! stub, analysed as **paired** per-round differences so machine drift cancels
//! (the approach of tango-bench).
//!
//! This module is pure: per-round measures from record files ([`round_measures`])
//! and the paired analysis ([`analyse_paired`]). Building the revisions and running
//! them is in [`build`]; the command line in `cli/commits.rs`.

pub mod build;

use std::sync::LazyLock;

use serde::Serialize;

use crate::metrics::stats::{bootstrap_ci, median, BootstrapOpts, Statistic, StatsError};
use crate::metrics::CallMetrics;
use crate::record::{RecordFile, Stage};

/// One round's figures for one binary: medians over the round's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundMeasure {
    /// Median client overhead (E2E − server total_duration) per stage, ns.
    pub overhead_ns: Vec<(Stage, f64)>,
    /// Median workflow wall time (sum of the phase spans), ns.
    pub wall_ns: Option<f64>,
}

/// The metrics compared, in table order: the metric catalog's entries with a
/// [`commits_id`](crate::metrics::catalog::MetricDef::commits_id)
/// (`analysis.client_overhead`, `report.client_overhead`, `workflow.wall`).
/// [`RoundMeasure`] holds their per-round values in ns, summed from integer
/// nanoseconds so the paired differences carry no unit-conversion rounding.
pub static METRICS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    crate::metrics::catalog::commits_metrics()
        .iter()
        .map(|m| m.id)
        .collect()
});

impl RoundMeasure {
    /// The value of `metric` (one of [`METRICS`]), ns.
    pub fn get(&self, metric: &str) -> Option<f64> {
        match metric {
            "workflow.wall" => self.wall_ns,
            m => {
                let stage = m.strip_suffix(".client_overhead")?;
                self.overhead_ns
                    .iter()
                    .find(|(s, _)| s.name() == stage)
                    .map(|(_, v)| *v)
            }
        }
    }
}

/// The round's medians from one record file (warm-up runs and failed calls left out).
pub fn round_measures(file: &RecordFile) -> RoundMeasure {
    let runs: Vec<_> = file.runs.iter().filter(|r| !r.warmup).collect();
    let overhead_ns = Stage::ALL
        .iter()
        .filter_map(|&stage| {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.call(stage))
                .filter_map(|c| CallMetrics::new(&c.call).client_overhead_ns())
                .map(|n| n as f64)
                .collect();
            median(&v).map(|m| (stage, m))
        })
        .collect();
    let walls: Vec<f64> = runs
        .iter()
        .filter(|r| r.failure.is_none())
        .map(|r| {
            r.phases
                .iter()
                .map(|p| p.end_ns.saturating_sub(p.start_ns) as f64)
                .sum()
        })
        .collect();
    RoundMeasure {
        overhead_ns,
        wall_ns: median(&walls),
    }
}

/// The verdict on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PairedVerdict {
    /// B is slower: the CI's lower bound is above 0 and the median change exceeds the threshold.
    Regressed,
    /// B is faster: the CI's upper bound is below 0 and the median change is below −threshold.
    Improved,
    /// Neither.
    Unchanged,
}

/// The paired analysis of one metric over K rounds (lower is better).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedResult {
    /// Metric name.
    pub metric: String,
    /// Rounds with a value for both A and B.
    pub rounds: usize,
    /// Median of A's per-round values, ns.
    pub median_a_ns: f64,
    /// Median of B's per-round values, ns.
    pub median_b_ns: f64,
    /// Median of the per-round relative differences (B − A) / A, percent. The
    /// median, not the mean: one round in which a process was descheduled can
    /// move a mean of 40 rounds by several percent, and would raise false alarms.
    pub median_change_pct: f64,
    /// Seeded percentile-bootstrap CI of that median at [`Self::ci_confidence`],
    /// percent.
    pub ci_lower_pct: f64,
    /// Upper bound.
    pub ci_upper_pct: f64,
    /// Confidence of the interval ([`analyse_rounds`] adjusts it over the metrics).
    pub ci_confidence: f64,
    /// Rounds where B was slower than A.
    pub b_slower: usize,
    /// One-sided exact sign-test p-value for "B slower" (ties dropped).
    pub sign_p: f64,
    /// The threshold applied, percent.
    pub threshold_pct: f64,
    /// The verdict.
    pub verdict: PairedVerdict,
}

/// Analyses paired per-round values `a[i]`, `b[i]` (same round, lower is better):
/// relative differences d_i = (b_i − a_i) / a_i, their median, a bootstrap CI of the
/// median, and the sign count. Regressed when the CI's lower bound is above 0 and
/// the median exceeds `threshold_pct`.
///
/// Errors: lengths differ, fewer than 2 rounds, non-finite values, or a zero `a_i`.
pub fn analyse_paired(
    metric: &str,
    a: &[f64],
    b: &[f64],
    threshold_pct: f64,
    opts: &BootstrapOpts,
) -> Result<PairedResult, StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::InvalidParameter(
            "paired samples differ in length",
        ));
    }
    if a.contains(&0.0) {
        return Err(StatsError::InvalidParameter("a baseline value is zero"));
    }
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| 100.0 * (y - x) / x)
        .collect();
    let ci = bootstrap_ci(&d, Statistic::Median, opts)?;
    let b_slower = d.iter().filter(|&&x| x > 0.0).count();
    let b_faster = d.iter().filter(|&&x| x < 0.0).count();
    let sign_p = sign_test_upper(b_slower, b_slower + b_faster);
    let change = ci.estimate;
    let verdict = if ci.ci.lower > 0.0 && change > threshold_pct {
        PairedVerdict::Regressed
    } else if ci.ci.upper < 0.0 && change < -threshold_pct {
        PairedVerdict::Improved
    } else {
        PairedVerdict::Unchanged
    };
    Ok(PairedResult {
        metric: metric.to_string(),
        rounds: d.len(),
        median_a_ns: median(a).unwrap_or(f64::NAN),
        median_b_ns: median(b).unwrap_or(f64::NAN),
        median_change_pct: change,
        ci_lower_pct: ci.ci.lower,
        ci_upper_pct: ci.ci.upper,
        ci_confidence: opts.confidence,
        b_slower,
        sign_p,
        threshold_pct,
        verdict,
    })
}

/// P(X ≥ k) for X ~ Binomial(n, ½); 1 when n = 0.
pub fn sign_test_upper(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    // Sum C(n, i) / 2^n for i in k..=n, in log space to stay finite for large n.
    let ln_choose = |n: usize, i: usize| -> f64 {
        let lf = |m: usize| (1..=m).map(|x| (x as f64).ln()).sum::<f64>();
        lf(n) - lf(i) - lf(n - i)
    };
    let ln2n = n as f64 * std::f64::consts::LN_2;
    (k..=n)
        .map(|i| (ln_choose(n, i) - ln2n).exp())
        .sum::<f64>()
        .min(1.0)
}

/// Analyses every metric in [`METRICS`] over paired rounds (rounds where either
/// side lacks the metric are dropped), each interval at the Bonferroni-adjusted
/// confidence over [`METRICS`] ([`BootstrapOpts::per_test`]), so that the chance of
/// any false verdict is at most 1 − `opts.confidence`. Metrics with fewer than 2
/// paired rounds are left out.
pub fn analyse_rounds(
    a: &[RoundMeasure],
    b: &[RoundMeasure],
    threshold_pct: f64,
    opts: &BootstrapOpts,
) -> Vec<PairedResult> {
    let opts = &opts.per_test(METRICS.len());
    METRICS
        .iter()
        .filter_map(|&m| {
            let (xa, xb): (Vec<f64>, Vec<f64>) = a
                .iter()
                .zip(b)
                .filter_map(|(ra, rb)| Some((ra.get(m)?, rb.get(m)?)))
                .unzip();
            analyse_paired(m, &xa, &xb, threshold_pct, opts).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> BootstrapOpts {
        BootstrapOpts::default()
    }

    #[test]
    fn a_steady_slowdown_regresses_and_drift_cancels() {
        // Strong drift across rounds (×1 … ×2), B always 5 % slower than A.
        let a: Vec<f64> = (0..8).map(|i| 1000.0 * (1.0 + i as f64 / 8.0)).collect();
        let b: Vec<f64> = a.iter().map(|x| x * 1.05).collect();
        let r = analyse_paired("m", &a, &b, 3.0, &opts()).unwrap();
        assert!((r.median_change_pct - 5.0).abs() < 1e-9);
        assert_eq!(r.verdict, PairedVerdict::Regressed);
        assert_eq!(r.b_slower, 8);
        assert!((r.sign_p - 1.0 / 256.0).abs() < 1e-12);
    }

    #[test]
    fn the_threshold_mutes_a_small_real_change() {
        let a = [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1000.0];
        let b: Vec<f64> = a.iter().map(|x| x * 1.01).collect();
        let r = analyse_paired("m", &a, &b, 3.0, &opts()).unwrap();
        assert!(r.ci_lower_pct > 0.0);
        assert_eq!(r.verdict, PairedVerdict::Unchanged);
    }

    #[test]
    fn noise_around_zero_is_unchanged_and_speedups_improve() {
        let a = [1000.0, 1000.0, 1000.0, 1000.0, 1000.0, 1000.0];
        let b = [1040.0, 960.0, 1050.0, 950.0, 1030.0, 970.0];
        let r = analyse_paired("m", &a, &b, 3.0, &opts()).unwrap();
        assert_eq!(r.verdict, PairedVerdict::Unchanged);
        let fast: Vec<f64> = a.iter().map(|x| x * 0.9).collect();
        let r = analyse_paired("m", &a, &fast, 3.0, &opts()).unwrap();
        assert_eq!(r.verdict, PairedVerdict::Improved);
    }

    #[test]
    fn one_wild_round_does_not_flag_identical_builds() {
        // 20 rounds of ±1 % noise, and one round where B's process ran 4× slower.
        let a: Vec<f64> = (0..20).map(|_| 1000.0).collect();
        let mut b: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 1010.0 } else { 990.0 })
            .collect();
        b[7] = 4000.0;
        let r = analyse_paired("m", &a, &b, 3.0, &opts()).unwrap();
        assert_eq!(r.verdict, PairedVerdict::Unchanged);
        assert!(r.median_change_pct.abs() <= 1.0, "{}", r.median_change_pct);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(analyse_paired("m", &[1.0, 2.0], &[1.0], 3.0, &opts()).is_err());
        assert!(analyse_paired("m", &[1.0], &[1.0], 3.0, &opts()).is_err());
        assert!(analyse_paired("m", &[0.0, 1.0], &[1.0, 1.0], 3.0, &opts()).is_err());
    }

    #[test]
    fn sign_test_matches_the_binomial() {
        assert_eq!(sign_test_upper(0, 5), 1.0);
        assert!((sign_test_upper(5, 5) - 1.0 / 32.0).abs() < 1e-12);
        assert!((sign_test_upper(4, 5) - 6.0 / 32.0).abs() < 1e-12);
        assert_eq!(sign_test_upper(0, 0), 1.0);
    }

    #[test]
    fn round_measure_lookup() {
        let m = RoundMeasure {
            overhead_ns: vec![(Stage::Analysis, 5.0), (Stage::Report, 7.0)],
            wall_ns: Some(9.0),
        };
        assert_eq!(m.get("analysis.client_overhead"), Some(5.0));
        assert_eq!(m.get("report.client_overhead"), Some(7.0));
        assert_eq!(m.get("workflow.wall"), Some(9.0));
        assert_eq!(m.get("nope"), None);
    }
}
