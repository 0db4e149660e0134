//! `summary.csv`: one row per group and stage, exact sample quantiles.

use std::path::Path;

use super::{summary_rows, Exporter, ReportData, ReportError};
use crate::metrics::Quantiles;

/// Writes `summary.csv` (header row, then one row per group and stage; empty
/// cell = undefined; times in ms, throughput in tok/s).
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvExporter;

/// The CSV header, in column order.
pub const CSV_HEADER: [&str; 21] = [
    "group",
    "backend",
    "config",
    "stage",
    "calls",
    "ok",
    "errors",
    "ttft_median_ms",
    "ttft_p95_ms",
    "e2e_median_ms",
    "e2e_p95_ms",
    "itl_median_ms",
    "itl_p95_ms",
    "decode_tps_median",
    "decode_tps_p95",
    "client_overhead_median_ms",
    "client_overhead_p95_ms",
    "ttft_n",
    "itl_n",
    "client_cpu_median_ms",
    "client_cpu_p95_ms",
];

fn cell(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Defuses spreadsheet formula injection: a text cell starting with `= + - @`
/// gets a leading `'`.
fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

impl Exporter for CsvExporter {
    fn file_name(&self) -> &'static str {
        "summary.csv"
    }

    fn render(&self, data: &ReportData<'_>, out: &Path) -> Result<Vec<u8>, ReportError> {
        let err = |e: csv::Error| ReportError::Csv {
            path: out.to_path_buf(),
            reason: e.to_string(),
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(CSV_HEADER).map_err(err)?;
        let med = |q: &Option<Quantiles>| cell(q.as_ref().map(|q| q.median));
        let p95 = |q: &Option<Quantiles>| cell(q.as_ref().map(|q| q.p95));
        let n = |q: &Option<Quantiles>| q.as_ref().map_or(0, |q| q.n).to_string();
        for r in summary_rows(data) {
            w.write_record([
                r.group.clone(),
                text(&r.backend),
                text(&r.config),
                r.stage.name().to_string(),
                r.calls.to_string(),
                r.ok.to_string(),
                r.errors.clone(),
                med(&r.ttft_ms),
                p95(&r.ttft_ms),
                med(&r.e2e_ms),
                p95(&r.e2e_ms),
                med(&r.itl_ms),
                p95(&r.itl_ms),
                med(&r.decode_tps),
                p95(&r.decode_tps),
                med(&r.client_overhead_ms),
                p95(&r.client_overhead_ms),
                n(&r.ttft_ms),
                n(&r.itl_ms),
                med(&r.client_cpu_ms),
                p95(&r.client_cpu_ms),
            ])
            .map_err(err)?;
        }
        w.into_inner().map_err(|e| ReportError::Csv {
            path: out.to_path_buf(),
            reason: e.to_string(),
        })
    }
}
