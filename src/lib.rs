//! agentbench: a benchmark harness for LLM agent workflows served by Ollama.
//!
//! Data flows one way: raw records ([`record`], [`client::CallRecord`]) → derived
//! metrics ([`metrics`]) → exports. Nothing derived is stored as primary data.

pub mod agent;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod clock;
pub mod commits;
pub mod compare;
pub mod corpus;
pub mod cpu_idle;
pub mod history;
pub mod icount;
pub mod ingest;
pub mod load;
pub mod memory;
pub mod metrics;
pub mod peers;
mod plain_json;
pub mod prompt;
pub mod provenance;
pub mod record;
pub mod report;
pub mod rng;
pub mod runner;
pub mod stub;
pub mod sweep;
pub mod trace;
