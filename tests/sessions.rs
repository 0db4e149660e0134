//! `agentbench load --workload agent` end to end: the binary against a fast stub
//! started here on 127.0.0.1:0, whose request log (every body it received) and
//! counters (peak requests in flight) are the known truth the records are checked
//! against. Covers: tool time holds a session's slot, the conversation grows turn
//! by turn byte for byte (both protocols), the turn timing rule under a stall, the
//! workflow session's report prompt, and bad flags.
//!
//! Bounds: every run is bounded by --jobs (at most 4 sessions) and stops by itself.

use std::path::Path;
use std::process::Output;

use agentbench::load::{read_load_file, RequestRecord};
use agentbench::stub::{default_addr, serve, LoggedRequest, RunningStub, StubKind, StubProfile};

mod common;
use common::{agentbench, text};

/// Runs are timed: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn load(args: &[&str], out: &Path) -> Output {
    agentbench()
        .arg("load")
        .args(args)
        .args(["--quiet", "--max-lag", "1s", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

/// A fast stub of `profile` on 127.0.0.1:0, with the runtime that started it.
fn stub(profile: &str) -> (tokio::runtime::Runtime, RunningStub) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = StubProfile::named(profile).unwrap();
    let s = rt
        .block_on(serve(default_addr(0), p, StubKind::Fast))
        .unwrap();
    (rt, s)
}

/// The records, sorted by (session, turn).
fn records(out: &Path) -> Vec<RequestRecord> {
    let mut r = read_load_file(&out.join("records.jsonl")).unwrap().requests;
    r.sort_by_key(|r| {
        let t = r.turn.as_ref().expect("every agent record has a turn");
        (t.session, t.turn)
    });
    r
}

fn end_ns(r: &RequestRecord) -> u64 {
    r.sent_ns + r.call.end_ns.expect("turn completed")
}

const MS: u64 = 1_000_000;

#[test]
fn tool_time_holds_the_slot_and_turns_follow_the_timing_rule() {
    let _s = serial();
    let (_rt, stub) = stub("fast:chunks=8");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = load(
        &[
            "--base-url",
            stub.url(),
            "--workload",
            "agent",
            "--sessions",
            "2",
            "--turns",
            "3",
            "--think",
            "200ms",
            "--jobs",
            "4",
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "8",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&out);
    assert_eq!(recs.len(), 12, "4 sessions × 3 turns");
    assert!(recs.iter().all(|r| r.call.is_ok()));
    // Two slots: the stub never saw more than 2 requests in flight.
    let stats = stub.stats();
    assert_eq!(stats.arrivals, 12);
    assert!(stats.peak_in_flight <= 2, "{stats:?}");
    let mut seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 12, "seq unique per request");
    for pair in recs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (ta, tb) = (a.turn.as_ref().unwrap(), b.turn.as_ref().unwrap());
        assert!(b.sent_ns >= b.intended_ns);
        if ta.session != tb.session {
            assert_eq!(tb.turn, 0);
            assert_eq!(b.intended_ns, tb.session_intended_ns);
            continue;
        }
        assert_eq!(a.worker, b.worker, "a session stays on its slot");
        assert_eq!(tb.think_ns, 200 * MS);
        // Next intended − previous end = think, exactly; sends ≥ 200 ms apart.
        assert_eq!(b.intended_ns, end_ns(a) + 200 * MS, "{ta:?} → {tb:?}");
        assert!(b.sent_ns - end_ns(a) >= 200 * MS);
    }
    // A slot runs its sessions back to back: the next one starts when the last
    // turn of the previous one ended (and never overlaps it).
    for slot in 0..2 {
        let mut mine: Vec<&RequestRecord> = recs.iter().filter(|r| r.worker == slot).collect();
        mine.sort_by_key(|r| r.sent_ns);
        assert_eq!(mine.len(), 6, "slot {slot}");
        for pair in mine.windows(2) {
            assert!(pair[1].sent_ns >= end_ns(pair[0]));
        }
        let starts: Vec<u64> = mine
            .iter()
            .filter(|r| r.turn.as_ref().unwrap().turn == 0)
            .map(|r| r.intended_ns)
            .collect();
        assert_eq!(starts[0], 0);
        assert_eq!(starts[1], end_ns(mine[2]), "slot {slot}'s second session");
    }
}

#[test]
fn open_loop_sessions_start_on_the_seeded_schedule_and_hold_their_permit() {
    let _s = serial();
    let (_rt, stub) = stub("fast:chunks=8");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = load(
        &[
            "--base-url",
            stub.url(),
            "--workload",
            "agent",
            "--session-rate",
            "20",
            "--arrival",
            "constant",
            "--jobs",
            "4",
            "--max-concurrency",
            "1",
            "--turns",
            "2",
            "--think",
            "100ms",
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "8",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&out);
    assert_eq!(recs.len(), 8);
    let arrivals = agentbench::load::OpenSchedule {
        rate: 20.0,
        arrival: agentbench::load::Arrival::Constant,
        seed: 1,
        extent: agentbench::load::Extent::Requests(4),
    }
    .intended();
    // One permit: one request in flight at a time, and a session's permit is held
    // through its tool time, so sessions never overlap.
    assert_eq!(stub.stats().peak_in_flight, 1);
    for (i, pair) in recs.chunks(2).enumerate() {
        let t0 = pair[0].turn.as_ref().unwrap();
        assert_eq!(t0.session, i as u64);
        assert_eq!(t0.session_intended_ns, arrivals[i]);
        assert_eq!(pair[0].intended_ns, arrivals[i]);
        assert_eq!(pair[1].intended_ns, end_ns(&pair[0]) + 100 * MS);
        if i > 0 {
            // Waited for the previous session (≥ 100 ms of tool time) to end.
            assert!(pair[0].sent_ns >= end_ns(&recs[2 * i - 1]));
            assert!(
                pair[0].slot_wait_ns > 0,
                "session {i} waited for the permit"
            );
        }
    }
    let header = read_load_file(&out.join("records.jsonl")).unwrap().header;
    let agent = header.plan.agent.expect("the agent plan is recorded");
    assert_eq!(agent.session_rate, Some(20.0));
    assert_eq!(agent.think, "100ms");
    assert_eq!(header.plan.mode, "open");
}

/// The messages array of a logged chat body, raw and parsed.
fn messages(req: &LoggedRequest) -> (String, Vec<serde_json::Value>) {
    let key = "\"messages\":[";
    let at = req.body.find(key).expect("a chat body") + key.len() - 1;
    let v: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    let list = v["messages"].as_array().unwrap().clone();
    let raw_len = serde_json::to_string(&v["messages"]).unwrap().len();
    (req.body[at..at + raw_len].to_string(), list)
}

fn growing_context(protocol: &str, path: &str) {
    let (_rt, stub) = stub("fast:chunks=16");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(protocol);
    let o = load(
        &[
            "--base-url",
            stub.url(),
            "--protocol",
            protocol,
            "--workload",
            "agent",
            "--turns",
            "3",
            "--jobs",
            "1",
            "--prompt-tokens",
            "24",
            "--output-tokens",
            "16",
            // Keeps the measuring thread mostly idle (see the workflow test).
            "--think",
            "5ms",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&out);
    let log = stub.request_log();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|r| r.path == path), "{log:?}");
    let prompt = agentbench::cli::synthetic_prompt(24, 1);
    let (_, first) = messages(&log[0]);
    assert_eq!(
        first,
        vec![serde_json::json!({"role": "user", "content": prompt})]
    );
    for k in 1..3 {
        let (raw_prev, prev) = messages(&log[k - 1]);
        let (raw, now) = messages(&log[k]);
        let answer = &recs[k - 1].call.response;
        assert!(!answer.is_empty());
        let mut want = prev.clone();
        want.push(serde_json::json!({"role": "assistant", "content": answer}));
        let tail: String = {
            let n = answer.chars().count();
            answer.chars().skip(n.saturating_sub(200)).collect()
        };
        want.push(serde_json::json!({"role": "user", "content": format!("Go on from: {tail}")}));
        assert_eq!(now, want, "turn {k}");
        // Byte for byte: the previous array, without its closing bracket, is a
        // prefix of this one.
        assert!(raw.starts_with(&raw_prev[..raw_prev.len() - 1]), "turn {k}");
        // The turn's prefix accounting: the whole previous context is shared.
        let t = recs[k].turn.as_ref().unwrap();
        let prev_t = recs[k - 1].turn.as_ref().unwrap();
        assert_eq!(
            t.shared_prefix_bytes,
            prev_t.prompt_text_bytes + answer.len() as u64
        );
        let text_bytes: usize = now
            .iter()
            .map(|m| m["content"].as_str().unwrap().len())
            .sum();
        assert_eq!(t.prompt_text_bytes, text_bytes as u64);
        assert_eq!(recs[k].call.prompt_bytes, text_bytes as u64);
    }
}

#[test]
fn chat_turns_resend_the_whole_conversation_ollama() {
    let _s = serial();
    growing_context("ollama", "/api/chat");
}

#[test]
fn chat_turns_resend_the_whole_conversation_openai() {
    let _s = serial();
    growing_context("openai", "/v1/chat/completions");
}

#[test]
fn a_stall_in_turn_1_moves_turn_2_only_by_turn_1s_real_end() {
    let _s = serial();
    // The stub stalls 1 s from 100 ms after the first request: turn 0 (at 0) is
    // served at once, turn 1 (≈ 300 ms) waits until ≈ 1.1 s.
    let (_rt, stub) = stub("fast:chunks=8,pause=1s@100ms");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = load(
        &[
            "--base-url",
            stub.url(),
            "--workload",
            "agent",
            "--turns",
            "3",
            "--think",
            "300ms",
            "--jobs",
            "1",
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "8",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&out);
    assert_eq!(recs.len(), 3);
    let stalled = end_ns(&recs[1]) - recs[1].sent_ns;
    assert!(stalled >= 500 * MS, "turn 1 took {stalled} ns");
    // Turn 2 is intended at turn 1's real end plus the think time, exactly.
    assert_eq!(recs[2].intended_ns, end_ns(&recs[1]) + 300 * MS);
    assert_eq!(recs[1].intended_ns, end_ns(&recs[0]) + 300 * MS);
    // Turn 2 itself was not stalled.
    assert!(end_ns(&recs[2]) - recs[2].sent_ns < 200 * MS);
    // Job latency (last turn end − session intended start) includes the stall.
    let t = recs[2].turn.as_ref().unwrap();
    let job = end_ns(&recs[2]) - t.session_intended_ns;
    assert!(
        job >= 600 * MS + stalled,
        "job {job} ns, stall {stalled} ns"
    );
}

#[test]
fn workflow_sessions_build_the_report_prompt_from_the_analysis_answer() {
    let _s = serial();
    let (_rt, stub) = stub("fast");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = load(
        &[
            "--base-url",
            stub.url(),
            "--workload",
            "agent",
            "--session",
            "workflow",
            "--sessions",
            "2",
            "--jobs",
            "2",
            // Tool time keeps the measuring thread mostly idle: with none, a closed
            // loop against an instant stub makes the client the bottleneck (and the
            // run rightly client-limited on a busy machine).
            "--think",
            "20ms",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let recs = records(&out);
    assert_eq!(recs.len(), 4, "2 sessions × 2 turns");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data");
    let corpus =
        agentbench::ingest::ingest(&root, &agentbench::ingest::IngestOptions::default()).unwrap();
    let summary = agentbench::ingest::summarize(&corpus);
    let log = stub.request_log();
    assert_eq!(log.len(), 4);
    let analysis = agentbench::prompt::analysis_prompt(&summary);
    for pair in recs.chunks(2) {
        let answer = &pair[0].call.response;
        let parsed = agentbench::prompt::parse_analysis(answer);
        assert!(
            !parsed.summary.is_empty(),
            "the stub's answer has a summary"
        );
        let report = agentbench::prompt::report_prompt(&parsed, &summary);
        assert!(report.contains(parsed.summary.as_str()));
        assert_eq!(pair[1].call.prompt_bytes, report.len() as u64);
        let sent: Vec<String> = log
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                v["prompt"].as_str().unwrap().to_string()
            })
            .collect();
        assert!(sent.contains(&report), "the report prompt was sent");
        assert!(sent.contains(&analysis), "the analysis prompt was sent");
        assert_eq!(pair[0].call.prompt_bytes, analysis.len() as u64);
    }
}

#[test]
fn bad_session_flags_exit_2_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--workload", "agent", "--think", "-5ms"], "--think"),
        (&["--workload", "agent", "--think", "exp:abc"], "--think"),
        (&["--workload", "nope"], "--workload"),
        (&["--workload", "agent", "--session", "nope"], "--session"),
        (&["--workload", "agent", "--turns", "0"], "--turns"),
        (&["--workload", "agent", "--sessions", "0"], "--sessions"),
        (
            &["--workload", "agent", "--concurrency", "2"],
            "--concurrency",
        ),
        (&["--sessions", "2"], "--workload"),
        (&["--concurrency", "2", "--think", "exp:5ms"], "--think"),
        (
            &["--workload", "agent", "--arrival", "constant"],
            "--session-rate",
        ),
    ];
    for (i, (args, flag)) in cases.iter().enumerate() {
        let out = tmp.path().join(format!("case-{i}"));
        let mut all = vec!["--stub", "instant"];
        all.extend_from_slice(args);
        let o = load(&all, &out);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(flag),
            "{args:?} should name {flag}: {stderr}"
        );
        if args.contains(&"nope") {
            assert!(
                stderr.contains("valid:"),
                "{args:?} lists the kinds: {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
}

/// The library entry for given scripts (what a trace importer hands the engine):
/// `Mode::Sessions` with `Workload::Scripts` through `run_load`; a prompt turn goes
/// to the generate endpoint as is, a turn's `max_tokens` bounds its output, a
/// script's own tool times are kept.
#[test]
fn given_scripts_run_as_they_are() {
    use agentbench::client::{Endpoint, LlmClient, RequestSettings, ServerInfo, Timeouts};
    use agentbench::load::session::{SessionScript, TurnInput, TurnScript};
    use agentbench::load::session_engine::{SessionMode, Workload};
    use agentbench::load::think::Think;
    use agentbench::load::{run_load, LoadPlanInfo, LoadSpec, Mode, PromptInfo, SessionPlan};
    use std::sync::Arc;

    let _s = serial();
    let (_rt, stub) = stub("fast:chunks=16");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let client = LlmClient::new(stub.url(), Timeouts::default()).unwrap();
    let settings = RequestSettings::from_pairs(&["num_predict=16"]).unwrap();
    let model = "gemma3:latest";
    let first = client.prepare_call(&agentbench::client::CallRequest {
        endpoint: Endpoint::Generate,
        model,
        prompt: "shared prefix, then part one",
        settings: &settings,
    });
    let script = SessionScript {
        start_ns: None,
        turns: vec![
            TurnScript {
                think_ns: 0,
                input: TurnInput::Prompt("shared prefix, then part one".into()),
                max_tokens: Some(3),
            },
            TurnScript {
                think_ns: 50 * MS,
                input: TurnInput::Prompt("shared prefix, then part two".into()),
                max_tokens: None,
            },
        ],
    };
    let plan = LoadPlanInfo {
        mode: "closed".into(),
        concurrency: None,
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
        max_lag_ns: 1_000_000_000,
        shard: None,
        shards: Vec::new(),
        agent: None,
    };
    let spec = LoadSpec {
        client,
        prompts: vec![(
            PromptInfo {
                name: "trace".into(),
                sha256: first.prompt_sha256().into(),
                bytes: first.prompt_bytes(),
            },
            first,
        )],
        mode: Mode::Sessions(Box::new(SessionPlan {
            workload: Workload::Scripts(Arc::new(vec![script])),
            think: Think::default(),
            seed: 1,
            mode: SessionMode::Closed {
                slots: 1,
                duration_ns: None,
                jobs: Some(2),
            },
            shard: None,
        })),
        plan,
        backend: agentbench::record::Backend {
            url: stub.url().into(),
            protocol: "ollama".into(),
            endpoint: Endpoint::Generate,
            stub: Some("fast".into()),
        },
        server: ServerInfo::default(),
        model: model.into(),
        settings,
    };
    let outcome = run_load(spec, &out, |_, _| agentbench::load::Watch::Continue).unwrap();
    let recs = records(&outcome.out_dir);
    assert_eq!(recs.len(), 4, "2 sessions × 2 turns");
    let log = stub.request_log();
    assert!(log.iter().all(|r| r.path == "/api/generate"), "{log:?}");
    for pair in recs.chunks(2) {
        assert_eq!(pair[0].call.chunk_ns.len(), 3, "max_tokens 3");
        assert_eq!(pair[1].call.chunk_ns.len(), 16, "the run's bound");
        assert_eq!(pair[1].intended_ns, end_ns(&pair[0]) + 50 * MS);
        let t = pair[1].turn.as_ref().unwrap();
        assert_eq!(
            t.shared_prefix_bytes,
            "shared prefix, then part ".len() as u64
        );
    }
}
