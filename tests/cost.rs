//! The harness's own cost, counted against a stub's known truth: how often a run
//! reads the corpus, how many connections and `/api/version` probes a sequential
//! run makes, and the client's own per-call figures.

use std::path::Path;
use std::time::Duration;

use agentbench::cli::{Cli, Command};
use agentbench::ingest::{ingest, walks_on_this_thread, IngestOptions};
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

/// Runs `agentbench run --runs N --base-url URL` in this process, on this thread's
/// current-thread runtime (as the binary does), and returns the corpus walks it
/// made on this thread.
async fn run_against(url: &str, runs: u32, out: &Path) -> u64 {
    let cli = Cli::try_parse_from([
        "agentbench",
        "run",
        "--quiet",
        "--runs",
        &runs.to_string(),
        "--base-url",
        url,
        "--corpus",
        mock_data().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let Command::Run(args) = cli.command else {
        unreachable!()
    };
    let before = walks_on_this_thread();
    let outcome = agentbench::cli::run(&args).await.unwrap();
    assert_eq!(
        outcome.run_summary.runs_ok, runs as usize,
        "every run completes"
    );
    walks_on_this_thread() - before
}

#[tokio::test(flavor = "current_thread")]
async fn a_sequential_run_reads_the_corpus_once_per_run_on_one_connection_with_one_probe() {
    // The counter counts: one direct ingest is one walk.
    let before = walks_on_this_thread();
    ingest(mock_data(), &IngestOptions::default()).unwrap();
    assert_eq!(walks_on_this_thread() - before, 1);

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
        stub.shutdown().await;
    }
}
