//! The Mooncake-style request trace: one request per line,
//! `{"timestamp": ms, "input_length": tokens, "output_length": tokens,
//! "hash_ids": [ids]}`, in order of arrival. Each line becomes a one-request
//! session whose id is its line number. Other keys are ignored (published traces
//! carry extra ones).

use super::fields::{check_lengths, hash_ids, object_line, uint, LengthNames};
use super::{Line, LineSink, Trace, TraceRequest, TraceSession};

const SHAPE: &str =
    r#"{"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [ids]}"#;

const NAMES: LengthNames = LengthNames {
    input: "input_length",
    output: "output_length",
    ids: "hash_ids",
};

/// Parses every line; bad ones go to `sink`. A timestamp before the last good
/// line's is bad (the file is in order of arrival).
pub(super) fn parse(lines: &[Line], block_tokens: u32, sink: &mut LineSink) -> Trace {
    let mut sessions = Vec::new();
    let mut last: Option<(usize, u64)> = None;
    for (line, text) in lines {
        let parsed = text
            .clone()
            .and_then(|t| parse_line(&t, block_tokens))
            .and_then(|(ts, req)| in_order(ts, last).map(|()| (ts, req)));
        match parsed {
            Ok((ts, req)) => {
                last = Some((*line, ts));
                sessions.push(TraceSession {
                    id: line.to_string(),
                    start_ms: ts,
                    requests: vec![req],
                });
            }
            Err(reason) => sink.bad(*line, reason),
        }
    }
    Trace {
        block_tokens,
        tokens: None,
        sessions,
    }
}

fn parse_line(text: &str, block_tokens: u32) -> Result<(u64, TraceRequest), String> {
    let obj = object_line(text, SHAPE)?;
    let ts = uint(&obj, "timestamp", "", "arrival, ms")?;
    let input = uint(&obj, "input_length", "", "prompt tokens")?;
    let output = uint(&obj, "output_length", "", "output tokens")?;
    let ids = hash_ids(&obj, "hash_ids", "")?;
    check_lengths(input, output, &ids, block_tokens, "", &NAMES)?;
    Ok((
        ts,
        TraceRequest {
            input_tokens: input,
            output_tokens: output,
            hash_ids: ids,
            think_ms: 0,
            subagent: Vec::new(),
        },
    ))
}

fn in_order(ts: u64, last: Option<(usize, u64)>) -> Result<(), String> {
    match last {
        Some((line, prev)) if ts < prev => Err(format!(
            "field `timestamp` is {ts}, before the previous request's {prev} (line {line}): timestamps go backwards (fix: a Mooncake trace lists requests in order of arrival; sort the file by timestamp)"
        )),
        _ => Ok(()),
    }
}
