//! `agentbench` built with the `plant-slowdown` test fixture (a busy-wait of
//! `AGENTBENCH_PLANT_NS` per content chunk in the client decode path). Only built
//! when asked for (`cargo build --bin agentbench-planted --features plant-slowdown`):
//! a binary of its own name, so that building it beside the test build does not
//! replace `target/<profile>/agentbench` (tests/commits.rs).

fn main() -> std::process::ExitCode {
    agentbench::cli::main()
}
