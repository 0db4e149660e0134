//! Tool time between a session's turns (`--think`): fixed or drawn from a seeded
//! distribution.
//!
//! Syntax: `200ms`, `1.5s`, `0` (fixed; units ns, us, ms, s; a bare number is
//! milliseconds, as `load --think MS` always read it); `exp:200ms` (exponential
//! with that mean); `uniform:100ms..300ms` (uniform between the two bounds,
//! inclusive of the lower). Draws are a fixed function of (seed, session, turn)
//! ([`Think::draw`]), so a session's tool times do not depend on the order in which
//! sessions run.

use std::fmt;
use std::str::FromStr;

use crate::rng::SplitMix64;

/// A tool-time distribution, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Think {
    /// Always this long.
    Fixed(u64),
    /// Exponential with this mean.
    Exp {
        /// Mean, ns (> 0).
        mean_ns: u64,
    },
    /// Uniform in `[lo_ns, hi_ns]`.
    Uniform {
        /// Lower bound, ns.
        lo_ns: u64,
        /// Upper bound, ns (≥ `lo_ns`).
        hi_ns: u64,
    },
}

impl Default for Think {
    /// No tool time.
    fn default() -> Self {
        Think::Fixed(0)
    }
}

/// Salt separating think draws from the other streams of a seed.
const THINK_SALT: u64 = 0x7417_4B00_0000_0001;

impl Think {
    /// The tool time before turn `turn` of session `session` under `seed`, ns: a
    /// fixed function of the three (the same on every run and every shard).
    pub fn draw(&self, seed: u64, session: u64, turn: u32) -> u64 {
        let mut rng = SplitMix64::new(seed ^ THINK_SALT)
            .fork(session)
            .fork(u64::from(turn));
        match *self {
            Think::Fixed(ns) => ns,
            Think::Exp { mean_ns } => {
                // 1 − u is in (0, 1]: ln is finite.
                let u = 1.0 - rng.next_f64();
                let v = -(mean_ns as f64) * u.ln();
                v.min(u64::MAX as f64 / 2.0).round() as u64
            }
            Think::Uniform { lo_ns, hi_ns } => {
                lo_ns + (rng.next_f64() * (hi_ns - lo_ns) as f64).round() as u64
            }
        }
    }

    /// The mean tool time, ns.
    pub fn mean_ns(&self) -> u64 {
        match *self {
            Think::Fixed(ns) => ns,
            Think::Exp { mean_ns } => mean_ns,
            Think::Uniform { lo_ns, hi_ns } => lo_ns + (hi_ns - lo_ns) / 2,
        }
    }
}

/// A duration `N[unit]` (ns, us, ms, s; no unit: milliseconds), ≥ 0.
fn duration_ns(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let scale = match unit.trim() {
        "" | "ms" => 1e6,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "s" => 1e9,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; valid: ns, us, ms, s (a bare number is ms)"
            ))
        }
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 200ms, 1.5s)"))?;
    let ns = v * scale;
    if !ns.is_finite() || ns < 0.0 {
        return Err(format!("{s:?} must be a duration of 0 or more"));
    }
    if ns > 1e18 {
        return Err(format!("{s:?} is too long"));
    }
    Ok(ns.round() as u64)
}

impl FromStr for Think {
    type Err = String;

    /// Parses the syntax of the module docs; errors say what is wrong and the
    /// valid forms.
    fn from_str(s: &str) -> Result<Self, String> {
        let forms = "valid: 200ms, 1.5s, exp:MEAN (e.g. exp:200ms), uniform:LO..HI (e.g. uniform:100ms..300ms)";
        let s = s.trim();
        if let Some(mean) = s.strip_prefix("exp:") {
            let mean_ns = duration_ns(mean).map_err(|e| format!("exp: {e}; {forms}"))?;
            if mean_ns == 0 {
                return Err(format!("exp's mean must be above 0; {forms}"));
            }
            return Ok(Think::Exp { mean_ns });
        }
        if let Some(range) = s.strip_prefix("uniform:") {
            let (lo, hi) = range
                .split_once("..")
                .ok_or_else(|| format!("write uniform:LO..HI; {forms}"))?;
            let lo_ns = duration_ns(lo).map_err(|e| format!("uniform: {e}; {forms}"))?;
            let hi_ns = duration_ns(hi).map_err(|e| format!("uniform: {e}; {forms}"))?;
            if hi_ns < lo_ns {
                return Err(format!("uniform's upper bound is below its lower; {forms}"));
            }
            return Ok(Think::Uniform { lo_ns, hi_ns });
        }
        duration_ns(s)
            .map(Think::Fixed)
            .map_err(|e| format!("{e}; {forms}"))
    }
}

fn fmt_ns(ns: u64) -> String {
    if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns.is_multiple_of(1_000) {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

impl fmt::Display for Think {
    /// The canonical form (parses back to the same value).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Think::Fixed(ns) => f.write_str(&fmt_ns(ns)),
            Think::Exp { mean_ns } => write!(f, "exp:{}", fmt_ns(mean_ns)),
            Think::Uniform { lo_ns, hi_ns } => {
                write!(f, "uniform:{}..{}", fmt_ns(lo_ns), fmt_ns(hi_ns))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for (s, want) in [
            ("200ms", Think::Fixed(200_000_000)),
            ("1.5s", Think::Fixed(1_500_000_000)),
            ("5", Think::Fixed(5_000_000)),
            ("0", Think::Fixed(0)),
            (
                "exp:200ms",
                Think::Exp {
                    mean_ns: 200_000_000,
                },
            ),
            (
                "uniform:100ms..300ms",
                Think::Uniform {
                    lo_ns: 100_000_000,
                    hi_ns: 300_000_000,
                },
            ),
        ] {
            let t: Think = s.parse().unwrap();
            assert_eq!(t, want, "{s}");
            assert_eq!(t.to_string().parse::<Think>().unwrap(), t);
        }
        for bad in [
            "-5ms",
            "exp:abc",
            "exp:0",
            "uniform:3ms..1ms",
            "uniform:1ms",
            "5 parsecs",
            "NaN",
        ] {
            assert!(bad.parse::<Think>().is_err(), "{bad}");
        }
    }

    #[test]
    fn draws_are_seeded_and_have_the_stated_mean() {
        let exp = Think::Exp { mean_ns: 1_000_000 };
        assert_eq!(exp.draw(7, 3, 1), exp.draw(7, 3, 1));
        assert_ne!(exp.draw(7, 3, 1), exp.draw(7, 3, 2));
        let n = 20_000u64;
        let mean = (0..n).map(|s| exp.draw(1, s, 1)).sum::<u64>() as f64 / n as f64;
        assert!((mean / 1e6 - 1.0).abs() < 0.03, "{mean}");
        let uni = Think::Uniform {
            lo_ns: 100,
            hi_ns: 300,
        };
        assert!((0..1000).all(|s| (100..=300).contains(&uni.draw(2, s, 1))));
    }
}
