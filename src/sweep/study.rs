//! From a sweep's records to its study: cold/warm labels, comparability flags,
//! per-cell statistics, deltas against the baseline and the warnings. Everything is
//! derived here, on read; nothing is stored.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::matrix::BASELINE;
use super::runner::SweepSpec;
use crate::client::ErrorKind;
use crate::metrics::catalog::{self, MetricDef};
use crate::metrics::stats::{
    bootstrap_ci, compare_samples, describe, BootstrapCi, BootstrapOpts, CompareOpts, Comparison,
    Description, Statistic,
};
use crate::metrics::CallMetrics;
use crate::record::{RecordFile, Stage, StageCall, StartState, WorkflowRecord};

/// Whether a call found the model loaded. Cold and warm calls never share a statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Warmth {
    /// The model was (re)loaded for this call.
    Cold,
    /// The model was already loaded with this call's options.
    Warm,
}

impl Warmth {
    /// `cold` or `warm`.
    pub fn name(self) -> &'static str {
        match self {
            Warmth::Cold => "cold",
            Warmth::Warm => "warm",
        }
    }
}

/// Why a call is labelled cold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ColdCause {
    /// The run started cold (unloaded, verified) and this is its first call.
    StartedCold,
    /// num_ctx / num_gpu changed since the previous call: Ollama reloads.
    OptionsChanged,
    /// The server's load_duration exceeded the threshold.
    LoadDuration,
}

/// A call's label: its warmth, the harness's expectation and the server's evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct CallLabel {
    /// The label used for statistics: cold when either signal says so.
    pub warmth: Warmth,
    /// Every reason for a cold label.
    pub causes: Vec<ColdCause>,
    /// What the harness expected (`None`: it could not know, as-is start).
    pub expected: Option<Warmth>,
    /// load_duration > threshold (`None`: no final object).
    pub loaded: Option<bool>,
    /// load_duration in ms (absent counts as 0).
    pub load_ms: f64,
}

/// Labels call `idx` of `run`: cold when the harness expected a load (a cold start, or
/// an options change that reloads) or when `load_duration > threshold`.
pub fn label_call(run: &WorkflowRecord, idx: usize, threshold: Duration) -> CallLabel {
    let call = &run.calls[idx].call;
    let mut causes = Vec::new();
    let expected = if idx == 0 {
        match run.start_state {
            StartState::Cold => {
                causes.push(ColdCause::StartedCold);
                Some(Warmth::Cold)
            }
            StartState::Warm => Some(Warmth::Warm),
            StartState::AsIs if run.expected_reload => {
                causes.push(ColdCause::OptionsChanged);
                Some(Warmth::Cold)
            }
            StartState::AsIs if run.config.is_some() => Some(Warmth::Warm),
            StartState::AsIs => None,
        }
    } else {
        Some(Warmth::Warm)
    };
    let loaded = CallMetrics::new(call).loaded_model(threshold);
    if loaded == Some(true) {
        causes.push(ColdCause::LoadDuration);
    }
    CallLabel {
        warmth: if causes.is_empty() {
            Warmth::Warm
        } else {
            Warmth::Cold
        },
        causes,
        expected,
        loaded,
        load_ms: call.server.load_duration.unwrap_or(0) as f64 / 1e6,
    }
}

/// A comparability flag on one call, derived on read.
#[derive(Debug, Clone, PartialEq)]
pub enum CallFlag {
    /// The call failed; it is in no statistic.
    Failed(ErrorKind, String),
    /// prompt_eval_count ≥ num_ctx: the prompt filled (and was likely cut to) the context.
    ContextFull {
        /// Tokens the server evaluated.
        prompt_eval_count: u64,
        /// The context size sent.
        num_ctx: u64,
    },
    /// prompt_eval_count below half the prompt's expected size (bytes / 4).
    PromptShort {
        /// Tokens the server evaluated.
        prompt_eval_count: u64,
        /// bytes / 4.
        expected: u64,
    },
    /// done_reason `length`: generation stopped at num_predict (or the context).
    LengthLimit {
        /// num_predict sent, if any.
        num_predict: Option<i64>,
    },
    /// The harness expected a warm call but the server loaded the model.
    UnexpectedLoad {
        /// load_duration in ms.
        load_ms: f64,
    },
    /// The harness expected a reload but load_duration stayed under the threshold.
    MissingLoad {
        /// load_duration in ms.
        load_ms: f64,
    },
}

impl CallFlag {
    /// Whether the flag marks a truncated prompt.
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            CallFlag::ContextFull { .. } | CallFlag::PromptShort { .. }
        )
    }

    /// One line for the warnings section.
    pub fn describe(&self) -> String {
        match self {
            CallFlag::Failed(kind, msg) => format!("failed ({kind:?}): {msg}"),
            CallFlag::ContextFull {
                prompt_eval_count,
                num_ctx,
            } => format!("truncated: prompt_eval_count {prompt_eval_count} ≥ num_ctx {num_ctx}"),
            CallFlag::PromptShort {
                prompt_eval_count,
                expected,
            } => format!(
                "truncated: prompt_eval_count {prompt_eval_count} < 50 % of the prompt's ~{expected} tokens (bytes / 4)"
            ),
            CallFlag::LengthLimit { num_predict } => match num_predict {
                Some(n) => format!("done_reason length (num_predict {n} reached)"),
                None => "done_reason length without num_predict: the context ran out".into(),
            },
            CallFlag::UnexpectedLoad { load_ms } => {
                format!("expected warm, but load_duration {load_ms:.1} ms: unexpected reload")
            }
            CallFlag::MissingLoad { load_ms } => format!(
                "expected a reload, but load_duration {load_ms:.1} ms is under the threshold"
            ),
        }
    }
}

/// The flags of one call.
pub fn call_flags(call: &StageCall, label: &CallLabel) -> Vec<CallFlag> {
    let c = &call.call;
    let mut out = Vec::new();
    if let Some(e) = &c.error {
        out.push(CallFlag::Failed(e.kind, e.message.clone()));
    } else if c.end_ns.is_none() {
        out.push(CallFlag::Failed(
            ErrorKind::Truncated,
            "no final object".into(),
        ));
    }
    if let Some(p) = c.server.prefill_count() {
        let expected = c.prompt_bytes / 4;
        if let Some(ctx) = c.settings.options.num_ctx.filter(|ctx| p >= *ctx) {
            out.push(CallFlag::ContextFull {
                prompt_eval_count: p,
                num_ctx: ctx,
            });
        } else if p * 2 < expected {
            out.push(CallFlag::PromptShort {
                prompt_eval_count: p,
                expected,
            });
        }
    }
    if c.server.done_reason.as_deref() == Some("length") {
        out.push(CallFlag::LengthLimit {
            num_predict: c.settings.options.num_predict,
        });
    }
    match (label.expected, label.loaded) {
        (Some(Warmth::Warm), Some(true)) => out.push(CallFlag::UnexpectedLoad {
            load_ms: label.load_ms,
        }),
        (Some(Warmth::Cold), Some(false)) => out.push(CallFlag::MissingLoad {
            load_ms: label.load_ms,
        }),
        _ => {}
    }
    out
}

/// A metric of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Server decode tok/s = eval_count / eval_duration.
    DecodeTps,
    /// TTFT, ms.
    Ttft,
    /// E2E, ms.
    E2e,
    /// Client overhead = E2E − total_duration, ms.
    Overhead,
}

impl Metric {
    /// In report order.
    pub const ALL: [Metric; 4] = [
        Metric::DecodeTps,
        Metric::Ttft,
        Metric::E2e,
        Metric::Overhead,
    ];

    /// The metric's catalog entry (names, unit, direction, extractor).
    pub fn def(self) -> &'static MetricDef {
        catalog::expect(match self {
            Metric::DecodeTps => "decode_tps",
            Metric::Ttft => "ttft",
            Metric::E2e => "e2e",
            Metric::Overhead => "client_overhead",
        })
    }

    /// Name with unit ([`MetricDef::label`]).
    pub fn label(self) -> String {
        self.def().label()
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        self.def().higher_is_better()
    }

    /// The call's value (completed calls only).
    pub fn value(self, m: &CallMetrics<'_>) -> Option<f64> {
        self.def().call_value(m)
    }
}

/// Cells are keyed by configuration, stage and warmth.
pub type CellKey = (String, Stage, Warmth);

/// One cell's statistics for one metric.
#[derive(Debug, Clone)]
pub struct CellStats {
    /// The samples, in record order.
    pub samples: Vec<f64>,
    /// n, mean, median, sd, CV.
    pub desc: Option<Description>,
    /// Bootstrap CI of the mean (`None` under the minimum n).
    pub ci: Option<BootstrapCi>,
}

/// A configuration against the baseline, same stage and warmth.
#[derive(Debug, Clone)]
pub struct Delta {
    /// Configuration, stage, warmth.
    pub key: CellKey,
    /// The metric.
    pub metric: Metric,
    /// Candidate − baseline.
    pub comparison: Comparison,
}

impl Delta {
    /// Beats the baseline: the bootstrap CI of the difference excludes zero on the
    /// good side, and so does Welch's 95 % t-interval (the percentile bootstrap alone
    /// undercovers at n = 3). Never with fewer than the minimum n (no CI then).
    pub fn beats(&self) -> bool {
        self.side(self.metric.higher_is_better())
    }

    /// Regresses: both intervals exclude zero on the bad side.
    pub fn regresses(&self) -> bool {
        self.side(!self.metric.higher_is_better())
    }

    fn side(&self, higher: bool) -> bool {
        let welch = self.comparison.welch.is_some_and(|w| {
            if higher {
                w.ci95.lower > 0.0
            } else {
                w.ci95.upper < 0.0
            }
        });
        self.comparison.beats_baseline(higher) && welch
    }
}

/// A flagged call, for the warnings section.
#[derive(Debug, Clone)]
pub struct FlaggedCall {
    /// Run index (position in the plan).
    pub run_index: u32,
    /// Configuration.
    pub config: String,
    /// Round.
    pub round: Option<u32>,
    /// Stage.
    pub stage: Stage,
    /// The flag.
    pub flag: CallFlag,
}

/// Options of [`analyze`].
#[derive(Debug, Clone, Copy)]
pub struct AnalysisOpts {
    /// load_duration above this classifies a call as loading the model.
    pub cold_threshold: Duration,
    /// Below this many samples a cell gets no CI (and a warning).
    pub min_ci_n: usize,
    /// Bootstrap settings (statistic: the mean).
    pub bootstrap: BootstrapOpts,
    /// A max/min ratio of output tokens above this is a wide spread.
    pub length_spread: f64,
}

impl Default for AnalysisOpts {
    fn default() -> Self {
        Self {
            cold_threshold: Duration::from_millis(100),
            min_ci_n: 3,
            bootstrap: BootstrapOpts::default(),
            length_spread: 1.5,
        }
    }
}

/// The study computed from a sweep's records.
#[derive(Debug, Clone, Default)]
pub struct SweepAnalysis {
    /// Configurations in plan order (baseline first).
    pub configs: Vec<String>,
    /// Per metric, per cell.
    pub cells: BTreeMap<Metric, BTreeMap<CellKey, CellStats>>,
    /// Deltas against the baseline (same stage and warmth).
    pub deltas: Vec<Delta>,
    /// Every flagged call.
    pub flagged: Vec<FlaggedCall>,
    /// Cold calls per (config, stage) and their causes.
    pub cold_calls: BTreeMap<(String, Stage), (usize, BTreeMap<ColdCause, usize>)>,
    /// Warm-up runs kept out of the statistics.
    pub warmup_runs: usize,
    /// Runs in the file / planned (when the plan is known).
    pub runs_recorded: usize,
    /// Planned runs (when the plan is known).
    pub runs_planned: Option<usize>,
    /// Other warnings, one line each.
    pub notes: Vec<String>,
    /// The options used.
    pub opts: Option<AnalysisOpts>,
}

fn ci_opts(opts: &AnalysisOpts) -> CompareOpts {
    CompareOpts {
        bootstrap: opts.bootstrap,
        statistic: Statistic::Mean,
    }
}

/// Computes the study from `file` (and its plan, when known).
pub fn analyze(file: &RecordFile, spec: Option<&SweepSpec>, opts: AnalysisOpts) -> SweepAnalysis {
    let mut a = SweepAnalysis {
        opts: Some(opts),
        runs_recorded: file.runs.len(),
        runs_planned: spec.map(|s| s.configs.len() * s.rounds() as usize),
        ..Default::default()
    };
    a.configs = match spec {
        Some(s) => s.configs.iter().map(|c| c.id.clone()).collect(),
        None => {
            let mut seen: Vec<String> = Vec::new();
            for r in &file.runs {
                let id = r.config.clone().unwrap_or_else(|| BASELINE.into());
                if !seen.contains(&id) {
                    seen.push(id);
                }
            }
            seen
        }
    };
    let mut samples: BTreeMap<Metric, BTreeMap<CellKey, Vec<f64>>> = BTreeMap::new();
    let mut tokens: BTreeMap<(String, Stage), Vec<u64>> = BTreeMap::new();
    for run in &file.runs {
        let config = run.config.clone().unwrap_or_else(|| BASELINE.into());
        if run.warmup {
            a.warmup_runs += 1;
        }
        for (i, call) in run.calls.iter().enumerate() {
            let label = label_call(run, i, opts.cold_threshold);
            for flag in call_flags(call, &label) {
                a.flagged.push(FlaggedCall {
                    run_index: run.run_index,
                    config: config.clone(),
                    round: run.round,
                    stage: call.stage,
                    flag,
                });
            }
            if run.warmup {
                continue;
            }
            if label.warmth == Warmth::Cold {
                let e = a
                    .cold_calls
                    .entry((config.clone(), call.stage))
                    .or_default();
                e.0 += 1;
                for c in &label.causes {
                    *e.1.entry(*c).or_default() += 1;
                }
            }
            let m = CallMetrics::new(&call.call);
            if let Some(t) = m.output_tokens() {
                tokens
                    .entry((config.clone(), call.stage))
                    .or_default()
                    .push(t);
            }
            for metric in Metric::ALL {
                if let Some(v) = metric.value(&m) {
                    samples
                        .entry(metric)
                        .or_default()
                        .entry((config.clone(), call.stage, label.warmth))
                        .or_default()
                        .push(v);
                }
            }
        }
    }
    for (metric, cells) in samples {
        let mut out = BTreeMap::new();
        for (key, s) in cells {
            let ci = (s.len() >= opts.min_ci_n)
                .then(|| bootstrap_ci(&s, Statistic::Mean, &opts.bootstrap).ok())
                .flatten();
            out.insert(
                key,
                CellStats {
                    desc: describe(&s),
                    ci,
                    samples: s,
                },
            );
        }
        a.cells.insert(metric, out);
    }
    for metric in Metric::ALL {
        let Some(cells) = a.cells.get(&metric) else {
            continue;
        };
        for config in a.configs.iter().filter(|c| *c != BASELINE) {
            for stage in Stage::ALL {
                for warmth in [Warmth::Cold, Warmth::Warm] {
                    let key = (config.clone(), stage, warmth);
                    let base = (BASELINE.to_string(), stage, warmth);
                    if let (Some(c), Some(b)) = (cells.get(&key), cells.get(&base)) {
                        if let Ok(mut comparison) =
                            compare_samples(&b.samples, &c.samples, &ci_opts(&opts))
                        {
                            if b.samples.len().min(c.samples.len()) < opts.min_ci_n {
                                comparison.diff_ci = None;
                            }
                            a.deltas.push(Delta {
                                key,
                                metric,
                                comparison,
                            });
                        }
                    }
                }
            }
        }
    }
    notes(&mut a, file, &tokens, opts);
    a
}

fn notes(
    a: &mut SweepAnalysis,
    file: &RecordFile,
    tokens: &BTreeMap<(String, Stage), Vec<u64>>,
    opts: AnalysisOpts,
) {
    for (line, reason) in &file.skipped {
        a.notes.push(format!(
            "record line {line} skipped (undecodable): {reason}"
        ));
    }
    if let Some(planned) = a.runs_planned {
        if a.runs_recorded < planned {
            a.notes.push(format!(
                "incomplete sweep: {} of {planned} planned runs recorded (resume with the same flags and --out)",
                a.runs_recorded
            ));
        }
    }
    let mut few = BTreeSet::new();
    if let Some(cells) = a.cells.get(&Metric::DecodeTps) {
        for ((config, stage, warmth), c) in cells {
            if c.samples.len() < opts.min_ci_n {
                few.insert(format!(
                    "{config} {} {}: n = {}",
                    stage.name(),
                    warmth.name(),
                    c.samples.len()
                ));
            }
        }
    }
    for f in few {
        a.notes.push(format!(
            "too few runs for a CI (need {}): {f}",
            opts.min_ci_n
        ));
    }
    let with_ci = a
        .deltas
        .iter()
        .filter(|d| d.metric == Metric::DecodeTps && d.comparison.diff_ci.is_some())
        .count();
    if with_ci > 1 {
        a.notes.push(format!(
            "multiple comparisons: {with_ci} decode tok/s comparisons at {:.0} % confidence, so about {:.1} would show a difference by chance alone (all share one baseline sample)",
            opts.bootstrap.confidence * 100.0,
            with_ci as f64 * (1.0 - opts.bootstrap.confidence)
        ));
    }
    for ((config, stage), t) in tokens {
        let (lo, hi) = (
            t.iter().copied().min().unwrap_or(0),
            t.iter().copied().max().unwrap_or(0),
        );
        if lo == 0 || hi as f64 / lo as f64 > opts.length_spread {
            a.notes.push(format!(
                "output length differs widely within {config} {}: {lo} to {hi} tokens",
                stage.name()
            ));
        }
    }
    for stage in Stage::ALL {
        let medians: Vec<(String, f64)> = tokens
            .iter()
            .filter(|((_, s), _)| *s == stage)
            .filter_map(|((c, _), t)| {
                let v: Vec<f64> = t.iter().map(|x| *x as f64).collect();
                crate::metrics::stats::median(&v).map(|m| (c.clone(), m))
            })
            .collect();
        let lo = medians.iter().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = medians.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo.1 <= 0.0 || hi.1 / lo.1 > opts.length_spread {
                a.notes.push(format!(
                    "output lengths differ widely between configurations ({} stage): median {} tokens ({}) vs {} ({})",
                    stage.name(),
                    lo.1,
                    lo.0,
                    hi.1,
                    hi.0
                ));
            }
        }
    }
}

impl SweepAnalysis {
    /// Decode tok/s verdict per configuration, over its comparisons that have a CI
    /// (cells under the minimum n are left out, and warned about): `Some(true)` when
    /// every one beats the baseline, `Some(false)` when any regresses, `None` when no
    /// difference is shown.
    pub fn decode_verdict(&self, config: &str) -> Option<bool> {
        let d: Vec<&Delta> = self
            .deltas
            .iter()
            .filter(|d| d.metric == Metric::DecodeTps && d.key.0 == config)
            .filter(|d| d.comparison.diff_ci.is_some())
            .collect();
        if d.iter().any(|d| d.regresses()) {
            Some(false)
        } else if !d.is_empty() && d.iter().all(|d| d.beats()) {
            Some(true)
        } else {
            None
        }
    }

    /// The decode delta of `config` for `stage` and `warmth`, if computed.
    pub fn delta(
        &self,
        metric: Metric,
        config: &str,
        stage: Stage,
        warmth: Warmth,
    ) -> Option<&Delta> {
        self.deltas
            .iter()
            .find(|d| d.metric == metric && d.key == (config.to_string(), stage, warmth))
    }
}
