//! Generation options (`options{...}` in Ollama's request) and `keep_alive`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::call::Protocol;

/// Ollama generation options. Every field is optional and only the ones set are
/// serialized, so the server's own defaults apply to the rest (the "baseline").
///
/// Invariant: serialization order is the declaration order, so the request body is
/// byte-stable for the same options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenOptions {
    /// Layers offloaded to the GPU. Changing it reloads the model.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_gpu: Option<i64>,
    /// Context window in tokens. Changing it reloads the model; prompts longer than
    /// it are truncated by the server.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_ctx: Option<u64>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub temperature: Option<f64>,
    /// Maximum tokens to generate (`-1` = unbounded).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub num_predict: Option<i64>,
    /// Sampling seed, for reproducible output lengths.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seed: Option<i64>,
    /// Nucleus sampling threshold.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub top_k: Option<i64>,
    /// Repetition penalty.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub repeat_penalty: Option<f64>,
}

/// The option keys accepted by [`RequestSettings::set`], in the order they are listed
/// in error messages.
pub const OPTION_KEYS: &[&str] = &[
    "num_gpu",
    "num_ctx",
    "temperature",
    "num_predict",
    "seed",
    "top_p",
    "top_k",
    "repeat_penalty",
    "keep_alive",
];

/// Options plus the request-level `keep_alive`, as set from `--option key=value`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestSettings {
    /// Values sent under `options`.
    pub options: GenOptions,
    /// Sent as the top-level `keep_alive` when set: a duration string ("5m"), or a
    /// number of seconds (negative keeps the model loaded forever, 0 unloads it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub keep_alive: Option<serde_json::Value>,
}

/// A `key=value` option that could not be applied.
#[derive(Debug, Error, PartialEq)]
pub enum OptionError {
    /// The text had no `=`.
    #[error("option `{0}` is not of the form key=value (e.g. num_ctx=2048)")]
    NotKeyValue(String),
    /// The key is not one agentbench knows.
    #[error("unknown option `{key}`; valid keys: {}", OPTION_KEYS.join(", "))]
    UnknownKey {
        /// The key as given.
        key: String,
    },
    /// The value does not parse as the key's type.
    #[error("option `{key}`: `{value}` is not {expected}")]
    BadValue {
        /// The key as given.
        key: String,
        /// The value as given.
        value: String,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The option has no per-request equivalent in the protocol.
    #[error("option `{key}` cannot be sent with --protocol {protocol}: {why}")]
    NotForProtocol {
        /// The key.
        key: &'static str,
        /// The protocol.
        protocol: Protocol,
        /// Why, and what to do instead.
        why: &'static str,
    },
}

impl RequestSettings {
    /// Applies one `key=value` pair. Errors name the key, the value and what was
    /// expected; nothing is changed on error.
    pub fn set(&mut self, pair: &str) -> Result<(), OptionError> {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| OptionError::NotKeyValue(pair.to_string()))?;
        let (key, value) = (key.trim(), value.trim());
        let o = &mut self.options;
        match key {
            "num_gpu" => o.num_gpu = Some(parse_int(key, value)?),
            "num_ctx" => o.num_ctx = Some(parse_uint(key, value)?),
            "temperature" => o.temperature = Some(parse_float(key, value)?),
            "num_predict" => o.num_predict = Some(parse_int(key, value)?),
            "seed" => o.seed = Some(parse_int(key, value)?),
            "top_p" => o.top_p = Some(parse_float(key, value)?),
            "top_k" => o.top_k = Some(parse_int(key, value)?),
            "repeat_penalty" => o.repeat_penalty = Some(parse_float(key, value)?),
            "keep_alive" => self.keep_alive = Some(parse_keep_alive(key, value)?),
            _ => {
                return Err(OptionError::UnknownKey {
                    key: key.to_string(),
                })
            }
        }
        Ok(())
    }

    /// Checks that every option set can be sent in `protocol`. For the
    /// OpenAI-compatible protocol the same names are accepted and translated when the
    /// request is built: `num_predict` → `max_tokens` (values < 1, i.e. Ollama's
    /// "unbounded", send nothing), `temperature`, `seed`, `top_p` as they are, and
    /// `top_k`, `repeat_penalty` under llama.cpp's names (vLLM reads `top_k` too, but
    /// calls the penalty `repetition_penalty`). `num_ctx`, `num_gpu` and `keep_alive`
    /// are server start-up settings there: an error says so.
    pub fn check_protocol(&self, protocol: Protocol) -> Result<(), OptionError> {
        if protocol == Protocol::Ollama {
            return Ok(());
        }
        let o = &self.options;
        let refuse = |key, why| Err(OptionError::NotForProtocol { key, protocol, why });
        if o.num_ctx.is_some() {
            return refuse(
                "num_ctx",
                "the context size is fixed when the server starts (llama-server -c, vLLM --max-model-len); drop the option",
            );
        }
        if o.num_gpu.is_some() {
            return refuse(
                "num_gpu",
                "GPU offload is fixed when the server starts (llama-server -ngl); drop the option",
            );
        }
        if self.keep_alive.is_some() {
            return refuse(
                "keep_alive",
                "OpenAI-compatible servers keep their model loaded; drop the option",
            );
        }
        Ok(())
    }

    /// Builds settings from a list of `key=value` pairs, stopping at the first error.
    pub fn from_pairs<S: AsRef<str>>(pairs: &[S]) -> Result<Self, OptionError> {
        let mut settings = Self::default();
        for pair in pairs {
            settings.set(pair.as_ref())?;
        }
        Ok(settings)
    }
}

fn bad(key: &str, value: &str, expected: &'static str) -> OptionError {
    OptionError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        expected,
    }
}

fn parse_int(key: &str, value: &str) -> Result<i64, OptionError> {
    value.parse().map_err(|_| bad(key, value, "an integer"))
}

fn parse_uint(key: &str, value: &str) -> Result<u64, OptionError> {
    value
        .parse()
        .map_err(|_| bad(key, value, "a non-negative integer"))
}

fn parse_float(key: &str, value: &str) -> Result<f64, OptionError> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(bad(key, value, "a finite number")),
    }
}

fn parse_keep_alive(key: &str, value: &str) -> Result<serde_json::Value, OptionError> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(serde_json::Value::from(seconds));
    }
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits_end);
    let unit_ok = matches!(unit, "ns" | "us" | "ms" | "s" | "m" | "h");
    if number.parse::<f64>().is_ok() && unit_ok {
        Ok(serde_json::Value::from(value))
    } else {
        Err(bad(
            key,
            value,
            "seconds or a duration such as 30s, 5m, 1h (negative keeps the model loaded)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_options_are_serialized_in_declaration_order() {
        let s = RequestSettings::from_pairs(&["seed=7", "num_ctx=512"]).unwrap();
        assert_eq!(
            serde_json::to_string(&s.options).unwrap(),
            r#"{"num_ctx":512,"seed":7}"#
        );
        assert_eq!(serde_json::to_string(&GenOptions::default()).unwrap(), "{}");
    }

    #[test]
    fn keep_alive_accepts_seconds_and_durations() {
        let s = RequestSettings::from_pairs(&["keep_alive=0"]).unwrap();
        assert_eq!(s.keep_alive, Some(serde_json::json!(0)));
        let s = RequestSettings::from_pairs(&["keep_alive=5m"]).unwrap();
        assert_eq!(s.keep_alive, Some(serde_json::json!("5m")));
        assert!(RequestSettings::from_pairs(&["keep_alive=soon"]).is_err());
    }

    #[test]
    fn server_settings_are_refused_for_openai() {
        let s =
            RequestSettings::from_pairs(&["num_predict=64", "seed=1", "temperature=0"]).unwrap();
        assert!(s.check_protocol(Protocol::OpenAi).is_ok());
        for pair in ["num_ctx=512", "num_gpu=10", "keep_alive=0"] {
            let s = RequestSettings::from_pairs(&[pair]).unwrap();
            assert!(s.check_protocol(Protocol::Ollama).is_ok());
            let e = s.check_protocol(Protocol::OpenAi).unwrap_err().to_string();
            let key = pair.split('=').next().unwrap();
            assert!(e.contains(key) && e.contains("--protocol openai"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let err = RequestSettings::from_pairs(&["num_cxt=5"]).unwrap_err();
        assert!(err.to_string().contains("num_cxt"));
        assert!(err.to_string().contains("num_ctx"));
        let err = RequestSettings::from_pairs(&["temperature=hot"]).unwrap_err();
        assert!(err.to_string().contains("a finite number"));
        assert!(matches!(
            RequestSettings::from_pairs(&["seed"]),
            Err(OptionError::NotKeyValue(_))
        ));
    }
}
