//! SVG charts drawn with plotters' `SVGBackend::with_string`: no fonts, no files.
//!
//! plotters escapes `& < > " '` in every SVG text node and attribute it writes
//! (`plotters-svg`'s `escape_and_push`), so labels are passed unescaped here and
//! the report tests check that a `<script>` label never appears raw.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;

use super::data::{GroupData, Interval};
use crate::metrics::hdr::{LatencyMetric, HGRM_SCALE};
use crate::record::Stage;

/// A plotting failure, as text.
pub type PlotResult = Result<String, String>;

const FONT: &str = "sans-serif";
const WIDTH: u32 = 860;

/// Colour-blind-friendly categorical palette (Tableau 10).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(225, 87, 89),
    RGBColor(118, 183, 178),
    RGBColor(89, 161, 79),
    RGBColor(237, 201, 72),
    RGBColor(176, 122, 161),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
];

/// The colour of series `i`.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A linear f64 axis whose ticks are exactly `keys` (plotters' `WithKeyPoints`
/// over f64 cannot take label formatters in 0.3.7).
#[derive(Debug, Clone)]
pub(crate) struct Keyed {
    range: Range<f64>,
    keys: Vec<f64>,
}

/// A [`Keyed`] axis over `range` with ticks at `keys`.
pub(crate) fn keyed(range: Range<f64>, keys: Vec<f64>) -> Keyed {
    Keyed { range, keys }
}

impl Ranged for Keyed {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        let frac = if span == 0.0 {
            0.0
        } else {
            (v - self.range.start) / span
        };
        limit.0 + ((limit.1 - limit.0) as f64 * frac + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.keys.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// About ten integer ticks from 0 to `max`.
fn int_keys(max: f64) -> Vec<f64> {
    let step = (max / 10.0).ceil().max(1.0);
    (0..=(max / step) as usize)
        .map(|i| i as f64 * step)
        .collect()
}

/// A plotters error as text.
pub(crate) fn pe<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Legend text for a group: its short name and a shortened label.
fn legend(g: &GroupData) -> String {
    let label = g.key.label();
    let short: String = label.chars().take(60).collect();
    let ell = if label.chars().count() > 60 {
        "…"
    } else {
        ""
    };
    format!("{}: {short}{ell}", g.short)
}

/// `-log10(1 - q)`: 0 at p0, 1 at p90, 2 at p99.
pub fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// Axis label of a "nines" position: 0 → `0%`, log10(2) → `50%`, 1 → `90%`,
/// 2 → `99%`, 3 → `99.9%`, ...
pub fn nines_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let digits = (x - 2.0).ceil().max(0.0) as usize;
    format!("{p:.digits$}%")
}

/// A tick label for a value: fewer decimals as it grows, `0` for zero.
pub(crate) fn fmt_ms(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else if v >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.0e}")
    }
}

fn short_name(m: LatencyMetric) -> &'static str {
    m.def().name
}

/// Percentile spectrum of `metric` per group, from the HDR histograms: x is the
/// "nines" axis, y is milliseconds on a log scale (0 drawn at the axis floor).
pub fn percentile_plot(metric: LatencyMetric, groups: &[GroupData]) -> PlotResult {
    let series: Vec<(usize, Vec<(f64, f64)>)> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, g)| {
            let h = g.histogram(metric);
            if h.is_empty() {
                return None;
            }
            let pts: Vec<(f64, f64)> = h
                .iter_quantiles(5)
                .map(|v| {
                    (
                        v.quantile_iterated_to(),
                        v.value_iterated_to() as f64 / HGRM_SCALE,
                    )
                })
                .filter(|(q, _)| *q < 1.0)
                .map(|(q, v)| (nines(q), v))
                .collect();
            Some((i, pts))
        })
        .collect();
    let max_x = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(2.0f64, f64::max)
        .ceil();
    let positive = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .filter(|y| *y > 0.0);
    let (mut lo, mut hi) = positive.fold((f64::MAX, 0.0f64), |(l, h), y| (l.min(y), h.max(y)));
    if hi <= 0.0 {
        (lo, hi) = (0.001, 1.0);
    }
    let floor = (lo / 2.0).max(0.001);
    let top = (hi * 2.0).max(floor * 10.0);
    let mut keys = vec![0.0, 2f64.log10()];
    keys.extend((1..=max_x as usize).map(|k| k as f64));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{} percentiles", metric.title()), (FONT, 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(keyed(0f64..max_x, keys), (floor..top).log_scale())
            .map_err(pe)?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1−p))")
            .y_desc(format!("{} (ms, log scale)", short_name(metric)))
            .x_label_formatter(&|x| nines_label(*x))
            .y_label_formatter(&|y| fmt_ms(*y))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(pe)?;
        if series.is_empty() {
            chart
                .draw_series(std::iter::once(Text::new(
                    "no samples",
                    (0.1, floor * 2.0),
                    (FONT, 14),
                )))
                .map_err(pe)?;
        }
        for (i, pts) in series {
            let c = color(i);
            let pts: Vec<_> = pts.into_iter().map(|(x, y)| (x, y.max(floor))).collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(pe)?
                .label(legend(&groups[i]))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .draw()
            .map_err(pe)?;
        root.present().map_err(pe)?;
    }
    Ok(svg)
}

/// Horizontal stacked bars: one row per label, one colour per part.
fn stacked_bars(
    title: &str,
    x_desc: &str,
    rows: &[(String, Vec<f64>)],
    parts: &[&str],
    palette_offset: usize,
) -> PlotResult {
    let n = rows.len().max(1);
    let total = rows
        .iter()
        .map(|(_, v)| v.iter().sum::<f64>())
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let height = 110 + 34 * n as u32 + 22 * parts.len() as u32;
    let keys: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    let names: Vec<String> = rows.iter().map(|(l, _)| l.clone()).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(130)
            .build_cartesian_2d(0f64..total * 1.45, keyed(0f64..n as f64, keys))
            .map_err(pe)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_label_formatter(&|y| {
                let i = (n as f64 - y).floor() as usize;
                names.get(i).cloned().unwrap_or_default()
            })
            .x_label_formatter(&|x| fmt_ms(*x))
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(pe)?;
        for (p, part) in parts.iter().enumerate() {
            let c = color(p + palette_offset);
            let bars: Vec<_> = rows
                .iter()
                .enumerate()
                .map(|(r, (_, v))| {
                    let x0: f64 = v[..p].iter().sum();
                    let x1 = x0 + v[p];
                    let y = (n - 1 - r) as f64;
                    Rectangle::new([(x0, y + 0.2), (x1, y + 0.8)], c.filled())
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(pe)?
                .label(*part)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .draw()
            .map_err(pe)?;
        root.present().map_err(pe)?;
    }
    Ok(svg)
}

/// Stacked median breakdown of each stage's calls, one bar per stage and group.
pub fn stage_phases_plot(groups: &[GroupData]) -> PlotResult {
    let mut rows = Vec::new();
    let mut parts: Vec<&str> = Vec::new();
    for stage in Stage::ALL {
        for g in groups {
            if let Some((_, b)) = g.stages.iter().find(|(s, _)| *s == stage) {
                let p = b.parts();
                parts = p.iter().map(|(l, _)| *l).collect();
                rows.push((
                    format!("{} · {}", stage.name(), g.short),
                    p.iter().map(|(_, v)| *v).collect(),
                ));
            }
        }
    }
    if parts.is_empty() {
        parts = super::data::StageBreakdown::default()
            .parts()
            .iter()
            .map(|(l, _)| *l)
            .collect();
    }
    stacked_bars(
        "Call time by part (medians per stage and group)",
        "milliseconds",
        &rows,
        &parts,
        0,
    )
}

/// Stacked median breakdown of whole workflow runs per group.
pub fn workflow_plot(groups: &[GroupData]) -> PlotResult {
    let parts: Vec<&str> = super::data::WorkflowBreakdown::default()
        .parts()
        .iter()
        .map(|(l, _)| *l)
        .collect();
    let rows: Vec<(String, Vec<f64>)> = groups
        .iter()
        .filter_map(|g| {
            let w = g.workflow?;
            Some((
                format!("workflow · {}", g.short),
                w.parts().iter().map(|(_, v)| *v).collect(),
            ))
        })
        .collect();
    stacked_bars(
        "Workflow time: harness vs model (medians of complete runs)",
        "milliseconds",
        &rows,
        &parts,
        4,
    )
}

/// Median chunk gap against chunk position, one line per group.
pub fn itl_position_plot(groups: &[GroupData]) -> PlotResult {
    let max_x = groups
        .iter()
        .flat_map(|g| g.itl_by_position.iter().map(|(p, _, _)| *p))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_y = groups
        .iter()
        .flat_map(|g| g.itl_by_position.iter().map(|(_, v, _)| *v))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Inter-chunk latency by chunk position (median across calls)",
                (FONT, 18),
            )
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(64)
            .build_cartesian_2d(keyed(0f64..max_x, int_keys(max_x)), 0f64..max_y * 1.25)
            .map_err(pe)?;
        chart
            .configure_mesh()
            .x_desc("chunk gap position (0 = first → second chunk)")
            .y_desc("median gap (ms)")
            .y_label_formatter(&|y| fmt_ms(*y))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(pe)?;
        for (i, g) in groups.iter().enumerate() {
            if g.itl_by_position.is_empty() {
                continue;
            }
            let c = color(i);
            let pts: Vec<(f64, f64)> = g
                .itl_by_position
                .iter()
                .map(|(p, v, _)| (*p as f64, *v))
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(pe)?
                .label(legend(g))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .draw()
            .map_err(pe)?;
        root.present().map_err(pe)?;
    }
    Ok(svg)
}

/// Per group: decode tok/s (left) and TTFT (right), median with bars per stage.
pub fn config_plot(groups: &[GroupData]) -> PlotResult {
    let n = groups.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 380)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let (left, right) = root.split_horizontally(WIDTH / 2);
        type Pick = fn(&super::data::ConfigStage) -> Option<Interval>;
        let panels: [(_, &str, &str, Pick); 2] = [
            (left, "Decode throughput (server)", "tokens/s", |c| {
                c.decode_tps
            }),
            (right, "TTFT", "ms", |c| c.ttft_ms),
        ];
        for (area, title, unit, pick) in panels {
            let max = groups
                .iter()
                .flat_map(|g| g.config.iter().filter_map(pick).map(|i| i.hi))
                .fold(0.0f64, f64::max)
                .max(1e-3);
            let keys: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
            let mut chart = ChartBuilder::on(&area)
                .caption(title, (FONT, 16))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(keyed(0f64..n as f64, keys), 0f64..max * 1.2)
                .map_err(pe)?;
            chart
                .configure_mesh()
                .x_desc("group")
                .y_desc(unit)
                .x_label_formatter(&|x| {
                    groups
                        .get(x.floor() as usize)
                        .map(|g| g.short.clone())
                        .unwrap_or_default()
                })
                .y_label_formatter(&|y| fmt_ms(*y))
                .disable_x_mesh()
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(pe)?;
            for (s, stage) in Stage::ALL.iter().enumerate() {
                let c = color(s + 6);
                let dx = if s == 0 { 0.38 } else { 0.62 };
                let items: Vec<(f64, Interval)> = groups
                    .iter()
                    .enumerate()
                    .filter_map(|(i, g)| {
                        let cs = g.config.iter().find(|cs| cs.stage == *stage)?;
                        Some((i as f64 + dx, pick(cs)?))
                    })
                    .collect();
                chart
                    .draw_series(items.iter().map(|(x, iv)| {
                        ErrorBar::new_vertical(*x, iv.lo, iv.median, iv.hi, c.stroke_width(2), 10)
                    }))
                    .map_err(pe)?
                    .label(stage.name())
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
                chart
                    .draw_series(
                        items
                            .iter()
                            .map(|(x, iv)| Circle::new((*x, iv.median), 4, c.filled())),
                    )
                    .map_err(pe)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font((FONT, 12))
                .draw()
                .map_err(pe)?;
        }
        root.present().map_err(pe)?;
    }
    Ok(svg)
}

/// One row of an [`interval_plot`]: a label, its samples (drawn as small jittered
/// dots), a centre (a large dot, e.g. the median) and an interval around it (an
/// error bar, e.g. a bootstrap CI).
#[derive(Debug, Clone)]
pub struct IntervalRow<'a> {
    /// Row label on the y axis.
    pub label: String,
    /// Palette index ([`color`]).
    pub color: usize,
    /// The samples; non-finite values are not drawn.
    pub samples: &'a [f64],
    /// The centre value, when there is one.
    pub center: Option<f64>,
    /// The interval `[lower, upper]`, when there is one.
    pub ci: Option<[f64; 2]>,
}

/// Rows of sample dots with a centre and an interval each, top to bottom in
/// `rows` order, titled `title (unit)`. The x axis is logarithmic when all values
/// are positive and span more than 30× (the title then says `log scale`). Used by
/// the peers page (agents) and the sweep page (configurations × stage); public so
/// that any new report can draw the same figure.
pub fn interval_plot(title: &str, unit: &str, rows: &[IntervalRow<'_>]) -> PlotResult {
    let n = rows.len().max(1);
    let all: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.samples.iter().copied().chain(r.ci.into_iter().flatten()))
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
    let log = !all.is_empty() && lo > 0.0 && hi / lo > 30.0;
    let tr = |v: f64| if log { v.log10() } else { v };
    let (x0, x1) = if all.is_empty() {
        (0.0, 1.0)
    } else if log {
        (tr(lo) - 0.1, tr(hi) + 0.1)
    } else {
        let span = (hi - lo.min(0.0)).max(1e-9);
        (lo.min(0.0), hi + span * 0.08)
    };
    let keys: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    let names: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let label_width = names
        .iter()
        .map(|l| l.chars().count() as u32)
        .max()
        .unwrap_or(0)
        .clamp(14, 40)
        * 7
        + 12;
    let height = 90 + 48 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(pe)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{title} ({unit}{})", if log { ", log scale" } else { "" }),
                (FONT, 16),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(label_width)
            .build_cartesian_2d(x0..x1, keyed(0f64..n as f64, keys))
            .map_err(pe)?;
        chart
            .configure_mesh()
            .y_label_formatter(&|y| {
                let row = y.floor() as usize;
                names
                    .get(n - 1 - row.min(n - 1))
                    .cloned()
                    .unwrap_or_default()
            })
            .x_label_formatter(&|x| fmt_ms(if log { 10f64.powf(*x) } else { *x }))
            .disable_y_mesh()
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(pe)?;
        for (i, r) in rows.iter().enumerate() {
            let c = color(r.color);
            let y = (n - 1 - i) as f64 + 0.5;
            let dots = r
                .samples
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite() && (!log || **v > 0.0))
                .map(|(k, v)| {
                    let jitter = ((k as f64 * 0.618_034).fract() - 0.5) * 0.4;
                    Circle::new((tr(*v), y + jitter), 2, c.mix(0.45).filled())
                });
            chart.draw_series(dots).map_err(pe)?;
            if let Some(m) = r.center {
                if let Some([l, h]) = r.ci {
                    chart
                        .draw_series(std::iter::once(ErrorBar::new_horizontal(
                            y,
                            tr(l),
                            tr(m),
                            tr(h),
                            c.stroke_width(2),
                            14,
                        )))
                        .map_err(pe)?;
                }
                chart
                    .draw_series(std::iter::once(Circle::new((tr(m), y), 5, c.filled())))
                    .map_err(pe)?;
            }
        }
        root.present().map_err(pe)?;
    }
    Ok(svg)
}
