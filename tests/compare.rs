//! `agentbench compare`: verdicts against planted differences, exit codes, JSON and
//! Bencher output, and the provenance refusal.

use std::process::Command;

mod common;
use common::{header, synthetic_run, write_records};

/// Deterministic jitter in [-1, 1).
fn jitter(i: u32) -> f64 {
    let x = (u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

fn runs(n: u32, ttft_ms: f64, overhead_ms: f64) -> Vec<agentbench::record::WorkflowRecord> {
    (0..n)
        .map(|i| {
            synthetic_run(
                i,
                ttft_ms + 2.0 * jitter(i),
                overhead_ms * (1.0 + 0.02 * jitter(i + 100)),
            )
        })
        .collect()
}

fn compare(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .arg("compare")
        .args(args)
        .output()
        .unwrap()
}

/// A paced stub served from this process (on the runtime's worker threads): first
/// content chunk after `ttft_ms`, then 20 more `gap_ms` apart; same text and model
/// whatever the pacing, so prompts and provenance agree across stubs.
fn paced_stub(
    rt: &tokio::runtime::Runtime,
    ttft_ms: u64,
    gap_ms: u64,
) -> agentbench::stub::RunningStub {
    use agentbench::stub::{default_addr, serve, Pacing, StubKind, StubProfile};
    use std::time::Duration;
    let profile = StubProfile {
        chunks: 21,
        pacing: Pacing::Constant {
            ttft: Duration::from_millis(ttft_ms),
            gap: Duration::from_millis(gap_ms),
        },
        ..StubProfile::named("paced").unwrap()
    };
    rt.block_on(serve(default_addr(0), profile, StubKind::Paced))
        .unwrap()
}

/// `agentbench run --runs RUNS --resume --quiet` against `url` into `out`: adds the
/// runs that `out` lacks, so calling it with 1, 2, … interleaves two folders.
fn run_into(url: &str, out: &std::path::Path, runs: u32) {
    let o = Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OLLAMA_HOST")
        .args(["run", "--quiet", "--resume", "--base-url", url])
        .args(["--runs", &runs.to_string(), "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Real runs, not synthetic records. Two record sets of the same build against the
/// same stub, measured by separate processes (different noise; one run per process,
/// interleaved so that machine drift falls on both sides): no regression, with the
/// default thresholds (6 trials here at load average 7–10: every metric
/// unchanged). A third set, measured the same way against a stub whose calls
/// really are slower (first chunk 130 instead of 100 ms, gaps 7 instead of 5 ms:
/// +30 % TTFT, +35 % E2E): a regression, exit 1. About 20 s.
#[test]
fn real_runs_of_one_build_do_not_regress_and_a_really_slower_server_does() {
    const RUNS: u32 = 8;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stub = paced_stub(&rt, 100, 5);
    let slow_stub = paced_stub(&rt, 130, 7);
    let dir = tempfile::tempdir().unwrap();
    let (a, b, slow) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("slow"),
    );
    // One run per process, the three sets interleaved: every run is measured the
    // same way (a process's first call also opens its connection).
    for n in 1..=RUNS {
        run_into(stub.url(), &a, n);
        run_into(stub.url(), &b, n);
        run_into(slow_stub.url(), &slow, n);
    }
    let (a, b, slow) = (
        a.join("records.jsonl"),
        b.join("records.jsonl"),
        slow.join("records.jsonl"),
    );

    let json = dir.path().join("same.json");
    let out = compare(&[
        a.as_os_str(),
        b.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "two runs of one build: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let same: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let metrics = same["metrics"].as_array().unwrap();
    assert!(
        metrics.iter().all(|m| m["verdict"] != "insufficient"),
        "every metric has samples on both sides: {same}"
    );
    // Ten metrics gate together: each interval at Bonferroni's 1 − 5 %/10.
    assert!(
        metrics.iter().all(|m| m["ci_confidence"] == 0.995),
        "{same}"
    );

    let json = dir.path().join("slow.json");
    let out = compare(&[
        a.as_os_str(),
        slow.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a really slower server: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let slower: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for metric in [
        "analysis.ttft_ms",
        "analysis.e2e_ms",
        "report.ttft_ms",
        "report.e2e_ms",
    ] {
        let m = slower["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == metric)
            .unwrap();
        assert_eq!(m["verdict"], "regressed", "{m}");
    }
    drop((stub, slow_stub));
}

/// Synthetic record sets with a planted 20 % client-overhead slowdown: which
/// metrics regress, the JSON and Bencher output, and a threshold that silences it.
/// (Identical sets are compared with real runs above: two copies of one
/// deterministic synthetic set could never differ.)
#[test]
fn a_planted_synthetic_slowdown_regresses_in_json_and_bmf() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("http://127.0.0.1:1");
    let base = write_records(dir.path(), "base", &h, &runs(20, 200.0, 1.0));
    // 20% slower client overhead, TTFT unchanged.
    let slow = write_records(dir.path(), "slow", &h, &runs(20, 200.0, 1.2));

    let json = dir.path().join("cmp.json");
    let bmf = dir.path().join("bmf.json");
    let out = compare(&[
        base.as_os_str(),
        slow.as_os_str(),
        "--json".as_ref(),
        json.as_os_str(),
        "--bmf".as_ref(),
        bmf.as_os_str(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let verdict = |name: &str| {
        report["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap()["verdict"]
            .clone()
    };
    assert_eq!(verdict("analysis.client_overhead_ms"), "regressed");
    assert_eq!(verdict("report.client_overhead_ms"), "regressed");
    assert_eq!(verdict("analysis.ttft_ms"), "unchanged");
    let bmf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bmf).unwrap()).unwrap();
    let v = &bmf["analysis.client_overhead_ms"]["latency"];
    assert!(v["value"].as_f64().unwrap() > 1.1);
    assert!(v["lower_value"].as_f64().unwrap() <= v["value"].as_f64().unwrap());
    assert!(bmf["analysis.decode_tps"]["throughput"]["value"].is_number());

    // A threshold above the planted change silences it.
    let out = compare(&[
        base.as_os_str(),
        slow.as_os_str(),
        "--threshold".as_ref(),
        "analysis.client_overhead_ms=50".as_ref(),
        "--threshold".as_ref(),
        "report.client_overhead_ms=50".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn different_provenance_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("http://127.0.0.1:1");
    let mut other = h.clone();
    other.server.model_digest = Some("sha256:other".into());
    other.model = "llama3.1:8b".into();
    let base = write_records(dir.path(), "base", &h, &runs(5, 200.0, 1.0));
    let cand = write_records(dir.path(), "cand", &other, &runs(5, 200.0, 1.0));
    let out = compare(&[base.as_os_str(), cand.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not comparable") && err.contains("model digest") && err.contains("--force"),
        "{err}"
    );

    let out = compare(&[base.as_os_str(), cand.as_os_str(), "--force".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING"));

    let out = compare(&[
        base.as_os_str(),
        cand.as_os_str(),
        "--threshold".as_ref(),
        "nope=3".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown metric `nope`"));
}

#[test]
fn runs_with_and_without_the_cpus_held_awake_are_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = header("http://127.0.0.1:1");
    h.host.cpu_idle = None; // a record from before the idle state was recorded
    let mut held = h.clone();
    held.host.cpu_idle = Some(agentbench::cpu_idle::CpuIdle {
        driver: Some("haltpoll".into()),
        governor: Some("haltpoll".into()),
        latency_limit_us: Some(0),
        held_awake: true,
    });
    let mut as_is = held.clone();
    as_is.host.cpu_idle.as_mut().unwrap().held_awake = false;
    as_is.host.cpu_idle.as_mut().unwrap().latency_limit_us = None;
    let old = write_records(dir.path(), "old", &h, &runs(5, 200.0, 1.0));
    let held = write_records(dir.path(), "held", &held, &runs(5, 200.0, 1.0));
    let as_is = write_records(dir.path(), "as-is", &as_is, &runs(5, 200.0, 1.0));

    let out = compare(&[old.as_os_str(), held.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CPUs held awake"), "{err}");
    let out = compare(&[as_is.as_os_str(), held.as_os_str(), "--force".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    // Not held, recorded or not, is the same condition.
    let out = compare(&[old.as_os_str(), as_is.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn one_run_per_side_gives_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("http://127.0.0.1:1");
    let base = write_records(dir.path(), "base", &h, &runs(1, 200.0, 1.0));
    let cand = write_records(dir.path(), "cand", &h, &runs(1, 400.0, 9.0));
    let out = compare(&[base.as_os_str(), cand.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "n = 1 cannot prove a regression"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("too few samples"));
}
