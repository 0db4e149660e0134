//! Request and session traces: import (Mooncake-style request traces, agentic
//! session traces), prompt synthesis from `hash_ids`, and export of agentbench's
//! own recorded sessions. The formats, the tokeniser approximation, the prefix
//! rule, time scaling and the round-trip guarantee are in `docs/traces.md`.
//!
//! ```text
//! file ──read_trace──► Trace ──to_scripts(time_scale)──► Vec<SessionScript> (engine)
//! records.jsonl ──export_load_file──► Trace ──write_jsonl──► agentic trace file
//! ```
//!
//! [`Trace`] is the intermediate both ways: it keeps every field the agentic
//! format writes, so export → import → export is byte-identical.

mod agentic;
mod export;
mod fields;
mod mooncake;
mod scripts;
pub mod synth;

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use export::{export_load_file, Exported, Exporter};

/// Prompt tokens per `hash_ids` block when a file or the caller names none
/// (Mooncake's block size).
pub const DEFAULT_BLOCK_TOKENS: u32 = 512;

/// The largest accepted `block_tokens`.
pub const MAX_BLOCK_TOKENS: u32 = 1 << 20;

/// The largest accepted prompt length, tokens (a 64 MiB prompt text).
pub const MAX_INPUT_TOKENS: u64 = 1 << 24;

/// How many skipped lines a [`SkippedLines`] lists (it counts them all).
pub const SKIPPED_LISTED: usize = 5;

/// The two trace formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    /// One request per line: `timestamp`, `input_length`, `output_length`,
    /// `hash_ids` (the Mooncake trace's fields).
    Mooncake,
    /// One session per line (after an optional header line): `session`, `t`,
    /// `requests` with `in`, `out`, `hash_ids`, `think_time`, `subagent`.
    Agentic,
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceFormat::Mooncake => "mooncake",
            TraceFormat::Agentic => "agentic",
        })
    }
}

/// How a trace file is read (default: detect the format, block size from the
/// file or 512, refuse bad lines).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `None`: detect from the first line that is a JSON object with `timestamp`
    /// (Mooncake) or `trace`/`session` (agentic).
    pub format: Option<TraceFormat>,
    /// Prompt tokens per `hash_ids` block. `None`: the agentic header's value, else
    /// [`DEFAULT_BLOCK_TOKENS`]. Given and different from an agentic header's value:
    /// refused.
    pub block_tokens: Option<u32>,
    /// `false` (default): any bad line refuses the whole file. `true`: bad lines
    /// are skipped, counted and the first few listed in [`Imported::skipped`].
    pub skip_bad: bool,
}

/// Lines left out of an import (only with [`ReadOptions::skip_bad`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkippedLines {
    /// How many lines were skipped.
    pub count: usize,
    /// The first [`SKIPPED_LISTED`] of them, as (1-based line, reason and fix).
    pub first: Vec<(usize, String)>,
}

impl SkippedLines {
    fn push(&mut self, line: usize, reason: String) {
        self.count += 1;
        if self.first.len() < SKIPPED_LISTED {
            self.first.push((line, reason));
        }
    }
}

/// A trace as read: the trace and what was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The trace: every good line, in file order.
    pub trace: Trace,
    /// The format read.
    pub format: TraceFormat,
    /// Bad lines skipped (empty unless [`ReadOptions::skip_bad`]).
    pub skipped: SkippedLines,
    /// Lowercase hex SHA-256 of the file's bytes (the trace's identity, for a
    /// run's provenance).
    pub sha256: String,
}

/// A trace: sessions of requests with lengths in tokens, prefix block ids and
/// times in milliseconds. Both importers produce it, the exporter builds it,
/// [`Trace::write_jsonl`] writes it in the canonical agentic form and
/// [`Trace::to_scripts`] turns it into the session engine's scripts.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Prompt tokens per `hash_ids` block (≥ 1, ≤ [`MAX_BLOCK_TOKENS`]).
    pub block_tokens: u32,
    /// Where the token counts came from (exported traces say; imported ones keep
    /// what their header said).
    pub tokens: Option<TokenSources>,
    /// The sessions, in file order.
    pub sessions: Vec<TraceSession>,
}

/// How many of an exported trace's token counts are the server's own and how
/// many the `ceil(bytes / 4)` approximation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSources {
    /// Prompt lengths the server reported (`usage.prompt_tokens`, or llama.cpp's
    /// `timings.prompt_n + timings.cache_n`).
    pub in_server: u64,
    /// Prompt lengths approximated as `ceil(prompt bytes / 4)`.
    pub in_bytes_div_4: u64,
    /// Output lengths the server reported (`eval_count`, `timings.predicted_n` or
    /// `usage.completion_tokens`).
    pub out_server: u64,
    /// Output lengths approximated as `ceil(response bytes / 4)`.
    pub out_bytes_div_4: u64,
}

/// One session: an id, a start and its requests in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceSession {
    /// The session's id, unique in the trace (Mooncake imports: the line number).
    #[serde(rename = "session")]
    pub id: String,
    /// Start, ms on the trace's clock (only differences between sessions count).
    #[serde(rename = "t")]
    pub start_ms: u64,
    /// The requests, at least one.
    pub requests: Vec<TraceRequest>,
}

/// One request of a session.
///
/// Invariants (checked by the importers, kept by the exporter): `input_tokens` in
/// `1..=MAX_INPUT_TOKENS`, `output_tokens ≥ 1` and fits a u32, and
/// `hash_ids.len() == ceil(input_tokens / block_tokens)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRequest {
    /// Prompt length, tokens.
    #[serde(rename = "in")]
    pub input_tokens: u64,
    /// Output length, tokens (replayed as `max_tokens`).
    #[serde(rename = "out")]
    pub output_tokens: u64,
    /// One id per block of `block_tokens` prompt tokens, the last block possibly
    /// partial; equal ids are equal blocks.
    pub hash_ids: Vec<u64>,
    /// Time before this request is sent, ms: after the previous request's end (or
    /// its sub-agent's last request's end); for a session's first request, after
    /// the session's start.
    #[serde(rename = "think_time")]
    pub think_ms: u64,
    /// Requests of a sub-agent this request started: run in order after it, before
    /// the session's next request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subagent: Vec<TraceRequest>,
}

/// Reading, converting or writing a trace failed. Every message names the file
/// (and line, when one is at fault) and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No request in the file.
    #[error("{path}: the trace is empty: no request line (fix: give a Mooncake-style file, one request per line, or an agentic trace, one session per line; see docs/traces.md)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A line is bad (the first one; `more` others too). Nothing was imported.
    #[error("{path}:{line}: {reason}{}", more_note(*.more))]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong and the fix.
        reason: String,
        /// How many other lines are bad.
        more: usize,
    },
    /// With `skip_bad`, every line was bad.
    #[error("{path}: no usable line: all {} request lines are bad; first: line {}: {}", .skipped.count, first_line(.skipped), first_reason(.skipped))]
    NothingUsable {
        /// The file.
        path: PathBuf,
        /// The bad lines.
        skipped: SkippedLines,
    },
    /// `block_tokens` out of range or in conflict with the file's header.
    #[error("{0}")]
    BlockTokens(String),
    /// The time scale is not a positive finite number.
    #[error("time scale {0:?} is not a positive finite number (fix: give e.g. 1 for real time, 2 for twice as slow, 0.5 for twice as fast)")]
    TimeScale(f64),
    /// A scaled time does not fit in u64 nanoseconds.
    #[error("session {session}: {what} of {ms} ms × time scale {scale:?} does not fit in u64 nanoseconds (fix: use a smaller time scale or rebase the trace's times)")]
    TimeOverflow {
        /// The session's id.
        session: String,
        /// `start` or `think time`.
        what: &'static str,
        /// The time, ms.
        ms: u64,
        /// The scale.
        scale: f64,
    },
    /// A request's `hash_ids` do not cover its prompt (a trace built in code
    /// without the importers' checks).
    #[error("session {session}: a request of {input_tokens} tokens needs {expected} hash_ids at {block_tokens} tokens per block, it has {got} (fix: one id per block, the last block possibly partial)")]
    BlockCount {
        /// The session's id.
        session: String,
        /// The prompt length.
        input_tokens: u64,
        /// Tokens per block.
        block_tokens: u32,
        /// `ceil(input_tokens / block_tokens)`.
        expected: u64,
        /// `hash_ids.len()`.
        got: usize,
    },
    /// The load record file holds no request to export.
    #[error("{path}: the load record holds no request: nothing to export (fix: export the records.jsonl of a run that sent requests)")]
    NoRequests {
        /// The file.
        path: PathBuf,
    },
    /// The load record file could not be read.
    #[error(transparent)]
    Load(#[from] crate::load::record::LoadReadError),
}

fn more_note(more: usize) -> String {
    match more {
        0 => " (nothing was imported: fix the line, or pass --skip-bad to skip bad lines)".to_string(),
        n => format!(" (and {n} more bad line(s); nothing was imported: fix them, or pass --skip-bad to skip bad lines)"),
    }
}

fn first_line(s: &SkippedLines) -> usize {
    s.first.first().map_or(0, |f| f.0)
}

fn first_reason(s: &SkippedLines) -> &str {
    s.first.first().map_or("", |f| f.1.as_str())
}

/// Checks a block size: `1..=MAX_BLOCK_TOKENS`.
pub fn check_block_tokens(block_tokens: u32) -> Result<u32, TraceError> {
    if (1..=MAX_BLOCK_TOKENS).contains(&block_tokens) {
        Ok(block_tokens)
    } else {
        Err(TraceError::BlockTokens(format!(
            "block_tokens {block_tokens} is out of range (fix: give 1..={MAX_BLOCK_TOKENS}; Mooncake traces use {DEFAULT_BLOCK_TOKENS})"
        )))
    }
}

/// The number of `hash_ids` a prompt of `input_tokens` needs:
/// `ceil(input_tokens / block_tokens)` (`block_tokens` ≥ 1).
pub fn blocks_for(input_tokens: u64, block_tokens: u32) -> u64 {
    input_tokens.div_ceil(u64::from(block_tokens.max(1)))
}

/// Reads a trace file (Mooncake or agentic, detected or as `opts.format` says).
///
/// Guarantees: a bad line (not JSON, a missing or ill-typed field, a negative or
/// fractional length or time, `hash_ids` that do not cover the prompt, a Mooncake
/// timestamp before the previous one, a repeated session id) refuses the whole
/// file with [`TraceError::BadLine`] naming file:line, the field and the fix,
/// unless `opts.skip_bad`, which skips and reports them; blank lines are ignored;
/// a file with no request is [`TraceError::Empty`]. Never panics on any input.
pub fn read_trace(path: &Path, opts: &ReadOptions) -> Result<Imported, TraceError> {
    let (lines, sha256) = read_lines(path)?;
    let format = match opts.format {
        Some(f) => f,
        None => detect(path, &lines)?,
    };
    let mut sink = LineSink::new(path, opts.skip_bad);
    let trace = match format {
        TraceFormat::Mooncake => {
            let block = check_block_tokens(opts.block_tokens.unwrap_or(DEFAULT_BLOCK_TOKENS))?;
            mooncake::parse(&lines, block, &mut sink)
        }
        TraceFormat::Agentic => agentic::parse(path, &lines, opts.block_tokens, &mut sink)?,
    };
    let skipped = sink.finish(trace.sessions.is_empty())?;
    Ok(Imported {
        trace,
        format,
        skipped,
        sha256,
    })
}

/// One line of a file: 1-based number and text (or why it is not text).
type Line = (usize, Result<String, String>);

/// The file's non-blank lines and the SHA-256 of its bytes.
fn read_lines(path: &Path) -> Result<(Vec<Line>, String), TraceError> {
    let bytes = std::fs::read(path).map_err(|source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let sha256 = hex_sha256(&bytes);
    let mut lines = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let text = std::str::from_utf8(raw).map(str::to_owned).map_err(|e| {
            format!(
                "not UTF-8 text (byte {}) (fix: write the trace as UTF-8 JSON)",
                e.valid_up_to()
            )
        });
        if matches!(&text, Ok(t) if t.trim().is_empty()) {
            continue;
        }
        lines.push((i + 1, text));
    }
    Ok((lines, sha256))
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The format of the first line that tells (`timestamp` → Mooncake; `trace` or
/// `session` → agentic); lines before it are left to the parser to refuse or skip.
fn detect(path: &Path, lines: &[Line]) -> Result<TraceFormat, TraceError> {
    let Some((first_line, _)) = lines.first() else {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
        });
    };
    for (_, text) in lines {
        let Ok(serde_json::Value::Object(obj)) = text
            .as_deref()
            .map_err(|_| ())
            .and_then(|t| serde_json::from_str(t).map_err(|_| ()))
        else {
            continue;
        };
        if obj.contains_key("timestamp") {
            return Ok(TraceFormat::Mooncake);
        }
        if obj.contains_key("trace") || obj.contains_key("session") {
            return Ok(TraceFormat::Agentic);
        }
    }
    Err(TraceError::BadLine {
        path: path.to_path_buf(),
        line: *first_line,
        reason: "cannot tell the trace format: no line is a JSON object with `timestamp` (Mooncake) or `trace`/`session` (agentic) (fix: give the format explicitly, or see docs/traces.md)".into(),
        more: 0,
    })
}

/// Where the importers put bad lines: refused at the end, or skipped.
struct LineSink {
    path: PathBuf,
    skip_bad: bool,
    bad: SkippedLines,
}

impl LineSink {
    fn new(path: &Path, skip_bad: bool) -> Self {
        Self {
            path: path.to_path_buf(),
            skip_bad,
            bad: SkippedLines::default(),
        }
    }

    fn bad(&mut self, line: usize, reason: String) {
        self.bad.push(line, reason);
    }

    fn finish(self, empty: bool) -> Result<SkippedLines, TraceError> {
        let path = self.path;
        if self.bad.count > 0 && !self.skip_bad {
            let (line, reason) = self.bad.first[0].clone();
            return Err(TraceError::BadLine {
                path,
                line,
                reason,
                more: self.bad.count - 1,
            });
        }
        match (empty, self.bad.count) {
            (true, 0) => Err(TraceError::Empty { path }),
            (true, _) => Err(TraceError::NothingUsable {
                path,
                skipped: self.bad,
            }),
            _ => Ok(self.bad),
        }
    }
}

/// The agentic format's header line.
#[derive(Debug, Serialize)]
struct HeaderLine<'a> {
    trace: &'static str,
    version: u32,
    block_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens: &'a Option<TokenSources>,
}

/// The agentic format's `trace` value and version.
pub const AGENTIC_TAG: &str = "agentic";
/// The agentic format's version written and accepted.
pub const AGENTIC_VERSION: u32 = 1;

impl Trace {
    /// Writes the trace in the canonical agentic form: a header line (`trace`,
    /// `version`, `block_tokens`, `tokens` when known), then one session per line
    /// with keys in a fixed order, integers only, `subagent` only when non-empty,
    /// every line ending in `\n`. Reading this output back gives an equal
    /// [`Trace`], and writing that again the same bytes.
    pub fn write_jsonl(&self, mut out: impl Write) -> std::io::Result<()> {
        let header = HeaderLine {
            trace: AGENTIC_TAG,
            version: AGENTIC_VERSION,
            block_tokens: self.block_tokens,
            tokens: &self.tokens,
        };
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        for s in &self.sessions {
            serde_json::to_writer(&mut out, s)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// [`Trace::write_jsonl`] into a new (or truncated) file at `path`.
    pub fn write_file(&self, path: &Path) -> Result<(), TraceError> {
        let err = |source| TraceError::Write {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(err)?;
        self.write_jsonl(std::io::BufWriter::new(file)).map_err(err)
    }

    /// Requests in the trace, sub-agents' included.
    pub fn request_count(&self) -> u64 {
        fn count(reqs: &[TraceRequest]) -> u64 {
            reqs.iter().map(|r| 1 + count(&r.subagent)).sum()
        }
        self.sessions.iter().map(|s| count(&s.requests)).sum()
    }

    /// Bytes of prompt text [`Trace::to_scripts`] synthesises in all (4 per input
    /// token): what the scripts hold in memory.
    pub fn prompt_bytes(&self) -> u64 {
        fn bytes(reqs: &[TraceRequest]) -> u64 {
            reqs.iter()
                .map(|r| r.input_tokens.saturating_mul(4) + bytes(&r.subagent))
                .sum()
        }
        self.sessions.iter().map(|s| bytes(&s.requests)).sum()
    }
}
