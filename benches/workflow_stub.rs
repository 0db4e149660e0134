//! The whole workflow (`Agent::run_once`: ingest `mock-data/`, analysis call, parse,
//! report call) against the zero-latency instant stub (100 chunks per call), in a
//! current-thread runtime. Prints the median of the two calls' server
//! `total_duration` next to the run's wall time. Target: ≤ 2 ms beyond the stub's
//! own time.

use std::cell::RefCell;

use agentbench::agent::{Agent, WorkflowConfig};
use agentbench::client::{Endpoint, RequestSettings};
use agentbench::ingest::IngestOptions;
use agentbench::stub::{StubProfile, DEFAULT_MODEL};
use criterion::{criterion_group, criterion_main, Criterion};

mod support;

use support::Recorder;

const BENCH: &str = "workflow_stub";

fn bench_workflow(c: &mut Criterion) {
    let rt = support::current_thread_runtime();
    let profile = StubProfile::named("instant").expect("instant profile");
    let (stub, client, header) = support::instant_stub_setup(&rt, profile);
    let agent = Agent::new(
        client,
        WorkflowConfig {
            corpus_root: support::mock_data(),
            ingest: IngestOptions::default(),
            model: DEFAULT_MODEL.to_string(),
            settings: RequestSettings::default(),
            endpoint: Endpoint::Generate,
        },
    )
    .expect("mock-data/ ingests");
    let check = rt.block_on(agent.run_once(0));
    assert!(
        check.failure.is_none(),
        "a run completes: {:?}",
        check.failure
    );
    assert_eq!(check.calls.len(), 2);

    let recorder = RefCell::new(Recorder::new(
        "stub:instant",
        &format!("{BENCH}/run_once"),
        "run_once",
        header,
    ));
    let mut g = c.benchmark_group(BENCH);
    g.bench_function("run_once(mock-data)", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (agent, recorder) = (&agent, &recorder);
            support::time_runs(agent, recorder, iters)
        })
    });
    g.finish();

    let r = recorder.into_inner();
    if r.recorded_runs > 0 {
        if let (Some(wall), Some(((beyond, beyond95), server))) =
            (r.wall_median_us(), r.beyond_server_us())
        {
            println!(
                "{BENCH}: run p50 {wall:.1} µs; both calls' server total_duration p50 \
                 {server:.1} µs; beyond the stub p50 {beyond:.1} µs, p95 {beyond95:.1} µs \
                 ({} runs)",
                r.recorded_runs
            );
        }
        println!(
            "{BENCH}: phase medians (ms): {}",
            support::phase_line(&r.run_summary())
        );
    }
    support::finish(BENCH, &[&r]);
    drop(stub);
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_workflow
}
criterion_main!(benches);
