//! The whole workflow end to end against the zero-latency instant stub over
//! loopback, and the record file round trip.

use std::path::PathBuf;

use agentbench::agent::{Agent, WorkflowConfig};
use agentbench::client::{Endpoint, LlmClient, RequestSettings, Timeouts};
use agentbench::ingest::IngestOptions;
use agentbench::metrics::{CallMetrics, RunSummary};
use agentbench::prompt::prompt_hash;
use agentbench::record::{read_records, Phase, RecordWriter, Stage, WorkflowRecord};
use agentbench::stub::{InstantStub, StubProfile};

mod common;

fn mock_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("mock-data")
}

fn agent(url: &str, endpoint: Endpoint) -> Agent {
    let client = LlmClient::new(url, Timeouts::default()).unwrap();
    Agent::new(
        client,
        WorkflowConfig {
            corpus_root: mock_data(),
            ingest: IngestOptions::default(),
            model: "gemma3:latest".into(),
            settings: RequestSettings::from_pairs(&["seed=42", "num_predict=512"]).unwrap(),
            endpoint,
        },
    )
    .unwrap()
}

fn assert_complete_run(run: &WorkflowRecord, profile: &StubProfile) {
    assert!(run.failure.is_none(), "{:?}", run.failure);
    assert_eq!(run.calls.len(), 2);
    assert_eq!(run.corpus_files, 101);
    for (call, stage) in run.calls.iter().zip(Stage::ALL) {
        assert_eq!(call.stage, stage);
        let rec = &call.call;
        assert!(rec.is_ok(), "{stage:?}: {:?}", rec.error);
        assert_eq!(rec.prompt_sha256, prompt_hash(&call.prompt));
        assert_eq!(rec.prompt_bytes, call.prompt.len() as u64);
        assert_eq!(rec.response, profile.text);
        assert_eq!(rec.chunk_ns.len(), profile.pieces().len());
        assert_eq!(rec.server.eval_count, Some(rec.chunk_ns.len() as u64));
        let m = CallMetrics::new(rec);
        assert!(m.ttft().unwrap() <= m.e2e().unwrap());
        assert!(m.client_overhead_ns().is_some());
    }
    let analysis = run.analysis.as_ref().expect("parsed analysis");
    assert!(!analysis.findings.is_empty(), "stub text has findings");
    assert!(!analysis.recommendations.is_empty());
    let order = [
        Phase::Ingest,
        Phase::AnalysisPrompt,
        Phase::AnalysisCall,
        Phase::Parse,
        Phase::ReportPrompt,
        Phase::ReportCall,
    ];
    let phases: Vec<Phase> = run.phases.iter().map(|p| p.phase).collect();
    assert_eq!(phases, order);
    for w in run.phases.windows(2) {
        assert!(w[0].start_ns <= w[0].end_ns && w[0].end_ns <= w[1].start_ns);
    }
}

#[tokio::test]
async fn the_workflow_runs_end_to_end_on_generate_and_chat() {
    let profile = StubProfile::named("instant").unwrap();
    let stub = InstantStub::start(profile.clone()).await.unwrap();
    for endpoint in [Endpoint::Generate, Endpoint::Chat] {
        let agent = agent(stub.url(), endpoint);
        let a = agent.run_once(0).await;
        let b = agent.run_once(1).await;
        assert_complete_run(&a, &profile);
        assert_complete_run(&b, &profile);
        assert_eq!(
            a.calls[0].prompt, b.calls[0].prompt,
            "analysis prompt is byte-stable"
        );
        assert_eq!(
            a.calls[1].prompt, b.calls[1].prompt,
            "report prompt is byte-stable"
        );
        assert_eq!(b.calls[0].call.endpoint, endpoint);
        let report_prompt = &a.calls[1].prompt;
        let finding = &a.analysis.as_ref().unwrap().findings[0];
        assert!(
            report_prompt.contains(finding.as_str()),
            "the report prompt is built from the parsed analysis"
        );
        let summary = RunSummary::of(&[a, b]);
        assert_eq!(summary.runs_ok, 2);
        assert_eq!(summary.stages[0].ok, 2);
        assert!(summary.stages[0].errors.is_empty());
    }
}

#[tokio::test]
async fn a_missing_model_is_a_recorded_error_not_a_sample() {
    let profile = StubProfile::named("instant")
        .unwrap()
        .with_models(["other:1b".to_string()]);
    let stub = InstantStub::start(profile).await.unwrap();
    let run = agent(stub.url(), Endpoint::Generate).run_once(0).await;
    assert_eq!(run.calls.len(), 1, "no report call without an analysis");
    let failure = run.failure.as_ref().unwrap();
    assert_eq!(failure.stage, agentbench::record::FailedStep::Analysis);
    assert!(
        failure.message.contains("ollama pull gemma3:latest"),
        "{}",
        failure.message
    );
    let summary = RunSummary::of(std::slice::from_ref(&run));
    assert_eq!(summary.runs_ok, 0);
    assert_eq!(summary.stages[0].decode_tps, None);
    assert_eq!(summary.stages[0].errors.values().sum::<usize>(), 1);
}

#[tokio::test]
async fn records_round_trip_and_a_torn_last_line_is_skipped() {
    let stub = InstantStub::start(StubProfile::named("instant").unwrap())
        .await
        .unwrap();
    let agent = agent(stub.url(), Endpoint::Generate);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.jsonl");
    let header = common::header(stub.url());
    let mut writer = RecordWriter::create(&path, &header).unwrap();
    let runs = vec![agent.run_once(0).await, agent.run_once(1).await];
    for run in &runs {
        writer.append(run).unwrap();
    }
    assert!(
        RecordWriter::create(&path, &header).is_err(),
        "an existing record file is never clobbered"
    );
    let back = read_records(&path).unwrap();
    assert_eq!(back.header, header);
    assert_eq!(back.runs, runs);
    assert!(back.skipped.is_empty());

    // A crash mid-write leaves a torn line: it is reported, the rest is kept.
    let mut text = std::fs::read_to_string(&path).unwrap();
    let torn = serde_json::to_string(&runs[0]).unwrap();
    text.push_str(&torn[..torn.len() / 2]);
    std::fs::write(&path, text).unwrap();
    let back = read_records(&path).unwrap();
    assert_eq!(back.runs.len(), 2);
    assert_eq!(back.skipped.len(), 1);
    assert_eq!(back.skipped[0].0, 4, "line number of the torn line");
}

/// A corpus that vanished before the run: the failure is ingest's own (no call was
/// made), not the analysis stage's, and it prints as such.
#[tokio::test]
async fn an_ingest_failure_is_recorded_as_ingest_not_as_a_call() {
    let corpus = tempfile::tempdir().unwrap();
    let root = corpus.path().join("corpus");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.csv"), "x,y\n1,2\n").unwrap();
    let client = LlmClient::new("http://127.0.0.1:1", Timeouts::default()).unwrap();
    let agent = Agent::new(
        client,
        WorkflowConfig {
            corpus_root: root.clone(),
            ingest: IngestOptions::default(),
            model: "gemma3:latest".into(),
            settings: RequestSettings::default(),
            endpoint: Endpoint::Generate,
        },
    )
    .unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    let run = agent.run_once(0).await;
    assert!(run.calls.is_empty(), "no call was made");
    let failure = run.failure.expect("the run failed");
    assert_eq!(failure.stage, agentbench::record::FailedStep::Ingest);
    assert_eq!(failure.stage.stage(), None);
    let shown = failure.to_string();
    assert!(shown.starts_with("ingest failed: "), "{shown}");
    assert!(!shown.contains("analysis"), "{shown}");
    let json = serde_json::to_value(&failure).unwrap();
    assert_eq!(json["stage"], "ingest");
}

/// Record files written before the ingest step existed stay readable: their
/// failures (including an ingest failure then recorded as `analysis`) decode.
#[test]
fn an_old_failure_line_still_decodes() {
    use agentbench::record::{FailedStep, RunFailure};
    let old: RunFailure =
        serde_json::from_str(r#"{"stage":"analysis","message":"ingest failed: gone"}"#).unwrap();
    assert_eq!(old.stage, FailedStep::Analysis);
    let report: RunFailure =
        serde_json::from_str(r#"{"stage":"report","message":"truncated"}"#).unwrap();
    assert_eq!(report.stage, FailedStep::Report);
    assert_eq!(report.to_string(), "report call failed: truncated");
}
