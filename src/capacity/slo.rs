//! Percentile SLOs: `p99:ttft<=2s,p95:e2e<=10s`. Each target bounds one percentile
//! of one per-request latency measured from the intended send (a failed request is
//! infinitely slow).

use std::fmt;
use std::str::FromStr;

use crate::load::slo::{format_duration_ns, parse_duration_ns, SloMetric};

/// One target: the `quantile` of `metric` must be at most `limit_ns`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// 0.5, 0.9, 0.95, 0.99 or 0.999.
    pub quantile: f64,
    /// TTFT, TPOT or E2E (TTFT and E2E from the intended send).
    pub metric: SloMetric,
    /// The bound, ns.
    pub limit_ns: u64,
}

/// The percentiles a target may name, as written.
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

impl Target {
    /// `p99`, …
    pub fn percentile_name(&self) -> &'static str {
        PERCENTILES
            .iter()
            .find(|(_, q)| *q == self.quantile)
            .map_or("p?", |(n, _)| n)
    }

    /// Requests a probe needs so that at least [`TAIL_SAMPLES`] lie above this
    /// percentile: ⌈TAIL_SAMPLES / (1 − q)⌉ (p99: 1,000; p95: 200).
    pub fn min_requests(&self) -> u64 {
        (TAIL_SAMPLES as f64 / (1.0 - self.quantile)).ceil() as u64
    }
}

/// Samples beyond a percentile that a probe must hold for that percentile to be
/// estimated at all (see [`Target::min_requests`]).
pub const TAIL_SAMPLES: u64 = 10;

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}<={}",
            self.percentile_name(),
            self.metric.name(),
            format_duration_ns(self.limit_ns)
        )
    }
}

/// A set of targets, all of which a rate must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySlo {
    /// The targets, in the order given.
    pub targets: Vec<Target>,
}

impl fmt::Display for CapacitySlo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.targets.iter().map(Target::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

impl CapacitySlo {
    /// The most requests any target needs per probe.
    pub fn min_requests(&self) -> u64 {
        self.targets
            .iter()
            .map(Target::min_requests)
            .max()
            .unwrap_or(1)
    }
}

fn metric_of(s: &str) -> Option<SloMetric> {
    match s {
        "ttft" => Some(SloMetric::Ttft),
        "tpot" => Some(SloMetric::Tpot),
        "e2e" => Some(SloMetric::E2e),
        _ => None,
    }
}

impl FromStr for CapacitySlo {
    type Err = String;

    /// Parses `pQ:metric<=duration[,…]`. Errors quote the expression.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut targets: Vec<Target> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (pct, rest) = part.split_once(':').ok_or_else(|| {
                format!("{part:?} is not pQ:metric<=duration (e.g. p99:ttft<=2s)")
            })?;
            let quantile = PERCENTILES
                .iter()
                .find(|(n, _)| *n == pct.trim())
                .map(|(_, q)| *q)
                .ok_or_else(|| {
                    let valid: Vec<&str> = PERCENTILES.iter().map(|(n, _)| *n).collect();
                    format!(
                        "unknown percentile {:?} in {part:?}; valid: {}",
                        pct.trim(),
                        valid.join(", ")
                    )
                })?;
            let (name, value) = rest
                .split_once("<=")
                .ok_or_else(|| format!("{part:?} has no <= bound (e.g. p99:ttft<=2s)"))?;
            let metric = metric_of(name.trim()).ok_or_else(|| {
                format!(
                    "unknown metric {:?} in {part:?}; valid: ttft, tpot, e2e",
                    name.trim()
                )
            })?;
            let limit_ns = parse_duration_ns(value).map_err(|e| format!("in {part:?}: {e}"))?;
            if let Some(old) = targets
                .iter()
                .find(|t| t.metric == metric && t.quantile == quantile)
            {
                return Err(format!(
                    "{part:?} contradicts {old}: one bound per percentile and metric"
                ));
            }
            targets.push(Target {
                quantile,
                metric,
                limit_ns,
            });
        }
        if targets.is_empty() {
            return Err(format!("{s:?} names no target; write e.g. p99:ttft<=2s"));
        }
        Ok(CapacitySlo { targets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let slo: CapacitySlo = "p99:ttft<=2s, p95:e2e<=10s".parse().unwrap();
        assert_eq!(slo.targets.len(), 2);
        assert_eq!(slo.targets[0].quantile, 0.99);
        assert_eq!(slo.targets[0].limit_ns, 2_000_000_000);
        assert_eq!(slo.to_string(), "p99:ttft<=2s,p95:e2e<=10s");
        assert_eq!(slo.min_requests(), 1000);
        assert_eq!(slo.targets[1].min_requests(), 200);
    }

    #[test]
    fn refuses_with_the_expression_quoted() {
        for (bad, needle) in [
            ("p98:ttft<=2s", "unknown percentile"),
            ("p99:latency<=2s", "unknown metric"),
            ("p99:ttft<=2", "no unit"),
            ("p99:ttft<2s", "no <= bound"),
            ("ttft<=2s", "pQ:metric"),
            ("p99:ttft<=2s,p99:ttft<=1s", "contradicts"),
            ("", "names no target"),
        ] {
            let e = bad.parse::<CapacitySlo>().unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
