//! Service-level objectives per request (`--slo ttft=500ms,tpot=50ms,e2e=10s`) and
//! the goodput they define: a request meets the SLO when it completed and every
//! bound holds; a failed request is a miss.

use std::fmt;
use std::str::FromStr;

/// A per-request quantity an SLO can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SloMetric {
    /// Time to first token, from the intended send.
    Ttft,
    /// Time per output token after the first: (E2E − TTFT) / (tokens − 1).
    Tpot,
    /// End to end, from the intended send.
    E2e,
}

impl SloMetric {
    /// The name used on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            SloMetric::Ttft => "ttft",
            SloMetric::Tpot => "tpot",
            SloMetric::E2e => "e2e",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        match s {
            "ttft" => Some(SloMetric::Ttft),
            "tpot" => Some(SloMetric::Tpot),
            "e2e" => Some(SloMetric::E2e),
            _ => None,
        }
    }
}

/// One bound: `metric <= limit_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SloBound {
    /// What is bounded.
    pub metric: SloMetric,
    /// The largest value that meets it, ns.
    pub limit_ns: u64,
}

/// A set of bounds, at most one per metric, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slo {
    /// The bounds.
    pub bounds: Vec<SloBound>,
}

impl Slo {
    /// True when there is no bound (every completed request meets it).
    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Whether a request with these figures meets every bound. `None` for a failed
    /// request (a miss). An undefined TPOT (one output token or fewer) is not
    /// checked; an undefined TTFT or E2E of a completed request is a miss.
    pub fn met(&self, figures: Option<SloFigures>) -> bool {
        let Some(f) = figures else { return false };
        self.bounds.iter().all(|b| match b.metric {
            SloMetric::Ttft => f.ttft_ns.is_some_and(|v| v <= b.limit_ns),
            SloMetric::E2e => f.e2e_ns.is_some_and(|v| v <= b.limit_ns),
            SloMetric::Tpot => f.tpot_ns.is_none_or(|v| v <= b.limit_ns),
        })
    }
}

/// The figures of one completed request that an SLO is checked against, ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SloFigures {
    /// TTFT from the intended send.
    pub ttft_ns: Option<u64>,
    /// TPOT.
    pub tpot_ns: Option<u64>,
    /// E2E from the intended send.
    pub e2e_ns: Option<u64>,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .bounds
            .iter()
            .map(|b| format!("{}={}", b.metric.name(), format_duration_ns(b.limit_ns)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `1.5s`, `500ms`, `80us`, `12ns`: the largest unit that keeps the value whole
/// where possible.
pub fn format_duration_ns(ns: u64) -> String {
    if ns >= 1_000_000_000 && ns.is_multiple_of(1_000_000) {
        format!("{}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 && ns.is_multiple_of(1_000) {
        format!("{}ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{}us", ns as f64 / 1e3)
    } else {
        format!("{ns}ns")
    }
}

/// Parses a duration with a unit: `ns`, `us` (or `µs`), `ms`, `s`. The unit is
/// required; the value must be finite and positive.
pub fn parse_duration_ns(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .ok_or_else(|| format!("{s:?} has no unit; write e.g. 500ms, 2s, 800us"))?;
    let (num, unit) = s.split_at(split);
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; valid: ns, us, ms, s"
            ))
        }
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a number followed by a unit (e.g. 500ms)"))?;
    let ns = v * scale;
    if !ns.is_finite() || ns <= 0.0 || ns > u64::MAX as f64 {
        return Err(format!("{s:?} must be a positive duration"));
    }
    Ok(ns.round() as u64)
}

impl FromStr for Slo {
    type Err = String;

    /// Parses `metric=duration[,metric=duration…]` with metrics `ttft`, `tpot`,
    /// `e2e`. Each metric at most once. Errors quote the offending part.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut bounds: Vec<SloBound> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not metric=duration (e.g. ttft=500ms)"))?;
            let metric = SloMetric::from_name(name.trim()).ok_or_else(|| {
                format!(
                    "unknown SLO metric {:?} in {part:?}; valid: ttft, tpot, e2e",
                    name.trim()
                )
            })?;
            if bounds.iter().any(|b| b.metric == metric) {
                return Err(format!(
                    "{} is bounded twice in {s:?}; give each metric once",
                    metric.name()
                ));
            }
            let limit_ns = parse_duration_ns(value).map_err(|e| format!("in {part:?}: {e}"))?;
            bounds.push(SloBound { metric, limit_ns });
        }
        if bounds.is_empty() {
            return Err(format!(
                "{s:?} names no bound; write e.g. ttft=500ms,e2e=10s"
            ));
        }
        Ok(Slo { bounds })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_form() {
        let slo: Slo = "ttft=500ms,tpot=50ms,e2e=10s".parse().unwrap();
        assert_eq!(slo.bounds.len(), 3);
        assert_eq!(slo.bounds[0].limit_ns, 500_000_000);
        assert_eq!(slo.bounds[1].limit_ns, 50_000_000);
        assert_eq!(slo.bounds[2].limit_ns, 10_000_000_000);
        assert_eq!(slo.to_string(), "ttft=500ms,tpot=50ms,e2e=10s");
        assert_eq!(parse_duration_ns("800us"), Ok(800_000));
        assert_eq!(parse_duration_ns("1.5s"), Ok(1_500_000_000));
    }

    #[test]
    fn refuses_with_the_part_quoted() {
        for (bad, needle) in [
            ("ttft=500", "no unit"),
            ("latency=1s", "unknown SLO metric"),
            ("ttft=5parsecs", "unknown unit"),
            ("ttft=1s,ttft=2s", "twice"),
            ("ttft=-1s", "positive"),
            ("ttft=0ms", "positive"),
            ("", "no bound"),
            ("ttft", "metric=duration"),
        ] {
            let e = bad.parse::<Slo>().unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn a_failure_is_a_miss_and_every_bound_must_hold() {
        let slo: Slo = "ttft=100ms,e2e=1s".parse().unwrap();
        assert!(!slo.met(None));
        let ok = SloFigures {
            ttft_ns: Some(50_000_000),
            tpot_ns: None,
            e2e_ns: Some(900_000_000),
        };
        assert!(slo.met(Some(ok)));
        let slow = SloFigures {
            e2e_ns: Some(1_100_000_000),
            ..ok
        };
        assert!(!slo.met(Some(slow)));
        let tpot: Slo = "tpot=10ms".parse().unwrap();
        assert!(
            tpot.met(Some(SloFigures::default())),
            "undefined TPOT is not checked"
        );
    }
}
