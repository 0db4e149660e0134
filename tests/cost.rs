//! The harness's own cost, counted against a stub's known truth: how often a run
//! reads the corpus, how many connections and `/api/version` probes a sequential
//! run makes, and the client's own per-call figures.

use std::path::Path;
use std::time::Duration;

use agentbench::cli::{Cli, Command};
use agentbench::ingest::{ingest, walks_of, IngestOptions};
use agentbench::stub::{PacedStub, Pacing, StubProfile};
use clap::Parser;

/// A paced profile fast enough for a test: first chunk 5 ms after arrival, then
/// 20 chunks 1 ms apart.
fn quick_profile() -> StubProfile {
    StubProfile {
        chunks: 21,
        pacing: Pacing::Constant {
            ttft: Duration::from_millis(5),
            gap: Duration::from_millis(1),
        },
        ..StubProfile::named("paced").unwrap()
    }
}

fn mock_data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/mock-data"))
}

/// A copy of mock-data in a folder of its own, so that the corpus walks counted
/// on its root are this test's alone.
fn own_corpus() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(mock_data(), dir.path());
    dir
}

/// Runs `agentbench run --runs N --base-url URL` in this process, on this thread's
/// current-thread runtime (as the binary does), on a corpus of its own, and returns
/// the corpus walks it made.
async fn run_against(url: &str, runs: u32, out: &Path) -> u64 {
    run_against_with(&[], url, runs, out).await
}

/// [`run_against`] with `extra` flags (e.g. `--protocol openai`).
async fn run_against_with(extra: &[&str], url: &str, runs: u32, out: &Path) -> u64 {
    let runs_flag = runs.to_string();
    let corpus = own_corpus();
    let mut argv = vec![
        "agentbench",
        "run",
        "--quiet",
        "--runs",
        &runs_flag,
        "--base-url",
        url,
        "--corpus",
        corpus.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    argv.extend_from_slice(extra);
    let cli = Cli::try_parse_from(argv).unwrap();
    let Command::Run(args) = cli.command else {
        unreachable!()
    };
    let outcome = agentbench::cli::run(&args).await.unwrap();
    assert_eq!(
        outcome.run_summary.runs_ok, runs as usize,
        "every run completes"
    );
    walks_of(corpus.path())
}

#[tokio::test(flavor = "current_thread")]
async fn a_sequential_run_reads_the_corpus_once_per_run_on_one_connection_with_one_probe() {
    // The counter counts: one direct ingest is one walk.
    let corpus = own_corpus();
    ingest(corpus.path(), &IngestOptions::default()).unwrap();
    assert_eq!(walks_of(corpus.path()), 1);

    for runs in [1, 2] {
        let stub = PacedStub::start(quick_profile()).await.unwrap();
        let out = tempfile::tempdir().unwrap();
        let walks = run_against(stub.url(), runs, out.path()).await;
        // The header's statistics come from the first run's ingest: no extra scan.
        assert_eq!(walks, u64::from(runs), "corpus walks for --runs {runs}");
        let requests = stub.requests();
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        let versions = paths.iter().filter(|p| **p == "/api/version").count();
        assert_eq!(
            versions, 1,
            "/api/version probes for --runs {runs}: {paths:?}"
        );
        let generations = paths.iter().filter(|p| **p == "/api/generate").count();
        assert_eq!(generations, 2 * runs as usize, "{paths:?}");
        assert_eq!(
            stub.connections_accepted(),
            1,
            "TCP connections for --runs {runs} (requests: {paths:?})"
        );
        // The header still carries the corpus statistics.
        let header = std::fs::read_to_string(out.path().join("records.jsonl")).unwrap();
        let header: serde_json::Value =
            serde_json::from_str(header.lines().next().unwrap()).unwrap();
        assert_eq!(header["corpus"]["stats"]["files"], 101, "{header}");
        // Every call of `run` (current-thread runtime, one call at a time) carries
        // the client's own cost.
        let records = std::fs::read_to_string(out.path().join("records.jsonl")).unwrap();
        let mut costs = 0;
        for line in records.lines().skip(1) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for c in v["calls"].as_array().unwrap() {
                let call = &c["call"];
                let cpu = call["cost"]["cpu_ns"].as_u64().expect("cpu_ns recorded");
                assert!(cpu > 0 && cpu < call["end_ns"].as_u64().unwrap(), "{call}");
                assert!(call["cost"]["request_ns"].as_u64().is_some(), "{call}");
                assert!(call["cost"]["decode_ns"].as_u64().is_some(), "{call}");
                costs += 1;
            }
        }
        assert_eq!(costs, 2 * runs);
        stub.shutdown().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_openai_sequential_run_asks_v1_models_once_on_one_connection() {
    let stub = PacedStub::start(quick_profile()).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    run_against_with(&["--protocol", "openai"], stub.url(), 1, out.path()).await;
    let requests = stub.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    // The probe's list serves the provenance too: one GET /v1/models, not two.
    let lists = paths.iter().filter(|p| **p == "/v1/models").count();
    assert_eq!(lists, 1, "/v1/models requests: {paths:?}");
    assert!(
        paths.iter().any(|p| p.starts_with("/v1/")),
        "the calls went over the OpenAI protocol: {paths:?}"
    );
    assert_eq!(stub.connections_accepted(), 1, "{paths:?}");
    // The header's provenance still comes from that list: the model's entry.
    let records = std::fs::read_to_string(out.path().join("records.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(header["backend"]["protocol"], "openai", "{header}");
    assert_eq!(
        header["server"]["model_details"]["id"], header["model"],
        "{header}"
    );
    stub.shutdown().await;
}

/// The paced stub's known timings: first chunk 5 ms after arrival, last (21st)
/// 20 ms later; the final line follows the last chunk at once.
const QUICK_SERVER_NS: i128 = 25_000_000;

#[tokio::test(flavor = "current_thread")]
async fn a_call_splits_into_request_path_server_response_path_and_decode() {
    use agentbench::client::{CallRequest, Endpoint, LlmClient, RequestSettings, Timeouts};
    use std::time::Instant;

    let stub = PacedStub::start(quick_profile()).await.unwrap();
    let client = LlmClient::new(stub.url(), Timeouts::default()).unwrap();
    let settings = RequestSettings::default();
    let prepared = client.prepare_call(&CallRequest {
        endpoint: Endpoint::Generate,
        model: "gemma3:latest",
        prompt: "Split me.",
        settings: &settings,
    });
    // A warm-up call opens the connection, as a run's second call finds it.
    assert!(client
        .call_prepared(&prepared, Instant::now())
        .await
        .is_ok());
    for i in 0..5 {
        let t0 = Instant::now();
        let rec = client.call_prepared(&prepared, t0).await;
        assert!(rec.is_ok(), "{:?}", rec.error);
        let stream = *stub.streams().last().unwrap();
        assert!(stream.arrival > t0, "the stub's stream is this call's");
        let ns = |later: Instant, earlier: Instant| {
            i128::try_from(later.saturating_duration_since(earlier).as_nanos()).unwrap()
                - i128::try_from(earlier.saturating_duration_since(later).as_nanos()).unwrap()
        };
        let e2e = i128::from(rec.end_ns.unwrap());
        let final_read = i128::from(rec.cost.final_read_ns.expect("final read time"));
        // Each part from its own clock reading: the stub's arrival (its monotonic
        // clock, shared with ours in one process), the server's reported time (from
        // the record), the stub's final line against our read of it, our decoding.
        let request_path = ns(stream.arrival, t0);
        let server = i128::from(rec.server.total_duration.unwrap());
        let response_path = final_read - ns(stream.final_line, t0);
        let decode = e2e - final_read;
        let sum = request_path + server + response_path + decode;
        eprintln!(
            "call {i}: request path {request_path} ns (built and handed over at {:?} ns), server {server} ns, \
             response path {response_path} ns, decode {decode} ns (Σ over reads {:?} ns); \
             sum {sum} ns, E2E {e2e} ns; client CPU {:?} ns",
            rec.cost.request_ns, rec.cost.decode_ns, rec.cost.cpu_ns
        );
        assert!(
            (sum - e2e).abs() <= 50_000,
            "call {i}: parts add up to {sum} ns, E2E is {e2e} ns"
        );
        // Causality across the two sides of the shared clock.
        let handed = i128::from(rec.cost.request_ns.expect("request time"));
        assert!(
            (0..=request_path).contains(&handed),
            "call {i}: handed over at {handed} ns, arrived at {request_path} ns"
        );
        assert!(response_path >= 0, "call {i}: read before it was written");
        assert!(decode >= 0, "call {i}");
        // The server part is the stub's known schedule (late by at most 25 ms on a
        // busy machine, never early).
        assert!(
            (QUICK_SERVER_NS..=2 * QUICK_SERVER_NS).contains(&server),
            "call {i}: server {server} ns vs the schedule's {QUICK_SERVER_NS} ns"
        );
        // Client CPU: measured (current-thread runtime, one call at a time), positive,
        // below E2E (the call mostly waits for the paced stub).
        let cpu = i128::from(
            rec.cost
                .cpu_ns
                .expect("client CPU on a current-thread runtime"),
        );
        assert!(
            cpu > 0 && cpu < e2e,
            "call {i}: client CPU {cpu} ns, E2E {e2e} ns"
        );
        let decoded = i128::from(rec.cost.decode_ns.expect("decode time"));
        assert!(
            decoded > 0 && decoded < e2e,
            "call {i}: decode {decoded} ns"
        );
    }
    stub.shutdown().await;
}

#[test]
fn client_cpu_is_not_recorded_off_a_current_thread_runtime() {
    use agentbench::client::{CallRequest, Endpoint, LlmClient, RequestSettings, Timeouts};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stub = PacedStub::start(quick_profile()).await.unwrap();
        let client = LlmClient::new(stub.url(), Timeouts::default()).unwrap();
        let settings = RequestSettings::default();
        let rec = client
            .call(&CallRequest {
                endpoint: Endpoint::Generate,
                model: "gemma3:latest",
                prompt: "p",
                settings: &settings,
            })
            .await;
        assert!(rec.is_ok(), "{:?}", rec.error);
        assert_eq!(rec.cost.cpu_ns, None, "a task may change threads");
        assert!(rec.cost.request_ns.is_some() && rec.cost.decode_ns.is_some());
        stub.shutdown().await;
    });
}

#[tokio::test(flavor = "current_thread")]
async fn overlapping_calls_on_one_thread_record_no_client_cpu() {
    use agentbench::client::{CallRequest, Endpoint, LlmClient, RequestSettings, Timeouts};

    let stub = PacedStub::start(quick_profile()).await.unwrap();
    let client = LlmClient::new(stub.url(), Timeouts::default()).unwrap();
    let settings = RequestSettings::default();
    let req = CallRequest {
        endpoint: Endpoint::Generate,
        model: "gemma3:latest",
        prompt: "p",
        settings: &settings,
    };
    let (a, b) = tokio::join!(client.call(&req), client.call(&req));
    assert!(a.is_ok() && b.is_ok());
    // Each would be charged the other's work: neither is recorded.
    assert_eq!((a.cost.cpu_ns, b.cost.cpu_ns), (None, None));
    // Alone again, the next call is measured.
    let c = client.call(&req).await;
    assert!(c.cost.cpu_ns.is_some_and(|n| n > 0));
    stub.shutdown().await;
}
