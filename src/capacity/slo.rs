//! Percentile SLOs: `p99:ttft<=2s,p95:e2e<=10s,p95:job<=30s`. Each target bounds
//! one percentile of one latency: a per-request (per-turn) one measured from the
//! intended send, or (`job`, agent workloads only) a job's latency from its
//! session's intended start to its last turn's end. A failed request or job is
//! infinitely slow.

use std::fmt;
use std::str::FromStr;

use crate::load::slo::{format_duration_ns, parse_duration_ns, SloMetric};

/// What a target bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A per-request (for sessions: per-turn) latency.
    Request(SloMetric),
    /// A job's (agent session's) latency: its intended start → its last turn's
    /// end; a failed or unfinished job is infinitely slow.
    Job,
}

impl Metric {
    /// As written in an SLO: `ttft`, `tpot`, `e2e`, `job`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Request(m) => m.name(),
            Metric::Job => "job",
        }
    }
}

/// One target: the `quantile` of `metric` must be at most `limit_ns`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// 0.5, 0.9, 0.95, 0.99 or 0.999.
    pub quantile: f64,
    /// TTFT, TPOT or E2E (TTFT and E2E from the intended send), or job latency.
    pub metric: Metric,
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

    /// Samples (requests; jobs for a `job` target) a probe needs so that at least
    /// [`TAIL_SAMPLES`] lie above this percentile: ⌈TAIL_SAMPLES / (1 − q)⌉ (p99:
    /// 1,000; p95: 200).
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

    /// The first `job` target, if any.
    pub fn job_target(&self) -> Option<&Target> {
        self.targets.iter().find(|t| t.metric == Metric::Job)
    }

    /// Measured sessions an agent probe needs, each of `turns` turns: every
    /// `job` target's minimum in jobs, and every per-turn target's minimum in
    /// turns (⌈min / turns⌉ sessions).
    pub fn min_sessions(&self, turns: u32) -> u64 {
        self.targets
            .iter()
            .map(|t| match t.metric {
                Metric::Job => t.min_requests(),
                Metric::Request(_) => t.min_requests().div_ceil(u64::from(turns.max(1))),
            })
            .max()
            .unwrap_or(1)
    }
}

fn metric_of(s: &str) -> Option<Metric> {
    match s {
        "ttft" => Some(Metric::Request(SloMetric::Ttft)),
        "tpot" => Some(Metric::Request(SloMetric::Tpot)),
        "e2e" => Some(Metric::Request(SloMetric::E2e)),
        "job" => Some(Metric::Job),
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
                    "unknown metric {:?} in {part:?}; valid: ttft, tpot, e2e, job (agent workloads)",
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
        assert!(slo.job_target().is_none());
    }

    #[test]
    fn job_targets_and_the_sessions_they_need() {
        let slo: CapacitySlo = "p95:job<=30s,p99:ttft<=2s".parse().unwrap();
        assert_eq!(slo.targets[0].metric, Metric::Job);
        assert_eq!(slo.targets[0].limit_ns, 30_000_000_000);
        assert_eq!(slo.to_string(), "p95:job<=30s,p99:ttft<=2s");
        // p95 of jobs: 200 sessions; p99 of turns: 1,000 turns = 334 sessions of 3.
        assert_eq!(slo.min_sessions(3), 334);
        assert_eq!(slo.min_sessions(10), 200);
        assert!(slo.job_target().is_some());
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
