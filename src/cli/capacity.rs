//! `agentbench capacity`: flags → a [`CapacitySpec`], then [`run_capacity`], then
//! the headline and the exit code. `--min-rate/--max-rate` search open loops over
//! a rate; `--min-concurrency/--max-concurrency` search closed loops over a
//! concurrency. `--workload agent` probes agent sessions (chat or workflow), at
//! session rates or as concurrent sessions, under job-level or per-turn targets.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use super::load::{positive, Prepared, TargetArgs};
use super::run::out_dir_under;
use crate::capacity::{
    run_capacity, AgentProbe, Axis, CapacityError, CapacitySlo, CapacitySpec, ClientFactory,
    Interval, Outcome, SearchPlan,
};
use crate::load::slo::parse_duration_ns;
use crate::load::think::Think;
use crate::load::{Arrival, EXIT_CLIENT_LIMITED};

/// Exit code of `capacity` when the interval could not be narrowed to the
/// tolerance within the budget, or the capacity lies outside the range.
pub const EXIT_NOT_NARROWED: u8 = 6;

/// `agentbench capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The SLO: percentile:metric<=duration, comma-separated, e.g.
    /// p99:ttft<=2s,p95:e2e<=10s (percentiles p50, p90, p95, p99, p99.9; metrics
    /// ttft, tpot, e2e, TTFT and E2E from the intended send; job, --workload agent
    /// only: job latency from the session's intended start to its last turn's end).
    #[arg(long, value_name = "SLO")]
    pub slo: String,
    /// What each probe offers: requests (single requests at a rate), or agent
    /// (sessions of several turns at a session rate).
    #[arg(long, value_name = "KIND", default_value = "requests")]
    pub workload: String,
    /// --workload agent: chat (a growing conversation) or workflow (the agent
    /// workflow's analysis and report calls).
    #[arg(long, value_name = "KIND")]
    pub session: Option<String>,
    /// --workload agent, chat: turns per session (default 3).
    #[arg(long, value_name = "K")]
    pub turns: Option<u32>,
    /// --workload agent: tool time between turns (200ms, exp:200ms,
    /// uniform:100ms..300ms; default none).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub think: Option<String>,
    /// --workload agent: measured sessions per probe (default: the SLO's minimum,
    /// e.g. 200 for a p95 job target; fewer is refused).
    #[arg(long, value_name = "N")]
    pub probe_sessions: Option<u64>,
    /// Search open loops over a rate: the lowest rate to consider, requests/s
    /// (--workload agent: sessions/s). With --max-rate.
    #[arg(long, value_name = "R0", allow_negative_numbers = true)]
    pub min_rate: Option<f64>,
    /// The highest rate to consider (with --min-rate).
    #[arg(long, value_name = "R1", allow_negative_numbers = true)]
    pub max_rate: Option<f64>,
    /// Search closed loops over a concurrency instead: the lowest number of
    /// requests in flight to consider (--workload agent: concurrent sessions,
    /// each holding its slot through tool time). With --max-concurrency.
    #[arg(
        long,
        value_name = "C0",
        conflicts_with_all = ["min_rate", "max_rate"]
    )]
    pub min_concurrency: Option<u32>,
    /// The highest concurrency to consider (with --min-concurrency).
    #[arg(
        long,
        value_name = "C1",
        conflicts_with_all = ["min_rate", "max_rate"]
    )]
    pub max_concurrency: Option<u32>,
    /// Probes at most.
    #[arg(long, default_value_t = 12)]
    pub max_probes: usize,
    /// Narrow the capacity to ± this fraction of its value.
    #[arg(long, default_value_t = 0.10, allow_negative_numbers = true)]
    pub tolerance: f64,
    /// Measured requests per probe (default: the SLO's minimum, e.g. 1,000 for a
    /// p99; fewer is refused).
    #[arg(long, value_name = "N")]
    pub probe_requests: Option<u64>,
    /// Arrival process of each open-loop probe: constant, poisson, gamma:CV
    /// (default poisson; a concurrency search has no arrivals).
    #[arg(long)]
    pub arrival: Option<String>,
    /// How each probe's percentile intervals are computed: correlated (the
    /// default: the standard error's floor widened by the autocorrelation time of
    /// the exceedances, so single probes just beyond the capacity rarely pass even
    /// under Poisson arrivals, but every probe needs about 73 × that time measured
    /// requests per half to pass a p95), or batch-means (the floor at the binomial
    /// one: more power, but confidently wrong near a Poisson-fed queue's knee).
    #[arg(long, value_name = "METHOD", default_value = "correlated")]
    pub interval: String,
    /// Seed of the probes' schedules.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Server, stub, prompts, options and limits (shared with `load`).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output folder (default: reports/capacity/<UTC time>-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No line per probe.
    #[arg(long)]
    pub quiet: bool,
}

/// The agent flags, checked: (session kind, turns, think), or `None` for
/// `--workload requests` (where they are refused).
fn agent_of(args: &CapacityArgs, slo: &CapacitySlo) -> Result<Option<(String, u32, Think)>> {
    match args.workload.as_str() {
        "requests" => {
            if let Some(t) = slo.job_target() {
                bail!(
                    "--slo: \"{t}\" is a job-level target: it needs --workload agent (sessions); with --workload requests use ttft, tpot or e2e"
                );
            }
            for (set, flag) in [
                (args.session.is_some(), "--session"),
                (args.turns.is_some(), "--turns"),
                (args.think.is_some(), "--think"),
                (args.probe_sessions.is_some(), "--probe-sessions"),
            ] {
                if set {
                    bail!("{flag} is for --workload agent; add --workload agent or drop {flag}");
                }
            }
            Ok(None)
        }
        "agent" => {
            if args.probe_requests.is_some() {
                bail!(
                    "--probe-requests is for --workload requests; sessions take --probe-sessions N"
                );
            }
            let flags = super::load_agent::session_flags(
                args.session.as_deref(),
                args.turns,
                args.think.as_deref(),
            )?;
            Ok(Some(flags))
        }
        other => bail!("--workload {other:?} is unknown; valid: requests, agent"),
    }
}

type Plan = (
    CapacitySlo,
    SearchPlan,
    u64,
    Arrival,
    u64,
    Option<(String, u32, Think)>,
);

/// The search's axis and range from the flags: a rate range, or a concurrency
/// range (exactly one of the two, each end given, low below high).
fn range_of(args: &CapacityArgs) -> Result<(Axis, f64, f64)> {
    match (
        args.min_rate,
        args.max_rate,
        args.min_concurrency,
        args.max_concurrency,
    ) {
        (Some(lo), Some(hi), None, None) => {
            let lo = positive("--min-rate", lo)?;
            let hi = positive("--max-rate", hi)?;
            if lo >= hi {
                bail!("--min-rate ({lo}) must be below --max-rate ({hi})");
            }
            Ok((Axis::Rate, lo, hi))
        }
        (None, None, Some(lo), Some(hi)) => {
            if lo == 0 {
                bail!("--min-concurrency must be at least 1");
            }
            if lo >= hi {
                bail!("--min-concurrency ({lo}) must be below --max-concurrency ({hi})");
            }
            Ok((Axis::Concurrency, f64::from(lo), f64::from(hi)))
        }
        (Some(_), None, ..) | (None, Some(_), ..) => {
            bail!("--min-rate and --max-rate go together: give both")
        }
        (.., Some(_), None) | (.., None, Some(_)) => {
            bail!("--min-concurrency and --max-concurrency go together: give both")
        }
        _ => bail!(
            "say what to search: --min-rate R0 --max-rate R1 (open loops at a rate) or --min-concurrency C0 --max-concurrency C1 (closed loops)"
        ),
    }
}

fn plan_of(args: &CapacityArgs) -> Result<Plan> {
    let slo: CapacitySlo = args
        .slo
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--slo: {e}"))?;
    let agent = agent_of(args, &slo)?;
    let (axis, min, max) = range_of(args)?;
    if !(args.tolerance > 0.0 && args.tolerance < 1.0) {
        bail!("--tolerance must be a fraction in (0, 1), e.g. 0.1 for ± 10 %");
    }
    if args.max_probes < 2 {
        bail!("--max-probes must be at least 2 (the two ends of the range)");
    }
    let requests = match &agent {
        None => {
            let min = slo.min_requests();
            match args.probe_requests {
                Some(n) if n < min => bail!(
                    "--probe-requests {n} is too few for {}: at least {min} (so that 10 samples lie beyond its highest percentile)",
                    slo
                ),
                Some(n) => n,
                None => min,
            }
        }
        Some((_, turns, _)) => {
            let min = slo.min_sessions(*turns);
            match args.probe_sessions {
                Some(n) if n < min => bail!(
                    "--probe-sessions {n} is too few for {slo} with {turns} turns per session: at least {min} (so that 10 jobs, or turns, lie beyond its highest percentile)"
                ),
                Some(n) => n,
                None => min,
            }
        }
    };
    if axis == Axis::Concurrency && args.arrival.is_some() {
        bail!("--arrival is for a rate search: a closed loop sends each request when its worker's previous one ends; drop --arrival or search --min-rate/--max-rate");
    }
    let arrival: Arrival = args
        .arrival
        .as_deref()
        .unwrap_or("poisson")
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--arrival: {e}"))?;
    let max_lag_ns =
        parse_duration_ns(&args.target.max_lag).map_err(|e| anyhow::anyhow!("--max-lag: {e}"))?;
    let plan = SearchPlan {
        axis,
        min,
        max,
        max_probes: args.max_probes,
        tolerance: args.tolerance,
    };
    Ok((slo, plan, requests, arrival, max_lag_ns, agent))
}

/// Starts or probes the backend for agent sessions: the header's prompt 0 is
/// turn 0's prompt; chat sessions use the chat endpoint.
fn prepare_agent(
    args: &CapacityArgs,
    kind: &str,
    turns: u32,
    think: Think,
    runtime: &tokio::runtime::Runtime,
) -> Result<(Prepared, AgentProbe)> {
    let t = &args.target;
    let (name, first, workload) = super::load_agent::session_workload(t, kind, turns, args.seed)?;
    let prepared = super::load_agent::prepare_sessions(t, name, first, &workload, runtime)?;
    let probe = AgentProbe {
        session: kind.to_string(),
        workload,
        think,
    };
    Ok((prepared, probe))
}

/// Runs `agentbench capacity`: 0 when the capacity was narrowed to the tolerance,
/// 6 when it was not (or lies outside the range), 5 when a probe was
/// client-limited, 2 for bad input.
pub fn run_capacity_cli(args: &CapacityArgs) -> Result<ExitCode> {
    let (slo, plan, requests, arrival, max_lag_ns, agent) = plan_of(args)?;
    let axis = plan.axis;
    let interval: Interval = args
        .interval
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--interval: {e}"))?;
    let protocol = args.target.server.protocol;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (prepared, agent) = match agent {
        None => (args.target.prepare(args.seed, &runtime)?, None),
        Some((kind, turns, think)) => {
            let (p, a) = prepare_agent(args, &kind, turns, think, &runtime)?;
            (p, Some(a))
        }
    };
    let Prepared {
        settings,
        timeouts,
        target,
        server,
        prompts: prepared,
        backend,
    } = prepared;
    let spec = CapacitySpec {
        client: ClientFactory {
            url: target.url.clone(),
            timeouts,
            protocol,
        },
        prompts: prepared,
        backend,
        server,
        model: args.target.server.model.clone(),
        settings,
        slo,
        plan,
        requests,
        agent,
        arrival,
        seed: args.seed,
        max_lag_ns,
        interval,
    };
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| out_dir_under("reports/capacity", &args.target.server.model));
    if out_dir.join("capacity.json").exists() {
        bail!(
            "{} already holds a capacity report; choose another --out",
            out_dir.display()
        );
    }
    let quiet = args.quiet;
    let unit = axis.unit(spec.agent.is_some());
    let result = run_capacity(&spec, &out_dir, |p| {
        if !quiet {
            eprintln!(
                "probe {:>2}: {:>9} {unit} → {:?}{} · {}",
                p.index,
                axis.format(p.load),
                p.verdict,
                if p.repeat { " (repeat)" } else { "" },
                p.targets
                    .iter()
                    .map(|t| format!(
                        "{} {} [{}, {}] ms",
                        t.target,
                        t.estimate_ms.map_or("∞".into(), |v| format!("{v:.1}")),
                        t.lower_ms.map_or("∞".into(), |v| format!("{v:.1}")),
                        t.upper_ms.map_or("∞".into(), |v| format!("{v:.1}"))
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    });
    if let Some(stub) = target.stub {
        runtime.block_on(stub.shutdown());
    }
    let report = match result {
        Ok(r) => r,
        Err(e @ CapacityError::ClientLimited { .. }) => {
            eprintln!("CLIENT-LIMITED: {e}");
            println!("report:     {}", out_dir.join("index.html").display());
            return Ok(ExitCode::from(EXIT_CLIENT_LIMITED));
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", report.headline());
    if let Some(advice) = report.advice() {
        println!("{advice}");
    }
    println!("report:     {}", out_dir.join("index.html").display());
    println!("json:       {}", out_dir.join("capacity.json").display());
    if report.outcome == Outcome::Narrowed {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_NOT_NARROWED))
    }
}
