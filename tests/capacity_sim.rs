//! Simulation of the capacity search against a pure queueing model, to measure how
//! often its verdicts are confidently wrong: a FIFO queue of S slots with a fixed
//! service time (times an optional uniform jitter factor), fed by the load engine's
//! own arrival schedule ([`OpenSchedule`]); TTFT = queue wait + first-token time.
//! Each probe is warm-up + measured requests (as the capacity command sends them),
//! judged from the measured TTFTs by the statistics of `agentbench::capacity::stats`
//! with run_probe's rule, and the real [`Search`] chooses the rates.
//!
//! Seeded and deterministic. Ignored by default (tens of seconds in a debug build):
//! `cargo test --test capacity_sim -- --ignored --nocapture --test-threads 3`
//! (`SIM_SEEDS=N` searches per setting, default 100; `SIM_STAT`, `SIM_REQUESTS`,
//! `SIM_REPEAT`, `SIM_WARMUP`,
//! `SIM_TRACE`: see their functions).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use agentbench::capacity::stats;
use agentbench::capacity::{
    repeat_requests, Axis, Outcome, Search, SearchPlan, Step, Verdict, CONFIDENCE, WARMUP_FRACTION,
};
use agentbench::load::{Arrival, Extent, OpenSchedule};
use agentbench::rng::SplitMix64;

/// A server, an arrival process and an SLO on the p-quantile of TTFT.
#[derive(Debug, Clone, Copy)]
struct Setting {
    name: &'static str,
    slots: usize,
    /// Service time, s.
    service_s: f64,
    /// Time to first token of a request that did not wait, s.
    first_s: f64,
    /// Service and first-token times are scaled by U[1 − jitter, 1 + jitter].
    jitter: f64,
    arrival: Arrival,
    quantile: f64,
    limit_ms: f64,
    min_rate: f64,
    max_rate: f64,
    /// Measured requests per probe (a repeat measures twice as many).
    requests: u64,
}

/// The capacity tests' stub (tests/capacity.rs): 64 slots of 200.25 ms, first
/// token at 25.25 ms, p95 ≤ 55 ms, 185–410 req/s, 400 requests a probe.
fn stub(name: &'static str, arrival: &str) -> Setting {
    Setting {
        name,
        slots: 64,
        service_s: 0.00025 + 8.0 / 40.0,
        first_s: 0.00025 + 1.0 / 40.0,
        jitter: 0.0,
        arrival: arrival.parse().unwrap(),
        quantile: 0.95,
        limit_ms: 55.0,
        min_rate: 185.0,
        max_rate: 410.0,
        requests: std::env::var("SIM_REQUESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400),
    }
}

/// 16 slots of 50 ms (capacity 320 req/s), first token at 10 ms, p95 ≤ 25 ms.
fn small() -> Setting {
    Setting {
        name: "poisson 16x50ms p95<=25ms",
        slots: 16,
        service_s: 0.050,
        first_s: 0.010,
        jitter: 0.0,
        arrival: Arrival::Poisson,
        quantile: 0.95,
        limit_ms: 25.0,
        // The bisection's rates are ≈ 0.51, 1.57, 0.90, 1.19, 1.03 × the truth:
        // none within 1 % of it, where the truth's own simulation error lies.
        min_rate: 130.0,
        max_rate: 400.0,
        requests: 400,
    }
}

/// TTFTs (ms, arrival order) of `count` requests at `rate` from an empty queue.
fn ttfts(s: &Setting, rate: f64, count: u64, seed: u64) -> Vec<f64> {
    queue(s, rate, count, seed).1
}

/// `count` requests at `rate` through an empty queue: (intended sends, ns; TTFTs,
/// ms; completions, ns, ascending), the first two in arrival order.
fn queue(s: &Setting, rate: f64, count: u64, seed: u64) -> (Vec<u64>, Vec<f64>, Vec<u64>) {
    let intended = OpenSchedule {
        rate,
        arrival: s.arrival,
        seed,
        extent: Extent::Requests(count),
    }
    .intended();
    let mut rng = SplitMix64::new(seed ^ 0x5EED_F00D);
    let mut free: BinaryHeap<Reverse<u64>> = (0..s.slots).map(|_| Reverse(0)).collect();
    let mut done = Vec::with_capacity(intended.len());
    let ttft = intended
        .iter()
        .map(|&t| {
            let f = 1.0 + s.jitter * (2.0 * rng.next_f64() - 1.0);
            let Reverse(slot) = free.pop().unwrap();
            let start = slot.max(t);
            let end = start + (f * s.service_s * 1e9) as u64;
            free.push(Reverse(end));
            done.push(end);
            (start - t) as f64 / 1e6 + f * s.first_s * 1e3
        })
        .collect();
    done.sort_unstable();
    (intended, ttft, done)
}

/// Whether the capacity command's overload test ([`stats::OverloadTest`]) fires
/// on this run, fed as the load engine feeds it: every 50 ms until the last
/// request completes.
fn overloaded(rate: f64, intended: &[u64], done: &[u64]) -> bool {
    let mut test = stats::OverloadTest::new(rate);
    let end = done.last().copied().unwrap_or(0);
    let mut t = 50_000_000u64;
    while t <= end {
        let sent = intended.partition_point(|&a| a <= t) as u64;
        let finished = done.partition_point(|&d| d <= t) as u64;
        if test
            .observe(t as f64 / 1e9, sent - finished, sent, finished)
            .is_some()
        {
            return true;
        }
        t += 50_000_000;
    }
    false
}

/// Requests the truth simulates per rate (the first 5 % are its warm-up).
const TRUTH_REQUESTS: u64 = 400_000;

/// The steady-state quantile of TTFT at `rate`, by one long run.
fn steady_quantile(s: &Setting, rate: f64) -> f64 {
    let mut t = ttfts(s, rate, TRUTH_REQUESTS, 99);
    let mut t = t.split_off(t.len() / 20);
    t.sort_by(f64::total_cmp);
    t[(s.quantile * t.len() as f64) as usize]
}

/// The highest rate whose steady quantile stays within the limit (bisection).
fn truth(s: &Setting) -> f64 {
    let mu = s.slots as f64 / s.service_s;
    let (mut lo, mut hi) = (0.3 * mu, mu);
    for _ in 0..18 {
        let mid = 0.5 * (lo + hi);
        if steady_quantile(s, mid) <= s.limit_ms {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// One probe's verdict: warm-up + `measured` requests at `rate`, the warm-up
/// dropped, then run_probe's rule on one target: Overloaded when the overload
/// test fires (a real probe would stop there), Pass when the interval's upper
/// bound and the later half's are within the limit, Fail when the lower bound is
/// beyond it (or infinite), else Inconclusive.
fn probe(s: &Setting, rate: f64, measured: u64, seed: u64) -> Verdict {
    probe_and_need(s, rate, measured, seed).0
}

/// [`probe`], and the requests [`stats::requests_to_decide`] asks for.
fn probe_and_need(s: &Setting, rate: f64, measured: u64, seed: u64) -> (Verdict, Option<u64>) {
    let warm_fraction = std::env::var("SIM_WARMUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(WARMUP_FRACTION);
    let warm = ((measured as f64) * warm_fraction).ceil() as u64;
    let (intended, all, done) = queue(s, rate, measured + warm, seed);
    let samples = &all[warm as usize..];
    let (q, limit) = (s.quantile, s.limit_ms);
    let (ci, later) = match stat().as_str() {
        "batch-means" => (
            stats::Interval::BatchMeans.ci(samples, q, CONFIDENCE),
            stats::Interval::BatchMeans.later_half_within(samples, q, CONFIDENCE, limit),
        ),
        // The correlated interval over the whole probe, the later half by batch means.
        "mixed" => (
            stats::Interval::Correlated.ci(samples, q, CONFIDENCE),
            stats::Interval::BatchMeans.later_half_within(samples, q, CONFIDENCE, limit),
        ),
        // The correlated interval without the later-half rule.
        "whole" => (stats::Interval::Correlated.ci(samples, q, CONFIDENCE), true),
        // The correlated interval, the later half's point estimate within the limit.
        "latepoint" => (
            stats::Interval::Correlated.ci(samples, q, CONFIDENCE),
            stats::Interval::Correlated
                .ci(&samples[samples.len() / 2..], q, CONFIDENCE)
                .is_some_and(|c| c.estimate <= limit),
        ),
        _ => (
            stats::Interval::Correlated.ci(samples, q, CONFIDENCE),
            stats::Interval::Correlated.later_half_within(samples, q, CONFIDENCE, limit),
        ),
    };
    let ci = ci.unwrap();
    let verdict = if overloaded(rate, &intended, &done) {
        Verdict::Overloaded
    } else if later && ci.upper <= s.limit_ms {
        Verdict::Pass
    } else if ci.lower > s.limit_ms {
        Verdict::Fail
    } else {
        Verdict::Inconclusive
    };
    let need = stats::requests_to_decide(samples, s.quantile, CONFIDENCE, s.limit_ms);
    (verdict, need)
}

/// How verdicts are reached (`SIM_STAT`): `correlated` (the default, as the
/// capacity command's), `batch-means` (`--interval batch-means`), `mixed` (the
/// correlated interval, the later half by batch means) or `whole` (the correlated
/// interval without the later-half rule).
fn stat() -> String {
    std::env::var("SIM_STAT").unwrap_or_else(|_| "correlated".into())
}

/// How long a repeat is: `SIM_REPEAT` = a fixed multiple of the probe's requests,
/// or by default what the inconclusive probe asked for, as the capacity command
/// sizes it ([`repeat_requests`]).
fn repeat_size(s: &Setting, need: Option<u64>) -> u64 {
    match std::env::var("SIM_REPEAT")
        .ok()
        .and_then(|k| k.parse::<u64>().ok())
    {
        Some(k) => k * s.requests,
        None => repeat_requests(s.requests, need),
    }
}

/// One search (probe i of search `seed` uses schedule seed `seed · 1000 + i`).
fn search(s: &Setting, seed: u64) -> (Search, u64) {
    let mut search = Search::new(SearchPlan {
        axis: Axis::Rate,
        min: s.min_rate,
        max: s.max_rate,
        max_probes: 12,
        tolerance: 0.10,
    });
    let mut spent = 0;
    let mut need = None;
    while let Step::Probe { load: rate, repeat } = search.next() {
        let measured = if repeat {
            repeat_size(s, need)
        } else {
            s.requests
        };
        let index = search.probes() as u64 + 1;
        let v;
        (v, need) = probe_and_need(s, rate, measured, seed * 1000 + index);
        spent += measured;
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!(
                "    seed {seed} probe {index}: {rate:.1} × {measured} → {v:?} (need {need:?})"
            );
        }
        search.record(rate, v, repeat);
    }
    (search, spent)
}

fn seeds() -> u64 {
    std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// Runs `n` searches and single probes around the truth; prints one table row.
fn report(s: &Setting) {
    let n = seeds();
    let truth = truth(s);
    let (mut wrong, mut narrowed, mut out_of_range) = (0, 0, 0);
    let mut probes = Vec::new();
    let mut spent = 0;
    for seed in 1..=n {
        let (r, requests) = search(s, seed);
        spent += requests;
        probes.push(r.probes());
        let b = &r.bracket;
        match r.outcome() {
            Outcome::Narrowed | Outcome::NotNarrowed => {
                let (lo, hi) = (b.pass.unwrap(), b.fail.unwrap());
                if !(lo <= truth && truth <= hi) {
                    wrong += 1;
                    eprintln!("  seed {seed}: truth {truth:.1} outside [{lo:.1}, {hi:.1}]");
                }
                narrowed += usize::from(r.outcome() == Outcome::Narrowed);
            }
            // The truth lies inside every setting's range: either end is wrong.
            _ => {
                out_of_range += 1;
                wrong += 1;
            }
        }
    }
    probes.sort_unstable();
    let median = probes[probes.len() / 2];
    let singles = 4 * n;
    let mut rates = String::new();
    for factor in [0.90, 0.95, 1.02, 1.04, 1.06, 1.10] {
        let (mut pass, mut fail) = (0, 0);
        for k in 0..singles {
            match probe(s, factor * truth, s.requests, 7_000_000 + k) {
                Verdict::Pass => pass += 1,
                v if v.fails() => fail += 1,
                _ => {}
            }
        }
        rates += &format!(
            " {factor:.2}×: pass {:.3} fail {:.3};",
            pass as f64 / singles as f64,
            fail as f64 / singles as f64
        );
    }
    eprintln!(
        "{} [{}, {} requests]: truth {truth:.1} req/s; N={n}: wrong {wrong} (out of range {out_of_range}), narrowed {narrowed}, median probes {median}, mean measured requests {:.0}; single probes (N={singles}):{rates}",
        s.name,
        stat(),
        s.requests,
        spent as f64 / n as f64
    );
}

#[test]
#[ignore]
fn sim_poisson_64x200ms() {
    report(&stub("poisson 64x200ms p95<=55ms", "poisson"));
}

#[test]
#[ignore]
fn sim_gamma05_64x200ms() {
    report(&stub("gamma:0.5 64x200ms p95<=55ms", "gamma:0.5"));
}

/// The overload test's server (tests/capacity.rs): 4 slots of 50.25 ms, first
/// token at 6.5 ms, p95 ≤ 500 ms, probes of 400.
fn four() -> Setting {
    Setting {
        name: "poisson 4x50ms p95<=500ms",
        slots: 4,
        service_s: 0.00025 + 8.0 / 160.0,
        first_s: 0.00025 + 1.0 / 160.0,
        jitter: 0.0,
        arrival: Arrival::Poisson,
        quantile: 0.95,
        limit_ms: 500.0,
        min_rate: 20.0,
        max_rate: 160.0,
        requests: 400,
    }
}

/// Verdicts of single probes of the overload test's server at half its capacity
/// (it must pass there), and τ of their exceedances.
#[test]
#[ignore]
fn sim_diag_half() {
    let s = four();
    let mu = s.slots as f64 / s.service_s;
    for requests in [200, 400, 1200] {
        let (mut pass, mut fail) = (0, 0);
        let mut taus = Vec::new();
        for k in 0..400 {
            let warm = requests / 2;
            let (_, all, _) = queue(&s, 0.5 * mu, requests + warm, 3_000_000 + k);
            taus.push(p95_exceedance_time(&all[warm as usize..]));
            match probe(&s, 0.5 * mu, requests, 3_000_000 + k) {
                Verdict::Pass => pass += 1,
                v if v.fails() => fail += 1,
                _ => {}
            }
        }
        taus.sort_by(f64::total_cmp);
        eprintln!(
            "{} at 0.5 μ, {requests} requests: pass {pass}, fail {fail} of 400; τ 10/50/90 % {:.1} {:.1} {:.1}",
            s.name, taus[40], taus[200], taus[360]
        );
    }
}

#[test]
#[ignore]
fn sim_poisson_16x50ms() {
    report(&small());
}

/// The fraction of a long run's TTFTs (its first 5 % dropped) beyond `x`, and the
/// integrated autocorrelation time of that indicator from the variance of its
/// means over batches of 4,000.
fn steady_exceedance(ttfts: &[f64], x: f64) -> (f64, f64) {
    let ind: Vec<f64> = ttfts[ttfts.len() / 20..]
        .iter()
        .map(|&v| f64::from(u8::from(v > x)))
        .collect();
    let m = 4000;
    let means: Vec<f64> = ind
        .chunks_exact(m)
        .map(|c| c.iter().sum::<f64>() / m as f64)
        .collect();
    let b = means.len() as f64;
    let p = means.iter().sum::<f64>() / b;
    let var = means.iter().map(|x| (x - p).powi(2)).sum::<f64>() / (b - 1.0);
    (p, m as f64 * var / (p * (1.0 - p)))
}

/// A probe's estimate of the autocorrelation time of exceedances of its own p95
/// ([`stats::exceedance_time`] at the nearest-rank p95 of `samples`).
fn p95_exceedance_time(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    stats::exceedance_time(samples, stats::quantile_sorted(&sorted, 0.95).unwrap())
}

/// Diagnostics: the steady exceedance fraction of the limit around the truth, and
/// the integrated autocorrelation time of its indicator (from batches of 4,000).
#[test]
#[ignore]
fn sim_diag() {
    for s in [
        stub("poisson 64x200ms p95<=55ms", "poisson"),
        stub("gamma:0.5 64x200ms p95<=55ms", "gamma:0.5"),
        small(),
    ] {
        let truth = truth(&s);
        for factor in [0.90, 0.95, 1.0, 1.02, 1.04, 1.06, 1.10] {
            let t = ttfts(&s, factor * truth, TRUTH_REQUESTS, 99);
            let (p, tau) = steady_exceedance(&t, s.limit_ms);
            eprintln!(
                "{} {factor:.2}× ({:.1}): exceed {p:.4}, tau {tau:.0}",
                s.name,
                factor * truth
            );
        }
    }
}

/// Diagnostics: the autocorrelation time of exceedances of the steady p95 (from
/// batches of 4,000 of one long run) against its estimates from 400-request probes.
#[test]
#[ignore]
fn sim_diag_tau() {
    for s in [
        stub("poisson 64x200ms p95<=55ms", "poisson"),
        stub("gamma:0.5 64x200ms p95<=55ms", "gamma:0.5"),
        small(),
    ] {
        let truth = truth(&s);
        for factor in [0.80, 0.90, 0.95, 1.0, 1.04] {
            let rate = factor * truth;
            let x = steady_quantile(&s, rate);
            let t = ttfts(&s, rate, TRUTH_REQUESTS, 99);
            let (p, tau) = steady_exceedance(&t, x);
            let mut est: Vec<f64> = (0..200)
                .map(|k| {
                    let all = ttfts(&s, rate, 600, 5_000_000 + k);
                    p95_exceedance_time(&all[200..])
                })
                .collect();
            est.sort_by(f64::total_cmp);
            eprintln!(
                "{} {factor:.2}× p95 {x:.1} ms: exceed {p:.3}, tau {tau:.0}; probe estimates 10/50/90 % {:.0} {:.0} {:.0}",
                s.name, est[20], est[100], est[180]
            );
        }
    }
}

/// Diagnostics: how often, and how early, the overload test fires below and
/// beyond the capacity μ (probes of 400 + 200 requests).
#[test]
#[ignore]
fn sim_diag_overload() {
    let mut four = stub("poisson 4x50ms", "poisson");
    four.slots = 4;
    four.service_s = 0.00025 + 8.0 / 160.0;
    four.first_s = 0.00025 + 1.0 / 160.0;
    for s in [
        stub("poisson 64x200ms", "poisson"),
        four,
        stub("gamma:0.5 64x200ms", "gamma:0.5"),
    ] {
        let mu = s.slots as f64 / s.service_s;
        for factor in [0.5, 0.6, 0.8, 0.9, 1.05, 1.3, 2.0] {
            let rate = factor * mu;
            let (mut fired, mut when) = (0, Vec::new());
            let mut last = 0.0;
            for k in 0..400 {
                let (intended, _, done) = queue(&s, rate, 600, 9_000_000 + k);
                last = *intended.last().unwrap() as f64 / 1e9;
                let mut test = stats::OverloadTest::new(rate);
                let end = *done.last().unwrap();
                let mut t = 50_000_000u64;
                while t <= end {
                    let sent = intended.partition_point(|&a| a <= t) as u64;
                    let finished = done.partition_point(|&d| d <= t) as u64;
                    if let Some(why) = test.observe(t as f64 / 1e9, sent - finished, sent, finished)
                    {
                        if fired < 1 && factor < 1.0 {
                            eprintln!("  {}: {why}", s.name);
                        }
                        fired += 1;
                        when.push(t as f64 / 1e9);
                        break;
                    }
                    t += 50_000_000;
                }
            }
            when.sort_by(f64::total_cmp);
            let median = when.get(when.len() / 2).copied().unwrap_or(f64::NAN);
            eprintln!(
                "{} {factor:.2} μ ({rate:.0}/s, schedule {last:.2} s): overload in {fired} of 400, median at {median:.2} s",
                s.name
            );
        }
    }
}
