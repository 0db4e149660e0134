//! Helpers shared by integration tests.
#![allow(dead_code)]

use agentbench::client::{Endpoint, RequestSettings, ServerInfo};
use agentbench::ingest::{ingest, IngestOptions};
use agentbench::provenance::{Harness, Host};
use agentbench::record::{Backend, CorpusInfo, Header, SCHEMA_VERSION};

/// A header for records made against `url` on mock-data/.
pub fn header(url: &str) -> Header {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data");
    let corpus = ingest(&root, &IngestOptions::default()).unwrap();
    Header {
        schema_version: SCHEMA_VERSION,
        harness: Harness::current(),
        created_unix_ns: 1,
        host: Host::current(),
        backend: Backend {
            url: url.to_string(),
            protocol: "ollama".into(),
            endpoint: Endpoint::Generate,
            stub: Some("instant".into()),
        },
        server: ServerInfo::default(),
        model: "gemma3:latest".into(),
        settings: RequestSettings::default(),
        corpus: CorpusInfo {
            root: root.display().to_string(),
            stats: corpus.stats(),
        },
        prompt_templates: Default::default(),
    }
}

/// A completed call with the given TTFT and client overhead (ms): 11 chunks 10 ms
/// apart after the first; the server's total_duration is E2E − overhead.
pub fn synthetic_call(ttft_ms: f64, overhead_ms: f64) -> agentbench::client::CallRecord {
    use agentbench::client::{CallRecord, ServerFields};
    let ms = |x: f64| (x * 1e6) as u64;
    let chunk_ns: Vec<u64> = (0..11).map(|i| ms(ttft_ms + 10.0 * i as f64)).collect();
    let end = *chunk_ns.last().unwrap() + ms(1.0);
    CallRecord {
        endpoint: Endpoint::Generate,
        model: "gemma3:latest".into(),
        settings: RequestSettings::default(),
        prompt_sha256: "ab".repeat(32),
        prompt_bytes: 100,
        started_unix_ns: 1,
        http_status: Some(200),
        headers_ns: Some(ms(1.0)),
        chunk_ns,
        end_ns: Some(end),
        bytes: Some(1000),
        lines: 12,
        response: "text".into(),
        thinking: String::new(),
        server: ServerFields {
            total_duration: Some(end - ms(overhead_ms)),
            load_duration: Some(ms(1.0)),
            prompt_eval_count: Some(25),
            prompt_eval_duration: Some(ms(ttft_ms / 2.0)),
            eval_count: Some(11),
            eval_duration: Some(ms(100.0)),
            done_reason: Some("stop".into()),
            ..ServerFields::default()
        },
        error: None,
        attempt: 1,
        retried_errors: Vec::new(),
        cost: Default::default(),
    }
}

/// A completed two-call run built from [`synthetic_call`]s.
pub fn synthetic_run(
    index: u32,
    ttft_ms: f64,
    overhead_ms: f64,
) -> agentbench::record::WorkflowRecord {
    use agentbench::record::{Phase, PhaseSpan, Stage, StageCall, WorkflowRecord};
    let phases = [
        Phase::Ingest,
        Phase::AnalysisPrompt,
        Phase::AnalysisCall,
        Phase::Parse,
        Phase::ReportPrompt,
        Phase::ReportCall,
    ]
    .iter()
    .enumerate()
    .map(|(i, &phase)| PhaseSpan {
        phase,
        start_ns: i as u64 * 1_000_000,
        end_ns: i as u64 * 1_000_000 + 500_000,
    })
    .collect();
    WorkflowRecord {
        corpus_files: 101,
        phases,
        calls: Stage::ALL
            .iter()
            .map(|&stage| StageCall {
                stage,
                prompt: "p".into(),
                call: synthetic_call(ttft_ms, overhead_ms),
            })
            .collect(),
        ..WorkflowRecord::new(index, 1)
    }
}

/// Writes a record file of `runs` with [`header`] under `dir/name.jsonl`.
pub fn write_records(
    dir: &std::path::Path,
    name: &str,
    header: &Header,
    runs: &[agentbench::record::WorkflowRecord],
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.jsonl"));
    let mut w = agentbench::record::RecordWriter::create(&path, header).unwrap();
    for r in runs {
        w.append(r).unwrap();
    }
    path
}

/// The built `agentbench` binary, run from the crate root, with the environment
/// that would pick a server or a model for it removed.
pub fn agentbench() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_agentbench"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OLLAMA_HOST")
        .env_remove("AGENTBENCH_MODEL");
    cmd
}

/// A finished command's exit code, stdout and stderr, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
