//! The client's NDJSON path on a recorded 1000-chunk `/api/generate` stream
//! (`benches/fixtures/generate-1000.ndjson`, built by the instant stub's responder):
//! `LineSplitter` + `decode_chunk` over the whole body fed in reads of 1–4 KiB.
//! `Throughput::Elements(1000)`: criterion reports the cost per content chunk
//! (the final `done` line is included in the cost). Target ≤ 0.15 µs per chunk.

use std::hint::black_box;

use agentbench::client::ndjson::{decode_chunk, DecodeError, LineSplitter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod support;

const CHUNKS: u64 = 1000;

/// Splits and decodes the whole body; returns (content chunks, lines).
fn split_decode(body: &[u8], reads: &[(usize, usize)]) -> (u64, u64) {
    let mut splitter = LineSplitter::default();
    let (mut content, mut lines) = (0u64, 0u64);
    for &(a, b) in reads {
        splitter
            .push::<DecodeError>(&body[a..b], |line| {
                let chunk = decode_chunk(line)?;
                lines += 1;
                if !chunk.content().is_empty() {
                    content += 1;
                }
                black_box(&chunk);
                Ok(())
            })
            .expect("no line is too long")
            .expect("every line decodes");
    }
    (content, lines)
}

/// As the client does per line: decode, then keep the text and a receive offset.
fn split_decode_accumulate(body: &[u8], reads: &[(usize, usize)]) -> (String, Vec<u64>) {
    let mut splitter = LineSplitter::default();
    let mut text = String::new();
    let mut offsets = Vec::with_capacity(256);
    for (i, &(a, b)) in reads.iter().enumerate() {
        let at = i as u64;
        splitter
            .push::<DecodeError>(&body[a..b], |line| {
                let chunk = decode_chunk(line)?;
                let piece = chunk.content();
                if !piece.is_empty() {
                    offsets.push(at);
                    text.push_str(piece);
                }
                Ok(())
            })
            .expect("no line is too long")
            .expect("every line decodes");
    }
    (text, offsets)
}

fn bench_decode(c: &mut Criterion) {
    let body = support::fixture_1000();
    let reads = support::read_ranges(body.len(), 7);
    let (content, lines) = split_decode(&body, &reads);
    assert_eq!(content, CHUNKS, "the fixture holds 1000 content chunks");
    assert_eq!(lines, CHUNKS + 1, "plus the final done object");

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(CHUNKS));
    g.bench_function("split+decode/1000 chunks", |b| {
        b.iter(|| split_decode(black_box(&body), &reads))
    });
    g.bench_function("split+decode+accumulate/1000 chunks", |b| {
        b.iter(|| split_decode_accumulate(black_box(&body), &reads))
    });
    g.finish();
    println!(
        "decode: fixture {} bytes, {} lines, {} reads of 1-4 KiB",
        body.len(),
        lines,
        reads.len()
    );
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_decode
}
criterion_main!(benches);
