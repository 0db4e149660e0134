//! Ingest: walk + parse `mock-data/` (101 files), and summarize the parsed corpus.
//! Target: ≤ 1 ms per warm ingest.

use std::hint::black_box;

use agentbench::ingest::{ingest, summarize, IngestOptions};
use criterion::{criterion_group, criterion_main, Criterion};

mod support;

fn bench_ingest(c: &mut Criterion) {
    let root = support::mock_data();
    let opts = IngestOptions::default();
    let corpus = ingest(&root, &opts).expect("mock-data/ ingests");
    assert_eq!(corpus.stats().files, 101, "mock-data/ has 101 files");

    let mut g = c.benchmark_group("ingest");
    g.bench_function("ingest(mock-data)", |b| {
        b.iter(|| ingest(black_box(&root), &opts).expect("ingests"))
    });
    g.bench_function("summarize(corpus)", |b| {
        b.iter(|| summarize(black_box(&corpus)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_ingest
}
criterion_main!(benches);
