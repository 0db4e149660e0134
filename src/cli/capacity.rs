//! `agentbench capacity`: flags → a [`CapacitySpec`], then [`run_capacity`], then
//! the headline and the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;

use super::load::{positive, Prepared, TargetArgs};
use super::run::out_dir_under;
use crate::capacity::{
    run_capacity, CapacityError, CapacitySlo, CapacitySpec, ClientFactory, Outcome, SearchPlan,
};
use crate::load::slo::parse_duration_ns;
use crate::load::{Arrival, EXIT_CLIENT_LIMITED};

/// Exit code of `capacity` when the interval could not be narrowed to the
/// tolerance within the budget, or the capacity lies outside the range.
pub const EXIT_NOT_NARROWED: u8 = 6;

/// `agentbench capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The SLO: percentile:metric<=duration, comma-separated, e.g.
    /// p99:ttft<=2s,p95:e2e<=10s (percentiles p50, p90, p95, p99, p99.9; metrics
    /// ttft, tpot, e2e, TTFT and E2E from the intended send).
    #[arg(long, value_name = "SLO")]
    pub slo: String,
    /// Lowest rate to consider, requests/s.
    #[arg(long, value_name = "R0", allow_negative_numbers = true)]
    pub min_rate: f64,
    /// Highest rate to consider, requests/s.
    #[arg(long, value_name = "R1", allow_negative_numbers = true)]
    pub max_rate: f64,
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
    /// Arrival process of each probe: constant, poisson, gamma:CV.
    #[arg(long, default_value = "poisson")]
    pub arrival: String,
    /// Seed of the probes' schedules and bootstraps.
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

fn plan_of(args: &CapacityArgs) -> Result<(CapacitySlo, SearchPlan, u64, Arrival, u64)> {
    let slo: CapacitySlo = args
        .slo
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--slo: {e}"))?;
    let min_rate = positive("--min-rate", args.min_rate)?;
    let max_rate = positive("--max-rate", args.max_rate)?;
    if min_rate >= max_rate {
        bail!("--min-rate ({min_rate}) must be below --max-rate ({max_rate})");
    }
    if !(args.tolerance > 0.0 && args.tolerance < 1.0) {
        bail!("--tolerance must be a fraction in (0, 1), e.g. 0.1 for ± 10 %");
    }
    if args.max_probes < 2 {
        bail!("--max-probes must be at least 2 (the two ends of the range)");
    }
    let min = slo.min_requests();
    let requests = match args.probe_requests {
        Some(n) if n < min => bail!(
            "--probe-requests {n} is too few for {}: at least {min} (so that 10 samples lie beyond its highest percentile)",
            slo
        ),
        Some(n) => n,
        None => min,
    };
    let arrival: Arrival = args
        .arrival
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--arrival: {e}"))?;
    let max_lag_ns =
        parse_duration_ns(&args.target.max_lag).map_err(|e| anyhow::anyhow!("--max-lag: {e}"))?;
    let plan = SearchPlan {
        min_rate,
        max_rate,
        max_probes: args.max_probes,
        tolerance: args.tolerance,
    };
    Ok((slo, plan, requests, arrival, max_lag_ns))
}

/// Runs `agentbench capacity`: 0 when the capacity was narrowed to the tolerance,
/// 6 when it was not (or lies outside the range), 5 when a probe was
/// client-limited, 2 for bad input.
pub fn run_capacity_cli(args: &CapacityArgs) -> Result<ExitCode> {
    let (slo, plan, requests, arrival, max_lag_ns) = plan_of(args)?;
    let protocol = args.target.server.protocol;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let Prepared {
        settings,
        timeouts,
        target,
        server,
        prompts: prepared,
        backend,
    } = args.target.prepare(args.seed, &runtime)?;
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
        arrival,
        seed: args.seed,
        max_lag_ns,
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
    let result = run_capacity(&spec, &out_dir, |p| {
        if !quiet {
            eprintln!(
                "probe {:>2}: {:>9.2} req/s → {:?}{} · {}",
                p.index,
                p.rate,
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
    println!("report:     {}", out_dir.join("index.html").display());
    println!("json:       {}", out_dir.join("capacity.json").display());
    if report.outcome == Outcome::Narrowed {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_NOT_NARROWED))
    }
}
