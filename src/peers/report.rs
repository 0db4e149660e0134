//! The side-by-side report: `index.html` (self-contained, inline SVG, every string
//! escaped with [`e`], the shared page shell's escaping), `peers.md`, and the console table's rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::figures::{AgentFigures, MetricStats, PeerMetric, Ratio, TARGETS};
use super::prompts::PromptCheck;
use super::spec::{AgentSpec, PeerBackend};
use super::{PeersError, ProcessRecord};
use crate::report::page::{escape as e, figure, Page};
use crate::report::plots::{interval_plot, IntervalRow};
use crate::report::ReportError;

/// Everything the report shows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportContext<'a> {
    /// The server, as named.
    pub backend: &'a PeerBackend,
    /// Its URL.
    pub url: &'a str,
    /// Runs per process.
    pub runs: u32,
    /// Rounds.
    pub rounds: u32,
    /// The agents, reference first.
    pub agents: &'a [AgentSpec],
    /// Every process measured.
    pub processes: &'a [ProcessRecord],
    /// Per-agent figures, in agent order.
    pub figures: &'a [AgentFigures],
    /// Ratios against the reference.
    pub ratios: &'a [Ratio],
    /// The prompt verification.
    pub prompt_check: &'a PromptCheck,
    /// Failed processes, one line each.
    pub failures: &'a [String],
    /// Notes for the reader.
    pub notes: &'a [String],
}

/// The report files written.
#[derive(Debug, Clone)]
pub struct PeersReportPaths {
    /// index.html.
    pub html: PathBuf,
    /// peers.md.
    pub markdown: PathBuf,
}

/// A value with about four significant digits.
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn stats_cell(s: Option<&MetricStats>) -> String {
    match s {
        None => "–".into(),
        Some(s) => match s.ci {
            Some([lo, hi]) => format!("{} [{}, {}] n={}", num(s.median), num(lo), num(hi), s.n),
            None => format!("{} n={}", num(s.median), s.n),
        },
    }
}

fn ratio_cell(r: Option<&Ratio>) -> String {
    match r {
        None => "–".into(),
        Some(r) => match r.ci {
            Some([lo, hi]) => format!("{}× [{}, {}]", num(r.estimate), num(lo), num(hi)),
            None => format!("{}×", num(r.estimate)),
        },
    }
}

fn ratio_of<'a>(ratios: &'a [Ratio], m: PeerMetric, agent: &str) -> Option<&'a Ratio> {
    ratios.iter().find(|r| r.metric == m && r.agent == agent)
}

/// The side-by-side table: one row per metric, one column per agent (median
/// [95% CI] n), then one ratio column per non-reference agent.
pub(crate) fn table_rows(ctx: &ReportContext<'_>) -> Vec<Vec<String>> {
    let Some(reference) = ctx.figures.first() else {
        return vec![vec!["metric".into()]];
    };
    let mut header = vec!["metric".to_string()];
    header.extend(ctx.figures.iter().map(|f| f.agent.clone()));
    header.extend(
        ctx.figures[1..]
            .iter()
            .map(|f| format!("{} / {}", f.agent, reference.agent)),
    );
    let mut rows = vec![header];
    for m in PeerMetric::ALL {
        let mut row = vec![format!("{} ({}, per {})", m.title(), m.unit(), m.per())];
        row.extend(
            ctx.figures
                .iter()
                .map(|f| stats_cell(f.get(m).and_then(|x| x.stats.as_ref()))),
        );
        row.extend(
            ctx.figures[1..]
                .iter()
                .map(|f| ratio_cell(ratio_of(ctx.ratios, m, &f.agent))),
        );
        rows.push(row);
    }
    rows
}

/// One line per target and non-reference agent: the ratio, the target, met or not.
pub(crate) fn target_lines(ctx: &ReportContext<'_>) -> Vec<String> {
    let Some(reference) = ctx.figures.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in TARGETS {
        for f in &ctx.figures[1..] {
            let line = match ratio_of(ctx.ratios, t.metric, &f.agent) {
                None => format!(
                    "{} {} / {}: no ratio (missing or non-positive samples); target ≥ {}×",
                    t.metric.title(),
                    f.agent,
                    reference.agent,
                    t.at_least
                ),
                Some(r) => {
                    let verdict = match (r.estimate >= t.at_least, r.ci) {
                        (true, Some([lo, _])) if lo >= t.at_least => "met (CI above target)",
                        (true, _) => "met (point estimate; CI reaches below)",
                        (false, _) => "not met",
                    };
                    format!(
                        "{} {} / {}: {}; target ≥ {}×: {verdict}",
                        t.metric.title(),
                        f.agent,
                        reference.agent,
                        ratio_cell(Some(r)),
                        t.at_least
                    )
                }
            };
            out.push(line);
        }
    }
    out
}

/// Where the targets apply, and whether this run is such a run.
fn targets_scope(ctx: &ReportContext<'_>) -> String {
    match ctx.backend {
        PeerBackend::Instant => "defined on the zero-latency stub, as this run".into(),
        other => format!(
            "defined on the zero-latency stub; this run used the {other}, so they are indicative only"
        ),
    }
}

/// One metric: per agent a row of sample dots, the bootstrap CI of the median as
/// an error bar and the median as a large dot ([`interval_plot`]).
fn metric_plot(m: PeerMetric, figures: &[AgentFigures]) -> Result<String, String> {
    let rows: Vec<IntervalRow<'_>> = figures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let x = f.get(m);
            IntervalRow {
                label: f.agent.clone(),
                color: i,
                samples: x.map_or(&[][..], |x| x.samples.as_slice()),
                center: x.and_then(|x| x.stats.map(|s| s.median)),
                ci: x.and_then(|x| x.stats.and_then(|s| s.ci)),
            }
        })
        .collect();
    interval_plot(m.title(), m.unit(), &rows)
}

/// Text for `peers.md`: Markdown, not HTML, so no HTML entities (a command's `'`
/// stays `'`). The characters that could start Markdown markup or raw HTML
/// (`` \ ` * < > [ | ``; a `]` alone starts nothing) are backslash-escaped, as is
/// an `&` that would start an entity reference; line breaks become spaces, so a
/// cell cannot break its table.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        match c {
            '\\' | '`' | '*' | '<' | '>' | '[' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '&' if starts_entity(&s[i + 1..]) => out.push_str("\\&"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Whether text after an `&` would make it an entity or character reference
/// (`&name;`, `&#123;`, `&#x1F;`).
fn starts_entity(rest: &str) -> bool {
    let body = rest.strip_prefix('#').unwrap_or(rest);
    let end = body
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(body.len());
    end > 0 && body[end..].starts_with(';')
}

/// A cell of the figures table: harness-formatted numbers (`6.2× [5.5, 7.0]`),
/// metric titles and agent names (letters, digits, `-`, `_`, `.`), so only what
/// would break the table is replaced.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Text inside a Markdown code span in a table cell: literal (backslash escapes do
/// not apply in code spans), so only what would end the span (`` ` ``, as `'`),
/// the cell (`|`, escaped as GFM tables allow) or the line is replaced.
fn md_code(s: &str) -> String {
    s.replace('`', "'")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PeersError> {
    std::fs::write(path, bytes).map_err(|source| PeersError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Renders `index.html` and `peers.md` into `out`.
pub(crate) fn write_peers_report(
    ctx: &ReportContext<'_>,
    out: &Path,
) -> Result<PeersReportPaths, PeersError> {
    let html_path = out.join("index.html");
    let md_path = out.join("peers.md");
    write(&html_path, render_html(ctx, &html_path)?.as_bytes())?;
    write(&md_path, render_markdown(ctx).as_bytes())?;
    Ok(PeersReportPaths {
        html: html_path,
        markdown: md_path,
    })
}

fn lead(ctx: &ReportContext<'_>) -> String {
    format!(
        "{} agent(s) × {} round(s) × {} run(s) per process against {} ({}). Each round runs \
         every agent once, in a seeded shuffled order (peers.json: order). Medians with a 95% \
         percentile-bootstrap CI of the median (2000 resamples, fixed seed); ratios are \
         agent / {} with a bootstrap CI of the ratio of medians (log scale).",
        ctx.agents.len(),
        ctx.rounds,
        ctx.runs,
        ctx.backend,
        ctx.url,
        ctx.agents.first().map_or("", |a| a.name.as_str()),
    )
}

fn prompt_line(p: &PromptCheck) -> String {
    if p.ok() {
        format!(
            "Prompts verified: {} call(s), {} (run, stage) pair(s): every recorded hash is the SHA-256 of its prompt and equal across agents.",
            p.calls_checked, p.pairs_compared
        )
    } else {
        format!(
            "Prompts DIFFER ({} issue(s), compared anyway with --force): {}",
            p.issues.len(),
            p.issues
                .iter()
                .take(5)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

fn render_html(ctx: &ReportContext<'_>, path: &Path) -> Result<String, PeersError> {
    let mut page = Page::new("agentbench peers");
    let mut s = String::new();
    let _ = writeln!(s, "<p class=\"lead\">{}</p>", e(&lead(ctx)));
    s.push_str("<h2 id=\"agents\">Agents</h2>\n<table><thead><tr><th>agent</th><th>command</th>\
                <th class=\"num\">processes</th><th class=\"num\">failed</th><th class=\"num\">runs recorded</th></tr></thead><tbody>\n");
    for a in ctx.agents {
        let procs: Vec<&ProcessRecord> =
            ctx.processes.iter().filter(|p| p.agent == a.name).collect();
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            e(&a.name),
            e(&a.given),
            procs.len(),
            procs.iter().filter(|p| !p.exit.success()).count(),
            procs.iter().map(|p| p.runs_recorded).sum::<usize>()
        );
    }
    s.push_str("</tbody></table>\n");
    let _ = writeln!(
        s,
        "<p{}>{}</p>",
        if ctx.prompt_check.ok() {
            ""
        } else {
            " class=\"err\""
        },
        e(&prompt_line(ctx.prompt_check))
    );
    if !ctx.failures.is_empty() {
        s.push_str("<h3 class=\"err\">Failed processes</h3>\n<ul>\n");
        for f in ctx.failures {
            let _ = writeln!(s, "<li class=\"err\">{}</li>", e(f));
        }
        s.push_str("</ul>\n");
    }
    if !ctx.notes.is_empty() {
        s.push_str("<h3>Notes</h3>\n<ul>\n");
        for n in ctx.notes {
            let _ = writeln!(s, "<li>{}</li>", e(n));
        }
        s.push_str("</ul>\n");
    }

    s.push_str("<h2 id=\"side-by-side\">Side by side</h2>\n<table><thead><tr>");
    let rows = table_rows(ctx);
    for h in &rows[0] {
        let _ = write!(s, "<th>{}</th>", e(h));
    }
    s.push_str("</tr></thead><tbody>\n");
    for row in &rows[1..] {
        s.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = if i == 0 { "" } else { " class=\"num\"" };
            let _ = write!(s, "<td{class}>{}</td>", e(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    let targets = target_lines(ctx);
    if !targets.is_empty() {
        let _ = writeln!(
            s,
            "<h3>Targets</h3>\n<p class=\"muted\">{}</p>\n<ul>",
            e(&targets_scope(ctx))
        );
        for t in targets {
            let _ = writeln!(s, "<li>{}</li>", e(&t));
        }
        s.push_str("</ul>\n");
    }

    s.push_str("<h2 id=\"plots\">Per metric</h2>\n");
    for m in PeerMetric::ALL {
        let svg = metric_plot(m, ctx.figures).map_err(|reason| {
            PeersError::Report(ReportError::Plot {
                plot: m.slug().to_string(),
                path: path.to_path_buf(),
                reason,
            })
        })?;
        let stats: Vec<String> = ctx
            .figures
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.agent,
                    stats_cell(f.get(m).and_then(|x| x.stats.as_ref()))
                )
            })
            .collect();
        let caption = format!("{} {}.", m.definition(), stats.join("; "));
        s.push_str(&figure(&format!("plot-{}", m.slug()), &svg, &e(&caption)));
    }

    s.push_str("<h2 id=\"processes\">Processes</h2>\n<p class=\"muted\">Every process as measured (also in peers.json).</p>\n<table><thead><tr><th class=\"num\">round</th><th class=\"num\">pos</th><th>agent</th><th>exit</th>\
                <th class=\"num\">wall ms</th><th class=\"num\">user ms</th><th class=\"num\">sys ms</th><th class=\"num\">peak RSS MB</th>\
                <th class=\"num\">start→first request ms</th><th>first request</th><th class=\"num\">runs</th><th>log</th></tr></thead><tbody>\n");
    for p in ctx.processes {
        let _ = writeln!(
            s,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td{}>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>",
            p.round,
            p.position,
            e(&p.agent),
            if p.exit.success() { "" } else { " class=\"err\"" },
            e(&p.exit.to_string()),
            num(p.wall_ns as f64 / 1e6),
            num(p.user_ns as f64 / 1e6),
            num(p.sys_ns as f64 / 1e6),
            num(p.peak_rss_bytes as f64 / 1e6),
            p.start_to_first_request_ns.map_or("–".into(), |v| num(v as f64 / 1e6)),
            e(p.first_request.as_deref().unwrap_or("–")),
            p.runs_recorded,
            e(&p.log_file.display().to_string()),
        );
    }
    s.push_str("</tbody></table>\n");
    page.push_html(&s);
    Ok(page.finish())
}

fn render_markdown(ctx: &ReportContext<'_>) -> String {
    let mut s = String::from("# agentbench peers\n\n");
    let _ = writeln!(s, "{}\n", md(&lead(ctx)));
    s.push_str("| agent | command |\n|---|---|\n");
    for a in ctx.agents {
        let _ = writeln!(s, "| {} | `{}` |", md(&a.name), md_code(&a.given));
    }
    let _ = writeln!(s, "\n{}\n", md(&prompt_line(ctx.prompt_check)));
    for f in ctx.failures {
        let _ = writeln!(s, "- **failed:** {}", md(f));
    }
    for n in ctx.notes {
        let _ = writeln!(s, "- note: {}", md(n));
    }
    let rows = table_rows(ctx);
    let _ = writeln!(
        s,
        "\n| {} |",
        rows[0]
            .iter()
            .map(|h| md_cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        s,
        "|---|{}",
        "---:|".repeat(rows[0].len().saturating_sub(1))
    );
    for row in &rows[1..] {
        let _ = writeln!(
            s,
            "| {} |",
            row.iter()
                .map(|c| md_cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    let targets = target_lines(ctx);
    if !targets.is_empty() {
        let _ = writeln!(s, "\nTargets ({}):\n", md(&targets_scope(ctx)));
        for t in targets {
            let _ = writeln!(s, "- {}", md(&t));
        }
    }
    s.push_str("\nDefinitions:\n\n");
    for m in PeerMetric::ALL {
        let _ = writeln!(s, "- **{}**: {}", m.title(), md(m.definition()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{md, md_code};

    #[test]
    fn markdown_text_has_no_html_entities_and_cannot_inject_markup() {
        assert_eq!(md("O'Brien & \"co\""), "O'Brien & \"co\"");
        assert_eq!(md("a && b"), "a && b");
        assert_eq!(md("<script>x</script>"), "\\<script\\>x\\</script\\>");
        assert_eq!(md("a|b\nc"), "a\\|b c");
        assert_eq!(md("[x](y) *z*"), "\\[x](y) \\*z\\*");
        // An `&` that would form an entity or character reference is escaped.
        assert_eq!(md("&amp; &#39; &#x27;"), "\\&amp; \\&#39; \\&#x27;");
        assert_eq!(md_code("sh -c 'a && b' | `x`"), "sh -c 'a && b' \\| 'x'");
    }
}
