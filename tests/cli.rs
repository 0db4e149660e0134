//! The binary as a user runs it: real processes, real files, loopback only.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

mod common;
use common::agentbench;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn run_on_the_instant_stub_writes_records_summary_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let out = agentbench()
        .args(["run", "--stub", "instant", "--runs", "2", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "header + 2 runs");
    assert_eq!(lines[0]["kind"], "header");
    assert_eq!(lines[0]["backend"]["stub"], "instant");
    assert!(lines[0]["server"]["version"].as_str().is_some());
    assert_eq!(lines[1]["kind"], "workflow");
    assert_eq!(lines[2]["run_index"], 1);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["runs_ok"], 2);
    let report = std::fs::read_to_string(out_dir.join("llm_report.md")).unwrap();
    assert_eq!(
        report,
        lines[2]["calls"][1]["call"]["response"].as_str().unwrap()
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("analysis")
            && stdout.contains("unaccounted: E2E − server")
            && stdout.contains("client CPU"),
        "{stdout}"
    );

    // Running again into the same folder refuses instead of clobbering.
    let again = agentbench()
        .args(["run", "--stub", "instant", "--runs", "1", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_exit(&again, 2);
    assert!(text(&again.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap(),
        records,
        "earlier records are kept"
    );
}

/// `--keep-cpus-awake` either holds the CPUs awake for the run, and the record says
/// so, or (no write access to the PM QoS device) fails before measuring anything,
/// naming the device and the fix. Which one depends on the machine; each is checked.
#[test]
fn keep_cpus_awake_is_recorded_or_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let out = agentbench()
        .args([
            "run",
            "--stub",
            "instant",
            "--runs",
            "1",
            "--keep-cpus-awake",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    let writable = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/cpu_dma_latency")
        .is_ok();
    if !writable {
        assert_exit(&out, 2);
        let err = text(&out.stderr);
        assert!(
            err.contains("/dev/cpu_dma_latency") && err.contains("--keep-cpus-awake"),
            "{err}"
        );
        assert!(!out_dir.exists(), "nothing measured, nothing written");
        return;
    }
    assert_exit(&out, 0);
    assert!(text(&out.stderr).contains("holding the CPUs awake"));
    let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    let idle = &header["host"]["cpu_idle"];
    assert_eq!(idle["held_awake"], true, "{idle}");
    // Read while the request was held: the machine-wide limit was 0 µs (when the
    // device is readable, as it is where it is writable).
    assert_eq!(idle["latency_limit_us"], 0, "{idle}");
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(html.contains("CPUs held awake"));

    // Without the flag the record says the CPUs were not held.
    let plain = dir.path().join("plain");
    let out = agentbench()
        .args(["run", "--stub", "instant", "--runs", "1", "--out"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let records = std::fs::read_to_string(plain.join("records.jsonl")).unwrap();
    let header: serde_json::Value = serde_json::from_str(records.lines().next().unwrap()).unwrap();
    assert_eq!(header["host"]["cpu_idle"]["held_awake"], false);
}

#[test]
fn an_unreachable_server_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let out = agentbench()
        .args(["run", "--runs", "1", "--base-url", &url, "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let err = text(&out.stderr);
    assert!(err.contains(&url) && err.contains("OLLAMA_HOST"), "{err}");
    assert!(
        !dir.path().join("x").exists(),
        "nothing written for a failed start"
    );

    let out = agentbench()
        .args(["run", "--runs", "1", "--out"])
        .arg(dir.path().join("y"))
        .env("OLLAMA_HOST", format!("127.0.0.1:{}", closed_port()))
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("OLLAMA_HOST"));
}

#[test]
fn a_missing_corpus_and_a_bad_option_are_named() {
    let out = agentbench()
        .args(["run", "--stub", "instant", "--corpus", "/no/such/corpus"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("/no/such/corpus"),
        "{}",
        text(&out.stderr)
    );

    let out = agentbench()
        .args(["run", "--stub", "instant", "--option", "num_cxt=2"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let err = text(&out.stderr);
    assert!(err.contains("num_cxt") && err.contains("num_ctx"), "{err}");
}

/// A standalone stub process serving another model.
struct StubProcess(std::process::Child, String);

impl StubProcess {
    fn start(profile: &str, model: &str) -> Self {
        let mut child = agentbench()
            .args([
                "stub",
                "--port",
                "0",
                "--profile",
                profile,
                "--model",
                model,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().to_string();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "first line is the address: {line:?}"
        );
        Self(child, addr)
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_unknown_model_says_how_to_pull_it() {
    let stub = StubProcess::start("instant", "other:1b");
    let dir = tempfile::tempdir().unwrap();
    let out = agentbench()
        .args([
            "run",
            "--runs",
            "1",
            "--model",
            "gemma3:latest",
            "--base-url",
        ])
        .arg(format!("http://{}", stub.1))
        .arg("--out")
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert_exit(&out, 2);
    let err = text(&out.stderr);
    assert!(
        err.contains("model gemma3:latest not found at")
            && err.contains("ollama pull gemma3:latest"),
        "{err}"
    );
}

#[test]
fn without_a_backend_flag_it_falls_back_to_the_embedded_stub_and_says_so() {
    if TcpStream::connect_timeout(
        &"127.0.0.1:11434".parse().unwrap(),
        Duration::from_millis(300),
    )
    .is_ok()
    {
        eprintln!("skipped: something listens on 127.0.0.1:11434, so no fallback happens");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = agentbench()
        .args(["run", "--runs", "1", "--out"])
        .arg(dir.path().join("f"))
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let err = text(&out.stderr);
    assert!(err.contains("running on the embedded stub"), "{err}");
    assert_eq!(err.matches("embedded stub").count(), 1, "one line: {err}");
    assert!(Path::new(&dir.path().join("f/records.jsonl")).exists());
}

#[test]
fn report_and_merge_work_on_what_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let out = agentbench()
            .args([
                "run", "--stub", "instant", "--runs", "2", "--quiet", "--out",
            ])
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        assert_exit(&out, 0);
    }
    let out = agentbench()
        .arg("report")
        .arg(dir.path().join("a/records.jsonl"))
        .arg(dir.path().join("b/records.jsonl"))
        .arg("--out")
        .arg(dir.path().join("both"))
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let md = std::fs::read_to_string(dir.path().join("both/summary.md")).unwrap();
    assert!(md.contains("analysis"), "{md}");

    let ttft = |run: &str| -> std::path::PathBuf {
        std::fs::read_dir(dir.path().join(run).join("hdr"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-ttft.us.hdr"))
            .unwrap()
    };
    let merged = dir.path().join("merged-ttft.us.hdr");
    let out = agentbench()
        .arg("merge")
        .arg(ttft("a"))
        .arg(ttft("b"))
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    // 2 files × 2 runs × 2 calls = 8 TTFT samples.
    assert!(
        text(&out.stdout).contains("merged 2 files: 8 samples"),
        "{}",
        text(&out.stdout)
    );
    assert!(merged.exists());

    let out = agentbench()
        .args(["report", "/no/such/records.jsonl", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("/no/such/records.jsonl"));
}

#[test]
fn sweep_runs_interleaved_on_the_emulating_stub_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("sweep");
    let sweep = || {
        agentbench()
            .args([
                "sweep",
                "--stub",
                "paced",
                "--runs",
                "2",
                "--num-gpu",
                "80",
                "--num-ctx",
                "512",
                "--temperature",
                "0.8",
                "--out",
            ])
            .arg(&out_dir)
            .output()
            .unwrap()
    };
    let out = sweep();
    assert_exit(&out, 0);
    let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
    let runs: Vec<serde_json::Value> = records
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 4, "baseline + 1 configuration, 2 rounds");
    let configs: std::collections::BTreeSet<&str> =
        runs.iter().map(|r| r["config"].as_str().unwrap()).collect();
    assert_eq!(configs.len(), 2, "{configs:?}");
    let report = std::fs::read_to_string(out_dir.join("sweep.md")).unwrap();
    assert!(report.contains("## Warnings"), "{report}");
    assert!(
        report.contains("embedded stub"),
        "the report says the numbers are an emulation"
    );

    let again = sweep();
    assert_exit(&again, 0);
    assert!(
        text(&again.stdout).contains("0 runs made, 4 already recorded"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap(),
        records
    );
}

/// A server whose final chunk claims a `total_duration` (60 s) longer than the whole
/// call took: the console warns (count, worst value), `summary.json` counts it per
/// stage, the call is kept out of the client-overhead statistics, and the record
/// keeps the server's figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_client_overhead_is_warned_about_and_left_out() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/version"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"version":"0.9.0"}"#))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/show"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"details":{}}"#))
        .mount(&server)
        .await;
    let body = concat!(
        r#"{"model":"m","response":"Summary: fine.","done":false}"#,
        "\n",
        r#"{"model":"m","response":"","done":true,"done_reason":"stop","total_duration":60000000000,"eval_count":1,"eval_duration":1000000}"#,
        "\n"
    );
    Mock::given(method("POST"))
        .and(path("/api/generate"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/x-ndjson")
                .set_body_string(body),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("r");
    let url = server.uri();
    let out = {
        let out_dir = out_dir.clone();
        tokio::task::spawn_blocking(move || {
            agentbench()
                .args(["run", "--runs", "2", "--model", "m", "--base-url", &url])
                .arg("--out")
                .arg(&out_dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert_exit(&out, 0);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: 4 call(s) reported a server time longer than their own E2E")
            && err.contains("as low as -59"),
        "{err}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    for stage in summary["stages"].as_array().unwrap() {
        let neg = &stage["negative_client_overhead"];
        assert_eq!(neg["calls"], 2, "{stage}");
        assert!(neg["worst_ms"].as_f64().unwrap() < -59_000.0, "{stage}");
        assert!(
            stage.get("client_overhead_ms").is_none(),
            "no sample left: {stage}"
        );
    }
    let records = std::fs::read_to_string(out_dir.join("records.jsonl")).unwrap();
    assert!(records.contains("\"total_duration\":60000000000"));
    let html = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    assert!(
        html.contains("id=\"negative-overhead-") && html.contains("4 call(s) reported"),
        "the report warns per group"
    );
}
