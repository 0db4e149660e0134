//! `agentbench peers` (agents side by side, measured from outside) and the hidden
//! `agentbench agent` (the built-in agent under the external-agent contract).

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::agent::{Agent, WorkflowConfig};
use crate::client::{resolve_base_url, Endpoint, LlmClient, RequestSettings, Timeouts};
use crate::ingest::{check_root, IngestOptions};
use crate::peers::{run_peers, AgentSpec, PeerBackend, PeersConfig};
use crate::record::RecordWriter;
use crate::runner::run_durably;

/// `agentbench peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// An agent, NAME=CMD (repeatable; the first is the reference of every ratio).
    /// `NAME=builtin` is agentbench's own agent; any other CMD is split into words
    /// like a shell would (quotes honoured, no expansion) and gets
    /// `--base-url URL --runs N --out FILE` appended.
    #[arg(long = "agent", value_name = "NAME=CMD", required = true)]
    pub agents: Vec<String>,
    /// Workflow runs per process.
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Rounds: each runs every agent once, in a seeded shuffled order.
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// The server: instant (zero-latency stub: client costs), paced (stub streaming
    /// on a schedule) or an http:// URL (a real Ollama; start-to-first-request is
    /// then not available).
    #[arg(long, default_value = "instant", value_name = "instant|paced|URL")]
    pub backend: String,
    /// Output folder (default reports/peers/<UTC time>); must not hold a peers.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the order shuffle.
    #[arg(long, default_value_t = 0x5EED)]
    pub seed: u64,
    /// Compare even when the agents' prompts differ.
    #[arg(long)]
    pub force: bool,
    /// Model the embedded stub serves and the built-in agent requests.
    #[arg(long, default_value = "gemma3:latest", env = "AGENTBENCH_MODEL")]
    pub model: String,
    /// Seconds after which an agent process is killed (and reported).
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS")]
    pub agent_timeout: f64,
}

/// `agentbench agent`: the external-agent contract, implemented by the built-in
/// agent: `--base-url URL --runs N --out FILE`, one workflow line appended to FILE
/// per run. Exit 0 when every call completed, 3 when a call failed (recorded),
/// 2 on bad input or an unreachable server.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Server URL.
    #[arg(long)]
    pub base_url: String,
    /// Workflow runs.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// File to append one `"kind":"workflow"` line per run to (created if absent).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Model to call.
    #[arg(long, default_value = "gemma3:latest", env = "AGENTBENCH_MODEL")]
    pub model: String,
    /// Corpus root to ingest.
    #[arg(long, default_value = "mock-data")]
    pub corpus: PathBuf,
}

fn default_out() -> PathBuf {
    let stamp: String = crate::stub::rfc3339_nanos(SystemTime::now())
        .chars()
        .take(19)
        .map(|c| if c == ':' { '-' } else { c })
        .collect();
    PathBuf::from("reports/peers").join(stamp)
}

/// Runs `agentbench peers`: 0 when every process exited 0 with all its runs and
/// prompts agree; 3 when an agent failed (non-zero exit, runs missing, or lines
/// rejected by the schema; everything recorded is kept); 2 on bad input or
/// differing prompts (without `--force`).
pub fn run_peers_cli(args: &PeersArgs) -> Result<ExitCode> {
    let agents = args
        .agents
        .iter()
        .map(|a| AgentSpec::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let backend = PeerBackend::parse(&args.backend)?;
    let agent_timeout = Duration::try_from_secs_f64(args.agent_timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--agent-timeout must be a positive number of seconds, got {}",
                args.agent_timeout
            )
        })?;
    let builtin_exe = std::env::current_exe().context("cannot locate the agentbench binary")?;
    let cfg = PeersConfig {
        agents,
        runs: args.runs,
        rounds: args.rounds,
        backend,
        out_dir: args.out.clone().unwrap_or_else(default_out),
        seed: args.seed,
        force: args.force,
        builtin_exe,
        model: args.model.clone(),
        agent_timeout: Some(agent_timeout),
    };
    let o = run_peers(&cfg).with_context(|| format!("peers into {}", cfg.out_dir.display()))?;
    for n in &o.notes {
        eprintln!("agentbench peers: note: {n}");
    }
    for f in &o.failures {
        eprintln!("agentbench peers: {f}");
    }
    if o.refused {
        for i in o.prompt_check.issues.iter().take(20) {
            eprintln!("agentbench peers: {i}");
        }
        if o.prompt_check.issues.len() > 20 {
            eprintln!("… {} more", o.prompt_check.issues.len() - 20);
        }
        eprintln!(
            "agentbench peers: refusing to compare: the agents' prompts differ (with a real model the report prompt depends on the analysis response: fix seed and temperature), or pass --force; raw measurements are in {}",
            o.peers_json.display()
        );
        return Ok(ExitCode::from(2));
    }
    print!("{}", super::table::render(&o.table));
    for t in &o.targets {
        println!("{t}");
    }
    println!("peers.json: {}", o.peers_json.display());
    if let Some(r) = &o.report {
        println!("HTML:       {}", r.html.display());
        println!("Markdown:   {}", r.markdown.display());
    }
    if !o.failures.is_empty() {
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `agentbench agent` (see [`AgentArgs`]).
pub fn run_agent_cli(args: &AgentArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(agent(args))
}

async fn agent(args: &AgentArgs) -> Result<ExitCode> {
    let url = resolve_base_url(Some(&args.base_url), None)?;
    check_root(&args.corpus)
        .with_context(|| format!("cannot ingest the corpus at {}", args.corpus.display()))?;
    let client = LlmClient::new(&url, Timeouts::default())?;
    // First request: fail fast on a dead server, as `run` does.
    if let Err(e) = client.probe(Duration::from_secs(5)).await {
        bail!("the server at --base-url does not answer: {e}");
    }
    let agent = Agent::new(
        client,
        WorkflowConfig {
            corpus_root: args.corpus.clone(),
            ingest: IngestOptions::default(),
            model: args.model.clone(),
            settings: RequestSettings::default(),
            endpoint: Endpoint::Generate,
        },
    )?;
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .with_context(|| format!("cannot open {}", args.out.display()))?;
    // The external-agent protocol: workflow lines only (peers writes the header), each
    // appended and fsynced by the library's durable loop.
    let mut writer = RecordWriter::append_to(&args.out)?;
    let plan: Vec<u32> = (0..args.runs).collect();
    let made = run_durably(
        &mut writer,
        &plan,
        None,
        async |&i| Ok(agent.run_once(i).await),
        |i, run| {
            if let Some(f) = &run.failure {
                eprintln!("run {i}: {f}");
            }
            Ok(())
        },
    )
    .await?;
    Ok(if made.failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
