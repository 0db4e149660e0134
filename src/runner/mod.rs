//! The one durable run loop: workflow runs made one after another, each appended to
//! the record file and fsynced before the next starts ([`RecordWriter::append`]), so
//! an interruption loses at most the run in flight; an existing file resumed under the
//! one torn-line policy ([`crate::record::cut_torn_tail`], via
//! [`RecordWriter::resume`]); and a deadline after which no run starts.
//!
//! [`run_durably`] is the loop itself, used by `run` ([`run_workflows`]), by `sweep`
//! ([`crate::sweep::run_sweep`]: its plan is interleaved configurations, and each slot
//! prepares the model's start state first) and by the builtin peer agent
//! (`agentbench agent`, which appends to the file `peers` hands it). The `peers`
//! command itself runs agent *processes*, measured from outside; it gathers their
//! records after they exit and does not loop over workflow runs.
//!
//! Printing is the caller's: the loop reports each recorded run to a callback.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::agent::Agent;
use crate::ingest::Skipped;
use crate::metrics::RunSummary;
use crate::record::{Header, RecordWriter, Stage, TornLine, WorkflowRecord};

/// No run starts once this has passed.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// The limit as given (for the message).
    pub limit: Duration,
    /// The instant it passes.
    pub at: Instant,
}

impl Deadline {
    /// A deadline `limit` after `start`.
    pub fn after(start: Instant, limit: Duration) -> Self {
        Self {
            limit,
            at: start + limit,
        }
    }
}

/// What [`run_durably`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopOutcome {
    /// Runs made and recorded.
    pub executed: usize,
    /// Of those, runs with a failure.
    pub failed: usize,
    /// Planned runs not started because the deadline passed.
    pub not_started: usize,
}

/// Makes one run per `plan` slot with `make`, appending each to `writer` (durably)
/// before the next starts and then handing it to `recorded`. Stops before a slot when
/// `deadline` has passed (the slots left are counted in
/// [`LoopOutcome::not_started`]). An error from `make`, the writer or `recorded` ends
/// the loop; what was appended stays.
pub async fn run_durably<S>(
    writer: &mut RecordWriter,
    plan: &[S],
    deadline: Option<Deadline>,
    mut make: impl AsyncFnMut(&S) -> Result<WorkflowRecord>,
    mut recorded: impl FnMut(&S, &WorkflowRecord) -> Result<()>,
) -> Result<LoopOutcome> {
    let mut out = LoopOutcome::default();
    for (k, slot) in plan.iter().enumerate() {
        if deadline.is_some_and(|d| Instant::now() >= d.at) {
            out.not_started = plan.len() - k;
            break;
        }
        let run = make(slot).await?;
        writer.append(&run)?;
        out.executed += 1;
        if run.failure.is_some() {
            out.failed += 1;
        }
        recorded(slot, &run)?;
    }
    Ok(out)
}

/// A record file opened for `run`: created with its header, or resumed.
#[derive(Debug)]
pub struct OpenedRecords {
    /// Appends to the file.
    pub writer: RecordWriter,
    /// The runs already in it (empty for a new file).
    pub runs: Vec<WorkflowRecord>,
    /// The torn last line cut from a resumed file, when there was one.
    pub torn: Option<TornLine>,
    /// Undecodable lines of a resumed file (1-based line, reason).
    pub skipped: Vec<(usize, String)>,
}

/// Opens `path` for `run`: creates it with `header` when absent; when present, refuses
/// unless `resume`, and then resumes it only if it was recorded by the same
/// measurement ([`check_resumable`]).
pub fn open_records(path: &Path, header: &Header, resume: bool) -> Result<OpenedRecords> {
    if !path.exists() {
        return Ok(OpenedRecords {
            writer: RecordWriter::create(path, header)?,
            runs: Vec::new(),
            torn: None,
            skipped: Vec::new(),
        });
    }
    if !resume {
        bail!(
            "{} already exists; choose another --out so that earlier records are kept, or pass --resume to complete it",
            path.display()
        );
    }
    let (writer, file, torn) = RecordWriter::resume(path)?;
    check_resumable(&file.header, header)
        .with_context(|| format!("cannot resume {}", path.display()))?;
    Ok(OpenedRecords {
        writer,
        runs: file.runs,
        torn,
        skipped: file.skipped,
    })
}

/// An existing record file may be completed only by the same measurement: same
/// model, settings, endpoint, protocol and backend (stub profile, or URL for a
/// real server).
pub fn check_resumable(old: &Header, new: &Header) -> Result<()> {
    let mut diffs = Vec::new();
    if old.model != new.model {
        diffs.push(format!("model {:?} vs {:?}", old.model, new.model));
    }
    if old.settings != new.settings {
        diffs.push(format!(
            "settings {} vs {}",
            serde_json::to_string(&old.settings).unwrap_or_default(),
            serde_json::to_string(&new.settings).unwrap_or_default()
        ));
    }
    let (a, b) = (&old.backend, &new.backend);
    if a.endpoint != b.endpoint || a.protocol != b.protocol {
        diffs.push(format!(
            "endpoint {}/{:?} vs {}/{:?}",
            a.protocol, a.endpoint, b.protocol, b.endpoint
        ));
    }
    if a.stub != b.stub {
        diffs.push(format!("stub profile {:?} vs {:?}", a.stub, b.stub));
    } else if a.stub.is_none() && a.url != b.url {
        diffs.push(format!("server {} vs {}", a.url, b.url));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        bail!(
            "the file was recorded with different settings ({}); resume with the same flags, or choose another --out",
            diffs.join("; ")
        )
    }
}

/// What `run` asks of [`run_workflows`].
#[derive(Debug, Clone)]
pub struct WorkflowRuns<'a> {
    /// Run indices 0..runs are wanted; those already recorded are skipped.
    pub runs: u32,
    /// No run starts after it.
    pub deadline: Option<Deadline>,
    /// Where `summary.json` and `llm_report.md` go.
    pub out_dir: &'a Path,
    /// The corpus files ingest skipped (kept in `summary.json`).
    pub corpus_skipped: &'a [Skipped],
}

/// What [`run_workflows`] did.
#[derive(Debug, Clone)]
pub struct WorkflowOutcome {
    /// Every run in the file: those found when resuming, then those made now.
    pub runs: Vec<WorkflowRecord>,
    /// The loop's counts.
    pub made: LoopOutcome,
    /// `summary.json`.
    pub summary: PathBuf,
    /// `llm_report.md`, when a report call made now completed.
    pub llm_report: Option<PathBuf>,
    /// Set when the deadline stopped the invocation before all runs: the message.
    pub stopped_early: Option<String>,
}

/// The run indices still to make: `0..runs` less those in `done`.
pub fn todo(runs: u32, done: &[WorkflowRecord]) -> Vec<u32> {
    let done: BTreeSet<u32> = done.iter().map(|r| r.run_index).collect();
    (0..runs).filter(|i| !done.contains(i)).collect()
}

/// `run`'s loop: makes the runs of `spec` not yet in `opened` with `agent`, through
/// [`run_durably`]; after each, `summary.json` is rewritten and, when its report call
/// completed, `llm_report.md`; then `on_run` sees it (for progress and messages).
pub async fn run_workflows(
    agent: &Agent,
    opened: OpenedRecords,
    spec: &WorkflowRuns<'_>,
    mut on_run: impl FnMut(u32, &WorkflowRecord),
) -> Result<WorkflowOutcome> {
    let OpenedRecords {
        mut writer,
        mut runs,
        ..
    } = opened;
    let plan = todo(spec.runs, &runs);
    let summary = spec.out_dir.join("summary.json");
    let report_path = spec.out_dir.join("llm_report.md");
    let mut llm_report = None;
    runs.reserve(plan.len());
    let made = run_durably(
        &mut writer,
        &plan,
        spec.deadline,
        async |&i| Ok(agent.run_once(i).await),
        |&i, run| {
            if let Some(text) = successful_report(run) {
                write_file(&report_path, text)?;
                llm_report = Some(report_path.clone());
            }
            runs.push(run.clone());
            write_summary(&summary, &runs, spec.corpus_skipped, None)?;
            on_run(i, run);
            Ok(())
        },
    )
    .await?;
    let stopped_early = spec.deadline.filter(|_| made.not_started > 0).map(|d| {
        format!(
            "agentbench: the --deadline of {:.1} s passed: {} of {} run(s) not started; the records written are kept",
            d.limit.as_secs_f64(),
            made.not_started,
            spec.runs
        )
    });
    if stopped_early.is_some() || runs.is_empty() {
        write_summary(
            &summary,
            &runs,
            spec.corpus_skipped,
            stopped_early.as_deref(),
        )?;
    }
    Ok(WorkflowOutcome {
        runs,
        made,
        summary,
        llm_report,
        stopped_early,
    })
}

/// Writes summary.json: the [`RunSummary`] of `runs`, the corpus files skipped
/// (path and reason), and a `stopped_early` message when the deadline cut the
/// invocation short.
fn write_summary(
    path: &Path,
    runs: &[WorkflowRecord],
    corpus_skipped: &[Skipped],
    stopped_early: Option<&str>,
) -> Result<()> {
    let mut value = serde_json::to_value(RunSummary::of(runs))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "corpus_skipped".into(),
            serde_json::to_value(corpus_skipped)?,
        );
        if let Some(why) = stopped_early {
            obj.insert("stopped_early".into(), why.into());
        }
    }
    write_file(path, &serde_json::to_string_pretty(&value)?)
}

fn successful_report(run: &WorkflowRecord) -> Option<&str> {
    run.call(Stage::Report)
        .filter(|c| c.call.is_ok())
        .map(|c| c.call.response.as_str())
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader never
/// sees half a file.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header::new(
            crate::record::Backend {
                url: "http://127.0.0.1:1".into(),
                protocol: "ollama".into(),
                endpoint: crate::client::Endpoint::Generate,
                stub: Some("instant".into()),
            },
            crate::client::ServerInfo::default(),
            "m",
            &crate::client::RequestSettings::default(),
            crate::record::CorpusInfo {
                root: "c".into(),
                stats: Default::default(),
            },
        )
    }

    #[tokio::test]
    async fn appends_each_run_before_the_next_and_stops_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let mut w = RecordWriter::create(&path, &header()).unwrap();
        let plan = [0u32, 1, 2];
        let mut seen = Vec::new();
        let out = run_durably(
            &mut w,
            &plan,
            None,
            async |&i| {
                // Every earlier run is already on disk when the next one starts.
                let on_disk = crate::record::read_records(&path).unwrap().runs.len();
                assert_eq!(on_disk, i as usize);
                Ok(WorkflowRecord::new(i, 1))
            },
            |&i, _| {
                seen.push(i);
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!((out.executed, out.failed, out.not_started), (3, 0, 0));

        let passed = Deadline {
            limit: Duration::from_secs(1),
            at: Instant::now(),
        };
        let out = run_durably(
            &mut w,
            &plan,
            Some(passed),
            async |&i| Ok(WorkflowRecord::new(i, 1)),
            |_, _| Ok(()),
        )
        .await
        .unwrap();
        assert_eq!((out.executed, out.not_started), (0, 3));
        assert_eq!(crate::record::read_records(&path).unwrap().runs.len(), 3);
    }

    #[test]
    fn resume_is_refused_without_the_flag_and_across_measurements() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        let h = header();
        let mut opened = open_records(&path, &h, false).unwrap();
        opened.writer.append(&WorkflowRecord::new(1, 1)).unwrap();
        drop(opened);
        let err = open_records(&path, &h, false).unwrap_err().to_string();
        assert!(err.contains("--resume"), "{err}");
        let mut other = h.clone();
        other.model = "other".into();
        let err = format!("{:#}", open_records(&path, &other, true).unwrap_err());
        assert!(err.contains("model"), "{err}");
        let again = open_records(&path, &h, true).unwrap();
        assert_eq!(again.runs.len(), 1);
        assert_eq!(todo(3, &again.runs), [0, 2]);
    }
}
