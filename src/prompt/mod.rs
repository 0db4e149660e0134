//! Prompts for the two LLM calls of the workflow, their hashes, and the tolerant
//! parser of the analysis response.
//!
//! Guarantees: prompts are byte-stable (same [`DataSummary`] → same bytes: no clock, no
//! random or hash-map order, fixed float formatting) and built from templates whose
//! hashes [`template_hashes`] reports.

mod parse;

pub use parse::{parse_analysis, Analysis, MAX_ITEMS, MAX_ITEM_BYTES, MAX_SUMMARY_BYTES};

use crate::ingest::{ConfigAggregate, DataSummary, Dist};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Version of the code that renders tables into the templates; part of every template
/// hash, bumped whenever rendering changes the bytes of a prompt.
pub const RENDER_VERSION: &str = "render-v1";

/// Template of the analysis prompt; `{name}` placeholders are filled by [`analysis_prompt`].
pub const ANALYSIS_TEMPLATE: &str = "\
You are a performance engineer analysing local LLM inference benchmarks (Ollama).
The data below was extracted from {files} benchmark files ({csv} CSV, {json} JSON, {md} Markdown; {kib} KiB) \
holding {observations} timed calls. Use only these numbers; do not invent data.
Throughput is the server's decode rate (eval_count / eval_duration). TTFT is time to first token; \
cold calls include a model load, so keep warm and cold TTFT apart.

## Data

### Per model
{models}
### Configurations by mean decode tok/s (top and bottom; options empty = Ollama defaults)
{configs}
### Errors
{errors}
### Findings stated in the Markdown reports
{findings}
### Key metrics stated in the Markdown reports
{key_metrics}
## Task

Analyse this data. Reply in markdown with exactly these four sections, in this order, and nothing else:

## Executive Summary
One paragraph of 3-5 sentences.

## Key Findings
- 3 to 6 bullets, each citing numbers from the data.

## Performance Metrics
- Bullets on decode throughput, warm and cold TTFT and errors, with numbers.

## Recommendations
- 3 to 5 concrete, actionable bullets.
";

/// Template of the report prompt; `{name}` placeholders are filled by [`report_prompt`].
pub const REPORT_TEMPLATE: &str = "\
You are a technical writer. Write a technical report in markdown on local LLM inference \
benchmarks (Ollama), from the analysis and the measured data below. Use only these numbers; \
do not invent data. Keep warm and cold TTFT apart.

# Analysis (from a previous step)

## Executive Summary
{summary}

## Key Findings
{findings}
## Performance Metrics
{metrics}
## Recommendations
{recommendations}
# Measured data

## Corpus
{files} files ({csv} CSV, {json} JSON, {md} Markdown; {kib} KiB), {observations} timed calls, \
{skipped} skipped files.
{dirs}
## Per model
{models}
## Configurations by mean decode tok/s (top and bottom; options empty = Ollama defaults)
{configs}
## Errors
{errors}
## Key metrics stated in the Markdown reports
{key_metrics}
# Task

Write the report with these sections, in this order:

# Technical Report: LLM Inference Benchmarks
## 1. Executive Summary
## 2. Data Overview (files, models, configurations, number of calls)
## 3. Key Findings
## 4. Performance Metrics (tables of throughput and TTFT per model and configuration)
## 5. Recommendations
## 6. Appendix (data sources by folder, error list, method notes)

Use markdown tables for numbers and bullets for findings and recommendations.
";

/// Lowercase hex SHA-256 of the prompt's UTF-8 bytes (64 characters).
pub fn prompt_hash(prompt: &str) -> String {
    hex_sha256(prompt.as_bytes())
}

fn hex_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Hash of each template (`"analysis"`, `"report"`): SHA-256 of the template text, a NUL
/// byte and [`RENDER_VERSION`]. Equal hashes mean the prompt-building code is unchanged.
pub fn template_hashes() -> BTreeMap<&'static str, String> {
    let h = |t: &str| {
        let mut bytes = t.as_bytes().to_vec();
        bytes.push(0);
        bytes.extend_from_slice(RENDER_VERSION.as_bytes());
        hex_sha256(&bytes)
    };
    BTreeMap::from([
        ("analysis", h(ANALYSIS_TEMPLATE)),
        ("report", h(REPORT_TEMPLATE)),
    ])
}

/// Single-pass `{name}` substitution: inserted values are never rescanned.
fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + vars.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) if vars.iter().any(|(n, _)| *n == name) => {
                let value = vars.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v);
                out.push_str(value);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn dist_cell(d: Option<&Dist>, decimals: usize) -> String {
    match d {
        Some(d) => format!("{:.*} ({})", decimals, d.mean, d.n),
        None => "-".to_string(),
    }
}

fn models_table(s: &DataSummary) -> String {
    let mut t = String::from(
        "| model | calls | errors | tok/s mean | tok/s median | tok/s min-max | warm TTFT s (n) | cold TTFT s (n) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for m in &s.models {
        let (mean, median, range) = match &m.tokens_per_second {
            Some(d) => (
                format!("{:.2}", d.mean),
                format!("{:.2}", d.median),
                format!("{:.2}-{:.2}", d.min, d.max),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {mean} | {median} | {range} | {} | {} |",
            m.model,
            m.calls,
            m.errors,
            dist_cell(m.ttft_warm_s.as_ref(), 3),
            dist_cell(m.ttft_cold_s.as_ref(), 3)
        );
    }
    t
}

/// Configurations with at least 3 successful calls, sorted by mean tok/s (descending,
/// ties in key order): the `top` best then the `bottom` worst, and how many qualified.
fn ranked_configs(s: &DataSummary, top: usize, bottom: usize) -> (Vec<&ConfigAggregate>, usize) {
    let mut v: Vec<&ConfigAggregate> = s
        .configs
        .iter()
        .filter(|c| c.tokens_per_second.as_ref().is_some_and(|d| d.n >= 3))
        .collect();
    let mean = |c: &ConfigAggregate| c.tokens_per_second.as_ref().map_or(0.0, |d| d.mean);
    v.sort_by(|a, b| mean(b).total_cmp(&mean(a))); // stable: ties keep key order
    let total = v.len();
    if total > top + bottom {
        let tail = v.split_off(total - bottom);
        v.truncate(top);
        v.extend(tail);
    }
    (v, total)
}

fn configs_table(s: &DataSummary, top: usize, bottom: usize) -> String {
    let (v, total) = ranked_configs(s, top, bottom);
    let mut t = String::from("| rank | model | num_gpu | num_ctx | temperature | tok/s mean (n) | warm TTFT s | cold TTFT s | errors |\n|---|---|---|---|---|---|---|---|---|\n");
    let shown_top = top.min(v.len());
    for (i, c) in v.iter().enumerate() {
        let rank = if i < shown_top {
            i + 1
        } else {
            total - (v.len() - i) + 1
        };
        let opt = |x: Option<i64>| x.map_or(String::new(), |x| x.to_string());
        let _ = writeln!(
            t,
            "| {rank}/{total} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.model,
            opt(c.num_gpu),
            opt(c.num_ctx),
            c.temperature.map_or(String::new(), |x| format!("{x:.2}")),
            dist_cell(c.tokens_per_second.as_ref(), 2),
            c.ttft_warm_s
                .as_ref()
                .map_or("-".into(), |d| format!("{:.3}", d.mean)),
            c.ttft_cold_s
                .as_ref()
                .map_or("-".into(), |d| format!("{:.3}", d.mean)),
            c.errors
        );
    }
    t
}

fn errors_text(s: &DataSummary, max: usize) -> String {
    if s.errors.total == 0 {
        return "No failed calls.\n".to_string();
    }
    let mut t = format!("{} failed calls of {}:\n", s.errors.total, s.observations);
    for e in s.errors.by_message.iter().take(max) {
        let _ = writeln!(t, "- {} x {}", e.count, parse::truncate(&e.message, 160));
    }
    t
}

fn findings_text(s: &DataSummary, max: usize) -> String {
    let mut t = String::new();
    for f in s.findings.iter().take(max) {
        let _ = writeln!(t, "- {} ({})", parse::truncate(&f.text, 240), f.source);
    }
    if t.is_empty() {
        t.push_str("None.\n");
    }
    t
}

fn key_metrics_text(s: &DataSummary, max: usize) -> String {
    let mut t = String::new();
    let mut last_source = "";
    for m in s.key_metrics.iter().take(max) {
        if m.source != last_source {
            let _ = writeln!(t, "- {}:", m.source);
            last_source = &m.source;
        }
        let _ = writeln!(
            t,
            "  - {}: {}",
            parse::truncate(&m.metric, 80),
            parse::truncate(&m.value, 120)
        );
    }
    if t.is_empty() {
        t.push_str("None.\n");
    }
    t
}

fn corpus_vars(s: &DataSummary) -> [(&'static str, String); 6] {
    [
        ("files", s.stats.files.to_string()),
        ("csv", s.stats.csv.to_string()),
        ("json", s.stats.json.to_string()),
        ("md", s.stats.markdown.to_string()),
        ("kib", format!("{:.1}", s.stats.bytes as f64 / 1024.0)),
        ("observations", s.observations.to_string()),
    ]
}

/// The analysis prompt: instructions for the four-section response format
/// (`## Executive Summary`, `## Key Findings`, `## Performance Metrics`,
/// `## Recommendations`) plus the data summary as compact tables. Byte-stable.
pub fn analysis_prompt(summary: &DataSummary) -> String {
    let models = models_table(summary);
    let configs = configs_table(summary, 5, 3);
    let errors = errors_text(summary, 4);
    let findings = findings_text(summary, 6);
    let key_metrics = key_metrics_text(summary, 7);
    let corpus = corpus_vars(summary);
    let mut vars: Vec<(&str, &str)> = corpus.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.extend([
        ("models", models.as_str()),
        ("configs", configs.as_str()),
        ("errors", errors.as_str()),
        ("findings", findings.as_str()),
        ("key_metrics", key_metrics.as_str()),
    ]);
    render(ANALYSIS_TEMPLATE, &vars)
}

fn list_text(items: &[String], max: usize) -> String {
    let mut t = String::new();
    for i in items.iter().take(max) {
        let _ = writeln!(t, "- {}", parse::truncate(i, 300));
    }
    if t.is_empty() {
        t.push_str("(none given)\n");
    }
    t
}

/// The report prompt: the parsed analysis (bounded: summary ≤ 1200 bytes, ≤ 10 items
/// per list) plus measured aggregates, asking for a six-section markdown report.
/// Byte-stable.
pub fn report_prompt(analysis: &Analysis, summary: &DataSummary) -> String {
    let summary_text = if analysis.summary.is_empty() {
        "(none given)".to_string()
    } else {
        parse::truncate(&analysis.summary, 1200).to_string()
    };
    let findings = list_text(&analysis.findings, 10);
    let metrics = list_text(&analysis.metrics, 10);
    let recommendations = list_text(&analysis.recommendations, 10);
    let mut dirs =
        String::from("| folder | CSV | JSON | Markdown | KiB |\n|---|---|---|---|---|\n");
    for d in &summary.dirs {
        let _ = writeln!(
            dirs,
            "| {} | {} | {} | {} | {:.1} |",
            d.dir,
            d.csv,
            d.json,
            d.markdown,
            d.bytes as f64 / 1024.0
        );
    }
    let models = models_table(summary);
    let configs = configs_table(summary, 10, 5);
    let errors = errors_text(summary, 6);
    let key_metrics = key_metrics_text(summary, 12);
    let skipped = summary.stats.skipped.len().to_string();
    let corpus = corpus_vars(summary);
    let mut vars: Vec<(&str, &str)> = corpus.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.extend([
        ("summary", summary_text.as_str()),
        ("findings", findings.as_str()),
        ("metrics", metrics.as_str()),
        ("recommendations", recommendations.as_str()),
        ("skipped", skipped.as_str()),
        ("dirs", dirs.as_str()),
        ("models", models.as_str()),
        ("configs", configs.as_str()),
        ("errors", errors.as_str()),
        ("key_metrics", key_metrics.as_str()),
    ]);
    render(REPORT_TEMPLATE, &vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_is_single_pass_and_keeps_unknown_braces() {
        let out = render("a {x} {y} {unknown} {", &[("x", "{y}"), ("y", "2")]);
        assert_eq!(out, "a {y} 2 {unknown} {");
    }

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        assert_eq!(
            prompt_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let t = template_hashes();
        assert_eq!(
            t.keys().copied().collect::<Vec<_>>(),
            ["analysis", "report"]
        );
        assert!(t
            .values()
            .all(|h| h.len() == 64 && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))));
        assert_ne!(t["analysis"], t["report"]);
    }
}
