//! JSON parsing: find metric-bearing records anywhere in the tree, with the model and
//! options they inherit from enclosing objects.

use serde::Serialize;
use std::borrow::Cow;

use super::json_tree::{self, get, Node};
use std::collections::BTreeMap;

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

/// One object holding metrics (or a failed run), with inherited context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRecord {
    /// JSON pointer to the object (RFC 6901), e.g. `/results/3`.
    pub pointer: String,
    /// Model, from the object or its ancestors (`model` / `model_name`).
    pub model: Option<String>,
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
    pub fields: BTreeMap<String, f64>,
}

/// What a parsed JSON file holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonData {
    /// Keys of the top-level object (empty for other top-level values), in file order.
    pub top_level_keys: Vec<String>,
    /// Metric records in document order (depth-first).
    pub records: Vec<MetricRecord>,
}

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

pub(super) fn parse(text: &str) -> Result<JsonData, String> {
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
        model: ctx.model.map(str::to_string),
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
}
