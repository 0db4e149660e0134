//! Runs the agents, round by round, and collects everything into the output folder.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::figures::{agent_figures, ratios, AgentFigures, Ratio};
use super::process::run_measured;
use super::prompts::{verify_prompts, PromptCheck};
use super::report::{table_rows, target_lines, write_peers_report, PeersReportPaths};
use super::schema::Schema;
use super::spec::{AgentCommand, AgentSpec, PeerBackend};
use super::{PeersError, ProcessRecord};
use crate::client::{Endpoint, LlmClient, RequestSettings, ServerInfo, Timeouts};
use crate::record::{Backend, CorpusInfo, Header, Line, RecordWriter, WorkflowRecord};
use crate::stub::{default_addr, serve, RunningStub, StubProfile};

/// What `agentbench peers` does.
#[derive(Debug, Clone)]
pub struct PeersConfig {
    /// The agents, the first being the reference of every ratio and prompt check.
    pub agents: Vec<AgentSpec>,
    /// Workflow runs per process (`--runs N` given to each agent).
    pub runs: u32,
    /// Rounds: each runs every agent once, in a seeded shuffled order.
    pub rounds: u32,
    /// The server.
    pub backend: PeerBackend,
    /// Output folder (created; must not hold a peers.json yet).
    pub out_dir: PathBuf,
    /// Seed of the order shuffle.
    pub seed: u64,
    /// Compare even when prompts differ.
    pub force: bool,
    /// The agentbench binary that `builtin` runs (`agentbench agent …`).
    pub builtin_exe: PathBuf,
    /// Model the embedded stub serves (and the header records).
    pub model: String,
    /// Kill an agent process after this long.
    pub agent_timeout: Option<Duration>,
}

/// What [`run_peers`] produced.
#[derive(Debug, Clone)]
pub struct PeersOutcome {
    /// The output folder.
    pub out_dir: PathBuf,
    /// peers.json.
    pub peers_json: PathBuf,
    /// The report, absent when the comparison was refused.
    pub report: Option<PeersReportPaths>,
    /// Every process measured.
    pub processes: Vec<ProcessRecord>,
    /// Per-agent figures (empty when refused).
    pub figures: Vec<AgentFigures>,
    /// Ratios against the reference agent (empty when refused).
    pub ratios: Vec<Ratio>,
    /// The prompt verification.
    pub prompt_check: PromptCheck,
    /// The comparison was refused because prompts differ (and `force` was off).
    pub refused: bool,
    /// One line per process that failed: a non-zero exit (status, log path, runs
    /// kept), fewer runs recorded than asked, or lines rejected by the schema.
    pub failures: Vec<String>,
    /// Notes for the reader (figures not available, short runs, rejected lines).
    pub notes: Vec<String>,
    /// The side-by-side table's rows (header first), empty when refused.
    pub table: Vec<Vec<String>>,
    /// The targets, one line each (empty when refused).
    pub targets: Vec<String>,
}

/// peers.json.
#[derive(Debug, Serialize)]
struct PeersJson<'a> {
    tool: &'static str,
    version: &'static str,
    backend: String,
    stub_profile: Option<&'static str>,
    url: &'a str,
    runs_per_process: u32,
    rounds: u32,
    seed: u64,
    agents: Vec<AgentJson<'a>>,
    /// Agent names per round, in the order they ran.
    order: Vec<Vec<&'a str>>,
    processes: &'a [ProcessRecord],
    prompt_check: &'a PromptCheck,
    refused: bool,
    failures: &'a [String],
    notes: &'a [String],
    figures: &'a [AgentFigures],
    ratios: &'a [Ratio],
}

#[derive(Debug, Serialize)]
struct AgentJson<'a> {
    name: &'a str,
    command: &'a str,
    records: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PeersError + '_ {
    move |source| PeersError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs every agent `rounds` times against one backend and writes the output
/// folder: `agents/<name>/round-<r>.jsonl|.log` (each process's FILE and log),
/// `agents/<name>/records.jsonl` (all its runs behind a harness header, rounds in
/// `round`, readable by `agentbench report` and `compare`), `peers.json` (every raw
/// measurement, the prompt check, figures and ratios) and, unless prompts differ
/// without `force`, `index.html` and `peers.md`.
pub fn run_peers(cfg: &PeersConfig) -> Result<PeersOutcome, PeersError> {
    if cfg.agents.is_empty() {
        return Err(PeersError::NoAgents);
    }
    if cfg.runs == 0 {
        return Err(PeersError::Zero("--runs"));
    }
    if cfg.rounds == 0 {
        return Err(PeersError::Zero("--rounds"));
    }
    let mut names = BTreeSet::new();
    for a in &cfg.agents {
        if !names.insert(a.name.as_str()) {
            return Err(PeersError::DuplicateAgent(a.name.clone()));
        }
    }
    let peers_json = cfg.out_dir.join("peers.json");
    if peers_json.exists() {
        return Err(PeersError::OutExists(peers_json));
    }
    std::fs::create_dir_all(&cfg.out_dir).map_err(io(&cfg.out_dir))?;
    let schema = Schema::workflow()?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PeersError::Setup(format!("cannot start a runtime: {e}")))?;
    let stub: Option<RunningStub> = match cfg.backend.stub_profile() {
        Some(name) => {
            let kind = crate::stub::kind_for(name);
            let profile = StubProfile::named(name)
                .map_err(crate::stub::StubError::from)?
                .with_models([cfg.model.as_str()]);
            Some(runtime.block_on(serve(default_addr(0), profile, kind))?)
        }
        None => None,
    };
    let url = match (&stub, &cfg.backend) {
        (Some(s), _) => s.url().to_string(),
        (None, PeerBackend::Url(u)) => u.clone(),
        (None, b) => return Err(PeersError::Setup(format!("no stub started for {b}"))),
    };
    let server = runtime.block_on(async {
        match LlmClient::new(&url, Timeouts::default()) {
            Ok(c) => c
                .server_info(&cfg.model)
                .await
                .unwrap_or_else(|e| ServerInfo {
                    notes: vec![e.to_string()],
                    ..ServerInfo::default()
                }),
            Err(e) => ServerInfo {
                notes: vec![e.to_string()],
                ..ServerInfo::default()
            },
        }
    });

    let plan = crate::sweep::interleaved(cfg.agents.len(), cfg.rounds, cfg.seed);
    let mut order: Vec<Vec<&str>> = vec![Vec::new(); cfg.rounds as usize];
    let mut processes = Vec::with_capacity(plan.len());
    let mut runs: Vec<Vec<WorkflowRecord>> = vec![Vec::new(); cfg.agents.len()];
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    for slot in &plan {
        let agent = &cfg.agents[slot.config];
        let round_order = &mut order[slot.round as usize];
        let position = round_order.len() as u32;
        round_order.push(agent.name.as_str());
        let dir = cfg.out_dir.join("agents").join(&agent.name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let file = dir.join(format!("round-{}.jsonl", slot.round));
        let log = dir.join(format!("round-{}.log", slot.round));
        let mut command: Vec<String> = match &agent.command {
            AgentCommand::Builtin => vec![
                cfg.builtin_exe.display().to_string(),
                "agent".to_string(),
                "--model".to_string(),
                cfg.model.clone(),
            ],
            AgentCommand::External(words) => words.clone(),
        };
        command.extend([
            "--base-url".to_string(),
            url.clone(),
            "--runs".to_string(),
            cfg.runs.to_string(),
            "--out".to_string(),
            file.display().to_string(),
        ]);
        let usage = run_measured(
            std::ffi::OsStr::new(&command[0]),
            &command[1..],
            &log,
            cfg.agent_timeout,
        )
        .map_err(|source| PeersError::Spawn {
            agent: agent.name.clone(),
            program: command[0].clone(),
            source,
        })?;
        let (first, seen) = match &stub {
            Some(s) => {
                let end = usage.started + usage.wall;
                let seen: Vec<_> = s
                    .requests()
                    .into_iter()
                    .filter(|r| r.instant >= usage.started && r.instant <= end)
                    .collect();
                let first = seen.first().map(|r| {
                    (
                        crate::clock::nanos(r.instant - usage.started),
                        format!("{} {}", r.method, r.path),
                    )
                });
                (first, Some(seen.len()))
            }
            None => (None, None),
        };
        let (mut got, rejected) = read_agent_lines(&file, &schema);
        for r in &mut got {
            r.round = Some(slot.round);
        }
        if !usage.exit.success() {
            failures.push(format!(
                "agent {:?} round {}: {}{}; log: {}; {} run(s) it recorded are kept",
                agent.name,
                slot.round,
                usage.exit,
                if usage.timed_out {
                    " (killed at --agent-timeout)"
                } else {
                    ""
                },
                log.display(),
                got.len()
            ));
        } else if got.len() < cfg.runs as usize {
            failures.push(format!(
                "agent {:?} round {}: exited 0 but recorded {} of {} runs ({})",
                agent.name,
                slot.round,
                got.len(),
                cfg.runs,
                file.display()
            ));
        }
        if !rejected.is_empty() {
            failures.push(format!(
                "agent {:?} round {}: {} line(s) of {} rejected (first: {})",
                agent.name,
                slot.round,
                rejected.len(),
                file.display(),
                rejected[0]
            ));
        }
        processes.push(ProcessRecord {
            agent: agent.name.clone(),
            round: slot.round,
            position,
            command,
            exit: usage.exit,
            timed_out: usage.timed_out,
            wall_ns: crate::clock::nanos(usage.wall),
            user_ns: crate::clock::nanos(usage.user),
            sys_ns: crate::clock::nanos(usage.sys),
            peak_rss_bytes: usage.peak_rss_bytes,
            start_to_first_request_ns: first.as_ref().map(|f| f.0),
            first_request: first.map(|f| f.1),
            requests: seen,
            records_file: file,
            log_file: log,
            runs_recorded: got.len(),
            rejected_lines: rejected,
        });
        runs[slot.config].extend(got);
    }
    if let Some(s) = stub {
        runtime.block_on(s.shutdown());
    } else {
        notes.push(format!(
            "start to first request is not available against {url}: agentbench sees the arrivals of its own stubs only (use --backend instant or paced)"
        ));
    }

    // One record file per agent, behind a harness header.
    let backend = Backend {
        url: url.clone(),
        protocol: "ollama".into(),
        endpoint: Endpoint::Generate,
        stub: cfg.backend.stub_profile().map(str::to_string),
    };
    let corpus = CorpusInfo {
        root: "(as ingested by each agent)".into(),
        stats: Default::default(),
    };
    let header = Header::new(
        backend,
        server,
        &cfg.model,
        &RequestSettings::default(),
        corpus,
    );
    let mut agent_json = Vec::new();
    for (a, rs) in cfg.agents.iter().zip(&runs) {
        let path = cfg
            .out_dir
            .join("agents")
            .join(&a.name)
            .join("records.jsonl");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut w = RecordWriter::create(&path, &header)?;
        for r in rs {
            w.append(r)?;
        }
        agent_json.push(AgentJson {
            name: &a.name,
            command: &a.given,
            records: path,
        });
    }

    let per_agent: Vec<(&str, &[WorkflowRecord])> = cfg
        .agents
        .iter()
        .zip(&runs)
        .map(|(a, r)| (a.name.as_str(), r.as_slice()))
        .collect();
    let prompt_check = verify_prompts(&per_agent);
    let refused = !prompt_check.ok() && !cfg.force;
    let (figures, ratios) = if refused {
        (Vec::new(), Vec::new())
    } else {
        let figures: Vec<AgentFigures> = cfg
            .agents
            .iter()
            .zip(&runs)
            .map(|(a, rs)| {
                let procs: Vec<&ProcessRecord> =
                    processes.iter().filter(|p| p.agent == a.name).collect();
                agent_figures(&a.name, &procs, rs)
            })
            .collect();
        let ratios = ratios(&figures);
        (figures, ratios)
    };
    let doc = PeersJson {
        tool: "agentbench peers",
        version: env!("CARGO_PKG_VERSION"),
        backend: cfg.backend.to_string(),
        stub_profile: cfg.backend.stub_profile(),
        url: &url,
        runs_per_process: cfg.runs,
        rounds: cfg.rounds,
        seed: cfg.seed,
        agents: agent_json,
        order,
        processes: &processes,
        prompt_check: &prompt_check,
        refused,
        failures: &failures,
        notes: &notes,
        figures: &figures,
        ratios: &ratios,
    };
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| PeersError::Setup(format!("cannot encode peers.json: {e}")))?;
    std::fs::write(&peers_json, text).map_err(io(&peers_json))?;
    let ctx = super::report::ReportContext {
        backend: &cfg.backend,
        url: &url,
        runs: cfg.runs,
        rounds: cfg.rounds,
        agents: &cfg.agents,
        processes: &processes,
        figures: &figures,
        ratios: &ratios,
        prompt_check: &prompt_check,
        failures: &failures,
        notes: &notes,
    };
    let (report, table, targets) = if refused {
        (None, Vec::new(), Vec::new())
    } else {
        (
            Some(write_peers_report(&ctx, &cfg.out_dir)?),
            table_rows(&ctx),
            target_lines(&ctx),
        )
    };
    Ok(PeersOutcome {
        out_dir: cfg.out_dir.clone(),
        peers_json,
        report,
        processes,
        figures,
        ratios,
        prompt_check,
        refused,
        failures,
        notes,
        table,
        targets,
    })
}

/// Reads an agent's FILE: `"kind":"workflow"` lines that match the schema and
/// decode; other kinds are ignored; everything else is rejected with its reason.
/// A missing file is no runs.
fn read_agent_lines(path: &Path, schema: &Schema) -> (Vec<WorkflowRecord>, Vec<String>) {
    let mut runs = Vec::new();
    let mut rejected = Vec::new();
    let Ok(f) = std::fs::File::open(path) else {
        return (runs, rejected);
    };
    for (i, line) in BufReader::new(f).split(b'\n').enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                rejected.push(format!("line {n}: {e}"));
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                rejected.push(format!("line {n}: not JSON: {e}"));
                continue;
            }
        };
        if value.get("kind").and_then(Value::as_str) != Some("workflow") {
            continue;
        }
        let errors = schema.validate(&value);
        if !errors.is_empty() {
            let more = if errors.len() > 1 {
                format!(" (+{} more)", errors.len() - 1)
            } else {
                String::new()
            };
            rejected.push(format!("line {n}: {}{more}", errors[0]));
            continue;
        }
        match serde_json::from_value::<Line>(value) {
            Ok(Line::Workflow(w)) => runs.push(*w),
            Ok(Line::Header(_)) => {}
            Err(e) => rejected.push(format!("line {n}: {e}")),
        }
    }
    (runs, rejected)
}
