//! `agentbench report`: record files → HTML, Markdown, CSV and HDR histograms.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::record::read_records;
use crate::report::{write_report_with_history, ReportInput, ReportPaths};

/// Reads each record file (undecodable lines are reported on stderr and skipped)
/// and writes the report of all of them into `out`, with the trend section of
/// `history` when given.
pub fn report_files(
    records: &[PathBuf],
    history: Option<&Path>,
    out: &Path,
) -> Result<ReportPaths> {
    let history = match history {
        Some(p) => crate::history::read(p)?,
        None => Vec::new(),
    };
    let mut files = Vec::with_capacity(records.len());
    for path in records {
        let file = read_records(path)?;
        for (line, reason) in &file.skipped {
            eprintln!("{}:{line}: skipped: {reason}", path.display());
        }
        files.push((path.display().to_string(), file));
    }
    let inputs: Vec<ReportInput<'_>> = files
        .iter()
        .map(|(name, file)| ReportInput { name, file })
        .collect();
    write_report_with_history(&inputs, &history, out)
        .with_context(|| format!("cannot write the report into {}", out.display()))
}

/// Renders the outputs of one `agentbench load` record file into `out` (an
/// interrupted run's file included: its complete lines count) and prints where.
pub fn load_report(records: &Path, out: &Path) -> Result<()> {
    let analysis = crate::load::analyse_file(records)?;
    for (line, reason) in &analysis.summary.skipped_lines {
        eprintln!("{}:{line}: skipped: {reason}", records.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let paths = crate::load::output::write_outputs(&analysis, out)?;
    println!("HTML:       {}", paths.index_html.display());
    println!("summary:    {}", paths.summary_json.display());
    println!("intervals:  {}", paths.interval_log.display());
    Ok(())
}
