//! `agentbench load --workload agent`: the session flags → a [`Mode::Sessions`]
//! plan and its recorded [`AgentPlanInfo`], and the sessions' prompts.

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::load::{
    plan_flags, prepare_backend, seconds_ns, settings_of, synthetic_prompt, timeouts_of,
};
use super::load::{LoadArgs, Prepared, TargetArgs};
use crate::load::record::{AgentPlanInfo, ScheduleInfo};
use crate::load::schedule::schedule_hash;
use crate::load::session_engine::{SessionMode, Workload, FOLLOW_UP_RULE};
use crate::load::think::Think;
use crate::load::{Arrival, Extent, LoadPlanInfo, Mode, OpenSchedule, SessionPlan};

/// The session kinds `--session` takes.
const SESSION_KINDS: &str = "chat, workflow";

/// `--session`, `--turns` and `--think` checked: (the session kind, turns per
/// session, the tool time). Shared by `load` and `capacity`.
pub(super) fn session_flags(
    session: Option<&str>,
    turns: Option<u32>,
    think: Option<&str>,
) -> Result<(String, u32, Think)> {
    let kind = session.unwrap_or("chat");
    let turns = match (kind, turns) {
        (_, Some(0)) => bail!("--turns must be at least 1"),
        ("chat", t) => t.unwrap_or(3),
        ("workflow", None | Some(2)) => 2,
        ("workflow", Some(t)) => {
            bail!("--turns {t}: a workflow session has 2 turns (analysis, report)")
        }
        (other, _) => bail!("--session {other:?} is unknown; valid: {SESSION_KINDS}"),
    };
    let think: Think = match think {
        Some(t) => t
            .parse()
            .map_err(|e| anyhow::anyhow!("--think {t:?}: {e}"))?,
        None => Think::default(),
    };
    Ok((kind.to_string(), turns, think))
}

/// Checks the agent flags and returns the plan (its workload a placeholder until
/// [`prepare_agent`] makes the prompts) and the header's plan.
pub(super) fn agent_plan_of(args: &LoadArgs) -> Result<(Mode, LoadPlanInfo)> {
    for (set, flag, instead) in [
        (args.concurrency.is_some(), "--concurrency", "--sessions"),
        (args.rate.is_some(), "--rate", "--session-rate"),
        (args.requests.is_some(), "--requests", "--jobs"),
    ] {
        if set {
            bail!("{flag} is for --workload requests; sessions take {instead}");
        }
    }
    if let Some(path) = &args.trace {
        return super::load_trace::trace_plan_of(args, path);
    }
    for (set, flag) in [
        (args.skip_bad, "--skip-bad"),
        (args.block_tokens.is_some(), "--block-tokens"),
        (args.time_scale != 1.0, "--time-scale"),
    ] {
        if set {
            bail!("{flag} is for trace replay: give --trace FILE");
        }
    }
    let (kind, turns, think) =
        session_flags(args.session.as_deref(), args.turns, args.think.as_deref())?;
    let kind = kind.as_str();
    if args.sessions == Some(0) {
        bail!("--sessions must be at least 1");
    }
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    if args.max_concurrency == Some(0) {
        bail!("--max-concurrency must be at least 1");
    }
    if args.sessions.is_some() && args.session_rate.is_some() {
        bail!("--sessions (closed loop) and --session-rate (open loop) exclude each other");
    }
    if args.session_rate.is_none() && args.max_concurrency.is_some() {
        bail!("--max-concurrency needs --session-rate R");
    }
    if args.session_rate.is_none() && args.arrival.is_some() {
        bail!("--arrival needs --session-rate R");
    }
    let duration_ns = match (args.duration, args.jobs) {
        (Some(d), _) => Some(seconds_ns("--duration", d)?),
        (None, Some(_)) => None,
        (None, None) => Some(10_000_000_000),
    };
    let mut info = agent_info(
        args,
        duration_ns,
        AgentPlanInfo {
            workload: "agent".into(),
            session: kind.into(),
            turns,
            think: think.to_string(),
            sessions: None,
            session_rate: None,
            jobs: args.jobs,
            follow_up: (kind == "chat").then(|| FOLLOW_UP_RULE.to_string()),
            trace: None,
        },
    )?;
    let mode = match args.session_rate {
        Some(rate) => {
            let rate = super::load::positive("--session-rate", rate)?;
            let arrival: Arrival = super::load::arrival_of(args)
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--arrival: {e}"))?;
            let extent = match (args.jobs, duration_ns) {
                (Some(_), Some(_)) => {
                    bail!("an open loop of sessions takes --duration S or --jobs N, not both")
                }
                (Some(k), None) => Extent::Requests(k),
                (None, Some(d)) => Extent::DurationNs(d),
                (None, None) => bail!("give --duration S or --jobs N"),
            };
            let arrivals = OpenSchedule {
                rate,
                arrival,
                seed: args.seed,
                extent,
            }
            .intended();
            if arrivals.is_empty() {
                bail!("--session-rate {rate} with --duration gives no session: raise the rate or the duration");
            }
            info.mode = "open".into();
            info.arrival = Some(arrival.to_string());
            info.schedule = Some(ScheduleInfo {
                count: arrivals.len() as u64,
                sha256: schedule_hash(&arrivals),
            });
            if let Some(a) = info.agent.as_mut() {
                a.session_rate = Some(rate);
            }
            SessionMode::Open {
                arrivals: Arc::new(arrivals),
                max_concurrency: args.max_concurrency,
            }
        }
        None => {
            let slots = args.sessions.unwrap_or(1);
            if let Some(a) = info.agent.as_mut() {
                a.sessions = Some(slots);
            }
            SessionMode::Closed {
                slots,
                duration_ns,
                jobs: args.jobs,
            }
        }
    };
    let plan = SessionPlan {
        workload: Workload::Chat {
            turns,
            first: Arc::from(""),
        },
        think,
        seed: args.seed,
        mode,
        shard: None,
    };
    Ok((Mode::Sessions(Box::new(plan)), info))
}

/// The header's plan of an agent run bounded by `duration_ns`: the warm-up, lag
/// bound and SLO flags checked; the mode is `closed` until the caller says
/// otherwise.
pub(super) fn agent_info(
    args: &LoadArgs,
    duration_ns: Option<u64>,
    agent: AgentPlanInfo,
) -> Result<LoadPlanInfo> {
    let (warmup_ns, max_lag_ns, slo) = plan_flags(args, duration_ns)?;
    Ok(LoadPlanInfo {
        mode: "closed".into(),
        concurrency: None,
        think_ns: 0,
        rate: None,
        arrival: None,
        max_concurrency: args.max_concurrency,
        seed: args.seed,
        requests: None,
        duration_ns,
        warmup_ns,
        warmup_first: 0,
        schedule: None,
        slo: slo.map(|s| s.to_string()),
        max_lag_ns,
        shard: None,
        shards: Vec::new(),
        agent: Some(agent),
    })
}

/// Makes the sessions' prompts (ingesting the corpus once, when the workflow's
/// prompts are used), puts the workload into `mode`, and starts or probes the
/// backend. The header's prompt 0 is turn 0's prompt (chat: the first user
/// message; workflow: the analysis prompt).
pub(super) fn prepare_agent(
    args: &LoadArgs,
    mode: &mut Mode,
    runtime: &tokio::runtime::Runtime,
) -> Result<Prepared> {
    let Mode::Sessions(plan) = mode else {
        bail!("internal: not an agent workload");
    };
    let (name, first) = match &plan.workload {
        Workload::Scripts(scripts) => super::load_trace::first_prompt(scripts),
        _ => {
            let kind = args.session.as_deref().unwrap_or("chat");
            let (name, first, workload) =
                session_workload(&args.target, kind, plan.workload.turns(), args.seed)?;
            plan.workload = workload;
            (name, first)
        }
    };
    prepare_sessions(&args.target, name, first, &plan.workload, runtime)
}

/// Starts or probes the backend for sessions of `workload`: the header's prompt 0
/// is turn 0's prompt (`name`, `first`); chat sessions use the chat endpoint.
/// Shared by `load` and `capacity`.
pub(super) fn prepare_sessions(
    t: &TargetArgs,
    name: String,
    first: String,
    workload: &Workload,
    runtime: &tokio::runtime::Runtime,
) -> Result<Prepared> {
    let settings = settings_of(&t.options, t.output_tokens, t.server.protocol)?;
    let timeouts = timeouts_of(t.idle_timeout, t.timeout)?;
    let mut prepared = prepare_backend(
        runtime,
        &t.server,
        t.stub.as_deref(),
        timeouts,
        &[(name, first)],
        settings,
    )?;
    if matches!(workload, Workload::Chat { .. }) {
        prepared.backend.endpoint = crate::client::Endpoint::Chat;
    }
    Ok(prepared)
}

/// The sessions of `kind` (`chat` or `workflow`) with `turns` turns against
/// `target`: (turn 0's prompt name, its text, the workload). Ingests the corpus
/// (once) when the workflow's prompts are used. Shared by `load` and `capacity`.
pub(super) fn session_workload(
    t: &TargetArgs,
    kind: &str,
    turns: u32,
    seed: u64,
) -> Result<(String, String, Workload)> {
    if kind == "chat" {
        if let Some(n) = t.prompt_tokens {
            if n == 0 {
                bail!("--prompt-tokens must be at least 1");
            }
            let first = synthetic_prompt(n, seed);
            let workload = Workload::Chat {
                turns,
                first: Arc::from(first.as_str()),
            };
            return Ok(("synthetic".into(), first, workload));
        }
    } else if t.prompt_tokens.is_some() {
        bail!("--prompt-tokens: a workflow session sends the workflow's own prompts");
    }
    let root = &t.corpus;
    let corpus = crate::ingest::ingest(root, &crate::ingest::IngestOptions::default())
        .with_context(|| format!("cannot ingest the corpus at {}", root.display()))?;
    let summary = crate::ingest::summarize(&corpus);
    let analysis = crate::prompt::analysis_prompt(&summary);
    let workload = if kind == "chat" {
        Workload::Chat {
            turns,
            first: Arc::from(analysis.as_str()),
        }
    } else {
        Workload::Workflow {
            analysis: Arc::from(analysis.as_str()),
            summary: Arc::new(summary),
        }
    };
    Ok(("analysis".into(), analysis, workload))
}
