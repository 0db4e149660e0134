//! Welch's unequal-variance t-test (Welch 1947), two-sided, with the Welch–Satterthwaite
//! degrees of freedom and a Student-t p-value and interval from `statrs`.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::bootstrap::ConfidenceInterval;
use super::{check_summary, mean_sd, StatsError};

/// The result of a Welch test of sample 1 against sample 2. Sign convention: the
/// difference is `mean1 − mean2`, so `t > 0` when sample 1 has the larger mean.
/// Invariants: `se > 0`, `df ≥ min(n1, n2) − 1` and `df ≤ n1 + n2 − 2`,
/// `0 ≤ p_two_sided ≤ 1`, `ci95.lower ≤ mean_diff ≤ ci95.upper`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchResult {
    /// t = (m1 − m2) / se.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom:
    /// (s1²/n1 + s2²/n2)² / ((s1²/n1)²/(n1 − 1) + (s2²/n2)²/(n2 − 1)).
    pub df: f64,
    /// Two-sided p-value, 2·P(T_df ≥ |t|).
    pub p_two_sided: f64,
    /// m1 − m2.
    pub mean_diff: f64,
    /// Standard error of the difference, sqrt(s1²/n1 + s2²/n2).
    pub se: f64,
    /// 95 % interval of m1 − m2: mean_diff ± t_{0.975, df} · se.
    pub ci95: ConfidenceInterval,
}

/// Welch's t-test from summary statistics: means `m1`, `m2`, sample sds (n − 1) `s1`,
/// `s2`, sizes `n1`, `n2` — the form a report of "mean ± sd, n" allows.
///
/// Errors: n < 2 on either side, non-finite or negative inputs, or `se = 0` (both sds
/// zero: t is undefined). Swapping the two samples negates `t`, `mean_diff` and the
/// interval and leaves `df` and `p_two_sided` bit-identical.
pub fn welch_from_summary(
    m1: f64,
    s1: f64,
    n1: usize,
    m2: f64,
    s2: f64,
    n2: usize,
) -> Result<WelchResult, StatsError> {
    check_summary(m1, s1, n1)?;
    check_summary(m2, s2, n2)?;
    let v1 = s1 * s1 / n1 as f64;
    let v2 = s2 * s2 / n2 as f64;
    let var = v1 + v2;
    if var <= 0.0 || !var.is_finite() {
        return Err(StatsError::ZeroVariance);
    }
    let se = var.sqrt();
    let mean_diff = m1 - m2;
    let t = mean_diff / se;
    let df = var * var / (v1 * v1 / (n1 - 1) as f64 + v2 * v2 / (n2 - 1) as f64);
    if !t.is_finite() || !df.is_finite() {
        return Err(StatsError::NonFinite);
    }
    let dist = StudentsT::new(0.0, 1.0, df).map_err(|_| StatsError::NonFinite)?;
    let p_two_sided = (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0);
    let half = dist.inverse_cdf(0.975) * se;
    Ok(WelchResult {
        t,
        df,
        p_two_sided,
        mean_diff,
        se,
        ci95: ConfidenceInterval {
            lower: mean_diff - half,
            upper: mean_diff + half,
            confidence: 0.95,
        },
    })
}

/// Welch's t-test on two samples (mean and n − 1 sd of each, then
/// [`welch_from_summary`]). Errors: fewer than 2 values on either side, non-finite
/// values, or both samples constant.
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Result<WelchResult, StatsError> {
    let (m1, s1) = mean_sd(a)?;
    let (m2, s2) = mean_sd(b)?;
    welch_from_summary(m1, s1, a.len(), m2, s2, b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_cases_are_errors() {
        assert_eq!(
            welch_from_summary(1.0, 0.0, 3, 2.0, 0.0, 3),
            Err(StatsError::ZeroVariance)
        );
        assert_eq!(
            welch_t_test(&[1.0], &[1.0, 2.0]),
            Err(StatsError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(
            welch_from_summary(f64::NAN, 1.0, 3, 2.0, 1.0, 3),
            Err(StatsError::NonFinite)
        );
        assert!(welch_from_summary(1.0, -1.0, 3, 2.0, 1.0, 3).is_err());
    }

    #[test]
    fn equal_means_give_p_one() {
        let r = welch_from_summary(5.0, 1.0, 4, 5.0, 2.0, 6).unwrap();
        assert_eq!(r.t, 0.0);
        assert!((r.p_two_sided - 1.0).abs() < 1e-12);
        assert!(r.ci95.contains(0.0));
    }
}
