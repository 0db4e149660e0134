//! Summaries of many runs: per stage and per phase, computed from records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::stats::{mean, percentile_sorted, sorted};
use super::CallMetrics;
use crate::client::ErrorKind;
use crate::record::{Phase, Stage, WorkflowRecord};

/// Distribution of one metric's samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Number of samples.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
    /// Median (p50).
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Quantiles {
    /// Summarizes samples (NaN dropped); `None` when there are none.
    pub fn of(samples: impl IntoIterator<Item = f64>) -> Option<Self> {
        let v = sorted(samples);
        let p = |q| percentile_sorted(&v, q);
        Some(Self {
            n: v.len(),
            mean: mean(&v)?,
            min: *v.first()?,
            median: p(50.0)?,
            p90: p(90.0)?,
            p95: p(95.0)?,
            p99: p(99.0)?,
            max: *v.last()?,
        })
    }
}

/// One stage's calls, summarized. Only completed calls contribute samples;
/// failed calls are counted by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// The stage.
    pub stage: Stage,
    /// Calls made.
    pub calls: usize,
    /// Calls completed.
    pub ok: usize,
    /// Failed calls per error kind.
    pub errors: BTreeMap<ErrorKind, usize>,
    /// TTFT, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Quantiles>,
    /// E2E, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_ms: Option<Quantiles>,
    /// ITL pooled across calls, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<Quantiles>,
    /// TPOT, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<Quantiles>,
    /// Server decode tok/s (eval_count / eval_duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_tps: Option<Quantiles>,
    /// Server prefill tok/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill_tps: Option<Quantiles>,
    /// Client output tok/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tps: Option<Quantiles>,
    /// Unaccounted time, E2E − the server's reported time (id kept from its former
    /// name, client overhead): the server's untimed work, network and client,
    /// milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_overhead_ms: Option<Quantiles>,
    /// The client's own CPU time per completed call, milliseconds (calls that
    /// measured it: see [`CallCost::cpu_ns`](crate::client::CallCost::cpu_ns)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cpu_ms: Option<Quantiles>,
    /// Output tokens per call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<Quantiles>,
    /// Completed calls whose server-reported time exceeds their E2E (a negative
    /// client overhead: the server's timings cannot be right). They are left out of
    /// `client_overhead_ms` and stay in the records. Absent when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_client_overhead: Option<NegativeOverhead>,
}

/// Calls with a negative client overhead (E2E − server time < 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NegativeOverhead {
    /// How many.
    pub calls: usize,
    /// The most negative client overhead among them, milliseconds.
    pub worst_ms: f64,
}

impl NegativeOverhead {
    /// Counts the negative client overheads among `ns`; `None` when there are none.
    pub fn of(ns: impl IntoIterator<Item = i64>) -> Option<Self> {
        let (calls, worst) = ns
            .into_iter()
            .filter(|&n| n < 0)
            .fold((0, 0i64), |(c, w), n| (c + 1, w.min(n)));
        (calls > 0).then(|| Self {
            calls,
            worst_ms: worst as f64 / MS,
        })
    }

    /// Both summaries together (the count added, the worse value kept).
    pub fn merge(a: Option<&Self>, b: Option<&Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Self {
                calls: a.calls + b.calls,
                worst_ms: a.worst_ms.min(b.worst_ms),
            }),
            (a, b) => a.or(b).cloned(),
        }
    }

    /// One line for a reader: how many calls, the worst value, and what was done.
    pub fn warning(&self) -> String {
        format!(
            "{} call(s) reported a server time longer than their own E2E (client overhead \
             as low as {:.3} ms): the server's timings cannot be right; these calls are left \
             out of client overhead and kept in the records",
            self.calls, self.worst_ms
        )
    }
}

/// All runs of an invocation, summarized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Runs recorded.
    pub runs: usize,
    /// Runs in which every call completed.
    pub runs_ok: usize,
    /// Per stage, in workflow order.
    pub stages: Vec<StageSummary>,
    /// Per phase duration in milliseconds, in workflow order.
    pub phases_ms: Vec<(Phase, Quantiles)>,
}

const MS: f64 = 1e6;

impl StageSummary {
    /// Summarizes `stage`'s calls across `runs`.
    pub fn of(stage: Stage, runs: &[WorkflowRecord]) -> Self {
        let calls: Vec<CallMetrics<'_>> = runs
            .iter()
            .filter_map(|r| r.call(stage))
            .map(|c| CallMetrics::new(&c.call))
            .collect();
        let mut errors = BTreeMap::new();
        for m in &calls {
            if let Some(e) = &m.record().error {
                *errors.entry(e.kind).or_insert(0) += 1;
            }
        }
        let ms = |d: std::time::Duration| d.as_nanos() as f64 / MS;
        Self {
            stage,
            calls: calls.len(),
            ok: calls.iter().filter(|m| m.record().is_ok()).count(),
            errors,
            ttft_ms: Quantiles::of(calls.iter().filter_map(|m| m.ttft()).map(ms)),
            e2e_ms: Quantiles::of(calls.iter().filter_map(|m| m.e2e()).map(ms)),
            itl_ms: Quantiles::of(calls.iter().flat_map(|m| m.itl()).map(ms)),
            tpot_ms: Quantiles::of(calls.iter().filter_map(|m| m.tpot()).map(ms)),
            decode_tps: Quantiles::of(calls.iter().filter_map(|m| m.decode_tps())),
            prefill_tps: Quantiles::of(calls.iter().filter_map(|m| m.prefill_tps())),
            output_tps: Quantiles::of(calls.iter().filter_map(|m| m.output_tps())),
            client_overhead_ms: Quantiles::of(
                calls
                    .iter()
                    .filter_map(|m| m.client_overhead_ns())
                    .map(|ns| ns as f64 / MS),
            ),
            client_cpu_ms: Quantiles::of(calls.iter().filter_map(|m| m.client_cpu()).map(ms)),
            output_tokens: Quantiles::of(
                calls
                    .iter()
                    .filter_map(|m| m.output_tokens())
                    .map(|n| n as f64),
            ),
            negative_client_overhead: NegativeOverhead::of(
                calls.iter().filter_map(|m| m.negative_client_overhead_ns()),
            ),
        }
    }
}

impl RunSummary {
    /// The negative client overheads of every stage together; `None` when there
    /// are none.
    pub fn negative_client_overhead(&self) -> Option<NegativeOverhead> {
        self.stages.iter().fold(None, |acc, s| {
            NegativeOverhead::merge(acc.as_ref(), s.negative_client_overhead.as_ref())
        })
    }

    /// Summarizes runs. Pure: the same runs give the same summary.
    pub fn of(runs: &[WorkflowRecord]) -> Self {
        let phases = [
            Phase::Ingest,
            Phase::AnalysisPrompt,
            Phase::AnalysisCall,
            Phase::Parse,
            Phase::ReportPrompt,
            Phase::ReportCall,
        ];
        let phases_ms = phases
            .iter()
            .filter_map(|&p| {
                let q = Quantiles::of(
                    runs.iter()
                        .filter_map(|r| r.phase(p))
                        .map(|s| s.end_ns.saturating_sub(s.start_ns) as f64 / MS),
                )?;
                Some((p, q))
            })
            .collect();
        Self {
            runs: runs.len(),
            runs_ok: runs
                .iter()
                .filter(|r| r.failure.is_none() && r.calls.iter().all(|c| c.call.is_ok()))
                .count(),
            stages: Stage::ALL
                .iter()
                .map(|&s| StageSummary::of(s, runs))
                .collect(),
            phases_ms,
        }
    }
}
