//! The schedule of intended send times: pure, computed up front from a seed.
//!
//! An open-loop run never recomputes an intended time from "now": every request's
//! intended send is an offset from the run's one monotonic origin, fixed before the
//! first request goes out, so lateness is measured against the schedule and never
//! absorbed by it (no coordinated omission).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::rng::SplitMix64;

/// How inter-arrival gaps are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Every gap is exactly `1 / rate`.
    Constant,
    /// Exponential gaps with mean `1 / rate` (a Poisson process).
    Poisson,
    /// Gamma-distributed gaps with mean `1 / rate` and the given coefficient of
    /// variation (CV = 1 is Poisson; CV > 1 is burstier, CV < 1 more regular).
    Gamma {
        /// Coefficient of variation of the gaps (standard deviation / mean), > 0.
        cv: f64,
    },
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arrival::Constant => f.write_str("constant"),
            Arrival::Poisson => f.write_str("poisson"),
            Arrival::Gamma { cv } => write!(f, "gamma:{cv}"),
        }
    }
}

impl FromStr for Arrival {
    type Err = String;

    /// Parses `constant`, `poisson` or `gamma:CV` (CV a positive finite number).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        match s {
            "constant" => return Ok(Arrival::Constant),
            "poisson" => return Ok(Arrival::Poisson),
            _ => {}
        }
        if let Some(cv) = s.strip_prefix("gamma:") {
            return match cv.trim().parse::<f64>() {
                Ok(cv) if cv.is_finite() && cv > 0.0 => Ok(Arrival::Gamma { cv }),
                _ => Err(format!(
                    "gamma's coefficient of variation must be a positive number, got {cv:?} (e.g. gamma:2)"
                )),
            };
        }
        Err(format!(
            "unknown arrival process {s:?}; valid: constant, poisson, gamma:CV (e.g. gamma:2)"
        ))
    }
}

/// How long the schedule runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Extent {
    /// Exactly this many arrivals.
    Requests(u64),
    /// Every arrival whose intended time is before this many nanoseconds.
    DurationNs(u64),
}

/// An open-loop schedule: `rate` arrivals per second drawn by `arrival` from `seed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenSchedule {
    /// Target arrivals per second (finite, > 0).
    pub rate: f64,
    /// Gap distribution.
    pub arrival: Arrival,
    /// Seed of the gap draws (ignored by [`Arrival::Constant`]).
    pub seed: u64,
    /// When the schedule ends.
    pub extent: Extent,
}

impl OpenSchedule {
    /// The intended send offsets (ns from the run's origin), non-decreasing, the
    /// first at 0. Deterministic: the same schedule always yields the same list.
    pub fn intended(&self) -> Vec<u64> {
        let mut out = Vec::new();
        self.for_each(|t| out.push(t));
        out
    }

    /// Calls `f` with each intended offset in order, without storing the list.
    pub fn for_each(&self, mut f: impl FnMut(u64)) {
        let mut gaps = Gaps::new(self.rate, self.arrival, self.seed);
        let mut t = 0.0f64; // seconds, accumulated in f64 to avoid rounding drift
        let mut i = 0u64;
        loop {
            let ns = (t * 1e9).round() as u64;
            let more = match self.extent {
                Extent::Requests(k) => i < k,
                Extent::DurationNs(d) => ns < d,
            };
            if !more {
                return;
            }
            f(ns);
            i += 1;
            t += gaps.next_gap();
        }
    }
}

/// Lowercase hex SHA-256 of the offsets as little-endian u64s: two runs (or shards)
/// with equal hashes intended the same sends.
pub fn schedule_hash(offsets: &[u64]) -> String {
    let mut h = Sha256::new();
    for t in offsets {
        h.update(t.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Draws inter-arrival gaps in seconds.
struct Gaps {
    mean: f64,
    arrival: Arrival,
    rng: SplitMix64,
}

impl Gaps {
    fn new(rate: f64, arrival: Arrival, seed: u64) -> Self {
        Gaps {
            mean: 1.0 / rate,
            arrival,
            rng: SplitMix64::new(seed),
        }
    }

    fn next_gap(&mut self) -> f64 {
        match self.arrival {
            Arrival::Constant => self.mean,
            Arrival::Poisson => self.mean * exponential(&mut self.rng),
            Arrival::Gamma { cv } => {
                let shape = 1.0 / (cv * cv);
                self.mean * gamma(&mut self.rng, shape) / shape
            }
        }
    }
}

/// A uniform draw in (0, 1]: never 0, so logarithms stay finite.
fn open_unit(rng: &mut SplitMix64) -> f64 {
    1.0 - rng.next_f64()
}

/// Exp(1).
fn exponential(rng: &mut SplitMix64) -> f64 {
    -open_unit(rng).ln()
}

/// N(0, 1) by Box–Muller (one of the pair; simplicity over speed).
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = open_unit(rng);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Gamma(shape, 1) by Marsaglia and Tsang (2000); for shape < 1 the boost
/// Gamma(a) = Gamma(a + 1) · U^(1/a).
fn gamma(rng: &mut SplitMix64, shape: f64) -> f64 {
    if shape < 1.0 {
        let boost = open_unit(rng).powf(1.0 / shape);
        return gamma(rng, shape + 1.0) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = open_unit(rng);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps_of(s: &OpenSchedule) -> Vec<f64> {
        s.intended()
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e9)
            .collect()
    }

    fn mean_cv(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, var.sqrt() / m)
    }

    #[test]
    fn constant_schedule_is_exact() {
        let s = OpenSchedule {
            rate: 50.0,
            arrival: Arrival::Constant,
            seed: 1,
            extent: Extent::Requests(5),
        };
        assert_eq!(
            s.intended(),
            vec![0, 20_000_000, 40_000_000, 60_000_000, 80_000_000]
        );
    }

    #[test]
    fn duration_extent_stops_before_the_end() {
        let s = OpenSchedule {
            rate: 10.0,
            arrival: Arrival::Constant,
            seed: 1,
            extent: Extent::DurationNs(1_000_000_000),
        };
        let t = s.intended();
        assert_eq!(t.len(), 10);
        assert!(t.iter().all(|&x| x < 1_000_000_000));
    }

    #[test]
    fn same_seed_same_schedule_other_seed_other_schedule() {
        let mk = |seed| OpenSchedule {
            rate: 100.0,
            arrival: Arrival::Poisson,
            seed,
            extent: Extent::Requests(100),
        };
        assert_eq!(mk(7).intended(), mk(7).intended());
        assert_ne!(mk(7).intended(), mk(8).intended());
        assert_eq!(
            schedule_hash(&mk(7).intended()),
            schedule_hash(&mk(7).intended())
        );
    }

    #[test]
    fn poisson_gaps_have_mean_one_over_rate_and_cv_one() {
        let s = OpenSchedule {
            rate: 200.0,
            arrival: Arrival::Poisson,
            seed: 42,
            extent: Extent::Requests(20_001),
        };
        let (m, cv) = mean_cv(&gaps_of(&s));
        assert!((m - 0.005).abs() < 0.005 * 0.03, "mean {m}");
        assert!((cv - 1.0).abs() < 0.04, "cv {cv}");
    }

    #[test]
    fn gamma_gaps_have_the_asked_cv() {
        for cv_asked in [0.5, 2.0, 3.0] {
            let s = OpenSchedule {
                rate: 100.0,
                arrival: Arrival::Gamma { cv: cv_asked },
                seed: 9,
                extent: Extent::Requests(40_001),
            };
            let (m, cv) = mean_cv(&gaps_of(&s));
            assert!((m - 0.01).abs() < 0.01 * 0.05, "cv {cv_asked}: mean {m}");
            assert!(
                (cv - cv_asked).abs() < cv_asked * 0.06,
                "cv {cv_asked}: got {cv}"
            );
        }
    }

    #[test]
    fn arrival_parses_and_refuses_with_the_fix() {
        assert_eq!("poisson".parse::<Arrival>(), Ok(Arrival::Poisson));
        assert_eq!("gamma:2".parse::<Arrival>(), Ok(Arrival::Gamma { cv: 2.0 }));
        for bad in ["gamma:0", "gamma:-1", "gamma:NaN", "gamma:", "uniform"] {
            let e = bad.parse::<Arrival>().unwrap_err();
            assert!(e.contains("gamma") || e.contains("valid"), "{bad}: {e}");
        }
    }
}
