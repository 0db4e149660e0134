//! The `agentbench` binary: parse, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = agentbench::cli::Cli::parse();
    match agentbench::cli::execute(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("agentbench: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
