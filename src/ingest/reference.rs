//! The JSON parsing of ingest as it was before the tape (commit 5e4fa11), kept for
//! the tests only: the tape-based parser must give exactly its output on every input.

use std::borrow::Cow;

use self::json_tree::{get, Node};
use super::json_file::{JsonData, MetricRecord};

/// Keys whose presence makes an object a metric record.
const METRIC_KEYS: [&str; 16] = [
    "tokens_per_second",
    "tokens_s",
    "tok_s",
    "throughput",
    "ttft",
    "ttft_s",
    "ttft_ms",
    "latency",
    "latency_s",
    "latency_ms",
    "load_duration",
    "eval_duration",
    "prompt_eval_duration",
    "total_duration",
    "load_s",
    "eval_s",
];

/// Child objects whose scalar fields describe the configuration of their parent.
const CONFIG_CHILDREN: [&str; 4] = ["options", "settings", "config", "parameters"];

/// Cap on records kept per file (protects against pathological inputs).
const MAX_RECORDS: usize = 10_000;

#[derive(Clone, Default)]
struct Ctx<'a> {
    model: Option<&'a str>,
    num_gpu: Option<f64>,
    num_ctx: Option<f64>,
    temperature: Option<f64>,
}

impl<'a> Ctx<'a> {
    fn absorb(&mut self, obj: &'a [(Cow<'a, str>, Node<'a>)]) {
        for (k, v) in obj {
            match k.as_ref() {
                "model" | "model_name" => {
                    if let Some(s) = v.as_str() {
                        self.model = Some(s);
                    }
                }
                "num_gpu" => self.num_gpu = v.as_f64().or(self.num_gpu),
                "num_ctx" => self.num_ctx = v.as_f64().or(self.num_ctx),
                "temperature" => self.temperature = v.as_f64().or(self.temperature),
                _ => {}
            }
        }
    }
}

pub(in crate::ingest) fn parse(text: &str) -> Result<JsonData, String> {
    let value = json_tree::parse(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let top_level_keys = match &value {
        Node::Obj(m) => m.iter().map(|(k, _)| k.to_string()).collect(),
        _ => Vec::new(),
    };
    let mut records = Vec::new();
    let mut pointer = String::new();
    visit(&value, &Ctx::default(), &mut pointer, &mut records);
    Ok(JsonData {
        top_level_keys,
        records,
    })
}

fn push_segment(pointer: &mut String, seg: &str) {
    pointer.push('/');
    for c in seg.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn visit<'a>(v: &'a Node<'a>, parent: &Ctx<'a>, pointer: &mut String, out: &mut Vec<MetricRecord>) {
    match v {
        Node::Obj(obj) => {
            let mut ctx = parent.clone();
            for key in CONFIG_CHILDREN {
                if let Some(Node::Obj(child)) = get(obj, key) {
                    ctx.absorb(child);
                }
            }
            ctx.absorb(obj);
            if out.len() < MAX_RECORDS {
                if let Some(rec) = record(obj, &ctx, pointer) {
                    out.push(rec);
                }
            }
            for (k, child) in obj {
                if child.is_container() {
                    let len = pointer.len();
                    push_segment(pointer, k);
                    visit(child, &ctx, pointer, out);
                    pointer.truncate(len);
                }
            }
        }
        Node::Arr(items) => {
            for (i, child) in items.iter().enumerate() {
                if child.is_container() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    visit(child, parent, pointer, out);
                    pointer.truncate(len);
                }
            }
        }
        _ => {}
    }
}

fn num(obj: &[(Cow<'_, str>, Node<'_>)], key: &str) -> Option<f64> {
    get(obj, key)
        .and_then(Node::as_f64)
        .filter(|v| v.is_finite())
}

fn error_of(obj: &[(Cow<'_, str>, Node<'_>)]) -> Option<String> {
    if let Some(Node::Str(s)) = get(obj, "error") {
        if !s.trim().is_empty() {
            return Some(s.to_string());
        }
    }
    let failed = matches!(get(obj, "success"), Some(Node::Bool(false)))
        || get(obj, "status")
            .and_then(Node::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("error") || s.eq_ignore_ascii_case("failed"));
    failed.then(|| "failed (no message)".to_string())
}

fn record(obj: &[(Cow<'_, str>, Node<'_>)], ctx: &Ctx<'_>, pointer: &str) -> Option<MetricRecord> {
    let has_metric = METRIC_KEYS.iter().any(|k| get(obj, k).is_some());
    let error = error_of(obj);
    if !has_metric && error.is_none() {
        return None;
    }
    let tokens_per_second = ["tokens_per_second", "tokens_s", "tok_s", "throughput"]
        .iter()
        .find_map(|k| num(obj, k))
        .or_else(
            || match (num(obj, "eval_count"), num(obj, "eval_duration")) {
                (Some(c), Some(d)) if d > 0.0 => Some(c / (d / 1e9)),
                _ => None,
            },
        );
    let ttft_s = num(obj, "ttft_s")
        .or_else(|| num(obj, "ttft"))
        .or_else(|| num(obj, "ttft_ms").map(|ms| ms / 1000.0));
    let load_s = num(obj, "load_s").or_else(|| num(obj, "load_duration").map(|ns| ns / 1e9));
    let fields = obj
        .iter()
        .filter_map(|(k, v)| {
            v.as_f64()
                .filter(|x| x.is_finite())
                .map(|x| (k.to_string(), x))
        })
        .collect();
    Some(MetricRecord {
        pointer: if pointer.is_empty() {
            "/".to_string()
        } else {
            pointer.to_string()
        },
        model: ctx.model.map(std::sync::Arc::from),
        num_gpu: ctx.num_gpu,
        num_ctx: ctx.num_ctx,
        temperature: ctx.temperature,
        tokens_per_second,
        ttft_s,
        load_s,
        cold_start: get(obj, "cold_start").and_then(Node::as_bool),
        error,
        fields,
    })
}

mod json_tree {
    //! (Reference copy.) A borrowed JSON tree for ingest: strings point into the file's text unless they
    //! hold escapes, objects are vectors in file order (no hashing, no key copies).
    //! Parsing is still serde_json's (same grammar, same 128-level recursion limit);
    //! only the in-memory shape is lighter than `serde_json::Value`.

    use std::borrow::Cow;
    use std::fmt;

    use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    /// One JSON value borrowing from the input.
    #[derive(Debug, Clone, PartialEq)]
    pub(in crate::ingest) enum Node<'a> {
        /// `null`.
        Null,
        /// `true` / `false`.
        Bool(bool),
        /// Any number, as `f64` (like `serde_json::Value::as_f64`).
        Num(f64),
        /// A string.
        Str(Cow<'a, str>),
        /// An array.
        Arr(Vec<Node<'a>>),
        /// An object, members in file order.
        Obj(Vec<(Cow<'a, str>, Node<'a>)>),
    }

    impl<'a> Node<'a> {
        /// The number, if this is one.
        pub(in crate::ingest) fn as_f64(&self) -> Option<f64> {
            match self {
                Node::Num(x) => Some(*x),
                _ => None,
            }
        }

        /// The string, if this is one.
        pub(in crate::ingest) fn as_str(&self) -> Option<&str> {
            match self {
                Node::Str(s) => Some(s),
                _ => None,
            }
        }

        /// The boolean, if this is one.
        pub(in crate::ingest) fn as_bool(&self) -> Option<bool> {
            match self {
                Node::Bool(b) => Some(*b),
                _ => None,
            }
        }

        /// True for objects and arrays.
        pub(in crate::ingest) fn is_container(&self) -> bool {
            matches!(self, Node::Arr(_) | Node::Obj(_))
        }
    }

    /// The value of `key` in an object's members; the last one wins when a key repeats
    /// (as with `serde_json::Value`).
    pub(in crate::ingest) fn get<'n, 'a>(
        members: &'n [(Cow<'a, str>, Node<'a>)],
        key: &str,
    ) -> Option<&'n Node<'a>> {
        members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Parses `text` as one JSON document.
    pub(in crate::ingest) fn parse(text: &str) -> Result<Node<'_>, serde_json::Error> {
        serde_json::from_str(text)
    }

    struct NodeVisitor;

    impl<'de> Visitor<'de> for NodeVisitor {
        type Value = Node<'de>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
            Ok(Node::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
            Ok(Node::Num(v as f64))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
            Ok(Node::Num(v as f64))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
            Ok(Node::Num(v))
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
            Ok(Node::Str(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
            Ok(Node::Str(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
            Ok(Node::Str(Cow::Owned(v)))
        }
        fn visit_unit<E>(self) -> Result<Node<'de>, E> {
            Ok(Node::Null)
        }
        fn visit_none<E>(self) -> Result<Node<'de>, E> {
            Ok(Node::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
            Node::deserialize(d)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Node::Arr(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
            let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(key) = map.next_key_seed(KeySeed)? {
                members.push((key, map.next_value()?));
            }
            Ok(Node::Obj(members))
        }
    }

    impl<'de> Deserialize<'de> for Node<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NodeVisitor)
        }
    }

    /// Deserializes an object key, borrowing it when it has no escapes.
    struct KeySeed;

    impl<'de> DeserializeSeed<'de> for KeySeed {
        type Value = Cow<'de, str>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(KeyVisitor)
        }
    }

    struct KeyVisitor;

    impl<'de> Visitor<'de> for KeyVisitor {
        type Value = Cow<'de, str>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object key")
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
}

/// [`super::parse_bytes`] as it was: csv-core for every CSV file, the tree for JSON.
pub(in crate::ingest) fn parse_bytes(kind: super::FileKind, data: &[u8]) -> super::ParseOutcome {
    use super::{FileKind, ParseOutcome};
    let skipped = |reason: String| ParseOutcome::Skipped { reason };
    if data.is_empty() {
        return skipped("empty file (0 bytes)".into());
    }
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => {
            return skipped(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ))
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let outcome = match kind {
        FileKind::Csv => super::csv_file::parse_csv_core(text).map(ParseOutcome::Csv),
        FileKind::Json => parse(text).map(ParseOutcome::Json),
        FileKind::Markdown => Ok(ParseOutcome::Markdown(super::markdown::parse(text))),
    };
    outcome.unwrap_or_else(skipped)
}

#[cfg(test)]
mod tests {
    use super::super::{parse_bytes as fast, FileKind};
    use super::parse_bytes as reference;
    use crate::rng::SplitMix64;

    /// `{:?}` tells -0.0 from 0.0 and shows every field: equal strings, equal output.
    fn same(kind: FileKind, data: &[u8]) {
        let want = format!("{:?}", reference(kind, data));
        let got = format!("{:?}", fast(kind, data));
        if got != want {
            panic!(
                "{kind:?} input {:?}\n fast: {got}\n  ref: {want}",
                String::from_utf8_lossy(data)
            );
        }
    }

    fn kind_of(path: &str) -> FileKind {
        FileKind::from_name(path).expect("a considered extension")
    }

    fn seeds() -> Vec<(FileKind, Vec<u8>)> {
        let mut out = Vec::new();
        for seed in [112, 1, 7] {
            for f in crate::corpus::build(seed) {
                out.push((kind_of(&f.path), f.bytes));
            }
        }
        out
    }

    #[test]
    fn generated_corpora_parse_exactly_as_before() {
        let seeds = seeds();
        assert!(seeds.len() >= 300);
        for (kind, data) in &seeds {
            same(*kind, data);
        }
    }

    #[test]
    fn csv_edge_cases_parse_exactly_as_before() {
        let cases: &[&str] = &[
            "a,b\n1,2\n",
            "a,b\r\n1,2\r\n3,4",
            "a,b\r1,2\r3,4\r",
            "a,b\n\n\n1,2\n\r\n\r\n3,4\n\n",
            "\n\na,b\n1,2",
            "a,b\n1,2,3\n4\n,\n,,\n",
            "a,b,\n1,2,\n1,2",
            ",,\n1,2,3\n",
            "\r\n,\r\n",
            "\u{feff}a,b\n1,2\n",
            "\"a\",\"b\"\n\"1\",\"2\"\n",
            "\"a\",b\n\"x, y\",2\n\"multi\nline\",3\n4,\"\"\n",
            "a,b\n\"x\"\"y\",1\n",
            "a,b\n\"x\"y,1\n",
            "a,b\n\"unclosed,1\n2,3\n",
            "a,b\nx\"y,1\n\"\n",
            "a,b\n \"q\",1\n",
            "a,b\n\"q\"\r\n\"r\"\r",
            "\"\"\n1\n",
            "\"\n\"\n1\n",
            "model,tokens_s\nm,1e5\nm,+1\nm,.5\nm,5.\nm,-0\nm,-0.0\nm,00012.50\n",
            "model,tokens_s\nm,inf\nm,1\n",
            "model,tokens_s\nm,NaN\n",
            "model,tokens_s\nm,1.7976931348623157e309\n",
            "x,y,z\n0.1,0.2,0.3\n123456789012345,1234567890123456,0.000000000000001\n",
            "x,y\n9007199254740993,-12345678901234567890\n1.0000000000000002,3.14159265358979323846\n",
            "x,y\n-,.\n-.5,1..2\n 7 ,\t8\u{a0}\n",
            "MODEL,Error,Status\nm, boom ,ok\n,,\n",
            "caf\u{e9},\u{2003}x\u{2003}\n\u{e9},1\n",
        ];
        for c in cases {
            same(FileKind::Csv, c.as_bytes());
        }
    }

    #[test]
    fn json_edge_cases_parse_exactly_as_before() {
        let cases: &[&str] = &[
            r#"{"model":"outer","runs":[{"parameters":{"num_gpu":3},"options":{"num_gpu":1,"model":"o"},
                 "settings":{"num_gpu":2,"num_ctx":64},"options":{"num_ctx":8},"model":7,
                 "model_name":"mn","temperature":"hot","temperature":0.5,"temperature":null,
                 "tok_s":"fast","throughput":42,"status":"FAILED","error":"  ","latency":1}]}"#,
            r#"{"a~b/c":{"x\/y":[{"ttft":1}]},"\u00e9":{"error":"e\n"}}"#,
            r#"[{"ttft_ms":-0,"eval_count":10,"eval_duration":0},{"success":false},{"status":"Error"}]"#,
            r#"{"eval_count":10,"eval_duration":2e9,"load_duration":1.5e8,"cold_start":"yes"}"#,
            r#"{"tokens_s":1e308,"x":-1e-400,"y":18446744073709551616,"z":-9223372036854775809}"#,
            r#"{"settings":[1],"config":{"model":"c","num_ctx":"x"},"ttft":null,"tok_s":3}"#,
            r#"{"runs":[[{"ttft":1}],[[{"ttft":2}]]],"model":"m","runs":{"more":{"ttft":3}}}"#,
            "[]",
            "3",
            "\"s\"",
            "{}",
            "{\"a\":1,}",
            "[1,2",
            "{\"a\":\"\\ud800\"}",
            "  {\"ttft\": 1}  \n",
            "{\"ttft\": 1} x",
        ];
        for c in cases {
            same(FileKind::Json, c.as_bytes());
        }
        let deep = format!("{}{{\"ttft\":1}}{}", "[".repeat(126), "]".repeat(126));
        same(FileKind::Json, deep.as_bytes());
        let too_deep = format!("{}{{\"ttft\":1}}{}", "[".repeat(130), "]".repeat(130));
        same(FileKind::Json, too_deep.as_bytes());
        let many: String = format!("[{}]", vec!["{\"ttft\":1}"; 10_050].join(","));
        same(FileKind::Json, many.as_bytes());
    }

    /// Bytes that matter to the CSV and JSON grammars, for the mutations.
    const SPECIAL: &[u8] = b",\"\r\n{}[]:\\ .-+e0123456789tfn\t";

    fn mutate(rng: &mut SplitMix64, data: &[u8]) -> Vec<u8> {
        let mut d = data.to_vec();
        let below = |rng: &mut SplitMix64, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
        for _ in 0..1 + below(rng, 4) {
            let at = below(rng, d.len() + 1);
            match below(rng, 6) {
                0 if at < d.len() => d[at] = SPECIAL[below(rng, SPECIAL.len())],
                1 => d.insert(at, SPECIAL[below(rng, SPECIAL.len())]),
                2 if at < d.len() => {
                    d.remove(at);
                }
                3 => d.truncate(at),
                4 if at < d.len() => d[at] = rng.next_u64() as u8,
                _ => {
                    let from = below(rng, d.len());
                    let len = below(rng, 64).min(d.len() - from.min(d.len()));
                    let piece = d[from..from + len].to_vec();
                    let at = at.min(d.len());
                    d.splice(at..at, piece);
                }
            }
        }
        d
    }

    #[test]
    fn mutated_inputs_parse_exactly_as_before() {
        let seeds: Vec<(FileKind, Vec<u8>)> = seeds()
            .into_iter()
            .filter(|(k, _)| *k != FileKind::Markdown)
            .collect();
        let mut rng = SplitMix64::new(0x1D6E57);
        let rounds: usize = std::env::var("AGENTBENCH_FUZZ_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000);
        for _ in 0..rounds {
            let (kind, data) = &seeds[(rng.next_u64() % seeds.len() as u64) as usize];
            same(*kind, &mutate(&mut rng, data));
        }
    }
}
