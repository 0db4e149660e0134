//! Differential tests: [`decode_chunk`] (plain reader, serde_json fallback) against
//! [`decode_chunk_serde`] (serde_json alone), on the bench fixture, on the recorded
//! replay stream rendered as generate and chat lines, and on thousands of mutated
//! and generated lines. Values, borrowing and error kinds must all be identical.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use proptest::prelude::*;

use super::{decode_chunk, decode_chunk_serde, DecodeError, WireChunk};

/// A text field as written down for comparison: its value and whether it borrows.
fn cow(c: &Option<Cow<'_, str>>) -> String {
    match c {
        None => "-".into(),
        Some(Cow::Borrowed(s)) => format!("b{s:?}"),
        Some(Cow::Owned(s)) => format!("o{s:?}"),
    }
}

/// Everything a decode result says, borrowing included.
fn view(r: &Result<WireChunk<'_>, DecodeError>) -> String {
    match r {
        Err(e) => format!("{e:?}"),
        Ok(c) => {
            let message = c
                .message
                .as_ref()
                .map(|m| format!("content {} thinking {}", cow(&m.content), cow(&m.thinking)));
            format!(
                "response {} message {message:?} done {} reason {} error {} \
                 {:?} {:?} {:?} {:?} {:?} {:?}",
                cow(&c.response),
                c.done,
                cow(&c.done_reason),
                cow(&c.error),
                c.total_duration,
                c.load_duration,
                c.prompt_eval_count,
                c.prompt_eval_duration,
                c.eval_count,
                c.eval_duration,
            )
        }
    }
}

/// Asserts that both decoders say the same about `line`.
fn same(line: &[u8]) {
    assert_eq!(
        view(&decode_chunk(line)),
        view(&decode_chunk_serde(line)),
        "line {:?}",
        String::from_utf8_lossy(line)
    );
}

fn repo_file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path)
}

/// The bench fixture's lines (1000 generate chunks and the final object).
fn fixture_lines() -> Vec<Vec<u8>> {
    repo_file("benches/fixtures/generate-1000.ndjson")
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Every chunk text of the recorded replay stream, as a generate and a chat line.
fn replay_lines() -> Vec<Vec<u8>> {
    let replay: serde_json::Value =
        serde_json::from_slice(&repo_file("replay/llama-server-gemma3-270m.json")).unwrap();
    let chunks = replay["chunks"].as_array().expect("replay chunks");
    assert!(chunks.len() > 100, "the replay holds the whole stream");
    let mut lines = Vec::new();
    for chunk in chunks {
        let text = serde_json::to_string(chunk["text"].as_str().unwrap()).unwrap();
        lines.push(format!(
            r#"{{"model":"gemma3-270m","created_at":"2026-11-28T00:19:09.046192453Z","response":{text},"done":false}}"#
        ));
        lines.push(format!(
            r#"{{"model":"gemma3-270m","created_at":"2026-11-28T00:19:09.046192453Z","message":{{"role":"assistant","content":{text}}},"done":false}}"#
        ));
    }
    lines.into_iter().map(String::into_bytes).collect()
}

/// Hand-picked lines at the edges of the plain reader and of serde's typing.
const EDGES: &[&str] = &[
    r#"{"model":"m","created_at":"x","response":"hi","done":false}"#,
    r#"{"message":{"role":"assistant","content":"yo","thinking":"hm"},"done":false}"#,
    r#"{"message":{"role":"assistant","content":null},"done":false}"#,
    r#"{"message":null,"response":null,"done_reason":null,"error":null,"eval_count":null}"#,
    r#"{"message":{},"done":true}"#,
    r#"{"message":[],"done":true}"#,
    r#"{"message":["a",null],"done":true}"#,
    r#"{"message":"x"}"#,
    r#"{"message":{"content":"a","content":"b"}}"#,
    r#"{"message":{"content":"a"},"message":{"content":"b"}}"#,
    r#"{"message":{"role":{"nested":[1,2,{"content":5}]},"content":"c"}}"#,
    r#"{"response":"a","response":"b"}"#,
    r#"{"model":"a","model":"b","response":"c"}"#,
    r#"{"response":5}"#,
    r#"{"response":true}"#,
    r#"{"response":{}}"#,
    r#"{"done":null}"#,
    r#"{"done":"true"}"#,
    r#"{"done":1}"#,
    r#"{"eval_count":0,"eval_duration":123456789012345}"#,
    r#"{"eval_count":1234567890123456}"#,
    r#"{"eval_count":18446744073709551615}"#,
    r#"{"eval_count":18446744073709551616}"#,
    r#"{"eval_count":-1}"#,
    r#"{"eval_count":-0}"#,
    r#"{"eval_count":1.0}"#,
    r#"{"eval_count":1e2}"#,
    r#"{"eval_count":01}"#,
    r#"{"eval_count":"1"}"#,
    r#"{"context":[1,-2,3.5e-7,1E+400,null,true,"s",{"a":[]}],"response":"x"}"#,
    r#"{"response":"a\nb"}"#,
    r#"{"response":"\u00e9"}"#,
    r#"{"respon\u0073e":"x"}"#,
    r#"{"response":"tab	in"}"#,
    r#" { "response" : "x" , "done" : true } "#,
    "{\"response\":\"x\"}\r",
    "{\"response\":\"x\"}\t\n",
    r#"{"response":"x"} x"#,
    r#"{"response":"x"}}"#,
    r#"{"response":"x",}"#,
    r#"{,"response":"x"}"#,
    r#"{"response" "x"}"#,
    r#"{"response":"x""#,
    r#"{"response":"#,
    r#"{"#,
    r#"{}"#,
    r#"[]"#,
    r#"[null,{"content":"c"},true]"#,
    r#""x""#,
    r#"5"#,
    r#"null"#,
    r#"tru"#,
    r#"{"done":tru}"#,
    r#"{"done":falsey}"#,
    r#"{"error":"model ran out of memory"}"#,
    r#"{"response":"","done":true,"done_reason":"stop","total_duration":105567,"load_duration":10139,"prompt_eval_count":2,"prompt_eval_duration":1773,"eval_count":1000,"eval_duration":93655}"#,
];

#[test]
fn fixture_edges_and_replay_decode_identically() {
    let fixture = fixture_lines();
    assert_eq!(fixture.len(), 1001);
    let replay = replay_lines();
    for line in fixture.iter().chain(&replay) {
        same(line);
    }
    for line in EDGES {
        same(line.as_bytes());
    }
    for bad in [
        &b"{\"response\":\"\xff\"}"[..],
        b"\xc3",
        b"{\"a\":\"\xc3\"}",
        b"\xef\xbb\xbf{}",
    ] {
        same(bad);
    }
    let deep = |n: usize| format!(r#"{{"x":{}{}}}"#, "[".repeat(n), "]".repeat(n));
    for n in [98, 99, 100, 101, 126, 127, 128, 129, 300] {
        same(deep(n).as_bytes());
    }
    // The common shapes take the plain path: the text borrows from the line.
    // Lines with escapes are left to serde_json (as are 26 of the fixture's).
    let c = decode_chunk(&fixture[0]).unwrap();
    assert!(matches!(c.response, Some(Cow::Borrowed(_))));
    for line in &fixture {
        let escaped = line.contains(&b'\\');
        assert_eq!(super::decode_plain(line).is_none(), escaped);
    }
}

/// Bytes a mutation inserts: JSON's structure, escapes, digits, letters of the
/// literals, whitespace, control and non-UTF-8 bytes.
const ALPHABET: &[u8] = b"{}[]\":,\\/ \t\r0123456789-+.eEtrufalsn\x00\x1f\x7f\xc3\xa9\xff\xe2";

/// One edit of a line: delete, insert, replace a byte, or cut the line.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop::sample::select(ALPHABET);
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Replace(i, b)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(line: &mut Vec<u8>, edit: &Edit) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match *edit {
        Edit::Delete(i) if !line.is_empty() => {
            line.remove(at(i, line.len()));
        }
        Edit::Insert(i, b) => line.insert(at(i, line.len() + 1), b),
        Edit::Replace(i, b) if !line.is_empty() => {
            let i = at(i, line.len());
            line[i] = b;
        }
        Edit::Truncate(i) => line.truncate(at(i, line.len() + 1)),
        _ => {}
    }
}

/// A JSON value for a generated line: the types the chunk fields take and the
/// ones they must reject.
fn value() -> impl Strategy<Value = String> {
    let text = prop::collection::vec(
        prop::sample::select(vec![
            "a",
            " ",
            "é",
            "😀",
            "\\n",
            "\\\"",
            "\\u00e9",
            "\\ud83d\\ude00",
            "\\u0000",
        ]),
        0..5,
    )
    .prop_map(|parts| format!("\"{}\"", parts.concat()));
    let leaf = prop_oneof![
        text,
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        Just("1.5e3".to_string()),
        Just("-0".to_string()),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key(), inner), 0..3).prop_map(|m| {
                let members: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "model",
        "created_at",
        "response",
        "message",
        "role",
        "content",
        "thinking",
        "done",
        "done_reason",
        "error",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_count",
        "eval_duration",
        "context",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn mutated_lines_decode_identically(
        base in prop::sample::select(EDGES.iter().chain([
            r#"{"model":"gemma3:latest","created_at":"2026-11-28T00:19:09.046192453Z","response":" E","done":false}"#,
            r#"{"model":"llama3.2","created_at":"2026-11-28T00:19:09Z","message":{"role":"assistant","content":"Hé😀"},"done":false}"#,
        ].iter()).copied().collect::<Vec<&str>>()),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut line = base.as_bytes().to_vec();
        for e in &edits {
            apply(&mut line, e);
        }
        same(&line);
    }

    #[test]
    fn generated_lines_decode_identically(
        members in prop::collection::vec((key(), value()), 0..6),
        nested in prop::collection::vec((key(), value()), 0..3),
    ) {
        // Keys once each (repeats are in the edges and mutations), so that most
        // lines are ones serde accepts (the plain path takes those without escapes).
        let (mut top, mut inner) = (HashSet::new(), HashSet::new());
        let mut all: Vec<String> = members
            .iter()
            .filter(|(k, _)| top.insert(*k))
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        let message: Vec<String> = nested
            .iter()
            .filter(|(k, _)| inner.insert(*k))
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        if top.insert("message") {
            all.push(format!("\"message\":{{{}}}", message.join(",")));
        }
        let line = format!("{{{}}}", all.join(","));
        same(line.as_bytes());
    }
}
