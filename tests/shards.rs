//! Sharded load (issue 16), end to end with the binary: shard processes against
//! one standalone stub on 127.0.0.1, a shared `--start-at`, `merge-runs`.
//!
//! 1. Exactness: 4 shards merged hold every (seq, intended send) of the unsharded
//!    schedule once, and the merged percentiles are those of the union of the
//!    shards' records; a closed loop's shards split the workers and the seqs.
//! 2. Refusals (exit 2, the folder named): another seed, harness version or
//!    backend; a missing shard; a duplicated shard; a folder given twice.
//! 3. Skew: a shard whose recorded offset is planted 20 ms off is reported, named,
//!    in the console, summary.json, summary.md and index.html.
//! 4. Agent sessions shard as whole sessions: 4 open-loop shards merged hold every
//!    turn of every session of the unsharded plan once (global id, intended start,
//!    seeded think times) and the union's job latencies; closed-loop shards split
//!    the slots and number sessions j·N + I; a replayed trace's sessions split the
//!    same way; shards of another agent plan (turns, think) are refused naming the
//!    folder.
//! 5. The Kubernetes manifest and the sbatch script have the right shape.
//!
//! Bounds: every run is bounded in requests (≤ 600; sessions ≤ 40) and seconds.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

use agentbench::load::{read_load_file, Arrival, Extent, OpenSchedule, RequestRecord};

mod common;
use common::text;

/// [`common::agentbench`] without a scheduler's environment, from which a shard
/// would take its index and count.
fn agentbench() -> Command {
    let mut cmd = common::agentbench();
    cmd.env_remove("SLURM_PROCID")
        .env_remove("SLURM_NTASKS")
        .env_remove("JOB_COMPLETION_INDEX");
    cmd
}

/// A standalone stub process (one for all shards); killed when dropped.
struct Stub {
    child: Child,
    url: String,
}

impl Stub {
    fn start() -> Self {
        let mut child = agentbench()
            .args(["stub", "--port", "0", "--profile", "fast"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Stub {
            child,
            url: format!("http://{}", line.trim()),
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shared start `lead_s` seconds from now, as `@UNIX_SECONDS`.
fn start_in(lead_s: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("@{}", now.as_secs() + lead_s)
}

/// Runs `n` shard processes at once with `plan` (synthetic prompts of 16 tokens,
/// 8 output tokens) and returns their folders.
fn run_shards(url: &str, plan: &[&str], n: u32, root: &Path) -> Vec<PathBuf> {
    let lengths = ["--prompt-tokens", "16", "--output-tokens", "8"];
    run_shards_with(url, &[plan, &lengths[..]].concat(), n, root)
}

/// Runs `n` shard processes at once with `plan` and returns their folders.
fn run_shards_with(url: &str, plan: &[&str], n: u32, root: &Path) -> Vec<PathBuf> {
    let start = start_in(4);
    let children: Vec<(PathBuf, Child)> = (0..n)
        .map(|i| {
            let out = root.join(format!("shard-{i}"));
            let child = agentbench()
                .arg("load")
                .args(["--base-url", url])
                .args(plan)
                .args(["--max-lag", "1s", "--quiet"])
                .args(["--shard", &format!("{i}/{n}"), "--start-at", &start])
                .arg("--out")
                .arg(&out)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(out, child)| {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "{}: {}", out.display(), text(&o));
            out
        })
        .collect()
}

fn merge(dirs: &[PathBuf], out: &Path, extra: &[&str]) -> Output {
    agentbench()
        .arg("merge-runs")
        .args(dirs)
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg("--quiet")
        .output()
        .unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `v` through JSON text, as summary.json was written and read (serde_json's float
/// parsing may be one ULP off the printed shortest form; equal values print equal
/// text).
fn as_read(v: serde_json::Value) -> serde_json::Value {
    serde_json::from_str(&v.to_string()).unwrap()
}

/// The merged summary is what analysing the merged file as a single run gives
/// (`agentbench report` renders the same page).
fn assert_summary_is_the_merged_files(out: &Path, summary: &serde_json::Value) {
    let again = agentbench::load::analyse_file(&out.join("records.jsonl")).unwrap();
    assert_eq!(
        as_read(serde_json::to_value(&again.summary).unwrap()),
        summary["summary"],
        "the merged summary is the merged file's analysis"
    );
}

const OPEN: [&str; 8] = [
    "--rate",
    "300",
    "--arrival",
    "poisson",
    "--requests",
    "600",
    "--seed",
    "21",
];

/// Shard `i` of `count`'s record file, after checking that its header says so.
fn read_shard(dir: &Path, i: usize, count: u32) -> agentbench::load::LoadFile {
    let f = read_load_file(&dir.join("records.jsonl")).unwrap();
    let s = f
        .header
        .plan
        .shard
        .as_ref()
        .expect("a shard's header says so");
    assert_eq!((s.index, s.count), (i as u32, count));
    f
}

#[test]
fn four_shards_merged_are_the_unsharded_schedule_and_the_union_percentiles() {
    let stub = Stub::start();
    let tmp = tempfile::tempdir().unwrap();
    let dirs = run_shards(&stub.url, &OPEN, 4, tmp.path());
    let mut union: Vec<RequestRecord> = Vec::new();
    let mut offsets: Vec<i64> = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let f = read_shard(d, i, 4);
        let s = f.header.plan.shard.as_ref().unwrap();
        assert_eq!(s.source, "flag");
        offsets.push(s.offset_ns);
        assert!(
            f.requests.iter().all(|r| r.seq % 4 == i as u64),
            "shard {i}: seq k mod 4"
        );
        assert_eq!(f.requests.len(), 150, "shard {i} keeps every 4th arrival");
        union.extend(f.requests);
    }
    let out = tmp.path().join("merged");
    let o = merge(&dirs, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    // Started together on one host: their offsets agree. Each offset is also the
    // wall clock's step against the monotonic one during the 4 s wait, which a
    // time daemon can make (seen in CI on 2026-12-03: all four shards +17.0–17.5
    // ms); such a step moves every shard alike, and merge-runs rightly reports it.
    let spread = offsets.iter().max().unwrap() - offsets.iter().min().unwrap();
    assert!(
        spread <= 5_000_000,
        "shards started together on one host: offsets {offsets:?} ns"
    );
    if offsets.iter().all(|o| o.unsigned_abs() <= 5_000_000) {
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("CLOCK SKEW"),
            "offsets {offsets:?} ns within --max-skew, yet: {}",
            text(&o)
        );
    }

    // Exactness: the merged (seq, intended) set is the unsharded schedule.
    let merged = read_load_file(&out.join("records.jsonl")).unwrap();
    assert!(
        merged.end.is_some(),
        "every shard ended, so the merge has an end line"
    );
    let mut got: Vec<(u64, u64)> = merged
        .requests
        .iter()
        .map(|r| (r.seq, r.intended_ns))
        .collect();
    got.sort_unstable();
    let expected: Vec<(u64, u64)> = OpenSchedule {
        rate: 300.0,
        arrival: Arrival::Poisson,
        seed: 21,
        extent: Extent::Requests(600),
    }
    .intended()
    .into_iter()
    .enumerate()
    .map(|(k, t)| (k as u64, t))
    .collect();
    assert_eq!(got, expected, "no request lost, none doubled");
    assert_eq!(merged.header.plan.shards.len(), 4);
    assert!(merged.header.plan.shard.is_none());

    // The merged percentiles are those of the union of the shards' records.
    let direct = agentbench::load::analyse::analyse_records(
        merged.header.clone(),
        union,
        merged.end.clone(),
    );
    let summary = json(&out.join("summary.json"));
    for (name, pcts) in [
        ("ttft", serde_json::to_value(direct.summary.ttft).unwrap()),
        ("e2e", serde_json::to_value(direct.summary.e2e).unwrap()),
        ("tpot", serde_json::to_value(direct.summary.tpot).unwrap()),
        ("lag", serde_json::to_value(direct.summary.lag).unwrap()),
    ] {
        assert_eq!(summary["summary"][name], as_read(pcts), "{name}");
    }
    assert_eq!(summary["summary"]["measured"], 600);
    // … and what analysing the merged file as a single run gives (`report`).
    assert_summary_is_the_merged_files(&out, &summary);
    let shards = summary["shards"].as_array().expect("the per-shard table");
    assert_eq!(shards.len(), 4);
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["index"], i as u64);
        assert_eq!(s["requests"], 150);
        assert!(s["lag_p99_ms"].as_f64().is_some());
        assert_eq!(s["client_limited"], false);
        assert!((s["target_rate"].as_f64().unwrap() - 75.0).abs() < 1e-9);
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("## Shards") && md.contains("| 3/4 |"), "{md}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Shards") && html.contains("client-limited"));
}

#[test]
fn closed_loop_shards_split_the_workers_and_the_seqs() {
    let stub = Stub::start();
    let tmp = tempfile::tempdir().unwrap();
    let plan = ["--concurrency", "6", "--requests", "120"];
    let dirs = run_shards(&stub.url, &plan, 3, tmp.path());
    for (i, d) in dirs.iter().enumerate() {
        let f = read_load_file(&d.join("records.jsonl")).unwrap();
        assert!(
            f.requests
                .iter()
                .all(|r| r.worker % 3 == i as u32 && r.seq % 3 == i as u64),
            "shard {i} runs workers w ≡ {i} (mod 3) and seqs j·3 + {i}"
        );
    }
    let out = tmp.path().join("merged");
    let o = merge(&dirs, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let merged = read_load_file(&out.join("records.jsonl")).unwrap();
    let mut seqs: Vec<u64> = merged.requests.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..120).collect::<Vec<_>>());
    let mut workers: Vec<u32> = merged.requests.iter().map(|r| r.worker).collect();
    workers.sort_unstable();
    workers.dedup();
    assert_eq!(workers, (0..6).collect::<Vec<_>>());
}

/// One small 4-shard run shared by the refusal and skew tests (copied before
/// any edit).
fn fixture() -> &'static (tempfile::TempDir, Vec<PathBuf>) {
    static FIXTURE: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let stub = Stub::start();
        let tmp = tempfile::tempdir().unwrap();
        let plan = [
            "--rate",
            "200",
            "--arrival",
            "constant",
            "--requests",
            "80",
            "--seed",
            "3",
        ];
        let dirs = run_shards(&stub.url, &plan, 4, tmp.path());
        (tmp, dirs)
    })
}

/// Copies the shards `dirs` (a fixture's, never edited) into `root` and returns
/// the copies.
fn copies(dirs: &[PathBuf], root: &Path) -> Vec<PathBuf> {
    dirs.iter()
        .map(|d| {
            let to = root.join(d.file_name().unwrap());
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(d.join("records.jsonl"), to.join("records.jsonl")).unwrap();
            to
        })
        .collect()
}

/// Rewrites line 1 (the header) of `dir`'s records with `edit`.
fn edit_header(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("records.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    let mut h: serde_json::Value = serde_json::from_str(first).unwrap();
    edit(&mut h);
    std::fs::write(
        &path,
        format!("{}\n{rest}", serde_json::to_string(&h).unwrap()),
    )
    .unwrap();
}

fn refused(dirs: &[PathBuf], out: &Path, names: &Path, says: &str) {
    let o = merge(dirs, out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        err.contains(&names.display().to_string()),
        "names {}: {err}",
        names.display()
    );
    assert!(err.contains(says), "says {says:?}: {err}");
    assert!(
        !out.join("records.jsonl").exists(),
        "nothing merged after a refusal"
    );
}

#[test]
fn shards_that_do_not_belong_together_are_refused_naming_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("merged");

    let d = copies(&fixture().1, &tmp.path().join("seed"));
    edit_header(&d[2], |h| h["plan"]["seed"] = 4.into());
    refused(&d, &out, &d[2], "seed");

    let d = copies(&fixture().1, &tmp.path().join("version"));
    edit_header(&d[1], |h| h["harness"]["version"] = "0.0.9".into());
    refused(&d, &out, &d[1], "harness version");

    let d = copies(&fixture().1, &tmp.path().join("backend"));
    edit_header(&d[3], |h| {
        h["backend"]["url"] = "http://127.0.0.1:9".into();
    });
    refused(&d, &out, &d[3], "backend URL");

    let d = copies(&fixture().1, &tmp.path().join("missing"));
    let o = merge(&d[..3], &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shard 3/4 is missing"),
        "{}",
        text(&o)
    );

    let d = copies(&fixture().1, &tmp.path().join("duplicate"));
    let dup = tmp.path().join("duplicate").join("shard-1-again");
    std::fs::create_dir_all(&dup).unwrap();
    std::fs::copy(d[1].join("records.jsonl"), dup.join("records.jsonl")).unwrap();
    let mut with_dup = d.clone();
    with_dup.push(dup.clone());
    refused(&with_dup, &out, &dup, "duplicates shard 1/4");

    let mut twice = d.clone();
    twice.push(d[0].clone());
    refused(&twice, &out, &d[0], "given twice");

    // The untouched copies merge.
    let o = merge(&d, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_shard_with_a_planted_clock_offset_is_reported_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let d = copies(&fixture().1, tmp.path());
    // The fixture's own offsets carry any step of this host's wall clock during
    // its run (see above): set them to 0, then plant one.
    for (i, dir) in d.iter().enumerate() {
        let planted: i64 = if i == 2 { 20_000_000 } else { 0 };
        edit_header(dir, |h| h["plan"]["shard"]["offset_ns"] = planted.into());
    }
    let out = tmp.path().join("merged");
    let o = merge(&d, &out, &[]);
    assert!(
        o.status.success(),
        "skew is reported, not refused: {}",
        text(&o)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let named = |s: &str| {
        s.contains("CLOCK SKEW")
            && s.contains("shard 2/4")
            && s.contains(&d[2].display().to_string())
    };
    assert!(named(&err), "console: {err}");
    assert!(!err.contains("shard 1/4"), "only the skewed shard: {err}");
    let summary = json(&out.join("summary.json"));
    let warnings = summary["warnings"].to_string();
    assert!(
        named(&warnings) && warnings.contains("+20.000 ms"),
        "{warnings}"
    );
    assert!(named(
        &std::fs::read_to_string(out.join("summary.md")).unwrap()
    ));
    assert!(named(
        &std::fs::read_to_string(out.join("index.html")).unwrap()
    ));
    // A tolerance above the offset: no warning.
    let o = merge(&d, &tmp.path().join("tolerant"), &["--max-skew", "25ms"]);
    assert!(o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("CLOCK SKEW"));
}

/// Open-loop chat sessions: 40 sessions of 3 turns at 40/s (seed 5), tool time
/// exp:20ms drawn per (session, turn).
const AGENT_OPEN: [&str; 14] = [
    "--workload",
    "agent",
    "--session",
    "chat",
    "--turns",
    "3",
    "--think",
    "exp:20ms",
    "--session-rate",
    "40",
    "--jobs",
    "40",
    "--seed",
    "5",
];

/// One 4-shard run of [`AGENT_OPEN`], shared by the exactness and refusal tests
/// (copied before any edit).
fn agent_fixture() -> &'static (tempfile::TempDir, Vec<PathBuf>) {
    static FIXTURE: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let stub = Stub::start();
        let tmp = tempfile::tempdir().unwrap();
        let dirs = run_shards(&stub.url, &AGENT_OPEN, 4, tmp.path());
        (tmp, dirs)
    })
}

/// Every (session, turn) of `records` once, sorted, with the session's intended
/// start; asserts no turn is doubled.
fn turns_of(records: &[RequestRecord]) -> Vec<(u64, u32, u64)> {
    let mut got: Vec<(u64, u32, u64)> = records
        .iter()
        .map(|r| {
            let t = r.turn.as_ref().expect("an agent record has its turn");
            (t.session, t.turn, t.session_intended_ns)
        })
        .collect();
    got.sort_unstable();
    let n = got.len();
    got.dedup_by_key(|(s, k, _)| (*s, *k));
    assert_eq!(got.len(), n, "no turn recorded twice");
    got
}

/// Asserts that every turn's tool time is the seeded draw for its (session, turn),
/// as the unsharded run draws it.
fn assert_think_is_seeded(records: &[RequestRecord], think: &str, seed: u64) {
    let think: agentbench::load::think::Think = think.parse().unwrap();
    for r in records {
        let t = r.turn.as_ref().unwrap();
        let want = if t.turn == 0 {
            0
        } else {
            think.draw(seed, t.session, t.turn)
        };
        assert_eq!(t.think_ns, want, "session {} turn {}", t.session, t.turn);
    }
}

#[test]
fn four_shards_of_open_loop_sessions_merged_are_the_unsharded_sessions_and_job_latencies() {
    let dirs = &agent_fixture().1;
    let mut union: Vec<RequestRecord> = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let f = read_shard(d, i, 4);
        assert_eq!(f.header.plan.agent.as_ref().unwrap().turns, 3);
        for r in &f.requests {
            let t = r.turn.as_ref().unwrap();
            assert_eq!(t.session % 4, i as u64, "shard {i}: whole sessions k mod 4");
            assert_eq!(r.seq % 4, i as u64, "shard {i}: request seqs j·4 + {i}");
        }
        assert_eq!(f.requests.len(), 30, "shard {i}: 10 sessions × 3 turns");
        union.extend(f.requests);
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("merged");
    let o = merge(dirs, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let merged = read_load_file(&out.join("records.jsonl")).unwrap();

    // Exactness: the merged sessions are the unsharded plan's, each whole.
    let schedule = OpenSchedule {
        rate: 40.0,
        arrival: Arrival::Poisson,
        seed: 5,
        extent: Extent::Requests(40),
    }
    .intended();
    let expected: Vec<(u64, u32, u64)> = schedule
        .iter()
        .enumerate()
        .flat_map(|(k, &t)| (0..3).map(move |turn| (k as u64, turn, t)))
        .collect();
    assert_eq!(
        turns_of(&merged.requests),
        expected,
        "every turn of every session once, at its global id and intended start"
    );
    let mut seqs: Vec<u64> = merged.requests.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 120, "request seqs are unique across the shards");
    assert_think_is_seeded(&merged.requests, "exp:20ms", 5);

    // The merged job figures are those of the union of the shards' records.
    let direct = agentbench::load::analyse::analyse_records(
        merged.header.clone(),
        union.clone(),
        merged.end.clone(),
    );
    let jobs = direct.summary.sessions.as_ref().expect("a sessions view");
    let summary = json(&out.join("summary.json"));
    let got = &summary["summary"]["sessions"];
    assert_eq!(
        got["latency"],
        as_read(serde_json::to_value(jobs.latency).unwrap())
    );
    assert_eq!(
        got["turns"],
        as_read(serde_json::to_value(&jobs.turns).unwrap())
    );
    assert_eq!(
        (got["sessions"].as_u64(), got["completed"].as_u64()),
        (Some(40), Some(40))
    );
    // … which is the slowest job to HDR precision (3 significant digits).
    let mut slowest = 0u64;
    for r in &union {
        let t = r.turn.as_ref().unwrap();
        slowest = slowest.max(r.last_seen_ns() - t.session_intended_ns);
    }
    let max_ms = got["latency"]["max"].as_f64().unwrap();
    let exact_ms = slowest as f64 / 1e6;
    assert!(
        (max_ms - exact_ms).abs() <= exact_ms * 1e-3 + 1e-3,
        "job latency max {max_ms} ms, the union's slowest job {exact_ms} ms"
    );
    assert_summary_is_the_merged_files(&out, &summary);
    let shards = summary["shards"].as_array().expect("the per-shard table");
    assert_eq!(shards.len(), 4);
    for s in shards {
        assert_eq!(
            (s["sessions"].as_u64(), s["jobs_completed"].as_u64()),
            (Some(10), Some(10))
        );
        assert_eq!(s["requests"], 30);
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("10 sessions, 10 jobs completed"), "{md}");
}

#[test]
fn closed_loop_session_shards_split_the_slots_and_number_sessions_globally() {
    let stub = Stub::start();
    let tmp = tempfile::tempdir().unwrap();
    let plan = [
        "--workload",
        "agent",
        "--turns",
        "2",
        "--think",
        "20ms",
        "--sessions",
        "4",
        "--jobs",
        "12",
        "--seed",
        "7",
    ];
    let dirs = run_shards(&stub.url, &plan, 2, tmp.path());
    for (i, d) in dirs.iter().enumerate() {
        let f = read_load_file(&d.join("records.jsonl")).unwrap();
        for r in &f.requests {
            let t = r.turn.as_ref().unwrap();
            assert!(
                r.worker % 2 == i as u32 && t.session % 2 == i as u64 && r.seq % 2 == i as u64,
                "shard {i} runs slots w ≡ {i} (mod 2), sessions and seqs j·2 + {i}"
            );
        }
    }
    let out = tmp.path().join("merged");
    let o = merge(&dirs, &out, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let merged = read_load_file(&out.join("records.jsonl")).unwrap();
    let got: Vec<(u64, u32)> = turns_of(&merged.requests)
        .into_iter()
        .map(|(s, k, _)| (s, k))
        .collect();
    let expected: Vec<(u64, u32)> = (0..12).flat_map(|s| [(s, 0), (s, 1)]).collect();
    assert_eq!(got, expected, "sessions 0..12, each whole, once");
    assert_think_is_seeded(&merged.requests, "20ms", 7);
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["summary"]["sessions"]["completed"], 12);
    assert_summary_is_the_merged_files(&out, &summary);

    // Fewer slots than shards: refused before any request, naming the flag.
    let o = agentbench()
        .arg("load")
        .args(["--base-url", &stub.url])
        .args(["--workload", "agent", "--sessions", "1", "--jobs", "4"])
        .args(["--shard", "1/2", "--start-at", &start_in(4)])
        .arg("--out")
        .arg(tmp.path().join("refused"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--sessions 1"),
        "{}",
        text(&o)
    );
    assert!(!tmp.path().join("refused").exists(), "nothing written");
}

#[test]
fn a_replayed_traces_sessions_split_over_shards_by_session() {
    use agentbench::trace::{read_trace, ReadOptions};
    let stub = Stub::start();
    let tmp = tempfile::tempdir().unwrap();
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/sample-agentic.jsonl");
    let scripts = read_trace(&trace, &ReadOptions::default())
        .unwrap()
        .trace
        .to_scripts(0.05)
        .unwrap();
    let trace_arg = trace.display().to_string();
    // Open loop at the trace's (scaled) times, then back to back on 2 slots.
    for (name, closed) in [("open", &[][..]), ("closed", &["--sessions", "2"][..])] {
        let plan = [
            &[
                "--workload",
                "agent",
                "--trace",
                &trace_arg,
                "--time-scale",
                "0.05",
            ][..],
            closed,
        ]
        .concat();
        let root = tmp.path().join(name);
        let dirs = run_shards_with(&stub.url, &plan, 2, &root);
        let out = root.join("merged");
        let o = merge(&dirs, &out, &[]);
        assert!(o.status.success(), "{name}: {}", text(&o));
        let merged = read_load_file(&out.join("records.jsonl")).unwrap();
        let got = turns_of(&merged.requests);
        let expected: Vec<(u64, u32)> = scripts
            .iter()
            .enumerate()
            .flat_map(|(k, s)| (0..s.turns.len() as u32).map(move |turn| (k as u64, turn)))
            .collect();
        assert_eq!(
            got.iter().map(|&(s, k, _)| (s, k)).collect::<Vec<_>>(),
            expected,
            "{name}: every turn of every trace session once"
        );
        for r in &merged.requests {
            let t = r.turn.as_ref().unwrap();
            let script = &scripts[t.session as usize];
            assert_eq!(r.seq % 2, t.session % 2, "{name}: whole sessions k mod 2");
            if t.turn > 0 {
                let planned = script.turns[t.turn as usize].think_ns;
                assert_eq!(t.think_ns, planned, "{name}: the trace's think time");
            } else if closed.is_empty() {
                assert_eq!(
                    Some(t.session_intended_ns),
                    script.start_ns,
                    "the trace's start"
                );
            }
        }
    }
}

#[test]
fn session_shards_with_another_agent_plan_are_refused_naming_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("merged");
    let sessions = &agent_fixture().1;

    let d = copies(sessions, &tmp.path().join("turns"));
    edit_header(&d[1], |h| h["plan"]["agent"]["turns"] = 2.into());
    refused(&d, &out, &d[1], "agent turns 2 differs from 3");

    let d = copies(sessions, &tmp.path().join("think"));
    edit_header(&d[3], |h| h["plan"]["agent"]["think"] = "exp:50ms".into());
    refused(&d, &out, &d[3], "agent think");

    // A request shard among session shards.
    let mut d = copies(sessions, &tmp.path().join("requests"));
    d[2] = copies(&fixture().1[2..3], &tmp.path().join("requests-2"))[0].clone();
    refused(&d, &out, &d[2], "agent");
}

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The value after `key:` on the first line that has it (trimmed, unquoted).
fn yaml_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let l = l.trim_start().trim_start_matches("- ");
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().trim_matches('"'))
    })
}

/// No Kubernetes cluster is available here: the manifest is checked for shape.
#[test]
fn the_kubernetes_manifest_is_an_indexed_job_running_the_shards() {
    let y = repo_file("deploy/k8s/load-job.yaml");
    assert!(!y.contains('\t'), "YAML has no tabs");
    assert_eq!(yaml_value(&y, "apiVersion"), Some("batch/v1"));
    assert_eq!(yaml_value(&y, "kind"), Some("Job"));
    assert_eq!(yaml_value(&y, "completionMode"), Some("Indexed"));
    let completions = yaml_value(&y, "completions").expect("completions");
    assert_eq!(yaml_value(&y, "parallelism"), Some(completions));
    let n: u32 = completions.parse().expect("a number");
    assert!(n >= 2);
    assert_eq!(yaml_value(&y, "restartPolicy"), Some("Never"));
    // The command line (the list under `command:`): load, --shards N, a shared
    // --start-at, a folder per index on the mounted volume.
    let mut lines = y.lines().skip_while(|l| l.trim() != "command:").skip(1);
    let args: Vec<&str> = lines
        .by_ref()
        .map(str::trim)
        .take_while(|l| l.starts_with("- "))
        .map(|l| l[2..].trim().trim_matches('"'))
        .collect();
    let cmd = args.join(" ");
    assert!(cmd.starts_with("agentbench load "), "{cmd}");
    for needle in [
        &format!("--shards {n}"),
        "--start-at ${START_AT}",
        "--out /results/shard-$(JOB_COMPLETION_INDEX)",
    ] {
        assert!(cmd.contains(needle), "the command has {needle:?}: {cmd}");
    }
    assert_eq!(yaml_value(&y, "mountPath"), Some("/results"));
    assert!(y.contains("merge-runs"), "the manifest says how to merge");
    let s = repo_file("deploy/slurm/load.sbatch");
    assert!(s.starts_with("#!"));
    let tasks = s
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --ntasks="))
        .expect("#SBATCH --ntasks=N");
    assert!(tasks.trim().parse::<u32>().is_ok());
    for needle in [
        "srun",
        "load --shard",
        "--start-at",
        "SLURM_PROCID",
        "merge-runs",
    ] {
        assert!(s.contains(needle), "the sbatch script has {needle:?}");
    }
}
