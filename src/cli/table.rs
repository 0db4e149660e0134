//! Console tables.

use std::fmt::Write as _;

use crate::metrics::{Quantiles, RunSummary};

fn cell(q: &Option<Quantiles>, decimals: usize) -> String {
    match q {
        Some(q) => format!("{:.*} / {:.*}", decimals, q.median, decimals, q.p95),
        None => "–".to_string(),
    }
}

/// One row per stage: calls, errors, TTFT, E2E, decode tok/s, unaccounted time
/// (E2E − the server's reported time; id `client_overhead`) and the client's own
/// CPU per call (median / p95 of completed calls).
pub fn stage_table(summary: &RunSummary) -> String {
    let header = [
        "stage",
        "ok/calls",
        "errors",
        "TTFT ms (p50/p95)",
        "E2E ms (p50/p95)",
        "decode tok/s (p50/p95)",
        "unaccounted: E2E − server ms (p50/p95)",
        "client CPU/call ms (p50/p95)",
    ];
    let mut rows = vec![header.map(str::to_string).to_vec()];
    for s in &summary.stages {
        let errors = if s.errors.is_empty() {
            "0".to_string()
        } else {
            s.errors
                .iter()
                .map(|(k, n)| {
                    format!(
                        "{}×{n}",
                        serde_json::to_value(k)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        rows.push(vec![
            s.stage.name().to_string(),
            format!("{}/{}", s.ok, s.calls),
            errors,
            cell(&s.ttft_ms, 1),
            cell(&s.e2e_ms, 1),
            cell(&s.decode_tps, 1),
            cell(&s.client_overhead_ms, 3),
            cell(&s.client_cpu_ms, 3),
        ]);
    }
    let mut out = render(&rows);
    let phases: Vec<String> = summary
        .phases_ms
        .iter()
        .map(|(p, q)| {
            let name = serde_json::to_value(p).unwrap_or_default();
            format!("{} {:.3}", name.as_str().unwrap_or("?"), q.median)
        })
        .collect();
    let _ = writeln!(out, "phase medians (ms): {}", phases.join(", "));
    out
}

/// Left-aligned columns, a rule under the header row.
pub(super) fn render(rows: &[Vec<String>]) -> String {
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            let _ = writeln!(out, "{}", rule.join("  "));
        }
    }
    out
}

/// A confidence level as a table header shows it: 0.95 → "95%", 0.995 → "99.5%",
/// 1 − 0.05/3 → "98.33%" (at most two decimals, trailing zeros dropped).
pub(super) fn confidence_label(confidence: f64) -> String {
    let text = format!("{:.2}", confidence * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod confidence_label_tests {
    use super::confidence_label;

    #[test]
    fn drops_trailing_zeros() {
        assert_eq!(confidence_label(0.95), "95%");
        assert_eq!(confidence_label(0.995), "99.5%");
        assert_eq!(confidence_label(1.0 - 0.05 / 3.0), "98.33%");
    }
}
