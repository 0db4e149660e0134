//! `agentbench capacity` against the capacity stub, whose truth is known: S slots,
//! a FIFO queue and a fixed service time (a model the tests simulate, fed by the
//! load engine's own arrival schedule). The search's interval contains the truth,
//! is no wider than ± 10 % of it, and takes at most 12 probes; overload is detected
//! at twice the capacity within a probe's first quarter and never at half of it; a
//! jittered server, searched with ten seeds, never yields a confident wrong answer;
//! bad SLO expressions are refused with the expression quoted. Every run is bounded
//! in requests and time and stops by itself.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::process::Output;

use agentbench::load::{Arrival, Extent, OpenSchedule};
use agentbench::rng::SplitMix64;

mod common;
use common::{agentbench, text};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

// The overload test's server: a 16-word prompt is ≈ 25 tokens (⌈bytes/4⌉), prefilled
// at 100,000 tok/s (0.25 ms); 8 output tokens at 160 tok/s: 50 ms of decode.
const DECODE: f64 = 160.0;
const TOKENS: u64 = 8;

// The capacity tests' server and SLO, chosen so that a search fits in CI (debug
// build, busy 2-core VM) and the queueing model speaks for the real stub:
// - 64 slots of 200 ms (8 tokens at 40 tok/s; first token at 25 ms): capacity
//   ≈ 320 req/s, which a debug client offers without falling behind, and a service
//   time long against the client's own few ms per request and the stub's ≈ 1 %
//   slot overshoot (with 50 ms slots the real stub's capacity was 7 % below the
//   model's, more than the precision asked for);
// - the SLO, p95 of TTFT ≤ 55 ms, allows ≈ 30 ms of queueing: far above those
//   few ms, so they move the truth by ≈ 2 %, not 10 %;
// - arrivals gamma with CV 0.5, smoother than Poisson: with Poisson arrivals the
//   p95 near the knee rests on rare, long busy periods (simulated: a 400-request
//   probe's exceedance fraction has an effective sample size of 1–12 % of its
//   requests), and telling ± 6 % of the truth apart would take probes of many
//   seconds each; with CV 0.5 the p95 rises steeply with the rate, so probes of
//   400 requests decide a few percent from the truth.
const CAP_SLOTS: usize = 64;
const CAP_DECODE: f64 = 40.0;
const CAP_SLO: &str = "p95:ttft<=55ms";
const CAP_SLO_MS: f64 = 55.0;
const CAP_ARRIVAL: &str = "gamma:0.5";
// The range: the geometric bisection's first rates are ≈ 0.60, 1.32 (overloaded),
// 0.89 and 1.09 × the truth, several percent from it, where the model's small
// blind spots (the client's own time, the slot overshoot) cannot turn a right
// verdict about the stub into a wrong one about the model.
const CAP_MIN_RATE: &str = "185";
const CAP_MAX_RATE: &str = "410";
const CAP_PROBE_REQUESTS: &str = "400";

fn profile(jitter: f64, seed: u64) -> String {
    format!(
        "capacity:slots={CAP_SLOTS},prefill=100000,decode={CAP_DECODE},tokens={TOKENS},jitter={jitter},seed={seed}"
    )
}

fn capacity(args: &[&str], out: &Path) -> Output {
    agentbench()
        .arg("capacity")
        .args(args)
        .args([
            "--prompt-tokens",
            "16",
            "--output-tokens",
            "8",
            "--quiet",
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap()
}

/// Requests the model simulates per rate (the first 5 % are its warm-up).
const MODEL_REQUESTS: u64 = 200_000;

/// p95 of TTFT (ms) of the stub's queue at `rate`, by simulation: the load engine's
/// own schedule (`CAP_ARRIVAL`), `CAP_SLOTS` FIFO slots, service = prefill +
/// TOKENS/CAP_DECODE (times a factor uniform in [1 − jitter, 1 + jitter]), TTFT =
/// wait + prefill + 1/CAP_DECODE (scaled likewise).
fn p95_ttft_ms(rate: f64, prefill_s: f64, jitter: f64) -> f64 {
    let arrival: Arrival = CAP_ARRIVAL.parse().unwrap();
    let intended = OpenSchedule {
        rate,
        arrival,
        seed: 99,
        extent: Extent::Requests(MODEL_REQUESTS),
    }
    .intended();
    let mut rng = SplitMix64::new(99);
    let mut free: BinaryHeap<Reverse<u64>> = (0..CAP_SLOTS).map(|_| Reverse(0)).collect();
    let service_s = prefill_s + TOKENS as f64 / CAP_DECODE;
    let first_s = prefill_s + 1.0 / CAP_DECODE;
    let mut ttft: Vec<f64> = intended
        .iter()
        .map(|&t| {
            let f = 1.0 + jitter * (2.0 * rng.next_f64() - 1.0);
            let Reverse(slot) = free.pop().unwrap();
            let start = slot.max(t);
            free.push(Reverse(start + (f * service_s * 1e9) as u64));
            (start - t) as f64 / 1e6 + f * first_s * 1e3
        })
        .skip(intended.len() / 20)
        .collect();
    ttft.sort_by(f64::total_cmp);
    ttft[(0.95 * ttft.len() as f64) as usize]
}

/// The highest rate whose p95 TTFT stays within the SLO (bisection on the model).
fn truth(prefill_s: f64, jitter: f64) -> f64 {
    let mu = CAP_SLOTS as f64 / (prefill_s + TOKENS as f64 / CAP_DECODE);
    let (mut lo, mut hi) = (0.5 * mu, mu);
    for _ in 0..16 {
        let mid = 0.5 * (lo + hi);
        if p95_ttft_ms(mid, prefill_s, jitter) <= CAP_SLO_MS {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// One search against the capacity stub: (exit code, [pass, fail] bracket, probes,
/// report, output).
fn search(
    jitter: f64,
    seed: u64,
    out: &Path,
) -> (Option<i32>, f64, f64, serde_json::Value, Output) {
    let seed_s = seed.to_string();
    let o = capacity(
        &[
            "--stub",
            &profile(jitter, seed),
            "--slo",
            CAP_SLO,
            "--arrival",
            CAP_ARRIVAL,
            "--min-rate",
            CAP_MIN_RATE,
            "--max-rate",
            CAP_MAX_RATE,
            "--probe-requests",
            CAP_PROBE_REQUESTS,
            "--seed",
            &seed_s,
            "--max-lag",
            "60s",
        ],
        out,
    );
    let r = report(out);
    let (lo, hi) = (
        r["bracket"]["pass"].as_f64().unwrap_or(0.0),
        r["bracket"]["fail"].as_f64().unwrap_or(f64::INFINITY),
    );
    (o.status.code(), lo, hi, r, o)
}

/// Measured requests (sessions) each probe of a report should have had (its
/// warm-up, sent first, is half as many rounded up: `measured.div_ceil(2)`): `base`,
/// and for a repeat what the probe before it asked for, within 2 and 8 times base
/// (`agentbench::capacity::repeat_requests`, checked against the bounds here too).
fn expected_measured(probes: &[serde_json::Value], base: u64) -> Vec<u64> {
    probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p["repeat"] != true {
                return base;
            }
            let need = probes[i - 1]["requests_to_decide"].as_u64();
            let m = agentbench::capacity::repeat_requests(base, need);
            assert!((2 * base..=8 * base).contains(&m), "{p}");
            assert_eq!(need.map_or(8 * base, |n| n.clamp(2 * base, 8 * base)), m);
            m
        })
        .collect()
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("capacity.json")).unwrap()).unwrap()
}

fn prefill_s() -> f64 {
    // The synthetic prompt's bytes as the stub counts them.
    let prompt = agentbench::cli::synthetic_prompt(16, 1);
    agentbench::stub::CapacityModel::prompt_tokens(prompt.len() as u64) as f64 / 100_000.0
}

#[test]
fn the_interval_contains_the_truth_within_ten_percent_in_twelve_probes() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let mut out = tmp.path().join("cap");
    let truth = truth(prefill_s(), 0.0);
    let started = std::time::Instant::now();
    let (mut code, mut lo, mut hi, mut r, mut o) = search(0.0, 1, &out);
    if code == Some(5) {
        // Client-limited (a busy host saturated the measuring thread): the search
        // said it measured agentbench, not the server; once more, elsewhere.
        eprintln!("client-limited, searching again: {}", text(&o));
        out = tmp.path().join("cap-again");
        (code, lo, hi, r, o) = search(0.0, 1, &out);
    }
    eprintln!(
        "truth {truth:.2} req/s; interval [{lo:.2}, {hi:.2}]; {} probes; {:.1} s; {}",
        r["probes"].as_array().map_or(0, Vec::len),
        started.elapsed().as_secs_f64(),
        text(&o)
    );
    assert_eq!(code, Some(0), "narrowed: {}", text(&o));
    assert!(
        lo <= truth && truth <= hi,
        "truth {truth:.2} outside [{lo:.2}, {hi:.2}]"
    );
    assert!(
        (hi - lo) / 2.0 <= 0.10 * truth,
        "[{lo:.2}, {hi:.2}] wider than ± 10 % of {truth:.2}"
    );
    let probes = r["probes"].as_array().unwrap();
    assert!(probes.len() <= 12, "{} probes", probes.len());
    for f in ["index.html", "capacity.md"] {
        assert!(out.join(f).is_file());
    }
    // Every probe is a normal load run with its own records and report, half as
    // many requests again sent first as warm-up.
    for (p, measured) in probes.iter().zip(expected_measured(probes, 400)) {
        let dir = Path::new(p["out_dir"].as_str().unwrap());
        assert!(dir.join("records.jsonl").is_file() && dir.join("index.html").is_file());
        let file = agentbench::load::read_load_file(&dir.join("records.jsonl")).unwrap();
        assert_eq!(
            file.header.plan.requests,
            Some(measured + measured.div_ceil(2)),
            "{p}"
        );
    }
}

#[test]
fn overload_fires_at_twice_the_capacity_early_and_never_at_half() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    // 4 slots of this test's server: μ ≈ 80 req/s, so that a debug-built client offers
    // twice that comfortably.
    let mu = 4.0 / (prefill_s() + TOKENS as f64 / DECODE);
    let small = format!("capacity:slots=4,prefill=100000,decode={DECODE},tokens={TOKENS}");
    let (half, double) = (format!("{:.3}", mu / 2.0), format!("{:.3}", mu * 2.0));
    // Two probes: the ends of the range.
    let o = capacity(
        &[
            "--stub",
            &small,
            "--slo",
            "p95:ttft<=500ms",
            "--min-rate",
            &half,
            "--max-rate",
            &double,
            "--max-probes",
            "2",
            "--probe-requests",
            "400",
            "--max-lag",
            "60s",
        ],
        &out,
    );
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(6),
        "{}",
        text(&o)
    );
    let r = report(&out);
    let probes = r["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2);
    assert_eq!(
        probes[0]["ended"], "completed",
        "half capacity: {}",
        probes[0]
    );
    assert_ne!(probes[0]["verdict"], "overloaded");
    assert_eq!(probes[1]["verdict"], "overloaded", "{}", probes[1]);
    // Stopped within the first quarter of the probe's schedule.
    let dir = Path::new(probes[1]["out_dir"].as_str().unwrap());
    let file = agentbench::load::read_load_file(&dir.join("records.jsonl")).unwrap();
    let planned = file.header.plan.requests.unwrap();
    let last_sent = file.requests.iter().map(|x| x.sent_ns).max().unwrap() as f64 / 1e9;
    let planned_s = planned as f64 / (mu * 2.0);
    assert!(
        last_sent <= planned_s / 4.0,
        "stopped at {last_sent:.2} s of a {planned_s:.2} s probe"
    );
    assert!(file
        .end
        .unwrap()
        .stopped_early
        .unwrap()
        .starts_with("overloaded"));
}

/// Ten searches of a jittered server (service times × U[0.7, 1.3], a seed each,
/// and each its own schedules): every bracket contains the truth, narrowed (exit 0)
/// or not (exit 6, said so) — never a confident wrong answer. A search the client
/// could not keep up with (exit 5: a busy host saturated the measuring thread) gives
/// no answer, which is not a wrong one; at least half must answer, or the test
/// measured the host rather than the method.
#[test]
fn a_jittered_server_never_gives_a_confident_wrong_answer() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let truth = truth(prefill_s(), 0.3);
    let mut wrong = Vec::new();
    let mut answered = 0;
    for seed in 1u64..=10 {
        let out = tmp.path().join(format!("cap-{seed}"));
        let started = std::time::Instant::now();
        let (code, lo, hi, r, o) = search(0.3, seed, &out);
        eprintln!(
            "seed {seed}: truth {truth:.2}; [{lo:.2}, {hi:.2}]; exit {code:?}; {} probes; {:.1} s",
            r["probes"].as_array().map_or(0, Vec::len),
            started.elapsed().as_secs_f64()
        );
        assert!(
            matches!(code, Some(0) | Some(5) | Some(6)),
            "seed {seed}: {}",
            text(&o)
        );
        if code == Some(5) {
            continue;
        }
        answered += 1;
        if !(lo <= truth && truth <= hi) {
            let probes: Vec<String> = r["probes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{:.2} {} ({}) {}",
                        p["load"], p["verdict"], p["ended"], p["targets"]
                    )
                })
                .collect();
            wrong.push(format!(
                "seed {seed}: [{lo:.2}, {hi:.2}], exit {code:?}: {probes:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "truth {truth:.2} outside the bracket: {wrong:?}"
    );
    assert!(
        answered >= 5,
        "only {answered} of 10 searches were not client-limited: the host is too busy"
    );
}

#[test]
fn bad_slo_expressions_are_refused_with_the_expression_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in [
        "p98:ttft<=2s",
        "p99:latency<=2s",
        "p99:ttft<=2",
        "p99:ttft<=1s,p99:ttft<=2s",
    ] {
        let out = tmp.path().join("never");
        let o = capacity(
            &[
                "--stub",
                "capacity",
                "--slo",
                bad,
                "--min-rate",
                "1",
                "--max-rate",
                "10",
            ],
            &out,
        );
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains("--slo") && stderr.contains(bad.split(',').next_back().unwrap()),
            "{bad}: {stderr}"
        );
        assert!(!out.exists());
    }
    let out = tmp.path().join("never");
    let o = capacity(
        &[
            "--stub",
            "capacity",
            "--slo",
            "p99:ttft<=1s",
            "--min-rate",
            "10",
            "--max-rate",
            "5",
        ],
        &out,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--min-rate"));
}

// Agent sessions: 4 slots, 8 tokens at 800 tok/s (10 ms a turn) and a prefill so
// fast that a turn's growing conversation costs nothing: a chat session of 2 turns
// with 20 ms of think holds a slot 20 ms, so the server takes 4 / 0.020 = 200
// sessions/s, and an unqueued job lasts 2 × 10 ms + 20 ms = 40 ms.
const AGENT_STUB: &str = "capacity:slots=4,prefill=100000000,decode=800,tokens=8";
const AGENT_TURNS: u32 = 2;
const AGENT_TURN_MS: f64 = 10.0;
const AGENT_THINK_MS: f64 = 20.0;
// The agent tests check the sessions' machinery (jobs, warm-up by session, units,
// pass far below and fail far above) within two probes, so they judge by batch
// means: the default correlated interval needs ≈ 73 · τ jobs per half of a probe
// to bound a p95, and a debug build's slow jobs come in runs (τ ≈ 5 measured at
// 40 sessions/s: upper bound unbounded with all 200 jobs at half the limit).
const AGENT_INTERVAL: &str = "batch-means";

fn agent_capacity(args: &[&str], out: &Path) -> Output {
    let mut all = vec![
        "--workload",
        "agent",
        "--session",
        "chat",
        "--turns",
        "2",
        "--think",
        "20ms",
        "--stub",
        AGENT_STUB,
        "--interval",
        AGENT_INTERVAL,
    ];
    all.extend_from_slice(args);
    capacity(&all, out)
}

/// Nearest-rank percentile, as the capacity report estimates it.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn agent_sessions_under_a_job_slo_pass_far_below_capacity_and_fail_far_above() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let capacity_sps = 4.0 / (AGENT_TURNS as f64 * AGENT_TURN_MS / 1e3);
    let job_ms = AGENT_TURNS as f64 * AGENT_TURN_MS + AGENT_THINK_MS;
    // Two probes: a fifth of the capacity, and four times it.
    let (low, high) = (capacity_sps / 5.0, capacity_sps * 4.0);
    let o = agent_capacity(
        &[
            "--slo",
            "p95:job<=100ms",
            "--min-rate",
            &format!("{low}"),
            "--max-rate",
            &format!("{high}"),
            "--max-probes",
            "2",
            "--max-lag",
            "60s",
        ],
        &out,
    );
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(6),
        "{}",
        text(&o)
    );
    let r = report(&out);
    assert_eq!(r["workload"], "agent");
    assert_eq!(r["unit"], "sessions/s");
    assert!(String::from_utf8_lossy(&o.stdout).contains("sessions/s"));
    // ⌈10 / (1 − 0.95)⌉ = 200 measured sessions per probe, half as many more as warm-up.
    assert_eq!(r["requests_per_probe"], 200);
    let md = std::fs::read_to_string(out.join("capacity.md")).unwrap();
    assert!(
        md.contains("rate (sessions/s)") && md.contains("job latency"),
        "{md}"
    );
    let probes = r["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2);
    for (p, measured) in probes.iter().zip(expected_measured(probes, 200)) {
        assert_eq!(p["requests"], measured + measured.div_ceil(2), "{p}");
        let dir = Path::new(p["out_dir"].as_str().unwrap());
        let file = agentbench::load::read_load_file(&dir.join("records.jsonl")).unwrap();
        assert!(!file.requests.is_empty());
        assert!(file
            .requests
            .iter()
            .all(|x| x.turn.as_ref().is_some_and(|t| t.turns == AGENT_TURNS)));
        assert_eq!(file.header.plan.agent.as_ref().unwrap().session, "chat");
    }
    // Far below capacity: every job completes, and a job lasts its turns' service
    // plus the think time (the floor), with a few ms of a debug-built client per
    // turn on top; the probe passes.
    let p = &probes[0];
    assert_eq!(p["verdict"], "pass", "{p}");
    assert_eq!(
        (p["measured"].as_u64(), p["failed"].as_u64()),
        (Some(200), Some(0))
    );
    let dir = Path::new(p["out_dir"].as_str().unwrap());
    let file = agentbench::load::read_load_file(&dir.join("records.jsonl")).unwrap();
    // Job latency recomputed from the records, independently of the analysis:
    // per measured session, its last turn's end minus its intended start.
    let warmup_ns = file.header.plan.warmup_ns;
    let mut jobs: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    for x in &file.requests {
        let t = x.turn.as_ref().unwrap();
        if t.session_intended_ns >= warmup_ns {
            let e = jobs.entry(t.session).or_insert((t.session_intended_ns, 0));
            e.1 = e.1.max(x.last_seen_ns());
        }
    }
    assert_eq!(jobs.len(), 200);
    let mut ms: Vec<f64> = jobs
        .values()
        .map(|(start, end)| (end - start) as f64 / 1e6)
        .collect();
    ms.sort_by(f64::total_cmp);
    let median = nearest_rank(&ms, 0.5);
    assert!(
        ms[0] >= job_ms - 0.5 && median <= job_ms * 1.3,
        "jobs {:.1}..{:.1} ms, median {median:.1}; truth {job_ms} ms",
        ms[0],
        ms[ms.len() - 1]
    );
    let t = &p["targets"][0];
    assert_eq!(t["n"], 200);
    let estimate = t["estimate_ms"].as_f64().unwrap();
    assert!(
        (estimate - nearest_rank(&ms, 0.95)).abs() < 0.01,
        "report {estimate} vs records {}",
        nearest_rank(&ms, 0.95)
    );
    assert!(t["lower_ms"].as_f64().unwrap() <= estimate);
    assert!(estimate <= t["upper_ms"].as_f64().unwrap());
    // Goodput: the fraction of jobs within 100 ms, as the records say (one job
    // of slack for an end exactly at the limit); at least 95 % since the p95 passed.
    let within = ms.iter().filter(|v| **v <= 100.0).count() as f64 / ms.len() as f64;
    let goodput = p["goodput"].as_f64().unwrap();
    assert!(
        (goodput - within).abs() <= 0.005 + 1e-9 && goodput >= 0.95,
        "goodput {goodput} vs {within}"
    );
    // Four times the capacity: the queue grows without bound or the job p95
    // exceeds the limit.
    let p = &probes[1];
    assert!(
        p["verdict"] == "overloaded" || p["verdict"] == "fail",
        "{p}"
    );
    assert_eq!(r["bracket"]["pass"].as_f64(), Some(low));
    assert_eq!(r["bracket"]["fail"].as_f64(), Some(high));
}

#[test]
fn agent_capacity_refuses_bad_input_with_the_expression_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let run = |args: &[&str]| {
        let mut all = vec!["--stub", "capacity", "--min-rate", "1", "--max-rate", "10"];
        all.extend_from_slice(args);
        capacity(&all, &out)
    };
    for (args, needles) in [
        (
            &["--slo", "p95:job<=30s"][..],
            &["\"p95:job<=30s\"", "--workload agent"][..],
        ),
        (
            &[
                "--workload",
                "requests",
                "--slo",
                "p99:ttft<=1s,p95:job<=30s",
            ][..],
            &["\"p95:job<=30s\"", "--workload agent"][..],
        ),
        (
            &["--workload", "nope", "--slo", "p95:job<=30s"][..],
            &["--workload \"nope\"", "requests, agent"][..],
        ),
        (
            &[
                "--workload",
                "agent",
                "--slo",
                "p95:job<=30s",
                "--probe-sessions",
                "50",
            ][..],
            &["--probe-sessions 50", "at least 200"][..],
        ),
        (
            &[
                "--workload",
                "agent",
                "--slo",
                "p95:job<=30s",
                "--session",
                "nope",
            ][..],
            &["--session \"nope\"", "chat, workflow"][..],
        ),
        (
            &["--slo", "p95:ttft<=1s", "--turns", "3"][..],
            &["--turns", "--workload agent"][..],
        ),
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        for n in needles {
            assert!(stderr.contains(n), "{args:?}: {n:?} not in {stderr}");
        }
        assert!(!out.exists());
    }
}

// The concurrency search's server: 16 slots of ≈ 134 ms (8 tokens at 60 tok/s;
// first token at ≈ 17 ms), each request's times scaled by a factor uniform in
// [0.7, 1.3] (jitter 0.3, which keeps the closed loop's workers from running in
// lockstep). Up to 16 requests in flight none waits, so TTFT stays ≤ 1.3 × 17 ms
// = 22 ms (plus a debug-built client's and stub's few ms: p95 up to 3.5 ms more
// was measured); a 17th makes requests wait for a slot (simulated: a fifth past
// 30 ms), so under p95 of TTFT ≤ 30 ms the capacity is exactly the slot count.
const CONC_SLOTS: usize = 16;
const CONC_DECODE: f64 = 60.0;
const CONC_JITTER: f64 = 0.3;
const CONC_SLO: &str = "p95:ttft<=30ms";
const CONC_SLO_MS: f64 = 30.0;
// The agent variant: 2-turn chat sessions without tool time on 16 slots of ≈ 50 ms
// (160 tok/s) without jitter, under a job-level p95 ≤ 250 ms: two turns (≈ 58 ms each
// on the real stub, whose 8 chunk timers each overshoot by up to a millisecond) take
// ≈ 116 ms at a quarter of the slots, and a job at four times the slots waits for
// three other sessions' turns per turn of its own (≈ 464 ms): both far from the
// limit. (Under ≤ 125 ms, 8 % above the quarter's jobs, CI once found the probe at
// 4 inconclusive, spent its second probe on the repeat and never probed 64.)
// Judged by batch means, as the other agent tests (see `AGENT_INTERVAL`).
const CONC_AGENT_SLO: &str = "p95:job<=250ms";
/// The client's turnaround between a response's end and its worker's next send,
/// as the model assumes it (a debug build's few hundred µs).
const TURNAROUND_S: f64 = 0.0003;

fn conc_profile(decode: f64, jitter: f64, seed: u64) -> String {
    format!(
        "capacity:slots={CONC_SLOTS},prefill=100000,decode={decode},tokens={TOKENS},jitter={jitter},seed={seed}"
    )
}

/// A closed loop of `n` workers on the capacity stub's queue (`CONC_SLOTS` FIFO
/// slots, service prefill + TOKENS/decode, first token at prefill + 1/decode,
/// both scaled by a factor uniform in [1 − jitter, 1 + jitter]; each worker sends
/// again `TURNAROUND_S` after its response ends): the p95 of TTFT from the send, and
/// the p95 of job latency over jobs of `turns` consecutive requests of a worker
/// (first send → last end), ms, after a tenth as warm-up.
fn closed_loop_p95(n: usize, decode: f64, jitter: f64, turns: usize, prefill_s: f64) -> (f64, f64) {
    let service_s = prefill_s + TOKENS as f64 / decode;
    let first_s = prefill_s + 1.0 / decode;
    let mut rng = SplitMix64::new(7);
    let mut free: BinaryHeap<Reverse<u64>> = (0..CONC_SLOTS).map(|_| Reverse(0)).collect();
    // (next send, worker); per worker, its job's first send and turns done.
    let mut ready: BinaryHeap<Reverse<(u64, usize)>> = (0..n).map(|w| Reverse((0, w))).collect();
    let mut job: Vec<(u64, usize)> = vec![(0, 0); n];
    let (mut ttft, mut jobs) = (Vec::new(), Vec::new());
    let ns = |s: f64| (s * 1e9) as u64;
    for _ in 0..40_000 {
        let Reverse((t, w)) = ready.pop().unwrap();
        let Reverse(slot) = free.pop().unwrap();
        let f = 1.0 + jitter * (2.0 * rng.next_f64() - 1.0);
        let start = slot.max(t);
        let end = start + ns(f * service_s);
        free.push(Reverse(end));
        ttft.push((start - t) as f64 / 1e6 + f * first_s * 1e3);
        let (begun, done) = job[w];
        job[w] = if done + 1 == turns {
            jobs.push((end - begun) as f64 / 1e6);
            (end + ns(TURNAROUND_S), 0)
        } else {
            (begun, done + 1)
        };
        ready.push(Reverse((end + ns(TURNAROUND_S), w)));
    }
    let p95 = |mut v: Vec<f64>| {
        v.drain(..v.len() / 10);
        v.sort_by(f64::total_cmp);
        nearest_rank(&v, 0.95)
    };
    (p95(ttft), p95(jobs))
}

/// The highest concurrency in `range` whose model p95 (`job`: of jobs, else of
/// TTFT) stays within `limit_ms` (the p95 rises with the concurrency).
fn concurrency_truth(
    range: std::ops::RangeInclusive<usize>,
    decode: f64,
    jitter: f64,
    job: bool,
    limit_ms: f64,
) -> f64 {
    let prefill = prefill_s();
    let turns = if job { 2 } else { 1 };
    range
        .take_while(|&n| {
            let (ttft, jobs) = closed_loop_p95(n, decode, jitter, turns, prefill);
            (if job { jobs } else { ttft }) <= limit_ms
        })
        .last()
        .map_or(0.0, |n| n as f64)
}

#[test]
fn a_concurrency_search_finds_the_slot_count_exactly() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let truth = concurrency_truth(12..=48, CONC_DECODE, CONC_JITTER, false, CONC_SLO_MS);
    assert_eq!(
        truth, CONC_SLOTS as f64,
        "the model's capacity is the slot count"
    );
    let started = std::time::Instant::now();
    let o = capacity(
        &[
            "--stub",
            &conc_profile(CONC_DECODE, CONC_JITTER, 3),
            "--slo",
            CONC_SLO,
            "--min-concurrency",
            "12",
            "--max-concurrency",
            "48",
            "--tolerance",
            "0.02",
            // Bisection from [12, 48] to neighbours takes 6–7 probes; the
            // correlated interval repeats some near 16 (measured: 7 and 11 probes).
            "--max-probes",
            "16",
            "--max-lag",
            "60s",
        ],
        &out,
    );
    let r = report(&out);
    let probes = r["probes"].as_array().unwrap();
    eprintln!(
        "truth {truth}; bracket {}; {} probes; {:.1} s",
        r["bracket"],
        probes.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(o.status.code(), Some(0), "narrowed: {}", text(&o));
    // Neighbours: the highest concurrency that met the SLO is the truth.
    assert_eq!(
        r["bracket"]["pass"].as_f64(),
        Some(truth),
        "{}",
        r["bracket"]
    );
    assert_eq!(
        r["bracket"]["fail"].as_f64(),
        Some(truth + 1.0),
        "{}",
        r["bracket"]
    );
    assert!(probes.len() <= 16, "{} probes", probes.len());
    assert_eq!(
        (r["axis"].as_str(), r["unit"].as_str()),
        (Some("concurrency"), Some("concurrent requests"))
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("capacity 16 concurrent requests: 16 met")
            && stdout.contains("completed requests/s there"),
        "{stdout}"
    );
    for p in probes {
        let load = p["load"].as_f64().unwrap();
        assert_eq!(load, load.round(), "{p}");
        // A closed loop cannot overload: it ends when its requests are done.
        assert_eq!(p["ended"], "completed", "{p}");
        // Each probe is a closed-loop load run at its concurrency, its first third
        // (half the measured again) warm-up by count, excluded from the verdict.
        let dir = Path::new(p["out_dir"].as_str().unwrap());
        let file = agentbench::load::read_load_file(&dir.join("records.jsonl")).unwrap();
        let plan = &file.header.plan;
        assert_eq!(plan.mode, "closed");
        assert_eq!(plan.concurrency, Some(load as u32));
        let measured = p["measured"].as_u64().unwrap();
        assert_eq!(plan.requests, Some(measured + measured.div_ceil(2)), "{p}");
        assert_eq!(plan.warmup_first, measured.div_ceil(2), "{p}");
        let warm = file.requests.iter().filter(|x| x.warmup).count() as u64;
        assert_eq!(warm, measured.div_ceil(2));
        assert!(file
            .requests
            .iter()
            .all(|x| x.warmup == (x.seq < measured.div_ceil(2))));
        assert_eq!(p["targets"][0]["n"].as_u64(), Some(measured));
        let peak = file.requests.iter().map(|x| x.worker).max().unwrap() + 1;
        assert_eq!(f64::from(peak), load, "workers used");
    }
    let md = std::fs::read_to_string(out.join("capacity.md")).unwrap();
    assert!(md.contains("concurrency (concurrent requests)"), "{md}");
}

#[test]
fn agent_sessions_search_a_concurrency_under_a_job_slo() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cap");
    let o = capacity(
        &[
            "--workload",
            "agent",
            "--session",
            "chat",
            "--turns",
            "2",
            "--stub",
            &conc_profile(DECODE, 0.0, 5),
            "--slo",
            CONC_AGENT_SLO,
            "--interval",
            AGENT_INTERVAL,
            "--min-concurrency",
            "4",
            "--max-concurrency",
            "64",
            "--max-probes",
            "2",
            "--max-lag",
            "60s",
        ],
        &out,
    );
    let r = report(&out);
    assert_eq!(
        o.status.code(),
        Some(6),
        "not narrowed in 2 probes: {}",
        text(&o)
    );
    // Far below the slots it passes, far above it fails.
    assert_eq!(r["bracket"]["pass"].as_f64(), Some(4.0), "{}", r["bracket"]);
    assert_eq!(
        r["bracket"]["fail"].as_f64(),
        Some(64.0),
        "{}",
        r["bracket"]
    );
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("capacity between 4 and 64 concurrent sessions"));
    assert_eq!(r["unit"], "concurrent sessions");
    let probes = r["probes"].as_array().unwrap();
    for (p, measured) in probes.iter().zip(expected_measured(probes, 200)) {
        let dir = Path::new(p["out_dir"].as_str().unwrap());
        let file = agentbench::load::read_load_file(&dir.join("records.jsonl")).unwrap();
        let agent = file.header.plan.agent.as_ref().unwrap();
        assert_eq!(agent.sessions, Some(p["load"].as_f64().unwrap() as u32));
        // ⌈10 / (1 − 0.95)⌉ = 200 measured jobs (a repeat: what the probe before
        // it asked for), and half as many sessions first as warm-up, by session id.

        assert_eq!(file.header.plan.warmup_first, measured.div_ceil(2), "{p}");
        assert!(file
            .requests
            .iter()
            .all(|x| { x.warmup == (x.turn.as_ref().unwrap().session < measured.div_ceil(2)) }));
        assert_eq!(p["measured"], measured, "{p}");
    }
}

#[test]
fn concurrency_flags_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    for (args, needle) in [
        (
            &["--min-concurrency", "4"][..],
            "--max-concurrency go together",
        ),
        (
            &["--min-concurrency", "0", "--max-concurrency", "4"][..],
            "at least 1",
        ),
        (
            &["--min-concurrency", "8", "--max-concurrency", "8"][..],
            "must be below",
        ),
        (
            &[
                "--min-concurrency",
                "2",
                "--max-concurrency",
                "8",
                "--arrival",
                "poisson",
            ][..],
            "--arrival is for a rate search",
        ),
        (
            &[
                "--min-concurrency",
                "2",
                "--max-concurrency",
                "8",
                "--min-rate",
                "1",
                "--max-rate",
                "2",
            ][..],
            "cannot be used with",
        ),
        (&[][..], "say what to search"),
        (
            &["--min-rate", "1", "--max-rate", "2", "--interval", "nope"][..],
            "--interval: \"nope\" is unknown; valid: batch-means, correlated",
        ),
    ] {
        let mut all = vec!["--stub", "capacity", "--slo", "p95:ttft<=1s"];
        all.extend_from_slice(args);
        let o = capacity(&all, &out);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn the_interval_is_correlated_by_default_and_batch_means_on_request() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    for (flag, recorded) in [(None, "correlated"), (Some("batch-means"), "batch_means")] {
        let out = tmp.path().join(recorded);
        // The overload test's server (4 slots of 50 ms, 80 req/s): both ends beyond
        // it (a probe far below the limit can stay inconclusive under the
        // correlated interval, see the README).
        let stub = format!("capacity:slots=4,prefill=100000,decode={DECODE},tokens={TOKENS}");
        let mut args = vec![
            "--stub",
            &stub,
            "--slo",
            "p95:ttft<=100ms",
            "--min-rate",
            "120",
            "--max-rate",
            "160",
            "--max-probes",
            "2",
            "--max-lag",
            "60s",
        ];
        if let Some(f) = flag {
            args.extend(["--interval", f]);
        }
        let o = capacity(&args, &out);
        assert_eq!(o.status.code(), Some(6), "{}", text(&o));
        let r = report(&out);
        assert_eq!(r["interval"], recorded);
        let md = std::fs::read_to_string(out.join("capacity.md")).unwrap();
        let said = format!("--interval {}", flag.unwrap_or("correlated"));
        assert!(md.contains(&said), "{said}: {md}");
        // Beyond the capacity a probe fails under either interval: the search
        // stops after the lowest rate.
        assert_eq!(
            r["bracket"]["fail"].as_f64(),
            Some(120.0),
            "{}",
            r["bracket"]
        );
        assert!(r["bracket"]["pass"].is_null(), "{}", r["bracket"]);
    }
}
