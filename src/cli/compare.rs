//! `agentbench compare BASE.jsonl CAND.jsonl`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::table::{confidence_label, render};
use super::CompareArgs;
use crate::compare::{bencher_metric_format, compare, CompareOptions, CompareReport, Verdict};
use crate::record::read_records;

/// Compares two record files. Exit 1 when a metric regressed, 0 otherwise; a
/// provenance mismatch without `--force` is an error (exit 2).
pub fn run_compare(args: &CompareArgs) -> Result<ExitCode> {
    let opts = CompareOptions::default().with_thresholds(&args.threshold)?;
    let base = read_records(&args.baseline)?;
    let cand = read_records(&args.candidate)?;
    let report = compare(&base, &cand, &opts);
    if !report.provenance.is_empty() {
        let lines: Vec<String> = report
            .provenance
            .iter()
            .map(|m| {
                format!(
                    "  {}: baseline {} vs candidate {}",
                    m.field, m.baseline, m.candidate
                )
            })
            .collect();
        if !args.force {
            bail!(
                "{} and {} are not comparable:\n{}\n(pass --force to compare anyway; the output will say so)",
                args.baseline.display(),
                args.candidate.display(),
                lines.join("\n")
            );
        }
        eprintln!(
            "WARNING: comparing despite provenance differences (--force):\n{}",
            lines.join("\n")
        );
    }
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        write_json(path, &serde_json::to_value(&report)?)?;
    }
    if let Some(path) = &args.bmf {
        write_json(path, &bencher_metric_format(&report))?;
    }
    Ok(if report.regressed() {
        eprintln!("regression detected");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.decimals$}"))
}

fn table(report: &CompareReport) -> String {
    let ci_header = report.metrics.first().map_or("CI of Δ".to_string(), |m| {
        format!("{} CI of Δ", confidence_label(m.ci_confidence))
    });
    let mut rows = vec![[
        "metric",
        "n (b/c)",
        "baseline p50",
        "candidate p50",
        "change",
        &ci_header,
        "p (Welch)",
        "p (M-W)",
        "verdict",
    ]
    .map(str::to_string)
    .to_vec()];
    for m in &report.metrics {
        let ci = match (m.diff_ci_lower, m.diff_ci_upper) {
            (Some(l), Some(u)) => format!("[{l:.3}, {u:.3}]"),
            _ => "–".to_string(),
        };
        let verdict = match m.verdict {
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
            Verdict::Unchanged => "unchanged",
            Verdict::Insufficient => "too few samples",
        };
        rows.push(vec![
            format!("{} ({})", m.metric, m.unit),
            format!("{}/{}", m.n_baseline, m.n_candidate),
            opt(m.median_baseline, 3),
            opt(m.median_candidate, 3),
            m.change_pct.map_or("–".into(), |p| format!("{p:+.1}%")),
            ci,
            opt(m.p_welch, 3),
            opt(m.p_mann_whitney, 3),
            format!("{verdict} (±{}%)", m.threshold_pct),
        ]);
    }
    render(&rows)
}
