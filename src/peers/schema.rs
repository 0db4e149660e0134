//! The external-agent protocol's schema (`schema/workflow-record.schema.json`) and a
//! small validator for the subset of JSON Schema it uses: `type`, `required`,
//! `properties`, `additionalProperties`, `items`, `enum`, `minimum`, `maximum` and
//! `$ref` to `#/$defs/NAME` (annotations — `$schema`, `$id`, `title`,
//! `description` — are ignored). A schema using any other keyword is refused when
//! loaded, so no keyword is ever silently skipped.
//!
//! `integer` means what serde_json parses as an integer (`1.0` is a number, not an
//! integer, as for serde's integer fields).

use serde_json::{Map, Value};

/// The committed schema for `"kind":"workflow"` lines, as text.
pub const WORKFLOW_SCHEMA: &str = include_str!("../../schema/workflow-record.schema.json");

const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description", "$defs"];
const KEYWORDS: &[&str] = &[
    "type",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "$ref",
];

/// A schema this validator cannot apply.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// Not JSON.
    #[error("the schema is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A keyword outside the supported subset, or a malformed one.
    #[error("unsupported schema at {at}: {what}")]
    Unsupported {
        /// JSON pointer of the schema node.
        at: String,
        /// What is wrong.
        what: String,
    },
}

/// A loaded schema.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Value,
}

impl Schema {
    /// The committed workflow-record schema.
    pub fn workflow() -> Result<Self, SchemaError> {
        Self::parse(WORKFLOW_SCHEMA)
    }

    /// Loads a schema, checking that it uses only the supported keywords and that
    /// every `$ref` resolves.
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let root: Value = serde_json::from_str(text)?;
        let s = Schema { root };
        s.check(&s.root, "#")?;
        if let Some(defs) = s.root.get("$defs") {
            let defs = defs.as_object().ok_or_else(|| SchemaError::Unsupported {
                at: "#/$defs".into(),
                what: "$defs is not an object".into(),
            })?;
            for (k, v) in defs {
                s.check(v, &format!("#/$defs/{k}"))?;
            }
        }
        Ok(s)
    }

    /// The keywords the schema uses (for tests: proof the validator knows them all).
    pub fn keywords_used(&self) -> std::collections::BTreeSet<String> {
        fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
            if let Some(o) = v.as_object() {
                for (k, x) in o {
                    out.insert(k.clone());
                    match k.as_str() {
                        "properties" | "$defs" => {
                            if let Some(p) = x.as_object() {
                                p.values().for_each(|s| walk(s, out));
                            }
                        }
                        "items" | "additionalProperties" => walk(x, out),
                        _ => {}
                    }
                }
            }
        }
        let mut out = std::collections::BTreeSet::new();
        walk(&self.root, &mut out);
        out
    }

    fn check(&self, node: &Value, at: &str) -> Result<(), SchemaError> {
        let bad = |what: String| SchemaError::Unsupported {
            at: at.to_string(),
            what,
        };
        let o = match node {
            Value::Bool(_) => return Ok(()),
            Value::Object(o) => o,
            _ => return Err(bad("a schema must be an object or a boolean".into())),
        };
        for (k, v) in o {
            if ANNOTATIONS.contains(&k.as_str()) {
                continue;
            }
            if !KEYWORDS.contains(&k.as_str()) {
                return Err(bad(format!("keyword {k:?} is not supported")));
            }
            match k.as_str() {
                "properties" => {
                    let p = v
                        .as_object()
                        .ok_or_else(|| bad("properties is not an object".into()))?;
                    for (name, sub) in p {
                        self.check(sub, &format!("{at}/properties/{name}"))?;
                    }
                }
                "items" | "additionalProperties" => self.check(v, &format!("{at}/{k}"))?,
                "$ref" => {
                    let r = v
                        .as_str()
                        .ok_or_else(|| bad("$ref is not a string".into()))?;
                    self.resolve(r)
                        .ok_or_else(|| bad(format!("$ref {r:?} does not resolve")))?;
                }
                "required" | "enum" if !v.is_array() => {
                    return Err(bad(format!("{k} is not an array")))
                }
                "minimum" | "maximum" if !v.is_number() => {
                    return Err(bad(format!("{k} is not a number")))
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn resolve(&self, r: &str) -> Option<&Value> {
        let name = r.strip_prefix("#/$defs/")?;
        self.root.get("$defs")?.get(name)
    }

    /// Validates `value`. Returns every violation as `path: what` (empty when valid).
    pub fn validate(&self, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate_at(&self.root, value, "$", &mut errors);
        errors
    }

    fn validate_at(&self, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
        let o = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                errors.push(format!("{path}: not allowed"));
                return;
            }
            Value::Object(o) => o,
            _ => return,
        };
        if let Some(r) = o.get("$ref").and_then(Value::as_str) {
            if let Some(target) = self.resolve(r) {
                self.validate_at(target, v, path, errors);
            }
        }
        if let Some(t) = o.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !types.iter().any(|t| type_matches(t, v)) {
                errors.push(format!(
                    "{path}: expected {}, got {}",
                    types.join(" or "),
                    kind(v)
                ));
                return;
            }
        }
        if let Some(Value::Array(allowed)) = o.get("enum") {
            if !allowed.contains(v) {
                errors.push(format!(
                    "{path}: {v} is not one of {}",
                    Value::Array(allowed.clone())
                ));
            }
        }
        if let Some(x) = v.as_f64() {
            if let Some(min) = o.get("minimum").and_then(Value::as_f64) {
                if below(v, min) {
                    errors.push(format!("{path}: {x} is below the minimum {min}"));
                }
            }
            if let Some(max) = o.get("maximum").and_then(Value::as_f64) {
                if above(v, max) {
                    errors.push(format!("{path}: {x} is above the maximum {max}"));
                }
            }
        }
        if let Value::Object(obj) = v {
            self.validate_object(o, obj, path, errors);
        }
        if let (Some(items), Value::Array(a)) = (o.get("items"), v) {
            for (i, x) in a.iter().enumerate() {
                self.validate_at(items, x, &format!("{path}[{i}]"), errors);
            }
        }
    }

    fn validate_object(
        &self,
        schema: &Map<String, Value>,
        obj: &Map<String, Value>,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        if let Some(Value::Array(req)) = schema.get("required") {
            for k in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(k) {
                    errors.push(format!("{path}: required property {k:?} is missing"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, x) in obj {
            let sub = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => self.validate_at(s, x, &sub, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{path}: unknown property {k:?}"));
                    }
                    Some(s) => self.validate_at(s, x, &sub, errors),
                    None => {}
                },
            }
        }
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `v < min`, exact for integers (no f64 rounding of large u64/i64).
fn below(v: &Value, min: f64) -> bool {
    match (v.as_i64(), v.as_u64()) {
        (_, Some(_)) if min <= 0.0 => false,
        (Some(i), _) if min.fract() == 0.0 && min.abs() < 9e15 => i < min as i64,
        _ => v.as_f64().is_some_and(|x| x < min),
    }
}

/// `v > max`, exact for integers up to 2^53 bounds and for every u64 against a
/// u64-sized maximum.
fn above(v: &Value, max: f64) -> bool {
    match v.as_u64() {
        Some(u) if max.fract() == 0.0 && (0.0..1.8e19).contains(&max) => u > max as u64,
        _ => v.as_f64().is_some_and(|x| x > max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_committed_schema_loads_and_uses_only_supported_keywords() {
        let s = Schema::workflow().unwrap();
        for k in s.keywords_used() {
            assert!(
                KEYWORDS.contains(&k.as_str()) || ANNOTATIONS.contains(&k.as_str()),
                "{k}"
            );
        }
    }

    #[test]
    fn unsupported_keywords_are_refused() {
        let e = Schema::parse(r#"{"type":"object","pattern":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("pattern"), "{e}");
        assert!(Schema::parse(r##"{"$ref":"#/$defs/nope"}"##).is_err());
    }

    #[test]
    fn each_keyword_can_reject() {
        let s = Schema::parse(
            r##"{"type":"object","required":["a"],"additionalProperties":false,
               "properties":{"a":{"type":"integer","minimum":0,"maximum":10},
                             "b":{"type":"array","items":{"$ref":"#/$defs/e"}}},
               "$defs":{"e":{"enum":["x","y"]}}}"##,
        )
        .unwrap();
        assert!(s.validate(&json!({"a": 3, "b": ["x"]})).is_empty());
        for bad in [
            json!({}),
            json!({"a": -1}),
            json!({"a": 11}),
            json!({"a": 1.5}),
            json!({"a": "1"}),
            json!({"a": 1, "c": 0}),
            json!({"a": 1, "b": ["z"]}),
            json!({"a": 1, "b": "x"}),
            json!([]),
        ] {
            assert!(!s.validate(&bad).is_empty(), "{bad} passed");
        }
        let big = Schema::parse(r#"{"type":"integer","maximum":4294967295}"#).unwrap();
        assert!(big.validate(&json!(4_294_967_295u64)).is_empty());
        assert!(!big.validate(&json!(4_294_967_296u64)).is_empty());
    }
}
