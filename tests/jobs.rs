//! The job-level analysis of agent sessions (`src/load/jobs.rs`), checked against
//! record files built by hand whose job latencies, error rates, cache reuse and
//! goodput are known.

use std::io::Write as _;
use std::path::Path;

use agentbench::client::{
    CallError, CallRecord, Endpoint, ErrorKind, LlamaTimings, RequestSettings, ServerFields,
    ServerInfo,
};
use agentbench::load::analyse::{analyse_records, LoadAnalysis};
use agentbench::load::jobs::{CacheSource, JobsSummary, UNFINISHED};
use agentbench::load::record::{LoadLine, LOAD_SCHEMA_VERSION};
use agentbench::load::session::TurnRef;
use agentbench::load::{analyse_file, LoadHeader, LoadPlanInfo, RequestRecord, RunEnd};
use agentbench::provenance::{Harness, Host};
use agentbench::record::Backend;

const MS: u64 = 1_000_000;

fn header(protocol: &str, warmup_ns: u64, slo: Option<&str>) -> LoadHeader {
    LoadHeader {
        schema_version: LOAD_SCHEMA_VERSION,
        harness: Harness::current(),
        host: Host::current(),
        backend: Backend {
            url: "http://127.0.0.1:1".into(),
            protocol: protocol.into(),
            endpoint: Endpoint::Chat,
            stub: None,
        },
        server: ServerInfo::default(),
        model: "m".into(),
        settings: RequestSettings::default(),
        plan: LoadPlanInfo {
            mode: "closed".into(),
            concurrency: Some(8),
            think_ns: 0,
            rate: None,
            arrival: None,
            max_concurrency: None,
            seed: 1,
            requests: None,
            duration_ns: Some(60_000 * MS),
            warmup_ns,
            warmup_first: 0,
            schedule: None,
            slo: slo.map(str::to_string),
            max_lag_ns: 1_000_000_000,
            shard: None,
            shards: Vec::new(),
            agent: None,
        },
        prompts: Vec::new(),
        origin_unix_ns: 1_700_000_000_000_000_000,
    }
}

/// A call whose offsets (from its send) are given in ms: one chunk at `ttft`,
/// the end at `e2e`; `error` fails it (the end is then absent).
fn call(ttft_ms: u64, e2e_ms: u64, error: Option<ErrorKind>) -> CallRecord {
    CallRecord {
        endpoint: Endpoint::Chat,
        model: "m".into(),
        settings: RequestSettings::default(),
        prompt_sha256: String::new(),
        prompt_bytes: 0,
        started_unix_ns: 0,
        http_status: Some(200),
        headers_ns: Some(MS),
        chunk_ns: vec![ttft_ms * MS],
        end_ns: error.is_none().then_some(e2e_ms * MS),
        bytes: Some(10),
        lines: 2,
        response: "x".into(),
        thinking: String::new(),
        server: ServerFields::default(),
        error: error.map(|kind| CallError {
            kind,
            message: "made up".into(),
        }),
        attempt: 1,
        retried_errors: Vec::new(),
        cost: Default::default(),
    }
}

/// One turn of a session, times in ms from the origin.
struct Turn {
    session: u64,
    turn: u32,
    turns: u32,
    session_ms: u64,
    intended_ms: u64,
    sent_ms: u64,
    ttft_ms: u64,
    e2e_ms: u64,
    error: Option<ErrorKind>,
}

impl Turn {
    fn ok(session: u64, turn: u32, turns: u32, session_ms: u64, intended_ms: u64) -> Self {
        Turn {
            session,
            turn,
            turns,
            session_ms,
            intended_ms,
            sent_ms: intended_ms,
            ttft_ms: 10,
            e2e_ms: 20,
            error: None,
        }
    }

    fn record(&self) -> RequestRecord {
        RequestRecord {
            seq: self.session * 100 + u64::from(self.turn),
            worker: 0,
            prompt: 0,
            warmup: false,
            intended_ns: self.intended_ms * MS,
            sent_ns: self.sent_ms * MS,
            slot_wait_ns: 0,
            turn: Some(TurnRef {
                session: self.session,
                turn: self.turn,
                turns: self.turns,
                session_intended_ns: self.session_ms * MS,
                think_ns: 0,
                shared_prefix_bytes: 0,
                prompt_text_bytes: 100,
            }),
            call: call(self.ttft_ms, self.e2e_ms, self.error),
        }
    }
}

/// Writes a record file and analyses it the way `agentbench load`/`report` does.
fn analyse(dir: &Path, header: LoadHeader, records: &[RequestRecord]) -> LoadAnalysis {
    let path = dir.join("records.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    let mut line = |l: &LoadLine| {
        serde_json::to_writer(&mut f, l).unwrap();
        f.write_all(b"\n").unwrap();
    };
    line(&LoadLine::LoadHeader(Box::new(header)));
    for r in records {
        line(&LoadLine::Request(Box::new(r.clone())));
    }
    line(&LoadLine::LoadEnd(Box::default()));
    drop(f);
    analyse_file(&path).unwrap()
}

fn sessions(a: &LoadAnalysis) -> &JobsSummary {
    a.summary.sessions.as_ref().expect("a sessions summary")
}

/// Job latencies are kept to 3 significant digits (HDR): equal within 0.1 %.
fn close(got: f64, want: f64) {
    close_within(got, want, 1e-3);
}

/// Per-turn latencies are kept to 2 significant digits: equal within 1 %.
fn close_turn(got: f64, want: f64) {
    close_within(got, want, 1e-2);
}

fn close_within(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= want.abs() * rel + 1e-9,
        "got {got}, want {want}"
    );
}

#[test]
fn job_latency_runs_from_the_session_intended_start_to_the_last_end_stall_included() {
    let dir = tempfile::tempdir().unwrap();
    // Session 0: 3 turns from 1,000 ms. Turn 1 stalls 2.5 s; turn 2 goes out 50 ms late.
    let mut s0 = [
        Turn::ok(0, 0, 3, 1_000, 1_000),
        Turn::ok(0, 1, 3, 1_000, 1_070),
        Turn::ok(0, 2, 3, 1_000, 3_700),
    ];
    s0[0].e2e_ms = 20; // ends 1,020
    s0[1].ttft_ms = 2_500;
    s0[1].e2e_ms = 2_580; // ends 3,650 (think 50 → turn 2 at 3,700)
    s0[2].sent_ms = 3_750;
    s0[2].ttft_ms = 100;
    s0[2].e2e_ms = 300; // ends 4,050
                        // Session 1: 2 turns from 1,500 ms, the second intended at 1,550 and ending at 1,570.
    let s1 = [
        Turn::ok(1, 0, 2, 1_500, 1_500),
        Turn::ok(1, 1, 2, 1_500, 1_550),
    ];
    // Completion order.
    let mut records: Vec<RequestRecord> = [&s0[0], &s1[0], &s1[1], &s0[1], &s0[2]]
        .iter()
        .map(|t| t.record())
        .collect();
    // Think times: 30 ms before session 1's turn 1, 50 ms before session 0's turns 1 and 2.
    for (i, think_ms) in [(2, 30), (3, 50), (4, 50)] {
        records[i].turn.as_mut().unwrap().think_ns = think_ms * MS;
    }
    let a = analyse(dir.path(), header("openai", 0, None), &records);
    let j = sessions(&a);
    assert_eq!((j.sessions, j.jobs, j.completed, j.failed), (2, 2, 2, 0));
    close(j.latency.max, 4_050.0 - 1_000.0);
    close(j.latency.p50, 1_570.0 - 1_500.0);
    assert_eq!(j.latency.n, 2);
    // Window: first session start 1,000 → last turn seen 4,050.
    close(j.window_s, 3.05);
    close(j.jobs_per_hour, 2.0 / 3.05 * 3600.0);
    // Per turn: TTFT from the intended send; turn 2's includes its 50 ms lateness.
    assert_eq!(j.turns.len(), 3);
    assert_eq!(j.turns[0].requests, 2);
    assert_eq!(j.turns[2].requests, 1);
    close_turn(j.turns[2].ttft.p50, 150.0);
    close_turn(j.turns[2].e2e.p50, 350.0);
    close_turn(j.turns[1].ttft.max, 2_500.0);
    close(j.turns[0].think_mean_ms.unwrap(), 0.0);
    close(j.turns[1].think_mean_ms.unwrap(), 40.0);
    close(j.turns[2].think_mean_ms.unwrap(), 50.0);
    assert_eq!(j.peak_open_sessions, 2);
    assert_eq!(j.over_time.iter().map(|b| b.completed).sum::<u64>(), 2);
}

#[test]
fn a_failed_turn_fails_its_job_and_an_unfinished_session_is_a_failure_too() {
    let dir = tempfile::tempdir().unwrap();
    let a0 = Turn::ok(0, 0, 3, 0, 0); // ends 20
    let mut a1 = Turn::ok(0, 1, 3, 0, 30);
    a1.error = Some(ErrorKind::Timeout); // seen until its chunk at 40
    let b0 = Turn::ok(1, 0, 2, 10, 10);
    let b1 = Turn::ok(1, 1, 2, 10, 40); // ends 60
    let c0 = Turn::ok(2, 0, 3, 20, 20); // ends 40, then nothing: unfinished
    let records: Vec<RequestRecord> = [&a0, &b0, &c0, &a1, &b1]
        .iter()
        .map(|t| t.record())
        .collect();
    let an = analyse(dir.path(), header("openai", 0, None), &records);
    let j = sessions(&an);
    assert_eq!((j.jobs, j.completed, j.failed, j.unfinished), (3, 1, 2, 1));
    assert_eq!(j.failed_by_reason.get("timeout"), Some(&1));
    assert_eq!(j.failed_by_reason.get(UNFINISHED), Some(&1));
    close(j.error_rate, 2.0 / 3.0);
    // Per turn: turn 1 had two requests, one failed.
    assert_eq!((j.turns[0].requests, j.turns[0].failed), (3, 0));
    assert_eq!((j.turns[1].requests, j.turns[1].failed), (2, 1));
    close(j.turns[1].error_rate, 0.5);
    // One completed job of three: the median job is a failure (∞).
    close(j.latency.max, 50.0);
    assert_eq!(j.latency_failures_infinite.p50, None);
    // The failures still count among the requests of the request-level summary.
    assert_eq!(an.summary.failed, 1);
    assert_eq!(j.over_time.iter().map(|b| b.failed).sum::<u64>(), 2);
}

#[test]
fn sessions_intended_before_the_warm_up_ended_are_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let w0 = Turn::ok(0, 0, 2, 500, 500);
    let w1 = Turn::ok(0, 1, 2, 500, 1_200); // intended after the warm-up, still excluded
    let m0 = Turn::ok(1, 0, 2, 1_000, 1_000);
    let m1 = Turn::ok(1, 1, 2, 1_000, 1_030); // ends 1,050
    let records: Vec<RequestRecord> = [&w0, &m0, &m1, &w1].iter().map(|t| t.record()).collect();
    let a = analyse(dir.path(), header("openai", 1_000 * MS, None), &records);
    let j = sessions(&a);
    assert_eq!((j.sessions, j.warmup_sessions, j.jobs), (2, 1, 1));
    assert_eq!(j.turns[0].requests, 1);
    assert_eq!(j.turns[1].requests, 1);
    close(j.latency.max, 50.0);
    close(j.window_s, 0.05);
}

fn with_cache(t: &Turn, shared: u64, prompt: u64, server: ServerFields) -> RequestRecord {
    let mut r = t.record();
    let tr = r.turn.as_mut().unwrap();
    tr.shared_prefix_bytes = shared;
    tr.prompt_text_bytes = prompt;
    r.call.server = server;
    r
}

fn llama(cache_n: i64, prompt_n: i64) -> ServerFields {
    ServerFields {
        timings: Some(LlamaTimings {
            cache_n: Some(cache_n),
            prompt_n: Some(prompt_n),
            ..LlamaTimings::default()
        }),
        ..ServerFields::default()
    }
}

#[test]
fn cache_reuse_measured_from_llama_cpp_timings_against_the_best_achievable() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![
        with_cache(&Turn::ok(0, 0, 2, 0, 0), 0, 400, llama(0, 100)),
        with_cache(&Turn::ok(1, 0, 2, 5, 5), 0, 400, llama(10, 90)),
        with_cache(&Turn::ok(0, 1, 2, 0, 30), 600, 1_000, llama(150, 100)),
        with_cache(&Turn::ok(1, 1, 2, 5, 35), 900, 1_200, llama(250, 50)),
    ];
    let a = analyse(dir.path(), header("openai", 0, None), &records);
    let j = sessions(&a);
    let t0 = &j.turns[0].cache;
    assert_eq!(t0.source, CacheSource::LlamaCacheN);
    close(t0.measured.unwrap(), 10.0 / 200.0);
    close(t0.best.unwrap(), 0.0);
    let t1 = &j.turns[1].cache;
    assert_eq!(t1.measured_requests, 2);
    close(t1.measured.unwrap(), 400.0 / 550.0);
    close(t1.best.unwrap(), 1_500.0 / 2_200.0);
    close(t1.left_on_table.unwrap(), 1_500.0 / 2_200.0 - 400.0 / 550.0);
    let all = &j.cache_total;
    close(all.measured.unwrap(), 410.0 / 750.0);
    close(all.best.unwrap(), 0.5);
}

#[test]
fn cache_reuse_from_ollama_is_estimated_and_absent_when_the_server_reports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let evaluated = |n: u64| ServerFields {
        prompt_eval_count: Some(n),
        ..ServerFields::default()
    };
    let records = vec![
        with_cache(&Turn::ok(0, 0, 2, 0, 0), 0, 400, evaluated(100)),
        with_cache(&Turn::ok(0, 1, 2, 0, 30), 600, 1_000, evaluated(100)),
        with_cache(&Turn::ok(1, 0, 2, 5, 5), 0, 400, evaluated(100)),
        // Ollama omits a zero prompt_eval_count: the whole prompt was cached.
        with_cache(&Turn::ok(1, 1, 2, 5, 35), 700, 800, ServerFields::default()),
    ];
    let a = analyse(dir.path(), header("ollama", 0, None), &records);
    let t1 = &sessions(&a).turns[1].cache;
    assert_eq!(t1.source, CacheSource::OllamaEstimate);
    // 1 − Σ evaluated / Σ (bytes / 4) = 1 − 100 / (250 + 200).
    close(t1.measured.unwrap(), 1.0 - 100.0 / 450.0);
    close(t1.best.unwrap(), 1_300.0 / 1_800.0);
    // The same records from an OpenAI-compatible server without timings: nothing measured.
    let dir2 = tempfile::tempdir().unwrap();
    let b = analyse(dir2.path(), header("openai", 0, None), &records);
    let c = &sessions(&b).turns[1].cache;
    assert_eq!(
        (c.source, c.measured, c.left_on_table),
        (CacheSource::None, None, None)
    );
    close(c.best.unwrap(), 1_300.0 / 1_800.0);
}

#[test]
fn a_job_meets_the_slo_only_when_every_turn_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut late = Turn::ok(1, 1, 2, 10, 40);
    late.sent_ms = 740; // TTFT from the intended send: 700 + 10 ms > 500 ms
    let mut failed = Turn::ok(2, 0, 2, 20, 20);
    failed.error = Some(ErrorKind::ServerError);
    let records: Vec<RequestRecord> = [
        &Turn::ok(0, 0, 2, 0, 0),
        &Turn::ok(1, 0, 2, 10, 10),
        &failed,
        &Turn::ok(0, 1, 2, 0, 30),
        &late,
    ]
    .iter()
    .map(|t| t.record())
    .collect();
    let a = analyse(
        dir.path(),
        header("openai", 0, Some("ttft=500ms")),
        &records,
    );
    let j = sessions(&a);
    let g = j.goodput.as_ref().expect("job goodput under an SLO");
    assert_eq!((g.met, j.jobs), (1, 3));
    close(g.fraction, 1.0 / 3.0);
    close(g.per_hour, 1.0 / j.window_s * 3600.0);
    // Request-level goodput: 3 of 5 requests met it (the late one and the failed one did not).
    assert_eq!(a.summary.goodput.as_ref().unwrap().met, 3);
}

#[test]
fn a_request_only_run_has_no_sessions_in_its_summary_or_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Turn::ok(0, 0, 1, 0, 0).record();
    r.turn = None;
    let a = analyse(dir.path(), header("openai", 0, None), &[r]);
    assert!(a.summary.sessions.is_none());
    assert!(a.histograms.jobs.is_none());
    let out = agentbench::load::output::write_outputs(&a, dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.summary_json).unwrap()).unwrap();
    assert!(json["summary"].get("sessions").is_none());
    assert!(json["summary"].get("ok").is_some());
    let html = std::fs::read_to_string(out.index_html).unwrap();
    assert!(!html.contains("id=\"sessions\""));
    let md = std::fs::read_to_string(out.summary_md).unwrap();
    assert!(!md.contains("Sessions (jobs)"));
}

#[test]
fn the_report_has_a_sessions_section_even_when_no_job_completed() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<RequestRecord> = (0..3)
        .map(|s| {
            let mut t = Turn::ok(s, 0, 2, s * 10, s * 10);
            t.error = Some(ErrorKind::Truncated);
            t.record()
        })
        .collect();
    let a = analyse(dir.path(), header("openai", 0, Some("e2e=1s")), &records);
    let j = sessions(&a);
    assert_eq!((j.jobs, j.completed, j.failed), (3, 0, 3));
    close(j.error_rate, 1.0);
    assert_eq!(j.latency.n, 0);
    assert_eq!(j.jobs_per_hour, 0.0);
    let out = agentbench::load::output::write_outputs(&a, dir.path()).unwrap();
    let html = std::fs::read_to_string(&out.index_html).unwrap();
    for id in [
        "sessions",
        "job-latency",
        "jobs-over-time",
        "turn-ttft",
        "turn-cache",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "no #{id} in the report"
        );
    }
    let md = std::fs::read_to_string(&out.summary_md).unwrap();
    assert!(md.contains("## Sessions (jobs)"));
    assert!(md.contains("truncated 3"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out.summary_json).unwrap()).unwrap();
    assert_eq!(json["summary"]["sessions"]["failed"], 3);
    assert_eq!(json["summary"]["sessions"]["goodput"]["met"], 0);
}

#[test]
fn ten_thousand_sessions_stream_through_with_only_the_open_ones_held() {
    const SLOTS: u64 = 8;
    const SESSIONS: u64 = 10_000;
    const TURN_MS: u64 = 10;
    // Closed loop of 8 slots: slot s runs sessions s, s + 8, …, each 3 turns of
    // 10 ms back to back; records come in completion order (round robin).
    let records = (0..SESSIONS * 3).map(|i| {
        let slot = i % SLOTS;
        let step = i / SLOTS; // this slot's step
        let (k, turn) = (step / 3, (step % 3) as u32);
        let session = k * SLOTS + slot;
        let start = k * 3 * TURN_MS;
        let mut t = Turn::ok(session, turn, 3, start, start + u64::from(turn) * TURN_MS);
        t.ttft_ms = 5;
        t.e2e_ms = TURN_MS;
        t.record()
    });
    let a = analyse_records(header("openai", 0, None), records, Some(RunEnd::default()));
    let j = sessions(&a);
    assert_eq!((j.jobs, j.completed, j.failed), (SESSIONS, SESSIONS, 0));
    assert!(
        j.peak_open_sessions <= SLOTS,
        "peak open sessions {} > {SLOTS}",
        j.peak_open_sessions
    );
    close(j.latency.p50, 30.0);
    close(j.latency.max, 30.0);
    // 1,250 sessions per slot, 30 ms each: a 37.5 s window → 1 s buckets give ≥ 10 points.
    close(j.window_s, 37.5);
    assert_eq!(j.bucket_s, 1);
    assert_eq!(
        j.over_time.iter().map(|b| b.completed).sum::<u64>(),
        SESSIONS
    );
}

#[test]
fn the_jobs_analyser_alone_buckets_a_long_run_by_the_minute() {
    use agentbench::load::JobsAnalyser;
    // One single-turn session every 30 s for 20 minutes, each taking 20 ms.
    let mut jobs = JobsAnalyser::new(&header("openai", 0, None));
    for s in 0..40u64 {
        jobs.add(&Turn::ok(s, 0, 1, s * 30_000, s * 30_000).record());
        assert_eq!(jobs.open_sessions(), 0);
    }
    // A request without a turn is not a job.
    let mut plain = Turn::ok(99, 0, 1, 0, 0).record();
    plain.turn = None;
    jobs.add(&plain);
    assert_eq!(jobs.peak_open_sessions(), 1);
    let (j, hist) = jobs.finish().expect("sessions were seen");
    assert_eq!((j.sessions, j.completed), (40, 40));
    assert_eq!(hist.len(), 40);
    close(j.window_s, 39.0 * 30.0 + 0.02);
    assert_eq!(j.bucket_s, 60);
    assert_eq!(j.over_time.len(), 20);
    assert!(j
        .over_time
        .iter()
        .all(|b| b.completed == 2 && b.failed == 0));
    close(j.jobs_per_hour, 40.0 / j.window_s * 3600.0);
    // No turn at all: no sessions summary.
    let mut none = JobsAnalyser::new(&header("openai", 0, None));
    none.add(&plain);
    assert!(none.finish().is_none());
}

#[test]
fn shards_records_concatenated_give_the_jobs_of_the_interleaved_run() {
    // 40 sessions of 3 turns, one every 50 ms, each turn 30 ms after the last
    // ended; session 7's turn 1 fails and session 9 is unfinished. In time order
    // the sessions interleave; `merge-runs` feeds shard 0's records (sessions
    // k ≡ 0 mod 4), then shard 1's, …: the job figures must not depend on it.
    let mut records: Vec<RequestRecord> = Vec::new();
    for s in 0..40u64 {
        let start = 1_000 + s * 50;
        for k in 0..3u32 {
            if s == 9 && k == 2 {
                break;
            }
            let mut t = Turn::ok(s, k, 3, start, start + u64::from(k) * 50);
            t.e2e_ms = 20 + s % 7;
            if s == 7 && k == 1 {
                t.error = Some(ErrorKind::Timeout);
            }
            records.push(t.record());
            if t.error.is_some() {
                break;
            }
        }
    }
    records.sort_by_key(RequestRecord::last_seen_ns);
    let time_order = analyse_records(
        header("openai", 1_100 * MS, Some("e2e=40ms")),
        records.clone(),
        None,
    );
    let by_shard: Vec<RequestRecord> = (0..4)
        .flat_map(|i| {
            records
                .iter()
                .filter(move |r| r.turn.as_ref().unwrap().session % 4 == i)
                .cloned()
        })
        .collect();
    let merged = analyse_records(
        header("openai", 1_100 * MS, Some("e2e=40ms")),
        by_shard,
        None,
    );
    let (mut a, mut b) = (sessions(&time_order).clone(), sessions(&merged).clone());
    // The orders differ (sessions overlap in time, not within a shard); the
    // analysis's own memory bound is the one figure that depends on the order.
    assert!(a.peak_open_sessions > b.peak_open_sessions);
    (a.peak_open_sessions, b.peak_open_sessions) = (0, 0);
    assert_eq!(a, b);
    assert_eq!((a.completed, a.failed, a.unfinished), (36, 2, 1));
    assert_eq!(a.warmup_sessions, 2);
}
