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
/// mean of its batch fractions, estimated with `BATCHES − 1` degrees of freedom and so
/// taken with a Student-t quantile t, and a floor: the standard error √(q(1 − q)/n)
/// that F̂(x) has under the hypothesis F(x) = q for independent samples
/// (autocorrelation is never taken to help), a known value taken with the normal
/// quantile z. The interval is the set of x that test does not reject: with
/// m = max(t · se_batches, z · floor), `lower` is the smallest sample with
/// F̂ + m ≥ q, `upper` the smallest with F̂ − m ≥ q (∞ when none: too few samples,
/// or failures, to bound the percentile). So `upper ≤ limit` certifies that at least a
/// fraction q of requests met the limit, and `lower > limit` that fewer did, each at
/// (1 − confidence)/2, provided batches are longer than the latencies' correlation
/// time — which near a queue's knee under Poisson arrivals they are not (see
/// [`quantile_ci_correlated`]). Deterministic. `None` for no samples or a NaN; with
/// fewer samples than batches, each sample is a batch.
pub fn quantile_ci(samples: &[f64], q: f64, confidence: f64) -> Option<QuantileCi> {
    interval(samples, q, confidence, Interval::BatchMeans)
}

/// [`quantile_ci`] with the binomial floor of the standard error widened to
/// √(q(1 − q) · τ / n), τ ≥ 1 the autocorrelation time of the exceedances of the
/// estimate ([`exceedance_time`]): n / τ is the effective sample size. Batches
/// alone are not enough near a queue's knee: the percentile rests on a few long
/// busy periods, a short probe's batches are no longer than one, and their
/// fractions look alike. In simulation (tests/capacity_sim.rs: 64 slots of 200 ms,
/// Poisson arrivals, p95 of TTFT, probes of 400 requests) probes 2–6 % beyond the
/// capacity passed [`quantile_ci`]'s bound 25–50 % of the time and this one's
/// 1–2 %. The price is power: a nonparametric bound on a p95 needs about
/// z²·q/(1 − q) ≈ 73 effective samples however far the limit is (the exact
/// binomial bound with no exceedance at all: 72), so probes whose exceedances come
/// in pairs or triples (τ ≈ 2–3: a few slots at half load) need 2–3 times the
/// requests to pass, and the later half of a probe twice that.
/// Still low when the probe saw none of the rare long runs that make τ up: no
/// statistic of one probe can see those. Deterministic; `None` as [`quantile_ci`].
pub fn quantile_ci_correlated(samples: &[f64], q: f64, confidence: f64) -> Option<QuantileCi> {
    interval(samples, q, confidence, Interval::Correlated)
}

/// How a percentile's interval is computed (`capacity --interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// Batch means, the standard error floored at the binomial one
    /// ([`quantile_ci`]): more power, but near a Poisson-fed queue's knee single
    /// probes a few percent beyond the capacity pass a quarter to half of the time
    /// (simulated, tests/capacity_sim.rs).
    BatchMeans,
    /// Batch means, the floor widened by the autocorrelation time τ of the
    /// exceedances of the estimate ([`quantile_ci_correlated`]): honest near a
    /// Poisson-fed queue's knee, but a probe then needs about 73 · τ measured
    /// requests per half to pass a p95 at all. The default: a search may then
    /// stop unnarrowed (and say so), but is not confidently wrong.
    #[default]
    Correlated,
}

impl Interval {
    /// The `q`-quantile of `samples` with its `confidence` interval by this method.
    pub fn ci(self, samples: &[f64], q: f64, confidence: f64) -> Option<QuantileCi> {
        interval(samples, q, confidence, self)
    }

    /// Whether the later half of `samples` (arrival order) alone also bounds the
    /// `q`-quantile within `limit` by this method (see [`later_half_within`]).
    pub fn later_half_within(self, samples: &[f64], q: f64, confidence: f64, limit: f64) -> bool {
        self.ci(&samples[samples.len() / 2..], q, confidence)
            .is_some_and(|c| c.upper <= limit)
    }
}

impl std::str::FromStr for Interval {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "batch-means" => Ok(Interval::BatchMeans),
            "correlated" => Ok(Interval::Correlated),
            other => Err(format!(
                "{other:?} is unknown; valid: batch-means, correlated"
            )),
        }
    }
}

/// The percentile's interval by `method`: the floor's τ is 1 for batch means, the
/// exceedances' autocorrelation time at the estimate when correlated.
fn interval(samples: &[f64], q: f64, confidence: f64, method: Interval) -> Option<QuantileCi> {
    if samples.is_empty() || samples.iter().any(|x| x.is_nan()) {
        return None;
    }
    let n = samples.len();
    let batches = Batches::new(n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| samples[a].total_cmp(&samples[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| samples[i]).collect();
    let estimate = quantile_sorted(&sorted, q)?;
    let (t, z) = batches.critical(confidence);
    let tau = match method {
        Interval::BatchMeans => 1.0,
        Interval::Correlated => exceedance_time(samples, estimate),
    };
    let floor = (q * (1.0 - q) * tau / n as f64).sqrt();
    let size = batches.sizes();
    let mut below = vec![0usize; batches.count];
    let (mut lower, mut upper) = (None, None);
    let mut k = 0;
    while k < n && upper.is_none() {
        // Every sample equal to sorted[k] joins at once: F̂ is a fraction ≤ x.
        let x = sorted[k];
        while k < n && sorted[k].total_cmp(&x).is_eq() {
            below[batches.of(order[k])] += 1;
            k += 1;
        }
        let f = k as f64 / n as f64;
        let margin = (t * batch_se(&below, &size)).max(z * floor);
        if lower.is_none() && f + margin >= q {
            lower = Some(x);
        }
        if f - margin >= q {
            upper = Some(x);
        }
    }
    Some(QuantileCi {
        estimate,
        lower: lower.unwrap_or(f64::INFINITY),
        upper: upper.unwrap_or(f64::INFINITY),
    })
}

/// The integrated autocorrelation time τ = 1 + 2 Σₖ ρₖ of a series (in its order),
/// by Geyer's initial positive sequence estimator: sums of adjacent pairs of
/// sample autocovariances, γ₂ⱼ + γ₂ⱼ₊₁, are added while they stay positive. The
/// variance of the series' mean is about τ times that of independent samples, so
/// n / τ is its effective sample size. A series longer than [`TAU_POINTS`] is
/// first averaged in consecutive blocks of m (at most that many blocks) and
/// τ = m · τ_blocks · var(blocks) / var(series), which keeps the cost O(n) plus
/// O(TAU_POINTS²) at most and, like batch means, misses only correlation within
/// a block's span that the blocks' own variance already carries. At least 1
/// (autocorrelation is never taken to help), at most n; 1 for a constant series
/// or fewer than 4 values. Deterministic. Like every estimate from one series, it
/// is low when the series holds only a few of the runs that make τ up.
pub fn autocorrelation_time(series: &[f64]) -> f64 {
    let n = series.len();
    if n < 4 {
        return 1.0;
    }
    let g0 = variance(series);
    if g0 <= 0.0 {
        return 1.0;
    }
    let tau = if n <= TAU_POINTS {
        ips_time(series, g0)
    } else {
        let m = n.div_ceil(TAU_POINTS);
        let blocks: Vec<f64> = series
            .chunks_exact(m)
            .map(|c| c.iter().sum::<f64>() / m as f64)
            .collect();
        let gb = variance(&blocks);
        if gb <= 0.0 {
            1.0
        } else {
            m as f64 * ips_time(&blocks, gb) * gb / g0
        }
    };
    tau.clamp(1.0, n as f64)
}

/// Values above which [`autocorrelation_time`] works on block means.
pub const TAU_POINTS: usize = 2048;

/// Population variance (divided by n) of a non-empty series.
fn variance(series: &[f64]) -> f64 {
    let n = series.len() as f64;
    let mean = series.iter().sum::<f64>() / n;
    series.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
}

/// Geyer's initial positive sequence τ of `series`, whose variance is `g0` > 0.
fn ips_time(series: &[f64], g0: f64) -> f64 {
    let n = series.len();
    let mean = series.iter().sum::<f64>() / n as f64;
    let d: Vec<f64> = series.iter().map(|x| x - mean).collect();
    let gamma = |k: usize| d.iter().zip(&d[k..]).map(|(a, b)| a * b).sum::<f64>() / n as f64;
    let mut sum = 0.0;
    let mut k = 0;
    while k + 1 < n {
        let pair = gamma(k) + gamma(k + 1);
        if pair <= 0.0 {
            break;
        }
        sum += pair;
        k += 2;
    }
    (2.0 * sum - g0) / g0
}

/// The autocorrelation time ([`autocorrelation_time`]) of the indicator series
/// "sample > `x`" in arrival order: how many consecutive requests one exceedance
/// of `x` stands for on average (1: independent; 60: exceedances come in runs of
/// dozens, such as one long busy period of a queue).
pub fn exceedance_time(samples: &[f64], x: f64) -> f64 {
    let exceeds: Vec<f64> = samples
        .iter()
        .map(|&v| f64::from(u8::from(v > x)))
        .collect();
    autocorrelation_time(&exceeds)
}

/// Measured requests a probe at the same rate would need for [`quantile_ci_correlated`] to
/// decide about `limit` — upper bound within it, or lower bound beyond it — if the
/// fraction F̂ of `samples` within the limit and the autocorrelation time τ of the
/// exceedances at the q-quantile ([`exceedance_time`]) stayed as observed:
/// n = z² · τ · q(1 − q) / (F̂ − q)², z the normal quantile of the floor, or, when
/// the batches' own standard error se_b of F̂ at the limit is the wider, n = n₀ ·
/// (t · se_b / (F̂ − q))² (n₀ the samples, t as in [`quantile_ci`]: the batches'
/// error shrinks as 1/√n); doubled when F̂ > q (a pass needs the later half on its
/// own, see [`later_half_within`]). A planning figure, not a guarantee: F̂, τ and
/// se_b come from one probe, and τ is underestimated when the probe saw few of the
/// runs that make it up. `None` for no samples, a NaN, or F̂ = q.
pub fn requests_to_decide(samples: &[f64], q: f64, confidence: f64, limit: f64) -> Option<u64> {
    let n = samples.len();
    if n == 0 || samples.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let estimate = quantile_sorted(&sorted, q)?;
    let within = samples.iter().filter(|&&v| v <= limit).count() as f64 / n as f64;
    let distance = (within - q).abs();
    if distance == 0.0 {
        return None;
    }
    let batches = Batches::new(n);
    let (t, z) = batches.critical(confidence);
    let tau = exceedance_time(samples, estimate);
    let by_floor = z * z * tau * q * (1.0 - q) / (distance * distance);
    let mut below = vec![0usize; batches.count];
    for (i, &v) in samples.iter().enumerate() {
        below[batches.of(i)] += usize::from(v <= limit);
    }
    let by_batches = n as f64 * (t * batch_se(&below, &batches.sizes()) / distance).powi(2);
    let halves = if within > q { 2.0 } else { 1.0 };
    let need = halves * by_floor.max(by_batches);
    Some(need.ceil().min(u64::MAX as f64) as u64)
}

/// The consecutive batches (arrival order) that [`quantile_ci`] cuts `n` samples
/// into: [`BATCHES`] of them, fewer for fewer samples (one each), at least 2.
struct Batches {
    n: usize,
    count: usize,
}

impl Batches {
    fn new(n: usize) -> Self {
        Batches {
            n,
            count: BATCHES.min(n).max(2),
        }
    }

    /// The batch that holds sample `i`.
    fn of(&self, i: usize) -> usize {
        (i * self.count / self.n).min(self.count - 1)
    }

    /// Samples per batch.
    fn sizes(&self) -> Vec<usize> {
        let mut size = vec![0usize; self.count];
        for i in 0..self.n {
            size[self.of(i)] += 1;
        }
        size
    }

    /// The two-sided `confidence` critical values: Student's t with `count − 1`
    /// degrees of freedom for the batches' estimated standard error, and the
    /// normal z for the known one of the floor.
    fn critical(&self, confidence: f64) -> (f64, f64) {
        let p = 1.0 - (1.0 - confidence).clamp(0.0, 1.0) / 2.0;
        (t_quantile(self.count - 1, p), normal_quantile(p))
    }
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

/// The `p`-quantile of the standard normal distribution.
fn normal_quantile(p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::new(0.0, 1.0).map_or(f64::INFINITY, |d| d.inverse_cdf(p))
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
    Interval::BatchMeans.later_half_within(samples, q, confidence, limit)
}

/// Decides, from in-flight counts sampled during a run, whether work is piling up
/// without bound: the least-squares slope of in-flight requests over time is
/// positive beyond `Z` standard errors and above a floor, and completions lag
/// arrivals. The start-up ramp is not growth: from an empty server, requests in
/// flight rise for one service time before the first completes, so samples count
/// only from three times the time of the first completion (and [`MIN_SECONDS`] / 2)
/// on: service times vary, and the count settles only once the slowest of the
/// first requests has completed. No verdict either before those samples span
/// [`MIN_SPANS`] times the first completion's time, and the slope's error counts
/// the samples within one such time as one (requests in flight below capacity are
/// correlated over about a service time).
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
/// No verdict before the samples span this many times the first completion's
/// time (about a service time, over which requests in flight stay correlated):
/// over a shorter span a chance run of arrivals looks like growth. In simulation
/// (64 slots of 200 ms, 600-request probes, Poisson arrivals) the test fired at
/// 0.5–0.9 of the capacity in 16–26 of 400 probes, nearly always at its first
/// look, 0.45 s after the ramp; with this and the spacing floor on τ in 0–1.
pub const MIN_SPANS: f64 = 3.0;

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
        // In flight below capacity is correlated over about one service time,
        // which the first completion measures.
        let service = self.first_done.unwrap_or(0.0);
        if t - self.t[0] < MIN_SPANS * service {
            return None; // too few independent stretches to tell a trend
        }
        let (slope, se) = slope_se(&self.t, &self.y, service)?;
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

/// Least-squares slope of `y` on `x` and its standard error, widened by √τ for
/// residuals that run together: a stall of a busy client host makes a bump in the
/// in-flight count, and requests in flight stay correlated for about a service
/// time, so taken as independent they would pass for growth. τ is the larger of
/// (1 + r)/(1 − r) for the residuals' lag-1 autocorrelation r ≥ 0 (capped at 0.9)
/// and `corr` / spacing, the samples one correlation time `corr` spans (the
/// lag-1 estimate from a dozen residuals is low). `None` for fewer than 3 samples
/// or no spread in x.
fn slope_se(x: &[f64], y: &[f64], corr: f64) -> Option<(f64, f64)> {
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
    let span = x[x.len() - 1] - x[0];
    let spacing = span / (n - 1.0);
    let tau = ((1.0 + r) / (1.0 - r)).max(if spacing > 0.0 { corr / spacing } else { 1.0 });
    let se = (ss / (n - 2.0) / sxx).sqrt() * tau.sqrt();
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

    /// The floor is a known standard error under the hypothesis F(x) = q, taken
    /// with the normal quantile: with no sample beyond x, a p95's upper bound needs
    /// n ≥ 1.96² · 0.95 / 0.05 ≈ 72.99 independent samples (the exact binomial
    /// bound: 72), not the t(9) quantile's 97.
    #[test]
    fn the_floor_bounds_a_p95_from_73_samples_without_exceedances() {
        for method in [Interval::BatchMeans, Interval::Correlated] {
            let at = |n: usize| method.ci(&vec![5.0; n], 0.95, 0.95).unwrap().upper;
            assert_eq!(at(72), f64::INFINITY, "{method:?}");
            assert_eq!(at(73), 5.0, "{method:?}");
        }
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

    /// τ̂ of `trials` seeded series of `n` values of a Gaussian AR(1) with
    /// coefficient `phi`, sorted.
    fn ar1_times(phi: f64, n: usize, trials: u64) -> Vec<f64> {
        let mut out: Vec<f64> = (0..trials)
            .map(|seed| {
                let mut rng = SplitMix64::new(1000 + seed);
                let mut x = 0.0;
                let s: Vec<f64> = (0..n)
                    .map(|_| {
                        let (u, v) = (1.0 - rng.next_f64(), rng.next_f64());
                        let e = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                        x = phi * x + e;
                        x
                    })
                    .collect();
                autocorrelation_time(&s)
            })
            .collect();
        out.sort_by(f64::total_cmp);
        out
    }

    #[test]
    fn independent_values_have_an_autocorrelation_time_near_one() {
        let t = ar1_times(0.0, 1000, 40);
        assert!(t[20] < 1.5 && t[39] < 3.0, "{t:?}");
        assert!(t.iter().all(|&v| v >= 1.0));
    }

    #[test]
    fn ar1_autocorrelation_time_is_about_its_theoretical_value() {
        // τ = (1 + φ) / (1 − φ) = 9 for φ = 0.8; 3,000 values (block means) and
        // 1,500 (directly).
        for n in [1500, 3000] {
            let t = ar1_times(0.8, n, 40);
            assert!((7.0..11.0).contains(&t[20]), "n {n}: median {}", t[20]);
        }
    }

    #[test]
    fn a_constant_or_tiny_series_has_autocorrelation_time_one() {
        assert_eq!(autocorrelation_time(&[3.0; 100]), 1.0);
        assert_eq!(autocorrelation_time(&[1.0, 5.0, 2.0]), 1.0);
        // One run of ones in zeros: τ of the order of the run's length.
        let run: Vec<f64> = (0..400)
            .map(|i| f64::from(u8::from((100..140).contains(&i))))
            .collect();
        let t = autocorrelation_time(&run);
        assert!(t > 20.0, "{t}");
    }

    /// A queue's latencies, simplified: busy periods (values 50 + 50·U) a
    /// stationary 8 % of the time in runs of mean length `run`, else idle
    /// (10·U); the true p95 is 68.75.
    fn modulated(run: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        let leave = 1.0 / run;
        let enter = 0.08 * leave / 0.92;
        let mut busy = rng.next_f64() < 0.08;
        (0..n)
            .map(|_| {
                let p = if busy { 1.0 - leave } else { enter };
                busy = rng.next_f64() < p;
                let u = rng.next_f64();
                if busy {
                    50.0 + 50.0 * u
                } else {
                    10.0 * u
                }
            })
            .collect()
    }

    #[test]
    fn busy_periods_do_not_pass_a_percentile_beyond_the_limit() {
        // Runs of 10, 2,000 values: batches of 200 hold a busy period or two
        // each, and their fractions vary less than the runs make the whole vary.
        // The upper bound must lie below the true p95 at most about
        // (1 − 0.95) / 2 of the time (by batch means alone: 7.2 % of 1,000
        // seeds; with τ: 1.2 %).
        let trials = 400;
        let below = |ci: fn(&[f64], f64, f64) -> Option<QuantileCi>| {
            (0..trials)
                .filter(|&seed| ci(&modulated(10.0, 2000, seed), 0.95, 0.95).unwrap().upper < 68.75)
                .count()
        };
        let (below, batches_only) = (below(quantile_ci_correlated), below(quantile_ci));
        assert!(batches_only > 2 * below, "{batches_only} vs {below}");
        assert!(below as f64 / (trials as f64) < 0.04, "{below} of {trials}");
    }

    #[test]
    fn requests_to_decide_grow_near_the_limit_and_with_runs() {
        let mut rng = SplitMix64::new(5);
        let iid: Vec<f64> = (0..1000).map(|_| rng.next_f64() * 100.0).collect();
        // F̂(99) ≈ 0.99 against q = 0.95: a few hundred; F̂(96) ≈ 0.96: thousands.
        let far = requests_to_decide(&iid, 0.95, 0.95, 99.0).unwrap();
        let near = requests_to_decide(&iid, 0.95, 0.95, 96.0).unwrap();
        assert!(far < 1000 && near > 4 * far, "{far} {near}");
        // A tenth as many values, each repeated ten times in a row: about ten
        // times as many requests.
        let runs: Vec<f64> = iid[..100]
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, 10))
            .collect();
        let slow = requests_to_decide(&runs, 0.95, 0.95, 99.0).unwrap();
        assert!(slow > 4 * far, "{slow} vs {far}");
        assert_eq!(requests_to_decide(&[], 0.95, 0.95, 1.0), None);
        // A queue that filled during the probe: its first half within the limit,
        // its second far beyond (F̂ = 0.5, far from q, but the batches disagree):
        // the batches' error asks for more than the floor's 73-odd.
        let filling: Vec<f64> = (0..400)
            .map(|i| if i < 200 { 10.0 } else { 90.0 })
            .collect();
        let by_floor = {
            let z: f64 = 1.959_964;
            (z * z * 0.95 * 0.05 / (0.45f64 * 0.45)).ceil() as u64
        };
        let need = requests_to_decide(&filling, 0.95, 0.95, 50.0).unwrap();
        assert!(need > 10 * by_floor, "{need} vs {by_floor}");
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
        let (_, se_alt) = slope_se(&x, &alternating, 0.0).unwrap();
        let (_, se_runs) = slope_se(&x, &runs, 0.0).unwrap();
        assert!(se_runs > 2.0 * se_alt, "{se_runs} vs {se_alt}");
    }

    /// Whether the overload test fires on `count` Poisson arrivals at `rate`, each
    /// served in `service` seconds without waiting (a server far below its
    /// capacity), sampled every 50 ms until the last completes.
    fn fires_without_queue(rate: f64, service: f64, count: usize, seed: u64) -> bool {
        let mut rng = SplitMix64::new(seed);
        let mut t = 0.0;
        let sends: Vec<f64> = (0..count)
            .map(|_| {
                t += -(1.0 - rng.next_f64()).ln() / rate;
                t
            })
            .collect();
        let mut test = OverloadTest::new(rate);
        let end = t + service;
        (1..)
            .map(|i| f64::from(i) * 0.05)
            .take_while(|&now| now <= end)
            .any(|now| {
                let sent = sends.partition_point(|&a| a <= now) as u64;
                let done = sends.partition_point(|&a| a + service <= now) as u64;
                test.observe(now, sent - done, sent, done).is_some()
            })
    }

    #[test]
    fn chance_runs_of_arrivals_far_below_capacity_are_not_overload() {
        // 160 req/s of 200 ms each (32 in flight, ± 6): without the span and
        // spacing floor, 600-request runs fired in 12 of 200 seeds, at their first
        // look, 0.45 s after the ramp; with them in 1.
        let fired = (0..200)
            .filter(|&seed| fires_without_queue(160.0, 0.2, 600, seed))
            .count();
        assert!(fired <= 1, "fired in {fired} of 200");
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
