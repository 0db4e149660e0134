//! Prompt building from a fixed summary (`mock-data/`): the analysis prompt, and
//! the report prompt from an analysis parsed out of the instant stub's text.

use std::hint::black_box;

use agentbench::prompt::{analysis_prompt, parse_analysis, report_prompt};
use agentbench::stub::DEFAULT_TEXT;
use criterion::{criterion_group, criterion_main, Criterion};

mod support;

fn bench_prompt(c: &mut Criterion) {
    let summary = support::mock_summary();
    let analysis = parse_analysis(DEFAULT_TEXT);
    assert!(
        !analysis.findings.is_empty(),
        "the stub's text parses into an analysis with findings"
    );

    let mut g = c.benchmark_group("prompt");
    g.bench_function("analysis_prompt", |b| {
        b.iter(|| analysis_prompt(black_box(&summary)))
    });
    g.bench_function("report_prompt", |b| {
        b.iter(|| report_prompt(black_box(&analysis), black_box(&summary)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_prompt
}
criterion_main!(benches);
