//! The workflow against a real model over the OpenAI-compatible protocol: llama.cpp's
//! `llama-server` (or vLLM, or Ollama's `/v1`) at `LLM_BASE_URL`, model `LLM_MODEL`
//! (default `gemma3-270m`, the alias `scripts/llama-server.sh start` serves).
//! `max_tokens` `AGENTBENCH_MAX_TOKENS` (default 64), seed 42, temperature 0.
//! When `LLM_BASE_URL` is unset, or nothing answers `GET /v1/models` there, prints one
//! line `workflow_real: skipped: <reason>` and returns without failing.
//! 10 samples of one run each (flat sampling); records, histograms and the HTML
//! report of every measured run go to `reports/bench/workflow_real/`.
//!
//! ```sh
//! eval "$(scripts/llama-server.sh start)"   # LLM_BASE_URL=… LLM_PID=…
//! LLM_BASE_URL=$LLM_BASE_URL cargo bench --bench workflow_real
//! scripts/llama-server.sh stop "$LLM_PID"
//! ```

use std::time::Duration;

use agentbench::agent::{Agent, WorkflowConfig};
use agentbench::client::{resolve_base_url, Endpoint, Protocol, RequestSettings};
use agentbench::ingest::IngestOptions;
use criterion::{criterion_group, criterion_main, Criterion};

mod support;

use support::Recorder;

const BENCH: &str = "workflow_real";
const DEFAULT_MODEL: &str = "gemma3-270m";

fn skip(reason: impl std::fmt::Display) {
    let reason = reason.to_string().replace(['\n', '\r'], " ");
    println!("{BENCH}: skipped: {reason}");
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn bench_real(c: &mut Criterion) {
    let Some(given) = std::env::var("LLM_BASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return skip("LLM_BASE_URL is not set (start a server with scripts/llama-server.sh start)");
    };
    let url = match resolve_base_url(Some(&given), None) {
        Ok(url) => url,
        Err(e) => return skip(e),
    };
    let model = env_or("LLM_MODEL", DEFAULT_MODEL);
    let max_tokens = env_or("AGENTBENCH_MAX_TOKENS", "64");
    let settings = match RequestSettings::from_pairs(&[
        format!("num_predict={max_tokens}"),
        "seed=42".into(),
        "temperature=0".into(),
    ]) {
        Ok(s) => s,
        Err(e) => return skip(format!("AGENTBENCH_MAX_TOKENS: {e}")),
    };
    let rt = support::current_thread_runtime();
    let client = support::client(&url).with_protocol(Protocol::OpenAi);
    if let Err(e) = rt.block_on(client.probe(Duration::from_secs(2))) {
        return skip(e);
    }
    let server = match rt.block_on(client.server_info(&model)) {
        Ok(info) => info,
        Err(e) => return skip(e),
    };
    let mut header = support::header(&url, None, &model, server);
    header.backend.protocol = Protocol::OpenAi.name().into();
    header.settings = settings.clone();
    let agent = match Agent::new(
        client,
        WorkflowConfig {
            corpus_root: support::mock_data(),
            ingest: IngestOptions::default(),
            model: model.clone(),
            settings,
            endpoint: Endpoint::Generate,
        },
    ) {
        Ok(agent) => agent,
        Err(e) => return skip(e),
    };

    let recorder = Recorder::new(
        &format!("openai@{url}"),
        &format!("{BENCH}/{model} max_tokens {max_tokens}"),
        "run_once",
        header,
    );
    let measurement = Duration::from_secs(60);
    let r = support::bench_live_workflow(c, &rt, BENCH, &model, measurement, &agent, recorder);
    support::finish(BENCH, &[&r]);
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_real
}
criterion_main!(benches);
