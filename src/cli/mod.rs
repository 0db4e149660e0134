//! The command line: clap options → library calls. `main.rs` only parses, runs and
//! maps errors to exit codes.

// The options' doc comments are their `--help` text, where `<UTC time>`, `<model>` and
// `<n>` are placeholders for the reader, not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod capacity;
mod commits;
mod compare;
mod history;
mod icount;
mod load;
mod load_agent;
mod load_trace;
mod peers;
mod report;
mod run;
mod sweep;
mod table;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use capacity::CapacityArgs;
pub use load::{synthetic_prompt, LoadArgs};
pub use peers::{AgentArgs, PeersArgs};
pub use run::{run, RunOutcome, FALLBACK_STUB_PROFILE};
pub use sweep::{sweep, sweep_stub_profile, SweepArgs, SweepCliOutcome};

/// agentbench: benchmark LLM agent workflows served by Ollama, honestly.
#[derive(Debug, Parser)]
#[command(name = "agentbench", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent workflow N times and record every call.
    Run(RunArgs),
    /// Offer load to a server (closed loop, open loop, open loop with a ceiling),
    /// timed from the intended send; exit 5 when the client could not keep up.
    Load(Box<LoadArgs>),
    /// Find the highest rate a server sustains under a percentile SLO, as an
    /// interval from bootstrap bounds, probing rates with the load engine.
    Capacity(CapacityArgs),
    /// Serve a stub speaking Ollama's API and the OpenAI-compatible /v1 routes on
    /// 127.0.0.1 until interrupted.
    Stub(StubArgs),
    /// Generate a benchmark corpus like mock-data/ (deterministic for a seed).
    Corpus(CorpusArgs),
    /// Render the HTML report, summaries and HDR histograms of record files.
    Report(ReportArgs),
    /// Merge HDR histogram files (.us.hdr, one metric) from several runs or machines.
    Merge(MergeArgs),
    /// Merge the shards of a sharded load run (`load --shard I/N --start-at …`)
    /// into one run: checks they belong together (exit 2 naming the folder),
    /// concatenates their records, recomputes every figure, renders one report.
    MergeRuns(load::MergeRunsArgs),
    /// Write a load run's requests as a content-free agentic session trace
    /// (lengths, times, prefix block ids; docs/traces.md) that `load --trace` replays.
    ExportTrace(load_trace::ExportTraceArgs),
    /// Compare two record files metric by metric; exit 1 when anything regressed.
    Compare(CompareArgs),
    /// Sweep options (baseline + num_gpu × num_ctx × temperature), interleaved and
    /// resumable, and write the study's report.
    Sweep(SweepArgs),
    /// Count the instructions of the CPU paths under callgrind and check them against
    /// the committed baseline; exit 1 on an increase above the tolerance.
    Icount(IcountArgs),
    /// Build two revisions and run them alternately against one stub; analyse the
    /// paired per-round differences; exit 1 when B regressed.
    Commits(CommitsArgs),
    /// Keep a performance history across commits: append a commit's medians from a
    /// record file, or draw the trend page.
    History(HistoryArgs),
    /// (internal) Run one instruction-count workload; started by `icount`.
    #[command(hide = true)]
    IcountWorkload(IcountWorkloadArgs),
    /// Run agent implementations side by side against one backend, measured from
    /// outside (start-up, peak RSS, CPU) and from their records; verify their prompts.
    Peers(PeersArgs),
    /// (internal) The built-in agent under the external-agent contract
    /// (`--base-url URL --runs N --out FILE`); started by `peers` for NAME=builtin.
    #[command(hide = true)]
    Agent(AgentArgs),
}

impl Command {
    /// Whether the command was asked to hold the CPUs awake (`--keep-cpus-awake`,
    /// on the commands that measure a server or serve one).
    pub fn keeps_cpus_awake(&self) -> bool {
        match self {
            Command::Run(a) => a.server.cpu_idle.keep_cpus_awake,
            Command::Load(a) => a.target.server.cpu_idle.keep_cpus_awake,
            Command::Capacity(a) => a.target.server.cpu_idle.keep_cpus_awake,
            Command::Sweep(a) => a.server.cpu_idle.keep_cpus_awake,
            Command::Stub(a) => a.cpu_idle.keep_cpus_awake,
            _ => false,
        }
    }
}

/// `agentbench history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: HistoryCommand,
}

/// `agentbench history` subcommands.
#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Append one entry (commit, date, provenance, medians) from a record file.
    Append(HistoryAppendArgs),
    /// Draw the trend of every metric across the entries into DIR/history.html.
    Plot(HistoryPlotArgs),
}

/// `agentbench history append`.
#[derive(Debug, Args)]
pub struct HistoryAppendArgs {
    /// Record file of the commit (e.g. from `agentbench run --stub instant`).
    #[arg(value_name = "RECORDS.jsonl")]
    pub records: PathBuf,
    /// History file (one JSON line per entry).
    #[arg(long, default_value = crate::history::DEFAULT_HISTORY)]
    pub history: PathBuf,
    /// Instruction counts to include (`agentbench icount --json FILE`).
    #[arg(long, value_name = "FILE")]
    pub icount: Option<PathBuf>,
}

/// `agentbench history plot`.
#[derive(Debug, Args)]
pub struct HistoryPlotArgs {
    /// History file.
    #[arg(long, default_value = crate::history::DEFAULT_HISTORY)]
    pub history: PathBuf,
    /// Folder to write history.html into.
    #[arg(long)]
    pub out: PathBuf,
}

/// `agentbench commits`.
#[derive(Debug, Args)]
pub struct CommitsArgs {
    /// Baseline revision.
    #[arg(value_name = "REV_A")]
    pub rev_a: String,
    /// Candidate revision.
    #[arg(value_name = "REV_B")]
    pub rev_b: String,
    /// Rounds (each runs A and B once, order alternating A B, B A, …). The default
    /// with `--runs 20` detected a 5 % client-overhead regression in the
    /// 20-trial study (scripts/detection_power.sh; ~45 s of measuring here).
    #[arg(long, default_value_t = 100)]
    pub rounds: u32,
    /// Workflow runs per binary per round (the round's figure is their median).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Regression threshold on the mean paired change, percent.
    #[arg(long, default_value_t = 3.0)]
    pub threshold: f64,
    /// Cargo features for building A.
    #[arg(long, value_name = "F")]
    pub features_a: Option<String>,
    /// Cargo features for building B (e.g. plant-slowdown, the test fixture).
    #[arg(long, value_name = "F")]
    pub features_b: Option<String>,
    /// Use this already-built binary for A instead of building REV_A (repeated trials).
    #[arg(long, value_name = "PATH")]
    pub bin_a: Option<PathBuf>,
    /// Use this already-built binary for B instead of building REV_B.
    #[arg(long, value_name = "PATH")]
    pub bin_b: Option<PathBuf>,
    /// Stub profile served to both (the zero-latency `instant` measures the client).
    #[arg(long, default_value = "instant")]
    pub profile: String,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0x5EED_5EED_5EED_5EED)]
    pub seed: u64,
    /// Do not pin the stub and the binaries to separate CPUs (pinned by default on
    /// Linux with two or more CPUs: it removes a placement bimodality).
    #[arg(long)]
    pub no_pin: bool,
    /// Write per-round figures and results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `agentbench icount`.
#[derive(Debug, Args)]
pub struct IcountArgs {
    /// Baseline file (instructions per iteration, per workload).
    #[arg(long, default_value = "benches/icount-baseline.json")]
    pub baseline: PathBuf,
    /// Rewrite the baseline with the measured counts instead of checking.
    #[arg(long)]
    pub update: bool,
    /// Allowed increase, percent.
    #[arg(long, default_value_t = 2.0)]
    pub tolerance: f64,
    /// Workloads to measure (default: all): ingest, prompts, decode, stats.
    #[arg(long)]
    pub workload: Vec<String>,
    /// Corpus the ingest and prompt workloads read.
    #[arg(long, default_value = "mock-data")]
    pub corpus: PathBuf,
    /// Also write the measured counts as JSON (`{"instructions": {...}}`), e.g. for
    /// `agentbench history append --icount FILE`.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Plant extra work of this percent of the baseline (to test the gate itself).
    #[arg(long, default_value_t = 0.0, hide = true)]
    pub plant_pct: f64,
}

/// `agentbench icount-workload`.
#[derive(Debug, Args)]
pub struct IcountWorkloadArgs {
    /// Workload name.
    pub workload: String,
    /// Iterations of the measured body.
    #[arg(long, default_value_t = 1)]
    pub iterations: u32,
    /// Steps of planted work per iteration.
    #[arg(long, default_value_t = 0)]
    pub plant_steps: u64,
    /// Corpus root.
    #[arg(long, default_value = "mock-data")]
    pub corpus: PathBuf,
}

/// `agentbench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline record file.
    #[arg(value_name = "BASE.jsonl")]
    pub baseline: PathBuf,
    /// Candidate record file.
    #[arg(value_name = "CAND.jsonl")]
    pub candidate: PathBuf,
    /// Noise threshold override, metric=percent (repeatable), e.g. analysis.ttft_ms=10.
    #[arg(long, value_name = "METRIC=PCT")]
    pub threshold: Vec<String>,
    /// Write the comparison as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the candidate's figures in Bencher Metric Format.
    #[arg(long, value_name = "FILE")]
    pub bmf: Option<PathBuf>,
    /// Compare even when model, server, options, prompts or harness version differ.
    #[arg(long)]
    pub force: bool,
}

/// `agentbench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Record files (records.jsonl) written by `agentbench run` or the benches.
    #[arg(required = true, value_name = "RECORDS.jsonl")]
    pub records: Vec<PathBuf>,
    /// Folder to write index.html, summary.md, summary.csv and hdr/ into.
    #[arg(long)]
    pub out: PathBuf,
    /// Add the trend across commits from this history file to index.html.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

/// `agentbench merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// V2 histogram files of the same metric (e.g. */hdr/*-ttft.us.hdr).
    #[arg(required = true, value_name = "FILE.us.hdr")]
    pub inputs: Vec<PathBuf>,
    /// The merged V2 file to write; its .ms.hgrm text is written beside it.
    #[arg(long)]
    pub out: PathBuf,
}

/// The server flags of every command that calls a server (`run`, `sweep`).
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Server URL (overrides OLLAMA_HOST; default http://127.0.0.1:11434).
    #[arg(long, conflicts_with = "stub")]
    pub base_url: Option<String>,
    /// Wire protocol: ollama (/api/generate, /api/chat; NDJSON) or openai
    /// (/v1/completions, /v1/chat/completions; SSE): llama.cpp's llama-server, vLLM,
    /// Ollama's /v1. The same --option names work for both (num_predict is sent as
    /// max_tokens); num_ctx, num_gpu and keep_alive are Ollama-only.
    #[arg(long, default_value = "ollama", value_name = "ollama|openai")]
    pub protocol: crate::client::Protocol,
    /// Model to call.
    #[arg(long, default_value = "gemma3:latest", env = "AGENTBENCH_MODEL")]
    pub model: String,
    /// Use the chat endpoint (/api/chat, /v1/chat/completions) instead of the
    /// completion one (/api/generate, /v1/completions).
    #[arg(long)]
    pub chat: bool,
    /// The CPUs' idle states while the command runs.
    #[command(flatten)]
    pub cpu_idle: CpuIdleArgs,
}

/// `--keep-cpus-awake`, on the commands that measure a server or serve one.
#[derive(Debug, Clone, Args)]
pub struct CpuIdleArgs {
    /// Hold the CPUs out of their idle states for the whole command: a 0 µs PM QoS
    /// request on /dev/cpu_dma_latency (needs write access to it, e.g. root), so an
    /// idle CPU polls and waking it for a request or a response costs no idle-state
    /// exit (about 25 µs a wake-up on a VM whose vCPUs halt). Affects every process
    /// on the machine, the server included, while held; the record's host says so.
    #[arg(long)]
    pub keep_cpus_awake: bool,
}

impl ServerArgs {
    /// The endpoint `--chat` selects.
    pub fn endpoint(&self) -> crate::client::Endpoint {
        if self.chat {
            crate::client::Endpoint::Chat
        } else {
            crate::client::Endpoint::Generate
        }
    }
}

/// `agentbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Workflow runs to perform.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Server, protocol, model and endpoint.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Run against an embedded stub instead of a server: instant (zero latency,
    /// the harness's own cost), paced (TTFT 200 ms, 50 gaps of 20 ms), realistic
    /// (TTFT ~150 ms, 100 jittered ~8 ms gaps) or replay (one recorded llama.cpp
    /// stream, the default fallback), or fault:NAME to inject a server
    /// fault (refused, not-found, http-500, error-mid-stream, truncate, no-metrics,
    /// malformed-line, invalid-utf8, split-utf8, stall, slow-drip, oversized-line,
    /// close-before-headers, html-payload), or the load-test stubs fast and
    /// capacity, with parameters such as fast:chunks=N or
    /// capacity:slots=S,prefill=P,decode=D,tokens=T (see `agentbench stub --help`).
    #[arg(long, value_name = "PROFILE")]
    pub stub: Option<String>,
    /// Generation option key=value (num_gpu, num_ctx, temperature, num_predict,
    /// seed, top_p, top_k, repeat_penalty, keep_alive); repeatable.
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Corpus root to ingest.
    #[arg(long, default_value = "mock-data")]
    pub corpus: PathBuf,
    /// Output folder (default: reports/runs/<UTC time>-<model>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seconds to wait for headers or for the next chunk before a call times out.
    #[arg(long, default_value_t = 300.0)]
    pub idle_timeout: f64,
    /// Overall seconds allowed per call (default: no limit beyond the idle timeout).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Do not print the per-stage table.
    #[arg(long)]
    pub quiet: bool,
    /// Overall deadline in seconds for the whole invocation: no run starts after
    /// it (a run in flight finishes); what was written is kept, the summary says
    /// so, and the exit code is 4.
    #[arg(long, value_name = "SECONDS")]
    pub deadline: Option<f64>,
    /// Retry a failed call up to N more times (0: off). A retried call's record
    /// has `attempt` > 1 and the earlier errors in `retried_errors`.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retries: u32,
    /// Continue an interrupted invocation: when --out already holds records.jsonl
    /// with a matching header (model, settings, endpoint, backend), run only the
    /// missing run indices and append. A torn last line is reported, copied to
    /// records.jsonl.torn-<n> and cut.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Corpus files larger than this many bytes are skipped with the reason.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_file_bytes: u64,
}

/// `agentbench stub`.
#[derive(Debug, Args)]
pub struct StubArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 11434)]
    pub port: u16,
    /// Address to bind (loopback unless you say otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Stub profile: instant, paced, realistic, sweep, replay (a recorded
    /// llama.cpp stream), fault:NAME, fast (pre-rendered bytes for load tests;
    /// parameters e.g. fast:chunks=64,pause=1s@2s) or capacity (S slots, FIFO
    /// queue, prefill/decode tokens/s per slot; e.g.
    /// capacity:slots=2,prefill=4000,decode=200,tokens=32,jitter=0.2,seed=7,pause=1s@2s;
    /// pause=D@T stalls once for D, T after the first generation). fast and
    /// capacity count requests at GET /stub/stats.
    #[arg(long, default_value = "realistic")]
    pub profile: String,
    /// Model name the stub serves (others get 404 like Ollama).
    #[arg(long, default_value = "gemma3:latest")]
    pub model: String,
    /// Print each request's arrival to stderr as `REQUEST <unix_ns> <method> <path>`
    /// (the stub's own arrival record; polled every 2 ms, so the lines may lag but the
    /// times do not). Used by scripts/measure_process.sh. Not for fast and capacity,
    /// which keep no per-request log (see GET /stub/stats).
    #[arg(long)]
    pub log_requests: bool,
    /// The CPUs' idle states while the command runs.
    #[command(flatten)]
    pub cpu_idle: CpuIdleArgs,
}

/// `agentbench corpus`.
#[derive(Debug, Args)]
pub struct CorpusArgs {
    /// Folder to write (created; existing files with the same names are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Generator seed; mock-data/ was made with 112.
    #[arg(long, default_value_t = 112)]
    pub seed: u64,
}

/// The whole `agentbench` binary: parses the command line, runs it, maps an error
/// to exit code 2 (with one `agentbench: error:` line). Shared by `src/main.rs` and
/// the `agentbench-planted` test fixture, so both are the same program.
pub fn main() -> std::process::ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("agentbench: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, so `agentbench … | head` would panic on the first write
/// after `head` exits. A command-line tool should end quietly instead, as `cat` does.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs a parsed command line. Returns the process exit code on success.
pub fn execute(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    // Held until the command returns; every record written meanwhile says so.
    let _awake = if cli.command.keeps_cpus_awake() {
        let hold = crate::cpu_idle::AwakeCpus::hold()?;
        eprintln!(
            "holding the CPUs awake until this command ends ({}: {})",
            crate::cpu_idle::LATENCY_DEVICE,
            crate::cpu_idle::CpuIdle::current().describe()
        );
        Some(hold)
    } else {
        None
    };
    match cli.command {
        Command::Run(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let outcome = runtime.block_on(run(&args))?;
            println!("records:    {}", outcome.records.display());
            println!("summary:    {}", outcome.summary.display());
            if let Some(report) = &outcome.llm_report {
                println!("LLM report: {}", report.display());
            }
            println!("HTML:       {}", outcome.html.display());
            if let Some(why) = &outcome.stopped_early {
                eprintln!("{why}");
                return Ok(std::process::ExitCode::from(4));
            }
            let failed = outcome.run_summary.runs - outcome.run_summary.runs_ok;
            if failed > 0 {
                eprintln!(
                    "{failed} of {} runs had a failed call (see the records)",
                    outcome.run_summary.runs
                );
                return Ok(std::process::ExitCode::from(3));
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Report(args)
            if args.records.len() == 1 && crate::load::is_load_file(&args.records[0]) =>
        {
            report::load_report(&args.records[0], &args.out)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Report(args) => {
            let paths = report::report_files(&args.records, args.history.as_deref(), &args.out)?;
            println!("HTML:       {}", paths.index_html.display());
            println!("summary:    {}", paths.summary_md.display());
            println!("CSV:        {}", paths.summary_csv.display());
            println!(
                "histograms: {} files under {}",
                paths.histograms.len(),
                args.out.join("hdr").display()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Compare(args) => compare::run_compare(&args),
        Command::Load(args) => load::run_load_cli(&args),
        Command::Capacity(args) => capacity::run_capacity_cli(&args),
        Command::MergeRuns(args) => load::run_merge_runs_cli(&args),
        Command::ExportTrace(args) => load_trace::run_export_trace_cli(&args),
        Command::Icount(args) => icount::run_icount(&args),
        Command::Commits(args) => commits::run_commits(&args),
        Command::History(args) => history::run_history(&args),
        Command::IcountWorkload(args) => icount::run_icount_workload(&args),
        Command::Peers(args) => peers::run_peers_cli(&args),
        Command::Agent(args) => peers::run_agent_cli(&args),
        Command::Merge(args) => {
            let merged = crate::report::hdr_files::merge_hdr_files(&args.inputs, &args.out)?;
            println!(
                "merged {} files: {} samples, p50 {} µs, p99 {} µs",
                args.inputs.len(),
                merged.histogram.len(),
                merged.histogram.value_at_quantile(0.5),
                merged.histogram.value_at_quantile(0.99)
            );
            println!("V2:   {}", merged.hdr.display());
            println!("hgrm: {}", merged.hgrm.display());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Sweep(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let o = runtime.block_on(sweep(&args))?;
            println!(
                "sweep: {} runs made, {} already recorded, {} with a failed call, in {:.1} s",
                o.outcome.executed,
                o.outcome.already_done,
                o.outcome.failed,
                o.wall.as_secs_f64()
            );
            if o.outcome.torn_bytes > 0 {
                eprintln!(
                    "a torn last line ({} bytes) was removed from {} and saved beside it",
                    o.outcome.torn_bytes,
                    o.paths.records.display()
                );
            }
            for (line, reason) in &o.outcome.skipped_lines {
                eprintln!("{}:{line}: skipped: {reason}", o.paths.records.display());
            }
            let w: Vec<String> = o.warnings.iter().map(|(t, n)| format!("{n} {t}")).collect();
            println!("warnings:   {}", w.join(", "));
            println!("records:    {}", o.paths.records.display());
            println!("plan:       {}", o.paths.plan.display());
            println!("report:     {}", o.report.markdown.display());
            println!("HTML:       {}", o.report.html.display());
            if o.outcome.failed > 0 {
                return Ok(std::process::ExitCode::from(3));
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Stub(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve_stub(&args))?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Corpus(args) => {
            let made = crate::corpus::generate(&args.out, args.seed)?;
            println!(
                "wrote {} files ({} CSV, {} JSON, {} Markdown, {} bytes) to {} with seed {}",
                made.files,
                made.csv,
                made.json,
                made.markdown,
                made.bytes,
                args.out.display(),
                args.seed
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// Serves a stub until ctrl-c. The first line on stdout is the bound address
/// (`127.0.0.1:PORT`), so another program can read where to connect.
async fn serve_stub(args: &StubArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let kind = crate::stub::kind_for(&args.profile);
    let profile =
        crate::stub::StubProfile::named(&args.profile)?.with_models([args.model.as_str()]);
    let addr = std::net::SocketAddr::new(args.bind, args.port);
    let stub = crate::stub::serve(addr, profile, kind).await?;
    println!("{}", stub.addr());
    std::io::stdout().flush()?;
    eprintln!(
        "agentbench stub: profile {} ({}) serving {} at {}; ctrl-c stops it",
        args.profile,
        kind,
        args.model,
        stub.url()
    );
    if args.log_requests {
        log_requests_until_ctrl_c(&stub).await?;
        stub.shutdown().await;
    } else {
        stub.run_until_ctrl_c().await?;
    }
    Ok(())
}

/// Prints every new arrival the stub recorded until ctrl-c.
async fn log_requests_until_ctrl_c(stub: &crate::stub::RunningStub) -> anyhow::Result<()> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(2));
    let mut last: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            r = &mut ctrl_c => return r.map_err(Into::into),
            _ = tick.tick() => {
                // Only the arrivals after the last one printed are copied.
                for r in stub.requests_after(last) {
                    let ns = r
                        .at
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    eprintln!("REQUEST {ns} {} {}", r.method, r.path);
                    last = Some(r.instant);
                }
            }
        }
    }
}
