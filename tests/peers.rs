//! `agentbench peers`: agents run as child processes against one backend, measured
//! from outside. External agents here are tiny Python programs (stdlib only) that make
//! one real HTTP request to the backend and replay workflow lines recorded by the
//! built-in agent, optionally altered.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FAKE_AGENT: &str = r#"
"""Test agent: one real HTTP request, then replays recorded workflow lines."""
import hashlib, json, sys, urllib.request
mode, template = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]
def opt(name):
    return rest[rest.index(name) + 1]
base, runs, out = opt("--base-url"), int(opt("--runs")), opt("--out")
with urllib.request.urlopen(base + "/api/version", timeout=10) as r:
    r.read()
recs = [json.loads(l) for l in open(template) if l.strip()]
recs = [r for r in recs if r.get("kind") == "workflow"]
f = open(out, "a")
for i in range(runs):
    if mode == "fail" and i == 1:
        f.close()
        print("failing on purpose", file=sys.stderr)
        sys.exit(1)
    rec = json.loads(json.dumps(recs[i % len(recs)]))
    rec["run_index"] = i
    call = rec["calls"][0]
    if mode == "alter-prompt":
        call["prompt"] += " (altered)"
        call["call"]["prompt_sha256"] = hashlib.sha256(call["prompt"].encode()).hexdigest()
    elif mode == "bad-hash":
        call["prompt"] += " (altered)"
    elif mode == "bad-line" and i == 0:
        rec["ttft_ms"] = 1.0
    f.write(json.dumps(rec) + "\n")
    f.flush()
f.close()
"#;

struct Setup {
    dir: tempfile::TempDir,
    script: PathBuf,
    template: PathBuf,
}

/// Writes the fake agent and a template of 2 workflow lines recorded by the
/// built-in agent against an instant stub.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fake_agent.py");
    std::fs::write(&script, FAKE_AGENT).unwrap();
    let template = dir.path().join("template.jsonl");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stub = rt
        .block_on(agentbench::stub::serve(
            agentbench::stub::default_addr(0),
            agentbench::stub::StubProfile::named("instant").unwrap(),
            agentbench::stub::StubKind::Instant,
        ))
        .unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["agent", "--base-url", stub.url(), "--runs", "2", "--out"])
        .arg(&template)
        .status()
        .unwrap();
    assert!(status.success());
    rt.block_on(stub.shutdown());
    Setup {
        dir,
        script,
        template,
    }
}

impl Setup {
    fn fake(&self, name: &str, mode: &str) -> String {
        format!(
            "{name}=python3 '{}' {mode} '{}'",
            self.script.display(),
            self.template.display()
        )
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn peers(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_agentbench"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("peers")
            .args(args)
            .arg("--out")
            .arg(self.out())
            .output()
            .unwrap();
        eprintln!(
            "--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn peers_json(&self) -> Value {
        read_json(&self.out().join("peers.json"))
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

#[test]
fn builtin_twice_and_an_external_agent_are_measured_from_outside() {
    let s = setup();
    // A mode the fake agent treats as "ok", with an ampersand; the command quotes
    // its paths with `'`.
    let fake = s.fake("fake", "ok&more");
    let o = s.peers(&[
        "--agent",
        "rust=builtin",
        "--agent",
        &fake,
        "--agent",
        "rust2=builtin",
        "--runs",
        "2",
        "--rounds",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let j = s.peers_json();
    assert_eq!(j["refused"], false);
    let procs = j["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 6);
    for p in procs {
        let wall = u(&p["wall_ns"]);
        let start = u(&p["start_to_first_request_ns"]);
        assert!(u(&p["peak_rss_bytes"]) > 1_000_000, "{p}");
        assert!(start > 0 && start < wall, "start {start} wall {wall}");
        assert!(u(&p["user_ns"]) + u(&p["sys_ns"]) > 0, "{p}");
        assert!(
            u(&p["user_ns"]) + u(&p["sys_ns"]) < 2 * wall + 50_000_000,
            "{p}"
        );
        assert_eq!(p["first_request"], "GET /api/version");
        assert_eq!(p["exit"], serde_json::json!({"code": 0}));
        assert_eq!(p["runs_recorded"], 2);
        let cmd: Vec<&str> = p["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let tail = &cmd[cmd.len() - 6..];
        assert_eq!(tail[0], "--base-url");
        assert!(tail[1].starts_with("http://127.0.0.1:"));
        assert_eq!(&tail[2..4], ["--runs", "2"]);
        assert_eq!(tail[4], "--out");
        assert!(Path::new(p["log_file"].as_str().unwrap()).exists());
    }
    // Each round runs every agent once; the order is recorded.
    for round in j["order"].as_array().unwrap() {
        let mut names: Vec<&str> = round
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["fake", "rust", "rust2"]);
    }
    assert_eq!(j["prompt_check"]["calls_checked"], 3 * 2 * 2 * 2);
    assert_eq!(j["prompt_check"]["issues"].as_array().unwrap().len(), 0);
    // Figures per agent and metric, with n, median and a CI.
    let figures = j["figures"].as_array().unwrap();
    assert_eq!(figures.len(), 3);
    let rss = &figures[0]["metrics"][1];
    assert_eq!(rss["metric"], "peak_rss");
    assert_eq!(rss["stats"]["n"], 2);
    let overhead = &figures[1]["metrics"][4];
    assert_eq!(overhead["metric"], "client_overhead");
    assert_eq!(overhead["stats"]["n"], 8, "2 rounds × 2 runs × 2 calls");
    assert!(overhead["stats"]["ci"].is_array());
    assert!(!j["ratios"].as_array().unwrap().is_empty());
    // Per-agent record files readable by `agentbench report`.
    let rec = agentbench::record::read_records(&s.out().join("agents/fake/records.jsonl")).unwrap();
    assert_eq!(rec.runs.len(), 4);
    assert!(rec.runs.iter().all(|r| r.round.is_some()));
    // The report.
    let html = std::fs::read_to_string(s.out().join("index.html")).unwrap();
    for id in [
        "plot-start_to_first_request",
        "plot-peak_rss",
        "plot-client_overhead",
        "plot-ttft",
        "plot-e2e",
        "plot-decode_tps",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("no client can change"));
    assert!(
        j["ratios"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["metric"] != "decode_tps"),
        "the server's throughput is not the client's doing: no ratio"
    );
    assert!(!html.contains("<script"));
    let md = std::fs::read_to_string(s.out().join("peers.md")).unwrap();
    assert!(
        md.contains("| fake / rust |") || md.contains("fake / rust"),
        "{md}"
    );
    // Markdown, not HTML: the command's quotes and ampersand stay as typed.
    for entity in ["&#39;", "&amp;", "&quot;", "&lt;", "&gt;"] {
        assert!(!md.contains(entity), "{entity} in peers.md:\n{md}");
    }
    assert!(
        md.contains("| fake | `python3 '") && md.contains("ok&more"),
        "{md}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("start to first request") && stdout.contains("rust2 / rust"));
    // The folder is not overwritten.
    let again = s.peers(&["--agent", "rust=builtin", "--runs", "1", "--rounds", "1"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("already exists"));
}

#[test]
fn an_agent_whose_prompts_differ_is_refused_naming_it() {
    let s = setup();
    let fake = s.fake("liar", "alter-prompt");
    let args = [
        "--agent",
        "rust=builtin",
        "--agent",
        &fake,
        "--runs",
        "1",
        "--rounds",
        "1",
    ];
    let o = s.peers(&args);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("agent \"liar\"") && err.contains("stage analysis"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    let j = s.peers_json();
    assert_eq!(j["refused"], true);
    let issue = &j["prompt_check"]["issues"][0];
    assert_eq!(issue["problem"], "differs");
    assert_eq!(issue["agent"], "liar");
    assert_eq!(issue["reference_agent"], "rust");
    assert_ne!(issue["hash"], issue["reference_hash"]);
    assert!(err.contains(issue["hash"].as_str().unwrap()));
    assert!(err.contains(issue["reference_hash"].as_str().unwrap()));
    assert!(
        !s.out().join("index.html").exists(),
        "no comparison when refused"
    );
    assert_eq!(
        j["processes"].as_array().unwrap().len(),
        2,
        "raw measurements kept"
    );

    // --force compares anyway and says so.
    std::fs::remove_dir_all(s.out()).unwrap();
    let mut forced = args.to_vec();
    forced.push("--force");
    let o = s.peers(&forced);
    assert_eq!(o.status.code(), Some(0));
    let html = std::fs::read_to_string(s.out().join("index.html")).unwrap();
    assert!(html.contains("Prompts DIFFER"));
}

#[test]
fn a_recorded_hash_that_is_not_the_prompts_hash_is_refused() {
    let s = setup();
    let fake = s.fake("sloppy", "bad-hash");
    let o = s.peers(&["--agent", &fake, "--runs", "1", "--rounds", "1"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("agent \"sloppy\"") && err.contains("is not the SHA-256 of its prompt"),
        "{err}"
    );
}

#[test]
fn a_failing_agent_is_reported_and_every_record_is_kept() {
    let s = setup();
    let fake = s.fake("flaky", "fail");
    let o = s.peers(&[
        "--agent",
        "rust=builtin",
        "--agent",
        &fake,
        "--runs",
        "2",
        "--rounds",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("agent \"flaky\" round 0: exit status 1") && err.contains("round-0.log"),
        "{err}"
    );
    assert!(err.contains("1 run(s) it recorded are kept"), "{err}");
    let log = std::fs::read_to_string(s.out().join("agents/flaky/round-0.log")).unwrap();
    assert!(log.contains("failing on purpose"));
    let j = s.peers_json();
    let procs = j["processes"].as_array().unwrap();
    let by = |name: &str| procs.iter().find(|p| p["agent"] == name).unwrap();
    assert_eq!(by("rust")["runs_recorded"], 2);
    assert_eq!(by("flaky")["runs_recorded"], 1);
    assert_eq!(by("flaky")["exit"], serde_json::json!({"code": 1}));
    assert_eq!(j["figures"][0]["metrics"][4]["stats"]["n"], 4);
    assert_eq!(j["figures"][1]["metrics"][4]["stats"]["n"], 2);
    assert!(s.out().join("index.html").exists());
}

#[test]
fn lines_that_break_the_schema_are_rejected_and_reported() {
    let s = setup();
    let fake = s.fake("typo", "bad-line");
    let o = s.peers(&["--agent", &fake, "--runs", "2", "--rounds", "1"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "a protocol violation is a failure"
    );
    let j = s.peers_json();
    let p = &j["processes"][0];
    assert_eq!(p["runs_recorded"], 1);
    let why = p["rejected_lines"][0].as_str().unwrap();
    assert!(why.contains("line 1") && why.contains("ttft_ms"), "{why}");
    assert!(stderr(&o).contains("rejected"));
}

#[test]
fn bad_input_exits_2_with_the_flag_and_the_expected_form() {
    let s = setup();
    for (args, needle) in [
        (vec!["--agent", "rust"], "NAME=CMD"),
        (vec!["--agent", "=builtin"], "NAME=CMD"),
        (vec!["--agent", "a=x 'open"], "unterminated"),
        (
            vec!["--agent", "a=builtin", "--agent", "a=builtin"],
            "twice",
        ),
        (
            vec!["--agent", "a=builtin", "--backend", "ollama"],
            "--backend",
        ),
        (vec!["--agent", "a=builtin", "--runs", "0"], "--runs"),
        (
            vec!["--agent", "a=/nonexistent/agent"],
            "cannot start agent \"a\"",
        ),
    ] {
        let o = s.peers(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains(needle), "{args:?}: {err}");
        if needle == "NAME=CMD" {
            assert!(err.contains("--agent"), "{err}");
        }
        let _ = std::fs::remove_dir_all(s.out());
    }
}

#[test]
fn against_a_url_start_to_first_request_is_not_available_and_said_so() {
    let s = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stub = rt
        .block_on(agentbench::stub::serve(
            agentbench::stub::default_addr(0),
            agentbench::stub::StubProfile::named("instant").unwrap(),
            agentbench::stub::StubKind::Instant,
        ))
        .unwrap();
    let o = s.peers(&[
        "--agent",
        "rust=builtin",
        "--runs",
        "1",
        "--rounds",
        "1",
        "--backend",
        stub.url(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let j = s.peers_json();
    assert!(j["processes"][0]["start_to_first_request_ns"].is_null());
    assert!(u(&j["processes"][0]["peak_rss_bytes"]) > 0);
    assert!(j["notes"][0].as_str().unwrap().contains("not available"));
    assert!(stub.requests().len() >= 3, "the agent used the URL");
    rt.block_on(stub.shutdown());
}

#[test]
fn the_paced_backend_serves_every_agent_the_same_schedule() {
    let s = setup();
    let o = s.peers(&[
        "--agent",
        "a=builtin",
        "--agent",
        "b=builtin",
        "--runs",
        "1",
        "--rounds",
        "1",
        "--backend",
        "paced",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let j = s.peers_json();
    for f in j["figures"].as_array().unwrap() {
        let ttft = &f["metrics"][5];
        assert_eq!(ttft["metric"], "ttft");
        let m = ttft["stats"]["median"].as_f64().unwrap();
        assert!(
            (195.0..2000.0).contains(&m),
            "TTFT {m} ms on the paced stub (200 ms)"
        );
    }
}
