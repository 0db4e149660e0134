//! Field extraction for the importers: every failure is a sentence naming the
//! field (with its path inside the line), what was found and the fix.

use serde_json::{Map, Value};

use super::{blocks_for, MAX_INPUT_TOKENS};

/// A JSON object (one line, or one request inside a line).
pub(super) type Obj = Map<String, Value>;

/// Parses one line as a JSON object.
pub(super) fn object_line(text: &str, shape: &str) -> Result<Obj, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(format!(
            "expected a JSON object, got {} (fix: one object per line: {shape})",
            kind(&other)
        )),
        Err(e) => Err(format!(
            "not JSON: {e} (fix: one JSON object per line: {shape})"
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A short rendering of a value for a message.
fn shown(v: &Value) -> String {
    let mut s = v.to_string();
    if s.len() > 40 {
        let mut cut = 37;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// A field that must be a non-negative integer; `what` says its unit.
pub(super) fn uint(obj: &Obj, key: &str, at: &str, what: &str) -> Result<u64, String> {
    match obj.get(key) {
        None => Err(format!(
            "missing field `{at}{key}` ({what}) (fix: add it as a non-negative integer)"
        )),
        Some(v) => as_uint(v, &format!("{at}{key}"), what),
    }
}

/// A field that, when present, must be a non-negative integer; absent: 0.
pub(super) fn uint_or_zero(obj: &Obj, key: &str, at: &str, what: &str) -> Result<u64, String> {
    match obj.get(key) {
        None => Ok(0),
        Some(v) => as_uint(v, &format!("{at}{key}"), what),
    }
}

fn as_uint(v: &Value, name: &str, what: &str) -> Result<u64, String> {
    if let Some(n) = v.as_u64() {
        return Ok(n);
    }
    let why = match v {
        Value::Number(n) if n.as_i64().is_some() => "it is negative",
        Value::Number(_) => "it is not an integer (or is beyond u64)",
        _ => "it is not a number",
    };
    Err(format!(
        "field `{name}` ({what}) must be a non-negative integer, got {}: {why} (fix: write a whole number ≥ 0)",
        shown(v)
    ))
}

/// `hash_ids`: an array of non-negative integers.
pub(super) fn hash_ids(obj: &Obj, key: &str, at: &str) -> Result<Vec<u64>, String> {
    let name = format!("{at}{key}");
    let Some(v) = obj.get(key) else {
        return Err(format!(
            "missing field `{name}` (fix: add the prompt's block ids, one per block, as an array of non-negative integers)"
        ));
    };
    let Some(items) = v.as_array() else {
        return Err(format!(
            "field `{name}` must be an array of non-negative integers, got {} (fix: e.g. [1, 2, 3])",
            kind(v)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| as_uint(x, &format!("{name}[{i}]"), "block id"))
        .collect()
}

/// Names of a request's three length fields in a format.
pub(super) struct LengthNames {
    /// The prompt length's key.
    pub input: &'static str,
    /// The output length's key.
    pub output: &'static str,
    /// The block ids' key.
    pub ids: &'static str,
}

/// Checks a request's lengths: prompt `1..=MAX_INPUT_TOKENS` tokens, output
/// `1..=u32::MAX` tokens, and exactly `ceil(input / block_tokens)` block ids.
pub(super) fn check_lengths(
    input: u64,
    output: u64,
    ids: &[u64],
    block_tokens: u32,
    at: &str,
    names: &LengthNames,
) -> Result<(), String> {
    if !(1..=MAX_INPUT_TOKENS).contains(&input) {
        return Err(format!(
            "field `{at}{}` is {input}: a prompt must have 1..={MAX_INPUT_TOKENS} tokens (fix: give the prompt length in tokens)",
            names.input
        ));
    }
    if !(1..=u64::from(u32::MAX)).contains(&output) {
        return Err(format!(
            "field `{at}{}` is {output}: an output must have 1..={} tokens (fix: give the output length in tokens)",
            names.output,
            u32::MAX
        ));
    }
    let need = blocks_for(input, block_tokens);
    if ids.len() as u64 != need {
        return Err(format!(
            "field `{at}{}` has {} ids but a prompt of {input} tokens at {block_tokens} tokens per block needs {need} (fix: one id per block, the last block possibly partial, or set block_tokens to the trace's block size)",
            names.ids,
            ids.len()
        ));
    }
    Ok(())
}

/// Refuses keys other than `known` (a typo such as `think` for `think_time`
/// would otherwise be silently dropped).
pub(super) fn only_known(obj: &Obj, known: &[&str], at: &str) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!(
            "unknown field `{at}{k}` (fix: the fields are {}; see docs/traces.md)",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
