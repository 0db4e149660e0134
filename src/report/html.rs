//! `index.html`: one self-contained page (inline SVG and CSS; no script, no
//! external style sheet, font or image). Every record-derived string is escaped
//! with [`escape_html`]; SVG text is escaped by plotters. The document shell is
//! the shared [`Page`].

use std::fmt::Write as _;
use std::path::Path;

use super::data::IntervalMethod;
use super::page::{figure, Page};
use super::{escape_html as e, fmt3, plots, summary_rows, Exporter, ReportData, ReportError};
use crate::metrics::hdr::LatencyMetric;
use crate::metrics::Quantiles;
use crate::record::Header;

/// Writes `index.html`: summary, latency percentile plots (`plot-ttft`,
/// `plot-itl`, `plot-e2e`, `plot-client-overhead`), phase breakdowns
/// (`plot-phases`, `plot-workflow`), ITL by position (`plot-itl-position`),
/// configuration comparison (`plot-config`, when there are ≥ 2 groups), failed
/// calls, sample responses and each input's provenance.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlExporter;

fn q_cell(q: &Option<Quantiles>) -> String {
    format!(
        "<td class=\"num\">{}</td><td class=\"num\">{}</td>",
        fmt3(q.as_ref().map(|q| q.median)),
        fmt3(q.as_ref().map(|q| q.p95))
    )
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn provenance_rows(h: &Header) -> Vec<(&'static str, String)> {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "–".into());
    vec![
        (
            "harness",
            format!(
                "{} {} ({})",
                h.harness.name, h.harness.version, h.harness.profile
            ),
        ),
        ("git commit", opt(&h.harness.git_commit)),
        ("schema version", h.schema_version.to_string()),
        ("created (unix ns)", h.created_unix_ns.to_string()),
        (
            "host",
            format!(
                "{} · {} {} · kernel {} · {} · {} cores",
                opt(&h.host.hostname),
                h.host.os,
                h.host.arch,
                opt(&h.host.kernel),
                opt(&h.host.cpu_model),
                h.host.cores
            ),
        ),
        ("CPU idle", h.host.cpu_idle_text()),
        ("backend URL", h.backend.url.clone()),
        (
            "protocol · endpoint",
            format!("{} · {}", h.backend.protocol, h.backend.path()),
        ),
        ("stub profile", opt(&h.backend.stub)),
        ("server version", opt(&h.server.version)),
        ("model", h.model.clone()),
        ("model digest", opt(&h.server.model_digest)),
        (
            "model details",
            h.server
                .model_details
                .as_ref()
                .map_or_else(|| "–".into(), json),
        ),
        ("server notes", h.server.notes.join("; ")),
        ("options", json(&h.settings)),
        ("corpus", json(&h.corpus)),
        ("prompt templates (sha256)", json(&h.prompt_templates)),
    ]
}

/// Where the server parts of the report come from, for the protocols the inputs
/// were recorded with (each named once, in a fixed order).
fn server_parts_source<'a>(protocols: impl IntoIterator<Item = &'a str>) -> String {
    let protocols: std::collections::BTreeSet<&str> = protocols.into_iter().collect();
    let mut parts = Vec::new();
    for p in &protocols {
        parts.push(match *p {
            "ollama" => "over Ollama's protocol, from the final chunk's fields \
                         (<code>total_duration</code>, <code>load_duration</code>, \
                         <code>prompt_eval_duration</code>, <code>eval_duration</code>)"
                .to_string(),
            "openai" => "over the OpenAI-compatible protocol, from llama.cpp's \
                         <code>timings</code> (<code>prompt_ms</code>, \
                         <code>predicted_ms</code>; no load or total: server time is their \
                         sum); a server that sends only <code>usage</code> (vLLM, Ollama's \
                         <code>/v1</code>) gives none"
                .to_string(),
            other => format!(
                "over protocol <code>{}</code>, from nothing this build reads",
                e(other)
            ),
        });
    }
    if parts.is_empty() {
        return "no input, no server parts.".to_string();
    }
    format!("server parts come {}.", parts.join("; "))
}

impl Exporter for HtmlExporter {
    fn file_name(&self) -> &'static str {
        "index.html"
    }

    fn render(&self, data: &ReportData<'_>, out: &Path) -> Result<Vec<u8>, ReportError> {
        let plot = |id: &str, r: plots::PlotResult| {
            r.map_err(|reason| ReportError::Plot {
                plot: id.to_string(),
                path: out.to_path_buf(),
                reason,
            })
        };
        let groups = &data.groups;
        let mut page = Page::new("agentbench report");
        let mut s = String::new();
        let runs: usize = groups.iter().map(|g| g.summary.runs).sum();
        let _ = writeln!(
            s,
            "<p class=\"lead\">{} input file(s), {} group(s), {} workflow run(s). Times are \
             measured on the client's monotonic clock from t0 = just before each request \
             is sent; {}</p>",
            data.inputs.len(),
            groups.len(),
            runs,
            server_parts_source(
                data.inputs
                    .iter()
                    .map(|(i, _)| i.file.header.backend.protocol.as_str())
            )
        );

        // Groups.
        s.push_str("<h2 id=\"groups\">Groups</h2>\n<table><thead><tr><th>group</th><th>backend</th>\
                    <th>configuration (model, options)</th><th class=\"num\">runs</th>\
                    <th class=\"num\">runs ok</th><th class=\"num\">negative overheads</th></tr></thead><tbody>\n");
        for g in groups {
            let _ = writeln!(
                s,
                "<tr><td><span class=\"badge\">{}</span></td><td>{}</td><td><code>{}</code></td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                g.short,
                e(&g.key.backend),
                e(&g.key.config),
                g.summary.runs,
                g.summary.runs_ok,
                g.latency.negative_overhead
            );
        }
        s.push_str("</tbody></table>\n");
        for g in groups {
            if let Some(neg) = g.summary.negative_client_overhead() {
                let _ = writeln!(
                    s,
                    "<p class=\"err\" id=\"negative-overhead-{}\">Warning, group <span \
                     class=\"badge\">{}</span>: {}.</p>",
                    e(&g.short),
                    e(&g.short),
                    e(&neg.warning())
                );
            }
        }

        // Summary.
        s.push_str(
            "<h2 id=\"summary\">Summary</h2>\n<p class=\"muted\">Median and p95 of completed \
             calls, exact sample quantiles (linear interpolation). Failed calls are counted \
             under errors and contribute no latency or throughput sample. Unaccounted = E2E − \
             the server's reported time: the server's untimed work, the network and the client \
             together (formerly “client overhead”); client CPU per call = the CPU time of the \
             thread that made the call, the client's own cost measured directly.</p>\n\
             <table><thead><tr><th rowspan=\"2\">group</th><th rowspan=\"2\">stage</th>\
             <th rowspan=\"2\" class=\"num\">ok / calls</th><th rowspan=\"2\">errors</th>\
             <th colspan=\"2\" class=\"num\">TTFT ms</th><th colspan=\"2\" class=\"num\">E2E ms</th>\
             <th colspan=\"2\" class=\"num\">ITL ms</th><th colspan=\"2\" class=\"num\">decode tok/s</th>\
             <th colspan=\"2\" class=\"num\">unaccounted: E2E − server ms</th>\
             <th colspan=\"2\" class=\"num\">client CPU per call ms</th></tr><tr>",
        );
        for _ in 0..6 {
            s.push_str("<th class=\"num\">p50</th><th class=\"num\">p95</th>");
        }
        s.push_str("</tr></thead><tbody>\n");
        for r in summary_rows(data) {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{} / {}</td><td{}>{}</td>{}{}{}{}{}{}</tr>",
                r.group,
                r.stage.name(),
                r.ok,
                r.calls,
                if r.errors.is_empty() { "" } else { " class=\"err\"" },
                if r.errors.is_empty() { "–".into() } else { e(&r.errors) },
                q_cell(&r.ttft_ms),
                q_cell(&r.e2e_ms),
                q_cell(&r.itl_ms),
                q_cell(&r.decode_tps),
                q_cell(&r.client_overhead_ms),
                q_cell(&r.client_cpu_ms),
            );
        }
        s.push_str("</tbody></table>\n");

        // Percentiles.
        s.push_str(
            "<h2 id=\"percentiles\">Latency percentiles</h2>\n<p class=\"muted\">From HDR \
             histograms (µs resolution, 3 significant digits, both stages pooled). The x axis \
             spreads the tail: each step right is one more “nine” (90%, 99%, 99.9%). The y axis \
             is logarithmic; zero values are drawn at the axis floor.</p>\n",
        );
        for m in LatencyMetric::ALL {
            let svg = plot(m.slug(), plots::percentile_plot(m, groups))?;
            let id = format!("plot-{}", m.slug());
            s.push_str(&figure(&id, &svg, &e(m.definition())));
        }

        // Phases.
        s.push_str("<h2 id=\"phases\">Where the time goes</h2>\n");
        let svg = plot("plot-phases", plots::stage_phases_plot(groups))?;
        s.push_str(&figure(
            "plot-phases",
            &svg,
            "Per stage and group, medians over completed calls of: E2E − server time = E2E − \
             server total_duration (unaccounted: the server's untimed work, the network and the \
             client; formerly “client overhead”; calls where it is negative are left out); \
             server load = load_duration; prefill = prompt_eval_duration; decode = \
             eval_duration; unaccounted server = total_duration − (load + prompt_eval + eval). \
             Each part is its own median, so the bar need not equal the median E2E.",
        ));
        let svg = plot("plot-workflow", plots::workflow_plot(groups))?;
        s.push_str(&figure(
            "plot-workflow",
            &svg,
            "Per group, medians over complete runs (every call succeeded): ingest, prompt \
             building (both prompt phases), parse and call handling (call phases − E2E) are \
             the harness; E2E − server time is the unaccounted share inside the calls (server's \
             untimed work, network, client); server time \
             is Σ total_duration, the model's share.",
        ));

        // ITL by position.
        s.push_str("<h2 id=\"itl-position\">Inter-chunk latency along the stream</h2>\n");
        let svg = plot("plot-itl-position", plots::itl_position_plot(groups))?;
        let counts: Vec<String> = groups
            .iter()
            .map(|g| {
                let n = g.itl_by_position.first().map_or(0, |p| p.2);
                format!("{}: {} calls", g.short, n)
            })
            .collect();
        s.push_str(&figure(
            "plot-itl-position",
            &svg,
            &format!(
                "Median gap between consecutive content chunks at each position, across \
                 completed calls of both stages (chunk level: a chunk may hold several tokens). \
                 Later positions have fewer calls behind them ({}).",
                e(&counts.join(", "))
            ),
        ));

        // Configurations.
        s.push_str("<h2 id=\"configurations\">Configurations compared</h2>\n");
        if groups.len() >= 2 {
            let svg = plot("plot-config", plots::config_plot(groups))?;
            let methods: Vec<String> = groups
                .iter()
                .flat_map(|g| {
                    g.config.iter().filter_map(move |c| {
                        let iv = c.decode_tps.or(c.ttft_ms)?;
                        let how = match iv.method {
                            IntervalMethod::Bootstrap95 => "bootstrap 95% CI",
                            IntervalMethod::MinMax => "min–max",
                        };
                        Some(format!("{} {}: n={}, {how}", g.short, c.stage.name(), iv.n))
                    })
                })
                .collect();
            s.push_str(&figure(
                "plot-config",
                &svg,
                &format!(
                    "Median decode throughput (server eval_count / eval_duration) and median TTFT \
                     per group and stage. Bars: 95% percentile-bootstrap CI of the median \
                     ({} resamples) when n ≥ {}, else min–max. {}.",
                    super::BOOTSTRAP_RESAMPLES,
                    super::BOOTSTRAP_MIN_N,
                    e(&methods.join("; "))
                ),
            ));
        } else {
            s.push_str("<p class=\"muted\">One configuration only: nothing to compare.</p>\n");
        }

        // Failed calls.
        s.push_str("<h2 id=\"errors\">Failed calls</h2>\n");
        let failed: Vec<_> = groups
            .iter()
            .flat_map(|g| {
                g.runs.iter().flat_map(move |r| {
                    r.calls
                        .iter()
                        .filter(|c| !c.call.is_ok())
                        .map(move |c| (g, r.run_index, c))
                })
            })
            .collect();
        if failed.is_empty() {
            s.push_str("<p class=\"muted\">None.</p>\n");
        } else {
            s.push_str("<table><thead><tr><th>group</th><th class=\"num\">run</th><th>stage</th><th>kind</th><th>message</th></tr></thead><tbody>\n");
            for (g, run, c) in failed.iter().take(200) {
                let (kind, msg) = c.call.error.as_ref().map_or_else(
                    || ("incomplete".to_string(), "no final chunk".to_string()),
                    |x| (super::error_kind_name(x.kind), x.message.clone()),
                );
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td class=\"num\">{run}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    g.short,
                    c.stage.name(),
                    e(&kind),
                    e(&msg)
                );
            }
            s.push_str("</tbody></table>\n");
            if failed.len() > 200 {
                let _ = writeln!(s, "<p class=\"muted\">… {} more.</p>", failed.len() - 200);
            }
        }

        // Sample responses.
        s.push_str("<h2 id=\"responses\">Sample responses</h2>\n<p class=\"muted\">The first completed response per group and stage (at most 2000 characters), to check that the model did the work measured.</p>\n");
        for g in groups {
            for stage in crate::record::Stage::ALL {
                let first = g
                    .runs
                    .iter()
                    .filter_map(|r| r.call(stage))
                    .find(|c| c.call.is_ok());
                if let Some(c) = first {
                    let text: String = c.call.response.chars().take(2000).collect();
                    let _ = writeln!(
                        s,
                        "<details><summary>{} · {} ({} bytes)</summary><pre>{}</pre></details>",
                        g.short,
                        stage.name(),
                        c.call.response.len(),
                        e(&text)
                    );
                }
            }
        }

        // Provenance.
        if !data.history.is_empty() {
            s.push_str(&plot("history", super::history_section(&data.history))?);
        }
        s.push_str("<h2 id=\"provenance\">Provenance</h2>\n");
        for (input, gi) in &data.inputs {
            let f = input.file;
            let _ = writeln!(
                s,
                "<h3>{} <span class=\"badge\">{}</span></h3>\n<p class=\"muted\">{} run(s), {} skipped line(s).</p>\n<table><tbody>",
                e(input.name),
                groups.get(*gi).map_or("", |g| g.short.as_str()),
                f.runs.len(),
                f.skipped.len()
            );
            for (k, v) in provenance_rows(&f.header) {
                let _ = writeln!(s, "<tr><th>{k}</th><td><code>{}</code></td></tr>", e(&v));
            }
            s.push_str("</tbody></table>\n");
            if !f.skipped.is_empty() {
                s.push_str("<table><thead><tr><th class=\"num\">line</th><th>why it was skipped</th></tr></thead><tbody>\n");
                for (line, why) in &f.skipped {
                    let _ = writeln!(
                        s,
                        "<tr><td class=\"num\">{line}</td><td>{}</td></tr>",
                        e(why)
                    );
                }
                s.push_str("</tbody></table>\n");
            }
        }

        // Histogram files.
        s.push_str("<h2 id=\"histograms\">Histogram files</h2>\n<p class=\"muted\">Next to this page, under <code>hdr/</code>: <code>&lt;group&gt;-&lt;metric&gt;.us.hdr</code> (HdrHistogram V2, values in µs; merge with <code>agentbench merge</code>) and <code>&lt;group&gt;-&lt;metric&gt;.ms.hgrm</code> (percentile distribution in ms, readable by the HdrHistogram plotter).</p>\n<ul>\n");
        for g in groups {
            let _ = writeln!(
                s,
                "<li>{}: <code>{}-{{ttft,itl,e2e,client-overhead}}</code>, clamped above 1 h: {}</li>",
                g.short,
                e(&g.key.slug()),
                g.latency.clamped_high
            );
        }
        s.push_str("</ul>\n");
        page.push_html(&s);
        Ok(page.finish().into_bytes())
    }
}
