//! Fuzzing on stable Rust: a hand-rolled, seeded, mutational fuzzer (no cargo-fuzz,
//! which needs nightly; no new dependency). Seeds are well-formed inputs — recorded
//! NDJSON streams and the committed corpus files — mutated by bit flips, byte
//! insertions (newlines, invalid UTF-8, JSON punctuation), deletions, duplications,
//! truncations and splices. Every input runs under `catch_unwind`; a crash is
//! counted and its seed/iteration printed so it can be replayed.
//!
//! Targets: the stream decoder (`LineSplitter` fed in random read sizes with a
//! small line bound, then `decode_chunk` and one `StreamDecoder` per stream, each
//! chunk given back to it as the client gives it back, both checked against
//! `decode_chunk_serde` on every line, and the chunk accessors), the SSE decoder of
//! the OpenAI-compatible protocol (the same splitter, then `decode_sse_line` and the
//! chunk accessors) and the ingest parsers (`ingest::parse_bytes` for CSV, JSON and
//! Markdown).
//!
//! The smoke run (`cargo test`) does 20 000 inputs per target. The long run:
//! `AGENTBENCH_FUZZ_ITERS=1000000 cargo test --release --test fuzz -- --nocapture`.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use agentbench::client::ndjson::{
    decode_chunk, decode_chunk_serde, DecodeError, LineSplitter, StreamDecoder, WireChunk,
};
use agentbench::client::sse::{decode_sse_line, SseDecoder, SseLine};
use agentbench::ingest::{parse_bytes, FileKind};
use agentbench::stub::SplitMix64;

fn iterations() -> u64 {
    std::env::var("AGENTBENCH_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn below(rng: &mut SplitMix64, n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (rng.next_u64() % n as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\xa6",
    // Not UTF-8 though shaped like it: overlong, an encoded surrogate, past U+10FFFF,
    // a lone continuation byte; and whole characters of each length.
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    "\u{e9}".as_bytes(),
    "\u{20ac}".as_bytes(),
    "\u{1F980}".as_bytes(),
    b"{",
    b"}",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b",",
    b":",
    b"[",
    b"]",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"\"done\":true",
    b"\"error\":\"x\"",
    b"\x00",
    b"#",
    b"|",
    b"---",
];

/// One random mutation (1 to 8 stacked) of `seed`, sometimes spliced with `other`.
fn mutate(rng: &mut SplitMix64, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    let rounds = 1 + below(rng, 8);
    for _ in 0..rounds {
        match below(rng, 7) {
            0 if !v.is_empty() => {
                let i = below(rng, v.len());
                v[i] ^= 1 << below(rng, 8);
            }
            1 => {
                let i = below(rng, v.len() + 1);
                let ins = INTERESTING[below(rng, INTERESTING.len())];
                v.splice(i..i, ins.iter().copied());
            }
            2 if !v.is_empty() => {
                let i = below(rng, v.len());
                let n = 1 + below(rng, (v.len() - i).min(64));
                v.drain(i..i + n);
            }
            3 if !v.is_empty() => {
                let i = below(rng, v.len());
                let n = 1 + below(rng, (v.len() - i).min(256));
                let dup: Vec<u8> = v[i..i + n].to_vec();
                let at = below(rng, v.len() + 1);
                v.splice(at..at, dup);
            }
            4 => {
                let n = below(rng, v.len() + 1);
                v.truncate(n);
            }
            5 if !other.is_empty() => {
                let i = below(rng, v.len() + 1);
                let j = below(rng, other.len());
                let n = 1 + below(rng, (other.len() - j).min(512));
                v.truncate(i);
                v.extend_from_slice(&other[j..j + n]);
            }
            _ if !v.is_empty() => {
                let i = below(rng, v.len());
                v[i] = rng.next_u64() as u8;
            }
            _ => v.push(rng.next_u64() as u8),
        }
    }
    v
}

/// Runs `target` on `iters` mutated inputs; returns the number of crashes.
fn fuzz(name: &str, seeds: &[Vec<u8>], seed: u64, target: impl Fn(&[u8])) -> u64 {
    let iters = iterations();
    let mut rng = SplitMix64::new(seed);
    let mut crashes = 0;
    let start = Instant::now();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..iters {
        let a = &seeds[below(&mut rng, seeds.len())];
        let b = &seeds[below(&mut rng, seeds.len())];
        let input = if i < seeds.len() as u64 {
            seeds[i as usize].clone()
        } else {
            mutate(&mut rng, a, b)
        };
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            crashes += 1;
            if crashes <= 3 {
                eprintln!(
                    "{name}: crash at iteration {i} (rng seed {seed}); input {:?}",
                    String::from_utf8_lossy(&input[..input.len().min(300)])
                );
            }
        }
    }
    std::panic::set_hook(hook);
    println!(
        "fuzz {name}: {iters} inputs in {:.1} s, {crashes} crashes",
        start.elapsed().as_secs_f64()
    );
    crashes
}

fn piece(text: &str) -> String {
    format!(
        "{{\"model\":\"gemma3:latest\",\"created_at\":\"2026-01-01T00:00:00.123456789Z\",\"response\":{},\"done\":false}}\n",
        serde_json::to_string(text).unwrap()
    )
}

fn chat_piece(text: &str, thinking: &str) -> String {
    format!(
        "{{\"model\":\"m\",\"created_at\":\"2026-01-01T00:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":{},\"thinking\":{}}},\"done\":false}}\n",
        serde_json::to_string(text).unwrap(),
        serde_json::to_string(thinking).unwrap()
    )
}

const FINAL: &str = "{\"model\":\"gemma3:latest\",\"created_at\":\"2026-01-01T00:00:01Z\",\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"context\":[1,2,3],\"total_duration\":5000000,\"load_duration\":1000,\"prompt_eval_count\":7,\"prompt_eval_duration\":2000,\"eval_count\":3,\"eval_duration\":3000}\n";

/// Recorded-style streams: generate and chat, multibyte text, an error line, a
/// final line without metrics.
fn stream_seeds() -> Vec<Vec<u8>> {
    let words = [
        "Hello",
        " wörld",
        " — 日本",
        " 🦀",
        "\n- bullet",
        " \"quoted\"",
        " <b>x</b>",
        // Non-ASCII runs longer than the reader's 8-byte scan word.
        " 日本語のテキストです",
        " Ελληνικά κείμενα",
    ];
    let mut generate = String::new();
    for w in words {
        generate.push_str(&piece(w));
    }
    generate.push_str(FINAL);
    let mut chat = String::new();
    for w in words {
        chat.push_str(&chat_piece(w, "hmm"));
    }
    chat.push_str("{\"model\":\"m\",\"created_at\":\"2026-01-01T00:00:01Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n");
    let error = format!("{}{{\"error\":\"model runner crashed\"}}\n", piece("a"));
    // Escapes as Ollama's Go encoder writes them (`<`, `>`, `&` as `\u00XX`), a
    // surrogate pair, every two-character escape.
    let escapes = format!(
        "{}{}{FINAL}",
        r#"{"response":"\u003cb\u003e \ud83e\udd80 \u0026 caf\u00e9","done":false}"#.to_owned()
            + "\n",
        r#"{"message":{"content":"\"\\\/\b\f\n\r\t","thinking":"\u2028"},"done":false}"#.to_owned()
            + "\n",
    );
    vec![
        generate.into_bytes(),
        chat.into_bytes(),
        error.into_bytes(),
        escapes.into_bytes(),
    ]
}

/// Everything a decode result says: value, text borrowed or owned, error.
fn view(r: &Result<WireChunk<'_>, DecodeError>) -> String {
    let owned = |c: &Option<Cow<'_, str>>| matches!(c, Some(Cow::Owned(_)));
    match r {
        Err(e) => format!("{e:?}"),
        Ok(c) => format!(
            "{c:?} owned {} {} {} {:?}",
            owned(&c.response),
            owned(&c.done_reason),
            owned(&c.error),
            c.message
                .as_ref()
                .map(|m| (owned(&m.content), owned(&m.thinking))),
        ),
    }
}

/// Asserts that `decode_chunk` (plain reader, serde_json fallback) says exactly
/// what serde_json alone says about `line`: value, text borrowed or owned, error.
fn assert_same_as_serde(line: &[u8]) {
    assert_eq!(
        view(&decode_chunk(line)),
        view(&decode_chunk_serde(line)),
        "line {:?}",
        String::from_utf8_lossy(line)
    );
}

/// The decoder target: split in random reads with a 2 KiB line bound, decode
/// every line, read every accessor. Checks that what is decoded is consistent.
fn decode_stream(data: &[u8]) {
    // The read sizes come from the data itself, so a crash replays exactly.
    let mut rng = SplitMix64::new(data.len() as u64 ^ data.first().copied().unwrap_or(0) as u64);
    let mut splitter = LineSplitter::new(2048);
    let mut decoder = StreamDecoder::new();
    let mut text = String::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = 1 + below(&mut rng, rest.len().min(97));
        let (read, tail) = rest.split_at(n);
        rest = tail;
        let outcome = splitter.push(read, |line| {
            assert!(line.len() <= 2048);
            assert!(!line.contains(&b'\n'));
            assert_same_as_serde(line);
            let mut chunk = WireChunk::default();
            let streamed = decoder.decode_into(line, &mut chunk).map(|()| chunk);
            assert_eq!(
                view(&streamed),
                view(&decode_chunk_serde(line)),
                "line {:?}, by the stream's decoder",
                String::from_utf8_lossy(line)
            );
            // Given back, as the client gives each chunk back: the next escaped
            // text is unescaped into this one's.
            if let Ok(chunk) = streamed {
                decoder.recycle(chunk);
            }
            match decode_chunk(line) {
                Ok(chunk) => {
                    text.push_str(chunk.content());
                    let _ = chunk.server_fields();
                    let _ = chunk.error.as_deref();
                    if chunk.done {
                        return Err(());
                    }
                    Ok(())
                }
                Err(e) => {
                    let _ = e.to_string();
                    Err(())
                }
            }
        });
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(())) | Err(_) => return,
        }
    }
    let remainder = splitter.take_remainder();
    assert_same_as_serde(&remainder);
    let _ = decode_chunk(&remainder);
}

#[test]
fn unmutated_streams_decode_whole() {
    let seed = &stream_seeds()[0];
    // Every read size, so every character and line boundary is split once.
    for size in 1..=seed.len().min(64) {
        let mut splitter = LineSplitter::new(2048);
        let mut text = String::new();
        let mut done = false;
        for read in seed.chunks(size) {
            splitter
                .push(read, |line| {
                    let c = decode_chunk(line).unwrap();
                    text.push_str(c.content());
                    done |= c.done;
                    Ok::<(), ()>(())
                })
                .unwrap()
                .unwrap();
        }
        assert!(done);
        assert_eq!(
            text,
            "Hello wörld — 日本 🦀\n- bullet \"quoted\" <b>x</b> 日本語のテキストです Ελληνικά κείμενα"
        );
    }
}

#[test]
fn fuzz_stream_decoder() {
    let crashes = fuzz(
        "stream decoder",
        &stream_seeds(),
        0x5eed_0001,
        decode_stream,
    );
    assert_eq!(crashes, 0);
}

/// OpenAI-compatible SSE streams as llama.cpp sends them: chat and completion
/// chunks with multibyte text, a comment, the finish and usage chunks, `[DONE]`, and
/// an error object mid-stream.
fn sse_seeds() -> Vec<Vec<u8>> {
    let words = [
        "Hello",
        " wörld",
        " — 日本",
        " 🦀",
        "\n- bullet",
        " \"quoted\"",
    ];
    let mut chat = String::from(": ping\n\n");
    let mut completion = String::new();
    for w in words {
        let w = serde_json::to_string(w).unwrap();
        chat += &format!("data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{w},\"reasoning_content\":null}},\"finish_reason\":null}}]}}\n\n");
        completion += &format!(
            "data: {{\"choices\":[{{\"text\":{w},\"index\":0,\"finish_reason\":null}}]}}\r\n\r\n"
        );
    }
    let tail = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":6,\"total_tokens\":15},\"timings\":{\"cache_n\":0,\"prompt_n\":9,\"prompt_ms\":1.5,\"predicted_n\":6,\"predicted_ms\":2.25}}\n\ndata: [DONE]\n\n";
    chat += tail;
    completion += tail;
    let error = "data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"code\":500}}\n\nerror: {\"message\":\"x\"}\n\n";
    vec![
        chat.into_bytes(),
        completion.into_bytes(),
        error.as_bytes().to_vec(),
    ]
}

/// The SSE target: like [`decode_stream`], with `decode_sse_line`, and one
/// `SseDecoder` per stream (as the client decodes, each chunk given back to it)
/// checked against it on every line.
fn decode_sse_stream(data: &[u8]) {
    let mut rng = SplitMix64::new(data.len() as u64 ^ data.last().copied().unwrap_or(0) as u64);
    let mut splitter = LineSplitter::new(2048);
    let mut decoder = SseDecoder::new();
    let mut text = String::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = 1 + below(&mut rng, rest.len().min(97));
        let (read, tail) = rest.split_at(n);
        rest = tail;
        let outcome = splitter.push(read, |line| {
            let decoded = decoder.decode(line);
            assert_eq!(
                format!("{decoded:?}"),
                format!("{:?}", decode_sse_line(line)),
                "line {:?}, by the stream's decoder",
                String::from_utf8_lossy(line)
            );
            if let Ok(SseLine::Chunk(chunk)) = decoded {
                decoder.recycle(chunk);
            }
            sse_outcome(line, &mut text)
        });
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(())) | Err(_) => return,
        }
    }
    let _ = decode_sse_line(&splitter.take_remainder());
}

/// What the SSE target does with one line's decoding: keeps its text; `Err` ends the
/// stream.
fn sse_outcome(line: &[u8], text: &mut String) -> Result<(), ()> {
    match decode_sse_line(line) {
        Ok(SseLine::Chunk(c)) => {
            text.push_str(c.content());
            let _ = (c.reasoning(), c.finish_reason(), &c.usage, &c.timings);
            Ok(())
        }
        Ok(SseLine::Other) => Ok(()),
        Ok(SseLine::Done) | Ok(SseLine::Error(_)) => Err(()),
        Err(e) => {
            let _ = e.to_string();
            Err(())
        }
    }
}

#[test]
fn unmutated_sse_streams_decode_whole() {
    for seed in &sse_seeds()[..2] {
        for size in 1..=64 {
            let mut splitter = LineSplitter::new(2048);
            let (mut text, mut done, mut usage) = (String::new(), false, None);
            for read in seed.chunks(size) {
                splitter
                    .push(read, |line| {
                        match decode_sse_line(line).unwrap() {
                            SseLine::Chunk(c) => {
                                text.push_str(c.content());
                                usage = c.usage.or(usage.take());
                            }
                            SseLine::Done => done = true,
                            SseLine::Other => {}
                            SseLine::Error(e) => panic!("{e}"),
                        }
                        Ok::<(), ()>(())
                    })
                    .unwrap()
                    .unwrap();
            }
            assert!(done, "read size {size}");
            assert_eq!(text, "Hello wörld — 日本 🦀\n- bullet \"quoted\"");
            assert_eq!(usage.unwrap().completion_tokens, Some(6));
        }
    }
}

#[test]
fn fuzz_sse_decoder() {
    let crashes = fuzz("SSE decoder", &sse_seeds(), 0x5eed_0005, decode_sse_stream);
    assert_eq!(crashes, 0);
}

/// Corpus seeds: a few committed files of each kind (first 4 KiB), plus small
/// hand-written edge cases.
fn corpus_seeds(ext: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data");
    let mut files: Vec<_> = walk(&root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    let mut seeds: Vec<Vec<u8>> = files
        .iter()
        .take(6)
        .map(|p| {
            let mut d = std::fs::read(p).unwrap();
            d.truncate(4096);
            d
        })
        .collect();
    seeds.push(match ext {
        "csv" => b"model,tokens_s,ttft_s,error\nm,80.0,0.3,\nm,NaN,,timeout\n\"q,\"\"x\",1e308,-0\n".to_vec(),
        "json" => br#"{"model":"m","results":[{"tokens_per_second":75.0,"ttft_s":0.4,"nested":{"a":[1,{"b":null}]}}],"x":1e400}"#.to_vec(),
        _ => b"# T\n\n## Key Findings\n\n- a **b**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n".to_vec(),
    });
    seeds
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn fuzz_ingest_parsers() {
    let mut crashes = 0;
    for (kind, ext, seed) in [
        (FileKind::Csv, "csv", 0x5eed_0002),
        (FileKind::Json, "json", 0x5eed_0003),
        (FileKind::Markdown, "md", 0x5eed_0004),
    ] {
        let seeds = corpus_seeds(ext);
        crashes += fuzz(&format!("ingest {ext}"), &seeds, seed, |data| {
            let _ = parse_bytes(kind, data);
        });
    }
    assert_eq!(crashes, 0);
}
