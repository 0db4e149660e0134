//! JSON parsing: find metric-bearing records anywhere in the tree, with the model and
//! options they inherit from enclosing objects.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use super::json_tree::{self, Tape, Tok};

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
#[cfg_attr(not(test), allow(dead_code))] // looked up through `slot_of` / `CONFIG_SLOTS`
const CONFIG_CHILDREN: [&str; 4] = ["options", "settings", "config", "parameters"];

/// Cap on records kept per file (protects against pathological inputs).
const MAX_RECORDS: usize = 10_000;

/// One object holding metrics (or a failed run), with inherited context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRecord {
    /// JSON pointer to the object (RFC 6901), e.g. `/results/3`.
    pub pointer: String,
    /// Model, from the object or its ancestors (`model` / `model_name`). Shared by
    /// the records of a file that name the same model one after another.
    #[serde(serialize_with = "serialize_model")]
    pub model: Option<Arc<str>>,
    /// `num_gpu` from the object, an `options`/`settings`/`config` child, or ancestors.
    pub num_gpu: Option<f64>,
    /// `num_ctx`, inherited the same way.
    pub num_ctx: Option<f64>,
    /// `temperature`, inherited the same way.
    pub temperature: Option<f64>,
    /// Decode throughput in tok/s: `tokens_per_second`/`tokens_s`/`tok_s`/`throughput`,
    /// else `eval_count / eval_duration` (ns) when both are present.
    pub tokens_per_second: Option<f64>,
    /// Time to first token in seconds (`ttft_s`, `ttft`, or `ttft_ms / 1000`).
    pub ttft_s: Option<f64>,
    /// Model load seconds (`load_s`, or `load_duration` ns / 1e9), when present.
    pub load_s: Option<f64>,
    /// `cold_start` flag when present.
    pub cold_start: Option<bool>,
    /// Error message for failed runs (`error` string, `success: false`, `status: "error"`).
    pub error: Option<String>,
    /// Every numeric field of the object (its own keys only), by key.
    pub fields: NumericFields,
}

/// Serializes a record's model as the `Option<String>` it stands for.
fn serialize_model<S: serde::Serializer>(
    model: &Option<Arc<str>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    model.as_deref().serialize(s)
}

/// A record's numeric fields: each key once, in `str` order, with the value of its
/// last occurrence — the map that collecting the object's `(key, value)` pairs in
/// file order into a `BTreeMap<String, f64>` gives, held in one allocation of its
/// own (the values) instead of one per key and per tree node: the keys are shared
/// by the records of a file whose keys came in the same sequence (the rows of a
/// results array). It compares, prints (`{:?}`) and serializes exactly as that map
/// does.
#[derive(Clone, Default, PartialEq)]
pub struct NumericFields {
    /// The keys, in order.
    keys: Arc<FieldKeys>,
    /// The value of each key, in the same order.
    values: Vec<f64>,
}

/// Keys in order: concatenated, with the end of each in `text`.
#[derive(Default, PartialEq, Eq)]
struct FieldKeys {
    text: String,
    ends: Vec<usize>,
}

/// Which of a record's numeric pairs [`NumericFields::from_pairs`] keeps, in key
/// order, for the last key sequence it was given.
#[derive(Default)]
struct FieldOrder<'k> {
    /// The keys of the pairs, in file order.
    keys: Vec<&'k str>,
    /// Indices of the pairs kept, in key order.
    kept: Vec<usize>,
    /// The kept keys, in key order, once a record with these keys was built: the
    /// next record with the same key sequence shares them.
    shared: Option<Arc<FieldKeys>>,
}

impl NumericFields {
    /// Builds the map from `pairs` in file order, using `scratch` (left empty) to
    /// hold them. Which pairs are kept, in which order, depends on the key sequence
    /// alone: a stable sort by key keeps repeated keys in file order, and the last
    /// of each run is kept, as a map insert would. `order` remembers that choice for
    /// the last key sequence seen, so a record with the same keys in the same order
    /// as the one before (the rows of a results array) is ordered without sorting
    /// and shares that record's keys.
    fn from_pairs<'k>(
        order: &mut FieldOrder<'k>,
        scratch: &mut Vec<(&'k str, f64)>,
        pairs: impl Iterator<Item = (&'k str, f64)>,
    ) -> Self {
        scratch.clear();
        scratch.extend(pairs);
        let same_keys = scratch.len() == order.keys.len()
            && scratch.iter().zip(&order.keys).all(|(p, k)| p.0 == *k);
        if !same_keys {
            order.keys.clear();
            order.keys.extend(scratch.iter().map(|p| p.0));
            let kept = &mut order.kept;
            kept.clear();
            kept.extend(0..scratch.len());
            let key = |i: usize| scratch[i].0;
            kept.sort_by(|&a, &b| key(a).cmp(key(b)));
            let mut n = 0;
            for i in 0..kept.len() {
                if i + 1 < kept.len() && key(kept[i + 1]) == key(kept[i]) {
                    continue;
                }
                kept[n] = kept[i];
                n += 1;
            }
            kept.truncate(n);
            order.shared = None;
        }
        let keys = match &order.shared {
            Some(keys) => Arc::clone(keys),
            None => {
                let mut text =
                    String::with_capacity(order.kept.iter().map(|&i| scratch[i].0.len()).sum());
                let mut ends = Vec::with_capacity(order.kept.len());
                for &i in &order.kept {
                    text.push_str(scratch[i].0);
                    ends.push(text.len());
                }
                let keys = Arc::new(FieldKeys { text, ends });
                order.shared = Some(Arc::clone(&keys));
                keys
            }
        };
        let values = order.kept.iter().map(|&i| scratch[i].1).collect();
        scratch.clear();
        Self { keys, values }
    }

    /// The fields as `(key, value)`, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, f64)> + '_ {
        let FieldKeys { text, ends } = &*self.keys;
        ends.iter()
            .zip(&self.values)
            .enumerate()
            .map(|(i, (&end, &v))| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                (&text[start..end], v)
            })
    }

    /// The value of `key`, if the record has it.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` when the record has no numeric field.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl FromIterator<(String, f64)> for NumericFields {
    /// Collects through a `BTreeMap<String, f64>`: the map semantics by definition.
    fn from_iter<I: IntoIterator<Item = (String, f64)>>(pairs: I) -> Self {
        let map: BTreeMap<String, f64> = pairs.into_iter().collect();
        Self::from_pairs(
            &mut FieldOrder::default(),
            &mut Vec::new(),
            map.iter().map(|(k, &v)| (k.as_str(), v)),
        )
    }
}

impl fmt::Debug for NumericFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for NumericFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// What a parsed JSON file holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonData {
    /// Keys of the top-level object (empty for other top-level values), in file order.
    pub top_level_keys: Vec<String>,
    /// Metric records in document order (depth-first).
    pub records: Vec<MetricRecord>,
}

#[derive(Clone, Copy, Default)]
struct Ctx<'t> {
    model: Option<&'t str>,
    num_gpu: Option<f64>,
    num_ctx: Option<f64>,
    temperature: Option<f64>,
}

impl<'t> Ctx<'t> {
    /// Takes one member if it is context (`model` / `model_name` when a string,
    /// `num_gpu`, `num_ctx`, `temperature` when numbers); `false` for other keys.
    /// Applied to an object's members in file order, the last valid value wins.
    fn take(&mut self, key: &str, v: &'t Tok<'_>) -> bool {
        match key {
            "model" | "model_name" => {
                if let Some(s) = v.as_str() {
                    self.model = Some(s);
                }
            }
            "num_gpu" => self.num_gpu = v.as_f64().or(self.num_gpu),
            "num_ctx" => self.num_ctx = v.as_f64().or(self.num_ctx),
            "temperature" => self.temperature = v.as_f64().or(self.temperature),
            _ => return false,
        }
        true
    }

    /// Overrides this context with what an object's own members set (`own`, built
    /// with [`Ctx::take`] from an empty context): the same as taking those members
    /// one by one on top of this context.
    fn apply(&mut self, own: &Ctx<'t>) {
        if own.model.is_some() {
            self.model = own.model;
        }
        self.num_gpu = own.num_gpu.or(self.num_gpu);
        self.num_ctx = own.num_ctx.or(self.num_ctx);
        self.temperature = own.temperature.or(self.temperature);
    }

    /// What the members of the object at `i` set.
    fn own(tape: &'t Tape<'_>, i: usize) -> Ctx<'t> {
        let mut own = Ctx::default();
        for (k, v) in tape.members(i) {
            own.take(tape.key(k), &tape.toks[v]);
        }
        own
    }
}

/// Keys an object is looked up by (besides the context keys), as slot indices: the
/// 16 [`METRIC_KEYS`] first, in that order.
const EVAL_COUNT: usize = 16;
const ERROR: usize = 17;
const SUCCESS: usize = 18;
const STATUS: usize = 19;
const COLD_START: usize = 20;
/// [`CONFIG_CHILDREN`], in that order.
const CONFIG_SLOTS: [usize; 4] = [21, 22, 23, 24];
const SLOTS: usize = 25;

fn slot_of(key: &str) -> Option<usize> {
    Some(match key {
        "tokens_per_second" => 0,
        "tokens_s" => 1,
        "tok_s" => 2,
        "throughput" => 3,
        "ttft" => 4,
        "ttft_s" => 5,
        "ttft_ms" => 6,
        "latency" => 7,
        "latency_s" => 8,
        "latency_ms" => 9,
        "load_duration" => 10,
        "eval_duration" => 11,
        "prompt_eval_duration" => 12,
        "total_duration" => 13,
        "load_s" => 14,
        "eval_s" => 15,
        "eval_count" => EVAL_COUNT,
        "error" => ERROR,
        "success" => SUCCESS,
        "status" => STATUS,
        "cold_start" => COLD_START,
        "options" => CONFIG_SLOTS[0],
        "settings" => CONFIG_SLOTS[1],
        "config" => CONFIG_SLOTS[2],
        "parameters" => CONFIG_SLOTS[3],
        _ => return None,
    })
}

/// One object's members, looked up once: the value index of the last occurrence of
/// each slot key (a repeated key's last value wins, as with `serde_json::Value`).
struct Slots<'t, 'a> {
    tape: &'t Tape<'a>,
    at: [usize; SLOTS],
}

impl<'t, 'a> Slots<'t, 'a> {
    fn get(&self, slot: usize) -> Option<&'t Tok<'a>> {
        let v = self.at[slot];
        (v != usize::MAX).then(|| &self.tape.toks[v])
    }

    fn num(&self, slot: usize) -> Option<f64> {
        self.get(slot)
            .and_then(Tok::as_f64)
            .filter(|v| v.is_finite())
    }
}

pub(super) fn parse(text: &str) -> Result<JsonData, String> {
    let tape = json_tree::parse(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let top_level_keys = match tape.toks[0] {
        Tok::Obj { .. } => tape
            .members(0)
            .map(|(k, _)| tape.key(k).to_string())
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Out {
        pointer: String::new(),
        records: Vec::new(),
        scratch: Vec::new(),
        order: FieldOrder::default(),
        last_model: None,
    };
    visit(&tape, 0, &Ctx::default(), &mut out);
    Ok(JsonData {
        top_level_keys,
        records: out.records,
    })
}

fn push_segment(pointer: &mut String, seg: &str) {
    pointer.push('/');
    if !seg.contains(['~', '/']) {
        pointer.push_str(seg);
        return;
    }
    for c in seg.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn is_container(t: &Tok<'_>) -> bool {
    matches!(t, Tok::Arr { .. } | Tok::Obj { .. })
}

/// What [`visit`] writes: the records found, with the JSON pointer of the value
/// being visited, and a scratch vector and the last field order for
/// [`NumericFields::from_pairs`].
struct Out<'t> {
    pointer: String,
    records: Vec<MetricRecord>,
    scratch: Vec<(&'t str, f64)>,
    order: FieldOrder<'t>,
    /// The model of the last record that had one, for the next to share.
    last_model: Option<Arc<str>>,
}

impl Out<'_> {
    /// `model` as the record's own: the last record's when it named the same one.
    fn model(&mut self, model: &str) -> Arc<str> {
        match &self.last_model {
            Some(last) if **last == *model => Arc::clone(last),
            _ => Arc::clone(self.last_model.insert(Arc::from(model))),
        }
    }
}

fn visit<'t>(tape: &'t Tape<'_>, i: usize, parent: &Ctx<'t>, out: &mut Out<'t>) {
    match tape.toks[i] {
        Tok::Obj { .. } => {
            let mut slots = Slots {
                tape,
                at: [usize::MAX; SLOTS],
            };
            let mut own = Ctx::default();
            let mut containers = false;
            for (k, v) in tape.members(i) {
                let key = tape.key(k);
                let tok = &tape.toks[v];
                containers |= is_container(tok);
                if !own.take(key, tok) {
                    if let Some(s) = slot_of(key) {
                        slots.at[s] = v;
                    }
                }
            }
            let mut ctx = *parent;
            for s in CONFIG_SLOTS {
                if let Some(Tok::Obj { .. }) = slots.get(s) {
                    ctx.apply(&Ctx::own(tape, slots.at[s]));
                }
            }
            ctx.apply(&own);
            if out.records.len() < MAX_RECORDS {
                if let Some(rec) = record(tape, i, &slots, &ctx, out) {
                    out.records.push(rec);
                }
            }
            if containers {
                for (k, v) in tape.members(i) {
                    if is_container(&tape.toks[v]) {
                        let len = out.pointer.len();
                        push_segment(&mut out.pointer, tape.key(k));
                        visit(tape, v, &ctx, out);
                        out.pointer.truncate(len);
                    }
                }
            }
        }
        Tok::Arr { .. } => {
            for (n, v) in tape.items(i).enumerate() {
                if is_container(&tape.toks[v]) {
                    let len = out.pointer.len();
                    let _ = write!(out.pointer, "/{n}");
                    visit(tape, v, parent, out);
                    out.pointer.truncate(len);
                }
            }
        }
        _ => {}
    }
}

fn error_of(slots: &Slots<'_, '_>) -> Option<String> {
    if let Some(Tok::Str(s)) = slots.get(ERROR) {
        if !s.trim().is_empty() {
            return Some(s.to_string());
        }
    }
    let failed = matches!(slots.get(SUCCESS), Some(Tok::Bool(false)))
        || slots
            .get(STATUS)
            .and_then(Tok::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("error") || s.eq_ignore_ascii_case("failed"));
    failed.then(|| "failed (no message)".to_string())
}

fn record<'t>(
    tape: &'t Tape<'_>,
    i: usize,
    slots: &Slots<'_, '_>,
    ctx: &Ctx<'_>,
    out: &mut Out<'t>,
) -> Option<MetricRecord> {
    let has_metric = slots.at[..METRIC_KEYS.len()]
        .iter()
        .any(|&v| v != usize::MAX);
    let error = error_of(slots);
    if !has_metric && error.is_none() {
        return None;
    }
    // tokens_per_second, tokens_s, tok_s, throughput: the first that is a number.
    let tokens_per_second = (0..4).find_map(|s| slots.num(s)).or_else(|| {
        match (slots.num(EVAL_COUNT), slots.num(11)) {
            (Some(c), Some(d)) if d > 0.0 => Some(c / (d / 1e9)),
            _ => None,
        }
    });
    // ttft_s, then ttft, then ttft_ms / 1000.
    let ttft_s = slots
        .num(5)
        .or_else(|| slots.num(4))
        .or_else(|| slots.num(6).map(|ms| ms / 1000.0));
    // load_s, then load_duration (ns) / 1e9.
    let load_s = slots.num(14).or_else(|| slots.num(10).map(|ns| ns / 1e9));
    let numeric = tape.members(i).filter_map(|(k, v)| {
        tape.toks[v]
            .as_f64()
            .filter(|x| x.is_finite())
            .map(|x| (tape.key(k), x))
    });
    let fields = NumericFields::from_pairs(&mut out.order, &mut out.scratch, numeric);
    Some(MetricRecord {
        pointer: if out.pointer.is_empty() {
            "/".to_string()
        } else {
            out.pointer.clone()
        },
        model: ctx.model.map(|m| out.model(m)),
        num_gpu: ctx.num_gpu,
        num_ctx: ctx.num_ctx,
        temperature: ctx.temperature,
        tokens_per_second,
        ttft_s,
        load_s,
        cold_start: slots.get(COLD_START).and_then(Tok::as_bool),
        error,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_records_with_inherited_context() {
        let d = parse(
            r#"{"generated_at":"x","settings":{"model":"m","num_gpu":80,"num_ctx":null},
               "backends":{"a/b":{"runs":[{"ttft_ms":250,"eval_count":100,"eval_duration":2000000000},
                                           {"run":2,"error":"timeout"}],
                                  "mean_tokens_per_second":50}}}"#,
        )
        .unwrap();
        assert_eq!(d.top_level_keys, ["generated_at", "settings", "backends"]);
        assert_eq!(d.records.len(), 2);
        let r = &d.records[0];
        assert_eq!(r.pointer, "/backends/a~1b/runs/0");
        assert_eq!(r.model.as_deref(), Some("m"));
        assert_eq!(r.num_gpu, Some(80.0));
        assert_eq!(r.num_ctx, None);
        assert_eq!(r.tokens_per_second, Some(50.0));
        assert_eq!(r.ttft_s, Some(0.25));
        assert_eq!(d.records[1].error.as_deref(), Some("timeout"));
        assert!(parse("{").unwrap_err().starts_with("invalid JSON"));
    }

    #[test]
    fn numeric_fields_are_the_btree_map_of_the_pairs() {
        let cases: &[&[(&str, f64)]] = &[
            &[],
            &[("b", 1.0), ("a", 2.0), ("b", 3.0), ("", 4.0), ("a", -0.0)],
            &[
                ("z", 1.0),
                ("\u{e9}", 2.0),
                ("e\"q", 3.0),
                ("z", 5.0),
                ("z", 6.0),
            ],
            &[("x", 1.5), ("y", 2.5)],
            &[("x", 7.0), ("y", 8.0)],
            &[("y", 8.0), ("x", 7.0)],
            &[("x", 1.0), ("x", 2.0)],
            &[("x", 3.0), ("x", 4.0)],
            &[("x", 3.0)],
            &[("b", 5.0), ("a", 6.0), ("b", 7.0), ("", 8.0), ("a", 9.0)],
        ];
        // One field order across all cases, as one file's records share it: each
        // case after one with the same keys reuses its order, and every case runs
        // twice (the second time always reusing).
        let mut order = FieldOrder::default();
        let mut scratch = Vec::new();
        for pairs in cases.iter().flat_map(|c| [c, c]) {
            let map: BTreeMap<String, f64> =
                pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect();
            let fields = NumericFields::from_pairs(&mut order, &mut scratch, pairs.iter().copied());
            let alone = NumericFields::from_pairs(
                &mut FieldOrder::default(),
                &mut Vec::new(),
                pairs.iter().copied(),
            );
            assert_eq!(fields, alone);
            assert_eq!(format!("{fields:?}"), format!("{map:?}"));
            assert_eq!(
                serde_json::to_string(&fields).unwrap(),
                serde_json::to_string(&map).unwrap()
            );
            let collected: NumericFields = pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect();
            assert_eq!(collected, fields);
            assert_eq!(fields.len(), map.len());
            assert_eq!(fields.is_empty(), map.is_empty());
            for (k, v) in &map {
                assert_eq!(fields.get(k), Some(*v));
            }
            assert_eq!(fields.get("absent"), None);
        }
    }

    #[test]
    fn slots_follow_the_key_lists() {
        for (i, k) in METRIC_KEYS.iter().enumerate() {
            assert_eq!(slot_of(k), Some(i), "{k}");
        }
        for (k, s) in CONFIG_CHILDREN.iter().zip(CONFIG_SLOTS) {
            assert_eq!(slot_of(k), Some(s), "{k}");
        }
        for (k, s) in [
            ("eval_count", EVAL_COUNT),
            ("error", ERROR),
            ("success", SUCCESS),
            ("status", STATUS),
            ("cold_start", COLD_START),
        ] {
            assert_eq!(slot_of(k), Some(s), "{k}");
        }
        assert_eq!(slot_of("model"), None);
    }

    #[test]
    fn repeated_and_mistyped_keys_resolve_as_before() {
        // Context: the last valid value wins, a non-string model or non-number option
        // keeps the earlier one; own members override config children, which are
        // taken in the order options, settings, config, parameters (last one of each).
        let d = parse(
            r#"{"model":"outer","runs":[{"parameters":{"num_gpu":3},"options":{"num_gpu":1,"model":"o"},
                 "settings":{"num_gpu":2,"num_ctx":64},"options":{"num_ctx":8},"model":7,
                 "model_name":"mn","temperature":"hot","temperature":0.5,"temperature":null,
                 "tok_s":"fast","throughput":42,"status":"FAILED","error":"  ","latency":1}]}"#,
        )
        .unwrap();
        let r = &d.records[0];
        assert_eq!(r.pointer, "/runs/0");
        assert_eq!(r.model.as_deref(), Some("mn"));
        assert_eq!(
            (r.num_gpu, r.num_ctx, r.temperature),
            (Some(3.0), Some(64.0), Some(0.5))
        );
        assert_eq!(r.tokens_per_second, Some(42.0));
        assert_eq!(r.error.as_deref(), Some("failed (no message)"));
        let fields: Vec<(&str, f64)> = r.fields.iter().collect();
        assert_eq!(
            fields,
            [
                ("latency", 1.0),
                ("model", 7.0),
                ("temperature", 0.5),
                ("throughput", 42.0)
            ]
        );
        // The "options" child counted is the last one: its own record has no metric.
        assert_eq!(d.records.len(), 1);
        let esc = parse(r#"{"a~b/c":{"x\/y":[{"ttft":1}]}}"#).unwrap();
        assert_eq!(esc.records[0].pointer, "/a~0b~1c/x~1y/0");
    }
}
