//! Trace import and export (src/trace, docs/traces.md): the samples parse; export
//! → import → export is byte-identical; shared `hash_ids` give identical prompt
//! prefixes of the stated length; Mooncake times scale; sub-agents flatten in
//! order; bad input is refused with file:line, the field and the fix, or skipped
//! and reported on request; never truncated silently.

use std::path::{Path, PathBuf};

use agentbench::client::{CallRecord, Endpoint, LlamaTimings, ServerFields, Usage};
use agentbench::load::record::{LoadHeader, LoadLine, LoadPlanInfo, RequestRecord};
use agentbench::load::session::{TurnInput, TurnRef};
use agentbench::provenance::{Harness, Host};
use agentbench::record::Backend;
use agentbench::stub::CapacityModel;
use agentbench::trace::{
    export_load_file, read_trace, synth::synth_prompt, ReadOptions, TraceError, TraceFormat,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample(name: &str) -> PathBuf {
    root().join("traces").join(name)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn to_string(trace: &agentbench::trace::Trace) -> String {
    let mut out = Vec::new();
    trace.write_jsonl(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn prompts(script: &agentbench::load::session::SessionScript) -> Vec<&str> {
    script
        .turns
        .iter()
        .map(|t| match &t.input {
            TurnInput::Prompt(p) => p.as_str(),
            other => panic!("a trace turn sends a prompt, got {other:?}"),
        })
        .collect()
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[test]
fn the_samples_parse() {
    let m = read_trace(&sample("sample-mooncake.jsonl"), &ReadOptions::default()).unwrap();
    assert_eq!(m.format, TraceFormat::Mooncake);
    assert_eq!(m.trace.sessions.len(), 20);
    assert_eq!(m.skipped.count, 0);
    let a = read_trace(&sample("sample-agentic.jsonl"), &ReadOptions::default()).unwrap();
    assert_eq!(a.format, TraceFormat::Agentic);
    assert_eq!(a.trace.sessions.len(), 5);
    assert_eq!(a.trace.request_count(), 19);
    assert_eq!(a.trace.block_tokens, 512);
    let text = std::fs::read_to_string(sample("sample-agentic.jsonl")).unwrap();
    assert_eq!(a.sha256, agentbench::prompt::prompt_hash(&text));
    for t in [&m.trace, &a.trace] {
        let scripts = t.to_scripts(1.0).unwrap();
        assert_eq!(
            scripts.iter().map(|s| s.turns.len() as u64).sum::<u64>(),
            t.request_count()
        );
    }
}

#[test]
fn the_agentic_sample_is_canonical() {
    let path = sample("sample-agentic.jsonl");
    let a = read_trace(&path, &ReadOptions::default()).unwrap();
    assert_eq!(to_string(&a.trace), std::fs::read_to_string(&path).unwrap());
}

#[test]
fn shared_hash_ids_give_identical_prompt_prefixes() {
    let a = read_trace(&sample("sample-agentic.jsonl"), &ReadOptions::default()).unwrap();
    let scripts = a.trace.to_scripts(1.0).unwrap();
    // s0: [0,1,2] then [0,1,3,4,5]: two shared blocks of 512 tokens = 2 × 2048 bytes.
    let s0 = prompts(&scripts[0]);
    let shared = common_prefix(s0[0], s0[1]);
    assert!((2 * 2048..2 * 2048 + 16).contains(&shared), "{shared}");
    // s0 and s1 share their system blocks [0, 1] and then differ.
    let s1 = prompts(&scripts[1]);
    let shared = common_prefix(s0[0], s1[0]);
    assert!((2 * 2048..2 * 2048 + 16).contains(&shared), "{shared}");
    // every prompt is exactly its `in` under the stubs' bytes/4 approximation.
    for (script, session) in scripts.iter().zip(&a.trace.sessions) {
        let p = prompts(script);
        assert_eq!(
            CapacityModel::prompt_tokens(p[0].len() as u64),
            session.requests[0].input_tokens
        );
    }
}

#[test]
fn prefix_sharing_holds_for_any_split() {
    let a = synth_prompt(&[9, 8, 7, 6], 2000, 512).unwrap();
    for j in 0..4u64 {
        let mut ids = vec![9, 8, 7, 6];
        ids[j as usize] = 100;
        let b = synth_prompt(&ids, 1800, 512).unwrap();
        let shared = common_prefix(&a, &b) as u64;
        assert!(
            (j * 2048..j * 2048 + 16).contains(&shared),
            "j {j}: {shared}"
        );
        assert_eq!(CapacityModel::prompt_tokens(b.len() as u64), 1800);
    }
}

#[test]
fn mooncake_timestamps_scale_with_time_scale() {
    let m = read_trace(&sample("sample-mooncake.jsonl"), &ReadOptions::default()).unwrap();
    let first = m.trace.sessions[0].start_ms;
    for scale in [1.0, 2.0, 0.5] {
        let scripts = m.trace.to_scripts(scale).unwrap();
        for (s, script) in m.trace.sessions.iter().zip(&scripts) {
            let want = ((s.start_ms - first) as f64 * 1e6 * scale).round() as u64;
            assert_eq!(script.start_ns, Some(want));
            assert_eq!(script.turns.len(), 1);
            assert_eq!(
                script.turns[0].max_tokens,
                Some(s.requests[0].output_tokens as u32)
            );
        }
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            m.trace.to_scripts(bad),
            Err(TraceError::TimeScale(_))
        ));
    }
}

#[test]
fn subagent_requests_follow_their_parent_request() {
    let a = read_trace(&sample("sample-agentic.jsonl"), &ReadOptions::default()).unwrap();
    let scripts = a.trace.to_scripts(2.0).unwrap();
    let s2 = &a.trace.sessions[2];
    let script = &scripts[2];
    assert_eq!(script.start_ns, Some(2 * 2300 * 1_000_000));
    let p = prompts(script);
    let r = &s2.requests;
    let sub = &r[0].subagent;
    let order = [&r[0], &sub[0], &sub[1], &r[1], &r[2]];
    assert_eq!(p.len(), order.len());
    for ((prompt, req), turn) in p.iter().zip(order).zip(&script.turns) {
        assert_eq!(prompt.len() as u64, 4 * req.input_tokens);
        assert_eq!(turn.max_tokens, Some(req.output_tokens as u32));
    }
    let thinks: Vec<u64> = script
        .turns
        .iter()
        .map(|t| t.think_ns / 1_000_000)
        .collect();
    assert_eq!(thinks, [0, 100, 600, 2400, 1600]);
}

// ---- export ----

fn header() -> LoadHeader {
    LoadHeader {
        schema_version: 1,
        harness: Harness::current(),
        host: Host::current(),
        backend: Backend {
            url: "http://127.0.0.1:1".into(),
            protocol: "ollama".into(),
            endpoint: Endpoint::Generate,
            stub: None,
        },
        server: Default::default(),
        model: "m".into(),
        settings: Default::default(),
        plan: LoadPlanInfo {
            mode: "closed".into(),
            concurrency: Some(2),
            think_ns: 0,
            rate: None,
            arrival: None,
            max_concurrency: None,
            seed: 1,
            requests: None,
            duration_ns: None,
            warmup_ns: 0,
            warmup_first: 0,
            schedule: None,
            slo: None,
            max_lag_ns: 0,
            shard: None,
            shards: Vec::new(),
            agent: None,
        },
        prompts: Vec::new(),
        origin_unix_ns: 0,
    }
}

fn call(prompt_sha: &str, bytes: u64, server: ServerFields, response: &str) -> CallRecord {
    CallRecord {
        endpoint: Endpoint::Generate,
        model: "m".into(),
        settings: Default::default(),
        prompt_sha256: prompt_sha.into(),
        prompt_bytes: bytes,
        started_unix_ns: 0,
        http_status: Some(200),
        headers_ns: Some(1),
        chunk_ns: vec![2],
        end_ns: Some(3),
        bytes: Some(10),
        lines: 2,
        response: response.into(),
        thinking: String::new(),
        server,
        error: None,
        attempt: 1,
        retried_errors: Vec::new(),
        cost: Default::default(),
    }
}

struct Turn {
    session: u64,
    turn: u32,
    start_ms: u64,
    think_ms: u64,
    shared: u64,
    bytes: u64,
    sha: &'static str,
    server: ServerFields,
}

fn turn_record(seq: u64, t: Turn) -> RequestRecord {
    RequestRecord {
        seq,
        worker: 0,
        prompt: 0,
        warmup: false,
        intended_ns: t.start_ms * 1_000_000,
        sent_ns: t.start_ms * 1_000_000,
        slot_wait_ns: 0,
        turn: Some(TurnRef {
            session: t.session,
            turn: t.turn,
            turns: 3,
            session_intended_ns: t.start_ms * 1_000_000 + 7_400,
            think_ns: t.think_ms * 1_000_000 + 499_999,
            shared_prefix_bytes: t.shared,
            prompt_text_bytes: t.bytes,
        }),
        call: call(
            t.sha,
            t.bytes + 50,
            t.server,
            "an answer of 30 bytes, roughly",
        ),
    }
}

fn server_counted(prompt: u64, out: u64) -> ServerFields {
    ServerFields {
        eval_count: Some(out),
        usage: Some(Usage {
            prompt_tokens: Some(prompt),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn llama_counted(prompt_n: i64, cache_n: i64, predicted_n: i64) -> ServerFields {
    ServerFields {
        timings: Some(LlamaTimings {
            prompt_n: Some(prompt_n),
            cache_n: Some(cache_n),
            predicted_n: Some(predicted_n),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn record_file(dir: &Path, records: Vec<RequestRecord>) -> PathBuf {
    let mut text = serde_json::to_string(&LoadLine::LoadHeader(Box::new(header()))).unwrap();
    text.push('\n');
    for r in records {
        text.push_str(&serde_json::to_string(&LoadLine::Request(Box::new(r))).unwrap());
        text.push('\n');
    }
    write(dir, "records.jsonl", &text)
}

fn agent_records() -> Vec<RequestRecord> {
    let t = |session, turn, start_ms, think_ms, shared, bytes, sha, server| Turn {
        session,
        turn,
        start_ms,
        think_ms,
        shared,
        bytes,
        sha,
        server,
    };
    // Completion order, not session order: export must sort.
    vec![
        turn_record(3, t(1, 0, 1000, 0, 0, 4000, "p0", ServerFields::default())),
        turn_record(0, t(0, 0, 10, 0, 0, 4000, "p0", server_counted(1000, 40))),
        turn_record(
            1,
            t(0, 1, 10, 250, 4100, 9000, "p1", server_counted(2250, 50)),
        ),
        turn_record(
            2,
            t(
                0,
                2,
                10,
                1200,
                9100,
                9300,
                "p2",
                llama_counted(300, 2025, 60),
            ),
        ),
        turn_record(
            4,
            t(1, 1, 1000, 80, 1000, 6000, "p3", ServerFields::default()),
        ),
    ]
}

#[test]
fn export_import_export_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let records = record_file(dir.path(), agent_records());
    let exported = export_load_file(&records, 512).unwrap();
    assert!(exported.skipped.is_empty());
    let first = to_string(&exported.trace);
    let file = write(dir.path(), "exported.jsonl", &first);
    let imported = read_trace(&file, &ReadOptions::default()).unwrap();
    assert_eq!(imported.format, TraceFormat::Agentic);
    assert_eq!(imported.trace, exported.trace);
    assert_eq!(to_string(&imported.trace), first);
    assert!(imported.trace.to_scripts(1.0).is_ok());
}

#[test]
fn export_follows_the_documented_rules() {
    let dir = tempfile::tempdir().unwrap();
    let records = record_file(dir.path(), agent_records());
    let trace = export_load_file(&records, 512).unwrap().trace;
    let text = to_string(&trace);
    assert_eq!(text.lines().count(), 3);
    let mut it = text.lines();
    assert_eq!(
        it.next().unwrap(),
        r#"{"trace":"agentic","version":1,"block_tokens":512,"tokens":{"in_server":3,"in_bytes_div_4":2,"out_server":3,"out_bytes_div_4":2}}"#
    );
    // Session 0: t rebased to 0; turn 0 1000 server tokens (2 blocks, fresh 0,1);
    // turn 1 shares ⌊4100/2048⌋ = 2 blocks, but turn 0 has only ⌊1000/512⌋ = 1 full
    // block: 1 shared; turn 2: llama's prompt_n + cache_n = 2325 tokens, 4 shared.
    assert_eq!(
        it.next().unwrap(),
        r#"{"session":"s0","t":0,"requests":[{"in":1000,"out":40,"hash_ids":[0,1],"think_time":0},{"in":2250,"out":50,"hash_ids":[0,2,3,4,5],"think_time":250},{"in":2325,"out":60,"hash_ids":[0,2,3,4,6],"think_time":1200}]}"#
    );
    // Session 1: its first prompt is byte-identical to session 0's first (same
    // sha, same block count): the same ids. Counts are bytes/4 (4000 → 1000 tokens,
    // the answer's 30 bytes → 8). Turn 1: 1000 shared bytes < one block: fresh ids.
    assert_eq!(
        it.next().unwrap(),
        r#"{"session":"s1","t":990,"requests":[{"in":1000,"out":8,"hash_ids":[0,1],"think_time":0},{"in":1500,"out":8,"hash_ids":[7,8,9],"think_time":80}]}"#
    );
}

#[test]
fn requests_without_a_turn_export_as_single_request_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = Vec::new();
    for seq in 0..3u64 {
        let mut r = turn_record(
            seq,
            Turn {
                session: 0,
                turn: 0,
                start_ms: 100 + 50 * seq,
                think_ms: 0,
                shared: 0,
                bytes: 400,
                sha: "same",
                server: ServerFields::default(),
            },
        );
        r.turn = None;
        recs.push(r);
    }
    let records = record_file(dir.path(), recs);
    let trace = export_load_file(&records, 64).unwrap().trace;
    let ids: Vec<&str> = trace.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2"]);
    let starts: Vec<u64> = trace.sessions.iter().map(|s| s.start_ms).collect();
    assert_eq!(starts, [0, 50, 100]);
    // call.prompt_bytes (450) counts without a turn: 113 tokens, 2 blocks of 64.
    assert_eq!(trace.sessions[2].requests[0].input_tokens, 113);
    assert_eq!(trace.sessions[2].requests[0].hash_ids, [0, 1]);
}

#[test]
fn a_file_that_is_not_a_load_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.jsonl", "{\"timestamp\": 1}\n");
    let e = export_load_file(&p, 512).unwrap_err().to_string();
    assert!(e.contains("x.jsonl:1"), "{e}");
}

// ---- bad input ----

const GOOD_M: &str =
    r#"{"timestamp": 0, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}"#;
const GOOD_A: &str =
    r#"{"session": "a", "t": 0, "requests": [{"in": 600, "out": 10, "hash_ids": [1, 2]}]}"#;

/// Writes `good, bad, good` and checks that the default read refuses naming
/// file:2 and `needle`, and that `skip_bad` keeps the two good lines.
fn refused_and_skipped(good: &str, bad: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let third = good.replace("\"a\"", "\"c\"").replace(": 0,", ": 5,");
    let p = write(dir.path(), "t.jsonl", &format!("{good}\n{bad}\n{third}\n"));
    let e = read_trace(&p, &ReadOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TraceError::BadLine { line: 2, .. }), "{msg}");
    assert!(msg.contains("t.jsonl:2:"), "{msg}");
    assert!(msg.contains(needle), "{needle} not in: {msg}");
    assert!(msg.contains("fix"), "{msg}");
    let opts = ReadOptions {
        skip_bad: true,
        ..Default::default()
    };
    let ok = read_trace(&p, &opts).unwrap();
    assert_eq!(ok.trace.sessions.len(), 2);
    assert_eq!(ok.skipped.count, 1);
    assert_eq!(ok.skipped.first[0].0, 2);
}

#[test]
fn a_line_that_is_not_json_is_refused() {
    refused_and_skipped(GOOD_M, "{\"timestamp\": 3, ", "not JSON");
    refused_and_skipped(GOOD_A, "[1, 2]", "expected a JSON object");
}

#[test]
fn a_line_that_is_not_utf8_is_refused_and_a_bad_first_line_is_skippable() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"\xff\xfe not text\n".to_vec();
    bytes.extend_from_slice(GOOD_M.as_bytes());
    let p = dir.path().join("u.jsonl");
    std::fs::write(&p, bytes).unwrap();
    let msg = read_trace(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("u.jsonl:1: not UTF-8"), "{msg}");
    let opts = ReadOptions {
        skip_bad: true,
        ..Default::default()
    };
    let ok = read_trace(&p, &opts).unwrap();
    assert_eq!((ok.format, ok.skipped.count), (TraceFormat::Mooncake, 1));
    let p = write(dir.path(), "none.jsonl", "{\"x\": 1}\n");
    let msg = read_trace(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("none.jsonl:1: cannot tell the trace format"),
        "{msg}"
    );
}

#[test]
fn a_missing_field_is_refused() {
    refused_and_skipped(
        GOOD_M,
        r#"{"timestamp": 1, "output_length": 10, "hash_ids": [1, 2]}"#,
        "missing field `input_length`",
    );
    refused_and_skipped(
        GOOD_A,
        r#"{"session": "b", "t": 1, "requests": [{"in": 600, "hash_ids": [1, 2]}]}"#,
        "missing field `requests[0].out`",
    );
}

#[test]
fn negative_or_fractional_lengths_are_refused() {
    refused_and_skipped(
        GOOD_M,
        r#"{"timestamp": 1, "input_length": -600, "output_length": 10, "hash_ids": [1, 2]}"#,
        "`input_length` (prompt tokens) must be a non-negative integer, got -600: it is negative",
    );
    refused_and_skipped(
        GOOD_M,
        r#"{"timestamp": 1, "input_length": 600.5, "output_length": 10, "hash_ids": [1, 2]}"#,
        "it is not an integer",
    );
    refused_and_skipped(
        GOOD_A,
        r#"{"session": "b", "t": 1, "requests": [{"in": 600, "out": 0, "hash_ids": [1, 2]}]}"#,
        "`requests[0].out` is 0",
    );
}

#[test]
fn a_negative_think_time_is_refused() {
    refused_and_skipped(
        GOOD_A,
        r#"{"session": "b", "t": 1, "requests": [{"in": 600, "out": 10, "hash_ids": [1, 2]}, {"in": 600, "out": 10, "hash_ids": [1, 2], "think_time": -5}]}"#,
        "`requests[1].think_time` (think time, ms) must be a non-negative integer, got -5",
    );
    refused_and_skipped(
        GOOD_A,
        r#"{"session": "b", "t": 1, "requests": [{"in": 600, "out": 10, "hash_ids": [1, 2], "subagent": [{"in": 1, "out": 1, "hash_ids": [3], "think_time": -1}]}]}"#,
        "`requests[0].subagent[0].think_time`",
    );
}

#[test]
fn timestamps_going_backwards_are_refused() {
    refused_and_skipped(
        r#"{"timestamp": 10, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}"#,
        r#"{"timestamp": 3, "input_length": 600, "output_length": 10, "hash_ids": [1, 2]}"#,
        "timestamps go backwards",
    );
}

#[test]
fn hash_ids_that_do_not_cover_the_prompt_are_refused() {
    refused_and_skipped(
        GOOD_M,
        r#"{"timestamp": 1, "input_length": 1500, "output_length": 10, "hash_ids": [1, 2]}"#,
        "has 2 ids but a prompt of 1500 tokens at 512 tokens per block needs 3",
    );
}

#[test]
fn agentic_typos_and_repeated_ids_are_refused() {
    refused_and_skipped(
        GOOD_A,
        r#"{"session": "b", "t": 1, "requests": [{"in": 600, "out": 10, "hash_ids": [1, 2], "think": 5}]}"#,
        "unknown field `requests[0].think`",
    );
    refused_and_skipped(GOOD_A, GOOD_A, "already used on line 1");
}

#[test]
fn several_bad_lines_are_counted_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(GOOD_M);
    for _ in 0..8 {
        text.push_str("\nnot json");
    }
    let p = write(dir.path(), "t.jsonl", &(text + "\n"));
    let msg = read_trace(&p, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("and 7 more bad line(s)"), "{msg}");
    let opts = ReadOptions {
        skip_bad: true,
        ..Default::default()
    };
    let ok = read_trace(&p, &opts).unwrap();
    assert_eq!(ok.skipped.count, 8);
    assert_eq!(ok.skipped.first.len(), 5);
    assert_eq!(ok.trace.sessions.len(), 1);
}

#[test]
fn an_empty_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("empty.jsonl", ""), ("blank.jsonl", "\n  \n")] {
        let p = write(dir.path(), name, text);
        let e = read_trace(&p, &ReadOptions::default()).unwrap_err();
        assert!(matches!(e, TraceError::Empty { .. }), "{e}");
        assert!(e.to_string().contains(name), "{e}");
    }
    let p = write(
        dir.path(),
        "header-only.jsonl",
        "{\"trace\":\"agentic\",\"version\":1}\n",
    );
    let e = read_trace(&p, &ReadOptions::default()).unwrap_err();
    assert!(matches!(e, TraceError::Empty { .. }), "{e}");
    let p = write(dir.path(), "all-bad.jsonl", "{\"timestamp\": -1}\n");
    let opts = ReadOptions {
        skip_bad: true,
        ..Default::default()
    };
    let e = read_trace(&p, &opts).unwrap_err();
    assert!(matches!(e, TraceError::NothingUsable { .. }), "{e}");
}

#[test]
fn block_tokens_follow_the_header_or_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "b.jsonl",
        &format!("{{\"trace\":\"agentic\",\"version\":1,\"block_tokens\":300}}\n{GOOD_A}\n"),
    );
    let ok = read_trace(&p, &ReadOptions::default()).unwrap();
    assert_eq!(ok.trace.block_tokens, 300);
    let opts = ReadOptions {
        block_tokens: Some(512),
        ..Default::default()
    };
    let e = read_trace(&p, &opts).unwrap_err().to_string();
    assert!(
        e.contains("b.jsonl:1") && e.contains("block_tokens 300"),
        "{e}"
    );
    let m = write(dir.path(), "m.jsonl", &format!("{GOOD_M}\n"));
    let opts = ReadOptions {
        block_tokens: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        read_trace(&m, &opts),
        Err(TraceError::BlockTokens(_))
    ));
}

#[test]
fn a_record_file_without_requests_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let records = record_file(dir.path(), Vec::new());
    let e = export_load_file(&records, 512).unwrap_err();
    assert!(matches!(e, TraceError::NoRequests { .. }), "{e}");
}

// ---- properties ----

use agentbench::trace::{Trace, TraceRequest, TraceSession};
use proptest::prelude::*;

fn request(depth: u32) -> BoxedStrategy<TraceRequest> {
    let leaf =
        (1u64..3000, 1u64..500, 0u64..5000, 0u64..40).prop_map(|(input, out, think, id0)| {
            TraceRequest {
                input_tokens: input,
                output_tokens: out,
                hash_ids: (id0..id0 + input.div_ceil(256)).collect(),
                think_ms: think,
                subagent: Vec::new(),
            }
        });
    if depth == 0 {
        return leaf.boxed();
    }
    (leaf, prop::collection::vec(request(depth - 1), 0..3))
        .prop_map(|(mut r, sub)| {
            r.subagent = sub;
            r
        })
        .boxed()
}

fn trace() -> impl Strategy<Value = Trace> {
    prop::collection::vec(
        (0u64..100_000, prop::collection::vec(request(2), 1..4)),
        1..6,
    )
    .prop_map(|sessions| Trace {
        block_tokens: 256,
        tokens: None,
        sessions: sessions
            .into_iter()
            .enumerate()
            .map(|(i, (t, requests))| TraceSession {
                id: format!("x{i}"),
                start_ms: t,
                requests,
            })
            .collect(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any valid trace written, read and written again gives the same trace and
    /// the same bytes; its scripts have one turn per request.
    #[test]
    fn write_read_write_is_identical(t in trace()) {
        let dir = tempfile::tempdir().unwrap();
        let text = to_string(&t);
        let p = write(dir.path(), "t.jsonl", &text);
        let back = read_trace(&p, &ReadOptions::default()).unwrap();
        prop_assert_eq!(&back.trace, &t);
        prop_assert_eq!(to_string(&back.trace), text);
        let scripts = t.to_scripts(0.5).unwrap();
        let turns: u64 = scripts.iter().map(|s| s.turns.len() as u64).sum();
        prop_assert_eq!(turns, t.request_count());
    }

    /// Arbitrary lines never panic the reader: they are read or refused.
    #[test]
    fn garbage_is_refused_not_panicked_on(lines in prop::collection::vec("[ -~]{0,60}", 0..6), skip in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "g.jsonl", &lines.join("\n"));
        let opts = ReadOptions { skip_bad: skip, ..Default::default() };
        let _ = read_trace(&p, &opts);
    }

    /// Well-formed lines with odd values in any field are read or refused, never
    /// panicked on, in both formats.
    #[test]
    fn odd_values_are_refused_not_panicked_on(
        picks in prop::collection::vec((0usize..2, prop::collection::vec(0usize..12, 6)), 1..5),
        skip in any::<bool>(),
    ) {
        const ODD: [&str; 12] = [
            "0", "1", "600", "-1", "1.5", "1e400", "null", "\"s\"", "[]", "{}",
            "18446744073709551616", "[1, 2]",
        ];
        let lines: Vec<String> = picks
            .iter()
            .map(|(format, v)| {
                let o = |i: usize| ODD[v[i]];
                if *format == 0 {
                    format!(r#"{{"timestamp": {}, "input_length": {}, "output_length": {}, "hash_ids": {}}}"#, o(0), o(1), o(2), o(3))
                } else {
                    format!(r#"{{"session": {}, "t": {}, "requests": [{{"in": {}, "out": {}, "hash_ids": {}, "think_time": {}}}]}}"#, o(0), o(1), o(2), o(3), o(4), o(5))
                }
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "o.jsonl", &lines.join("\n"));
        let opts = ReadOptions { skip_bad: skip, ..Default::default() };
        if let Ok(t) = read_trace(&p, &opts) {
            prop_assert!(t.trace.to_scripts(1.0).is_ok());
        }
    }
}

#[test]
fn scripts_are_ordered_by_start_and_a_first_think_delays_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "u.jsonl",
        concat!(
            r#"{"session": "late", "t": 500, "requests": [{"in": 10, "out": 1, "hash_ids": [1]}]}"#,
            "\n",
            r#"{"session": "early", "t": 100, "requests": [{"in": 20, "out": 2, "hash_ids": [2], "think_time": 50}]}"#,
            "\n"
        ),
    );
    let t = read_trace(&p, &ReadOptions::default()).unwrap().trace;
    let scripts = t.to_scripts(1.0).unwrap();
    assert_eq!(scripts[0].start_ns, Some(0));
    assert_eq!(scripts[0].turns[0].max_tokens, Some(2));
    assert_eq!(scripts[0].turns[0].think_ns, 0);
    assert_eq!(scripts[1].start_ns, Some(350_000_000));
}
