//! The client's NDJSON path on a recorded 1000-chunk `/api/generate` stream
//! (`benches/fixtures/generate-1000.ndjson`, built by the instant stub's responder):
//! `LineSplitter` + one `StreamDecoder` per stream (as the client calls them) over the
//! whole body fed in reads of 1–4 KiB. `line by line/…`: the same with
//! `decode_chunk_into` on each line alone, every line read whole (what a stream
//! decoder does for a line that does not repeat an earlier line's shape).
//! `Throughput::Elements(1000)`: criterion reports the cost per content chunk
//! (the final `done` line is included in the cost). Target ≤ 0.15 µs per chunk.
//!
//! `escaped/…`: the same stream shape with every chunk's text holding JSON escapes
//! (see [`escaped_body`]): the case where LLM output is code, quotes or lines.
//!
//! `sse/…`: the OpenAI-compatible protocol's path, `LineSplitter` + one `SseDecoder`
//! per stream, each chunk given back to it (as the client decodes), on a 1000-chunk
//! `/v1/completions` stream built by the instant stub's responder; `sse/line by
//! line/…`: `decode_sse_line` (serde_json) on every line alone.

use std::hint::black_box;

use agentbench::client::ndjson::{
    decode_chunk_into, DecodeError, LineSplitter, StreamDecoder, WireChunk,
};
use agentbench::client::sse::{decode_sse_line, SseDecoder, SseLine};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod support;

const CHUNKS: u64 = 1000;

/// Splits `body` in the reads `reads` and hands each line to `decode`, which says
/// whether the line carried content; returns (content chunks, lines).
fn split_each(
    body: &[u8],
    reads: &[(usize, usize)],
    mut decode: impl FnMut(&[u8]) -> Result<bool, DecodeError>,
) -> (u64, u64) {
    let mut splitter = LineSplitter::default();
    let (mut content, mut lines) = (0u64, 0u64);
    for &(a, b) in reads {
        splitter
            .push::<DecodeError>(&body[a..b], |line| {
                lines += 1;
                content += u64::from(decode(line)?);
                Ok(())
            })
            .expect("no line is too long")
            .expect("every line decodes");
    }
    (content, lines)
}

/// Splits and decodes the whole body (with one [`StreamDecoder`], or each line alone
/// when `line_by_line`); returns (content chunks, lines).
fn split_decode(body: &[u8], reads: &[(usize, usize)], line_by_line: bool) -> (u64, u64) {
    let mut decoder = StreamDecoder::new();
    split_each(body, reads, |line| {
        let mut chunk = WireChunk::default();
        if line_by_line {
            decode_chunk_into(line, &mut chunk)?;
        } else {
            decoder.decode_into(line, &mut chunk)?;
        }
        let content = !chunk.content().is_empty();
        black_box(&chunk);
        Ok(content)
    })
}

/// As the client does per line: decode, then keep the text and a receive offset.
fn split_decode_accumulate(body: &[u8], reads: &[(usize, usize)]) -> (String, Vec<u64>) {
    let mut splitter = LineSplitter::default();
    let mut decoder = StreamDecoder::new();
    let mut text = String::new();
    let mut offsets = Vec::with_capacity(256);
    for (i, &(a, b)) in reads.iter().enumerate() {
        let at = i as u64;
        splitter
            .push::<DecodeError>(&body[a..b], |line| {
                let mut chunk = WireChunk::default();
                decoder.decode_into(line, &mut chunk)?;
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

/// Splits and decodes an SSE body (with one [`SseDecoder`], or each line alone when
/// `line_by_line`); returns (content chunks, lines).
fn split_decode_sse(body: &[u8], reads: &[(usize, usize)], line_by_line: bool) -> (u64, u64) {
    let mut decoder = SseDecoder::new();
    split_each(body, reads, |line| {
        let decoded = if line_by_line {
            decode_sse_line(line)?
        } else {
            decoder.decode(line)?
        };
        let SseLine::Chunk(chunk) = decoded else {
            return Ok(false);
        };
        let content = !chunk.content().is_empty();
        black_box(&chunk);
        if !line_by_line {
            // As the client does: the chunk goes back to the decoder.
            decoder.recycle(chunk);
        }
        Ok(content)
    })
}

/// Realistic pieces of LLM output, each of which JSON escapes: lines, quotes,
/// backslashes, tabs, and the `<`, `>`, `&` that Ollama's Go encoder writes as
/// `\u003c`, `\u003e`, `\u0026`.
const ESCAPED_PIECES: [&str; 10] = [
    "line\n",
    " said \"ok\"",
    "```rust\nfn main() {\n",
    "\tprintln!(\"{x}\");\n",
    " if a < b && c > d",
    "}\n```\n\n",
    " C:\\path",
    " caf\u{e9}\n",
    " <b>bold</b>",
    "\n- item",
];

/// A 1000-chunk generate stream like the fixture's, every chunk's text one of
/// [`ESCAPED_PIECES`] encoded as Ollama encodes it, then the fixture's final line.
fn escaped_body(fixture: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..CHUNKS as usize {
        let text = serde_json::to_string(ESCAPED_PIECES[i % ESCAPED_PIECES.len()])
            .expect("a string serializes")
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        body.extend_from_slice(
            format!(
                r#"{{"model":"gemma3:latest","created_at":"2026-11-28T00:19:09.046192453Z","response":{text},"done":false}}"#
            )
            .as_bytes(),
        );
        body.push(b'\n');
    }
    let last = fixture[..fixture.len() - 1]
        .rsplit(|&b| b == b'\n')
        .next()
        .expect("the fixture's final line");
    body.extend_from_slice(last);
    body.push(b'\n');
    body
}

fn bench_decode(c: &mut Criterion) {
    let body = support::fixture_1000();
    let reads = support::read_ranges(body.len(), 7);
    let (content, lines) = split_decode(&body, &reads, false);
    assert_eq!(
        split_decode(&body, &reads, true),
        (content, lines),
        "line by line, the same chunks"
    );
    assert_eq!(content, CHUNKS, "the fixture holds 1000 content chunks");
    assert_eq!(lines, CHUNKS + 1, "plus the final done object");

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(CHUNKS));
    g.bench_function("split+decode/1000 chunks", |b| {
        b.iter(|| split_decode(black_box(&body), &reads, false))
    });
    g.bench_function("line by line/split+decode/1000 chunks", |b| {
        b.iter(|| split_decode(black_box(&body), &reads, true))
    });
    g.bench_function("split+decode+accumulate/1000 chunks", |b| {
        b.iter(|| split_decode_accumulate(black_box(&body), &reads))
    });
    let escaped = escaped_body(&body);
    let escaped_reads = support::read_ranges(escaped.len(), 7);
    assert_eq!(
        split_decode(&escaped, &escaped_reads, false),
        (CHUNKS, CHUNKS + 1),
        "every escaped chunk decodes to text"
    );
    g.bench_function("escaped/split+decode/1000 chunks", |b| {
        b.iter(|| split_decode(black_box(&escaped), &escaped_reads, false))
    });
    let sse = support::stub_sse_stream(CHUNKS as usize);
    let sse_reads = support::read_ranges(sse.len(), 7);
    let (sse_content, sse_lines) = split_decode_sse(&sse, &sse_reads, false);
    assert_eq!(
        split_decode_sse(&sse, &sse_reads, true),
        (sse_content, sse_lines),
        "line by line, the same chunks"
    );
    assert_eq!(
        sse_content, CHUNKS,
        "the SSE stream holds 1000 content chunks"
    );
    g.bench_function("sse/split+decode/1000 chunks", |b| {
        b.iter(|| split_decode_sse(black_box(&sse), &sse_reads, false))
    });
    g.bench_function("sse/line by line/split+decode/1000 chunks", |b| {
        b.iter(|| split_decode_sse(black_box(&sse), &sse_reads, true))
    });
    g.finish();
    println!(
        "decode: SSE stream {} bytes, {} lines (data: [DONE] and the usage chunk included)",
        sse.len(),
        sse_lines
    );
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
