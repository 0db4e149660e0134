//! Mann–Whitney U (Wilcoxon rank-sum) test, two-sided.
//!
//! U1 = R1 − n1(n1 + 1)/2, where R1 is the sum of the midranks of sample 1 in the pooled
//! data; equivalently U1 = #{(i, j): aᵢ > bⱼ} + ½·#{(i, j): aᵢ = bⱼ}. U1 + U2 = n1·n2.
//!
//! p-value (the same rules as R's `wilcox.test` default when both n ≤ [`EXACT_MAX_N`]):
//! - **exact** when there are no ties and n1, n2 ≤ [`EXACT_MAX_N`]: the null distribution
//!   of U is counted over all C(n1 + n2, n1) arrangements by dynamic programming, and
//!   p = min(1, 2·min(P(U ≤ U1), P(U ≥ U1)));
//! - otherwise the **normal approximation** with the tie-corrected variance
//!   σ² = n1·n2/12 · ((n + 1) − Σ(t³ − t)/(n(n − 1))) and a continuity correction of ½:
//!   z = (|U1 − n1·n2/2| − ½)/σ, p = min(1, 2·(1 − Φ(z))).

use statrs::distribution::{ContinuousCDF, Normal};

use super::{check_sample, StatsError};

/// The largest per-sample size for which the exact p-value is used (no ties).
pub const EXACT_MAX_N: usize = 20;

/// How the p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PValueMethod {
    /// Exact null distribution (no ties, both samples ≤ [`EXACT_MAX_N`]).
    Exact,
    /// Normal approximation with tie and continuity corrections; `z` ≥ 0 is the
    /// continuity-corrected |standardised U| (clamped at 0).
    Normal {
        /// The standardised statistic.
        z: f64,
    },
}

/// A Mann–Whitney result. Invariants: `u1 + u2 = n1·n2`, `0 ≤ u1, u2 ≤ n1·n2`,
/// `0 ≤ p_two_sided ≤ 1`; `u1` and `u2` are multiples of ½.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitneyResult {
    /// U of sample 1: pairs where sample 1's value is larger (ties count ½). This is the
    /// `statistic` of `scipy.stats.mannwhitneyu(x, y)` and R's `W` for `wilcox.test(x, y)`.
    pub u1: f64,
    /// U of sample 2 = n1·n2 − u1.
    pub u2: f64,
    /// Size of sample 1.
    pub n1: usize,
    /// Size of sample 2.
    pub n2: usize,
    /// Whether the pooled data contain ties.
    pub ties: bool,
    /// Two-sided p-value.
    pub p_two_sided: f64,
    /// Which computation gave `p_two_sided`.
    pub method: PValueMethod,
}

impl MannWhitneyResult {
    /// min(U1, U2), the statistic of textbook tables.
    pub fn u_min(&self) -> f64 {
        self.u1.min(self.u2)
    }
}

/// Midranks (1-based) of `pooled` and the sizes of its tie groups (> 1).
fn midranks(pooled: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..pooled.len()).collect();
    idx.sort_by(|&i, &j| pooled[i].total_cmp(&pooled[j]));
    let mut ranks = vec![0.0; pooled.len()];
    let mut groups = Vec::new();
    let mut start = 0;
    while start < idx.len() {
        let mut end = start + 1;
        while end < idx.len() && pooled[idx[end]] == pooled[idx[start]] {
            end += 1;
        }
        // Ranks start + 1 ..= end share their mean.
        let r = (start + 1 + end) as f64 / 2.0;
        for &i in &idx[start..end] {
            ranks[i] = r;
        }
        if end - start > 1 {
            groups.push(end - start);
        }
        start = end;
    }
    (ranks, groups)
}

/// Counts of each U value (0..=n1·n2) over all arrangements of n1 + n2 distinct values.
fn exact_counts(n1: usize, n2: usize) -> Vec<f64> {
    // dist[j] = counts for (i, j): i values of sample 1, j of sample 2. When the largest
    // value belongs to sample 1 it beats all j values of sample 2 (adds j to U).
    let mut prev: Vec<Vec<f64>> = (0..=n2).map(|_| vec![1.0]).collect();
    for i in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(n2 + 1);
        cur.push(vec![1.0]);
        for j in 1..=n2 {
            let mut d = vec![0.0; i * j + 1];
            for (k, &c) in prev[j].iter().enumerate() {
                d[k + j] += c;
            }
            for (k, &c) in cur[j - 1].iter().enumerate() {
                d[k] += c;
            }
            cur.push(d);
        }
        prev = cur;
    }
    prev.pop().unwrap_or_else(|| vec![1.0])
}

/// Two-sided Mann–Whitney U test of `a` against `b` (see the module doc for the exact
/// rules). Errors: an empty sample, non-finite values, or every pooled value equal (the
/// tie-corrected variance is zero, so no p-value exists).
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Result<MannWhitneyResult, StatsError> {
    check_sample(a, 1)?;
    check_sample(b, 1)?;
    let (n1, n2) = (a.len(), b.len());
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let (ranks, groups) = midranks(&pooled);
    let r1: f64 = ranks[..n1].iter().sum();
    let nn = (n1 * n2) as f64;
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = nn - u1;
    let ties = !groups.is_empty();
    let (p, method) = if !ties && n1 <= EXACT_MAX_N && n2 <= EXACT_MAX_N {
        let counts = exact_counts(n1, n2);
        let total: f64 = counts.iter().sum();
        let k = u1.round() as usize;
        let lower: f64 = counts[..=k].iter().sum::<f64>() / total;
        let upper: f64 = counts[k..].iter().sum::<f64>() / total;
        ((2.0 * lower.min(upper)).min(1.0), PValueMethod::Exact)
    } else {
        let n = (n1 + n2) as f64;
        let tie_sum: f64 = groups
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * t * t - t
            })
            .sum();
        let var = nn / 12.0 * ((n + 1.0) - tie_sum / (n * (n - 1.0)));
        if var <= 0.0 || !var.is_finite() {
            return Err(StatsError::ZeroVariance);
        }
        let z = ((u1 - nn / 2.0).abs() - 0.5).max(0.0) / var.sqrt();
        let p = (2.0 * Normal::standard().sf(z)).min(1.0);
        (p, PValueMethod::Normal { z })
    };
    Ok(MannWhitneyResult {
        u1,
        u2,
        n1,
        n2,
        ties,
        p_two_sided: p.clamp(0.0, 1.0),
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_counts_sum_to_the_binomial_and_are_symmetric() {
        let c = exact_counts(4, 3);
        assert_eq!(c.len(), 13);
        assert_eq!(c.iter().sum::<f64>(), 35.0); // C(7, 3)
        for k in 0..c.len() {
            assert_eq!(c[k], c[c.len() - 1 - k]);
        }
        assert_eq!(exact_counts(1, 1), vec![1.0, 1.0]);
    }

    #[test]
    fn midranks_average_ties() {
        let (r, g) = midranks(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(g, vec![2]);
    }

    #[test]
    fn all_tied_is_an_error() {
        assert_eq!(
            mann_whitney_u(&[1.0, 1.0], &[1.0, 1.0]),
            Err(StatsError::ZeroVariance)
        );
        assert!(mann_whitney_u(&[], &[1.0]).is_err());
    }

    #[test]
    fn complete_separation_exact_p() {
        // All of a above all of b with 3 + 3: P(U = 9) = 1/20, two-sided 0.1.
        let r = mann_whitney_u(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((r.u1, r.u2, r.method), (9.0, 0.0, PValueMethod::Exact));
        assert!((r.p_two_sided - 0.1).abs() < 1e-15);
    }
}
