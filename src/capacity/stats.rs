//! Pure statistics of the capacity search: a percentile with a bootstrap interval
//! (infinite samples allowed: failed requests), and a test for a queue that grows
//! without bound.

use crate::rng::SplitMix64;

/// The q-quantile of sorted samples by nearest rank: the ⌈q·n⌉-th smallest (1-based),
/// so a percentile is always one of the samples. `None` for no samples.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    Some(sorted[rank - 1])
}

/// A percentile's estimate and its percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileCi {
    /// The percentile of the samples.
    pub estimate: f64,
    /// Lower bound of the interval (may be infinite).
    pub lower: f64,
    /// Upper bound of the interval (may be infinite).
    pub upper: f64,
}

/// The block length of [`quantile_ci`] for `n` samples: ⌈n^(1/3)⌉ (at least 1).
pub fn block_len(n: usize) -> usize {
    ((n as f64).cbrt().ceil() as usize).max(1)
}

/// The `q`-quantile of `samples` (in arrival order; `f64::INFINITY` for a failed
/// request) with a two-sided `confidence` interval from `resamples` circular block
/// bootstrap resamples (blocks of [`block_len`] consecutive samples, drawn by a
/// [`SplitMix64`] seeded with `seed`). Latencies from one queue are autocorrelated
/// — a busy period delays many requests in a row — and resampling single requests
/// as if independent gives intervals too narrow to be trusted; whole blocks keep
/// the runs together. Deterministic. `None` for no samples or a NaN.
pub fn quantile_ci(
    samples: &[f64],
    q: f64,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Option<QuantileCi> {
    if samples.is_empty() || samples.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let estimate = quantile_sorted(&sorted, q)?;
    let n = samples.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    let block = block_len(n);
    let mut rng = SplitMix64::new(seed);
    let mut buf = vec![0.0; n];
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples.max(1) {
        let mut i = 0;
        while i < n {
            let start = rng.index(n);
            for k in 0..block.min(n - i) {
                buf[i + k] = samples[(start + k) % n];
            }
            i += block;
        }
        let (_, v, _) = buf.select_nth_unstable_by(rank - 1, f64::total_cmp);
        stats.push(*v);
    }
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence).clamp(0.0, 1.0) / 2.0;
    Some(QuantileCi {
        estimate,
        lower: quantile_sorted(&stats, alpha.max(1e-12))?,
        upper: quantile_sorted(&stats, 1.0 - alpha)?,
    })
}

/// Decides, from in-flight counts sampled during a run, whether work is piling up
/// without bound: the least-squares slope of in-flight requests over time is
/// positive beyond `Z` standard errors and above a floor, and completions lag
/// arrivals.
#[derive(Debug, Clone)]
pub struct OverloadTest {
    rate: f64,
    t: Vec<f64>,
    y: Vec<f64>,
}

/// Standard errors the growth must exceed zero by (one-sided p ≈ 0.0005 per look).
pub const Z: f64 = 3.3;
/// Samples needed before the test may fire.
pub const MIN_SAMPLES: usize = 6;
/// No verdict before this many seconds (the queue's start-up ramp).
pub const MIN_SECONDS: f64 = 0.2;

impl OverloadTest {
    /// A test for a run offered `rate` requests per second.
    pub fn new(rate: f64) -> Self {
        OverloadTest {
            rate,
            t: Vec::new(),
            y: Vec::new(),
        }
    }

    /// The growth floor, requests per second: 5 % of the offered rate, at least 2.
    pub fn floor(&self) -> f64 {
        (0.05 * self.rate).max(2.0)
    }

    /// Adds a sample (`t` seconds since the start; `in_flight` sent and unfinished;
    /// `sent` and `done` so far) and returns why the run is overloaded, if it is.
    pub fn observe(&mut self, t: f64, in_flight: u64, sent: u64, done: u64) -> Option<String> {
        if t < MIN_SECONDS / 2.0 {
            return None; // the ramp from an empty queue is not growth
        }
        self.t.push(t);
        self.y.push(in_flight as f64);
        if self.t.len() < MIN_SAMPLES || t < MIN_SECONDS {
            return None;
        }
        let (slope, se) = slope_se(&self.t, &self.y)?;
        let lagging = (done as f64) < 0.95 * sent as f64;
        if slope - Z * se > self.floor() && lagging {
            return Some(format!(
                "overloaded: requests in flight grew by {slope:.1}/s (± {:.1}, {} samples over {t:.2} s) and {done} of {sent} sent had finished",
                Z * se,
                self.t.len()
            ));
        }
        None
    }
}

/// Least-squares slope of `y` on `x` and its standard error.
fn slope_se(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len() as f64;
    if n < 3.0 {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let resid: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - my - slope * (a - mx)).powi(2))
        .sum();
    let se = (resid / (n - 2.0) / sxx).sqrt();
    Some((slope, se))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile_sorted(&s, 0.5), Some(50.0));
        assert_eq!(quantile_sorted(&s, 0.99), Some(99.0));
        assert_eq!(quantile_sorted(&s, 1.0), Some(100.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn bootstrap_interval_holds_the_estimate_and_is_deterministic() {
        let mut rng = SplitMix64::new(1);
        let s: Vec<f64> = (0..1000).map(|_| rng.next_f64() * 100.0).collect();
        let a = quantile_ci(&s, 0.99, 500, 0.95, 7).unwrap();
        let b = quantile_ci(&s, 0.99, 500, 0.95, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.lower <= a.estimate && a.estimate <= a.upper, "{a:?}");
        assert!(a.upper - a.lower < 5.0, "{a:?}");
    }

    #[test]
    fn failures_as_infinity_reach_the_upper_bound() {
        let mut s: Vec<f64> = (0..1000).map(f64::from).collect();
        for v in s.iter_mut().take(8) {
            *v = f64::INFINITY;
        }
        let ci = quantile_ci(&s, 0.99, 500, 0.95, 1).unwrap();
        assert!(ci.estimate.is_finite());
        assert!(
            ci.upper.is_infinite(),
            "8 failures in 1000: p99's bound can be ∞: {ci:?}"
        );
    }

    #[test]
    fn a_growing_queue_is_overloaded_a_steady_one_is_not() {
        let mut grow = OverloadTest::new(400.0);
        let mut steady = OverloadTest::new(100.0);
        let mut rng = SplitMix64::new(3);
        let mut grew = None;
        for i in 1..=40 {
            let t = i as f64 * 0.05;
            let jitter = (rng.next_f64() * 6.0) as u64;
            if grew.is_none() {
                grew = grow.observe(
                    t,
                    (200.0 * t) as u64 + jitter,
                    (400.0 * t) as u64,
                    (200.0 * t) as u64,
                );
            }
            let calm = steady.observe(t, 2 + jitter, (100.0 * t) as u64, (100.0 * t) as u64 - 2);
            assert!(calm.is_none(), "steady flagged at {t}: {calm:?}");
        }
        assert!(grew.is_some());
    }
}
