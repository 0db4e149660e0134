//! `agentbench sweep`: the options study, interleaved, resumable, with its report.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use crate::client::{resolve_base_url, LlmClient, Protocol, RequestSettings, Timeouts};
use crate::ingest::{ingest, IngestOptions};
use crate::record::{read_records, Backend, CorpusInfo, Header, StartState};
use crate::report::{write_sweep_report, SweepReportPaths};
use crate::stub::{default_addr, serve, RunningStub, StubProfile};
use crate::sweep::{
    analyze, matrix, matrix_from_file, run_sweep, AnalysisOpts, Axes, SweepOutcome, SweepPaths,
    SweepSpec,
};

/// `agentbench sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Measured runs per configuration.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Warm-up rounds (every configuration once each) recorded but kept out of the statistics.
    #[arg(long, default_value_t = 0)]
    pub warmup: u32,
    /// Seed of the interleaved order (recorded).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// num_gpu values (comma-separated). With no axis and no --matrix: the seed
    /// study's 60,80,120 × 256,512,1024 × 0.6,0.8.
    #[arg(long, value_delimiter = ',')]
    pub num_gpu: Vec<i64>,
    /// num_ctx values (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub num_ctx: Vec<u64>,
    /// temperature values (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub temperature: Vec<f64>,
    /// A JSON matrix file: {"num_gpu": [..], "num_ctx": [..], "temperature": [..]} or
    /// {"configs": [{"id": "...", "options": {...}}]}; a baseline is added.
    #[arg(long, conflicts_with_all = ["num_gpu", "num_ctx", "temperature"])]
    pub matrix: Option<PathBuf>,
    /// Model state before each run: as-is, cold (unload, verify) or warm (load, verify).
    #[arg(long, default_value = "as-is")]
    pub start_state: StartState,
    /// Fixed num_predict for every call (comparable output lengths).
    #[arg(long, default_value_t = 256)]
    pub num_predict: i64,
    /// Fixed sampling seed for every call.
    #[arg(long, default_value_t = 42)]
    pub model_seed: i64,
    /// Send neither num_predict nor a sampling seed (outputs then vary in length).
    #[arg(long)]
    pub no_fixed_output: bool,
    /// Further common option key=value (like `run --option`); repeatable.
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// load_duration (ms) above which a call counts as having loaded the model.
    #[arg(long, default_value_t = 100.0)]
    pub cold_threshold_ms: f64,
    /// Server, protocol, model and endpoint.
    #[command(flatten)]
    pub server: super::ServerArgs,
    /// Run against the embedded stub: `paced` or `sweep` serve the emulating `sweep`
    /// profile (TTFT grows with num_ctx, decode slows when num_gpu leaves layers on the
    /// CPU, reloads on num_ctx/num_gpu changes, prompts capped at num_ctx).
    #[arg(long, value_name = "PROFILE")]
    pub stub: Option<String>,
    /// Corpus root to ingest.
    #[arg(long, default_value = "mock-data")]
    pub corpus: PathBuf,
    /// Output folder; running again with the same folder resumes the sweep.
    #[arg(long, default_value = "reports/sweep")]
    pub out: PathBuf,
    /// Seconds to wait for headers or the next chunk before a call times out.
    #[arg(long, default_value_t = 300.0)]
    pub idle_timeout: f64,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// What a sweep wrote.
#[derive(Debug)]
pub struct SweepCliOutcome {
    /// The runner's account.
    pub outcome: SweepOutcome,
    /// Paths of records and plan.
    pub paths: SweepPaths,
    /// The report.
    pub report: SweepReportPaths,
    /// Wall time of the sweep (runs only).
    pub wall: Duration,
    /// Warning counts: (title, count).
    pub warnings: Vec<(String, usize)>,
}

fn spec_from(args: &SweepArgs) -> Result<SweepSpec> {
    let configs = match &args.matrix {
        Some(p) => matrix_from_file(p)?,
        None if args.num_gpu.is_empty()
            && args.num_ctx.is_empty()
            && args.temperature.is_empty() =>
        {
            matrix(&Axes {
                num_gpu: vec![60, 80, 120],
                num_ctx: vec![256, 512, 1024],
                temperature: vec![0.6, 0.8],
            })?
        }
        None => matrix(&Axes {
            num_gpu: args.num_gpu.clone(),
            num_ctx: args.num_ctx.clone(),
            temperature: args.temperature.clone(),
        })?,
    };
    let mut common = RequestSettings::default();
    if !args.no_fixed_output {
        common.options.num_predict = Some(args.num_predict);
        common.options.seed = Some(args.model_seed);
    }
    for pair in &args.options {
        common.set(pair).context("bad --option")?;
    }
    let protocol = args.server.protocol;
    if protocol == Protocol::OpenAi {
        common.check_protocol(protocol).context("bad --option")?;
        for c in &configs {
            let merged = RequestSettings {
                options: c.options.clone(),
                keep_alive: None,
            };
            merged.check_protocol(protocol).with_context(|| {
                format!(
                    "configuration {} cannot be swept with --protocol openai (sweep only --temperature, or a --matrix of per-request options)",
                    c.id
                )
            })?;
        }
        anyhow::ensure!(
            args.start_state == StartState::AsIs,
            "--start-state {} needs Ollama's /api/ps and load requests: use --protocol ollama, or --start-state as-is",
            args.start_state.name()
        );
    }
    anyhow::ensure!(
        args.cold_threshold_ms.is_finite() && args.cold_threshold_ms >= 0.0,
        "--cold-threshold-ms must be a non-negative number"
    );
    Ok(SweepSpec {
        configs,
        runs: args.runs,
        warmup: args.warmup,
        seed: args.seed,
        start_state: args.start_state,
        cold_threshold_ms: args.cold_threshold_ms,
        common,
    })
}

/// The stub profile a sweep serves for `--stub NAME`: `paced` means the emulating one.
pub fn sweep_stub_profile(name: &str) -> &str {
    if name == "paced" {
        "sweep"
    } else {
        name
    }
}

async fn target(args: &SweepArgs, timeouts: Timeouts) -> Result<(String, Option<RunningStub>)> {
    let start = |profile: &str| {
        let profile = profile.to_string();
        let model = args.server.model.clone();
        async move {
            let kind = crate::stub::kind_for(&profile);
            let p = StubProfile::named(&profile)?.with_models([model.as_str()]);
            let stub = serve(default_addr(0), p, kind)
                .await
                .context("cannot start the embedded stub")?;
            anyhow::Ok((stub.url().to_string(), Some(stub)))
        }
    };
    if let Some(p) = &args.stub {
        return start(sweep_stub_profile(p)).await;
    }
    let host = std::env::var("OLLAMA_HOST").ok();
    let base_url = args.server.base_url.as_deref();
    let url = resolve_base_url(base_url, host.as_deref())?;
    match LlmClient::new(&url, timeouts)?
        .with_protocol(args.server.protocol)
        .probe(Duration::from_secs(2))
        .await
    {
        Ok(_) => Ok((url, None)),
        Err(e) if base_url.is_some() || host.is_some() => {
            Err(anyhow::Error::new(e)
                .context("the named server does not answer (or use --stub paced)"))
        }
        Err(e) => {
            eprintln!("agentbench: {e}; sweeping the embedded emulating stub (profile sweep): the numbers describe an emulation, not a model");
            start("sweep").await
        }
    }
}

/// Runs (or resumes) the sweep, then writes its report from the record file.
pub async fn sweep(args: &SweepArgs) -> Result<SweepCliOutcome> {
    let spec = spec_from(args)?;
    let timeouts = Timeouts {
        idle: Duration::try_from_secs_f64(args.idle_timeout)
            .context("--idle-timeout must be a positive number of seconds")?,
        ..Timeouts::default()
    };
    let corpus = ingest(&args.corpus, &IngestOptions::default())
        .with_context(|| format!("cannot ingest the corpus at {}", args.corpus.display()))?;
    let (url, stub) = target(args, timeouts).await?;
    let protocol = args.server.protocol;
    let client = LlmClient::new(&url, timeouts)?.with_protocol(protocol);
    let model = &args.server.model;
    let server = client.server_info(model).await?;
    let endpoint = args.server.endpoint();
    let backend = Backend {
        url: url.clone(),
        protocol: protocol.name().into(),
        endpoint,
        stub: stub.as_ref().map(|s| s.profile().name.clone()),
    };
    let corpus_info = CorpusInfo {
        root: args.corpus.display().to_string(),
        stats: corpus.stats(),
    };
    let header = Header::new(backend, server, model, &spec.common, corpus_info);
    let paths = SweepPaths::in_dir(&args.out);
    let started = Instant::now();
    let outcome = run_sweep(
        &client,
        model,
        endpoint,
        &args.corpus,
        &spec,
        &header,
        &paths,
        !args.quiet,
    )
    .await?;
    let wall = started.elapsed();
    if let Some(stub) = stub {
        stub.shutdown().await;
    }
    let file = read_records(&paths.records)?;
    let opts = AnalysisOpts {
        cold_threshold: Duration::from_secs_f64(spec.cold_threshold_ms / 1e3),
        ..AnalysisOpts::default()
    };
    let analysis = analyze(&file, Some(&spec), opts);
    let report = write_sweep_report(&args.out, &file.header, Some(&spec), &analysis)?;
    let count = |p: fn(&crate::sweep::study::CallFlag) -> bool| {
        analysis.flagged.iter().filter(|c| p(&c.flag)).count()
    };
    use crate::sweep::study::CallFlag as F;
    let warnings = vec![
        (
            "cold calls".to_string(),
            analysis.cold_calls.values().map(|v| v.0).sum(),
        ),
        ("truncated prompts".into(), count(|f| f.is_truncation())),
        (
            "done_reason length".into(),
            count(|f| matches!(f, F::LengthLimit { .. })),
        ),
        ("failed calls".into(), count(|f| matches!(f, F::Failed(..)))),
        (
            "load classification disagreements".into(),
            count(|f| matches!(f, F::UnexpectedLoad { .. } | F::MissingLoad { .. })),
        ),
        ("other notes".into(), analysis.notes.len()),
    ];
    Ok(SweepCliOutcome {
        outcome,
        paths,
        report,
        wall,
        warnings,
    })
}
