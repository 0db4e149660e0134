//! One streamed call (`LlmClient::call`, the analysis prompt of `mock-data/`) of
//! 100 and of 1000 chunks against the zero-latency instant stub over loopback, in a
//! current-thread tokio runtime. Every measured call feeds the HDR histograms
//! (`stub:instant`, `client_stub/<n> chunks`), including the client overhead
//! (E2E − server total_duration) of each call. Target: client overhead of a
//! 1000-chunk call ≤ 150 µs.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use agentbench::client::{CallRequest, Endpoint, RequestSettings};
use agentbench::metrics::hdr::LatencyMetric;
use agentbench::prompt::analysis_prompt;
use agentbench::stub::{InstantStub, StubProfile, DEFAULT_MODEL};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

mod support;

use support::Recorder;

const BENCH: &str = "client_stub";

fn bench_client(c: &mut Criterion) {
    let rt = support::current_thread_runtime();
    let prompt = analysis_prompt(&support::mock_summary());
    let settings = RequestSettings::default();
    let mut done: Vec<(InstantStub, Recorder)> = Vec::new();

    let mut g = c.benchmark_group(BENCH);
    for n in [100usize, 1000] {
        let profile = StubProfile::named("instant")
            .expect("instant profile")
            .with_chunks(n);
        let (stub, client, header) = support::instant_stub_setup(&rt, profile);
        let recorder = RefCell::new(
            Recorder::new(
                "stub:instant",
                &format!("{BENCH}/{n} chunks"),
                &format!("{n}-chunks"),
                header,
            )
            .keep_at_most(1000),
        );
        let req = CallRequest {
            endpoint: Endpoint::Generate,
            model: DEFAULT_MODEL,
            prompt: &prompt,
            settings: &settings,
        };
        let check = rt.block_on(client.call(&req));
        assert!(
            check.is_ok(),
            "a call to the stub completes: {:?}",
            check.error
        );
        assert_eq!(check.chunk_ns.len(), n, "the stub streams {n} chunks");

        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("call", format!("{n} chunks")), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (client, req, recorder, prompt) = (&client, &req, &recorder, &prompt);
                async move {
                    recorder.borrow_mut().begin_batch();
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let call = client.call(req).await;
                        let wall = t.elapsed();
                        total += wall;
                        recorder.borrow_mut().record_call(t, wall, prompt, call);
                    }
                    total
                }
            })
        });
        done.push((stub, recorder.into_inner()));
    }
    g.finish();

    for (_, r) in &done {
        if r.recorded_calls == 0 {
            continue;
        }
        let q = |m, q| r.hist_us(m, q).map_or("–".into(), |v| v.to_string());
        let server = r
            .beyond_server_us()
            .map_or("–".into(), |(_, s)| format!("{s:.1}"));
        println!(
            "{}: client overhead (E2E − total_duration) p50 {} µs, p95 {} µs; E2E p50 {} µs; \
             server total_duration p50 {server} µs; {} calls",
            r.key.config,
            q(LatencyMetric::ClientOverhead, 0.5),
            q(LatencyMetric::ClientOverhead, 0.95),
            q(LatencyMetric::E2e, 0.5),
            r.recorded_calls,
        );
    }
    let recorders: Vec<&Recorder> = done.iter().map(|(_, r)| r).collect();
    support::finish(BENCH, &recorders);
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_client
}
criterion_main!(benches);
