//! `agentbench load`: flags → a [`LoadSpec`], then [`run_load`], then the console
//! summary and the exit code. No loops here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::run::{choose_target, out_dir_under};
use super::ServerArgs;
use crate::client::{LlmClient, RequestSettings, Timeouts};
use crate::load::schedule::schedule_hash;
use crate::load::session_engine::SessionMode;
use crate::load::shard::{parse_start_at, shard_from, share, ShardSpec};
use crate::load::slo::parse_duration_ns;
use crate::load::think::Think;
use crate::load::{
    run_load, Arrival, Extent, LoadPlanInfo, LoadSpec, Mode, OpenSchedule, PromptInfo, SessionPlan,
    ShardInfo, Slo, EXIT_CLIENT_LIMITED,
};
use crate::record::Backend;

/// What every load-type command (`load`, `capacity`) sends, and where.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Server, protocol, model and endpoint.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Run against an embedded stub: instant, paced, realistic, replay, fast,
    /// capacity:…, fault:NAME (see `agentbench stub --help`).
    #[arg(long, value_name = "PROFILE")]
    pub stub: Option<String>,
    /// Generation option key=value (as for `run`); repeatable. num_predict and
    /// seed default to --output-tokens and 42.
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Corpus root for the workflow's prompts.
    #[arg(long, default_value = "mock-data")]
    pub corpus: PathBuf,
    /// Synthetic prompts of about this many tokens instead of the workflow's own
    /// analysis and report prompts.
    #[arg(long, value_name = "N")]
    pub prompt_tokens: Option<u32>,
    /// Output tokens per request (sent as num_predict / max_tokens unless
    /// `-o num_predict=…` says otherwise), so outputs are comparable.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub output_tokens: u32,
    /// A run whose scheduler lag p99 exceeds this is client-limited (exit 5).
    #[arg(long, value_name = "DURATION", default_value = "1ms")]
    pub max_lag: String,
    /// Seconds to wait for headers or for the next chunk before a request times out.
    #[arg(long, default_value_t = 60.0)]
    pub idle_timeout: f64,
    /// Overall seconds allowed per request.
    #[arg(long)]
    pub timeout: Option<f64>,
}

/// `agentbench load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Closed loop: N workers, each sending its next request when its previous one
    /// ended (plus --think). The default mode, with N = 1.
    #[arg(long, value_name = "N", conflicts_with = "rate")]
    pub concurrency: Option<u32>,
    /// Tool time. Requests workload (closed loop, needs --concurrency): the pause
    /// between a worker's requests, a bare number of milliseconds (as before) or a
    /// duration (200ms, 1.5s). Agent workload: the tool time before each turn after
    /// the first: fixed (200ms, 1.5s; a bare number is ms), exp:MEAN (exponential,
    /// e.g. exp:200ms) or uniform:LO..HI (e.g. uniform:100ms..300ms), drawn from
    /// --seed per (session, turn).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub think: Option<String>,
    /// What a unit of load is: `requests` (independent requests, the default) or
    /// `agent` (sessions of turns with tool time between them; see --session).
    #[arg(long, value_name = "KIND", default_value = "requests")]
    pub workload: String,
    /// Agent workload: `chat` (--turns turns on the chat endpoint, each sending the
    /// whole conversation so far; the default) or `workflow` (the agent workflow's
    /// analysis call, then its report call built from the analysis answer).
    #[arg(long, value_name = "KIND")]
    pub session: Option<String>,
    /// Agent workload, chat sessions: turns per session (default 3).
    #[arg(long, value_name = "K")]
    pub turns: Option<u32>,
    /// Agent workload, closed loop: N session slots; a slot runs sessions back to
    /// back and holds its slot during tool time (the default, with N = 1).
    #[arg(long, value_name = "N")]
    pub sessions: Option<u32>,
    /// Agent workload, open loop: sessions arrive at R per second on the seeded
    /// schedule of --arrival (--max-concurrency caps sessions in flight).
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    pub session_rate: Option<f64>,
    /// Agent workload: sessions to start in all (with --duration, whichever ends
    /// first in a closed loop).
    #[arg(long, value_name = "N")]
    pub jobs: Option<u64>,
    /// Agent workload: replay this trace (a Mooncake request trace or an agentic
    /// session trace; see docs/traces.md): its sessions, turns, prompt lengths,
    /// shared prefixes and think times. Sessions arrive at the trace's times
    /// (scaled by --time-scale) unless --sessions N replays them back to back on N
    /// slots.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Trace replay: multiply the trace's times (arrivals and think times) by X
    /// (2: half as fast; 0.5: twice as fast).
    #[arg(
        long,
        value_name = "X",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub time_scale: f64,
    /// Trace replay: skip malformed trace lines (counted, the first listed) instead
    /// of refusing the trace.
    #[arg(long)]
    pub skip_bad: bool,
    /// Trace replay: prompt tokens per `hash_ids` block (default: the file's, else
    /// 512).
    #[arg(long, value_name = "N")]
    pub block_tokens: Option<u32>,
    /// Open loop: target requests per second. The whole schedule of intended sends
    /// is computed up front from --seed; a late request is still sent, and its
    /// lateness kept.
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Open loop (--rate or --session-rate): inter-arrival gaps: constant,
    /// poisson (the default), or gamma:CV.
    #[arg(long, value_name = "PROCESS")]
    pub arrival: Option<String>,
    /// Open loop: at most N requests (agent workload: sessions) in flight; the wait
    /// for a slot is part of the latency (measured from the intended send).
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<u32>,
    /// Run length in seconds (default 10 when --requests is not given).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Number of requests to send.
    #[arg(long, value_name = "K")]
    pub requests: Option<u64>,
    /// Requests intended in the first S seconds are recorded but excluded from
    /// every statistic.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub warmup: f64,
    /// Seed of the schedule (and of the synthetic prompt).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Goodput's SLO: metric=duration pairs, e.g. ttft=500ms,tpot=50ms,e2e=10s
    /// (TTFT and E2E from the intended send).
    #[arg(long, value_name = "SLO")]
    pub slo: Option<String>,
    /// Server, stub, prompts, options and limits (shared with `capacity`).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output folder (default: reports/load/<UTC time>-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress line and no summary table.
    #[arg(long)]
    pub quiet: bool,
    /// Run one shard of a sharded run: I/N (0-based), or without a value (auto)
    /// from the scheduler: Slurm's SLURM_PROCID/SLURM_NTASKS, or a Kubernetes
    /// Indexed Job's JOB_COMPLETION_INDEX with --shards N. Every shard computes
    /// the same global schedule from --seed and keeps its share: open loop, arrival
    /// k goes to shard k mod N (and keeps k as its seq); closed loop, shard I runs
    /// the workers w of --concurrency with w mod N == I. Agent sessions (--workload
    /// agent) shard as whole sessions by session id: open loop (--session-rate or a
    /// --trace), session k goes to shard k mod N with its global id and intended
    /// start; closed loop, shard I runs the slots w of --sessions with w mod N == I
    /// and its sessions take the ids j·N + I (--jobs bounds the whole run); think
    /// times are drawn per (session id, turn), as unsharded. Merge the shards'
    /// folders with `agentbench merge-runs`.
    #[arg(long, value_name = "I/N", num_args = 0..=1, default_missing_value = "auto")]
    pub shard: Option<String>,
    /// Shards in the run, for a Kubernetes Indexed Job (its completions); I is
    /// JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// The shared start of a sharded run: every shard sets its origin at this
    /// wall-clock instant. An RFC 3339 UTC time (2026-12-03T02:00:00Z),
    /// @UNIX_SECONDS, or +S: the next whole multiple of S seconds of Unix time at
    /// least S seconds away (processes started within one S-second window agree;
    /// for certainty compute one absolute time in the caller, e.g.
    /// `date -u -d +10sec +%Y-%m-%dT%H:%M:%SZ`). Implies sharding (0/1 outside a
    /// scheduler).
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// `v` when it is a finite positive number (`flag` names it in the error).
pub(super) fn positive(flag: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        bail!("{flag} must be a positive number, got {v}")
    }
}

/// The flags every load plan reads the same way: `--warmup` in ns (0 when not
/// given; refused unless shorter than `duration_ns`), `--max-lag` in ns and `--slo`.
pub(super) fn plan_flags(
    args: &LoadArgs,
    duration_ns: Option<u64>,
) -> Result<(u64, u64, Option<Slo>)> {
    let warmup_ns = if args.warmup == 0.0 {
        0
    } else {
        seconds_ns("--warmup", args.warmup)?
    };
    if duration_ns.is_some_and(|d| warmup_ns >= d) {
        bail!(
            "--warmup ({} s) must be shorter than --duration",
            args.warmup
        );
    }
    let max_lag_ns =
        parse_duration_ns(&args.target.max_lag).map_err(|e| anyhow::anyhow!("--max-lag: {e}"))?;
    let slo = match &args.slo {
        Some(s) => Some(
            s.parse::<Slo>()
                .map_err(|e| anyhow::anyhow!("--slo: {e}"))?,
        ),
        None => None,
    };
    Ok((warmup_ns, max_lag_ns, slo))
}

/// A positive number of seconds as ns (`flag` names it in the error).
pub(super) fn seconds_ns(flag: &str, v: f64) -> Result<u64> {
    Ok((positive(flag, v)? * 1e9).round() as u64)
}

/// `--arrival`, or its default `poisson`.
pub(super) fn arrival_of(args: &LoadArgs) -> &str {
    args.arrival.as_deref().unwrap_or("poisson")
}

/// `--think`, parsed (none: no tool time).
fn think_of(args: &LoadArgs) -> Result<Think> {
    match &args.think {
        Some(t) => t.parse().map_err(|e| anyhow::anyhow!("--think {t:?}: {e}")),
        None => Ok(Think::default()),
    }
}

/// What `--workload` asks for: `false` requests, `true` agent sessions.
fn is_agent(args: &LoadArgs) -> Result<bool> {
    match args.workload.as_str() {
        "requests" => {
            for (set, flag) in [
                (args.session.is_some(), "--session"),
                (args.turns.is_some(), "--turns"),
                (args.sessions.is_some(), "--sessions"),
                (args.session_rate.is_some(), "--session-rate"),
                (args.jobs.is_some(), "--jobs"),
                (args.trace.is_some(), "--trace"),
                (args.skip_bad, "--skip-bad"),
                (args.block_tokens.is_some(), "--block-tokens"),
                (args.time_scale != 1.0, "--time-scale"),
            ] {
                if set {
                    bail!("{flag} needs --workload agent");
                }
            }
            Ok(false)
        }
        "agent" => Ok(true),
        other => bail!("--workload {other:?} is unknown; valid: requests, agent"),
    }
}

/// The plan the flags describe, checked: (mode, recorded plan).
fn plan_of(args: &LoadArgs) -> Result<(Mode, LoadPlanInfo)> {
    if is_agent(args)? {
        return super::load_agent::agent_plan_of(args);
    }
    if args.concurrency == Some(0) {
        bail!("--concurrency must be at least 1");
    }
    if args.max_concurrency == Some(0) {
        bail!("--max-concurrency must be at least 1");
    }
    if args.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    let duration_ns = match (args.duration, args.requests) {
        (Some(d), _) => Some(seconds_ns("--duration", d)?),
        (None, Some(_)) => None,
        (None, None) => Some(10_000_000_000),
    };
    let (warmup_ns, max_lag_ns, slo) = plan_flags(args, duration_ns)?;
    if args.concurrency.is_none() && args.think.is_some() {
        bail!("--think needs --concurrency N (the closed loop of requests) or --workload agent");
    }
    if args.rate.is_none() && args.arrival.is_some() {
        bail!("--arrival needs --rate R (or --workload agent --session-rate R)");
    }
    if args.rate.is_none() && args.max_concurrency.is_some() {
        bail!("--max-concurrency needs --rate R (or --workload agent --session-rate R)");
    }
    let think_ns = match think_of(args)? {
        Think::Fixed(ns) => ns,
        _ => bail!("--think: the requests workload takes a fixed duration (200ms); distributions are for --workload agent"),
    };
    let mut info = LoadPlanInfo {
        mode: String::new(),
        concurrency: None,
        think_ns,
        rate: None,
        arrival: None,
        max_concurrency: args.max_concurrency,
        seed: args.seed,
        requests: args.requests,
        duration_ns,
        warmup_ns,
        warmup_first: 0,
        schedule: None,
        slo: slo.map(|s| s.to_string()),
        max_lag_ns,
        shard: None,
        shards: Vec::new(),
        agent: None,
    };
    let mode = match args.rate {
        Some(rate) => {
            let rate = positive("--rate", rate)?;
            let arrival: Arrival = arrival_of(args)
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--arrival: {e}"))?;
            let extent = match (args.requests, duration_ns) {
                (Some(_), Some(_)) => {
                    bail!("an open loop takes --duration S or --requests K, not both")
                }
                (Some(k), None) => Extent::Requests(k),
                (None, Some(d)) => Extent::DurationNs(d),
                (None, None) => bail!("give --duration S or --requests K"),
            };
            let schedule = OpenSchedule {
                rate,
                arrival,
                seed: args.seed,
                extent,
            };
            let intended = schedule.intended();
            if intended.is_empty() {
                bail!("--rate {rate} with --duration gives no request: raise the rate or the duration");
            }
            info.mode = "open".into();
            info.rate = Some(rate);
            info.arrival = Some(arrival.to_string());
            info.schedule = Some(crate::load::record::ScheduleInfo {
                count: intended.len() as u64,
                sha256: schedule_hash(&intended),
            });
            Mode::Open {
                intended: Arc::new(intended),
                max_concurrency: args.max_concurrency,
                seqs: None,
            }
        }
        None => {
            let concurrency = args.concurrency.unwrap_or(1);
            info.mode = "closed".into();
            info.concurrency = Some(concurrency);
            Mode::Closed {
                concurrency,
                think_ns,
                requests: args.requests,
                duration_ns: info.duration_ns,
                shard: None,
            }
        }
    };
    Ok((mode, info))
}

/// Applies `--shard`/`--shards`/`--start-at` to the plan: this shard's share of
/// the schedule (or of the workers) and the shared start, recorded in the plan.
fn shard_plan(args: &LoadArgs, mode: Mode, plan: &mut LoadPlanInfo) -> Result<Mode> {
    let spec = shard_from(
        args.shard.as_deref(),
        args.shards,
        args.start_at.is_some(),
        |k| std::env::var(k).ok(),
    )
    .map_err(|e| anyhow::anyhow!("--shard: {e}"))?;
    let Some(spec) = spec else {
        return Ok(mode);
    };
    let start_unix_ns = match &args.start_at {
        Some(s) => parse_start_at(s, crate::clock::unix_ns_now()).map_err(anyhow::Error::msg)?,
        None => bail!(
            "a sharded run needs --start-at TIME, the same for every shard, so that their clocks share one origin"
        ),
    };
    plan.shard = Some(ShardInfo {
        index: spec.index,
        count: spec.count,
        source: spec.source.to_string(),
        host: crate::provenance::Host::facts().hostname.clone(),
        start_unix_ns,
        offset_ns: 0,
    });
    Ok(match mode {
        Mode::Sessions(mut sessions) => {
            shard_sessions(&mut sessions, spec)?;
            Mode::Sessions(sessions)
        }
        Mode::Open {
            intended,
            max_concurrency,
            ..
        } => {
            let (mine, seqs) = share(&intended, spec.index, spec.count);
            if mine.is_empty() {
                return Err(no_share(spec, "request", intended.len() as u64));
            }
            Mode::Open {
                intended: Arc::new(mine),
                max_concurrency,
                seqs: Some(Arc::new(seqs)),
            }
        }
        Mode::Closed {
            concurrency,
            think_ns,
            requests,
            duration_ns,
            ..
        } => {
            if concurrency < spec.count {
                bail!(
                    "--concurrency {concurrency} is below the shard count {}: every shard needs at least one worker",
                    spec.count
                );
            }
            Mode::Closed {
                concurrency,
                think_ns,
                requests,
                duration_ns,
                shard: Some((spec.index, spec.count)),
            }
        }
    })
}

/// A shard whose share of a `total`-`what` global plan is empty: refused.
fn no_share(spec: ShardSpec, what: &str, total: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "--shard {}/{}: this shard gets no {what} of the {total}-{what} plan (shard I gets every N-th, starting at the I-th): use fewer shards",
        spec.index,
        spec.count
    )
}

/// Shards an agent workload as whole sessions by session id (see
/// [`crate::load::session_engine::SessionConfig::shard`]): refused when this shard
/// would get no session (open loop: fewer arrivals than shards; closed loop: fewer
/// `--sessions` slots than shards, or `--jobs` below the index).
fn shard_sessions(plan: &mut SessionPlan, spec: ShardSpec) -> Result<()> {
    let index = u64::from(spec.index);
    match &plan.mode {
        SessionMode::Open { arrivals, .. } => {
            if arrivals.len() as u64 <= index {
                return Err(no_share(spec, "session", arrivals.len() as u64));
            }
        }
        SessionMode::Closed { slots, jobs, .. } => {
            if *slots < spec.count {
                bail!(
                    "--sessions {slots} is below the shard count {}: every shard needs at least one session slot (give --sessions N ≥ {})",
                    spec.count,
                    spec.count
                );
            }
            if let Some(j) = jobs.filter(|j| *j <= index) {
                return Err(no_share(spec, "session", j));
            }
        }
    }
    plan.shard = Some((spec.index, spec.count));
    Ok(())
}

/// The prompts: the workflow's analysis and report prompts from the corpus, or
/// one synthetic prompt of about N tokens.
fn prompts_of(
    prompt_tokens: Option<u32>,
    seed: u64,
    corpus_root: &std::path::Path,
) -> Result<Vec<(String, String)>> {
    if let Some(n) = prompt_tokens {
        if n == 0 {
            bail!("--prompt-tokens must be at least 1");
        }
        return Ok(vec![("synthetic".into(), synthetic_prompt(n, seed))]);
    }
    let context = || format!("cannot ingest the corpus at {}", corpus_root.display());
    let corpus = crate::ingest::ingest(corpus_root, &crate::ingest::IngestOptions::default())
        .with_context(context)?;
    let summary = crate::ingest::summarize(&corpus);
    let analysis = crate::prompt::analysis_prompt(&summary);
    // Requests are independent under load: the report prompt is built from an
    // empty analysis (its static text and the data summary), not from a reply.
    let report = crate::prompt::report_prompt(&crate::prompt::parse_analysis(""), &summary);
    Ok(vec![
        ("analysis".into(), analysis),
        ("report".into(), report),
    ])
}

/// About `tokens` tokens of plain words (one short word ≈ one token), seeded.
pub fn synthetic_prompt(tokens: u32, seed: u64) -> String {
    const WORDS: [&str; 16] = [
        "load", "test", "agent", "token", "model", "cache", "queue", "slot", "bench", "trace",
        "prompt", "reply", "server", "client", "stream", "chunk",
    ];
    let mut rng = crate::rng::SplitMix64::new(seed);
    let mut out = String::with_capacity(tokens as usize * 7);
    for i in 0..tokens {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[(rng.next_u64() % WORDS.len() as u64) as usize]);
    }
    out
}

pub(super) fn settings_of(
    options: &[String],
    output_tokens: u32,
    protocol: crate::client::Protocol,
) -> Result<RequestSettings> {
    let mut settings = RequestSettings::from_pairs(options).context("bad --option")?;
    if settings.options.num_predict.is_none() {
        settings.options.num_predict = Some(i64::from(output_tokens));
    }
    if settings.options.seed.is_none() {
        settings.options.seed = Some(42);
    }
    settings.check_protocol(protocol).context("bad --option")?;
    Ok(settings)
}

/// The backend of a load-type command: started (or probed), its self-description,
/// and the prompts rendered for it.
pub(super) struct Prepared {
    pub(super) settings: RequestSettings,
    pub(super) timeouts: Timeouts,
    pub(super) target: super::run::Target,
    pub(super) server: crate::client::ServerInfo,
    pub(super) prompts: Vec<(PromptInfo, crate::client::PreparedCall)>,
    pub(super) backend: Backend,
}

impl TargetArgs {
    /// Checks the options and limits, makes the prompts (seeded by `seed`), then
    /// starts or probes the backend on `runtime`, asks it about the model, and
    /// renders the prompts for it. Options are checked before any server is
    /// contacted.
    pub(super) fn prepare(&self, seed: u64, runtime: &tokio::runtime::Runtime) -> Result<Prepared> {
        let settings = settings_of(&self.options, self.output_tokens, self.server.protocol)?;
        let timeouts = timeouts_of(self.idle_timeout, self.timeout)?;
        let prompts = prompts_of(self.prompt_tokens, seed, &self.corpus)?;
        prepare_backend(
            runtime,
            &self.server,
            self.stub.as_deref(),
            timeouts,
            &prompts,
            settings,
        )
    }
}

/// Starts or probes the backend on `runtime`, asks it about `model`, and renders
/// the prompts for it.
pub(super) fn prepare_backend(
    runtime: &tokio::runtime::Runtime,
    server: &ServerArgs,
    stub: Option<&str>,
    timeouts: Timeouts,
    prompts: &[(String, String)],
    settings: RequestSettings,
) -> Result<Prepared> {
    let protocol = server.protocol;
    let model = server.model.clone();
    let (target, client, info) = runtime.block_on(async {
        let target = choose_target(server, stub, timeouts).await?;
        let client = LlmClient::new(&target.url, timeouts)?.with_protocol(protocol);
        let info = client.server_info(&model).await?;
        anyhow::Ok((target, client, info))
    })?;
    let endpoint = server.endpoint();
    let prepared = prompts
        .iter()
        .map(|(name, text)| {
            let call = client.prepare_call(&crate::client::CallRequest {
                endpoint,
                model: &model,
                prompt: text,
                settings: &settings,
            });
            let info = PromptInfo {
                name: name.clone(),
                sha256: call.prompt_sha256().to_string(),
                bytes: call.prompt_bytes(),
            };
            (info, call)
        })
        .collect();
    let backend = Backend {
        url: target.url.clone(),
        protocol: protocol.name().into(),
        endpoint,
        stub: target.stub.as_ref().map(|s| s.profile().name.clone()),
    };
    Ok(Prepared {
        settings,
        timeouts,
        target,
        server: info,
        prompts: prepared,
        backend,
    })
}

/// `--idle-timeout` and `--timeout`, checked.
pub(super) fn timeouts_of(idle: f64, total: Option<f64>) -> Result<Timeouts> {
    Ok(Timeouts {
        idle: Duration::from_secs_f64(positive("--idle-timeout", idle)?),
        total: total
            .map(|t| positive("--timeout", t).map(Duration::from_secs_f64))
            .transpose()?,
        ..Timeouts::default()
    })
}

/// Runs `agentbench load` and returns its exit code: 0, 3 when a request failed,
/// 5 when the client could not keep up (takes precedence).
pub fn run_load_cli(args: &LoadArgs) -> Result<ExitCode> {
    let (mode, mut plan) = plan_of(args)?;
    let mut mode = shard_plan(args, mode, &mut plan)?;
    let protocol = args.target.server.protocol;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let model = args.target.server.model.clone();
    let Prepared {
        settings,
        timeouts,
        target,
        server,
        prompts: prepared,
        backend,
    } = match &mode {
        Mode::Sessions(_) => super::load_agent::prepare_agent(args, &mut mode, &runtime)?,
        _ => args.target.prepare(args.seed, &runtime)?,
    };
    // A fresh pool for the engine: the probe's idle connections belong to this
    // thread's runtime, whose reactor does not run while the engine does.
    let client = LlmClient::new(&target.url, timeouts)?.with_protocol(protocol);
    let spec = LoadSpec {
        client,
        prompts: prepared,
        mode,
        plan,
        backend,
        server,
        model: model.clone(),
        settings,
    };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| out_dir_under("reports/load", &model));
    let target_rate = args.rate;
    let quiet = args.quiet;
    if let (Some(s), false) = (&spec.plan.shard, quiet) {
        eprintln!(
            "shard {}/{} ({}) starts in {:.3} s",
            s.index,
            s.count,
            s.source,
            crate::load::shard::until(s.start_unix_ns).as_secs_f64()
        );
    }
    let mut next_line = Duration::from_secs(1);
    let outcome = run_load(spec, &out_dir, |p, elapsed| {
        if quiet || elapsed < next_line {
            return crate::load::Watch::Continue;
        }
        next_line += Duration::from_secs(1);
        let sent = p.sent.load(Ordering::Relaxed);
        let achieved = sent as f64 / elapsed.as_secs_f64().max(1e-9);
        let target = target_rate.map_or_else(String::new, |r| format!("rate {r:.1}/s target · "));
        eprintln!(
            "{target}{achieved:.2}/s sent · in flight {} · done {} · errors {} · lag p99 {:.3} ms",
            p.in_flight.load(Ordering::Relaxed),
            p.done.load(Ordering::Relaxed),
            p.failed.load(Ordering::Relaxed),
            p.lag_p99_ns.load(Ordering::Relaxed) as f64 / 1e6
        );
        crate::load::Watch::Continue
    })?;
    if let Some(stub) = target.stub {
        runtime.block_on(stub.shutdown());
    }
    let s = &outcome.analysis.summary;
    if !quiet {
        print!("{}", crate::load::output::markdown(&outcome.analysis));
    }
    println!("records:    {}", outcome.records.display());
    println!("summary:    {}", outcome.outputs.summary_json.display());
    println!("HTML:       {}", outcome.outputs.index_html.display());
    println!("intervals:  {}", outcome.outputs.interval_log.display());
    Ok(exit_code(s))
}

/// `agentbench merge-runs`.
#[derive(Debug, Args)]
pub struct MergeRunsArgs {
    /// The shards' output folders (or their records.jsonl), one per shard, in any
    /// order.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Folder for the merged records.jsonl, summary and report.
    #[arg(long)]
    pub out: PathBuf,
    /// A shard whose origin was further than this from the shared start is
    /// reported (a warning naming it, in the console, summary and report).
    #[arg(long, value_name = "DURATION", default_value = "5ms")]
    pub max_skew: String,
    /// No summary table.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `agentbench merge-runs`: 0, 3 when a request failed, 5 when a shard (so
/// the run) was client-limited; a refusal is an error (exit 2) naming the folder.
pub fn run_merge_runs_cli(args: &MergeRunsArgs) -> Result<ExitCode> {
    let max_skew_ns =
        parse_duration_ns(&args.max_skew).map_err(|e| anyhow::anyhow!("--max-skew: {e}"))?;
    let outcome = crate::load::merge::merge_runs(
        &args.dirs,
        &args.out,
        &crate::load::merge::MergeOptions { max_skew_ns },
    )?;
    let s = &outcome.analysis.summary;
    if !args.quiet {
        print!("{}", crate::load::output::markdown(&outcome.analysis));
    }
    for w in &outcome.warnings {
        eprintln!("WARNING: {w}");
    }
    println!(
        "merged:     {} shards, {} requests",
        outcome.analysis.header.plan.shards.len(),
        s.requests
    );
    println!("records:    {}", outcome.records.display());
    println!("summary:    {}", outcome.outputs.summary_json.display());
    println!("HTML:       {}", outcome.outputs.index_html.display());
    Ok(exit_code(s))
}

/// The exit code of a load run (or a merged one), said on stderr: 5 when the
/// client could not keep up (takes precedence), 3 when a request failed, else 0.
fn exit_code(s: &crate::load::LoadSummary) -> ExitCode {
    if s.client.client_limited {
        eprintln!(
            "CLIENT-LIMITED: {} — these numbers describe agentbench, not the server",
            s.client.reasons.join("; ")
        );
        return ExitCode::from(EXIT_CLIENT_LIMITED);
    }
    if s.failed > 0 {
        eprintln!(
            "{} of {} measured requests failed (see the records)",
            s.failed, s.measured
        );
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}
