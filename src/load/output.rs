//! Exports of a load run, all computed from its records: `summary.json`,
//! `summary.md`, `index.html` (time series and percentile plots, inline SVG),
//! `hdr/*.us.hdr` + `.ms.hgrm` (whole-run histograms, mergeable) and
//! `intervals.hlog` (HdrHistogram interval log, one histogram per second per
//! metric, tagged).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::analyse::{LoadAnalysis, Pcts};
use super::jobs::{CacheReuse, CacheSource, JobsSummary};
use crate::report::escape_html;
use crate::report::page::{Cell, Page, Table};
use crate::report::plots::{nines, nines_label};

/// Writing an output failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {why}")]
pub struct OutputError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub why: String,
}

/// The files [`write_outputs`] wrote.
#[derive(Debug, Clone)]
pub struct OutputPaths {
    /// summary.json.
    pub summary_json: PathBuf,
    /// summary.md.
    pub summary_md: PathBuf,
    /// index.html.
    pub index_html: PathBuf,
    /// intervals.hlog.
    pub interval_log: PathBuf,
    /// hdr/ files.
    pub histograms: Vec<PathBuf>,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    std::fs::write(path, bytes).map_err(|e| OutputError {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

/// Writes every export of `a` into `dir` (which exists).
pub fn write_outputs(a: &LoadAnalysis, dir: &Path) -> Result<OutputPaths, OutputError> {
    let summary_json = dir.join("summary.json");
    let mut json = serde_json::json!({
        "model": a.header.model,
        "backend": a.header.backend,
        "plan": a.header.plan,
        "summary": a.summary,
    });
    if !a.header.plan.shards.is_empty() {
        // A merged run (`merge-runs`): the per-shard table and its warnings.
        json["shards"] = serde_json::json!(a.header.plan.shards);
        json["warnings"] = serde_json::json!(shard_warnings(a));
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| OutputError {
        path: summary_json.clone(),
        why: e.to_string(),
    })?;
    write(&summary_json, text.as_bytes())?;
    let summary_md = dir.join("summary.md");
    write(&summary_md, markdown(a).as_bytes())?;
    let hdr_dir = dir.join("hdr");
    std::fs::create_dir_all(&hdr_dir).map_err(|e| OutputError {
        path: hdr_dir.clone(),
        why: e.to_string(),
    })?;
    let h = &a.histograms;
    let mut histograms = Vec::new();
    for (name, hist) in [
        ("ttft", &h.ttft),
        ("ttft_service", &h.ttft_service),
        ("e2e", &h.e2e),
        ("e2e_service", &h.e2e_service),
        ("lag", &h.lag),
    ] {
        let v2 = hdr_dir.join(format!("load-{name}.us.hdr"));
        let hgrm = hdr_dir.join(format!("load-{name}.ms.hgrm"));
        let fail = |p: &Path| {
            let p = p.to_path_buf();
            move |e: crate::metrics::hdr::HdrError| OutputError {
                path: p,
                why: e.to_string(),
            }
        };
        crate::report::hdr_files::write_hdr_file(hist, &v2).map_err(fail(&v2))?;
        crate::report::hdr_files::write_hgrm_file(hist, &hgrm).map_err(fail(&hgrm))?;
        histograms.push(v2);
        histograms.push(hgrm);
    }
    let interval_log = dir.join("intervals.hlog");
    write(&interval_log, &interval_log_bytes(a))?;
    let index_html = dir.join("index.html");
    write(&index_html, html(a).as_bytes())?;
    Ok(OutputPaths {
        summary_json,
        summary_md,
        index_html,
        interval_log,
        histograms,
    })
}

/// The interval log: per second, E2E and TTFT from the intended send (µs), tagged
/// `e2e` and `ttft`, timestamps relative to the run's origin (`BaseTime`).
pub fn interval_log_bytes(a: &LoadAnalysis) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let origin = std::time::UNIX_EPOCH + Duration::from_nanos(a.header.origin_unix_ns);
    {
        let Ok(mut log) = IntervalLogWriterBuilder::new()
            .add_comment("agentbench load: latency from the intended send, microseconds")
            .with_start_time(origin)
            .with_base_time(origin)
            .begin_log_with(&mut buf, &mut ser)
        else {
            return Vec::new();
        };
        let h = &a.histograms;
        for (i, (e2e, ttft)) in h.e2e_per_second.iter().zip(&h.ttft_per_second).enumerate() {
            let start = Duration::from_secs(i as u64);
            for (tag, hist) in [("e2e", e2e), ("ttft", ttft)] {
                if hist.is_empty() {
                    continue;
                }
                let _ = log.write_histogram(hist, start, Duration::from_secs(1), Tag::new(tag));
            }
        }
    }
    buf
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "∞".to_string(), fmt)
}

fn pct_row(name: &str, p: &Pcts) -> [String; 8] {
    [
        name.to_string(),
        p.n.to_string(),
        fmt(p.p50),
        fmt(p.p90),
        fmt(p.p99),
        fmt(p.p999),
        fmt(p.max),
        fmt(p.mean),
    ]
}

fn latency_rows(a: &LoadAnalysis) -> Vec<[String; 8]> {
    let s = &a.summary;
    let mut rows = vec![
        pct_row("TTFT from intended send", &s.ttft.from_intended),
        pct_row("TTFT service (from actual send)", &s.ttft.service),
        pct_row("E2E from intended send", &s.e2e.from_intended),
        pct_row("E2E service (from actual send)", &s.e2e.service),
        pct_row("TPOT", &s.tpot),
        pct_row("scheduler lag", &s.lag),
    ];
    if let Some(w) = &s.slot_wait {
        rows.push(pct_row("wait for a slot", w));
    }
    rows
}

const LATENCY_HEAD: [&str; 8] = ["ms", "n", "p50", "p90", "p99", "p99.9", "max", "mean"];

fn verdict_line(a: &LoadAnalysis) -> String {
    let c = &a.summary.client;
    let writer = c
        .writer
        .map_or_else(String::new, |w| format!("; {}", writer_words(&w)));
    if c.client_limited {
        format!(
            "CLIENT-LIMITED: {} — these numbers describe agentbench, not the server{writer}",
            c.reasons.join("; ")
        )
    } else {
        let cpu = c.cpu_busy.map_or_else(String::new, |b| {
            format!(", measuring thread on CPU {:.0} %", b * 100.0)
        });
        let rate = c.rate_ratio.map_or_else(String::new, |r| {
            format!(", send rate {:.1} % of target", r * 100.0)
        });
        format!(
            "client kept up (lag p99 {:.3} ms ≤ {:.3} ms{rate}{cpu}){writer}",
            c.lag_p99_ms, c.max_lag_ms
        )
    }
}

/// The record writer's account in words: its class, its promotions, its CPU a
/// record, its peak backlog.
fn writer_words(w: &super::record::WriterAccount) -> String {
    let class = match (w.idle_class, w.promotions) {
        (false, _) => "normal class".to_string(),
        (true, 0) => "idle class".to_string(),
        (true, n) => format!("idle class, promoted {n}×"),
    };
    let cpu = if w.records > 0 {
        format!(
            ", {:.1} µs CPU a record",
            w.cpu_ns as f64 / 1e3 / w.records as f64
        )
    } else {
        String::new()
    };
    format!(
        "record writer: {class}{cpu}, backlog peak {:.1} MB",
        w.peak_backlog_bytes as f64 / 1e6
    )
}

fn plan_line(a: &LoadAnalysis) -> String {
    let p = &a.header.plan;
    let mut parts = vec![format!("mode {}", p.mode)];
    if let Some(c) = p.concurrency {
        parts.push(format!("concurrency {c}"));
    }
    if p.think_ns > 0 {
        parts.push(format!("think {} ms", p.think_ns as f64 / 1e6));
    }
    if let Some(r) = p.rate {
        parts.push(format!("rate {r}/s {}", p.arrival.as_deref().unwrap_or("")));
    }
    if let Some(m) = p.max_concurrency {
        parts.push(format!("max concurrency {m}"));
    }
    if let Some(k) = p.requests {
        parts.push(format!("{k} requests"));
    }
    if let Some(d) = p.duration_ns {
        parts.push(format!("{} s", d as f64 / 1e9));
    }
    if p.warmup_ns > 0 {
        parts.push(format!("warm-up {} s", p.warmup_ns as f64 / 1e9));
    }
    if p.warmup_first > 0 {
        let what = if p.agent.is_some() {
            "sessions"
        } else {
            "requests"
        };
        parts.push(format!("warm-up the first {} {what}", p.warmup_first));
    }
    parts.push(format!("seed {}", p.seed));
    if let Some(s) = &p.shard {
        parts.push(format!(
            "shard {}/{} ({}, offset {:+.3} ms)",
            s.index,
            s.count,
            s.source,
            s.offset_ns as f64 / 1e6
        ));
    }
    if !p.shards.is_empty() {
        parts.push(format!("merged from {} shards", p.shards.len()));
    }
    parts.join(", ")
}

/// A merged run's warnings: clock skew, named by shard.
pub fn shard_warnings(a: &LoadAnalysis) -> Vec<String> {
    a.header
        .plan
        .shards
        .iter()
        .filter_map(|s| s.skew_warning.clone())
        .collect()
}

const SHARD_HEAD: [&str; 10] = [
    "shard",
    "host",
    "offset ms",
    "requests",
    "failed",
    "target /s",
    "sent /s",
    "rate ratio",
    "lag p99 ms",
    "client-limited",
];

fn shard_rows(a: &LoadAnalysis) -> Vec<[String; 10]> {
    a.header
        .plan
        .shards
        .iter()
        .map(|s| {
            [
                format!("{}/{}", s.index, s.count),
                s.host.clone().unwrap_or_else(|| "?".into()),
                format!("{:+.3}", s.offset_ns as f64 / 1e6),
                match (s.sessions, s.jobs_completed) {
                    (Some(n), Some(ok)) => {
                        format!("{} ({n} sessions, {ok} jobs completed)", s.requests)
                    }
                    _ => s.requests.to_string(),
                },
                s.failed.to_string(),
                s.target_rate.map_or_else(|| "–".into(), fmt),
                fmt(s.send_rate),
                s.rate_ratio
                    .map_or_else(|| "–".into(), |r| format!("{:.3}", r)),
                fmt(s.lag_p99_ms),
                if s.client_limited {
                    format!("YES: {}", s.reasons.join("; "))
                } else {
                    "no".into()
                },
            ]
        })
        .collect()
}

/// A merged run's per-shard table in Markdown (empty for a single run).
fn shard_markdown(a: &LoadAnalysis) -> String {
    let mut out = String::new();
    if a.header.plan.shards.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "
## Shards

Merged from {} shards (`agentbench merge-runs`): the figures above are those of the union of their records; one client-limited shard marks the whole run.
",
        a.header.plan.shards.len()
    );
    for w in shard_warnings(a) {
        let _ = writeln!(
            out,
            "**{w}**
"
        );
    }
    let _ = writeln!(out, "| {} |", SHARD_HEAD.join(" | "));
    let _ = writeln!(out, "|{}|", ["---"; 10].join("|"));
    for row in shard_rows(a) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// The Markdown summary.
pub fn markdown(a: &LoadAnalysis) -> String {
    let s = &a.summary;
    let h = &a.header;
    let mut out = String::new();
    let _ = writeln!(out, "# agentbench load: {}\n", h.model);
    let _ = writeln!(
        out,
        "{} ({}{}), {}\n",
        h.backend.url,
        h.backend.protocol,
        h.backend
            .stub
            .as_deref()
            .map_or_else(String::new, |p| format!(", embedded stub {p}")),
        plan_line(a)
    );
    let _ = writeln!(out, "**{}**\n", verdict_line(a));
    if let Some(why) = &s.stopped_early {
        let _ = writeln!(out, "Note: {why}\n");
    }
    let _ = writeln!(
        out,
        "{} measured requests ({} warm-up excluded): {} ok, {} failed (error rate {:.2} %) in {:.2} s; sent {:.2}/s, completed {:.2}/s, {:.1} output tok/s\n",
        s.measured,
        s.warmup,
        s.ok,
        s.failed,
        s.error_rate * 100.0,
        s.window_s,
        s.send_rate,
        s.ok_rate,
        s.output_tokens_per_s
    );
    if !s.errors.is_empty() {
        let e: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "Errors: {}\n", e.join(", "));
    }
    if s.resent > 0 {
        let _ = writeln!(
            out,
            "Resent: {} requests went out a second time after the server closed the connection before answering (latency counted from the first send)\n",
            s.resent
        );
    }
    if let Some(g) = &s.goodput {
        let _ = writeln!(
            out,
            "Goodput ({}): {} of {} requests met every bound ({:.1} %), {:.2}/s\n",
            g.slo,
            g.met,
            s.measured,
            g.fraction * 100.0,
            g.rate_per_s
        );
    }
    let _ = writeln!(out, "| {} |", LATENCY_HEAD.join(" | "));
    let _ = writeln!(out, "|{}|", ["---"; 8].join("|"));
    for row in latency_rows(a) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    let _ = writeln!(
        out,
        "\nWith failures as infinite latency: TTFT p50 {} p90 {} p99 {}; E2E p50 {} p90 {} p99 {} (ms; ∞ = the percentile falls among failures)",
        opt(s.ttft_failures_infinite.p50),
        opt(s.ttft_failures_infinite.p90),
        opt(s.ttft_failures_infinite.p99),
        opt(s.e2e_failures_infinite.p50),
        opt(s.e2e_failures_infinite.p90),
        opt(s.e2e_failures_infinite.p99),
    );
    out.push_str(&sessions_markdown(a));
    out.push_str(&shard_markdown(a));
    out
}

const W: u32 = 860;
const H: u32 = 300;

type Series = (String, Vec<(f64, f64)>);

fn line_chart(title: &str, y_desc: &str, series: &[Series]) -> String {
    xy_chart(title, XAxis::Seconds, y_desc, series)
}

/// What a line chart's x axis counts.
#[derive(Clone, Copy, PartialEq)]
enum XAxis {
    /// Seconds from the run's start.
    Seconds,
    /// A session's turn index (whole numbers only).
    TurnIndex,
}

fn xy_chart(title: &str, x: XAxis, y_desc: &str, series: &[Series]) -> String {
    let mut svg = String::new();
    let pts = series.iter().flat_map(|(_, p)| p.iter());
    let max_x = pts.clone().map(|p| p.0).fold(1.0f64, f64::max);
    let max_y = pts.map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.1;
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        if root.fill(&WHITE).is_err() {
            return String::new();
        }
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x, 0f64..max_y)
        else {
            return String::new();
        };
        let whole = |v: &f64| format!("{v:.0}");
        let mut mesh = chart.configure_mesh();
        mesh.y_desc(y_desc);
        match x {
            XAxis::Seconds => mesh.x_desc("seconds from start"),
            XAxis::TurnIndex => mesh
                .x_desc("turn index")
                .x_labels((max_x as usize + 1).min(20))
                .x_label_formatter(&whole),
        };
        let _ = mesh.draw();
        for (i, (name, p)) in series.iter().enumerate() {
            let color = crate::report::plots::color(i);
            if let Ok(s) =
                chart.draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
            {
                s.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            }
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

fn quantile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    h.iter_quantiles(5)
        .map(|v| (v.quantile_iterated_to(), v.value_iterated_to() as f64 / 1e3))
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, v)| (nines(q), v))
        .collect()
}

fn percentile_chart(title: &str, series: &[(&str, &Histogram<u64>)]) -> String {
    let data: Vec<Series> = series
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(n, h)| (n.to_string(), quantile_points(h)))
        .collect();
    let mut svg = String::new();
    let max_x = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(2.0f64, f64::max)
        .ceil();
    let max_y = data
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.1;
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        if root.fill(&WHITE).is_err() {
            return String::new();
        }
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x, 0f64..max_y)
        else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1−p))")
            .y_desc("ms")
            .x_label_formatter(&|x| nines_label(*x))
            .draw();
        for (i, (name, p)) in data.iter().enumerate() {
            let color = crate::report::plots::color(i);
            if let Ok(s) =
                chart.draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
            {
                s.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
            }
        }
        let _ = chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

fn per_second(
    a: &LoadAnalysis,
    f: impl Fn(&super::analyse::SecondRow) -> Option<f64>,
) -> Vec<(f64, f64)> {
    a.summary
        .seconds
        .iter()
        .filter_map(|r| f(r).map(|v| (r.t as f64 + 0.5, v)))
        .collect()
}

/// The HTML report, on the shared page shell ([`Page`]).
pub fn html(a: &LoadAnalysis) -> String {
    let s = &a.summary;
    let h = &a.header;
    let mut page = Page::new(&format!("agentbench load: {}", h.model));
    page.lead(&plan_line(a));
    let verdict = escape_html(&verdict_line(a));
    if s.client.client_limited {
        page.push_html(&format!(
            "<p class=\"err\"><strong>{verdict}</strong></p>\n"
        ));
    } else {
        page.push_html(&format!("<p><strong>{verdict}</strong></p>\n"));
    }
    if let Some(why) = &s.stopped_early {
        page.push_html(&format!("<p class=\"err\">{}</p>\n", escape_html(why)));
    }
    page.provenance(&[
        (
            "backend",
            format!(
                "{} ({}{})",
                h.backend.url,
                h.backend.protocol,
                h.backend
                    .stub
                    .as_deref()
                    .map_or_else(String::new, |p| format!(", embedded stub {p}"))
            ),
        ),
        ("model", h.model.clone()),
        (
            "harness",
            format!(
                "{} {} ({})",
                h.harness.version,
                h.harness.git_commit.as_deref().unwrap_or("unknown commit"),
                h.harness.profile
            ),
        ),
        (
            "host",
            format!(
                "{}, {} cores",
                h.host.cpu_model.as_deref().unwrap_or("unknown CPU"),
                h.host.cores
            ),
        ),
        ("CPU idle", h.host.cpu_idle_text()),
    ]);
    page.section("figures", "Requests and goodput");
    for line in markdown(a)
        .lines()
        .skip(4)
        .take_while(|l| !l.starts_with('|'))
    {
        if !line.trim().is_empty() && !line.starts_with("**") && !line.starts_with("Note:") {
            page.paragraph(line);
        }
    }
    page.section(
        "latency",
        "Latency: from the intended send and from the actual send",
    );
    let mut t = Table::new(LATENCY_HEAD.iter().map(|c| Cell::text(c)).collect());
    for row in latency_rows(a) {
        let mut cells = vec![Cell::text(&row[0])];
        cells.extend(row[1..].iter().map(|c| Cell::num(c)));
        t.row(cells);
    }
    page.table(&t);
    page.note(&format!(
        "With failures as infinite latency: TTFT p50 {} p90 {} p99 {}; E2E p50 {} p90 {} p99 {} (ms; ∞ = the percentile falls among failures).",
        opt(s.ttft_failures_infinite.p50),
        opt(s.ttft_failures_infinite.p90),
        opt(s.ttft_failures_infinite.p99),
        opt(s.e2e_failures_infinite.p50),
        opt(s.e2e_failures_infinite.p90),
        opt(s.e2e_failures_infinite.p99),
    ));
    let hs = &a.histograms;
    page.figure(
        "e2e-percentiles",
        &percentile_chart(
            "E2E percentiles: from the intended send vs service time",
            &[("from intended send", &hs.e2e), ("service (from actual send)", &hs.e2e_service)],
        ),
        "The gap between the curves is time spent waiting before the request went out (a concurrency slot, or a late client).",
    );
    page.figure(
        "ttft-percentiles",
        &percentile_chart(
            "TTFT percentiles: from the intended send vs service time",
            &[("from intended send", &hs.ttft), ("service (from actual send)", &hs.ttft_service)],
        ),
        "Completed requests only; failures are counted in the error rate and in the ∞ percentiles above.",
    );
    if let (Some(jobs), hist) = (&s.sessions, &hs.jobs) {
        sessions_html(&mut page, jobs, hist.as_ref());
    }
    if !h.plan.shards.is_empty() {
        page.section("shards", "Shards");
        page.paragraph(&format!(
            "Merged from {} shards (agentbench merge-runs): every figure on this page is computed from the union of their records; one client-limited shard marks the whole run.",
            h.plan.shards.len()
        ));
        for w in shard_warnings(a) {
            page.push_html(&format!(
                "<p class=\"err\"><strong>{}</strong></p>\n",
                escape_html(&w)
            ));
        }
        let mut t = Table::new(SHARD_HEAD.iter().map(|c| Cell::text(c)).collect());
        for row in shard_rows(a) {
            let mut cells = vec![Cell::text(&row[0]), Cell::text(&row[1])];
            cells.extend(row[2..9].iter().map(|c| Cell::num(c)));
            cells.push(Cell::text(&row[9]));
            t.row(cells);
        }
        page.table(&t);
    }
    page.section("time", "Over time");
    let mut rate_series = Vec::new();
    if s.target_rate.is_some() {
        rate_series.push((
            "target (intended sends)".to_string(),
            per_second(a, |r| Some(r.intended as f64)),
        ));
    }
    rate_series.push(("sent".to_string(), per_second(a, |r| Some(r.sent as f64))));
    rate_series.push((
        "finished".to_string(),
        per_second(a, |r| Some(r.done as f64)),
    ));
    rate_series.push((
        "failed".to_string(),
        per_second(a, |r| Some(r.failed as f64)),
    ));
    page.figure(
        "rate",
        &line_chart("Requests per second", "requests / s", &rate_series),
        "Target (the schedule's intended sends) against what was sent and what finished, per second.",
    );
    page.figure(
        "in-flight",
        &line_chart(
            "In flight",
            "requests",
            &[(
                "in flight at the end of each second".into(),
                per_second(a, |r| Some(r.in_flight as f64)),
            )],
        ),
        "Requests sent and not yet finished.",
    );
    page.figure(
        "latency-over-time",
        &line_chart(
            "Latency from the intended send, per second",
            "ms",
            &[
                ("TTFT p50".into(), per_second(a, |r| r.ttft_p50)),
                ("TTFT p99".into(), per_second(a, |r| r.ttft_p99)),
                ("E2E p50".into(), per_second(a, |r| r.e2e_p50)),
                ("E2E p99".into(), per_second(a, |r| r.e2e_p99)),
            ],
        ),
        "By the second in which each request finished.",
    );
    page.figure(
        "lag",
        &line_chart(
            "Scheduler lag p99, per second",
            "ms",
            &[("lag p99".into(), per_second(a, |r| r.lag_p99))],
        ),
        "How late the harness itself sent requests (waits for a concurrency slot excluded), by the second of sending.",
    );
    page.finish()
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |f| format!("{:.1} %", f * 100.0))
}

fn cache_source(c: &CacheReuse) -> &'static str {
    match c.source {
        CacheSource::LlamaCacheN => "llama.cpp cache_n",
        CacheSource::OllamaEstimate => "Ollama estimate",
        CacheSource::None => "not reported",
    }
}

/// The jobs' counts, rates and goodput in sentences (Markdown and HTML alike).
fn sessions_lines(j: &JobsSummary) -> Vec<String> {
    let mut lines = vec![format!(
        "{} jobs measured ({} warm-up sessions excluded): {} completed, {} failed (job error rate {:.2} %), {} of them unfinished; {} completed jobs/hour over {:.2} s",
        j.jobs,
        j.warmup_sessions,
        j.completed,
        j.failed,
        j.error_rate * 100.0,
        j.unfinished,
        fmt(j.jobs_per_hour),
        j.window_s
    )];
    if !j.failed_by_reason.is_empty() {
        let e: Vec<String> = j
            .failed_by_reason
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        lines.push(format!("Failed jobs by reason: {}", e.join(", ")));
    }
    if let Some(g) = &j.goodput {
        lines.push(format!(
            "Job goodput ({}): {} of {} jobs had every turn meet every bound ({:.1} %), {} jobs/hour",
            g.slo,
            g.met,
            j.jobs,
            g.fraction * 100.0,
            fmt(g.per_hour)
        ));
    }
    let c = &j.cache_total;
    lines.push(format!(
        "Prefix-cache reuse over all turns: measured {} ({}), best achievable {}, left on the table {}",
        pct(c.measured),
        cache_source(c),
        pct(c.best),
        pct(c.left_on_table)
    ));
    lines
}

const JOB_HEAD: [&str; 6] = ["job latency, ms", "n", "p50", "p90", "p99", "max"];

fn job_latency_rows(j: &JobsSummary) -> [[String; 6]; 2] {
    let l = &j.latency;
    let f = &j.latency_failures_infinite;
    [
        [
            "completed jobs (intended start → last turn's end)".into(),
            l.n.to_string(),
            fmt(l.p50),
            fmt(l.p90),
            fmt(l.p99),
            fmt(l.max),
        ],
        [
            "failed jobs as ∞".into(),
            j.jobs.to_string(),
            opt(f.p50),
            opt(f.p90),
            opt(f.p99),
            if j.failed > 0 {
                "∞".into()
            } else {
                fmt(l.max)
            },
        ],
    ]
}

const TURN_HEAD: [&str; 14] = [
    "turn",
    "requests",
    "failed",
    "error rate",
    "TTFT p50",
    "TTFT p90",
    "TTFT p99",
    "E2E p50",
    "E2E p90",
    "E2E p99",
    "think mean",
    "cache measured",
    "cache best",
    "cache source",
];

fn turn_rows(j: &JobsSummary) -> Vec<[String; 14]> {
    j.turns
        .iter()
        .map(|t| {
            let ms = |p: &Pcts, v: f64| if p.n > 0 { fmt(v) } else { "–".into() };
            [
                if t.and_later {
                    format!("{}+", t.turn)
                } else {
                    t.turn.to_string()
                },
                t.requests.to_string(),
                t.failed.to_string(),
                format!("{:.2} %", t.error_rate * 100.0),
                ms(&t.ttft, t.ttft.p50),
                ms(&t.ttft, t.ttft.p90),
                ms(&t.ttft, t.ttft.p99),
                ms(&t.e2e, t.e2e.p50),
                ms(&t.e2e, t.e2e.p90),
                ms(&t.e2e, t.e2e.p99),
                t.think_mean_ms.map_or_else(|| "–".into(), fmt),
                pct(t.cache.measured),
                pct(t.cache.best),
                cache_source(&t.cache).to_string(),
            ]
        })
        .collect()
}

fn md_table<const N: usize>(out: &mut String, head: &[&str; N], rows: &[[String; N]]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}|", vec!["---"; N].join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

/// The "Sessions (jobs)" section in Markdown (empty for a request-only run).
fn sessions_markdown(a: &LoadAnalysis) -> String {
    let mut out = String::new();
    let Some(j) = &a.summary.sessions else {
        return out;
    };
    let _ = writeln!(out, "\n## Sessions (jobs)\n");
    for line in sessions_lines(j) {
        let _ = writeln!(out, "{line}\n");
    }
    md_table(&mut out, &JOB_HEAD, &job_latency_rows(j));
    let _ = writeln!(
        out,
        "\nPer turn index (latencies in ms from each turn's intended send; cache reuse measured by the server vs the best a prefix cache could do with these prompts):\n"
    );
    md_table(&mut out, &TURN_HEAD, &turn_rows(j));
    out
}

fn table_of<const N: usize>(head: &[&str; N], rows: &[[String; N]], text_cols: &[usize]) -> Table {
    let mut t = Table::new(head.iter().map(|c| Cell::text(c)).collect());
    for row in rows {
        t.row(
            row.iter()
                .enumerate()
                .map(|(i, c)| {
                    if text_cols.contains(&i) {
                        Cell::text(c)
                    } else {
                        Cell::num(c)
                    }
                })
                .collect(),
        );
    }
    t
}

fn turn_series(
    j: &JobsSummary,
    f: impl Fn(&super::jobs::TurnRow) -> Option<f64>,
) -> Vec<(f64, f64)> {
    j.turns
        .iter()
        .filter_map(|t| f(t).map(|v| (f64::from(t.turn), v)))
        .collect()
}

/// The sessions section of the HTML report: figures, tables and four plots.
fn sessions_html(page: &mut Page, j: &JobsSummary, hist: Option<&Histogram<u64>>) {
    page.section("sessions", "Sessions (jobs)");
    for line in sessions_lines(j) {
        page.paragraph(&line);
    }
    page.table(&table_of(&JOB_HEAD, &job_latency_rows(j), &[0]));
    if let Some(h) = hist {
        page.figure(
            "job-latency",
            &percentile_chart("Job latency percentiles (completed jobs)", &[("job latency", h)]),
            "From each session's intended start to its last turn's end; failed jobs are counted in the ∞ row above.",
        );
    }
    let mid = j.bucket_s as f64 / 2.0;
    let bucket = |f: fn(&super::jobs::JobsBucket) -> u64| -> Vec<(f64, f64)> {
        j.over_time
            .iter()
            .map(|b| (b.t as f64 + mid, f(b) as f64))
            .collect()
    };
    page.figure(
        "jobs-over-time",
        &line_chart(
            &format!("Jobs finished per {} s", j.bucket_s),
            "jobs per bucket",
            &[
                ("completed".into(), bucket(|b| b.completed)),
                ("failed".into(), bucket(|b| b.failed)),
            ],
        ),
        "By the bucket in which each job's last turn was seen.",
    );
    page.subsection("Per turn index");
    page.table(&table_of(&TURN_HEAD, &turn_rows(j), &[0, 13]));
    page.figure(
        "turn-ttft",
        &xy_chart(
            "TTFT from the intended send by turn index",
            XAxis::TurnIndex,
            "ms",
            &[
                ("TTFT p50".into(), turn_series(j, |t| (t.ttft.n > 0).then_some(t.ttft.p50))),
                ("TTFT p99".into(), turn_series(j, |t| (t.ttft.n > 0).then_some(t.ttft.p99))),
            ],
        ),
        "Completed turns only; a growing context shows as TTFT rising with the turn index unless the server reuses its prefix cache.",
    );
    page.figure(
        "turn-cache",
        &xy_chart(
            "Prefix-cache reuse by turn index: measured vs best achievable",
            XAxis::TurnIndex,
            "% of prompt",
            &[
                (
                    "measured".into(),
                    turn_series(j, |t| t.cache.measured.map(|v| v * 100.0)),
                ),
                (
                    "best achievable".into(),
                    turn_series(j, |t| t.cache.best.map(|v| v * 100.0)),
                ),
            ],
        ),
        "Measured: llama.cpp's cache_n / (cache_n + prompt_n), or for Ollama 1 − prompt_eval_count / (prompt bytes / 4) (approximate); best: shared prefix bytes / prompt bytes, from the prompts. The gap is reuse left on the table.",
    );
}
