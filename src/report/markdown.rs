//! `summary.md`: the summary table and skipped lines, for pasting into issues.

use std::fmt::Write as _;
use std::path::Path;

use super::{escape_html, fmt3, summary_rows, Exporter, ReportData, ReportError};
use crate::metrics::Quantiles;

/// Writes `summary.md`: groups, one table row per group and stage (times in ms,
/// median / p95), and skipped record lines. Record text is HTML-escaped and `|`
/// is escaped, so a cell can neither inject markup nor break the table.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkdownExporter;

fn md(s: &str) -> String {
    escape_html(s)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn pair(q: &Option<Quantiles>) -> String {
    format!(
        "{} / {}",
        fmt3(q.as_ref().map(|q| q.median)),
        fmt3(q.as_ref().map(|q| q.p95))
    )
}

impl Exporter for MarkdownExporter {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }

    fn render(&self, data: &ReportData<'_>, _out: &Path) -> Result<Vec<u8>, ReportError> {
        let mut s = String::from("# agentbench summary\n\n");
        s.push_str(
            "| group | backend | configuration | runs | runs ok |\n|---|---|---|---:|---:|\n",
        );
        for g in &data.groups {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                g.short,
                md(&g.key.backend),
                md(&g.key.config),
                g.summary.runs,
                g.summary.runs_ok
            );
        }
        s.push_str(
            "\nMedian / p95 of completed calls; failed calls count as errors and add no samples.\n\n\
             | group | stage | ok/calls | errors | TTFT ms | E2E ms | ITL ms | decode tok/s | unaccounted: E2E − server ms | client CPU per call ms |\n\
             |---|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in summary_rows(data) {
            let _ = writeln!(
                s,
                "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} |",
                r.group,
                r.stage.name(),
                r.ok,
                r.calls,
                if r.errors.is_empty() {
                    "–".into()
                } else {
                    md(&r.errors)
                },
                pair(&r.ttft_ms),
                pair(&r.e2e_ms),
                pair(&r.itl_ms),
                pair(&r.decode_tps),
                pair(&r.client_overhead_ms),
                pair(&r.client_cpu_ms),
            );
        }
        let skipped: Vec<_> = data
            .inputs
            .iter()
            .flat_map(|(i, _)| i.file.skipped.iter().map(move |(l, why)| (i.name, l, why)))
            .collect();
        if !skipped.is_empty() {
            s.push_str("\n## Skipped record lines\n\n| input | line | reason |\n|---|---:|---|\n");
            for (name, line, why) in skipped {
                let _ = writeln!(s, "| {} | {line} | {} |", md(name), md(why));
            }
        }
        Ok(s.into_bytes())
    }
}
