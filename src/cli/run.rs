//! `agentbench run`: the main job.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::table::stage_table;
use super::RunArgs;
use crate::agent::{Agent, PendingIngest, WorkflowConfig};
use crate::client::{resolve_base_url, LlmClient, Probed, RequestSettings, Timeouts};
use crate::ingest::{check_root, IngestOptions};
use crate::metrics::RunSummary;
use crate::record::{Backend, CorpusInfo, Header};
use crate::runner::{self, open_records, Deadline, WorkflowRuns};
use crate::stub::{default_addr, serve, RunningStub, StubProfile};

/// Where a run's outputs went.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The output folder.
    pub out_dir: PathBuf,
    /// The JSONL record file.
    pub records: PathBuf,
    /// The summary JSON.
    pub summary: PathBuf,
    /// The LLM's last report, when a report call succeeded.
    pub llm_report: Option<PathBuf>,
    /// The HTML report rendered from the record file.
    pub html: PathBuf,
    /// The summary of all runs (earlier ones included when resuming).
    pub run_summary: RunSummary,
    /// Set when `--deadline` stopped the invocation before all runs: why, and
    /// how many runs were not started.
    pub stopped_early: Option<String>,
}

/// The profile used when no server is reachable and no backend was named: the paced
/// stub replaying a recorded llama.cpp stream (see `StubProfile::named("replay")`).
pub const FALLBACK_STUB_PROFILE: &str = "replay";

/// The server a run measures, and the stub that serves it when embedded.
pub(super) struct Target {
    /// Base URL.
    pub(super) url: String,
    /// The embedded stub, when the target is one.
    pub(super) stub: Option<RunningStub>,
    /// The client whose probe found the server answering, and what the probe learned
    /// (Ollama: the version; OpenAI-compatible: the `/v1/models` list): reusing it
    /// keeps its open connection and spares a second probe. `None` for an embedded
    /// stub (not probed).
    pub(super) probe: Option<(LlmClient, Probed)>,
}

/// Starts the embedded stub `profile` serving `model` on 127.0.0.1 (port 0): the server
/// [`crate::stub::kind_for`] names (zero-latency instant, fast, capacity or paced). Both run on
/// their own thread, so the stub never shares a thread with the measured client.
async fn start_stub(profile: &str, model: &str) -> Result<Target> {
    let kind = crate::stub::kind_for(profile);
    let profile = StubProfile::named(profile)?.with_models([model]);
    let stub = serve(default_addr(0), profile, kind)
        .await
        .context("cannot start the embedded stub")?;
    Ok(Target {
        url: stub.url().to_string(),
        stub: Some(stub),
        probe: None,
    })
}

fn seconds(flag: &str, v: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} must be a positive number of seconds, got {v}"))
}

/// Runs the workflow `args.runs` times through the library's durable loop
/// ([`runner::run_workflows`]: each run appended and fsynced as it completes, the
/// summary rewritten after each, so an interruption loses at most the run in flight),
/// then prints the table and renders the report.
pub async fn run(args: &RunArgs) -> Result<RunOutcome> {
    let started = Instant::now();
    let deadline = args
        .deadline
        .map(|d| seconds("--deadline", d))
        .transpose()?
        .map(|d| Deadline::after(started, d));
    let protocol = args.server.protocol;
    let settings = RequestSettings::from_pairs(&args.options).context("bad --option")?;
    settings.check_protocol(protocol).context("bad --option")?;
    let timeouts = Timeouts {
        idle: seconds("--idle-timeout", args.idle_timeout)?,
        total: args.timeout.map(|t| seconds("--timeout", t)).transpose()?,
        ..Timeouts::default()
    };
    let ingest_options = IngestOptions {
        max_file_bytes: args.max_file_bytes,
    };
    let corpus_context = || format!("cannot ingest the corpus at {}", args.corpus.display());
    check_root(&args.corpus).with_context(corpus_context)?;
    let model = &args.server.model;
    let endpoint = args.server.endpoint();
    let config = WorkflowConfig {
        corpus_root: args.corpus.clone(),
        ingest: ingest_options,
        model: model.clone(),
        settings: settings.clone(),
        endpoint,
    };
    // The corpus is read on its own thread while the server is probed and asked
    // for its details: the first request goes out within milliseconds of start, a
    // dead server is reported without delay, and the first generate request waits
    // only for the longer of the two.
    let pending = PendingIngest::start(&config);
    let mut target = choose_target(&args.server, args.stub.as_deref(), timeouts).await?;
    // One client for the whole run: the probe's, when there was one, so a
    // sequential run keeps one connection and asks /api/version (or /v1/models) once.
    let (client, probed) = match target.probe.take() {
        Some((client, answer)) => (client, Some(answer)),
        None => (
            LlmClient::new(&target.url, timeouts)?.with_protocol(protocol),
            None,
        ),
    };
    let agent = Agent::new(client.clone(), config)
        .with_context(corpus_context)?
        .with_retries(args.retries);
    let server = client.server_info_after_probe(model, probed).await?;
    // The header's machine facts (/proc, cgroup files) are read while the ingest
    // runs, not after it, on the way to the first generate request.
    crate::provenance::Host::current();
    // The corpus is read once: the first run's ingest, made for the header's
    // statistics (see Agent::ingest_ahead).
    let stats = agent
        .ingest_ahead(pending)
        .await
        .with_context(corpus_context)?;
    let backend = Backend {
        url: target.url.clone(),
        protocol: protocol.name().into(),
        endpoint,
        stub: target.stub.as_ref().map(|s| s.profile().name.clone()),
    };
    let corpus_info = CorpusInfo {
        root: args.corpus.display().to_string(),
        stats,
    };
    let header = Header::new(backend, server, model, &settings, corpus_info);

    let out_dir = args.out.clone().unwrap_or_else(|| default_out_dir(model));
    let records_path = out_dir.join("records.jsonl");
    let opened = open_records(&records_path, &header, args.resume)?;
    if let Some(t) = &opened.torn {
        eprintln!(
            "agentbench: {}: torn last line {} ({} bytes, an interrupted write) skipped and cut; the file as found is kept at {}",
            records_path.display(),
            t.line,
            t.bytes,
            t.saved_to.display()
        );
    }
    for (line, why) in &opened.skipped {
        eprintln!(
            "agentbench: {}: line {line} skipped: {why}",
            records_path.display()
        );
    }
    let todo = runner::todo(args.runs, &opened.runs).len();
    if args.resume && !opened.runs.is_empty() {
        eprintln!(
            "agentbench: resuming {}: {} run(s) already recorded, {todo} to go",
            records_path.display(),
            opened.runs.len(),
        );
    }
    let corpus_skipped = header.corpus.stats.skipped.clone();
    if !corpus_skipped.is_empty() {
        eprintln!(
            "agentbench: {} corpus file(s) skipped, each with its reason in summary.json (first: {}: {})",
            corpus_skipped.len(),
            corpus_skipped[0].path,
            corpus_skipped[0].reason
        );
    }
    let progress = progress_bar(todo as u32);
    let spec = WorkflowRuns {
        runs: args.runs,
        deadline,
        out_dir: &out_dir,
        corpus_skipped: &corpus_skipped,
    };
    let made = runner::run_workflows(&agent, opened, &spec, |i, run| {
        if let Some(failure) = &run.failure {
            progress.suspend(|| eprintln!("run {i}: {failure}"));
        }
        progress.inc(1);
    })
    .await?;
    progress.finish_and_clear();
    if let Some(stub) = target.stub {
        stub.shutdown().await;
    }
    // The runs are over: what they freed goes back before the report is built.
    crate::memory::release_freed();
    let run_summary = RunSummary::of(&made.runs);
    if !args.quiet {
        print!("{}", stage_table(&run_summary));
    }
    if let Some(neg) = run_summary.negative_client_overhead() {
        eprintln!("agentbench: warning: {}", neg.warning());
    }
    let html = super::report::report_files(std::slice::from_ref(&records_path), None, &out_dir)?
        .index_html;
    Ok(RunOutcome {
        out_dir,
        records: records_path,
        summary: made.summary,
        llm_report: made.llm_report,
        html,
        run_summary,
        stopped_early: made.stopped_early,
    })
}

/// Picks the server: a named stub, an explicit URL (must answer), or OLLAMA_HOST /
/// the default when it answers, else the embedded stub (said in one line).
pub(super) async fn choose_target(
    server: &super::ServerArgs,
    stub: Option<&str>,
    timeouts: Timeouts,
) -> Result<Target> {
    let model = &server.model;
    if let Some(profile) = stub {
        return start_stub(profile, model).await;
    }
    let ollama_host = std::env::var("OLLAMA_HOST").ok();
    let base_url = server.base_url.as_deref();
    let url = resolve_base_url(base_url, ollama_host.as_deref())?;
    let probe_client = LlmClient::new(&url, timeouts)?.with_protocol(server.protocol);
    match probe_client.probe_kept(Duration::from_secs(2)).await {
        Ok(answer) => Ok(Target {
            url,
            stub: None,
            probe: Some((probe_client, answer)),
        }),
        Err(e) if base_url.is_some() || ollama_host.is_some() => {
            let from = if base_url.is_some() {
                "--base-url"
            } else {
                "OLLAMA_HOST"
            };
            Err(anyhow::Error::new(e).context(format!(
                "the server named by {from} does not answer (or use --stub instant|paced)"
            )))
        }
        Err(e) => {
            let target = start_stub(FALLBACK_STUB_PROFILE, model).await?;
            eprintln!(
                "agentbench: {e}; running on the embedded stub (profile {FALLBACK_STUB_PROFILE}: {}) at {}: the numbers describe the harness, not a model",
                crate::stub::REPLAY_SOURCE_LINE,
                target.url
            );
            Ok(target)
        }
    }
}

fn progress_bar(runs: u32) -> ProgressBar {
    if runs < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::from(runs));
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} elapsed, ETA {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn default_out_dir(model: &str) -> PathBuf {
    out_dir_under("reports/runs", model)
}

/// `ROOT/<UTC time>-<model>` with the model name made safe for a path.
pub(super) fn out_dir_under(root: &str, model: &str) -> PathBuf {
    let safe: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(root).join(format!("{}-{safe}", utc_stamp(SystemTime::now())))
}

/// `YYYYmmddTHHMMSSZ` in UTC.
fn utc_stamp(t: SystemTime) -> String {
    let s = crate::stub::rfc3339_nanos(t);
    format!(
        "{}{}{}T{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn utc_stamp_matches_known_dates() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        // 2026-11-27T23:34:59Z = 1795822499 s (date -u -d @1795822499).
        let t = UNIX_EPOCH + Duration::from_secs(1_795_822_499);
        assert_eq!(utc_stamp(t), "20261127T233459Z");
        // Leap day 2024-02-29T12:00:00Z = 1709208000.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_208_000);
        assert_eq!(utc_stamp(t), "20240229T120000Z");
    }
}
