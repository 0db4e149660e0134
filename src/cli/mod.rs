//! The command line: clap options → library calls. `main.rs` only parses, runs and
//! maps errors to exit codes.

mod run;
mod table;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use run::{run, RunOutcome, FALLBACK_STUB_PROFILE};

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
    /// Serve an Ollama-compatible stub on 127.0.0.1 until interrupted.
    Stub(StubArgs),
    /// Generate a benchmark corpus like mock-data/ (deterministic for a seed).
    Corpus(CorpusArgs),
}

/// Which embedded stub to run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StubChoice {
    /// Zero latency (wiremock): measures the harness's own overhead.
    Instant,
    /// Paced stream with realistic TTFT and inter-chunk gaps.
    Paced,
}

/// `agentbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Workflow runs to perform.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Ollama server URL (overrides OLLAMA_HOST; default http://127.0.0.1:11434).
    #[arg(long, conflicts_with = "stub")]
    pub base_url: Option<String>,
    /// Run against an embedded stub instead of a server.
    #[arg(long, value_enum)]
    pub stub: Option<StubChoice>,
    /// Model to call.
    #[arg(long, default_value = "gemma3:latest", env = "AGENTBENCH_MODEL")]
    pub model: String,
    /// Generation option key=value (num_gpu, num_ctx, temperature, num_predict,
    /// seed, top_p, top_k, repeat_penalty, keep_alive); repeatable.
    #[arg(long = "option", short = 'o', value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Use /api/chat instead of /api/generate.
    #[arg(long)]
    pub chat: bool,
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
    /// Stub profile: instant, paced or realistic.
    #[arg(long, default_value = "realistic")]
    pub profile: String,
    /// Model name the stub serves (others get 404 like Ollama).
    #[arg(long, default_value = "gemma3:latest")]
    pub model: String,
    /// Print each request's arrival to stderr as `REQUEST <unix_ns> <method> <path>`
    /// (the stub's own arrival record; polled every 2 ms, so the lines may lag but the
    /// times do not). Used by scripts/measure_process.sh.
    #[arg(long)]
    pub log_requests: bool,
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

/// Runs a parsed command line. Returns the process exit code on success.
pub fn execute(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
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
    let kind = stub_kind(&args.profile);
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
                for r in stub.requests() {
                    if last.is_some_and(|l| r.instant <= l) {
                        continue;
                    }
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

/// The server that serves a named profile: wiremock for the zero-latency `instant`
/// profile, the paced streaming server for every paced one.
fn stub_kind(profile: &str) -> crate::stub::StubKind {
    if profile == "instant" {
        crate::stub::StubKind::Instant
    } else {
        crate::stub::StubKind::Paced
    }
}
