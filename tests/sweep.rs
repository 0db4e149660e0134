//! Sweeps against the emulating paced stub: a planted 10 % decode difference is
//! found and none is reported where none was planted; cold/warm labels follow the
//! planted reloads; start states are prepared and verified; a sweep resumes.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agentbench::client::{Endpoint, LlmClient, RequestSettings, Timeouts};
use agentbench::record::{read_records, Stage, StartState};
use agentbench::stub::emulate::{Emulation, Planted};
use agentbench::stub::{PacedStub, StubProfile};
use agentbench::sweep::study::{label_call, CallFlag, ColdCause, Metric, Warmth};
use agentbench::sweep::{analyze, matrix, run_sweep, AnalysisOpts, Axes, SweepPaths, SweepSpec};

const THRESHOLD: Duration = Duration::from_millis(20);

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data")
}

/// Fast emulation: 20 chunks, 1 ms gaps, 40 ms reloads; num_ctx 1024 decodes 10 % faster.
async fn stub() -> PacedStub {
    let e = Emulation::fast().with_planted(Planted {
        num_gpu: None,
        num_ctx: Some(1024),
        temperature_milli: None,
        speed_permille: 1100,
    });
    let profile = StubProfile::named("sweep")
        .unwrap()
        .with_chunks(20)
        .with_emulation(e);
    PacedStub::start(profile).await.unwrap()
}

fn spec(runs: u32, warmup: u32, start: StartState) -> SweepSpec {
    let mut common = RequestSettings::default();
    common.options.num_predict = Some(256);
    common.options.seed = Some(42);
    SweepSpec {
        configs: matrix(&Axes {
            num_ctx: vec![512, 1024],
            ..Axes::default()
        })
        .unwrap(),
        runs,
        warmup,
        seed: 7,
        start_state: start,
        cold_threshold_ms: THRESHOLD.as_secs_f64() * 1e3,
        common,
    }
}

async fn sweep(url: &str, spec: &SweepSpec, dir: &Path) -> agentbench::sweep::SweepOutcome {
    let client = LlmClient::new(url, Timeouts::default()).unwrap();
    run_sweep(
        &client,
        "gemma3:latest",
        Endpoint::Generate,
        &corpus(),
        spec,
        &common::header(url),
        &SweepPaths::in_dir(dir),
        false,
    )
    .await
    .unwrap()
}

fn opts() -> AnalysisOpts {
    AnalysisOpts {
        cold_threshold: THRESHOLD,
        ..AnalysisOpts::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_planted_difference_and_only_it_with_labels_following_reloads() {
    let stub = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(5, 1, StartState::AsIs);
    let out = sweep(stub.url(), &spec, dir.path()).await;
    assert_eq!(out.executed, 18);
    assert_eq!(out.failed, 0);
    let file = read_records(&dir.path().join("records.jsonl")).unwrap();
    assert_eq!(file.runs.len(), 18);

    // Interleaved: every round visits all three configurations.
    for round in 0..6 {
        let mut ids: Vec<_> = file
            .runs
            .iter()
            .filter(|r| r.round == Some(round))
            .map(|r| r.config.clone().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, ["baseline", "ctx1024", "ctx512"]);
    }

    // Labels follow the planted reloads: an options change means a reload in the
    // stub (load_duration 40 ms) and a cold label from the harness; the report call
    // that follows is warm.
    for run in &file.runs {
        let a = label_call(run, 0, THRESHOLD);
        assert_eq!(a.loaded, Some(run.expected_reload), "run {}", run.run_index);
        let want = if run.expected_reload {
            Warmth::Cold
        } else {
            Warmth::Warm
        };
        assert_eq!(a.warmth, want);
        if run.expected_reload {
            assert!(a.causes.contains(&ColdCause::OptionsChanged));
        }
        let r = label_call(run, 1, THRESHOLD);
        assert_eq!((r.warmth, r.loaded), (Warmth::Warm, Some(false)));
    }
    assert!(file.runs.iter().any(|r| r.expected_reload));

    let a = analyze(&file, Some(&spec), opts());
    assert_eq!(a.warmup_runs, 3);
    // The planted 10 % is found: decode tok/s of ctx1024 beats the baseline, its CI
    // of the difference excludes zero, and the change is about +10 %.
    let d = a
        .delta(Metric::DecodeTps, "ctx1024", Stage::Report, Warmth::Warm)
        .expect("report calls are warm in every configuration");
    let ci = d.comparison.diff_ci.unwrap().ci;
    assert!(ci.excludes_zero() && ci.lower > 0.0, "{ci:?}");
    let pct = d.comparison.change_pct_mean.unwrap();
    assert!((7.0..13.0).contains(&pct), "{pct}");
    assert_eq!(a.decode_verdict("ctx1024"), Some(true));
    // None planted for ctx512: no difference reported.
    assert_eq!(a.decode_verdict("ctx512"), None);
    let d = a
        .delta(Metric::DecodeTps, "ctx512", Stage::Report, Warmth::Warm)
        .unwrap();
    assert!(!d.beats() && !d.regresses());
    // Truncation: ctx512 prompts are capped at 512 tokens, flagged; the baseline's not.
    let trunc: Vec<_> = a
        .flagged
        .iter()
        .filter(|f| f.flag.is_truncation())
        .collect();
    assert!(trunc.iter().any(|f| f.config == "ctx512"));
    assert!(trunc.iter().all(|f| f.config != "baseline"));
    assert!(!a.flagged.iter().any(|f| matches!(
        f.flag,
        CallFlag::UnexpectedLoad { .. } | CallFlag::MissingLoad { .. }
    )));

    // The report is computed from the records and says all this.
    let paths =
        agentbench::report::write_sweep_report(dir.path(), &file.header, Some(&spec), &a).unwrap();
    let md = std::fs::read_to_string(paths.markdown).unwrap();
    assert!(md.contains("**1 of 2** configurations: ctx1024"), "{md}");
    assert!(md.contains("### Truncated prompts"));
    let html = std::fs::read_to_string(paths.html).unwrap();
    assert!(html.contains("<table>"));
    // The shared page shell, and a figure per metric.
    assert!(html.contains("<h1>Sweep report: "), "{html:.400}");
    for id in [
        "plot-decode-tps",
        "plot-ttft",
        "plot-e2e",
        "plot-client-overhead",
    ] {
        assert!(html.contains(&format!("<figure id=\"{id}\">")), "{id}");
    }
    assert!(html.contains("<strong>1 of 2</strong> configurations: ctx1024"));
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_and_warm_start_states_are_prepared_and_verified() {
    let stub = stub().await;
    let client = LlmClient::new(stub.url(), Timeouts::default()).unwrap();
    let settings = RequestSettings::default();
    client
        .prepare("gemma3", StartState::Warm, &settings)
        .await
        .unwrap();
    assert!(client.is_loaded("gemma3").await.unwrap());
    client
        .prepare("gemma3", StartState::Cold, &settings)
        .await
        .unwrap();
    assert!(!client.is_loaded("gemma3:latest").await.unwrap());

    for (start, warmth) in [
        (StartState::Cold, Warmth::Cold),
        (StartState::Warm, Warmth::Warm),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec(1, 0, start);
        sweep(stub.url(), &spec, dir.path()).await;
        let file = read_records(&dir.path().join("records.jsonl")).unwrap();
        for run in &file.runs {
            assert_eq!(run.start_state, start);
            assert!(!run.expected_reload);
            let l = label_call(run, 0, THRESHOLD);
            assert_eq!(l.warmth, warmth, "{start:?}");
            assert_eq!(l.loaded, Some(warmth == Warmth::Cold));
            assert_eq!(label_call(run, 1, THRESHOLD).warmth, Warmth::Warm);
        }
    }
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_resumes_and_skips_a_torn_last_line() {
    let stub = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(2, 0, StartState::AsIs);
    assert_eq!(sweep(stub.url(), &spec, dir.path()).await.executed, 6);
    // Interrupt: drop the last two runs and leave half a line behind.
    let path = dir.path().join("records.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = lines[..lines.len() - 2].join("\n");
    let torn = &lines[lines.len() - 2][..40];
    std::fs::write(&path, format!("{kept}\n{torn}")).unwrap();

    let out = sweep(stub.url(), &spec, dir.path()).await;
    assert_eq!((out.executed, out.already_done), (2, 4));
    assert_eq!(out.torn_bytes, 40);
    // The same policy as `run --resume`: the file as found is kept beside it.
    let found = format!("{kept}\n{torn}");
    assert_eq!(
        std::fs::read(dir.path().join("records.jsonl.torn-1")).unwrap(),
        found.as_bytes()
    );
    let file = read_records(&path).unwrap();
    assert!(file.skipped.is_empty(), "{:?}", file.skipped);
    let mut pairs: Vec<_> = file
        .runs
        .iter()
        .map(|r| (r.config.clone().unwrap(), r.round.unwrap()))
        .collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 6);
    assert_eq!(file.runs.len(), 6);

    // A different sweep in the same folder is refused.
    let client = LlmClient::new(stub.url(), Timeouts::default()).unwrap();
    let other = SweepSpec {
        seed: 8,
        ..spec.clone()
    };
    let err = run_sweep(
        &client,
        "gemma3",
        Endpoint::Generate,
        &corpus(),
        &other,
        &common::header(stub.url()),
        &SweepPaths::in_dir(dir.path()),
        false,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("different sweep"), "{err}");
    stub.shutdown().await;
}
