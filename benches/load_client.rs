//! The load engine's ceiling: how many streamed requests per second one client
//! thread completes against the `fast` stub (pre-rendered 64-chunk responses on its
//! own thread), closed loop with 32 workers, records handed to a sink that drops
//! them. Criterion reports requests/s (Throughput::Elements). Pin it to see the
//! figure the README quotes: `taskset -c 0 cargo bench --bench load_client` puts
//! client and stub on one core; `scripts/load_ceiling.sh` pins them apart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentbench::client::{CallRequest, Endpoint, LlmClient, RequestSettings, Timeouts};
use agentbench::load::clock::mono_ns;
use agentbench::load::engine::{run_engine, EngineConfig, Mode, Progress};
use agentbench::load::sink::start_counter;
use agentbench::load::Warmup;
use agentbench::stub::{default_addr, kind_for, serve, StubProfile, DEFAULT_MODEL};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod support;

const PROFILE: &str = "fast";
const REQUESTS: u64 = 2_000;
const WORKERS: u32 = 32;

fn bench_load(c: &mut Criterion) {
    support::hold_cpus_awake();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let profile = StubProfile::named(PROFILE).expect("fast profile");
    let stub = rt
        .block_on(serve(default_addr(0), profile, kind_for(PROFILE)))
        .expect("stub starts");
    let url = stub.url().to_string();
    let settings = RequestSettings::default();
    let prompt = agentbench::cli::synthetic_prompt(32, 1);

    let mut g = c.benchmark_group("load_client");
    g.throughput(Throughput::Elements(REQUESTS));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("closed loop, 32 workers, 64-chunk responses", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let client = LlmClient::new(&url, Timeouts::default()).expect("client");
                let prepared = client.prepare_call(&CallRequest {
                    endpoint: Endpoint::Generate,
                    model: DEFAULT_MODEL,
                    prompt: &prompt,
                    settings: &settings,
                });
                let (tx, drain) = start_counter();
                let cfg = EngineConfig {
                    client,
                    prompts: Arc::new(vec![prepared]),
                    mode: Mode::Closed {
                        concurrency: WORKERS,
                        think_ns: 0,
                        requests: Some(REQUESTS),
                        duration_ns: None,
                        shard: None,
                    },
                    warmup: Warmup::default(),
                    origin_mono_ns: mono_ns(),
                    stop: None,
                };
                let t = Instant::now();
                run_engine(cfg, tx, Arc::new(Progress::default())).expect("engine runs");
                total += t.elapsed();
                let ok = drain.join().expect("drain");
                assert_eq!(
                    ok, REQUESTS,
                    "every request completes against the fast stub"
                );
            }
            total
        })
    });
    g.finish();
    drop(stub);
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
