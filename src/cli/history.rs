//! `agentbench history`: append a commit's medians to the history file, or draw
//! the trend page.

use std::path::Path;
use std::process::{Command as Process, ExitCode};

use anyhow::{Context, Result};

use super::{HistoryAppendArgs, HistoryArgs, HistoryCommand, HistoryPlotArgs};
use crate::history::{append, entry_from_records, read, read_instructions};
use crate::record::read_records;

/// Runs `history append` or `history plot`.
pub fn run_history(args: &HistoryArgs) -> Result<ExitCode> {
    match &args.command {
        HistoryCommand::Append(a) => history_append(a),
        HistoryCommand::Plot(p) => history_plot(p),
    }
}

/// The committer date of `commit` (ISO 8601), when git knows it.
fn commit_date(commit: &str) -> Option<String> {
    let clean = commit.trim_end_matches("-dirty");
    let out = Process::new("git")
        .args(["show", "-s", "--format=%cI", clean])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn history_append(args: &HistoryAppendArgs) -> Result<ExitCode> {
    let file = read_records(&args.records)?;
    for (line, reason) in &file.skipped {
        eprintln!("{}:{line}: skipped: {reason}", args.records.display());
    }
    let instructions = match &args.icount {
        Some(p) => read_instructions(p)?,
        None => Default::default(),
    };
    let date = file
        .header
        .harness
        .git_commit
        .as_deref()
        .and_then(commit_date);
    let entry = entry_from_records(&file, date, instructions)
        .with_context(|| format!("cannot summarise {}", args.records.display()))?;
    append(&args.history, &entry)?;
    println!(
        "appended {} ({} runs, {} medians{}) to {}",
        entry.short_commit(),
        entry.runs,
        entry.medians.len(),
        if entry.instructions.is_empty() {
            String::new()
        } else {
            format!(", {} instruction counts", entry.instructions.len())
        },
        args.history.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn history_plot(args: &HistoryPlotArgs) -> Result<ExitCode> {
    let entries = read(&args.history)?;
    if entries.is_empty() {
        eprintln!(
            "agentbench: {} has no entries; add one with `agentbench history append RECORDS.jsonl`",
            args.history.display()
        );
        return Ok(ExitCode::from(2));
    }
    let page = crate::report::history_page(&entries)
        .map_err(|reason| anyhow::anyhow!("cannot draw the trend plots: {reason}"))?;
    write_page(&args.out, page.as_bytes())?;
    println!(
        "{} entries → {}",
        entries.len(),
        args.out.join("history.html").display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_page(dir: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("history.html");
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
