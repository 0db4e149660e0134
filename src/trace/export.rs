//! agentbench's recorded sessions → an agentic trace, content-free.
//!
//! Per request: `in` is the server's prompt token count (`usage.prompt_tokens`,
//! else llama.cpp's `timings.prompt_n + timings.cache_n`), else
//! `ceil(prompt text bytes / 4)`; Ollama's `prompt_eval_count` is not used, as it
//! counts only the tokens evaluated (a prefix-cache hit lowers or drops it).
//! `out` is the server's output count ([`ServerFields::decode_count`]), else
//! `ceil(response bytes / 4)`; both are at least 1 (a failed request that produced
//! nothing exports `out: 1`). The header's `tokens` counts which was used.
//!
//! Block ids, in session order (sessions by start, turns by index): a request
//! whose prompt is byte-identical (same SHA-256 and length) to an earlier one with
//! the same block count reuses that one's ids; otherwise its first
//! `k = min(⌊shared_prefix_bytes / (4·B)⌋, ⌊previous turn's in / B⌋, its blocks)`
//! ids are the previous turn's first `k` (k = 0 for a first turn, or when the
//! previous turn is missing from the records), the rest fresh ids counting up
//! from 0 across the file.
//!
//! Times: a session's `t` is its intended start minus the earliest session's,
//! `think_time` the recorded think before each turn, both rounded to the nearest
//! ms. A request without a [`TurnRef`] is a session of its own, starting at its
//! intended send, with id `r<seq>`; a recorded session's id is `s<index>`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::client::ServerFields;
use crate::load::record::{scan_load_file, RequestRecord};
use crate::load::session::TurnRef;
use crate::stub::CapacityModel;

use super::{
    blocks_for, check_block_tokens, TokenSources, Trace, TraceError, TraceRequest, TraceSession,
    MAX_INPUT_TOKENS,
};

/// A recorded run exported: the trace and the record file's unreadable lines.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The trace.
    pub trace: Trace,
    /// Lines of the record file that did not parse (a torn last line after a
    /// crash), as (1-based line, reason): their requests are not in the trace.
    pub skipped: Vec<(usize, String)>,
}

/// Exports a load record file (`records.jsonl` of `agentbench load`) with blocks
/// of `block_tokens` tokens. Streams the file; keeps only each request's figures
/// (no prompt or response text). A file with no request is
/// [`TraceError::NoRequests`] (its export could not be read back).
pub fn export_load_file(path: &Path, block_tokens: u32) -> Result<Exported, TraceError> {
    let mut exporter = Exporter::new(block_tokens)?;
    let scan = scan_load_file(path, |r| exporter.add(&r))?;
    if exporter.obs.is_empty() {
        return Err(TraceError::NoRequests {
            path: path.to_path_buf(),
        });
    }
    Ok(Exported {
        trace: exporter.finish(),
        skipped: scan.skipped,
    })
}

/// Builds a trace from request records added one at a time, in any order.
#[derive(Debug, Clone)]
pub struct Exporter {
    block_tokens: u32,
    obs: Vec<Obs>,
}

/// Which session a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    /// A recorded session's index.
    Session(u64),
    /// A request without a turn: its seq.
    Single(u64),
}

/// What export keeps of one record.
#[derive(Debug, Clone)]
struct Obs {
    key: Key,
    turn: u32,
    seq: u64,
    start_ns: u64,
    think_ns: u64,
    shared_bytes: u64,
    prompt: (String, u64),
    input: (u64, bool),
    output: (u64, bool),
}

impl Exporter {
    /// An exporter with blocks of `block_tokens` tokens (`1..=MAX_BLOCK_TOKENS`).
    pub fn new(block_tokens: u32) -> Result<Self, TraceError> {
        Ok(Self {
            block_tokens: check_block_tokens(block_tokens)?,
            obs: Vec::new(),
        })
    }

    /// Adds one request record.
    pub fn add(&mut self, r: &RequestRecord) {
        let turn = r.turn.as_ref();
        let text_bytes = turn.map_or(r.call.prompt_bytes, |t| t.prompt_text_bytes);
        self.obs.push(Obs {
            key: turn.map_or(Key::Single(r.seq), |t| Key::Session(t.session)),
            turn: turn.map_or(0, |t| t.turn),
            seq: r.seq,
            start_ns: turn.map_or(r.intended_ns, |t| t.session_intended_ns),
            think_ns: turn.map_or(0, |t: &TurnRef| t.think_ns),
            shared_bytes: turn.map_or(0, |t| t.shared_prefix_bytes),
            prompt: (r.call.prompt_sha256.clone(), text_bytes),
            input: input_tokens(&r.call.server, text_bytes),
            output: output_tokens(r),
        });
    }

    /// The trace: sessions ordered by start (then id), turns by index.
    pub fn finish(self) -> Trace {
        let mut groups: BTreeMap<Key, Vec<Obs>> = BTreeMap::new();
        for o in self.obs {
            groups.entry(o.key).or_default().push(o);
        }
        let mut sessions: Vec<(Key, Vec<Obs>)> = groups.into_iter().collect();
        for (_, turns) in &mut sessions {
            turns.sort_by_key(|o| (o.turn, o.seq));
        }
        sessions.sort_by_key(|(k, turns)| (turns[0].start_ns, *k));
        let origin = sessions.first().map_or(0, |(_, t)| t[0].start_ns);
        let mut ids = IdAssigner::new(self.block_tokens);
        let mut tokens = TokenSources::default();
        let sessions = sessions
            .iter()
            .map(|(key, turns)| session(*key, turns, origin, &mut ids, &mut tokens))
            .collect();
        Trace {
            block_tokens: self.block_tokens,
            tokens: Some(tokens),
            sessions,
        }
    }
}

fn session(
    key: Key,
    turns: &[Obs],
    origin: u64,
    ids: &mut IdAssigner,
    tokens: &mut TokenSources,
) -> TraceSession {
    let mut requests: Vec<TraceRequest> = Vec::with_capacity(turns.len());
    let mut prev: Option<&Obs> = None;
    for o in turns {
        let follows = prev.filter(|p| p.turn.checked_add(1) == Some(o.turn) && p.key == o.key);
        let prev_req = follows.and_then(|_| requests.last());
        let hash_ids = ids.assign(o, prev_req);
        count(tokens, o);
        requests.push(TraceRequest {
            input_tokens: o.input.0,
            output_tokens: o.output.0,
            hash_ids,
            think_ms: if requests.is_empty() {
                0
            } else {
                round_ms(o.think_ns)
            },
            subagent: Vec::new(),
        });
        prev = Some(o);
    }
    TraceSession {
        id: match key {
            Key::Session(s) => format!("s{s}"),
            Key::Single(seq) => format!("r{seq}"),
        },
        start_ms: round_ms(turns[0].start_ns - origin),
        requests,
    }
}

fn count(t: &mut TokenSources, o: &Obs) {
    if o.input.1 {
        t.in_server += 1;
    } else {
        t.in_bytes_div_4 += 1;
    }
    if o.output.1 {
        t.out_server += 1;
    } else {
        t.out_bytes_div_4 += 1;
    }
}

/// Block ids by the module's rule.
struct IdAssigner {
    block_tokens: u32,
    next: u64,
    by_prompt: HashMap<(String, u64), Vec<u64>>,
}

impl IdAssigner {
    fn new(block_tokens: u32) -> Self {
        Self {
            block_tokens,
            next: 0,
            by_prompt: HashMap::new(),
        }
    }

    fn assign(&mut self, o: &Obs, prev: Option<&TraceRequest>) -> Vec<u64> {
        let b = u64::from(self.block_tokens);
        let blocks = blocks_for(o.input.0, self.block_tokens);
        if let Some(same) = self.by_prompt.get(&o.prompt) {
            if same.len() as u64 == blocks {
                return same.clone();
            }
        }
        let shared = prev.map_or(0, |p| {
            (o.shared_bytes / (4 * b))
                .min(p.input_tokens / b)
                .min(blocks)
        }) as usize;
        let mut ids: Vec<u64> = prev.map_or(&[][..], |p| &p.hash_ids[..shared]).to_vec();
        while (ids.len() as u64) < blocks {
            ids.push(self.next);
            self.next += 1;
        }
        self.by_prompt.insert(o.prompt.clone(), ids.clone());
        ids
    }
}

/// Prompt tokens and whether the server counted them.
fn input_tokens(server: &ServerFields, text_bytes: u64) -> (u64, bool) {
    let timings = server
        .timings
        .as_ref()
        .and_then(|t| Some(t.prompt_n? + t.cache_n?))
        .and_then(|n| u64::try_from(n).ok());
    match server
        .usage
        .as_ref()
        .and_then(|u| u.prompt_tokens)
        .or(timings)
    {
        Some(n) => (n.clamp(1, MAX_INPUT_TOKENS), true),
        None => (
            CapacityModel::prompt_tokens(text_bytes).min(MAX_INPUT_TOKENS),
            false,
        ),
    }
}

/// Output tokens and whether the server counted them.
fn output_tokens(r: &RequestRecord) -> (u64, bool) {
    let max = u64::from(u32::MAX);
    match r.call.server.decode_count() {
        Some(n) => (n.clamp(1, max), true),
        None => {
            let bytes = (r.call.response.len() + r.call.thinking.len()) as u64;
            (bytes.div_ceil(4).clamp(1, max), false)
        }
    }
}

fn round_ms(ns: u64) -> u64 {
    ns / 1_000_000 + u64::from(ns % 1_000_000 >= 500_000)
}
