//! The `agentbench` binary: parse, run, map errors to exit codes
//! ([`agentbench::cli::main`]).

fn main() -> std::process::ExitCode {
    agentbench::cli::main()
}
