//! The metric catalog: every metric the harness reports, declared once — its id,
//! display names, unit, better-direction, default regression threshold and how its
//! samples are drawn from records.
//!
//! Every study reads this table: `compare` and `history` (each call metric with a
//! [`history_id`](MetricDef::history_id), per stage, plus the workflow metrics),
//! `commits` (entries with a [`commits_id`](MetricDef::commits_id)), the HDR
//! histograms ([`hdr_slug`](MetricDef::hdr_slug)), `sweep` and `peers` (their
//! metric enums map onto entries here for names, units and directions). Where two
//! outputs already spell one metric differently, the entry carries both spellings
//! explicitly, so no id in any existing output changes.
//!
//! Adding a metric is one entry in [`CATALOG`]; a new engine (e.g. a load generator)
//! finds entries with [`get`] and iterates them with [`all`].

use serde::Serialize;

use crate::metrics::CallMetrics;
use crate::record::{Phase, Stage, WorkflowRecord};

/// Whether a larger value is better or worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Latencies, overheads, phase times, memory.
    LowerIsBetter,
    /// Throughput.
    HigherIsBetter,
}

/// Where a metric's samples come from, and the function that draws them.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// One value per completed call (`None` for a call without one).
    Call(fn(&CallMetrics<'_>) -> Option<f64>),
    /// Any number of values per call (e.g. the gaps between chunks), pooled.
    CallGaps(fn(&CallMetrics<'_>) -> Vec<f64>),
    /// One value per workflow run (`None` when the run lacks what it needs).
    Workflow(fn(&WorkflowRecord) -> Option<f64>),
    /// Measured on the agent's process by `peers` (wait4, stub arrivals); not in
    /// the record file.
    Process,
}

/// What one sample of a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// A model call (or a gap within one).
    Call,
    /// A workflow run.
    Workflow,
    /// An agent process.
    Process,
}

impl Scope {
    /// `call`, `workflow` or `process`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Call => "call",
            Scope::Workflow => "workflow",
            Scope::Process => "process",
        }
    }
}

/// One metric. Invariants (checked by this module's tests): ids are unique, every
/// alias is unique among its kind, `threshold_pct ≥ 0`.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    /// Canonical id, snake_case, unique in the catalog (e.g. `ttft`, `decode_tps`).
    pub id: &'static str,
    /// Short display name for table rows and axis labels (e.g. `TTFT`,
    /// `client overhead`).
    pub name: &'static str,
    /// Long title for headings (e.g. `Time to first token (TTFT)`).
    pub title: &'static str,
    /// Unit of the samples [`Source`] yields (`ms`, `tok/s`, `MB`).
    pub unit: &'static str,
    /// Which way is better.
    pub direction: Direction,
    /// Default noise threshold (%): smaller changes are reported as unchanged even
    /// when significant.
    pub threshold_pct: f64,
    /// How samples are drawn.
    pub source: Source,
    /// One-sentence definition (also in `docs/metrics.md`, generated from this table).
    pub definition: &'static str,
    /// A figure the server reports about itself (no client can change it): shown,
    /// never used to rank clients.
    pub server_figure: bool,
    /// Suffix of the `compare` / `history` id (`<stage>.<history_id>` for call
    /// metrics, `workflow.<history_id>` for workflow metrics, e.g. `ttft_ms`);
    /// `None` when compare and history leave the metric out.
    pub history_id: Option<&'static str>,
    /// Suffix of the `commits` id (`<stage>.<commits_id>` / `workflow.<commits_id>`);
    /// `None` when `commits` leaves it out.
    pub commits_id: Option<&'static str>,
    /// Slug of the HDR histogram files and HTML ids (`client-overhead`); `None`
    /// when no histogram is kept.
    pub hdr_slug: Option<&'static str>,
    /// Id in `peers.json` (`wall`); `None` when `peers` leaves it out.
    pub peers_id: Option<&'static str>,
    /// Display name in the peers report when it differs from [`name`](Self::name).
    pub peers_name: Option<&'static str>,
}

impl MetricDef {
    /// What one sample is.
    pub fn scope(&self) -> Scope {
        match self.source {
            Source::Call(_) | Source::CallGaps(_) => Scope::Call,
            Source::Workflow(_) => Scope::Workflow,
            Source::Process => Scope::Process,
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(&self) -> bool {
        self.direction == Direction::HigherIsBetter
    }

    /// Name with unit, e.g. `TTFT (ms)`; the name alone when it already ends with
    /// the unit (`decode tok/s`).
    pub fn label(&self) -> String {
        if self.name.ends_with(self.unit) {
            self.name.to_string()
        } else {
            format!("{} ({})", self.name, self.unit)
        }
    }

    /// The name the peers report shows.
    pub fn peers_display(&self) -> &'static str {
        self.peers_name.unwrap_or(self.name)
    }

    /// The values of one call (empty for workflow and process metrics, and for
    /// calls without the figure).
    pub fn call_values(&self, m: &CallMetrics<'_>) -> Vec<f64> {
        match self.source {
            Source::Call(f) => f(m).into_iter().collect(),
            Source::CallGaps(f) => f(m),
            Source::Workflow(_) | Source::Process => Vec::new(),
        }
    }

    /// The value of one call for a [`Source::Call`] metric; `None` otherwise.
    pub fn call_value(&self, m: &CallMetrics<'_>) -> Option<f64> {
        match self.source {
            Source::Call(f) => f(m),
            _ => None,
        }
    }

    /// Samples from workflow runs, in run order: for call metrics the values of each
    /// run's call of `stage` ([`WorkflowRecord::call`]; every call when `None`), for
    /// workflow metrics one per run that has it; empty for process metrics.
    pub fn samples(&self, runs: &[WorkflowRecord], stage: Option<Stage>) -> Vec<f64> {
        match self.source {
            Source::Call(_) | Source::CallGaps(_) => runs
                .iter()
                .flat_map(|r| match stage {
                    Some(s) => r.call(s).into_iter().collect::<Vec<_>>(),
                    None => r.calls.iter().collect(),
                })
                .flat_map(|c| self.call_values(&CallMetrics::new(&c.call)))
                .collect(),
            Source::Workflow(f) => runs.iter().filter_map(f).collect(),
            Source::Process => Vec::new(),
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Sum of the spans of `phases` in ms; `None` unless every one is present.
fn phases_ms(r: &WorkflowRecord, phases: &[Phase]) -> Option<f64> {
    let spans: Vec<_> = phases.iter().map(|p| r.phase(*p)).collect::<Option<_>>()?;
    Some(
        spans
            .iter()
            .map(|s| s.end_ns.saturating_sub(s.start_ns) as f64 / 1e6)
            .sum(),
    )
}

use Direction::{HigherIsBetter, LowerIsBetter};

/// Every metric, in the order compare, history, commits and the HDR histograms list
/// them.
pub static CATALOG: [MetricDef; 13] = [
    MetricDef {
        id: "ttft",
        name: "TTFT",
        title: "Time to first token (TTFT)",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Call(|m| m.ttft().map(ms)),
        definition: "TTFT = first non-empty content chunk received − t0 (t0 = just before send; \
                     includes queueing, model load, prefill and network).",
        server_figure: false,
        history_id: Some("ttft_ms"),
        commits_id: None,
        hdr_slug: Some("ttft"),
        peers_id: Some("ttft"),
        peers_name: None,
    },
    MetricDef {
        id: "itl",
        name: "ITL",
        title: "Inter-chunk latency (ITL)",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::CallGaps(|m| m.itl().map(ms).collect()),
        definition: "ITL = gaps between consecutive content chunks, pooled across calls before \
                     percentiles (chunk level: a chunk may hold several tokens; not TPOT).",
        server_figure: false,
        history_id: None,
        commits_id: None,
        hdr_slug: Some("itl"),
        peers_id: None,
        peers_name: None,
    },
    MetricDef {
        id: "e2e",
        name: "E2E",
        title: "End-to-end latency (E2E)",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Call(|m| m.e2e().map(ms)),
        definition: "E2E = last chunk received − t0.",
        server_figure: false,
        history_id: Some("e2e_ms"),
        commits_id: None,
        hdr_slug: Some("e2e"),
        peers_id: Some("e2e"),
        peers_name: None,
    },
    MetricDef {
        id: "client_overhead",
        name: "unaccounted (E2E − server)",
        title: "Unaccounted: E2E − server-reported time (server + network + client)",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Call(|m| m.client_overhead_ns().map(|n| n as f64 / 1e6)),
        definition: "Unaccounted = E2E (client clock) − the server's reported time \
                     (total_duration, or llama.cpp's prompt_ms + predicted_ms): the server's \
                     untimed work, the network and the client together (against llama.cpp \
                     mostly the server's own untimed work; the id `client_overhead` is kept); \
                     a negative value (the server claims more time than the call took) is no \
                     sample: such calls are counted and warned about.",
        server_figure: false,
        history_id: Some("client_overhead_ms"),
        commits_id: Some("client_overhead"),
        hdr_slug: Some("client-overhead"),
        peers_id: Some("client_overhead"),
        peers_name: Some("client overhead per call"),
    },
    MetricDef {
        id: "client_cpu",
        name: "client CPU per call",
        title: "Client CPU time per call",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Call(|m| m.client_cpu().map(ms)),
        definition: "Client CPU = the CPU time of the thread that made a completed call, from \
                     its start to its return (clock_gettime(CLOCK_THREAD_CPUTIME_ID)): the \
                     client's own work, measured directly; recorded only for a call that ran \
                     alone on a current-thread runtime (as in `run`).",
        server_figure: false,
        history_id: None,
        commits_id: None,
        hdr_slug: None,
        peers_id: None,
        peers_name: None,
    },
    MetricDef {
        id: "decode_tps",
        name: "decode tok/s",
        title: "Server decode throughput",
        unit: "tok/s",
        direction: HigherIsBetter,
        threshold_pct: 3.0,
        source: Source::Call(|m| m.decode_tps()),
        definition: "Decode tok/s = eval_count / eval_duration (llama.cpp: predicted_n / \
                     predicted_ms): the server's own figure.",
        server_figure: true,
        history_id: Some("decode_tps"),
        commits_id: None,
        hdr_slug: None,
        peers_id: Some("decode_tps"),
        peers_name: Some("server decode tok/s"),
    },
    MetricDef {
        id: "ingest",
        name: "ingest",
        title: "Ingest phase",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Workflow(|r| phases_ms(r, &[Phase::Ingest])),
        definition: "The ingest phase's span: walk and parse the corpus, build the data summary.",
        server_figure: false,
        history_id: Some("ingest_ms"),
        commits_id: None,
        hdr_slug: None,
        peers_id: None,
        peers_name: None,
    },
    MetricDef {
        id: "prompt_build",
        name: "prompt building",
        title: "Prompt building",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Workflow(|r| phases_ms(r, &[Phase::AnalysisPrompt, Phase::ReportPrompt])),
        definition: "The spans of both prompt-building phases, summed.",
        server_figure: false,
        history_id: Some("prompt_build_ms"),
        commits_id: None,
        hdr_slug: None,
        peers_id: None,
        peers_name: None,
    },
    MetricDef {
        id: "workflow_wall",
        name: "workflow wall time",
        title: "Workflow wall time",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Workflow(|r| {
            r.failure.is_none().then(|| {
                r.phases
                    .iter()
                    .map(|p| p.end_ns.saturating_sub(p.start_ns) as f64)
                    .sum::<f64>()
                    / 1e6
            })
        }),
        definition: "The sum of a completed run's phase spans.",
        server_figure: false,
        history_id: None,
        commits_id: Some("wall"),
        hdr_slug: None,
        peers_id: None,
        peers_name: None,
    },
    MetricDef {
        id: "start_to_first_request",
        name: "start to first request",
        title: "Start to first request",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Process,
        definition: "Instant just before spawn (fork + exec) to the arrival the embedded stub \
                     recorded for the first request after it.",
        server_figure: false,
        history_id: None,
        commits_id: None,
        hdr_slug: None,
        peers_id: Some("start_to_first_request"),
        peers_name: None,
    },
    MetricDef {
        id: "peak_rss",
        name: "peak RSS",
        title: "Peak resident set size",
        unit: "MB",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Process,
        definition: "ru_maxrss of the child from wait4, in MB (10^6 bytes).",
        server_figure: false,
        history_id: None,
        commits_id: None,
        hdr_slug: None,
        peers_id: Some("peak_rss"),
        peers_name: None,
    },
    MetricDef {
        id: "cpu_time",
        name: "CPU time (user + sys)",
        title: "CPU time",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Process,
        definition: "ru_utime + ru_stime of the child from wait4.",
        server_figure: false,
        history_id: None,
        commits_id: None,
        hdr_slug: None,
        peers_id: Some("cpu_time"),
        peers_name: None,
    },
    MetricDef {
        id: "process_wall",
        name: "wall time",
        title: "Process wall time",
        unit: "ms",
        direction: LowerIsBetter,
        threshold_pct: 5.0,
        source: Source::Process,
        definition: "Spawn to exit of the agent process, observed by the harness.",
        server_figure: false,
        history_id: None,
        commits_id: None,
        hdr_slug: None,
        peers_id: Some("wall"),
        peers_name: None,
    },
];

/// Every entry, in catalog order.
pub fn all() -> impl Iterator<Item = &'static MetricDef> {
    CATALOG.iter()
}

/// The entry whose canonical [`id`](MetricDef::id) is `id`.
pub fn get(id: &str) -> Option<&'static MetricDef> {
    CATALOG.iter().find(|m| m.id == id)
}

/// The entry whose id is `id`, for ids this crate names in code. Panics on an
/// unknown id (a typo in the crate, caught by any test that reaches it).
pub fn expect(id: &str) -> &'static MetricDef {
    get(id).unwrap_or_else(|| panic!("metric `{id}` is not in the catalog"))
}

/// A metric as `compare` and `history` name it: the catalog entry, the stage for a
/// call metric, and the id `<stage>.<history_id>` or `workflow.<history_id>`.
#[derive(Debug, Clone, Copy)]
pub struct StageMetric {
    /// The id, e.g. `analysis.ttft_ms`, `workflow.ingest_ms`.
    pub id: &'static str,
    /// The entry.
    pub def: &'static MetricDef,
    /// The stage of a call metric; `None` for a workflow metric.
    pub stage: Option<Stage>,
}

impl StageMetric {
    /// The metric's samples from `runs`.
    pub fn samples(&self, runs: &[WorkflowRecord]) -> Vec<f64> {
        self.def.samples(runs, self.stage)
    }
}

fn per_stage(alias: fn(&MetricDef) -> Option<&'static str>) -> Vec<StageMetric> {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut out = Vec::new();
    for stage in Stage::ALL {
        for def in all().filter(|d| d.scope() == Scope::Call) {
            if let Some(a) = alias(def) {
                out.push(StageMetric {
                    id: leak(format!("{}.{a}", stage.name())),
                    def,
                    stage: Some(stage),
                });
            }
        }
    }
    for def in all().filter(|d| d.scope() == Scope::Workflow) {
        if let Some(a) = alias(def) {
            out.push(StageMetric {
                id: leak(format!("workflow.{a}")),
                def,
                stage: None,
            });
        }
    }
    out
}

/// The metrics `compare` and `history` report, in their order: per stage every call
/// metric with a [`history_id`](MetricDef::history_id), then the workflow metrics.
/// Built once.
pub fn history_metrics() -> &'static [StageMetric] {
    static M: std::sync::OnceLock<Vec<StageMetric>> = std::sync::OnceLock::new();
    M.get_or_init(|| per_stage(|d| d.history_id))
}

/// The metrics `commits` reports, in its order: per stage every call metric with a
/// [`commits_id`](MetricDef::commits_id), then the workflow metrics. Built once.
pub fn commits_metrics() -> &'static [StageMetric] {
    static M: std::sync::OnceLock<Vec<StageMetric>> = std::sync::OnceLock::new();
    M.get_or_init(|| per_stage(|d| d.commits_id))
}

/// The catalog as a Markdown table (one row per entry: id, name, unit, better
/// direction, default threshold, what a sample is, the ids outputs use, the
/// definition): the generated part of `docs/metrics.md`.
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| id | name | unit | better | threshold | sample | ids in outputs | definition |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for d in all() {
        let mut ids = Vec::new();
        if let Some(h) = d.history_id {
            ids.push(format!("compare/history `{h}`"));
        }
        if let Some(c) = d.commits_id {
            ids.push(format!("commits `{c}`"));
        }
        if let Some(h) = d.hdr_slug {
            ids.push(format!("HDR `{h}`"));
        }
        if let Some(p) = d.peers_id {
            ids.push(format!("peers `{p}`"));
        }
        let better = match d.direction {
            Direction::LowerIsBetter => "lower",
            Direction::HigherIsBetter => "higher",
        };
        let server = if d.server_figure {
            " (server's figure)"
        } else {
            ""
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {better} | {} % | {}{server} | {} | {} |\n",
            d.id,
            d.name,
            d.unit,
            d.threshold_pct,
            d.scope().name(),
            if ids.is_empty() {
                "—".to_string()
            } else {
                ids.join(", ")
            },
            d.definition.replace('|', "\\|"),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `docs/metrics.md` shows the catalog as it is: its generated table (between
    /// the `catalog:begin` / `catalog:end` markers) is [`markdown_table`]. Run with
    /// `AGENTBENCH_UPDATE_DOCS=1` to rewrite it after changing an entry.
    #[test]
    fn docs_metrics_md_is_the_catalog() {
        const BEGIN: &str =
            "<!-- catalog:begin (generated by metrics::catalog::markdown_table) -->\n";
        const END: &str = "<!-- catalog:end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
        let doc = std::fs::read_to_string(path).expect("docs/metrics.md exists");
        let start = doc
            .find(BEGIN)
            .expect("docs/metrics.md has the begin marker")
            + BEGIN.len();
        let end = doc.find(END).expect("docs/metrics.md has the end marker");
        let table = markdown_table();
        if std::env::var_os("AGENTBENCH_UPDATE_DOCS").is_some() {
            let new = format!("{}{table}{}", &doc[..start], &doc[end..]);
            std::fs::write(path, new).expect("docs/metrics.md is writable");
        } else {
            assert_eq!(
                &doc[start..end],
                table,
                "docs/metrics.md is out of date: run \
                 AGENTBENCH_UPDATE_DOCS=1 cargo test --lib docs_metrics_md"
            );
        }
    }

    #[test]
    fn ids_and_aliases_are_unique() {
        let unique = |f: fn(&MetricDef) -> Option<&'static str>| {
            let v: Vec<_> = all().filter_map(f).collect();
            let s: BTreeSet<_> = v.iter().collect();
            assert_eq!(v.len(), s.len(), "{v:?}");
        };
        unique(|d| Some(d.id));
        unique(|d| d.history_id);
        unique(|d| d.commits_id);
        unique(|d| d.hdr_slug);
        unique(|d| d.peers_id);
        assert!(all().all(|d| d.threshold_pct >= 0.0));
        assert_eq!(get("decode_tps").unwrap().unit, "tok/s");
        assert!(get("nope").is_none());
    }

    #[test]
    fn derived_ids_are_the_ones_outputs_already_use() {
        let h: Vec<_> = history_metrics().iter().map(|m| m.id).collect();
        assert_eq!(
            h,
            [
                "analysis.ttft_ms",
                "analysis.e2e_ms",
                "analysis.client_overhead_ms",
                "analysis.decode_tps",
                "report.ttft_ms",
                "report.e2e_ms",
                "report.client_overhead_ms",
                "report.decode_tps",
                "workflow.ingest_ms",
                "workflow.prompt_build_ms",
            ]
        );
        let c: Vec<_> = commits_metrics().iter().map(|m| m.id).collect();
        assert_eq!(
            c,
            [
                "analysis.client_overhead",
                "report.client_overhead",
                "workflow.wall"
            ]
        );
        assert_eq!(expect("ttft").label(), "TTFT (ms)");
        assert_eq!(expect("decode_tps").label(), "decode tok/s");
        assert_eq!(
            expect("client_overhead").peers_display(),
            "client overhead per call"
        );
    }
}
