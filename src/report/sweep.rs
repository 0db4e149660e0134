//! The sweep's TR-style report: `sweep.md` and `sweep.html`, every figure computed
//! from the records by [`crate::sweep::analyze`]. Nothing here is typed by hand.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::page::{escape, figure, Page};
use super::plots::{interval_plot, IntervalRow};
use super::ReportError;
use crate::record::{Header, Stage};
use crate::sweep::study::{CallFlag, ColdCause, Metric, SweepAnalysis, Warmth};
use crate::sweep::{SweepSpec, BASELINE};

fn f(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn opt(x: Option<f64>, fmt: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "—".to_string(), fmt)
}

fn cause(c: ColdCause) -> &'static str {
    match c {
        ColdCause::StartedCold => "cold start (unloaded, verified)",
        ColdCause::OptionsChanged => "num_ctx/num_gpu changed (expected reload)",
        ColdCause::LoadDuration => "load_duration above threshold",
    }
}

/// Renders the Markdown report.
pub fn render_sweep_markdown(
    header: &Header,
    spec: Option<&SweepSpec>,
    a: &SweepAnalysis,
) -> String {
    let mut s = String::new();
    let opts = a.opts.unwrap_or_default();
    let _ = writeln!(s, "# Sweep report: {}\n", header.model);
    let _ = writeln!(s, "## Provenance and method\n");
    let _ = writeln!(
        s,
        "- harness: {} {} ({}, commit {})",
        header.harness.name,
        header.harness.version,
        header.harness.profile,
        header.harness.git_commit.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        s,
        "- host: {} {}, {} cores, CPU {}",
        header.host.os,
        header.host.arch,
        header.host.cores,
        header.host.cpu_model.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        s,
        "- backend: {} ({}{})",
        header.backend.url,
        header.backend.protocol,
        header
            .backend
            .stub
            .as_ref()
            .map(|p| format!(
                ", **embedded stub, profile {p}: the numbers describe an emulation, not a model**"
            ))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "- server: version {}, model digest {}",
        header.server.version.as_deref().unwrap_or("unknown"),
        header.server.model_digest.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        s,
        "- common options: `{}`",
        serde_json::to_string(&header.settings).unwrap_or_default()
    );
    if let Some(sp) = spec {
        let _ = writeln!(
            s,
            "- plan: {} configurations × {} measured runs (+ {} warm-up rounds), interleaved: each round visits every configuration in an order shuffled by splitmix64 seed {}; start state {}",
            sp.configs.len(),
            sp.runs,
            sp.warmup,
            sp.seed,
            sp.start_state.name()
        );
    }
    let _ = writeln!(
        s,
        "- runs recorded: {}{}; warm-up runs excluded from statistics: {}",
        a.runs_recorded,
        a.runs_planned
            .map(|p| format!(" of {p} planned"))
            .unwrap_or_default(),
        a.warmup_runs
    );
    let _ = writeln!(
        s,
        "- a call is **cold** when the harness expected a load (cold start, or num_ctx/num_gpu changed since the previous call) or its load_duration exceeds {} ms; cold and warm calls never share a statistic. Failed calls are in no statistic.",
        opts.cold_threshold.as_millis()
    );
    let _ = writeln!(
        s,
        "- CIs: {:.0} % percentile bootstrap of the mean ({} resamples, seed {:#x}); cells with n < {} get none. Deltas are candidate − baseline of the mean, same stage and warmth; p from Welch's t-test; d is Cohen's d (pooled sd). A configuration is better or worse only when both the bootstrap CI of the difference and Welch's 95 % t-interval exclude zero. With n this small, bootstrap intervals undercover: read them as indicative.\n",
        opts.bootstrap.confidence * 100.0,
        opts.bootstrap.resamples,
        opts.bootstrap.seed,
        opts.min_ci_n
    );

    let _ = writeln!(s, "## Summary\n");
    let candidates: Vec<&String> = a.configs.iter().filter(|c| *c != BASELINE).collect();
    let beats: Vec<&str> = candidates
        .iter()
        .filter(|c| a.decode_verdict(c) == Some(true))
        .map(|c| c.as_str())
        .collect();
    let worse: Vec<&str> = candidates
        .iter()
        .filter(|c| a.decode_verdict(c) == Some(false))
        .map(|c| c.as_str())
        .collect();
    let _ = writeln!(
        s,
        "- success (decode tok/s beats the baseline in every stage/warmth cell compared with a CI, the CI of the difference excluding zero): **{} of {}** configurations{}",
        beats.len(),
        candidates.len(),
        if beats.is_empty() {
            String::new()
        } else {
            format!(": {}", beats.join(", "))
        }
    );
    let _ = writeln!(
        s,
        "- regressions (decode tok/s below the baseline, CI excluding zero): {}",
        if worse.is_empty() {
            "none".to_string()
        } else {
            worse.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "- no difference shown for the other {} configurations\n",
        candidates.len() - beats.len() - worse.len()
    );

    for metric in Metric::ALL {
        let Some(cells) = a.cells.get(&metric) else {
            continue;
        };
        for stage in Stage::ALL {
            let _ = writeln!(s, "## {} — {} calls\n", metric.label(), stage.name());
            let _ = writeln!(
                s,
                "| configuration | warmth | n | mean | median | sd | CV % | 95 % CI (mean) |\n|---|---|---:|---:|---:|---:|---:|---|"
            );
            for config in &a.configs {
                for warmth in [Warmth::Warm, Warmth::Cold] {
                    let Some(c) = cells.get(&(config.clone(), stage, warmth)) else {
                        continue;
                    };
                    let Some(d) = c.desc else { continue };
                    let _ = writeln!(
                        s,
                        "| {config} | {} | {} | {} | {} | {} | {} | {} |",
                        warmth.name(),
                        d.n,
                        f(d.mean),
                        f(d.median),
                        opt(d.sd, f),
                        opt(d.cv, |v| format!("{:.1}", v * 100.0)),
                        c.ci.map_or_else(
                            || "—".into(),
                            |ci| format!("[{}, {}]", f(ci.ci.lower), f(ci.ci.upper))
                        )
                    );
                }
            }
            s.push('\n');
        }
    }

    for metric in [Metric::DecodeTps, Metric::Ttft, Metric::E2e] {
        let _ = writeln!(s, "## Deltas against the baseline: {}\n", metric.label());
        let _ = writeln!(
            s,
            "| configuration | stage | warmth | n (base/cand) | Δ mean | Δ % | 95 % CI of Δ | Welch p | Cohen's d | verdict |\n|---|---|---|---:|---:|---:|---|---:|---:|---|"
        );
        for d in a.deltas.iter().filter(|d| d.metric == metric) {
            let c = &d.comparison;
            let verdict = if d.beats() {
                "**better** (CI excludes 0)"
            } else if d.regresses() {
                "**worse** (CI excludes 0)"
            } else if c.diff_ci.is_none() {
                "no CI (n too small)"
            } else {
                "no difference shown"
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |",
                d.key.0,
                d.key.1.name(),
                d.key.2.name(),
                c.n_baseline,
                c.n_candidate,
                f(c.mean_candidate - c.mean_baseline),
                opt(c.change_pct_mean, |v| format!("{v:+.1}")),
                c.diff_ci.map_or_else(
                    || "—".into(),
                    |b| format!("[{}, {}]", f(b.ci.lower), f(b.ci.upper))
                ),
                opt(c.welch.map(|w| w.p_two_sided), |p| format!("{p:.3}")),
                opt(c.cohens_d, |v| format!("{v:.2}")),
                verdict
            );
        }
        s.push('\n');
    }

    render_warnings(&mut s, a);
    s
}

fn render_warnings(s: &mut String, a: &SweepAnalysis) {
    let _ = writeln!(s, "## Warnings\n");
    let total_cold: usize = a.cold_calls.values().map(|v| v.0).sum();
    let _ = writeln!(
        s,
        "### Cold calls ({total_cold}, reported apart from warm calls)\n"
    );
    for ((config, stage), (n, causes)) in &a.cold_calls {
        let why: Vec<String> = causes
            .iter()
            .map(|(c, k)| format!("{} ×{k}", cause(*c)))
            .collect();
        let _ = writeln!(
            s,
            "- {config} {}: {n} cold — {}",
            stage.name(),
            why.join("; ")
        );
    }
    type Pick = fn(&CallFlag) -> bool;
    let groups: [(&str, Pick); 4] = [
        ("Truncated prompts", |f| f.is_truncation()),
        ("done_reason length", |f| {
            matches!(f, CallFlag::LengthLimit { .. })
        }),
        ("Failed calls", |f| matches!(f, CallFlag::Failed(..))),
        ("Load classification disagrees with the harness", |f| {
            matches!(
                f,
                CallFlag::UnexpectedLoad { .. } | CallFlag::MissingLoad { .. }
            )
        }),
    ];
    for (title, pick) in groups {
        let hits: Vec<_> = a.flagged.iter().filter(|c| pick(&c.flag)).collect();
        let _ = writeln!(s, "\n### {title} ({})\n", hits.len());
        for c in hits {
            let _ = writeln!(
                s,
                "- run {} ({}, round {}, {}): {}",
                c.run_index,
                c.config,
                c.round.map_or_else(|| "—".into(), |r| r.to_string()),
                c.stage.name(),
                c.flag.describe()
            );
        }
    }
    let _ = writeln!(s, "\n### Other ({})\n", a.notes.len());
    for n in &a.notes {
        let _ = writeln!(s, "- {n}");
    }
}

/// What [`write_sweep_report`] wrote.
#[derive(Debug, Clone)]
pub struct SweepReportPaths {
    /// `sweep.md`.
    pub markdown: PathBuf,
    /// `sweep.html`: the same report in the shared page shell, with a plot per metric.
    pub html: PathBuf,
}

/// Writes `sweep.md` and `sweep.html` into `dir`.
pub fn write_sweep_report(
    dir: &Path,
    header: &Header,
    spec: Option<&SweepSpec>,
    a: &SweepAnalysis,
) -> Result<SweepReportPaths, ReportError> {
    let md = render_sweep_markdown(header, spec, a);
    let html = render_sweep_html(&md, header, a, dir)?;
    let paths = SweepReportPaths {
        markdown: dir.join("sweep.md"),
        html: dir.join("sweep.html"),
    };
    for (p, text) in [(&paths.markdown, &md), (&paths.html, &html)] {
        std::fs::write(p, text).map_err(|source| ReportError::Io {
            path: p.clone(),
            source,
        })?;
    }
    Ok(paths)
}

/// One figure per metric: rows are configurations × stage × warmth (cells with
/// samples), each with its samples, mean and bootstrap CI of the mean.
fn metric_figures(a: &SweepAnalysis, dir: &Path) -> Result<String, ReportError> {
    let mut out = String::new();
    for metric in Metric::ALL {
        let Some(cells) = a.cells.get(&metric) else {
            continue;
        };
        let mut rows = Vec::new();
        for config in &a.configs {
            for (si, stage) in Stage::ALL.into_iter().enumerate() {
                for (wi, warmth) in [Warmth::Warm, Warmth::Cold].into_iter().enumerate() {
                    let Some(c) = cells.get(&(config.clone(), stage, warmth)) else {
                        continue;
                    };
                    if c.samples.is_empty() {
                        continue;
                    }
                    rows.push(IntervalRow {
                        label: format!("{config} · {} · {}", stage.name(), warmth.name()),
                        color: si + 2 * wi,
                        samples: &c.samples,
                        center: c.desc.map(|d| d.mean),
                        ci: c.ci.map(|b| [b.ci.lower, b.ci.upper]),
                    });
                }
            }
        }
        if rows.is_empty() {
            continue;
        }
        let def = metric.def();
        let svg = interval_plot(def.name, def.unit, &rows).map_err(|reason| ReportError::Plot {
            plot: def.id.to_string(),
            path: dir.join("sweep.html"),
            reason,
        })?;
        out.push_str(&figure(
            &format!("plot-{}", def.id.replace('_', "-")),
            &svg,
            &escape(&format!(
                "{} per configuration, stage and warmth (one colour each for warm analysis, \
                 warm report, cold analysis and cold report calls): the small dots are the \
                 calls, the large dot is the mean, the bar its bootstrap CI (none under the \
                 minimum n). Cold and warm calls are never pooled.",
                def.label()
            )),
        ));
    }
    Ok(out)
}

/// `sweep.html`: the Markdown report rendered by pulldown-cmark into the shared
/// page shell, with the per-metric figures after the summary.
fn render_sweep_html(
    md: &str,
    header: &Header,
    a: &SweepAnalysis,
    dir: &Path,
) -> Result<String, ReportError> {
    let mut page = Page::new(&format!("Sweep report: {}", header.model));
    // The Markdown's own title is the page's.
    let body = match md.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => rest,
        _ => md,
    };
    let split = body
        .find("## Summary")
        .and_then(|i| body[i + 1..].find("\n## ").map(|j| i + 1 + j + 1))
        .unwrap_or(body.len());
    page.markdown(&body[..split]);
    let figures = metric_figures(a, dir)?;
    if !figures.is_empty() {
        page.section("plots", "Per metric");
        page.push_html(&figures);
    }
    page.markdown(&body[split..]);
    Ok(page.finish())
}
