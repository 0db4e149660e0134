//! Descriptive statistics: mean, median, sample variance and sd (n − 1), CV, percentiles.
//!
//! `percentile_sorted`, `sorted` and `mean` keep their original contracts (they are used
//! by the summaries and reports). The newer functions return `None` for empty input,
//! too few values, or any non-finite value, so NaN never leaks out.

use super::check_sample;

/// Percentile `p` (0–100) of `sorted` by linear interpolation between closest ranks
/// (the "R-7" / NumPy default definition). `None` for an empty slice.
///
/// Precondition: `sorted` is sorted ascending (debug-asserted) and holds no NaN, and `p`
/// is not NaN. Guarantees: the result lies between `sorted[0]` and `sorted[n - 1]` and is
/// non-decreasing in `p`.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Sorts a copy of `samples` (NaN dropped) for repeated percentile queries.
pub fn sorted(samples: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = samples.into_iter().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Arithmetic mean; `None` when empty. Unchecked: a NaN or infinite input propagates
/// into the result (use [`describe`] or the tests of the sibling modules, which reject
/// non-finite input). Clamped to the samples' range: `sum / n` can round just past it
/// (three equal values, say), and a mean always lies within the range.
pub fn mean(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        None
    } else {
        let m = samples.iter().sum::<f64>() / samples.len() as f64;
        let (lo, hi) = samples
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        Some(if m.is_finite() { m.clamp(lo, hi) } else { m })
    }
}

/// Percentile `p` (0–100) of unsorted `samples`, with the same R-7 definition as
/// [`percentile_sorted`]. `None` when empty, when any value is non-finite, or when `p`
/// is not finite. `p` outside 0–100 is clamped.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    check_sample(samples, 1).ok()?;
    if !p.is_finite() {
        return None;
    }
    percentile_sorted(&sorted(samples.iter().copied()), p)
}

/// Median (the 50th percentile: the mean of the two middle values for even n).
/// `None` when empty or when any value is non-finite.
pub fn median(samples: &[f64]) -> Option<f64> {
    percentile(samples, 50.0)
}

/// Median of data already sorted ascending (no checks beyond a debug assertion).
pub(crate) fn median_sorted(sorted: &[f64]) -> Option<f64> {
    percentile_sorted(sorted, 50.0)
}

/// Sample variance with Bessel's correction, Σ(xᵢ − x̄)² / (n − 1), computed in two
/// passes. `None` when n < 2 or any value is non-finite. The result is ≥ 0.
pub fn variance(samples: &[f64]) -> Option<f64> {
    check_sample(samples, 2).ok()?;
    let m = mean(samples)?;
    let ss: f64 = samples.iter().map(|x| (x - m) * (x - m)).sum();
    let v = ss / (samples.len() - 1) as f64;
    v.is_finite().then_some(v)
}

/// Sample standard deviation, `sqrt(variance)` with the n − 1 denominator.
/// `None` when n < 2 or any value is non-finite.
pub fn sd(samples: &[f64]) -> Option<f64> {
    variance(samples).map(f64::sqrt)
}

/// Coefficient of variation, sd / |mean| (a fraction, not a percentage).
/// `None` when n < 2, any value is non-finite, or the mean is zero.
pub fn cv(samples: &[f64]) -> Option<f64> {
    let s = sd(samples)?;
    let m = mean(samples)?;
    if m == 0.0 {
        return None;
    }
    let c = s / m.abs();
    c.is_finite().then_some(c)
}

/// A one-sample description. Invariants: `n ≥ 1`; `min ≤ p25 ≤ median ≤ p75 ≤ max`
/// (R-7 percentiles); `sd` and `cv` are `None` exactly when they are undefined
/// (n < 2, or a zero mean for `cv`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Description {
    /// Number of observations.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (R-7 50th percentile).
    pub median: f64,
    /// Sample standard deviation (n − 1).
    pub sd: Option<f64>,
    /// Coefficient of variation, sd / |mean|.
    pub cv: Option<f64>,
    /// Smallest observation.
    pub min: f64,
    /// 25th percentile.
    pub p25: f64,
    /// 75th percentile.
    pub p75: f64,
    /// Largest observation.
    pub max: f64,
}

/// Describes `samples`. `None` when empty or when any value is non-finite.
pub fn describe(samples: &[f64]) -> Option<Description> {
    check_sample(samples, 1).ok()?;
    let s = sorted(samples.iter().copied());
    Some(Description {
        n: s.len(),
        mean: mean(samples)?,
        median: percentile_sorted(&s, 50.0)?,
        sd: sd(samples),
        cv: cv(samples),
        min: s[0],
        p25: percentile_sorted(&s, 25.0)?,
        p75: percentile_sorted(&s, 75.0)?,
        max: s[s.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear_percentiles() {
        // numpy.percentile([1, 2, 3, 4], [0, 25, 50, 95, 100]) = 1, 1.75, 2.5, 3.85, 4
        let v = [1.0, 2.0, 3.0, 4.0];
        let got: Vec<f64> = [0.0, 25.0, 50.0, 95.0, 100.0]
            .iter()
            .map(|&p| percentile_sorted(&v, p).unwrap())
            .collect();
        let want = [1.0, 1.75, 2.5, 3.85, 4.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{g} vs {w}");
        }
        assert_eq!(percentile_sorted(&[], 50.0), None);
        assert_eq!(percentile_sorted(&[7.0], 99.0), Some(7.0));
    }

    #[test]
    fn percentiles_are_monotone_and_bounded() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for n in 1..60 {
            let v = sorted((0..n).map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 10_000) as f64
            }));
            let mut last = f64::MIN;
            for p in 0..=100 {
                let x = percentile_sorted(&v, p as f64).unwrap();
                assert!(x >= last && x >= v[0] && x <= v[n - 1]);
                last = x;
            }
        }
    }

    #[test]
    fn spread_of_a_textbook_sample() {
        // 2, 4, 4, 4, 5, 5, 7, 9: population sd 2 (Wikipedia "Standard deviation"),
        // so the sample variance is 32 / 7.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!((variance(&v).unwrap() - 32.0 / 7.0).abs() < 1e-12);
        assert!((sd(&v).unwrap() - (32.0_f64 / 7.0).sqrt()).abs() < 1e-12);
        assert!((cv(&v).unwrap() - (32.0_f64 / 7.0).sqrt() / 5.0).abs() < 1e-12);
        assert_eq!(median(&v), Some(4.5));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(sd(&[]), None);
        assert_eq!(sd(&[1.0]), None);
        assert_eq!(variance(&[1.0, f64::NAN]), None);
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::INFINITY]), None);
        assert_eq!(cv(&[-1.0, 1.0]), None);
        assert_eq!(percentile(&[1.0], f64::NAN), None);
        assert_eq!(describe(&[]), None);
        assert_eq!(sd(&[3.0, 3.0]), Some(0.0));
    }

    #[test]
    fn describe_is_ordered() {
        let d = describe(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!(
            (d.n, d.min, d.p25, d.median, d.p75, d.max),
            (5, 1.0, 2.0, 3.0, 4.0, 5.0)
        );
        assert_eq!(d.mean, 3.0);
        assert!(describe(&[1.0]).unwrap().sd.is_none());
    }
}
