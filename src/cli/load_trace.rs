//! Trace replay and export: `load --workload agent --trace FILE` turns a trace's
//! sessions into a [`Mode::Sessions`] plan that replays them (arrivals, turns,
//! lengths, shared prefixes, think times), and `export-trace` writes a recorded
//! run as a content-free agentic trace. The formats are in docs/traces.md.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::load::{seconds_ns, LoadArgs};
use super::load_agent::agent_info;
use crate::load::record::{AgentPlanInfo, ScheduleInfo, TraceInfo};
use crate::load::schedule::schedule_hash;
use crate::load::session::{SessionScript, TurnInput};
use crate::load::session_engine::{SessionMode, Workload};
use crate::load::think::Think;
use crate::load::{LoadPlanInfo, Mode, SessionPlan};
use crate::trace::{export_load_file, read_trace, ReadOptions, DEFAULT_BLOCK_TOKENS};

/// The most prompt text a replay may hold in memory (the trace's prompts are
/// synthesised before the origin, at 4 bytes a token).
const MAX_PROMPT_BYTES: u64 = 1 << 30;

/// Checks the replay flags, reads the trace at `path` and returns the plan and the
/// header's plan. Flags the trace fixes (session kind, turns, think time, arrival
/// process, prompt length) are refused rather than silently ignored.
pub(super) fn trace_plan_of(args: &LoadArgs, path: &Path) -> Result<(Mode, LoadPlanInfo)> {
    refuse_fixed_flags(args)?;
    let imported = read_trace(
        path,
        &ReadOptions {
            format: None,
            block_tokens: args.block_tokens,
            skip_bad: args.skip_bad,
        },
    )?;
    if imported.skipped.count > 0 {
        let (line, why) = imported.skipped.first.first().cloned().unwrap_or_default();
        eprintln!(
            "WARNING: {}: skipped {} bad line(s) (--skip-bad); first: line {line}: {why}",
            path.display(),
            imported.skipped.count
        );
    }
    let bytes = imported.trace.prompt_bytes();
    if bytes > MAX_PROMPT_BYTES {
        bail!(
            "{}: the trace's prompts would take {} MB in memory (at most {} MB): replay a part of it (split the file)",
            path.display(),
            bytes >> 20,
            MAX_PROMPT_BYTES >> 20
        );
    }
    let mut scripts = imported
        .trace
        .to_scripts(args.time_scale)
        .with_context(|| format!("--time-scale {}", args.time_scale))?;
    let sessions_in_trace = scripts.len() as u64;
    let duration_ns = args
        .duration
        .map(|d| seconds_ns("--duration", d))
        .transpose()?;
    if args.sessions.is_none() {
        // Open loop: the trace's arrivals, cut by --duration and --jobs.
        if let Some(d) = duration_ns {
            scripts.retain(|s| s.start_ns.unwrap_or(0) < d);
        }
    }
    if let Some(k) = args.jobs {
        scripts.truncate(usize::try_from(k).unwrap_or(usize::MAX));
    }
    if scripts.is_empty() {
        bail!(
            "{}: no session of the trace starts within --duration: raise it",
            path.display()
        );
    }
    let turns = scripts
        .iter()
        .map(|s| s.turns.len() as u32)
        .max()
        .unwrap_or(1);
    let mut info = agent_info(
        args,
        duration_ns,
        AgentPlanInfo {
            workload: "agent".into(),
            session: "trace".into(),
            turns,
            think: "trace".into(),
            sessions: args.sessions,
            session_rate: None,
            jobs: args.jobs,
            follow_up: None,
            trace: Some(TraceInfo {
                path: path.display().to_string(),
                sha256: imported.sha256.clone(),
                format: imported.format.to_string(),
                block_tokens: imported.trace.block_tokens,
                time_scale: args.time_scale,
                sessions: sessions_in_trace,
                skipped_lines: imported.skipped.count as u64,
            }),
        },
    )?;
    let mode = match args.sessions {
        Some(slots) => SessionMode::Closed {
            slots,
            duration_ns,
            // Each session of the trace once, unless --jobs says otherwise.
            jobs: Some(scripts.len() as u64),
        },
        None => {
            let arrivals: Vec<u64> = scripts.iter().map(|s| s.start_ns.unwrap_or(0)).collect();
            info.mode = "open".into();
            info.arrival = Some("trace".into());
            info.schedule = Some(ScheduleInfo {
                count: arrivals.len() as u64,
                sha256: schedule_hash(&arrivals),
            });
            SessionMode::Open {
                arrivals: Arc::new(arrivals),
                max_concurrency: args.max_concurrency,
            }
        }
    };
    let plan = SessionPlan {
        workload: Workload::Scripts(Arc::new(scripts)),
        think: Think::default(),
        seed: args.seed,
        mode,
        shard: None,
    };
    Ok((Mode::Sessions(Box::new(plan)), info))
}

fn refuse_fixed_flags(args: &LoadArgs) -> Result<()> {
    for (set, flag) in [
        (args.session.is_some(), "--session"),
        (args.turns.is_some(), "--turns"),
        (args.think.is_some(), "--think"),
        (args.session_rate.is_some(), "--session-rate"),
        (args.arrival.is_some(), "--arrival"),
        (args.target.prompt_tokens.is_some(), "--prompt-tokens"),
    ] {
        if set {
            bail!("{flag}: a replayed trace fixes it (sessions, turns, lengths, think times, arrivals): drop {flag}, or replay without --trace");
        }
    }
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        bail!(
            "--time-scale {}: give a positive factor (2: half as fast; 0.5: twice as fast)",
            args.time_scale
        );
    }
    for (zero, flag) in [
        (args.sessions == Some(0), "--sessions"),
        (args.jobs == Some(0), "--jobs"),
        (args.max_concurrency == Some(0), "--max-concurrency"),
    ] {
        if zero {
            bail!("{flag} must be at least 1");
        }
    }
    if args.sessions.is_some() && args.max_concurrency.is_some() {
        bail!("--max-concurrency caps an open-loop replay at the trace's times; --sessions N already bounds the sessions in flight: give one of them");
    }
    Ok(())
}

/// Turn 0's prompt of the first script, for the header's prompt 0: (name, text).
pub(super) fn first_prompt(scripts: &[SessionScript]) -> (String, String) {
    let text = scripts
        .first()
        .and_then(|s| s.turns.first())
        .map(|t| match &t.input {
            TurnInput::Prompt(p) | TurnInput::Message(p) => p.clone(),
            TurnInput::FollowUp | TurnInput::WorkflowReport => String::new(),
        })
        .unwrap_or_default();
    ("trace".into(), text)
}

/// `agentbench export-trace`.
#[derive(Debug, Args)]
pub struct ExportTraceArgs {
    /// A load run's folder, or its records.jsonl.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// The trace file to write (agentic JSONL; docs/traces.md).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Prompt tokens per `hash_ids` block.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BLOCK_TOKENS)]
    pub block_tokens: u32,
}

/// Runs `agentbench export-trace`: writes the run's requests as a content-free
/// agentic trace (lengths, times, prefix block ids; no text). A refusal is an
/// error (exit 2) naming the file.
pub fn run_export_trace_cli(args: &ExportTraceArgs) -> Result<ExitCode> {
    let records = if args.run.is_dir() {
        args.run.join("records.jsonl")
    } else {
        args.run.clone()
    };
    let exported = export_load_file(&records, args.block_tokens)?;
    for (line, why) in &exported.skipped {
        eprintln!(
            "WARNING: {}: line {line} left out ({why})",
            records.display()
        );
    }
    exported.trace.write_file(&args.out)?;
    println!(
        "trace:      {} ({} sessions, {} requests, blocks of {} tokens)",
        args.out.display(),
        exported.trace.sessions.len(),
        exported.trace.request_count(),
        exported.trace.block_tokens
    );
    Ok(ExitCode::SUCCESS)
}
