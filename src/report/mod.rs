//! Reports: records → [`ReportData`] (summaries, HDR histograms, breakdowns) →
//! one [`Exporter`] per format (Markdown, CSV, self-contained HTML), plus the
//! histograms as `.us.hdr` / `.ms.hgrm` files. Data flows one way; nothing an
//! exporter computes is fed back.

mod csv;
mod data;
pub mod hdr_files;
mod html;
mod markdown;
pub mod page;
pub mod plots;
mod sweep;
mod trend;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use self::csv::{CsvExporter, CSV_HEADER};
pub use data::{
    ConfigStage, GroupData, Interval, IntervalMethod, ReportData, ReportInput, StageBreakdown,
    WorkflowBreakdown, BOOTSTRAP_MIN_N, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED,
};
pub use html::HtmlExporter;
pub use markdown::MarkdownExporter;
pub use sweep::{render_sweep_markdown, write_sweep_report, SweepReportPaths};
pub use trend::{history_page, history_section, trend_plot};

use crate::client::ErrorKind;
use crate::metrics::Quantiles;
use crate::record::{RecordFile, Stage};
use hdr_files::{HdrError, HistogramFiles};

/// A report could not be written.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A file or folder could not be written.
    #[error("cannot write report file {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A histogram file could not be written.
    #[error(transparent)]
    Hdr(#[from] HdrError),
    /// A chart could not be drawn.
    #[error("cannot draw plot {plot} for {path}: {reason}")]
    Plot {
        /// The plot's id.
        plot: String,
        /// The file it was for.
        path: PathBuf,
        /// What plotters said.
        reason: String,
    },
    /// A CSV row could not be encoded.
    #[error("cannot encode CSV for {path}: {reason}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the encoder said.
        reason: String,
    },
}

/// One output format, rendered from [`ReportData`] alone (like hyperfine's
/// `Exporter`). Rendering is pure: the same data gives the same bytes.
pub trait Exporter {
    /// The file name written under the report folder.
    fn file_name(&self) -> &'static str;
    /// Renders the report; `out` is the path it will be written to (for errors).
    fn render(&self, data: &ReportData<'_>, out: &Path) -> Result<Vec<u8>, ReportError>;
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    /// The self-contained HTML report.
    pub index_html: PathBuf,
    /// The Markdown summary.
    pub summary_md: PathBuf,
    /// The CSV summary (one row per group and stage).
    pub summary_csv: PathBuf,
    /// Every histogram file, under `out_dir/hdr/`.
    pub histograms: Vec<HistogramFiles>,
}

/// Writes the report of `inputs` into `out_dir` (created): `index.html`,
/// `summary.md`, `summary.csv` and `hdr/<group>-<metric>.us.hdr|.ms.hgrm`.
/// Inputs are named `input 1`, `input 2`, ...; use [`write_report_named`] to
/// show their paths.
pub fn write_report(inputs: &[RecordFile], out_dir: &Path) -> Result<ReportPaths, ReportError> {
    let names: Vec<String> = (1..=inputs.len()).map(|i| format!("input {i}")).collect();
    let named: Vec<ReportInput<'_>> = inputs
        .iter()
        .zip(&names)
        .map(|(file, name)| ReportInput { name, file })
        .collect();
    write_report_named(&named, out_dir)
}

/// [`write_report`] with a display name (e.g. the path) per input. Files with the
/// same group key (backend, model, options) are pooled into one group.
pub fn write_report_named(
    inputs: &[ReportInput<'_>],
    out_dir: &Path,
) -> Result<ReportPaths, ReportError> {
    write_report_with_history(inputs, &[], out_dir)
}

/// [`write_report_named`] with a history section (trend charts across commits)
/// in the HTML page when `history` is not empty.
pub fn write_report_with_history(
    inputs: &[ReportInput<'_>],
    history: &[crate::history::HistoryEntry],
    out_dir: &Path,
) -> Result<ReportPaths, ReportError> {
    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let mut data = ReportData::build(inputs);
    data.history = history.to_vec();
    let histograms = hdr_files::write_groups(
        data.groups.iter().map(|g| (&g.key, g)),
        &out_dir.join("hdr"),
    )?;
    let exporters: [&dyn Exporter; 3] = [&MarkdownExporter, &CsvExporter, &HtmlExporter];
    let mut written = Vec::new();
    for e in exporters {
        let path = out_dir.join(e.file_name());
        let bytes = e.render(&data, &path)?;
        std::fs::write(&path, bytes).map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(ReportPaths {
        summary_md: written[0].clone(),
        summary_csv: written[1].clone(),
        index_html: written[2].clone(),
        histograms,
    })
}

/// Escapes `& < > " '` so that `s` is inert as HTML text or as a quoted
/// attribute value ([`page::escape`]). Every record-derived string goes through it.
pub fn escape_html(s: &str) -> String {
    page::escape(s)
}

/// The snake_case name of an error kind (as in the record files).
pub fn error_kind_name(k: ErrorKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{k:?}"))
}

/// One row of the summary table: a group's stage.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// `G1`, ...
    pub group: String,
    /// Backend label.
    pub backend: String,
    /// Configuration label.
    pub config: String,
    /// The stage.
    pub stage: Stage,
    /// Calls made.
    pub calls: usize,
    /// Calls completed.
    pub ok: usize,
    /// `kind=n` pairs joined by `; ` (empty when none failed).
    pub errors: String,
    /// TTFT ms.
    pub ttft_ms: Option<Quantiles>,
    /// E2E ms.
    pub e2e_ms: Option<Quantiles>,
    /// ITL ms.
    pub itl_ms: Option<Quantiles>,
    /// Server decode tok/s.
    pub decode_tps: Option<Quantiles>,
    /// Unaccounted ms, E2E − server-reported time (the `client_overhead` metric).
    pub client_overhead_ms: Option<Quantiles>,
    /// The client's own CPU per call, ms (the `client_cpu` metric).
    pub client_cpu_ms: Option<Quantiles>,
}

/// The summary rows of every group and stage, in group then workflow order.
/// Figures are the exact sample quantiles of [`crate::metrics::RunSummary`].
pub fn summary_rows(data: &ReportData<'_>) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for g in &data.groups {
        for s in &g.summary.stages {
            rows.push(SummaryRow {
                group: g.short.clone(),
                backend: g.key.backend.clone(),
                config: g.key.config.clone(),
                stage: s.stage,
                calls: s.calls,
                ok: s.ok,
                errors: s
                    .errors
                    .iter()
                    .map(|(k, n)| format!("{}={n}", error_kind_name(*k)))
                    .collect::<Vec<_>>()
                    .join("; "),
                ttft_ms: s.ttft_ms.clone(),
                e2e_ms: s.e2e_ms.clone(),
                itl_ms: s.itl_ms.clone(),
                decode_tps: s.decode_tps.clone(),
                client_overhead_ms: s.client_overhead_ms.clone(),
                client_cpu_ms: s.client_cpu_ms.clone(),
            });
        }
    }
    rows
}

/// `{:.3}` of a value, or `–` when undefined.
pub(crate) fn fmt3(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}
