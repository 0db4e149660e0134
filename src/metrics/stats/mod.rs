//! Pure statistics on samples: no I/O, no globals, no hidden randomness.
//!
//! Every function takes plain `&[f64]` (or summary statistics) and returns `None` or
//! [`StatsError`] where a quantity is undefined (too few samples, zero variance,
//! non-finite input): NaN never leaks out silently. The only randomness is the
//! bootstrap's, and it comes from a caller-given seed, so every result is reproducible.
//!
//! - [`describe`](mod@describe): mean, median, sample sd (n − 1), CV, percentiles.
//! - [`bootstrap`]: seeded percentile-bootstrap confidence intervals for the mean and
//!   median of one sample and for the difference between two independent samples.
//! - [`welch`]: Welch's unequal-variance t-test, from samples or from (mean, sd, n).
//! - [`effect`]: Cohen's d (pooled sd) and Hedges' g.
//! - [`mann_whitney`]: Mann–Whitney U with midranks, exact or normal-approximation p.
//! - [`compare`]: a baseline-versus-candidate report and the "beats the baseline" verdict
//!   (a confidence interval of the difference that excludes zero in the good direction).

#![warn(missing_docs)]

pub mod bootstrap;
pub mod compare;
pub mod describe;
pub mod effect;
pub mod mann_whitney;
pub mod welch;

pub use bootstrap::{
    bootstrap_ci, bootstrap_diff_ci, BootstrapCi, BootstrapOpts, ConfidenceInterval, Statistic,
};
pub use compare::{compare_samples, CompareOpts, Comparison};
pub use describe::{
    cv, describe, mean, median, percentile, percentile_sorted, sd, sorted, variance, Description,
};
pub use effect::{cohens_d, cohens_d_from_summary, hedges_g, hedges_g_from_summary};
pub use mann_whitney::{mann_whitney_u, MannWhitneyResult, PValueMethod};
pub use welch::{welch_from_summary, welch_t_test, WelchResult};

/// Why a statistic could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// A sample had fewer observations than the statistic needs.
    #[error("too few samples: need at least {needed}, got {got}")]
    TooFewSamples {
        /// The minimum number of observations required.
        needed: usize,
        /// The number given.
        got: usize,
    },
    /// An input value (sample or summary statistic) was NaN or infinite.
    #[error("non-finite input value")]
    NonFinite,
    /// The statistic divides by a spread that is zero (e.g. both samples constant).
    #[error("zero variance: the statistic is undefined")]
    ZeroVariance,
    /// A parameter was out of its documented range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
}

/// `Ok(())` when `samples` has at least `needed` values, all finite.
pub(crate) fn check_sample(samples: &[f64], needed: usize) -> Result<(), StatsError> {
    if samples.len() < needed {
        return Err(StatsError::TooFewSamples {
            needed,
            got: samples.len(),
        });
    }
    if samples.iter().any(|x| !x.is_finite()) {
        return Err(StatsError::NonFinite);
    }
    Ok(())
}

/// Checks one side of a summary-statistics input (mean, sample sd, size): n ≥ 2,
/// finite values, a non-negative sd.
pub(crate) fn check_summary(m: f64, s: f64, n: usize) -> Result<(), StatsError> {
    if n < 2 {
        return Err(StatsError::TooFewSamples { needed: 2, got: n });
    }
    if !m.is_finite() || !s.is_finite() {
        return Err(StatsError::NonFinite);
    }
    if s < 0.0 {
        return Err(StatsError::InvalidParameter(
            "a standard deviation is negative",
        ));
    }
    Ok(())
}

/// Mean and sample sd (n − 1) of a sample of at least 2 finite values, for the
/// two-sample tests that work from summary statistics.
pub(crate) fn mean_sd(sample: &[f64]) -> Result<(f64, f64), StatsError> {
    check_sample(sample, 2)?;
    Ok((
        describe::mean(sample).ok_or(StatsError::NonFinite)?,
        describe::sd(sample).ok_or(StatsError::NonFinite)?,
    ))
}
