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

#[test]
fn a_planted_slowdown_regresses_and_identical_sets_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("http://127.0.0.1:1");
    let base = write_records(dir.path(), "base", &h, &runs(20, 200.0, 1.0));
    let same = write_records(dir.path(), "same", &h, &runs(20, 200.0, 1.0));
    // 20% slower client overhead, TTFT unchanged.
    let slow = write_records(dir.path(), "slow", &h, &runs(20, 200.0, 1.2));

    let out = compare(&[base.as_os_str(), same.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

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
