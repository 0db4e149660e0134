//! Pure statistics of the capacity search: a percentile with a batch-means interval
//! (infinite samples allowed: failed requests), a check that a queue is not still
//! filling, and a test for a queue that grows without bound.

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

/// A percentile's estimate and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileCi {
    /// The percentile of the samples.
    pub estimate: f64,
    /// Lower bound of the interval (may be infinite).
    pub lower: f64,
    /// Upper bound of the interval (may be infinite).
    pub upper: f64,
}

/// Batches of [`quantile_ci`]: consecutive runs of samples in arrival order.
pub const BATCHES: usize = 10;

/// The `q`-quantile of `samples` (in arrival order; `f64::INFINITY` for a failed
/// request) with a two-sided `confidence` interval by **batch means** that respects
/// autocorrelation. Latencies from one queue come in runs — a busy period delays many
/// requests in a row — so they are split into [`BATCHES`] consecutive batches, and for
/// each threshold x the fraction F̂(x) of samples ≤ x gets the standard error of the
/// mean of its batch fractions (at least the binomial √(q(1 − q)/n) that independent
/// samples would give: autocorrelation is never taken to help) and a Student-t
/// quantile with `BATCHES − 1` degrees of freedom. The interval is the set of x the
/// test of F(x) = q does not reject: `lower` is the smallest sample with
/// F̂ + t·se ≥ q, `upper` the smallest with F̂ − t·se ≥ q (∞ when none: too few samples,
/// or failures, to bound the percentile). So `upper ≤ limit` certifies that at least a
/// fraction q of requests met the limit, and `lower > limit` that fewer did, each at
/// (1 − confidence)/2, provided batches are longer than the latencies' correlation
/// time. Deterministic. `None` for no samples or a NaN; with fewer samples than
/// batches, each sample is a batch.
pub fn quantile_ci(samples: &[f64], q: f64, confidence: f64) -> Option<QuantileCi> {
    if samples.is_empty() || samples.iter().any(|x| x.is_nan()) {
        return None;
    }
    let n = samples.len();
    let batches = BATCHES.min(n).max(2);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| samples[a].total_cmp(&samples[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| samples[i]).collect();
    let estimate = quantile_sorted(&sorted, q)?;
    let t = t_quantile(batches - 1, 1.0 - (1.0 - confidence).clamp(0.0, 1.0) / 2.0);
    let floor = (q * (1.0 - q) / n as f64).sqrt();
    let batch_of = |i: usize| (i * batches / n).min(batches - 1);
    let mut size = vec![0usize; batches];
    for i in 0..n {
        size[batch_of(i)] += 1;
    }
    let mut below = vec![0usize; batches];
    let (mut lower, mut upper) = (None, None);
    let mut k = 0;
    while k < n && upper.is_none() {
        // Every sample equal to sorted[k] joins at once: F̂ is a fraction ≤ x.
        let x = sorted[k];
        while k < n && sorted[k].total_cmp(&x).is_eq() {
            below[batch_of(order[k])] += 1;
            k += 1;
        }
        let f = k as f64 / n as f64;
        let se = batch_se(&below, &size).max(floor);
        if lower.is_none() && f + t * se >= q {
            lower = Some(x);
        }
        if f - t * se >= q {
            upper = Some(x);
        }
    }
    Some(QuantileCi {
        estimate,
        lower: lower.unwrap_or(f64::INFINITY),
        upper: upper.unwrap_or(f64::INFINITY),
    })
}

/// Standard error of the mean of the batch fractions `count[k] / size[k]`.
fn batch_se(count: &[usize], size: &[usize]) -> f64 {
    let b = count.len() as f64;
    let fr: Vec<f64> = count
        .iter()
        .zip(size)
        .map(|(&c, &s)| c as f64 / s.max(1) as f64)
        .collect();
    let mean = fr.iter().sum::<f64>() / b;
    let var = fr.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / (b - 1.0);
    (var / b).sqrt()
}

/// The `p`-quantile of Student's t with `df` degrees of freedom.
fn t_quantile(df: usize, p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df as f64).map_or(f64::INFINITY, |d| d.inverse_cdf(p))
}

/// Whether the later half of a probe's samples (arrival order) alone also bounds the
/// `q`-quantile within `limit` (its [`quantile_ci`] upper bound). A queue that is
/// still filling — a rate at or just beyond saturation, started empty — shows its
/// growth at the end of the probe, so a pass needs this as well as the whole probe's
/// bound: a steady queue passes both, a filling one fails the second.
pub fn later_half_within(samples: &[f64], q: f64, confidence: f64, limit: f64) -> bool {
    quantile_ci(&samples[samples.len() / 2..], q, confidence).is_some_and(|c| c.upper <= limit)
}

/// Decides, from in-flight counts sampled during a run, whether work is piling up
/// without bound: the least-squares slope of in-flight requests over time is
/// positive beyond `Z` standard errors and above a floor, and completions lag
/// arrivals. The start-up ramp is not growth: from an empty server, requests in
/// flight rise for one service time before the first completes, so samples count
/// only from three times the time of the first completion (and [`MIN_SECONDS`] / 2)
/// on: service times vary, and the count settles only once the slowest of the
/// first requests has completed.
#[derive(Debug, Clone)]
pub struct OverloadTest {
    rate: f64,
    t: Vec<f64>,
    y: Vec<f64>,
    first_done: Option<f64>,
}

/// Standard errors the growth must exceed zero by (one-sided p ≈ 0.0005 per look).
pub const Z: f64 = 3.3;
/// Samples needed before the test may fire.
pub const MIN_SAMPLES: usize = 10;
/// No verdict before this many seconds (the queue's start-up ramp).
pub const MIN_SECONDS: f64 = 0.2;

impl OverloadTest {
    /// A test for a run offered `rate` requests per second.
    pub fn new(rate: f64) -> Self {
        OverloadTest {
            rate,
            t: Vec::new(),
            y: Vec::new(),
            first_done: None,
        }
    }

    /// The growth floor, requests per second: 5 % of the offered rate, at least 2.
    pub fn floor(&self) -> f64 {
        (0.05 * self.rate).max(2.0)
    }

    /// Adds a sample (`t` seconds since the start; `in_flight` sent and unfinished;
    /// `sent` and `done` so far) and returns why the run is overloaded, if it is.
    pub fn observe(&mut self, t: f64, in_flight: u64, sent: u64, done: u64) -> Option<String> {
        if done > 0 && self.first_done.is_none() {
            self.first_done = Some(t);
        }
        let ramp = self.first_done.map_or(f64::INFINITY, |f| 3.0 * f);
        if t < ramp.max(MIN_SECONDS / 2.0) {
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

/// Least-squares slope of `y` on `x` and its standard error, widened for the
/// residuals' lag-1 autocorrelation r ≥ 0 by √((1 + r) / (1 − r)) (r capped at 0.9):
/// a stall of a busy client host makes a bump in the in-flight count whose
/// residuals run together, and taken as independent they would pass for growth.
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
    let resid: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(a, b)| b - my - slope * (a - mx))
        .collect();
    let ss: f64 = resid.iter().map(|e| e * e).sum();
    let lag1: f64 = resid.windows(2).map(|w| w[0] * w[1]).sum();
    let r = if ss > 0.0 {
        (lag1 / ss).clamp(0.0, 0.9)
    } else {
        0.0
    };
    let se = (ss / (n - 2.0) / sxx).sqrt() * ((1.0 + r) / (1.0 - r)).sqrt();
    Some((slope, se))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn nearest_rank_quantiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile_sorted(&s, 0.5), Some(50.0));
        assert_eq!(quantile_sorted(&s, 0.99), Some(99.0));
        assert_eq!(quantile_sorted(&s, 1.0), Some(100.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn interval_holds_the_estimate_and_is_deterministic() {
        let mut rng = SplitMix64::new(1);
        let s: Vec<f64> = (0..1000).map(|_| rng.next_f64() * 100.0).collect();
        let a = quantile_ci(&s, 0.99, 0.95).unwrap();
        assert_eq!(a, quantile_ci(&s, 0.99, 0.95).unwrap());
        assert!(a.lower <= a.estimate && a.estimate <= a.upper, "{a:?}");
        assert!(a.upper - a.lower < 5.0, "{a:?}");
        assert_eq!(quantile_ci(&[], 0.5, 0.95), None);
        assert_eq!(quantile_ci(&[1.0, f64::NAN], 0.5, 0.95), None);
    }

    /// Coverage of the true p95 of a stationary Gaussian AR(1) series with
    /// coefficient `phi` (0: independent samples), `n` samples, over seeded trials.
    fn coverage(phi: f64, n: usize, trials: u64) -> f64 {
        let sd = 1.0 / (1.0 - phi * phi).sqrt();
        let p95 = 1.644_853_6 * sd;
        let mut hits = 0;
        for seed in 0..trials {
            let mut rng = SplitMix64::new(seed);
            let mut normal = || {
                let (u, v) = (1.0 - rng.next_f64(), rng.next_f64());
                (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            };
            let mut x = normal() * sd;
            let s: Vec<f64> = (0..n)
                .map(|_| {
                    x = phi * x + normal();
                    x
                })
                .collect();
            let ci = quantile_ci(&s, 0.95, 0.95).unwrap();
            hits += usize::from(ci.lower <= p95 && p95 <= ci.upper);
        }
        hits as f64 / trials as f64
    }

    #[test]
    fn independent_samples_are_covered_at_about_the_confidence() {
        let c = coverage(0.0, 800, 400);
        assert!(c >= 0.92, "coverage {c}");
    }

    #[test]
    fn autocorrelated_samples_are_still_covered() {
        // φ = 0.95: runs of about 40 samples; 4,000 samples but ≈ 100 independent
        // ones. An interval that took them as independent would cover the p95
        // about half the time.
        let c = coverage(0.95, 4000, 300);
        assert!(c >= 0.90, "coverage {c}");
    }

    #[test]
    fn too_few_samples_leave_the_upper_bound_infinite() {
        let s: Vec<f64> = (0..40).map(f64::from).collect();
        let ci = quantile_ci(&s, 0.95, 0.95).unwrap();
        assert!(ci.upper.is_infinite() && ci.lower.is_finite(), "{ci:?}");
    }

    #[test]
    fn failures_as_infinity_reach_the_upper_bound() {
        let mut s: Vec<f64> = (0..1000).map(f64::from).collect();
        for v in s.iter_mut().take(8) {
            *v = f64::INFINITY;
        }
        let ci = quantile_ci(&s, 0.99, 0.95).unwrap();
        assert!(ci.estimate.is_finite());
        assert!(
            ci.upper.is_infinite(),
            "8 failures in 1000: p99's bound can be ∞: {ci:?}"
        );
    }

    #[test]
    fn a_queue_still_filling_fails_the_later_half() {
        // Flat at 10, then rising to 100 over the last quarter (a queue filling):
        // the later half's bound on the p95 exceeds 50; a steady series' does not.
        let s: Vec<f64> = (0..800)
            .map(|i| {
                if i < 600 {
                    10.0
                } else {
                    10.0 + (i - 600) as f64 * 0.45
                }
            })
            .collect();
        assert!(!later_half_within(&s, 0.95, 0.95, 50.0));
        let flat: Vec<f64> = (0..800).map(|i| 10.0 + (i % 7) as f64).collect();
        assert!(later_half_within(&flat, 0.95, 0.95, 50.0));
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

    #[test]
    fn runs_of_residuals_widen_the_slope_error() {
        let x: Vec<f64> = (0..20).map(f64::from).collect();
        // The same residuals, alternating or in two runs: the runs are a bump, not
        // independent noise, and their slope is less certain.
        let alternating: Vec<f64> = x
            .iter()
            .map(|&i| if i % 2.0 == 0.0 { 1.0 } else { -1.0 })
            .collect();
        let runs: Vec<f64> = x
            .iter()
            .map(|&i| if (5.0..15.0).contains(&i) { 1.0 } else { -1.0 })
            .collect();
        let (_, se_alt) = slope_se(&x, &alternating).unwrap();
        let (_, se_runs) = slope_se(&x, &runs).unwrap();
        assert!(se_runs > 2.0 * se_alt, "{se_runs} vs {se_alt}");
    }

    #[test]
    fn the_ramp_of_slow_requests_is_not_overload() {
        // 64 slots of 200 ms at 275 req/s (ρ ≈ 0.86): in flight rise at 275/s
        // until the first request completes at 0.2 s, then stay near 55.
        let mut test = OverloadTest::new(275.0);
        for i in 1..=60 {
            let t = i as f64 * 0.05;
            let sent = (275.0 * t) as u64;
            let done = (275.0 * (t - 0.2)).max(0.0) as u64;
            let why = test.observe(t, sent - done, sent, done);
            assert!(why.is_none(), "flagged at {t}: {why:?}");
        }
    }
}
