//! Agent sessions as the unit of load (the contract between the session engine,
//! the trace importers and the job-level analysis).
//!
//! A session is a chain of calls: turn k+1 is built from turn k's answer and sent
//! after a tool time (`think`). Timing rule: a session's first turn is intended at
//! the session's intended start (closed loop: the moment its slot became free;
//! open loop: its arrival on the seeded schedule); turn k+1 is intended at turn k's
//! real end plus the think time before turn k+1. A stall in turn k therefore
//! delays turn k+1's intended start only by turn k's real end, and the session's
//! (job's) latency, from its intended start to its last turn's end, includes it.
//!
//! Each turn is one [`super::RequestRecord`] carrying a [`TurnRef`]; the job-level
//! figures are derived from those records alone.

use serde::{Deserialize, Serialize};

/// Where a request sits in its session. Present on a [`super::RequestRecord`] only
/// for agent workloads (`load --workload agent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnRef {
    /// The session's global index (0-based; unique in a run, also when sharded).
    pub session: u64,
    /// This turn's index in its session (0-based).
    pub turn: u32,
    /// How many turns the session plans in all (a session stopped early, or whose
    /// turn failed, records fewer).
    pub turns: u32,
    /// The session's intended start, ns from the run's origin: job latency counts
    /// from here.
    pub session_intended_ns: u64,
    /// The tool time (think) before this turn, ns (0 for the first turn).
    #[serde(default)]
    pub think_ns: u64,
    /// Bytes of this turn's prompt text (for chat: every message's content, in
    /// order, concatenated) that are a prefix shared with the context the server
    /// saw by the end of the previous turn (its prompt text followed by its
    /// answer): the best reuse a prefix cache could achieve, computed offline from
    /// the prompts. 0 for the first turn.
    #[serde(default)]
    pub shared_prefix_bytes: u64,
    /// Bytes of this turn's prompt text, measured the same way.
    pub prompt_text_bytes: u64,
}

/// One planned session: its turns, in order. Produced by the workload builders
/// (chat, workflow) and by trace import; consumed by the session engine.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionScript {
    /// Open loop: the session's arrival offset, ns from the origin, when a trace
    /// fixes it (`None`: the engine's schedule or slot decides).
    pub start_ns: Option<u64>,
    /// The turns, at least one.
    pub turns: Vec<TurnScript>,
}

/// One planned turn.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnScript {
    /// Tool time before this turn is sent, ns (ignored for the first turn).
    pub think_ns: u64,
    /// What is sent.
    pub input: TurnInput,
    /// Output bound (`max_tokens` / `num_predict`); `None`: the run's setting.
    pub max_tokens: Option<u32>,
}

/// What a turn sends.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnInput {
    /// Chat: this user message is appended to the conversation so far (every
    /// earlier user message and assistant answer, in order), and the whole
    /// conversation is sent: the context grows turn by turn.
    Message(String),
    /// Chat: the next user message is built from the previous turn's answer by the
    /// workload (chat sessions' follow-up turns).
    FollowUp,
    /// A whole prompt, sent as is on the generate/completions endpoint (trace
    /// replay: the prompt was synthesised so that shared `hash_ids` give shared
    /// prefixes).
    Prompt(String),
    /// The agent workflow's report call: its prompt is built from the previous
    /// turn's (the analysis call's) answer exactly as `agentbench run` builds it.
    WorkflowReport,
}
