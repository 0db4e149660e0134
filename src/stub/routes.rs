//! Request handling shared by both stubs: parsing, model lookup, the non-generating routes
//! and the `/api/ps` state. The stubs differ only in how they deliver a generation.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::json;

use super::ndjson::{Compiled, Route, Stamp};
use super::profile::StubProfile;

/// Version string reported by `GET /api/version`: says plainly that this is a stub.
pub const STUB_VERSION: &str = "0.0.0-agentbench-stub";

/// Maximum number of request records kept (the oldest are dropped first).
pub const MAX_REQUEST_RECORDS: usize = 10_000;

/// Largest request body accepted (bigger bodies get 413).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// One request as the stub saw it arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Wall-clock arrival time (comparable with another process's clock).
    pub at: SystemTime,
    /// Monotonic arrival time (comparable within this process).
    pub instant: Instant,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path, e.g. `/api/generate`.
    pub path: String,
}

/// A complete (non-streamed) HTTP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StubResponse {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl StubResponse {
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Self {
        StubResponse {
            status,
            content_type: "application/json; charset=utf-8",
            body,
        }
    }

    pub(crate) fn error(status: u16, msg: &str) -> Self {
        Self::json(status, json!({ "error": msg }).to_string().into_bytes())
    }
}

/// What a generation must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GenWhat {
    /// `n` content chunks, then the final line.
    Text { n: usize, done_reason: &'static str },
    /// Empty prompt: a `done_reason:"load"` reply.
    Load,
    /// Empty prompt and `keep_alive: 0`: a `done_reason:"unload"` reply.
    Unload,
}

/// A parsed, validated generate or chat request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GenPlan {
    pub ep: Route,
    pub model: usize,
    pub stream: bool,
    pub what: GenWhat,
    pub prompt_eval_count: u64,
    /// Emulated timing, when the profile emulates configuration effects.
    pub emul: Option<super::emulate::Emulated>,
}

/// The outcome of routing one request.
pub(crate) enum Action {
    Reply(StubResponse),
    Generate(GenPlan),
}

/// Everything a running stub shares between requests.
pub(crate) struct Core {
    pub c: Compiled,
    /// Per model: when it stops being "loaded" (`None` = not loaded).
    loaded: Mutex<Vec<Option<SystemTime>>>,
    log: Mutex<VecDeque<RequestRecord>>,
    emul: super::emulate::EmulState,
    /// TCP connections accepted so far (counted by the paced stub's accept loop).
    pub accepted: std::sync::atomic::AtomicU64,
    /// The paced stub's streamed generations, oldest first (bounded like `log`).
    streams: Mutex<VecDeque<super::paced::StreamTimes>>,
}

impl Core {
    pub fn new(profile: StubProfile) -> Result<Self, String> {
        let c = Compiled::new(profile)?;
        let loaded = Mutex::new(vec![None; c.profile.models.len()]);
        Ok(Core {
            c,
            loaded,
            log: Mutex::new(VecDeque::new()),
            emul: Default::default(),
            accepted: Default::default(),
            streams: Mutex::default(),
        })
    }

    pub fn record(&self, method: &str, path: &str, at: SystemTime, instant: Instant) {
        let rec = RequestRecord {
            at,
            instant,
            method: method.to_owned(),
            path: path.to_owned(),
        };
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= MAX_REQUEST_RECORDS {
            log.pop_front();
        }
        log.push_back(rec);
    }

    /// Keeps the times of one streamed generation (see [`super::paced::StreamTimes`]).
    pub fn record_stream(&self, t: super::paced::StreamTimes) {
        let mut log = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= MAX_REQUEST_RECORDS {
            log.pop_front();
        }
        log.push_back(t);
    }

    /// The streamed generations' times, oldest first.
    pub fn streams(&self) -> Vec<super::paced::StreamTimes> {
        let log = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().copied().collect()
    }

    /// The records that arrived after `after` (all for `None`), oldest first. Arrivals
    /// are recorded in order (one thread per stub), so only the new tail is copied.
    pub fn requests_after(&self, after: Option<Instant>) -> Vec<RequestRecord> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let new = match after {
            None => log.len(),
            Some(t) => log.iter().rev().take_while(|r| r.instant > t).count(),
        };
        log.iter().skip(log.len() - new).cloned().collect()
    }

    fn find_model(&self, name: &str) -> Option<usize> {
        let models = &self.c.profile.models;
        if let Some(i) = models.iter().position(|m| m.name == name) {
            return Some(i);
        }
        if !name.contains(':') {
            let full = format!("{name}:latest");
            return models.iter().position(|m| m.name == full);
        }
        None
    }

    fn is_loaded(&self, model: usize, now: SystemTime) -> bool {
        let l = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        l[model].is_some_and(|u| u > now)
    }

    fn set_loaded(&self, model: usize, until: Option<SystemTime>) {
        let mut l = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        l[model] = until;
    }

    /// Routes one request. Never panics on client input: bad requests get a 4xx reply.
    pub fn route(&self, method: &str, path: &str, body: &[u8]) -> Action {
        if method == "POST" {
            if let Some(route) = Route::of_path(path) {
                return self.generation(route, body);
            }
        }
        let reply = match (method, path) {
            ("GET" | "HEAD", "/v1/models") => self.openai_models(),
            (_, "/v1/completions" | "/v1/chat/completions" | "/v1/models") => {
                openai_error(405, &format!("method {method} not allowed on {path}"))
            }
            ("GET" | "HEAD", "/") => StubResponse {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body: b"Ollama is running".to_vec(),
            },
            ("GET" | "HEAD", "/api/version") => StubResponse::json(
                200,
                json!({ "version": STUB_VERSION }).to_string().into_bytes(),
            ),
            ("GET" | "HEAD", "/api/tags") => self.tags(),
            ("GET" | "HEAD", "/props") => self.props(),
            ("GET" | "HEAD", "/api/ps") => self.ps(),
            ("POST", "/api/show") => self.show(body),
            (_, "/" | "/api/generate" | "/api/chat" | "/api/version" | "/api/tags" | "/props")
            | (_, "/api/ps" | "/api/show") => {
                StubResponse::error(405, &format!("method {method} not allowed on {path}"))
            }
            _ => StubResponse::error(404, "404 page not found"),
        };
        Action::Reply(reply)
    }

    fn generation(&self, ep: Route, body: &[u8]) -> Action {
        match self.plan(ep, body) {
            Ok(p) => Action::Generate(p),
            Err(r) if ep.is_openai() => {
                // Same refusal, in the OpenAI error shape: {"error":{"message":…}}.
                let msg = serde_json::from_slice::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_string))
                    .unwrap_or_default();
                Action::Reply(openai_error(r.status, &msg))
            }
            Err(r) => Action::Reply(r),
        }
    }

    /// `GET /props`, as llama.cpp's `llama-server` answers it (the fields a harness
    /// reads): `build_info` = [`STUB_VERSION`], the slots (the capacity model's, else 1),
    /// and the stub's identity in place of a model path.
    fn props(&self) -> StubResponse {
        let p = &self.c.profile;
        let slots = p.capacity.as_ref().map_or(1, |m| m.slots);
        let body = json!({
            "build_info": STUB_VERSION,
            "total_slots": slots,
            "model_path": format!("agentbench-stub/{}", p.name),
            "model_alias": p.models.first().map(|m| m.name.as_str()),
            "identity": self.identity(),
        });
        StubResponse::json(200, body.to_string().into_bytes())
    }

    /// `GET /v1/models`: the served models in OpenAI's list shape.
    fn openai_models(&self) -> StubResponse {
        let data: Vec<_> = self
            .c
            .profile
            .models
            .iter()
            .map(|m| {
                json!({
                    "id": m.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "agentbench-stub",
                })
            })
            .collect();
        StubResponse::json(
            200,
            json!({ "object": "list", "data": data })
                .to_string()
                .into_bytes(),
        )
    }

    fn plan(&self, ep: Route, body: &[u8]) -> Result<GenPlan, StubResponse> {
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(StubResponse::error(400, "missing request body"));
        }
        let req: GenRequest =
            serde_json::from_slice(body).map_err(|e| StubResponse::error(400, &e.to_string()))?;
        let name = match req.model.as_deref() {
            Some(n) if !n.is_empty() => n,
            _ => return Err(StubResponse::error(400, "model is required")),
        };
        let model = self.find_model(name).ok_or_else(|| not_found(name))?;
        let keep_alive = match &req.keep_alive {
            None | Some(KeepAlive::Null) => Duration::from_secs(300).as_secs_f64(),
            Some(KeepAlive::Seconds(s)) => *s,
            Some(KeepAlive::Text(t)) => parse_go_duration(t).ok_or_else(|| {
                StubResponse::error(400, &format!("time: invalid duration {t:?}"))
            })?,
        };
        let (prompt_bytes, empty) = match ep {
            Route::Generate => {
                let p = req.prompt.map_or(0, |l| l.0);
                (p + req.system.map_or(0, |l| l.0), p == 0)
            }
            Route::Completions => (req.prompt.map_or(0, |l| l.0), false),
            Route::Chat | Route::ChatCompletions => {
                let msgs = req.messages.unwrap_or_default();
                let bytes = msgs.iter().map(|m| m.content.map_or(0, |l| l.0) + 8).sum();
                (bytes, msgs.is_empty() && ep == Route::Chat)
            }
        };
        let now = SystemTime::now();
        let until = if keep_alive == 0.0 {
            None
        } else if keep_alive < 0.0 {
            now.checked_add(Duration::from_secs(100 * 365 * 86_400))
        } else {
            now.checked_add(Duration::from_secs_f64(keep_alive.min(1e10)))
        };
        let what = if empty {
            if keep_alive == 0.0 {
                GenWhat::Unload
            } else {
                GenWhat::Load
            }
        } else {
            let all = self.c.chunks();
            let cap = if ep.is_openai() {
                req.max_tokens
            } else {
                req.options.as_ref().and_then(|o| o.num_predict)
            };
            let cap = cap
                .filter(|n| *n >= 1.0)
                .map(|n| n.min(usize::MAX as f64) as usize);
            match cap {
                Some(n) if n < all => GenWhat::Text {
                    n,
                    done_reason: "length",
                },
                _ => GenWhat::Text {
                    n: all,
                    done_reason: "stop",
                },
            }
        };
        let mut prompt_eval_count = (prompt_bytes as u64).div_ceil(4).max(1);
        let emul = self.c.profile.emulate.as_ref().and_then(|e| {
            if what == GenWhat::Unload {
                self.emul.unload();
                return None;
            }
            let was_loaded = self.is_loaded(model, now);
            let o = req.options.as_ref();
            let opts = super::emulate::ReqOptions {
                num_ctx: o.and_then(|o| o.num_ctx).map(|v| v.max(1.0) as u64),
                num_gpu: o.and_then(|o| o.num_gpu).map(|v| v as i64),
                temperature: o.and_then(|o| o.temperature),
            };
            let plan = self
                .emul
                .plan(e, &opts, was_loaded, prompt_eval_count, keep_alive == 0.0);
            prompt_eval_count = plan.prompt_eval_count;
            Some(plan)
        });
        self.set_loaded(model, until);
        Ok(GenPlan {
            ep,
            model,
            // Ollama streams unless told not to; OpenAI-compatible servers do not
            // stream unless told to.
            stream: req.stream.unwrap_or(!ep.is_openai()),
            what,
            prompt_eval_count,
            emul,
        })
    }

    /// What this server is, in words: the agentbench stub, its profile, and for a
    /// replay the real model whose recorded stream it replays.
    fn identity(&self) -> String {
        let p = &self.c.profile;
        match &p.replay_of {
            Some(src) => format!(
                "agentbench stub, profile {}, replaying a recorded stream of {src}",
                p.name
            ),
            None => format!("agentbench stub, profile {}", p.name),
        }
    }

    fn details(&self, model: usize) -> serde_json::Value {
        let m = &self.c.profile.models[model];
        json!({
            // For a replay, the model whose stream is replayed; else none.
            "parent_model": self.c.profile.replay_of.as_deref().unwrap_or(""),
            "format": "gguf",
            "family": m.family,
            "families": [m.family],
            "parameter_size": m.parameter_size,
            "quantization_level": m.quantization_level,
        })
    }

    fn tags(&self) -> StubResponse {
        let modified = Stamp::now();
        let models: Vec<_> = (0..self.c.profile.models.len())
            .map(|i| {
                let m = &self.c.profile.models[i];
                json!({
                    "name": m.name,
                    "model": m.name,
                    "modified_at": modified.as_str(),
                    "size": m.size,
                    "digest": m.digest,
                    "details": self.details(i),
                })
            })
            .collect();
        StubResponse::json(200, json!({ "models": models }).to_string().into_bytes())
    }

    fn ps(&self) -> StubResponse {
        let now = SystemTime::now();
        let loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let models: Vec<_> = loaded
            .iter()
            .enumerate()
            .filter_map(|(i, until)| until.filter(|u| *u > now).map(|u| (i, u)))
            .map(|(i, until)| {
                let m = &self.c.profile.models[i];
                json!({
                    "name": m.name,
                    "model": m.name,
                    "size": m.size,
                    "digest": m.digest,
                    "details": self.details(i),
                    "expires_at": Stamp::new(until).as_str(),
                    "size_vram": m.size,
                    "context_length": 4096,
                })
            })
            .collect();
        StubResponse::json(200, json!({ "models": models }).to_string().into_bytes())
    }

    fn show(&self, body: &[u8]) -> StubResponse {
        #[derive(Deserialize)]
        struct ShowReq {
            model: Option<String>,
            name: Option<String>,
        }
        let req: ShowReq = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return StubResponse::error(400, &e.to_string()),
        };
        let name = match req.model.or(req.name) {
            Some(n) if !n.is_empty() => n,
            _ => return StubResponse::error(400, "model is required"),
        };
        let Some(i) = self.find_model(&name) else {
            return not_found(&name);
        };
        let m = &self.c.profile.models[i];
        let template = "{{- range $i, $_ := .Messages }}<start_of_turn>{{ .Role }}\n\
                        {{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n";
        let parameters = "stop                           \"<end_of_turn>\"";
        let identity = self.identity();
        let modelfile = format!(
            "# Modelfile generated by agentbench stub (not a real model): {identity}\n\
             FROM {}\nTEMPLATE \"\"\"{template}\"\"\"\nPARAMETER stop <end_of_turn>\n",
            m.name
        );
        let arch = &m.family;
        let info = json!({
            "general.architecture": arch,
            "general.basename": "agentbench-stub",
            "general.name": identity,
            "general.parameter_count": 0,
            format!("{arch}.context_length"): m.context_length,
        });
        let body = json!({
            "license": "",
            "modelfile": modelfile,
            "parameters": parameters,
            "template": template,
            "details": self.details(i),
            "model_info": info,
            "capabilities": ["completion"],
            "modified_at": Stamp::now().as_str(),
        });
        StubResponse::json(200, body.to_string().into_bytes())
    }
}

/// An error in the OpenAI shape (as Ollama's `/v1` and vLLM send it).
fn openai_error(status: u16, msg: &str) -> StubResponse {
    let kind = if status == 404 {
        "not_found_error"
    } else {
        "invalid_request_error"
    };
    StubResponse::json(
        status,
        json!({ "error": { "message": msg, "type": kind, "param": null, "code": status } })
            .to_string()
            .into_bytes(),
    )
}

fn not_found(name: &str) -> StubResponse {
    StubResponse::error(
        404,
        &format!("model \"{name}\" not found, try pulling it first"),
    )
}

/// The length in bytes of a JSON string, read without allocating.
#[derive(Clone, Copy, Debug, Default)]
struct StrLen(usize);

impl<'de> Deserialize<'de> for StrLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StrLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrLen, E> {
                Ok(StrLen(v.len()))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeepAlive {
    Seconds(f64),
    Text(String),
    Null,
}

#[derive(Deserialize)]
struct Options {
    num_predict: Option<f64>,
    num_ctx: Option<f64>,
    num_gpu: Option<f64>,
    temperature: Option<f64>,
}

#[derive(Deserialize)]
struct Msg {
    content: Option<StrLen>,
}

#[derive(Deserialize)]
struct GenRequest {
    model: Option<String>,
    prompt: Option<StrLen>,
    system: Option<StrLen>,
    messages: Option<Vec<Msg>>,
    stream: Option<bool>,
    options: Option<Options>,
    keep_alive: Option<KeepAlive>,
    /// OpenAI-compatible cap on generated tokens.
    max_tokens: Option<f64>,
}

/// Parses a keep_alive string as Ollama does: a number of seconds, or a Go duration such as
/// `5m`, `1h30m`, `-1s`, `0`. Returns seconds.
fn parse_go_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let v: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += v * mult;
        rest = &rest[unit_end..];
    }
    Some(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("0"), Some(0.0));
        assert_eq!(parse_go_duration("0s"), Some(0.0));
        assert_eq!(parse_go_duration("5m"), Some(300.0));
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration("-1"), Some(-1.0));
        assert_eq!(parse_go_duration("-1m"), Some(-60.0));
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn bad_requests_get_4xx() {
        let core = Core::new(StubProfile::default()).unwrap();
        let cases: &[(&str, &str, &[u8], u16)] = &[
            ("POST", "/api/generate", b"", 400),
            ("POST", "/api/generate", b"{", 400),
            ("POST", "/api/generate", b"[1]", 400),
            ("POST", "/api/generate", b"{\"prompt\":\"x\"}", 400),
            (
                "POST",
                "/api/generate",
                b"{\"model\":\"x\",\"prompt\":\"x\"}",
                404,
            ),
            (
                "POST",
                "/api/generate",
                b"{\"model\":\"gemma3\",\"prompt\":1}",
                400,
            ),
            (
                "POST",
                "/api/chat",
                b"{\"model\":\"gemma3\",\"keep_alive\":\"zz\"}",
                400,
            ),
            ("POST", "/api/show", b"{}", 400),
            ("POST", "/api/show", b"{\"name\":\"nope\"}", 404),
            ("GET", "/api/generate", b"", 405),
            ("GET", "/nope", b"", 404),
        ];
        for (m, p, b, status) in cases {
            match core.route(m, p, b) {
                Action::Reply(r) => {
                    assert_eq!(
                        r.status,
                        *status,
                        "{m} {p} {:?}",
                        String::from_utf8_lossy(b)
                    );
                    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                    assert!(v["error"].is_string());
                }
                Action::Generate(_) => panic!("{m} {p} should fail"),
            }
        }
    }

    #[test]
    fn plans() {
        let core = Core::new(StubProfile::default()).unwrap();
        let plan = |b: &str| match core.route("POST", "/api/generate", b.as_bytes()) {
            Action::Generate(p) => p,
            Action::Reply(r) => panic!("{}", String::from_utf8_lossy(&r.body)),
        };
        let p = plan(
            r#"{"model":"gemma3","prompt":"abcdefgh","options":{"num_predict":3,"num_ctx":1024,"x":{}}}"#,
        );
        assert!(p.stream);
        assert_eq!(p.prompt_eval_count, 2);
        assert_eq!(
            p.what,
            GenWhat::Text {
                n: 3,
                done_reason: "length"
            }
        );
        assert_eq!(
            plan(r#"{"model":"gemma3:latest","prompt":""}"#).what,
            GenWhat::Load
        );
        assert_eq!(
            plan(r#"{"model":"gemma3:latest","keep_alive":0}"#).what,
            GenWhat::Unload
        );
        assert_eq!(
            plan(r#"{"model":"gemma3:latest","keep_alive":"0s","stream":false}"#).what,
            GenWhat::Unload
        );
    }
}
