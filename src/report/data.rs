//! What every exporter reads: records grouped by configuration, with their
//! summaries, histograms and breakdowns. Computed once, from records only.

use std::collections::BTreeMap;

use crate::metrics::hdr::{metric_histogram, GroupKey, LatencyMetric, LatencyTally};
use crate::metrics::stats::{bootstrap_ci, percentile_sorted, sorted, BootstrapOpts, Statistic};
use crate::metrics::{CallMetrics, RunSummary};
use crate::record::{Phase, RecordFile, Stage, WorkflowRecord};

/// One input of a report: a record file and the name shown for it (its path, as a
/// rule). The name is data, escaped like any other record field.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// Shown in the provenance section.
    pub name: &'a str,
    /// The records.
    pub file: &'a RecordFile,
}

/// Medians (ms) of the parts of one stage's completed calls. Each part is the
/// median of its own samples, so the parts need not add up to the median E2E.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StageBreakdown {
    /// Completed calls measured.
    pub n: usize,
    /// E2E − total_duration (calls with a negative one left out).
    pub client_overhead: f64,
    /// Server `load_duration` (absent = 0).
    pub load: f64,
    /// Server `prompt_eval_duration` (prefill).
    pub prefill: f64,
    /// Server `eval_duration` (decode).
    pub decode: f64,
    /// total_duration − (load + prefill + decode), negatives as 0.
    pub unaccounted: f64,
}

impl StageBreakdown {
    /// The parts in stacking order, with their labels.
    pub fn parts(&self) -> [(&'static str, f64); 5] {
        [
            ("E2E − server time", self.client_overhead),
            ("server load", self.load),
            ("prefill (prompt_eval)", self.prefill),
            ("decode (eval)", self.decode),
            ("unaccounted server", self.unaccounted),
        ]
    }
}

/// Medians (ms) over complete runs (every phase present, every call completed)
/// of where a workflow's time went.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WorkflowBreakdown {
    /// Complete runs measured.
    pub n: usize,
    /// Ingest phase.
    pub ingest: f64,
    /// Both prompt-building phases.
    pub prompt_building: f64,
    /// Parse phase.
    pub parse: f64,
    /// Call phases minus the calls' E2E (request set-up, response hand-off).
    pub call_handling: f64,
    /// Σ client overhead of the run's calls (a run with a negative one is left out).
    pub client_overhead: f64,
    /// Σ server total_duration of the run's calls.
    pub server: f64,
}

impl WorkflowBreakdown {
    /// The parts in stacking order (harness first, model last), with labels.
    pub fn parts(&self) -> [(&'static str, f64); 6] {
        [
            ("ingest", self.ingest),
            ("prompt building", self.prompt_building),
            ("parse", self.parse),
            ("call handling (phase − E2E)", self.call_handling),
            ("E2E − server time", self.client_overhead),
            ("server time", self.server),
        ]
    }
}

/// How an [`Interval`]'s bounds were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalMethod {
    /// 95% percentile bootstrap of the median (2000 resamples, fixed seed).
    Bootstrap95,
    /// Min and max of the samples (fewer than [`BOOTSTRAP_MIN_N`] samples).
    MinMax,
}

/// Samples needed before a bootstrap interval is computed instead of min/max.
pub const BOOTSTRAP_MIN_N: usize = 10;

/// Resamples of the report's bootstrap intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Seed of the report's bootstrap intervals: the same records give the same bounds.
pub const BOOTSTRAP_SEED: u64 = 0x2545_F491_4F6C_DD1D;

/// A median with bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Samples.
    pub n: usize,
    /// Median of the samples.
    pub median: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
    /// How `lo`/`hi` were computed.
    pub method: IntervalMethod,
}

impl Interval {
    /// The median with a deterministic 95% percentile-bootstrap CI of the median
    /// ([`bootstrap_ci`], [`BOOTSTRAP_RESAMPLES`] resamples, seed [`BOOTSTRAP_SEED`]) when
    /// there are at least [`BOOTSTRAP_MIN_N`] samples, else (or when a sample is
    /// infinite) with min/max; `None` when empty. NaN samples are dropped.
    pub fn of(samples: impl IntoIterator<Item = f64>) -> Option<Self> {
        let v = sorted(samples);
        let median = percentile_sorted(&v, 50.0)?;
        let n = v.len();
        if n < BOOTSTRAP_MIN_N {
            return Some(Self {
                n,
                median,
                lo: v[0],
                hi: v[n - 1],
                method: IntervalMethod::MinMax,
            });
        }
        let opts = BootstrapOpts {
            resamples: BOOTSTRAP_RESAMPLES,
            confidence: 0.95,
            seed: BOOTSTRAP_SEED,
        };
        let Ok(b) = bootstrap_ci(&v, Statistic::Median, &opts) else {
            // Only an infinite sample makes the bootstrap refuse; say so by min/max.
            return Some(Self {
                n,
                median,
                lo: v[0],
                hi: v[n - 1],
                method: IntervalMethod::MinMax,
            });
        };
        Some(Self {
            n,
            median,
            lo: b.ci.lower,
            hi: b.ci.upper,
            method: IntervalMethod::Bootstrap95,
        })
    }
}

/// One stage's decode throughput and TTFT across a group's completed calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigStage {
    /// The stage.
    pub stage: Stage,
    /// Server decode tok/s.
    pub decode_tps: Option<Interval>,
    /// TTFT, ms.
    pub ttft_ms: Option<Interval>,
}

/// Everything about one group (backend + configuration).
#[derive(Debug, Clone)]
pub struct GroupData {
    /// `G1`, `G2`, ...: the short name used in plots.
    pub short: String,
    /// The group.
    pub key: GroupKey,
    /// The runs of every input with this key, in input order.
    pub runs: Vec<WorkflowRecord>,
    /// Exact (sample) summary of the runs.
    pub summary: RunSummary,
    /// What the runs' latency histograms count beside their samples; the
    /// histograms themselves are built one at a time from [`Self::runs`]
    /// ([`GroupData::histogram`]).
    pub latency: LatencyTally,
    /// Per stage call breakdown (stages without completed calls omitted).
    pub stages: Vec<(Stage, StageBreakdown)>,
    /// Workflow breakdown, when some run was complete.
    pub workflow: Option<WorkflowBreakdown>,
    /// (chunk-gap position, median gap ms, samples), position 0 = gap between the
    /// first and second chunk; completed calls of both stages pooled.
    pub itl_by_position: Vec<(usize, f64, usize)>,
    /// Per stage throughput and TTFT intervals.
    pub config: Vec<ConfigStage>,
}

impl GroupData {
    /// The HDR histogram of `metric` over [`Self::runs`] (µs, this crate's fixed range
    /// and precision), built on each call: a report holds one at a time.
    pub fn histogram(&self, metric: LatencyMetric) -> hdrhistogram::Histogram<u64> {
        metric_histogram(metric, &self.runs)
    }
}

impl crate::report::hdr_files::GroupHistograms for GroupData {
    fn histogram(
        &self,
        metric: LatencyMetric,
    ) -> std::borrow::Cow<'_, hdrhistogram::Histogram<u64>> {
        std::borrow::Cow::Owned(GroupData::histogram(self, metric))
    }
}

/// A report's data: inputs and groups, in input order.
#[derive(Debug, Clone)]
pub struct ReportData<'a> {
    /// The inputs, with the group each belongs to (index into `groups`).
    pub inputs: Vec<(ReportInput<'a>, usize)>,
    /// Groups in order of first appearance.
    pub groups: Vec<GroupData>,
    /// Entries of a performance history to draw as trends (empty: no section).
    pub history: Vec<crate::history::HistoryEntry>,
}

const MS: f64 = 1e6;

fn median(samples: impl IntoIterator<Item = f64>) -> Option<f64> {
    percentile_sorted(&sorted(samples), 50.0)
}

fn span_ms(run: &WorkflowRecord, p: Phase) -> Option<f64> {
    run.phase(p)
        .map(|s| s.end_ns.saturating_sub(s.start_ns) as f64 / MS)
}

fn stage_breakdown(stage: Stage, runs: &[WorkflowRecord]) -> Option<StageBreakdown> {
    let calls: Vec<_> = runs
        .iter()
        .filter_map(|r| r.call(stage))
        .map(|c| &c.call)
        .filter(|c| c.is_ok())
        .collect();
    if calls.is_empty() {
        return None;
    }
    let field = |f: fn(&crate::client::ServerFields) -> Option<u64>| {
        median(calls.iter().map(|c| f(&c.server).unwrap_or(0) as f64 / MS)).unwrap_or(0.0)
    };
    let signed = |f: fn(&CallMetrics<'_>) -> Option<i64>| {
        median(
            calls
                .iter()
                .filter_map(|c| f(&CallMetrics::new(c)))
                .map(|ns| ns.max(0) as f64 / MS),
        )
        .unwrap_or(0.0)
    };
    Some(StageBreakdown {
        n: calls.len(),
        client_overhead: signed(|m| m.client_overhead_ns()),
        load: field(|s| s.load_duration),
        prefill: field(|s| s.prefill_ns()),
        decode: field(|s| s.decode_ns()),
        unaccounted: signed(|m| m.unaccounted_server_ns()),
    })
}

fn workflow_parts(run: &WorkflowRecord) -> Option<WorkflowBreakdown> {
    if run.failure.is_some() || run.calls.is_empty() || !run.calls.iter().all(|c| c.call.is_ok()) {
        return None;
    }
    let mut e2e = 0.0;
    let mut over = 0.0;
    let mut server = 0.0;
    for c in &run.calls {
        let m = CallMetrics::new(&c.call);
        e2e += m.e2e()?.as_nanos() as f64 / MS;
        over += m.client_overhead_ns()? as f64 / MS;
        server += c.call.server.server_ns()? as f64 / MS;
    }
    let calls = span_ms(run, Phase::AnalysisCall)? + span_ms(run, Phase::ReportCall)?;
    Some(WorkflowBreakdown {
        n: 1,
        ingest: span_ms(run, Phase::Ingest)?,
        prompt_building: span_ms(run, Phase::AnalysisPrompt)? + span_ms(run, Phase::ReportPrompt)?,
        parse: span_ms(run, Phase::Parse)?,
        call_handling: (calls - e2e).max(0.0),
        client_overhead: over,
        server,
    })
}

fn workflow_breakdown(runs: &[WorkflowRecord]) -> Option<WorkflowBreakdown> {
    let parts: Vec<_> = runs.iter().filter_map(workflow_parts).collect();
    if parts.is_empty() {
        return None;
    }
    let med = |f: fn(&WorkflowBreakdown) -> f64| median(parts.iter().map(f)).unwrap_or(0.0);
    Some(WorkflowBreakdown {
        n: parts.len(),
        ingest: med(|p| p.ingest),
        prompt_building: med(|p| p.prompt_building),
        parse: med(|p| p.parse),
        call_handling: med(|p| p.call_handling),
        client_overhead: med(|p| p.client_overhead),
        server: med(|p| p.server),
    })
}

fn itl_by_position(runs: &[WorkflowRecord]) -> Vec<(usize, f64, usize)> {
    let mut by_pos: Vec<Vec<f64>> = Vec::new();
    for c in runs.iter().flat_map(|r| &r.calls) {
        for (i, gap) in CallMetrics::new(&c.call).itl().enumerate() {
            if by_pos.len() <= i {
                by_pos.push(Vec::new());
            }
            by_pos[i].push(gap.as_nanos() as f64 / MS);
        }
    }
    by_pos
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i, median(v.iter().copied())?, v.len())))
        .collect()
}

fn config(runs: &[WorkflowRecord]) -> Vec<ConfigStage> {
    Stage::ALL
        .iter()
        .map(|&stage| {
            let calls: Vec<_> = runs
                .iter()
                .filter_map(|r| r.call(stage))
                .map(|c| CallMetrics::new(&c.call))
                .collect();
            ConfigStage {
                stage,
                decode_tps: Interval::of(calls.iter().filter_map(|m| m.decode_tps())),
                ttft_ms: Interval::of(
                    calls
                        .iter()
                        .filter_map(|m| m.ttft())
                        .map(|d| d.as_nanos() as f64 / MS),
                ),
            }
        })
        .collect()
}

impl<'a> ReportData<'a> {
    /// Groups `inputs` by [`GroupKey::of_header`] (same key → runs concatenated)
    /// and derives every figure the exporters show.
    pub fn build(inputs: &[ReportInput<'a>]) -> Self {
        let mut order: Vec<GroupKey> = Vec::new();
        let mut runs: BTreeMap<GroupKey, Vec<WorkflowRecord>> = BTreeMap::new();
        let mut assigned = Vec::new();
        for input in inputs {
            let key = GroupKey::of_header(&input.file.header);
            let idx = match order.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    order.push(key.clone());
                    order.len() - 1
                }
            };
            runs.entry(key)
                .or_default()
                .extend(input.file.runs.iter().cloned());
            assigned.push((*input, idx));
        }
        let groups = order
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let runs = runs.remove(&key).unwrap_or_default();
                GroupData {
                    short: format!("G{}", i + 1),
                    summary: RunSummary::of(&runs),
                    stages: Stage::ALL
                        .iter()
                        .filter_map(|&s| Some((s, stage_breakdown(s, &runs)?)))
                        .collect(),
                    workflow: workflow_breakdown(&runs),
                    itl_by_position: itl_by_position(&runs),
                    config: config(&runs),
                    latency: LatencyTally::of_runs(&runs),
                    key,
                    runs,
                }
            })
            .collect();
        Self {
            inputs: assigned,
            groups,
            history: Vec::new(),
        }
    }
}
