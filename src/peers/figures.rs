//! Per-agent figures (n, median, bootstrap CI of the median) and ratios against the
//! reference agent, from the process measurements and the agents' records.

use serde::Serialize;

use super::ProcessRecord;
use crate::metrics::catalog::{self, MetricDef};
use crate::metrics::stats::{bootstrap_ci, bootstrap_diff_ci, describe, BootstrapOpts, Statistic};
use crate::metrics::CallMetrics;
use crate::record::WorkflowRecord;

/// The figures compared side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerMetric {
    /// Spawn instant → the first request the server saw (per process).
    StartToFirstRequest,
    /// Peak RSS (per process).
    PeakRss,
    /// User + system CPU time (per process).
    CpuTime,
    /// Spawn → exit (per process).
    Wall,
    /// E2E − server total_duration (per call).
    ClientOverhead,
    /// TTFT (per call).
    Ttft,
    /// E2E (per call).
    E2e,
    /// Server decode tok/s (per call; the server's figure).
    DecodeTps,
}

impl PeerMetric {
    /// Every metric, in report order.
    pub const ALL: [PeerMetric; 8] = [
        PeerMetric::StartToFirstRequest,
        PeerMetric::PeakRss,
        PeerMetric::CpuTime,
        PeerMetric::Wall,
        PeerMetric::ClientOverhead,
        PeerMetric::Ttft,
        PeerMetric::E2e,
        PeerMetric::DecodeTps,
    ];

    /// The metric's catalog entry (names, unit, direction).
    pub fn def(self) -> &'static MetricDef {
        catalog::expect(match self {
            PeerMetric::StartToFirstRequest => "start_to_first_request",
            PeerMetric::PeakRss => "peak_rss",
            PeerMetric::CpuTime => "cpu_time",
            PeerMetric::Wall => "process_wall",
            PeerMetric::ClientOverhead => "client_overhead",
            PeerMetric::Ttft => "ttft",
            PeerMetric::E2e => "e2e",
            PeerMetric::DecodeTps => "decode_tps",
        })
    }

    /// Identifier (`start_to_first_request`, …), as in peers.json: the catalog
    /// entry's [`peers_id`](MetricDef::peers_id).
    pub fn slug(self) -> &'static str {
        let d = self.def();
        d.peers_id.unwrap_or(d.id)
    }

    /// Human title ([`MetricDef::peers_display`]).
    pub fn title(self) -> &'static str {
        self.def().peers_display()
    }

    /// Unit of the samples.
    pub fn unit(self) -> &'static str {
        self.def().unit
    }

    /// `process` or `call`: what one sample is.
    pub fn per(self) -> &'static str {
        self.def().scope().name()
    }

    /// The definition shown under the table and plot.
    pub fn definition(self) -> &'static str {
        match self {
            PeerMetric::StartToFirstRequest => "Instant just before spawn (fork + exec) to the arrival the embedded stub recorded for the first request after it (paced stub: request head parsed; instant stub: request body read). One sample per process. Not available against a URL backend: agentbench does not see that server's arrivals.",
            PeerMetric::PeakRss => "ru_maxrss of the child from wait4 (the kernel's peak resident set, including any child it waited for), in MB (10^6 bytes). One sample per process.",
            PeerMetric::CpuTime => "ru_utime + ru_stime of the child from wait4. One sample per process; it covers N runs of the workflow.",
            PeerMetric::Wall => "Spawn to exit observed by the harness. One sample per process; it covers N runs.",
            PeerMetric::ClientOverhead => "E2E (client) − total_duration (server), per completed call, both stages pooled: what the client and the loopback add.",
            PeerMetric::Ttft => "First non-empty content chunk received − t0, per completed call (both stages).",
            PeerMetric::E2e => "Final done object received − t0, per completed call (both stages).",
            PeerMetric::DecodeTps => "eval_count / eval_duration: the server's own figure, which no client can change; shown to make that visible, not to rank agents (no ratio is given). On the instant stub eval_duration is the stub's own few-µs render time, so it moves with CPU contention on the machine, not with the client's code.",
        }
    }

    /// A lower value is better (all but throughput).
    pub fn lower_is_better(self) -> bool {
        !self.def().higher_is_better()
    }

    /// Whether an agent / reference ratio means anything: not for a
    /// [server figure](MetricDef::server_figure) such as the server's own decode
    /// throughput, which is not the client's doing.
    pub fn has_ratio(self) -> bool {
        !self.def().server_figure
    }
}

/// n, median and a 95% bootstrap CI of the median of one agent's samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricStats {
    /// Samples.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// 95% percentile-bootstrap CI of the median (2000 resamples, fixed seed); absent
    /// for n < 2.
    pub ci: Option<[f64; 2]>,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
}

/// Bootstrap settings of every interval in the peers report.
pub fn bootstrap_opts() -> BootstrapOpts {
    BootstrapOpts {
        resamples: 2000,
        ..BootstrapOpts::default()
    }
}

impl MetricStats {
    /// Describes `samples`; `None` when empty or non-finite.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let d = describe(samples)?;
        let ci = bootstrap_ci(samples, Statistic::Median, &bootstrap_opts())
            .ok()
            .map(|b| [b.ci.lower, b.ci.upper]);
        Some(MetricStats {
            n: d.n,
            median: d.median,
            ci,
            min: d.min,
            max: d.max,
        })
    }
}

/// One agent's samples and figures for one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentMetric {
    /// Which metric.
    pub metric: PeerMetric,
    /// The samples, in the metric's unit.
    pub samples: Vec<f64>,
    /// Their description; absent when there is no sample.
    pub stats: Option<MetricStats>,
}

/// One agent's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentFigures {
    /// Agent name.
    pub agent: String,
    /// One entry per [`PeerMetric::ALL`], in that order.
    pub metrics: Vec<AgentMetric>,
}

impl AgentFigures {
    /// The entry for `m`.
    pub fn get(&self, m: PeerMetric) -> Option<&AgentMetric> {
        self.metrics.iter().find(|x| x.metric == m)
    }
}

/// `agent / reference` of the medians of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ratio {
    /// Which metric.
    pub metric: PeerMetric,
    /// Numerator agent.
    pub agent: String,
    /// Denominator agent (the reference).
    pub reference: String,
    /// exp(median(ln agent) − median(ln reference)): the ratio of the medians (for
    /// an even n the median is taken on the log scale, i.e. the geometric mean of
    /// the middle two).
    pub estimate: f64,
    /// 95% percentile-bootstrap CI of that ratio (the difference of log-medians,
    /// resampled, exponentiated); absent when either side has n < 2.
    pub ci: Option<[f64; 2]>,
}

/// A figure the issue asked for: `agent / reference ≥ at_least`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Target {
    /// Which metric.
    pub metric: PeerMetric,
    /// The ratio (other agent / reference) to reach.
    pub at_least: f64,
}

/// The targets: the reference (Rust) agent ≥ 10× lower client overhead per call,
/// ≥ 5× lower peak RSS and ≥ 20× faster to its first request than each other agent.
pub const TARGETS: [Target; 3] = [
    Target {
        metric: PeerMetric::ClientOverhead,
        at_least: 10.0,
    },
    Target {
        metric: PeerMetric::PeakRss,
        at_least: 5.0,
    },
    Target {
        metric: PeerMetric::StartToFirstRequest,
        at_least: 20.0,
    },
];

/// Samples of every metric for one agent: its process measurements and runs
/// (warm-up runs excluded, failed calls contribute nothing).
pub fn agent_figures(
    agent: &str,
    processes: &[&ProcessRecord],
    runs: &[WorkflowRecord],
) -> AgentFigures {
    let ms = |ns: u64| ns as f64 / 1e6;
    let calls: Vec<CallMetrics<'_>> = runs
        .iter()
        .filter(|r| !r.warmup)
        .flat_map(|r| r.calls.iter().map(|c| CallMetrics::new(&c.call)))
        .collect();
    let metrics = PeerMetric::ALL
        .iter()
        .map(|&metric| {
            let samples: Vec<f64> = match metric {
                PeerMetric::StartToFirstRequest => processes
                    .iter()
                    .filter_map(|p| p.start_to_first_request_ns.map(ms))
                    .collect(),
                PeerMetric::PeakRss => processes
                    .iter()
                    .map(|p| p.peak_rss_bytes as f64 / 1e6)
                    .collect(),
                PeerMetric::CpuTime => processes.iter().map(|p| ms(p.user_ns + p.sys_ns)).collect(),
                PeerMetric::Wall => processes.iter().map(|p| ms(p.wall_ns)).collect(),
                PeerMetric::ClientOverhead
                | PeerMetric::Ttft
                | PeerMetric::E2e
                | PeerMetric::DecodeTps => calls
                    .iter()
                    .flat_map(|c| metric.def().call_values(c))
                    .collect(),
            };
            let stats = MetricStats::of(&samples);
            AgentMetric {
                metric,
                samples,
                stats,
            }
        })
        .collect();
    AgentFigures {
        agent: agent.to_string(),
        metrics,
    }
}

/// `agent / reference` for every metric that [has a ratio](PeerMetric::has_ratio)
/// and whose samples are all positive on both sides; `reference` is `figures[0]`.
pub fn ratios(figures: &[AgentFigures]) -> Vec<Ratio> {
    let Some((reference, others)) = figures.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for other in others {
        for m in PeerMetric::ALL.into_iter().filter(|m| m.has_ratio()) {
            let (Some(a), Some(r)) = (other.get(m), reference.get(m)) else {
                continue;
            };
            if a.samples.is_empty()
                || r.samples.is_empty()
                || a.samples
                    .iter()
                    .chain(&r.samples)
                    .any(|x| *x <= 0.0 || !x.is_finite())
            {
                continue;
            }
            let la: Vec<f64> = a.samples.iter().map(|x| x.ln()).collect();
            let lr: Vec<f64> = r.samples.iter().map(|x| x.ln()).collect();
            let med = |v: &[f64]| crate::metrics::stats::median(v);
            let (Some(ma), Some(mr)) = (med(&la), med(&lr)) else {
                continue;
            };
            let ci = bootstrap_diff_ci(&lr, &la, Statistic::Median, &bootstrap_opts())
                .ok()
                .map(|b| [b.ci.lower.exp(), b.ci.upper.exp()]);
            out.push(Ratio {
                metric: m,
                agent: other.agent.clone(),
                reference: reference.agent.clone(),
                estimate: (ma - mr).exp(),
                ci,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_of_medians_with_a_ci_that_contains_it() {
        let fig = |name: &str, xs: &[f64]| AgentFigures {
            agent: name.into(),
            metrics: vec![AgentMetric {
                metric: PeerMetric::PeakRss,
                samples: xs.to_vec(),
                stats: MetricStats::of(xs),
            }],
        };
        let r = ratios(&[
            fig("rust", &[10.0, 11.0, 12.0, 10.5, 11.5]),
            fig("py", &[100.0, 110.0, 120.0, 105.0, 115.0]),
        ]);
        assert_eq!(r.len(), 1);
        assert!((r[0].estimate - 10.0).abs() < 1e-9, "{:?}", r[0]);
        let ci = r[0].ci.unwrap();
        assert!(ci[0] <= 10.0 && 10.0 <= ci[1], "{ci:?}");
        let none = ratios(&[fig("a", &[1.0, -1.0]), fig("b", &[1.0, 2.0])]);
        assert!(none.is_empty(), "non-positive samples give no ratio");
    }
}
