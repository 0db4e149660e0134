//! Seeded percentile-bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13).
//!
//! Each resample draws n indices with replacement from the crate's SplitMix64
//! ([`crate::rng`]) seeded by the caller, computes the statistic, and the interval is the (α/2, 1 − α/2) R-7 percentiles
//! of the resampled statistics. Same data + same [`BootstrapOpts`] ⇒ bit-identical result.

use super::describe::{mean, median_sorted, percentile_sorted};
use super::{check_sample, StatsError};
use crate::rng::SplitMix64;

/// The statistic a bootstrap interval is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Statistic {
    /// Arithmetic mean.
    Mean,
    /// Median (R-7 50th percentile). Robust to the odd cold or stalled call.
    #[default]
    Median,
}

impl Statistic {
    /// The statistic of `samples` (which must be non-empty and finite).
    fn of(self, samples: &mut [f64]) -> f64 {
        match self {
            Statistic::Mean => mean(samples).unwrap_or(f64::NAN),
            Statistic::Median => {
                samples.sort_by(f64::total_cmp);
                median_sorted(samples).unwrap_or(f64::NAN)
            }
        }
    }
}

/// Bootstrap settings. Valid when `resamples ≥ 100` and `0 < confidence < 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapOpts {
    /// Number of resamples (at least 100; 10 000 is a common choice).
    pub resamples: usize,
    /// Confidence level, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the resampling generator: the whole result is a function of it.
    pub seed: u64,
}

impl Default for BootstrapOpts {
    /// 10 000 resamples, 95 % confidence, a fixed seed.
    fn default() -> Self {
        Self {
            resamples: 10_000,
            confidence: 0.95,
            seed: 0x5EED_5EED_5EED_5EED,
        }
    }
}

impl BootstrapOpts {
    /// The same options with the confidence of each of `tests` intervals raised to
    /// Bonferroni's 1 − (1 − confidence) / tests, so that when a verdict is drawn from
    /// every one of them (a gate over `tests` metrics), the chance that any interval
    /// misses its true value, and so the chance of a false alarm anywhere in the
    /// family, is at most 1 − `confidence`. `tests` ≤ 1 leaves the options unchanged.
    pub fn per_test(self, tests: usize) -> Self {
        Self {
            confidence: 1.0 - (1.0 - self.confidence) / tests.max(1) as f64,
            ..self
        }
    }

    fn validate(&self) -> Result<(), StatsError> {
        if self.resamples < 100 {
            return Err(StatsError::InvalidParameter(
                "resamples must be at least 100",
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(StatsError::InvalidParameter(
                "confidence must lie in (0, 1)",
            ));
        }
        Ok(())
    }
}

/// A two-sided confidence interval. Invariant: `lower ≤ upper`, both finite,
/// `0 < confidence < 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceInterval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Confidence level, e.g. 0.95.
    pub confidence: f64,
}

impl ConfidenceInterval {
    /// Whether `x` lies in the closed interval.
    pub fn contains(&self, x: f64) -> bool {
        self.lower <= x && x <= self.upper
    }

    /// Whether the interval lies strictly on one side of zero.
    pub fn excludes_zero(&self) -> bool {
        self.lower > 0.0 || self.upper < 0.0
    }
}

/// A bootstrap interval with the point estimate it surrounds (computed on the original
/// data) and the settings that make it reproducible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapCi {
    /// Which statistic.
    pub statistic: Statistic,
    /// The statistic on the original data (for a difference: candidate − baseline).
    pub estimate: f64,
    /// The percentile interval.
    pub ci: ConfidenceInterval,
    /// Resamples used.
    pub resamples: usize,
    /// Seed used.
    pub seed: u64,
}

/// Fills `buf` with a resample (with replacement) of `samples`.
fn resample(samples: &[f64], buf: &mut Vec<f64>, rng: &mut SplitMix64) {
    buf.clear();
    buf.extend((0..samples.len()).map(|_| samples[rng.index(samples.len())]));
}

fn interval(mut stats: Vec<f64>, confidence: f64) -> Result<ConfidenceInterval, StatsError> {
    if stats.iter().any(|x| !x.is_finite()) {
        return Err(StatsError::NonFinite);
    }
    stats.sort_by(f64::total_cmp);
    let alpha = 1.0 - confidence;
    let lower = percentile_sorted(&stats, 100.0 * alpha / 2.0).ok_or(StatsError::NonFinite)?;
    let upper =
        percentile_sorted(&stats, 100.0 * (1.0 - alpha / 2.0)).ok_or(StatsError::NonFinite)?;
    Ok(ConfidenceInterval {
        lower,
        upper,
        confidence,
    })
}

/// Percentile-bootstrap CI of `statistic` for one sample.
///
/// Errors: fewer than 2 values, any non-finite value, or invalid `opts`. Guarantees:
/// `ci.lower ≤ ci.upper`, both within [min, max] of the data; deterministic in
/// (`samples`, `statistic`, `opts`); for the mean, adding a constant c to every value
/// shifts the interval by c (up to rounding).
pub fn bootstrap_ci(
    samples: &[f64],
    statistic: Statistic,
    opts: &BootstrapOpts,
) -> Result<BootstrapCi, StatsError> {
    check_sample(samples, 2)?;
    opts.validate()?;
    let mut rng = SplitMix64::new(opts.seed);
    let mut buf = Vec::with_capacity(samples.len());
    let stats: Vec<f64> = (0..opts.resamples)
        .map(|_| {
            resample(samples, &mut buf, &mut rng);
            statistic.of(&mut buf)
        })
        .collect();
    let estimate = statistic.of(&mut samples.to_vec());
    Ok(BootstrapCi {
        statistic,
        estimate,
        ci: interval(stats, opts.confidence)?,
        resamples: opts.resamples,
        seed: opts.seed,
    })
}

/// Percentile-bootstrap CI of `statistic(candidate) − statistic(baseline)` for two
/// independent samples, each resampled separately from one seeded stream.
///
/// Errors: either sample with fewer than 2 values, non-finite values, invalid `opts`.
/// Guarantees: `ci.lower ≤ ci.upper`; deterministic; swapping the samples negates the
/// interval only approximately (the resampling stream differs), so call it with the
/// baseline first. `ci.excludes_zero()` is the "really different" test used by
/// [`super::Comparison::beats_baseline`].
pub fn bootstrap_diff_ci(
    baseline: &[f64],
    candidate: &[f64],
    statistic: Statistic,
    opts: &BootstrapOpts,
) -> Result<BootstrapCi, StatsError> {
    check_sample(baseline, 2)?;
    check_sample(candidate, 2)?;
    opts.validate()?;
    let mut rng = SplitMix64::new(opts.seed);
    let mut bb = Vec::with_capacity(baseline.len());
    let mut cb = Vec::with_capacity(candidate.len());
    let stats: Vec<f64> = (0..opts.resamples)
        .map(|_| {
            resample(baseline, &mut bb, &mut rng);
            resample(candidate, &mut cb, &mut rng);
            statistic.of(&mut cb) - statistic.of(&mut bb)
        })
        .collect();
    let estimate = statistic.of(&mut candidate.to_vec()) - statistic.of(&mut baseline.to_vec());
    Ok(BootstrapCi {
        statistic,
        estimate,
        ci: interval(stats, opts.confidence)?,
        resamples: opts.resamples,
        seed: opts.seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_test_confidence_splits_the_family_error_evenly() {
        let o = BootstrapOpts::default();
        assert_eq!(o.per_test(0), o);
        assert_eq!(o.per_test(1), o);
        let ten = o.per_test(10);
        assert!((ten.confidence - 0.995).abs() < 1e-12, "{}", ten.confidence);
        assert_eq!((ten.resamples, ten.seed), (o.resamples, o.seed));
        // A wider interval at the higher confidence, on the same data and seed.
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0];
        let narrow = bootstrap_ci(&x, Statistic::Mean, &o).unwrap().ci;
        let wide = bootstrap_ci(&x, Statistic::Mean, &ten).unwrap().ci;
        assert!(wide.lower < narrow.lower && wide.upper > narrow.upper);
    }

    #[test]
    fn rejects_undefined_inputs() {
        let o = BootstrapOpts::default();
        assert_eq!(
            bootstrap_ci(&[1.0], Statistic::Mean, &o),
            Err(StatsError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(
            bootstrap_ci(&[1.0, f64::NAN], Statistic::Mean, &o),
            Err(StatsError::NonFinite)
        );
        let bad = BootstrapOpts {
            confidence: 1.0,
            ..o
        };
        assert!(bootstrap_ci(&[1.0, 2.0], Statistic::Mean, &bad).is_err());
        let few = BootstrapOpts { resamples: 10, ..o };
        assert!(bootstrap_diff_ci(&[1.0, 2.0], &[1.0, 2.0], Statistic::Mean, &few).is_err());
    }

    #[test]
    fn constant_sample_gives_a_point_interval() {
        let r = bootstrap_ci(&[4.0; 5], Statistic::Median, &BootstrapOpts::default()).unwrap();
        assert_eq!((r.estimate, r.ci.lower, r.ci.upper), (4.0, 4.0, 4.0));
    }

    #[test]
    fn clear_shift_is_detected_and_seed_reproduces() {
        let base: Vec<f64> = (0..30).map(|i| 100.0 + (i % 7) as f64).collect();
        let cand: Vec<f64> = base.iter().map(|x| x + 20.0).collect();
        let o = BootstrapOpts::default();
        let a = bootstrap_diff_ci(&base, &cand, Statistic::Median, &o).unwrap();
        let b = bootstrap_diff_ci(&base, &cand, Statistic::Median, &o).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.estimate, 20.0);
        assert!(a.ci.lower > 0.0 && a.ci.excludes_zero() && a.ci.contains(20.0));
    }
}
