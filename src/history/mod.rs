//! Performance history across commits: one JSON line per measured commit, appended
//! to a file kept in the repository (`reports/history/history.jsonl` by default),
//! and the trend of each metric drawn from it.
//!
//! An entry is derived from raw records only: the medians come from the record
//! file's runs through the same metric definitions `compare` uses (the metric
//! catalog's [`history_metrics`](crate::metrics::catalog::history_metrics)), the provenance from its header. Instruction
//! counts, when given, come from `agentbench icount --json`.
//!
//! Invariants: entries are appended, never rewritten; a line that cannot be read
//! is an error naming the file and line (the history is committed, so a broken
//! line is a merge mistake to fix, not a crash to tolerate).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::compare::METRICS;
use crate::metrics::stats::median;
use crate::record::RecordFile;

/// The default history file, relative to the repository root.
pub const DEFAULT_HISTORY: &str = "reports/history/history.jsonl";

/// Version of the entry format.
pub const HISTORY_VERSION: u32 = 1;

/// One commit's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Format version ([`HISTORY_VERSION`]).
    pub version: u32,
    /// Commit the harness was built from (as recorded in the header; may end in
    /// `-dirty`). `None` when the build had no git information.
    pub commit: Option<String>,
    /// Committer date of that commit (ISO 8601), when git could tell.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub commit_date: Option<String>,
    /// When the records were made (the header's creation time, Unix ns).
    pub recorded_unix_ns: u64,
    /// Harness version and build profile.
    pub harness: String,
    /// What was measured on: CPU model, cores, OS and kernel.
    pub host: String,
    /// Backend: the stub profile (`stub:<profile>`) or `<protocol>@<url>`.
    pub backend: String,
    /// Model name.
    pub model: String,
    /// Completed workflow runs the medians are taken over.
    pub runs: usize,
    /// Median of each metric over the runs, by [`crate::compare::METRICS`] name
    /// (units in the name: `_ms`, `_tps`). Metrics without samples are absent.
    pub medians: BTreeMap<String, f64>,
    /// Instructions per iteration per workload (`agentbench icount --json`), when given.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub instructions: BTreeMap<String, u64>,
}

impl HistoryEntry {
    /// The series this entry belongs to: entries are comparable only within one
    /// (host, backend, model, harness profile).
    pub fn series(&self) -> String {
        format!("{} · {} · {}", self.backend, self.model, self.host)
    }

    /// The commit, shortened to 10 characters (keeping a `-dirty` mark).
    pub fn short_commit(&self) -> String {
        match &self.commit {
            Some(c) => {
                let dirty = if c.ends_with("-dirty") { "*" } else { "" };
                format!("{}{dirty}", &c[..c.len().min(10)])
            }
            None => "unknown".into(),
        }
    }
}

/// A history failure.
#[derive(Debug, Error)]
pub enum HistoryError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a history entry.
    #[error("{path}:{line}: not a history entry ({reason}); fix or remove that line")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The decoder's message.
        reason: String,
    },
    /// The record file has no completed run to summarise.
    #[error("no completed workflow run in the records; nothing to append")]
    NoRuns,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HistoryError + '_ {
    move |source| HistoryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The entry for a record file: medians of every metric over its runs
/// (warm-up runs left out), provenance from its header.
pub fn entry_from_records(
    file: &RecordFile,
    commit_date: Option<String>,
    instructions: BTreeMap<String, u64>,
) -> Result<HistoryEntry, HistoryError> {
    let runs: Vec<_> = file.runs.iter().filter(|r| !r.warmup).cloned().collect();
    let completed = runs.iter().filter(|r| r.failure.is_none()).count();
    if completed == 0 {
        return Err(HistoryError::NoRuns);
    }
    let medians = METRICS
        .iter()
        .filter_map(|m| median(&m.samples(&runs)).map(|v| (m.id.to_string(), v)))
        .collect();
    let h = &file.header;
    let backend = match &h.backend.stub {
        Some(profile) => format!("stub:{profile}"),
        None => format!("{}@{}", h.backend.protocol, h.backend.url),
    };
    let host = format!(
        "{} × {} · {} {}",
        h.host.cores,
        h.host.cpu_model.as_deref().unwrap_or("unknown CPU"),
        h.host.os,
        h.host.kernel.as_deref().unwrap_or("")
    )
    .trim_end()
    .to_string();
    Ok(HistoryEntry {
        version: HISTORY_VERSION,
        commit: h.harness.git_commit.clone(),
        commit_date,
        recorded_unix_ns: h.created_unix_ns,
        harness: format!(
            "{} {} ({})",
            h.harness.name, h.harness.version, h.harness.profile
        ),
        host,
        backend,
        model: h.model.clone(),
        runs: completed,
        medians,
        instructions,
    })
}

/// Appends `entry` as one line to `path` (folders created) and syncs it to disk.
pub fn append(path: &Path, entry: &HistoryEntry) -> Result<(), HistoryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut line = serde_json::to_vec(entry).expect("a history entry always serialises");
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io(path))?;
    f.write_all(&line).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Reads every entry of `path`, in file order. Blank lines are skipped; any other
/// undecodable line is an error naming the file and line.
pub fn read(path: &Path) -> Result<Vec<HistoryEntry>, HistoryError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| HistoryError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Reads `agentbench icount --json` output: `{"instructions": {workload: n}}`.
pub fn read_instructions(path: &Path) -> Result<BTreeMap<String, u64>, HistoryError> {
    #[derive(Deserialize)]
    struct Counts {
        instructions: BTreeMap<String, u64>,
    }
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str::<Counts>(&text)
        .map(|c| c.instructions)
        .map_err(|e| HistoryError::BadLine {
            path: path.to_path_buf(),
            line: e.line(),
            reason: format!("{e} (expected the output of `agentbench icount --json`)"),
        })
}

/// The metrics drawn in the trend report, in order: the harness's own costs first.
pub const TREND_METRICS: [&str; 6] = [
    "analysis.client_overhead_ms",
    "report.client_overhead_ms",
    "workflow.ingest_ms",
    "workflow.prompt_build_ms",
    "analysis.e2e_ms",
    "report.e2e_ms",
];

/// One line of a trend chart: a series' values of one metric, in history order,
/// as (entry index, short commit, value).
#[derive(Debug, Clone, PartialEq)]
pub struct TrendSeries {
    /// The series ([`HistoryEntry::series`]).
    pub series: String,
    /// Points in history order.
    pub points: Vec<(usize, String, f64)>,
}

/// The series of `metric` over `entries` (one per distinct [`HistoryEntry::series`],
/// in order of first appearance); a metric read from `medians`, or from
/// `instructions` when prefixed `instructions.`.
pub fn trend(entries: &[HistoryEntry], metric: &str) -> Vec<TrendSeries> {
    let mut out: Vec<TrendSeries> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let value = match metric.strip_prefix("instructions.") {
            Some(w) => e.instructions.get(w).map(|&n| n as f64),
            None => e.medians.get(metric).copied(),
        };
        let Some(v) = value else { continue };
        let key = e.series();
        let idx = match out.iter().position(|s| s.series == key) {
            Some(idx) => idx,
            None => {
                out.push(TrendSeries {
                    series: key,
                    points: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[idx].points.push((i, e.short_commit(), v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(commit: &str, backend: &str, overhead: f64) -> HistoryEntry {
        HistoryEntry {
            version: HISTORY_VERSION,
            commit: Some(commit.into()),
            commit_date: None,
            recorded_unix_ns: 1,
            harness: "agentbench 0.1.0 (release)".into(),
            host: "2 × cpu · linux".into(),
            backend: backend.into(),
            model: "m".into(),
            runs: 3,
            medians: [("analysis.client_overhead_ms".to_string(), overhead)].into(),
            instructions: [("ingest".to_string(), 100)].into(),
        }
    }

    #[test]
    fn trend_separates_series_and_keeps_history_order() {
        let es = [
            entry("aaaaaaaaaaaaaaaa", "stub:instant", 0.3),
            entry("bbbbbbbbbbbbbbbb-dirty", "stub:paced", 0.5),
            entry("cccccccccccccccc", "stub:instant", 0.4),
        ];
        let t = trend(&es, "analysis.client_overhead_ms");
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].points,
            vec![(0, "aaaaaaaaaa".into(), 0.3), (2, "cccccccccc".into(), 0.4)]
        );
        assert_eq!(t[1].points, vec![(1, "bbbbbbbbbb*".into(), 0.5)]);
        assert_eq!(trend(&es, "instructions.ingest")[0].points.len(), 2);
        assert!(trend(&es, "nope").is_empty());
    }

    #[test]
    fn append_then_read_round_trips_and_bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h/history.jsonl");
        let a = entry("aaaa", "stub:instant", 0.3);
        append(&path, &a).unwrap();
        append(&path, &a).unwrap();
        assert_eq!(read(&path).unwrap(), vec![a.clone(), a]);
        std::fs::write(&path, "{\"version\":1}\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("history.jsonl:1:"), "{err}");
    }
}
