//! The history section: one trend chart per metric across commits (from
//! `reports/history/history.jsonl`), plus the entries as a table. Used by the HTML
//! report (`agentbench report --history FILE`) and by `agentbench history`.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::page::figure;
use super::plots::{color, PlotResult};
use super::{escape_html as e, fmt3};
use crate::history::{trend, HistoryEntry, TrendSeries, TREND_METRICS};

const FONT: &str = "sans-serif";

fn pe<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// A line chart of `series` against history position, x labels the short commits.
pub fn trend_plot(title: &str, y_desc: &str, series: &[TrendSeries], entries: usize) -> PlotResult {
    let labels: Vec<String> = {
        let mut l = vec![String::new(); entries.max(1)];
        for s in series {
            for (i, c, _) in &s.points {
                l[*i] = c.clone();
            }
        }
        l
    };
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.2));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.15).max(hi.abs() * 0.02).max(1e-9);
    let y = (lo - pad).max(0.0)..hi + pad;
    let x_max = entries.saturating_sub(1).max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(12)
            .x_label_area_size(52)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.3f64..x_max + 0.3, y)
            .map_err(pe)?;
        let label_of = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc("commit (history order)")
            .y_desc(y_desc)
            .x_labels(entries.clamp(2, 12))
            .x_label_formatter(&label_of)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(pe)?;
        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let pts: Vec<(f64, f64)> = s.points.iter().map(|(x, _, v)| (*x as f64, *v)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(pe)?
                .label(s.series.chars().take(80).collect::<String>())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))
                .map_err(pe)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 11))
            .draw()
            .map_err(pe)?;
        root.present().map_err(pe)?;
    }
    Ok(svg)
}

fn unit_of(metric: &str) -> &'static str {
    if metric.ends_with("_ms") {
        "median (ms)"
    } else if metric.ends_with("_tps") {
        "median (tok/s)"
    } else {
        "instructions per iteration"
    }
}

/// The HTML history section: a trend chart for each of [`TREND_METRICS`] and each
/// instruction-count workload present, then the entries. Every history string is
/// escaped (plotters escapes its own text).
pub fn history_section(entries: &[HistoryEntry]) -> PlotResult {
    let mut s = String::new();
    s.push_str("<h2 id=\"history\">History across commits</h2>\n");
    let _ = writeln!(
        s,
        "<p class=\"muted\">{} entr{} from the history file, in the order they were appended. \
         Each line joins entries of one series (backend · model · host); figures from \
         different machines or backends are never joined. Wall-clock medians are as noisy \
         as the machine; the instruction counts are deterministic.</p>",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    );
    let mut metrics: Vec<String> = TREND_METRICS.iter().map(|m| m.to_string()).collect();
    let workloads: std::collections::BTreeSet<&String> =
        entries.iter().flat_map(|e| e.instructions.keys()).collect();
    metrics.extend(workloads.into_iter().map(|w| format!("instructions.{w}")));
    for m in &metrics {
        let series = trend(entries, m);
        if series.is_empty() {
            continue;
        }
        let svg = trend_plot(m, unit_of(m), &series, entries.len())?;
        s.push_str(&figure(
            &format!("trend-{}", e(m)),
            &svg,
            &format!("{} by commit.", e(m)),
        ));
    }
    s.push_str(
        "<table><thead><tr><th>#</th><th>commit</th><th>commit date</th><th>series</th>\
         <th class=\"num\">runs</th><th class=\"num\">analysis overhead ms</th>\
         <th class=\"num\">ingest ms</th></tr></thead><tbody>\n",
    );
    for (i, en) in entries.iter().enumerate() {
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{i}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            e(en.commit.as_deref().unwrap_or("unknown")),
            e(en.commit_date.as_deref().unwrap_or("–")),
            e(&en.series()),
            en.runs,
            fmt3(en.medians.get("analysis.client_overhead_ms").copied()),
            fmt3(en.medians.get("workflow.ingest_ms").copied()),
        );
    }
    s.push_str("</tbody></table>\n");
    Ok(s)
}

/// A standalone page with only the history section (`agentbench history`), in the
/// shared [`Page`](super::page::Page) shell.
pub fn history_page(entries: &[HistoryEntry]) -> PlotResult {
    let mut page = super::page::Page::new("agentbench history");
    page.push_html(&history_section(entries)?);
    Ok(page.finish())
}
