//! Differential tests: [`decode_chunk`] (plain reader, serde_json fallback) against
//! [`decode_chunk_serde`] (serde_json alone), on the bench fixture, on the recorded
//! replay stream rendered as generate and chat lines, and on thousands of mutated
//! and generated lines. Values, borrowing and error kinds must all be identical.
//! Each line is also decoded by a [`StreamDecoder`] that has just seen it, and each
//! mutated line by one that has just seen the line before its mutation, so that the
//! decoder's shape path (a line that fits an earlier line's skeleton) is held to the
//! same reference.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;

use proptest::prelude::*;

use super::{decode_chunk, decode_chunk_serde, DecodeError, StreamDecoder, WireChunk};

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

/// Asserts that both decoders say the same about `line`, and a stream decoder
/// that has just decoded it says it again.
fn same(line: &[u8]) {
    assert_eq!(
        view(&decode_chunk(line)),
        view(&decode_chunk_serde(line)),
        "line {:?}",
        String::from_utf8_lossy(line)
    );
    same_after(line, line);
}

/// Asserts that a [`StreamDecoder`] that has just decoded `before` says about
/// `line` what serde_json says.
fn same_after(before: &[u8], line: &[u8]) {
    let mut decoder = StreamDecoder::new();
    let mut chunk = WireChunk::default();
    let _ = decoder.decode_into(before, &mut chunk);
    let mut chunk = WireChunk::default();
    let got = decoder.decode_into(line, &mut chunk).map(|()| chunk);
    assert_eq!(
        view(&got),
        view(&decode_chunk_serde(line)),
        "line {:?} after {:?}",
        String::from_utf8_lossy(line),
        String::from_utf8_lossy(before)
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

/// Lines whose strings hold escapes: every escape kind, in every text field and in
/// keys (known and ignored), valid or not: surrogate pairs, lone and reversed
/// surrogates, bad and short `\u` escapes, unknown escapes, control characters
/// before and after an escape, escapes cut off by the line's end.
const ESCAPES: &[&str] = &[
    r#"{"response":"a\"b\\c\/d\be\ff\ng\rh\ti"}"#,
    r#"{"response":"\"\\\/\b\f\n\r\t"}"#,
    r#"{"response":"\n"}"#,
    r#"{"response":"line\n","done":false}"#,
    r#"{"response":"\u0041\u00e9\u00E9\u20ac\uFFFF\uffff\u0000\u001f\u007f"}"#,
    r#"{"response":"\u003cdiv\u003e \u0026amp; \u2028\u2029"}"#,
    r#"{"response":"\ud83d\ude00 \uD83D\uDE00 \udbff\udfff \ud800\udc00"}"#,
    r#"{"response":"x\ud83d"}"#,
    r#"{"response":"\ud83dx"}"#,
    r#"{"response":"\ud83d\n"}"#,
    r#"{"response":"\ud83d\u0041"}"#,
    r#"{"response":"\ud83d\ud83d"}"#,
    r#"{"response":"\ud83d\ud83d\ude00"}"#,
    r#"{"response":"\ude00"}"#,
    r#"{"response":"\ude00\ud83d"}"#,
    r#"{"response":"\ud83d\"}"#,
    r#"{"response":"\ud83d\u"}"#,
    r#"{"response":"\ud83d\ude0"}"#,
    r#"{"response":"\ud83d\ude0"#,
    r#"{"response":"\u12"}"#,
    r#"{"response":"\u12g4"}"#,
    r#"{"response":"\u 123"}"#,
    r#"{"response":"\u+123"}"#,
    r#"{"response":"\U0041"}"#,
    r#"{"response":"\x41"}"#,
    r#"{"response":"\a"}"#,
    r#"{"response":"\0"}"#,
    r#"{"response":"\'"}"#,
    r#"{"response":"\ "}"#,
    r#"{"response":"\"#,
    r#"{"response":"\""#,
    r#"{"response":"a\n"#,
    r#"{"response":"\u00"#,
    r#"{"response":"\u"#,
    "{\"response\":\"\\n\tx\"}",
    "{\"response\":\"\\n\u{1}x\"}",
    "{\"response\":\"\u{1f}\\n\"}",
    "{\"response\":\"\\n\u{7f}\"}",
    "{\"response\":\"\\n\nx\"}",
    r#"{"response":"é\n😀\u00e9"}"#,
    r#"{"message":{"role":"assistant","content":"say \"hi\"\n","thinking":"\thm"}}"#,
    r#"{"message":{"content":"a\nb","content":"c"}}"#,
    r#"{"message":{"content":"a","cont\u0065nt":"b"}}"#,
    r#"{"message":{"r\u006fle":"x","content":"y"}}"#,
    r#"{"done_reason":"st\u006fp","error":"out of\nmemory","done":true}"#,
    r#"{"respon\u0073e":"x","done":false}"#,
    r#"{"respon\u0073e":"x","response":"y"}"#,
    r#"{"respon\u0073e":5}"#,
    r#"{"d\u006fne":true}"#,
    r#"{"eval_c\u006funt":3}"#,
    r#"{"mess\u0061ge":{"content":"\n"}}"#,
    r#"{"mod\nel":"m","response":"x"}"#,
    r#"{"model":"gemma\u003alatest","created_at":"2026\/11\/28","response":"x"}"#,
    r#"{"context":["\n",{"\u0041":"\ud83d\ude00"}],"response":"\t"}"#,
    r#"{"context":["\ud800"],"response":"x"}"#,
    r#"{"context":{"\x":1},"response":"x"}"#,
    r#"{"response":"\n"} x"#,
    r#"{"response":"\n",}"#,
    r#"{"response":"\n" "done":true}"#,
    r#"["\n"]"#,
    r#""\n""#,
];

#[test]
fn fixture_edges_and_replay_decode_identically() {
    let fixture = fixture_lines();
    assert_eq!(fixture.len(), 1001);
    let replay = replay_lines();
    for line in fixture.iter().chain(&replay) {
        same(line);
    }
    for line in EDGES.iter().chain(ESCAPES) {
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
    // The common shapes take the plain path: the text borrows from the line, and
    // a text with escapes (26 of the fixture's lines) is unescaped into its own
    // String, as serde_json does; no fixture line is left to serde_json.
    let c = decode_chunk(&fixture[0]).unwrap();
    assert!(matches!(c.response, Some(Cow::Borrowed(_))));
    let mut escaped_lines = 0;
    for line in &fixture {
        let escaped = line.contains(&b'\\');
        escaped_lines += usize::from(escaped);
        let plain = super::decode_plain(line).expect("the plain path takes every fixture line");
        assert_eq!(matches!(plain.response, Some(Cow::Owned(_))), escaped);
    }
    assert_eq!(escaped_lines, 26);
}

/// A decoder given each chunk back (as the client gives it back) unescapes the next
/// escaped text into the `String` it took back, and still decodes every line of
/// the fixture and the replay as serde_json does.
#[test]
fn a_recycled_text_is_unescaped_into_and_lines_decode_identically() {
    let mut decoder = StreamDecoder::new();
    let plain = br#"{"model":"m","created_at":"t","response":"a","done":false}"#;
    decoder
        .decode_into(plain, &mut WireChunk::default())
        .unwrap();
    // A text given back with more room than any line here needs: the next escaped
    // text is unescaped into it (a new allocation would have room for its own
    // length only).
    let mut given = String::with_capacity(3000);
    given.push_str("old text");
    decoder.recycle(WireChunk {
        response: Some(Cow::Owned(given)),
        ..WireChunk::default()
    });
    let escaped = br#"{"model":"m","created_at":"t","response":"a\nb","done":false}"#;
    let mut chunk = WireChunk::default();
    decoder.decode_into(escaped, &mut chunk).unwrap();
    match &chunk.response {
        Some(Cow::Owned(text)) => {
            assert_eq!(text, "a\nb");
            assert!(
                text.capacity() >= 3000,
                "a new allocation: {}",
                text.capacity()
            );
        }
        other => panic!("not unescaped into an owned text: {other:?}"),
    }
    // A text over the bound is not kept.
    decoder.recycle(WireChunk {
        response: Some(Cow::Owned(String::with_capacity(
            StreamDecoder::SPARE_MAX + 1,
        ))),
        ..WireChunk::default()
    });
    let mut chunk = WireChunk::default();
    decoder.decode_into(escaped, &mut chunk).unwrap();
    let kept = chunk.response.as_ref().map(|t| match t {
        Cow::Owned(t) => t.capacity(),
        Cow::Borrowed(_) => 0,
    });
    assert!(
        kept.is_some_and(|c| c < StreamDecoder::SPARE_MAX),
        "{kept:?}"
    );

    let mut decoder = StreamDecoder::new();
    let mut owned = 0;
    for line in replay_lines().iter().chain(&fixture_lines()) {
        let mut chunk = WireChunk::default();
        let got = decoder.decode_into(line, &mut chunk).map(|()| chunk);
        assert_eq!(view(&got), view(&decode_chunk_serde(line)));
        if let Ok(chunk) = got {
            owned += usize::from(matches!(chunk.response, Some(Cow::Owned(_))));
            decoder.recycle(chunk);
        }
    }
    assert!(owned > 1, "escaped texts in the streams: {owned}");
}

/// The fixture and the replay as streams, each through one [`StreamDecoder`]: every
/// line as serde_json decodes it, and every line that repeats the shape of the
/// first line without escapes (every later line but the final object, escaped
/// text included) read through the skeleton.
#[test]
fn streams_decode_identically_and_repeated_shapes_take_the_skeleton() {
    let fixture = fixture_lines();
    let mut decoder = StreamDecoder::new();
    let mut fitted = 0;
    for line in &fixture {
        fitted += usize::from(decoder.fits(line));
        let mut chunk = WireChunk::default();
        let got = decoder.decode_into(line, &mut chunk).map(|()| chunk);
        assert_eq!(view(&got), view(&decode_chunk_serde(line)));
    }
    let first_plain = fixture.iter().position(|l| !l.contains(&b'\\')).unwrap();
    assert!(fixture[first_plain + 1..]
        .iter()
        .any(|l| l.contains(&b'\\')));
    assert_eq!(
        fitted,
        fixture.len() - first_plain - 2,
        "every line after the first plain one but the final one"
    );
    let mut decoder = StreamDecoder::new();
    for line in replay_lines().iter().chain(&fixture) {
        let mut chunk = WireChunk::default();
        let got = decoder.decode_into(line, &mut chunk).map(|()| chunk);
        assert_eq!(view(&got), view(&decode_chunk_serde(line)));
    }
    // Whitespace, key order and values outside strings are the skeleton's: a line
    // that differs there is read whole.
    let first = br#"{"model":"m","created_at":"t","response":"a","done":false}"#;
    let mut decoder = StreamDecoder::new();
    decoder
        .decode_into(first, &mut WireChunk::default())
        .unwrap();
    for (line, fits) in [
        (
            &br#"{"model":"m2","created_at":"t2","response":"","done":false}"#[..],
            true,
        ),
        (
            "{\"model\":\"m\",\"created_at\":\"t\",\"response\":\"caf\u{e9}\",\"done\":false}"
                .as_bytes(),
            true,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a\n","done":false}"#,
            true,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a\"}\u00e9\ud83d\ude00","done":false}"#,
            true,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a\x","done":false}"#,
            false,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a\ud83d","done":false}"#,
            false,
        ),
        (
            br#"{"model":"m","created_at":"t\"","response":"a","done":false}"#,
            true,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a","done":true}"#,
            false,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a", "done":false}"#,
            false,
        ),
        (
            br#"{"created_at":"t","model":"m","response":"a","done":false}"#,
            false,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a","done":false} "#,
            false,
        ),
        (
            b"{\"model\":\"m\",\"created_at\":\"t\",\"response\":\"a\xff\",\"done\":false}",
            false,
        ),
        (
            br#"{"model":"m","created_at":"t","response":"a","b":"c","done":false}"#,
            false,
        ),
    ] {
        assert_eq!(
            decoder.fits(line),
            fits,
            "{}",
            String::from_utf8_lossy(line)
        );
        same_after(first, line);
    }
}

#[test]
fn escaped_lines_decode_identically_and_once() {
    for line in ESCAPES {
        same(line.as_bytes());
    }
    // Valid escapes are read by the plain path (one parse), invalid ones left to
    // serde_json for its error.
    for (line, plain) in [
        (r#"{"response":"a\"b\\c\/d\be\ff\ng\rh\ti"}"#, true),
        (r#"{"response":"\ud83d\ude00\u00e9\u0000"}"#, true),
        (r#"{"respon\u0073e":"x"}"#, true),
        (r#"{"response":"\ud83d"}"#, false),
        (r#"{"response":"\ude00"}"#, false),
        (r#"{"response":"\x"}"#, false),
        (r#"{"response":"\u12"}"#, false),
        ("{\"response\":\"\\n\u{1}\"}", false),
    ] {
        assert_eq!(
            super::decode_plain(line.as_bytes()).is_some(),
            plain,
            "{line}"
        );
    }
    let c = decode_chunk(br#"{"response":"say \"hi\"\n\ud83d\ude00"}"#).unwrap();
    assert_eq!(c.content(), "say \"hi\"\n\u{1F600}");
    assert!(matches!(c.response, Some(Cow::Owned(_))));
    let c = decode_chunk(br#"{"respon\u0073e":"x"}"#).unwrap();
    assert_eq!(c.content(), "x", "an escaped key names its field");
    assert!(matches!(c.response, Some(Cow::Borrowed(_))));
    for line in [&br#"{"response":"\ud83d"}"#[..], br#"{"response":"\q"}"#] {
        assert!(matches!(decode_chunk(line), Err(DecodeError::Malformed(_))));
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
            "\\\\",
            "\\/",
            "\\b\\f\\r\\t",
            "\\u003c",
            "\\uDBFF\\uDFFF",
            "\\ud83d",
            "\\ude00",
            "\\x",
            "\\u12",
            "\u{1}",
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
        base in prop::sample::select(EDGES.iter().chain(ESCAPES).chain([
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
        same_after(base.as_bytes(), &line);
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

    #[test]
    fn escape_soup_decodes_identically(
        parts in prop::collection::vec(prop::sample::select(ESCAPE_PARTS), 0..8),
        field in prop::sample::select(vec!["response", "done_reason", "error", "model"]),
        in_message in any::<bool>(),
        cut in any::<Option<usize>>(),
    ) {
        let text = parts.concat();
        let mut line = if in_message {
            format!(r#"{{"message":{{"role":"assistant","content":"{text}"}},"done":false}}"#)
        } else {
            format!(r#"{{"{field}":"{text}","done":false}}"#)
        }
        .into_bytes();
        if let Some(cut) = cut {
            line.truncate(cut % (line.len() + 1));
        }
        same(&line);
        let plain = if in_message {
            r#"{"message":{"role":"assistant","content":"a"},"done":false}"#.to_string()
        } else {
            format!(r#"{{"{field}":"a","done":false}}"#)
        };
        same_after(plain.as_bytes(), &line);
    }
}

/// Pieces of string content for [`escape_soup_decodes_identically`]: plain text,
/// every escape, halves of surrogate pairs and broken escapes, raw control and
/// multi-byte characters, a stray quote.
const ESCAPE_PARTS: &[&str] = &[
    "a", " ", "é", "😀", "\\", "\\\\", "\\\"", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u",
    "\\u0", "\\u00", "\\u00e", "\\u00e9", "\\u00E9", "\\u0000", "\\u001F", "\\uffff", "\\ud800",
    "\\udbff", "\\ud83d", "\\udc00", "\\ude00", "\\udfff", "\\ug000", "\\x", "\\U", "\\0", "\u{0}",
    "\u{1f}", "\t", "\n", "\u{7f}", "\"",
];

/// Pieces of string content for [`utf8_soup_decodes_identically`], as bytes:
/// ASCII, characters of every UTF-8 length, escapes, and byte sequences that are not
/// UTF-8 (a lone continuation byte, a cut sequence, an overlong encoding, an encoded
/// surrogate, a code point above U+10FFFF, bytes that never occur).
const UTF8_PARTS: &[&[u8]] = &[
    b"a",
    b"abcdefgh",
    b" ",
    "é".as_bytes(),
    "€".as_bytes(),
    "😀".as_bytes(),
    "日本語のテキスト".as_bytes(),
    b"\\n",
    b"\\u00e9",
    b"\\\"",
    b"\x80",
    b"\xbf",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf5",
    b"\xff",
];

#[test]
fn non_ascii_lines_decode_identically_and_once() {
    // UTF-8 text is read by the plain path (borrowed when it has no escapes); bytes
    // that are not UTF-8, in a string or outside one, are left to serde_json, whose
    // error says where the valid prefix ends.
    for (line, plain) in [
        (
            "{\"response\":\"caf\u{e9} \u{1F600} \u{65e5}\u{672c}\"}".as_bytes(),
            true,
        ),
        ("{\"response\":\"\u{e9}\\n\u{e9}\"}".as_bytes(), true),
        (
            "{\"r\u{e9}sponse\":\"x\",\"response\":\"\u{20ac}\"}".as_bytes(),
            true,
        ),
        (b"{\"response\":\"\xff\"}", false),
        (b"{\"response\":\"abcdefgh\xc3\"}", false),
        (b"{\"response\":\"\xed\xa0\x80\"}", false),
        (b"{\"response\":\"\xc0\xaf\"}", false),
        (b"{\"response\":\"\xf4\x90\x80\x80\"}", false),
        (b"{\"r\xe9sponse\":\"x\"}", false),
        (b"{\"response\":\"x\"}\xc3\xa9", false),
        (b"{\"response\":\xc3\xa9}", false),
        (b"{\"response\":\"\\n\xff\"}", false),
    ] {
        assert_eq!(
            super::decode_plain(line).is_some(),
            plain,
            "{}",
            String::from_utf8_lossy(line)
        );
        same(line);
    }
    let c = decode_chunk("{\"response\":\"caf\u{e9} \u{1F600}\"}".as_bytes()).unwrap();
    assert_eq!(c.content(), "caf\u{e9} \u{1F600}");
    assert!(matches!(c.response, Some(Cow::Borrowed(_))));
    assert_eq!(
        decode_chunk(b"{\"response\":\"abcdefgh\xc3\"}").unwrap_err(),
        DecodeError::InvalidUtf8 { valid_up_to: 21 }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn utf8_soup_decodes_identically(
        parts in prop::collection::vec(prop::sample::select(UTF8_PARTS), 0..8),
        place in 0..4u8,
        cut in any::<Option<usize>>(),
    ) {
        let text = parts.concat();
        let mut line = Vec::new();
        match place {
            // A text field's value, a message's content, an ignored field's value,
            // an object key.
            0 => line.extend_from_slice(b"{\"response\":\""),
            1 => line.extend_from_slice(b"{\"message\":{\"role\":\"assistant\",\"content\":\""),
            2 => line.extend_from_slice(b"{\"model\":\""),
            _ => line.extend_from_slice(b"{\""),
        }
        line.extend_from_slice(&text);
        line.extend_from_slice(match place {
            1 => b"\"},\"done\":false}".as_slice(),
            3 => b"\":1,\"done\":false}",
            _ => b"\",\"done\":false}",
        });
        if let Some(cut) = cut {
            line.truncate(cut % (line.len() + 1));
        }
        same(&line);
        let plain: &[u8] = match place {
            0 => br#"{"response":"a","done":false}"#,
            1 => br#"{"message":{"role":"assistant","content":"a"},"done":false}"#,
            2 => br#"{"model":"a","done":false}"#,
            _ => br#"{"a":1,"done":false}"#,
        };
        same_after(plain, &line);
        // Valid UTF-8 without a broken escape is always the plain path's.
        if let Ok(s) = std::str::from_utf8(&line) {
            if cut.is_none() && serde_json::from_str::<serde_json::Value>(s).is_ok() {
                prop_assert!(super::decode_plain(&line).is_some(), "{}", s);
            }
        }
    }
}
