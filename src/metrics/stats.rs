//! Pure order statistics on samples.

/// Percentile `p` (0–100) of `sorted` by linear interpolation between closest ranks
/// (the "R-7" / NumPy default definition). `None` for an empty slice.
///
/// Precondition: `sorted` is sorted ascending (debug-asserted) and holds no NaN.
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

/// Arithmetic mean; `None` when empty.
pub fn mean(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        None
    } else {
        Some(samples.iter().sum::<f64>() / samples.len() as f64)
    }
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
}
