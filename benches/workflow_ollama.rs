//! The workflow against a real Ollama at `OLLAMA_HOST` (default
//! http://127.0.0.1:11434), model `AGENTBENCH_MODEL` (default gemma3:latest).
//! Probes first (1 s); when no server answers, or the model is missing, prints one
//! line `workflow_ollama: skipped: <reason>` and returns without failing.
//! 10 samples of one run each (flat sampling); the phase timings of every measured
//! run are kept in `reports/bench/workflow_ollama/`.

use std::time::Duration;

use agentbench::agent::{Agent, WorkflowConfig};
use agentbench::client::{resolve_base_url, Endpoint, RequestSettings};
use agentbench::ingest::IngestOptions;
use criterion::{criterion_group, criterion_main, Criterion};

mod support;

use support::Recorder;

const BENCH: &str = "workflow_ollama";
const DEFAULT_MODEL: &str = "gemma3:latest";

fn skip(reason: impl std::fmt::Display) {
    let reason = reason.to_string().replace(['\n', '\r'], " ");
    println!("{BENCH}: skipped: {reason}");
}

fn bench_ollama(c: &mut Criterion) {
    let host = std::env::var("OLLAMA_HOST").ok();
    let url = match resolve_base_url(None, host.as_deref()) {
        Ok(url) => url,
        Err(e) => return skip(e),
    };
    let model = std::env::var("AGENTBENCH_MODEL")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let rt = support::current_thread_runtime();
    let client = support::client(&url);
    if let Err(e) = rt.block_on(client.probe(Duration::from_secs(1))) {
        return skip(e);
    }
    let server = match rt.block_on(client.server_info(&model)) {
        Ok(info) => info,
        Err(e) => return skip(e),
    };
    let header = support::header(&url, None, &model, server);
    let agent = match Agent::new(
        client,
        WorkflowConfig {
            corpus_root: support::mock_data(),
            ingest: IngestOptions::default(),
            model: model.clone(),
            settings: RequestSettings::default(),
            endpoint: Endpoint::Generate,
        },
    ) {
        Ok(agent) => agent,
        Err(e) => return skip(e),
    };

    let recorder = Recorder::new(
        &format!("ollama@{url}"),
        &format!("{BENCH}/{model} defaults"),
        "run_once",
        header,
    );
    let measurement = Duration::from_secs(120);
    let r = support::bench_live_workflow(c, &rt, BENCH, &model, measurement, &agent, recorder);
    for (i, run) in r.runs.iter().enumerate() {
        let phases: Vec<String> = run
            .phases
            .iter()
            .map(|p| format!("{:.1}", (p.end_ns - p.start_ns) as f64 / 1e6))
            .collect();
        println!("{BENCH}: run {i} phases (ms): {}", phases.join(" "));
    }
    support::finish(BENCH, &[&r]);
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_ollama
}
criterion_main!(benches);
