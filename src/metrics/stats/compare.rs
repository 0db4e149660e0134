//! Baseline-versus-candidate comparison and the "beats the baseline" verdict.
//!
//! A configuration beats the baseline only when the seeded bootstrap interval of
//! (candidate − baseline) lies entirely on the good side of zero — never because its
//! mean happens to be higher.

use super::bootstrap::{bootstrap_diff_ci, BootstrapCi, BootstrapOpts, Statistic};
use super::describe::{mean, median};
use super::effect::cohens_d;
use super::mann_whitney::{mann_whitney_u, MannWhitneyResult};
use super::welch::{welch_t_test, WelchResult};
use super::{check_sample, StatsError};

/// Options of [`compare_samples`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CompareOpts {
    /// Bootstrap settings (seed, resamples, confidence) of the difference interval.
    pub bootstrap: BootstrapOpts,
    /// Statistic whose difference the interval covers (default: the median).
    pub statistic: Statistic,
}

/// Baseline versus candidate. Differences and changes are candidate − baseline.
/// Every test that is undefined for the data (n < 2, zero variance, all values tied)
/// is `None`, never NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Baseline size.
    pub n_baseline: usize,
    /// Candidate size.
    pub n_candidate: usize,
    /// Baseline mean.
    pub mean_baseline: f64,
    /// Candidate mean.
    pub mean_candidate: f64,
    /// Baseline median.
    pub median_baseline: f64,
    /// Candidate median.
    pub median_candidate: f64,
    /// 100 · (mean_c − mean_b) / |mean_b|; `None` when the baseline mean is 0.
    pub change_pct_mean: Option<f64>,
    /// 100 · (median_c − median_b) / |median_b|; `None` when the baseline median is 0.
    pub change_pct_median: Option<f64>,
    /// Welch's t-test of candidate against baseline (t > 0: candidate mean larger).
    pub welch: Option<WelchResult>,
    /// Mann–Whitney U of candidate against baseline (`u1` is the candidate's U).
    pub mann_whitney: Option<MannWhitneyResult>,
    /// Cohen's d of candidate against baseline (pooled sd).
    pub cohens_d: Option<f64>,
    /// Seeded bootstrap interval of statistic(candidate) − statistic(baseline).
    pub diff_ci: Option<BootstrapCi>,
}

impl Comparison {
    /// True exactly when the bootstrap interval of (candidate − baseline) excludes zero
    /// on the good side: `lower > 0` if higher is better (throughput), `upper < 0` if
    /// lower is better (latency). False when the interval is undefined (n < 2).
    pub fn beats_baseline(&self, higher_is_better: bool) -> bool {
        match self.diff_ci {
            Some(b) if higher_is_better => b.ci.lower > 0.0,
            Some(b) => b.ci.upper < 0.0,
            None => false,
        }
    }

    /// True exactly when the interval excludes zero on the bad side (a regression).
    pub fn regresses(&self, higher_is_better: bool) -> bool {
        self.beats_baseline(!higher_is_better)
    }
}

fn change_pct(base: f64, cand: f64) -> Option<f64> {
    (base != 0.0).then(|| 100.0 * (cand - base) / base.abs())
}

/// Compares `candidate` with `baseline`. Errors only when a sample is empty or holds a
/// non-finite value (or `opts` is invalid); every individual test that is undefined for
/// the data is reported as `None`. Deterministic in (data, `opts`).
pub fn compare_samples(
    baseline: &[f64],
    candidate: &[f64],
    opts: &CompareOpts,
) -> Result<Comparison, StatsError> {
    check_sample(baseline, 1)?;
    check_sample(candidate, 1)?;
    let diff_ci = match bootstrap_diff_ci(baseline, candidate, opts.statistic, &opts.bootstrap) {
        Ok(ci) => Some(ci),
        Err(StatsError::TooFewSamples { .. }) => None,
        Err(e) => return Err(e),
    };
    let (mb, mc) = (
        mean(baseline).ok_or(StatsError::NonFinite)?,
        mean(candidate).ok_or(StatsError::NonFinite)?,
    );
    let (db, dc) = (
        median(baseline).ok_or(StatsError::NonFinite)?,
        median(candidate).ok_or(StatsError::NonFinite)?,
    );
    Ok(Comparison {
        n_baseline: baseline.len(),
        n_candidate: candidate.len(),
        mean_baseline: mb,
        mean_candidate: mc,
        median_baseline: db,
        median_candidate: dc,
        change_pct_mean: change_pct(mb, mc),
        change_pct_median: change_pct(db, dc),
        welch: welch_t_test(candidate, baseline).ok(),
        mann_whitney: mann_whitney_u(candidate, baseline).ok(),
        cohens_d: cohens_d(candidate, baseline).ok(),
        diff_ci,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_runs_never_beat_anything() {
        let c = compare_samples(&[100.0], &[200.0], &CompareOpts::default()).unwrap();
        assert!(c.diff_ci.is_none() && c.welch.is_none() && c.cohens_d.is_none());
        assert!(!c.beats_baseline(true) && !c.regresses(true));
        assert_eq!(c.change_pct_mean, Some(100.0));
    }

    #[test]
    fn direction_matters() {
        let base = [10.0, 11.0, 12.0, 10.5, 11.5, 10.2, 11.8, 10.9];
        let fast: Vec<f64> = base.iter().map(|x| x * 0.5).collect();
        let c = compare_samples(&base, &fast, &CompareOpts::default()).unwrap();
        // Lower latency is better: the candidate beats; as throughput it regresses.
        assert!(c.beats_baseline(false));
        assert!(!c.beats_baseline(true));
        assert!(c.regresses(true));
        assert!(c.welch.unwrap().t < 0.0 && c.cohens_d.unwrap() < 0.0);
        assert!(c.change_pct_median.unwrap() < 0.0);
    }
}
