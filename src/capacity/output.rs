//! The capacity report: `capacity.json` (everything), `capacity.md`, and
//! `index.html` (latency vs load with the 95 % intervals and the limit, goodput vs
//! load, the probes and how each ended) on the shared page shell.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{Axis, CapacityReport, Interval, ProbeResult};
use crate::report::page::{Cell, Page, Table};

/// Writing the report failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {why}")]
pub struct OutputError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub why: String,
}

fn write(path: &Path, text: &str) -> Result<(), OutputError> {
    std::fs::write(path, text).map_err(|e| OutputError {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

/// Writes capacity.json, capacity.md and index.html into `dir`.
pub fn write_report(r: &CapacityReport, dir: &Path) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir).map_err(|e| OutputError {
        path: dir.to_path_buf(),
        why: e.to_string(),
    })?;
    let json = serde_json::to_string_pretty(r).map_err(|e| OutputError {
        path: dir.join("capacity.json"),
        why: e.to_string(),
    })?;
    write(&dir.join("capacity.json"), &json)?;
    write(&dir.join("capacity.md"), &markdown(r))?;
    write(&dir.join("index.html"), &html(r))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "∞".to_string(), |v| format!("{v:.1}"))
}

fn target_cell(p: &ProbeResult) -> String {
    p.targets
        .iter()
        .map(|t| {
            if t.n == 0 {
                format!("{}: no samples", t.target)
            } else {
                format!(
                    "{}: {} [{}, {}] ms (n {})",
                    t.target,
                    ms(t.estimate_ms),
                    ms(t.lower_ms),
                    ms(t.upper_ms),
                    t.n
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn verdict_name(p: &ProbeResult) -> String {
    let v = serde_json::to_value(p.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if p.repeat {
        format!("{v} (repeat)")
    } else {
        v
    }
}

fn head(r: &CapacityReport) -> [String; 7] {
    [
        "#".into(),
        format!("{} ({})", r.axis.name(), r.unit),
        "verdict".into(),
        "SLO percentiles [95 % CI]".into(),
        "goodput".into(),
        if r.workload == "agent" {
            "jobs ok/s".into()
        } else {
            "ok/s".into()
        },
        "ended".into(),
    ]
}

/// What the report's percentiles mean, for its notes: the per-request view, and
/// for agent workloads the job-level one.
fn meaning(r: &CapacityReport) -> String {
    let interval = match r.interval {
        Interval::BatchMeans => " Intervals: --interval batch-means (the standard error's floor at the binomial one; near a Poisson-fed queue's knee, probes just beyond the capacity may pass).",
        Interval::Correlated => " Intervals: batch means, the standard error's floor widened by the autocorrelation time of the exceedances of the estimate (--interval correlated).",
    };
    let load = match &r.sessions {
        None => "Latencies count from each request's intended send; a failed request is infinitely slow.".into(),
        Some(s) => format!(
            "Load: {s}, at {}. A `job` target bounds a percentile of job latency, from the session's intended start to its last turn's end (a failed or unfinished job is infinitely slow); `ttft`, `tpot` and `e2e` targets bound each turn from its own intended send.",
            match r.axis {
                Axis::Rate => "a rate in sessions/s",
                Axis::Concurrency => "a number of concurrent sessions (slots)",
            }
        ),
    };
    format!("{load}{interval}")
}

fn row(r: &CapacityReport, p: &ProbeResult) -> [String; 7] {
    [
        p.index.to_string(),
        r.axis.format(p.load),
        verdict_name(p),
        target_cell(p),
        p.goodput
            .map_or_else(|| "–".into(), |g| format!("{:.1} %", g * 100.0)),
        format!("{:.2}", p.ok_rate),
        p.ended.clone(),
    ]
}

/// The Markdown report.
pub fn markdown(r: &CapacityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# agentbench capacity\n");
    let _ = writeln!(out, "**{}**\n", r.headline());
    let _ = writeln!(
        out,
        "Range {}–{} {}, at most {} probes, ± {:.0} % asked; {} measured {} per probe ({}), a repeat of an inconclusive {} measures what its data asked for, {}–{} times as many.\n",
        r.axis.format(r.min),
        r.axis.format(r.max),
        r.unit,
        r.max_probes,
        r.tolerance * 100.0,
        r.requests_per_probe,
        r.counted,
        r.requests_why,
        r.axis.name(),
        super::REPEAT_MIN,
        super::REPEAT_MAX
    );
    if let Some(advice) = r.advice() {
        let _ = writeln!(out, "{advice}\n");
    }
    let _ = writeln!(out, "{}\n", meaning(r));
    let _ = writeln!(out, "| {} |", head(r).join(" | "));
    let _ = writeln!(out, "|{}|", ["---"; 7].join("|"));
    for p in &r.probes {
        let _ = writeln!(out, "| {} |", row(r, p).join(" | ").replace('\n', " "));
    }
    out
}

type Points = Vec<(f64, f64, f64, f64)>;

fn latency_chart(r: &CapacityReport, k: usize) -> String {
    let Some(first) = r.probes.first().and_then(|p| p.targets.get(k)) else {
        return String::new();
    };
    let limit = first.limit_ms;
    let name = first.target.clone();
    // (rate, estimate, lower, upper) with ∞ drawn at the top of the axis.
    let finite_max = r
        .probes
        .iter()
        .filter_map(|p| p.targets.get(k))
        .flat_map(|t| [t.estimate_ms, t.lower_ms, t.upper_ms])
        .flatten()
        .fold(limit, f64::max);
    let top = finite_max * 1.2;
    let pts: Points = r
        .probes
        .iter()
        .filter_map(|p| {
            let t = p.targets.get(k)?;
            (t.n > 0).then(|| {
                (
                    p.load,
                    t.estimate_ms.unwrap_or(top),
                    t.lower_ms.unwrap_or(top),
                    t.upper_ms.unwrap_or(top),
                )
            })
        })
        .collect();
    let max_x = r.probes.iter().map(|p| p.load).fold(1.0, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 320)).into_drawing_area();
        if root.fill(&WHITE).is_err() {
            return String::new();
        }
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(
                format!("{name}: percentile vs offered {}", r.axis.name()),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x, 0f64..top)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc(format!("offered {} ({})", r.axis.name(), r.unit))
            .y_desc(if first.target.contains(":job") {
                "ms (from the session's intended start)"
            } else {
                "ms (from the intended send)"
            })
            .draw();
        let blue = crate::report::plots::color(0);
        let _ = chart.draw_series(
            pts.iter()
                .map(|&(x, y, lo, hi)| ErrorBar::new_vertical(x, lo, y, hi, blue.filled(), 8)),
        );
        let _ = chart
            .draw_series(LineSeries::new(
                [(0.0, limit), (max_x, limit)],
                RED.stroke_width(2),
            ))
            .map(|s| {
                s.label("limit")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED))
            });
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

fn goodput_chart(r: &CapacityReport) -> String {
    let mut pts: Vec<(f64, f64)> = r
        .probes
        .iter()
        .filter_map(|p| p.goodput.map(|g| (p.load, g * 100.0)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let max_x = r.probes.iter().map(|p| p.load).fold(1.0, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, 280)).into_drawing_area();
        if root.fill(&WHITE).is_err() {
            return String::new();
        }
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(
                format!("Goodput vs offered {}", r.axis.name()),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x, 0f64..105f64)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc(format!("offered {} ({})", r.axis.name(), r.unit))
            .y_desc(format!(
                "% of {} within every limit",
                if r.workload == "agent" {
                    "jobs"
                } else {
                    "requests"
                }
            ))
            .draw();
        let c = crate::report::plots::color(1);
        let _ = chart.draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)));
        let _ = chart.draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 4, c.filled())));
        let _ = root.present();
    }
    svg
}

/// The HTML report.
pub fn html(r: &CapacityReport) -> String {
    let mut page = Page::new("agentbench capacity");
    page.push_html(&format!(
        "<p><strong>{}</strong></p>\n",
        crate::report::page::escape(&r.headline())
    ));
    page.note(&format!(
        "Each probe is {} load run (its own report under probes/); a {} ({}) passes when every SLO percentile's upper 95 % bound (batch means over 10 consecutive batches of its requests, half as many more sent first as warm-up) is within its limit, for the whole probe and for its later half alone, fails when a lower bound exceeds it{}, and is otherwise inconclusive (probed once more with what its data asked for, {}–{} times the {}). {} measured {} per probe: {}. {}",
        match r.axis {
            Axis::Rate => "an open-loop",
            Axis::Concurrency => "a closed-loop",
        },
        r.axis.name(),
        r.unit,
        match r.axis {
            Axis::Rate => " or the queue grew without bound (overloaded, stopped early)",
            Axis::Concurrency => " (a closed loop cannot overload: its work in flight is bounded by the concurrency)",
        },
        super::REPEAT_MIN, super::REPEAT_MAX, r.counted, r.requests_per_probe, r.counted, r.requests_why, meaning(r)
    ));
    if let Some(advice) = r.advice() {
        page.note(&advice);
    }
    page.section("curves", "Latency vs load");
    let n_targets = r.probes.first().map_or(0, |p| p.targets.len());
    for k in 0..n_targets {
        page.figure(
            &format!("target-{k}"),
            &latency_chart(r, k),
            "Per probe: the SLO percentile (from the intended send; failures count as infinitely slow) with its 95 % interval; the red line is the limit. An interval reaching the top is unbounded.",
        );
    }
    page.figure(
        "goodput",
        &goodput_chart(r),
        if r.workload == "agent" {
            "Fraction of measured jobs whose latency is within every job limit and whose every turn is within every per-turn limit (failed and unfinished jobs are misses)."
        } else {
            "Fraction of measured requests within every limit (failures are misses)."
        },
    );
    page.section("probes", "Probes");
    let mut t = Table::new(head(r).iter().map(|h| Cell::text(h)).collect());
    for p in &r.probes {
        let cells = row(r, p);
        t.row(vec![
            Cell::num(&cells[0]),
            Cell::num(&cells[1]),
            Cell::text(&cells[2]),
            Cell::text(&cells[3]),
            Cell::num(&cells[4]),
            Cell::num(&cells[5]),
            Cell::text(&cells[6]),
        ]);
    }
    page.table(&t);
    page.finish()
}
