//! `agentbench load` end to end, as a user runs it (the binary, a real stub on
//! 127.0.0.1, real files): the schedule recorded is the schedule of the seed, a
//! constant rate is achieved, a closed loop never exceeds its workers, the client
//! check flags a client that cannot keep up (exit 5), bad flags are refused before
//! anything is written, a run killed mid-way leaves records a report can read, and
//! on one CPU the record writer keeps up in the normal class.
//!
//! Bounds: every run here is bounded in requests and seconds and stops by itself.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use agentbench::load::{read_load_file, Arrival, Extent, OpenSchedule};

mod common;
use common::{agentbench, text};

/// The tests here time real runs: one at a time, so that one test's saturated
/// client is not another's scheduler lag.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `agentbench load ARGS --quiet --out OUT`, not yet run.
fn load_command(args: &[&str], out: &Path) -> Command {
    let mut cmd = agentbench();
    cmd.arg("load")
        .args(args)
        .arg("--quiet")
        .arg("--out")
        .arg(out);
    cmd
}

fn load(args: &[&str], out: &Path) -> Output {
    load_command(args, out).output().unwrap()
}

#[test]
fn recorded_intended_sends_are_the_seeded_schedule_and_constant_rate_is_achieved() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // 2,000 requests at 400/s, constant: 5 s.
    let o = load(
        &[
            "--stub",
            "instant",
            "--rate",
            "400",
            "--arrival",
            "constant",
            "--requests",
            "2000",
            "--seed",
            "11",
            "--prompt-tokens",
            "32",
            "--output-tokens",
            "8",
            // The debug-built test binary on a shared CI machine: the lag bound is
            // not what this test checks (see the client-check tests).
            "--max-lag",
            "1s",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let file = read_load_file(&out.join("records.jsonl")).unwrap();
    assert!(file.end.is_some(), "the end line is written");
    let mut intended: Vec<u64> = file.requests.iter().map(|r| r.intended_ns).collect();
    intended.sort_unstable();
    let expected = OpenSchedule {
        rate: 400.0,
        arrival: Arrival::Constant,
        seed: 11,
        extent: Extent::Requests(2000),
    }
    .intended();
    assert_eq!(
        intended, expected,
        "every intended send is the schedule's, once"
    );
    let mut seqs: Vec<u64> = file.requests.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..2000).collect::<Vec<_>>());
    for r in &file.requests {
        assert!(
            r.sent_ns >= r.intended_ns,
            "seq {} sent before it was due",
            r.seq
        );
        assert!(r.call.is_ok(), "seq {}: {:?}", r.seq, r.call.error);
    }
    // Achieved send rate: the least-squares slope of sent times on intended
    // times (the schedule's pace, which a constant delay does not change).
    let n = file.requests.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for r in &file.requests {
        let (x, y) = (r.intended_ns as f64 / 1e9, r.sent_ns as f64 / 1e9);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    let achieved = 400.0 / slope;
    assert!(
        (achieved - 400.0).abs() <= 4.0,
        "achieved {achieved:.2}/s for a target of 400/s"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["summary"]["measured"], 2000);
    assert_eq!(summary["summary"]["failed"], 0);
    let ratio = summary["summary"]["client"]["rate_ratio"].as_f64().unwrap();
    assert!((ratio - 1.0).abs() < 0.01, "rate ratio {ratio}");
    for f in [
        "index.html",
        "summary.md",
        "intervals.hlog",
        "hdr/load-e2e.us.hdr",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
}

#[test]
fn closed_loop_never_has_more_than_its_workers_in_flight() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // The paced stub holds each response ~1.2 s: 3 workers, 9 requests = 3 waves.
    let o = load(
        &[
            "--stub",
            "paced",
            "--concurrency",
            "3",
            "--requests",
            "9",
            "--max-lag",
            "1s",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let file = read_load_file(&out.join("records.jsonl")).unwrap();
    assert_eq!(file.requests.len(), 9);
    // Sweep the [sent, end] intervals: the overlap never exceeds 3.
    let mut events: Vec<(u64, i32)> = Vec::new();
    for r in &file.requests {
        events.push((r.sent_ns, 1));
        events.push((r.last_seen_ns(), -1));
    }
    events.sort();
    let (mut level, mut peak) = (0, 0);
    for (_, d) in events {
        level += d;
        peak = peak.max(level);
    }
    assert_eq!(
        peak, 3,
        "three workers keep three requests in flight, no more"
    );
    let end = file.end.unwrap();
    assert_eq!(end.peak_in_flight, 3);
    // The record writer accounts for itself: nine records are far under the
    // backlog's mark, so an idle-class writer was never promoted (and on one CPU
    // it runs in the normal class).
    let writer = end.writer.expect("the end line holds the writer's account");
    assert!(writer.peak_backlog_bytes > 0, "{writer:?}");
    assert!(writer.peak_backlog_bytes < 1 << 20, "{writer:?}");
    assert_eq!(writer.promotions, 0, "{writer:?}");
    assert_eq!(writer.records, 9, "{writer:?}");
    assert!(writer.cpu_ns > 0, "{writer:?}");
    if agentbench::provenance::cores() == 1 {
        assert!(!writer.idle_class, "one CPU: the normal class");
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("record writer: "), "{summary}");
    // Each worker's next request is intended when its previous one ended.
    let mut by_worker: std::collections::BTreeMap<u32, Vec<_>> = Default::default();
    for r in &file.requests {
        by_worker.entry(r.worker).or_default().push(r);
    }
    assert_eq!(by_worker.len(), 3);
    for reqs in by_worker.values_mut() {
        reqs.sort_by_key(|r| r.intended_ns);
        for w in reqs.windows(2) {
            assert_eq!(w[1].intended_ns, w[0].last_seen_ns());
        }
    }
}

#[test]
fn a_client_that_cannot_keep_up_is_flagged_and_exits_5_a_comfortable_one_is_not() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    // Far beyond what one core sends: 100,000/s for 3,000 requests.
    let fast = tmp.path().join("too-fast");
    let o = load(
        &[
            "--stub",
            "instant",
            "--rate",
            "100000",
            "--arrival",
            "constant",
            "--requests",
            "3000",
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "4",
        ],
        &fast,
    );
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("CLIENT-LIMITED"), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fast.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["summary"]["client"]["client_limited"], true);
    let html = std::fs::read_to_string(fast.join("index.html")).unwrap();
    assert!(html.contains("CLIENT-LIMITED"));

    // 20/s: comfortable for any build. The lag bound is widened because this is
    // a debug build on a machine shared with the rest of the test suite; the rate
    // and CPU checks still apply.
    let calm = tmp.path().join("calm");
    let o = load(
        &[
            "--stub",
            "instant",
            "--rate",
            "20",
            "--arrival",
            "constant",
            "--requests",
            "40",
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "4",
            "--max-lag",
            "50ms",
        ],
        &calm,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(calm.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["summary"]["client"]["client_limited"], false,
        "{summary}"
    );
}

#[test]
fn bad_flags_are_refused_naming_the_flag_and_nothing_is_written() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--rate", "0"], "--rate"),
        (&["--rate", "-5"], "--rate"),
        (&["--rate", "NaN"], "--rate"),
        (&["--rate", "5", "--concurrency", "2"], "--concurrency"),
        (&["--concurrency", "0"], "--concurrency"),
        (
            &["--rate", "5", "--max-concurrency", "0"],
            "--max-concurrency",
        ),
        (&["--rate", "5", "--arrival", "uniform"], "--arrival"),
        (&["--rate", "5", "--arrival", "gamma:-1"], "--arrival"),
        (&["--duration", "-1"], "--duration"),
        (&["--duration", "2", "--warmup", "5"], "--warmup"),
        (&["--slo", "latency=1s"], "--slo"),
        (&["--slo", "ttft=500"], "--slo"),
        (&["--slo", "ttft=5parsecs"], "--slo"),
        (&["--max-lag", "1"], "--max-lag"),
        (&["--requests", "0"], "--requests"),
        (&["--think", "5"], "--concurrency"),
        (
            &["--rate", "5", "--requests", "10", "--duration", "2"],
            "--duration",
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
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    // An unreachable server: named, exit 2, nothing written.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tmp.path().join("unreachable");
    let url = format!("http://127.0.0.1:{port}");
    let o = agentbench()
        .args([
            "load",
            "--base-url",
            &url,
            "--rate",
            "5",
            "--requests",
            "5",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&url));
    assert!(!out.exists());
}

fn complete_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|d| d.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0)
}

#[test]
fn sigkill_mid_run_leaves_complete_lines_that_a_report_renders() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let records = out.join("records.jsonl");
    let mut child = agentbench()
        .args([
            "load",
            "--stub",
            "instant",
            "--rate",
            "200",
            "--duration",
            "30",
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "4",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // Records are fsynced at least once a second: wait for a few hundred lines.
    while complete_lines(&records) < 300 {
        assert!(
            start.elapsed() < Duration::from_secs(25),
            "no records appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let file = read_load_file(&records).unwrap();
    assert!(
        file.requests.len() >= 299,
        "{} requests",
        file.requests.len()
    );
    assert!(file.end.is_none(), "killed before the end line");
    assert!(
        file.skipped.len() <= 1,
        "at most the torn last line: {:?}",
        file.skipped
    );
    let report = tmp.path().join("report");
    let o = agentbench()
        .arg("report")
        .arg(&records)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        html.contains("interrupted"),
        "the report says the run was cut short"
    );
    assert!(!html.contains("NaN"));
}

fn summary_of(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Coordinated omission, with a server that stalls once for 1 s (2 s after its
/// first request; every load run below starts its own stub):
/// - open loop at 50/s with at most 2 in flight: the ~50 requests intended during
///   the stall wait for a slot, and latency from the intended send shows it
///   (p99 ≥ 0.5 s) while service times (p99) stay low: measured from the actual
///   send, the stall vanishes — the flaw this harness exists to avoid;
/// - a closed loop against the same stall hides it too: only its 2 workers' requests
///   see it, so its p99 stays low while its maximum holds the stall;
/// - a pure open loop keeps sending on schedule through the stall (lag stays low)
///   and the requests sent into the stall carry it in their service time.
#[test]
fn a_stall_shows_in_latency_from_the_intended_send_not_in_service_time() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let stall = "fast:pause=1s@2s";
    let common = [
        "--prompt-tokens",
        "16",
        "--output-tokens",
        "8",
        "--max-lag",
        "60s",
    ];

    let ceiling = tmp.path().join("ceiling");
    let mut args = vec![
        "--stub",
        stall,
        "--rate",
        "50",
        "--arrival",
        "constant",
        "--duration",
        "6",
        "--max-concurrency",
        "2",
    ];
    args.extend(common);
    let o = load(&args, &ceiling);
    assert!(o.status.success(), "{}", text(&o));
    let s = summary_of(&ceiling);
    let e2e = &s["summary"]["e2e"];
    eprintln!("ceiling: {e2e}");
    assert!(
        ms(&e2e["from_intended"]["p99"]) >= 500.0,
        "from intended: {e2e}"
    );
    assert!(ms(&e2e["service"]["p99"]) < 200.0, "service: {e2e}");
    let file = read_load_file(&ceiling.join("records.jsonl")).unwrap();
    let waited = file
        .requests
        .iter()
        .filter(|r| r.slot_wait_ns >= 100_000_000)
        .count();
    assert!(waited >= 20, "{waited} requests waited ≥ 100 ms for a slot");

    let closed = tmp.path().join("closed");
    let mut args = vec![
        "--stub",
        stall,
        "--concurrency",
        "2",
        "--think",
        "20",
        "--duration",
        "6",
    ];
    args.extend(common);
    let o = load(&args, &closed);
    assert!(o.status.success(), "{}", text(&o));
    let e2e = &summary_of(&closed)["summary"]["e2e"];
    eprintln!("closed: {e2e}");
    assert!(
        ms(&e2e["from_intended"]["max"]) >= 900.0,
        "the stall is in the max: {e2e}"
    );
    assert!(
        ms(&e2e["from_intended"]["p99"]) < 200.0,
        "a closed loop hides it: {e2e}"
    );

    let open = tmp.path().join("open");
    let mut args = vec![
        "--stub",
        stall,
        "--rate",
        "50",
        "--arrival",
        "constant",
        "--duration",
        "6",
    ];
    args.extend(common);
    let o = load(&args, &open);
    assert!(o.status.success(), "{}", text(&o));
    let s = summary_of(&open);
    eprintln!("open: lag {}", s["summary"]["lag"]);
    assert!(
        ms(&s["summary"]["lag"]["p99"]) < 100.0,
        "sent on schedule: {}",
        s["summary"]["lag"]
    );
    let file = read_load_file(&open.join("records.jsonl")).unwrap();
    let stalled = file
        .requests
        .iter()
        .filter(|r| r.call.end_ns.is_some_and(|e| e >= 500_000_000))
        .count();
    assert!(
        stalled >= 20,
        "{stalled} requests sent into the stall carry it as service time"
    );
}

/// The capacity stub (2 slots, fixed service time, FIFO) near saturation: the
/// service time the stub reports is the model's, and the mean wait the client
/// measured (TTFT from the actual send less the time to the first chunk) matches
/// the FIFO queue simulated on the same arrival times. The simulation uses each
/// request's service as the stub reported it (prefill + decode), so a stub thread
/// that a busy machine delays moves the truth and the measurement together.
#[test]
fn queueing_at_the_capacity_stub_matches_the_fifo_model() {
    use agentbench::stub::CapacityModel;
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let model = CapacityModel {
        slots: 2,
        prefill_tps: 4000.0,
        decode_tps: 200.0,
        tokens: 10,
        jitter: 0.0,
        seed: 0,
    };
    let profile = "capacity:slots=2,prefill=4000,decode=200,tokens=10";
    let o = load(
        &[
            "--stub",
            profile,
            "--rate",
            "25",
            "--arrival",
            "poisson",
            "--seed",
            "3",
            "--requests",
            "250",
            "--prompt-tokens",
            "32",
            "--output-tokens",
            "10",
            "--max-lag",
            "60s",
        ],
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut file = read_load_file(&out.join("records.jsonl")).unwrap();
    file.requests.sort_by_key(|r| r.sent_ns);
    let prompt_tokens = CapacityModel::prompt_tokens(file.requests[0].call.prompt_bytes);
    let service = model.service_time(prompt_tokens, 10).as_secs_f64();
    let to_first = (model.prefill_time(prompt_tokens) + model.decode_offset(0)).as_secs_f64();
    // Utilisation: 22/s × service / 2 slots.
    let rho = 22.0 * service / 2.0;
    let served = |r: &agentbench::load::RequestRecord| {
        let s = &r.call.server;
        (s.prompt_eval_duration.unwrap() + s.eval_duration.unwrap()) as f64 / 1e9
    };
    let mut reported: Vec<f64> = file.requests.iter().map(served).collect();
    reported.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = reported[reported.len() / 2];
    assert!(
        (median - service).abs() <= 0.1 * service,
        "the stub's median service {median:.4} s vs the model's {service:.4} s"
    );
    assert!((0.6..0.95).contains(&rho), "near saturation: ρ = {rho:.2}");
    // FIFO queue with 2 servers on the recorded arrival times.
    let mut free = [0.0f64; 2];
    let mut sim_wait = 0.0;
    let mut measured_wait = 0.0;
    for r in &file.requests {
        let arrival = r.sent_ns as f64 / 1e9;
        let (k, _) = free
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.partial_cmp(b.1).unwrap())
            .unwrap();
        let start = free[k].max(arrival);
        sim_wait += start - arrival;
        free[k] = start + served(r);
        let ttft = r.call.chunk_ns[0] as f64 / 1e9;
        measured_wait += (ttft - to_first).max(0.0);
    }
    let n = file.requests.len() as f64;
    let (sim, measured) = (sim_wait / n * 1e3, measured_wait / n * 1e3);
    eprintln!("mean wait: measured {measured:.2} ms, FIFO model {sim:.2} ms, ρ {rho:.2}");
    assert!(
        sim > 5.0,
        "the model must queue at ρ = {rho:.2}: {sim:.2} ms"
    );
    assert!(
        (measured - sim).abs() <= 5.0 + 0.25 * sim,
        "mean wait: measured {measured:.2} ms, FIFO model {sim:.2} ms (service {:.1} ms, ρ {rho:.2})",
        service * 1e3
    );
}

/// A standalone stub process on 127.0.0.1; killed when dropped.
struct StubProcess {
    child: std::process::Child,
    addr: String,
}

impl StubProcess {
    fn start(profile: &str) -> Self {
        use std::io::BufRead;
        let mut child = agentbench()
            .args(["stub", "--port", "0", "--profile", profile])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        StubProcess {
            child,
            addr: line.trim().to_string(),
        }
    }

    fn stats(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        write!(
            s,
            "GET /stub/stats HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {resp}"))
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Faults mixed into a 5,000-request run at about 1 % (the fast stub's seeded fault
/// mix: HTTP 500, an error object mid-stream, a body cut before its final object):
/// every request has exactly one record, the errors by class equal what the stub
/// says it injected, and rates and goodput count the failures.
#[test]
fn faults_under_load_are_counted_by_class_in_every_rate() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let stub = StubProcess::start("fast:faults=0.01,fault_seed=5");
    let url = format!("http://{}", stub.addr);
    let o = load(
        &[
            "--base-url",
            &url,
            "--concurrency",
            "8",
            // 5 ms between a worker's requests: a closed loop against a stub that
            // answers at once would otherwise keep the client's CPU saturated
            // (correctly flagged client-limited, exit 5), which is not under test.
            "--think",
            "5",
            "--requests",
            "5000",
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "8",
            "--slo",
            "e2e=10s",
            "--max-lag",
            "60s",
        ],
        &out,
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "failed requests → exit 3: {}",
        text(&o)
    );
    let injected = stub.stats();
    let file = read_load_file(&out.join("records.jsonl")).unwrap();
    let mut seqs: Vec<u64> = file.requests.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..5000).collect::<Vec<_>>(),
        "one record per request"
    );
    let n = |k: &str| injected[k].as_u64().unwrap();
    let (http, mid, cut) = (
        n("injected_http_500"),
        n("injected_error_mid_stream"),
        n("injected_truncate"),
    );
    assert!(
        (20..=90).contains(&(http + mid + cut)),
        "about 1 % of 5,000: {injected}"
    );
    let s = summary_of(&out);
    let errors = &s["summary"]["errors"];
    let count = |k: &str| errors[k].as_u64().unwrap_or(0);
    assert_eq!(count("http_status"), http, "{errors} vs {injected}");
    assert_eq!(count("server_error"), mid, "{errors} vs {injected}");
    assert_eq!(count("truncated"), cut, "{errors} vs {injected}");
    let failed = http + mid + cut;
    assert_eq!(s["summary"]["failed"].as_u64().unwrap(), failed);
    assert_eq!(s["summary"]["measured"].as_u64().unwrap(), 5000);
    let error_rate = s["summary"]["error_rate"].as_f64().unwrap();
    assert!((error_rate - failed as f64 / 5000.0).abs() < 1e-12);
    // Goodput's denominator holds the failures: every completed request met a 10 s
    // E2E here, so goodput is exactly the completed fraction.
    let goodput = &s["summary"]["goodput"];
    assert_eq!(goodput["met"].as_u64().unwrap(), 5000 - failed);
    let fraction = goodput["fraction"].as_f64().unwrap();
    assert!((fraction - (5000 - failed) as f64 / 5000.0).abs() < 1e-12);
    // The request rate counts every request, the ok rate only the completed ones.
    let (rate, ok_rate) = (
        ms(&s["summary"]["request_rate"]),
        ms(&s["summary"]["ok_rate"]),
    );
    assert!((ok_rate / rate - (5000 - failed) as f64 / 5000.0).abs() < 1e-9);
}

/// Runs `agentbench load ARGS --quiet --out OUT` with the process (the embedded
/// stub, the measuring thread and the record writer) held to CPU 0.
fn load_on_one_cpu(args: &[&str], out: &Path) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = load_command(args, out);
    // SAFETY: sched_setaffinity on the child between fork and exec, with a
    // zeroed, then filled, CPU set; no allocation.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[test]
fn on_one_cpu_the_record_writer_keeps_up_in_the_normal_class() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // 5,000 streamed answers as fast as one CPU serves them: an idle-class writer
    // would hardly run, and their records (~30 MB of heap) would queue in memory.
    let o = load_on_one_cpu(
        &["--stub", "fast", "--concurrency", "1", "--requests", "5000"],
        &out,
    );
    // The run itself may be judged client-limited (exit 5) on one busy CPU; what is
    // checked here is the writer.
    assert!(matches!(o.status.code(), Some(0 | 5)), "{}", text(&o));
    let file = read_load_file(&out.join("records.jsonl")).unwrap();
    assert_eq!(file.requests.len(), 5_000);
    let writer = file.end.unwrap().writer.expect("the writer's account");
    assert!(!writer.idle_class, "one CPU: the normal class; {writer:?}");
    assert_eq!(writer.records, 5_000, "{writer:?}");
    assert!(
        writer.peak_backlog_bytes < 16 << 20,
        "the backlog stays small when the writer is not starved: {writer:?}"
    );
}
