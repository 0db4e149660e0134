//! The agentic session trace: an optional header line
//! `{"trace": "agentic", "version": 1, "block_tokens": N, "tokens": {...}}`, then
//! one session per line `{"session": id, "t": ms, "requests": [request...]}`, a
//! request being `{"in": tokens, "out": tokens, "hash_ids": [ids],
//! "think_time": ms, "subagent": [request...]}` (`think_time` and `subagent`
//! optional). Unknown keys are refused: this format is agentbench's own.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::fields::{
    check_lengths, hash_ids, object_line, only_known, uint, uint_or_zero, LengthNames, Obj,
};
use super::{
    check_block_tokens, Line, LineSink, TokenSources, Trace, TraceError, TraceRequest,
    TraceSession, AGENTIC_TAG, AGENTIC_VERSION, DEFAULT_BLOCK_TOKENS,
};

const SHAPE: &str = r#"{"session": "id", "t": ms, "requests": [{"in": tokens, "out": tokens, "hash_ids": [ids], "think_time": ms}]}"#;

const NAMES: LengthNames = LengthNames {
    input: "in",
    output: "out",
    ids: "hash_ids",
};

const SESSION_KEYS: &[&str] = &["session", "t", "requests"];
const REQUEST_KEYS: &[&str] = &["in", "out", "hash_ids", "think_time", "subagent"];
const HEADER_KEYS: &[&str] = &["trace", "version", "block_tokens", "tokens"];

/// Parses the file's lines. A bad header refuses the file (its block size
/// governs every line); bad session lines go to `sink`.
pub(super) fn parse(
    path: &Path,
    lines: &[Line],
    asked_block: Option<u32>,
    sink: &mut LineSink,
) -> Result<Trace, TraceError> {
    let (header, body) = split_header(path, lines)?;
    let block_tokens = resolve_block(path, header.as_ref(), asked_block)?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut sessions = Vec::new();
    for (line, text) in body {
        let parsed = text
            .clone()
            .and_then(|t| parse_session(&t, block_tokens))
            .and_then(|s| unique(s, *line, &mut seen));
        match parsed {
            Ok(s) => sessions.push(s),
            Err(reason) => sink.bad(*line, reason),
        }
    }
    Ok(Trace {
        block_tokens,
        tokens: header.and_then(|h| h.tokens),
        sessions,
    })
}

struct Header {
    block_tokens: Option<u32>,
    tokens: Option<TokenSources>,
}

fn split_header<'a>(
    path: &Path,
    lines: &'a [Line],
) -> Result<(Option<Header>, &'a [Line]), TraceError> {
    let Some((line, Ok(text))) = lines.first() else {
        return Ok((None, lines));
    };
    let Ok(obj) = object_line(text, SHAPE) else {
        return Ok((None, lines));
    };
    if !obj.contains_key("trace") {
        return Ok((None, lines));
    }
    let header = parse_header(&obj).map_err(|reason| TraceError::BadLine {
        path: path.to_path_buf(),
        line: *line,
        reason,
        more: 0,
    })?;
    Ok((Some(header), &lines[1..]))
}

fn parse_header(obj: &Obj) -> Result<Header, String> {
    only_known(obj, HEADER_KEYS, "")?;
    if obj.get("trace") != Some(&Value::from(AGENTIC_TAG)) {
        return Err(format!(
            "header field `trace` must be \"{AGENTIC_TAG}\" (fix: write {{\"trace\": \"{AGENTIC_TAG}\", \"version\": {AGENTIC_VERSION}, \"block_tokens\": {DEFAULT_BLOCK_TOKENS}}} or drop the header line)"
        ));
    }
    let version = uint(obj, "version", "", "format version")?;
    if version != u64::from(AGENTIC_VERSION) {
        return Err(format!(
            "header field `version` is {version}; this build reads version {AGENTIC_VERSION} (fix: write the trace with a matching agentbench)"
        ));
    }
    let block_tokens = match obj.get("block_tokens") {
        None => None,
        Some(_) => {
            let b = uint(obj, "block_tokens", "", "tokens per block")?;
            Some(u32::try_from(b).map_err(|_| {
                format!("header field `block_tokens` is {b}, beyond u32 (fix: give the trace's block size in tokens)")
            })?)
        }
    };
    let tokens = match obj.get("tokens") {
        None => None,
        Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
            format!("header field `tokens`: {e} (fix: {{\"in_server\": n, \"in_bytes_div_4\": n, \"out_server\": n, \"out_bytes_div_4\": n}} or leave it out)")
        })?),
    };
    Ok(Header {
        block_tokens,
        tokens,
    })
}

fn resolve_block(
    path: &Path,
    header: Option<&Header>,
    asked: Option<u32>,
) -> Result<u32, TraceError> {
    let in_file = header.and_then(|h| h.block_tokens);
    match (in_file, asked) {
        (Some(f), Some(a)) if f != a => Err(TraceError::BlockTokens(format!(
            "{}:1: the header says block_tokens {f}, the caller asked for {a} (fix: leave block_tokens unset to use the file's, or correct the header)",
            path.display()
        ))),
        (Some(b), _) | (None, Some(b)) => check_block_tokens(b),
        (None, None) => Ok(DEFAULT_BLOCK_TOKENS),
    }
}

fn parse_session(text: &str, block_tokens: u32) -> Result<TraceSession, String> {
    let obj = object_line(text, SHAPE)?;
    if obj.contains_key("trace") {
        return Err("a header line (with `trace`) is only allowed as the first line (fix: move it to line 1 or remove it)".into());
    }
    only_known(&obj, SESSION_KEYS, "")?;
    let id = match obj.get("session") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(
                "field `session` must be a non-empty string (fix: e.g. \"session\": \"s1\")".into(),
            )
        }
        None => {
            return Err(
                "missing field `session` (fix: add the session's id as a non-empty string)".into(),
            )
        }
    };
    let start_ms = uint(&obj, "t", "", "session start, ms")?;
    let requests = requests(&obj, "requests", "", block_tokens)?;
    if requests.is_empty() {
        return Err("field `requests` is empty (fix: a session has at least one request)".into());
    }
    Ok(TraceSession {
        id,
        start_ms,
        requests,
    })
}

fn requests(
    obj: &Obj,
    key: &str,
    at: &str,
    block_tokens: u32,
) -> Result<Vec<TraceRequest>, String> {
    let name = format!("{at}{key}");
    let items = match obj.get(key) {
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(format!(
                "field `{name}` must be an array of request objects (fix: {SHAPE})"
            ))
        }
        None => return Err(format!("missing field `{name}` (fix: {SHAPE})")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| request(v, &format!("{name}[{i}]."), block_tokens))
        .collect()
}

fn request(v: &Value, at: &str, block_tokens: u32) -> Result<TraceRequest, String> {
    let Some(obj) = v.as_object() else {
        return Err(format!(
            "`{}` must be a request object (fix: {{\"in\": tokens, \"out\": tokens, \"hash_ids\": [ids], \"think_time\": ms}})",
            at.trim_end_matches('.')
        ));
    };
    only_known(obj, REQUEST_KEYS, at)?;
    let input = uint(obj, "in", at, "prompt tokens")?;
    let output = uint(obj, "out", at, "output tokens")?;
    let ids = hash_ids(obj, "hash_ids", at)?;
    check_lengths(input, output, &ids, block_tokens, at, &NAMES)?;
    let think_ms = uint_or_zero(obj, "think_time", at, "think time, ms")?;
    let subagent = match obj.get("subagent") {
        None => Vec::new(),
        Some(_) => requests(obj, "subagent", at, block_tokens)?,
    };
    Ok(TraceRequest {
        input_tokens: input,
        output_tokens: output,
        hash_ids: ids,
        think_ms,
        subagent,
    })
}

fn unique(
    s: TraceSession,
    line: usize,
    seen: &mut HashMap<String, usize>,
) -> Result<TraceSession, String> {
    if let Some(first) = seen.get(&s.id) {
        return Err(format!(
            "session id \"{}\" is already used on line {first} (fix: give each session a unique id)",
            s.id
        ));
    }
    seen.insert(s.id.clone(), line);
    Ok(s)
}
