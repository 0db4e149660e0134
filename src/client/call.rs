//! The raw record of one LLM call. Only observations are stored; every derived
//! figure (TTFT, ITL, E2E, tok/s, client overhead) is computed from it by
//! [`crate::metrics`].

use serde::{Deserialize, Serialize};

use super::options::RequestSettings;

/// Which Ollama endpoint a call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `POST /api/generate` (text in `response`).
    #[default]
    Generate,
    /// `POST /api/chat` (text in `message.content`).
    Chat,
}

impl Endpoint {
    /// The URL path of the endpoint in Ollama's protocol.
    pub fn path(self) -> &'static str {
        self.path_for(Protocol::Ollama)
    }

    /// The URL path of the endpoint in `protocol`: `/api/generate` and `/api/chat`
    /// (Ollama), `/v1/completions` and `/v1/chat/completions` (OpenAI-compatible).
    pub fn path_for(self, protocol: Protocol) -> &'static str {
        match (protocol, self) {
            (Protocol::Ollama, Endpoint::Generate) => "/api/generate",
            (Protocol::Ollama, Endpoint::Chat) => "/api/chat",
            (Protocol::OpenAi, Endpoint::Generate) => "/v1/completions",
            (Protocol::OpenAi, Endpoint::Chat) => "/v1/chat/completions",
        }
    }
}

/// The wire protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Protocol {
    /// Ollama's native API: `/api/*`, NDJSON streams, timings in the final object.
    #[default]
    #[serde(rename = "ollama")]
    Ollama,
    /// The OpenAI-compatible API (`/v1/*`, SSE `data:` lines ending with
    /// `data: [DONE]`), as served by llama.cpp's `llama-server`, vLLM and Ollama's
    /// own `/v1`.
    #[serde(rename = "openai")]
    OpenAi,
}

impl Protocol {
    /// `ollama` or `openai`, as recorded in the header's `backend.protocol`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ollama => "ollama",
            Protocol::OpenAi => "openai",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    /// Parses `ollama` or `openai`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ollama" => Ok(Protocol::Ollama),
            "openai" => Ok(Protocol::OpenAi),
            other => Err(format!(
                "unknown protocol {other:?}; valid: ollama (Ollama's /api/*), openai (/v1/*: llama.cpp, vLLM, Ollama's /v1)"
            )),
        }
    }
}

/// The `usage` object of an OpenAI-compatible stream (sent in a last chunk with
/// empty `choices` when the request asks for `stream_options.include_usage`), as
/// received. Counts are tokens of the server's tokenizer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens (cached ones included).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt_tokens: Option<u64>,
    /// Generated tokens.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completion_tokens: Option<u64>,
    /// prompt + completion.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_tokens: Option<u64>,
}

/// llama.cpp's `timings` object, as received (the last one of the stream), in
/// llama.cpp's own units (milliseconds). Unknown members are ignored.
///
/// How it maps to Ollama's fields (see the accessors on [`ServerFields`]):
/// `prompt_n` / `prompt_ms` are the prompt tokens evaluated (cached ones excluded,
/// `cache_n` holds those) and the prefill time, as Ollama's `prompt_eval_count` /
/// `prompt_eval_duration`; `predicted_n` / `predicted_ms` are the tokens generated
/// and the decode time, as `eval_count` / `eval_duration`. llama.cpp sends no total
/// and no load time: its server time is taken as `prompt_ms + predicted_ms` (the
/// processing it accounts for; HTTP parsing, tokenization and queueing are outside).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlamaTimings {
    /// Prompt tokens reused from the prompt cache (not evaluated).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cache_n: Option<i64>,
    /// Prompt tokens evaluated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt_n: Option<i64>,
    /// Prompt evaluation (prefill) time, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt_ms: Option<f64>,
    /// Tokens generated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub predicted_n: Option<i64>,
    /// Generation (decode) time, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub predicted_ms: Option<f64>,
}

/// The server's own fields, as received. Ollama's final-chunk fields keep Ollama's
/// names; Ollama omits zero values, so every field is optional and an absent field
/// is kept absent (never turned into 0). Durations are nanoseconds of the server's
/// clock.
///
/// OpenAI-compatible servers send none of Ollama's fields: their `finish_reason`
/// (stop | length, the same vocabulary) is kept in `done_reason`, their `usage` and
/// llama.cpp's `timings` are kept raw in [`ServerFields::usage`] and
/// [`ServerFields::timings`]. Read the figures through the accessors
/// ([`ServerFields::prefill_count`], [`ServerFields::decode_ns`], …), which take
/// Ollama's field when present and the OpenAI-side equivalent otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerFields {
    /// Request receipt to response end.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_duration: Option<u64>,
    /// Model load time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub load_duration: Option<u64>,
    /// Prompt tokens evaluated (absent on a prompt-cache hit).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt_eval_count: Option<u64>,
    /// Prompt evaluation (prefill) time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt_eval_duration: Option<u64>,
    /// Tokens generated.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eval_count: Option<u64>,
    /// Generation (decode) time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub eval_duration: Option<u64>,
    /// stop | length | load | unload (Ollama's `done_reason`, or the OpenAI
    /// `finish_reason` of the stream's last choice).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub done_reason: Option<String>,
    /// OpenAI-compatible `usage`, as received.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub usage: Option<Usage>,
    /// llama.cpp's `timings`, as received.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timings: Option<LlamaTimings>,
}

fn ms_to_ns(ms: Option<f64>) -> Option<u64> {
    ms.filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| (v * 1e6).round() as u64)
}

fn count(n: Option<i64>) -> Option<u64> {
    n.and_then(|n| u64::try_from(n).ok())
}

impl ServerFields {
    /// Prompt tokens evaluated: `prompt_eval_count`, else llama.cpp's `prompt_n`.
    pub fn prefill_count(&self) -> Option<u64> {
        self.prompt_eval_count
            .or_else(|| count(self.timings.as_ref()?.prompt_n))
    }

    /// Prefill time, ns: `prompt_eval_duration`, else llama.cpp's `prompt_ms`.
    pub fn prefill_ns(&self) -> Option<u64> {
        self.prompt_eval_duration
            .or_else(|| ms_to_ns(self.timings.as_ref()?.prompt_ms))
    }

    /// Tokens generated: `eval_count`, else llama.cpp's `predicted_n`, else the
    /// `usage.completion_tokens`.
    pub fn decode_count(&self) -> Option<u64> {
        self.eval_count
            .or_else(|| count(self.timings.as_ref()?.predicted_n))
            .or_else(|| self.usage.as_ref()?.completion_tokens)
    }

    /// Decode time, ns: `eval_duration`, else llama.cpp's `predicted_ms`.
    pub fn decode_ns(&self) -> Option<u64> {
        self.eval_duration
            .or_else(|| ms_to_ns(self.timings.as_ref()?.predicted_ms))
    }

    /// The server's time for the call, ns: Ollama's `total_duration` (request
    /// receipt to response end), else llama.cpp's `prompt_ms + predicted_ms` (the
    /// processing it accounts for). Absent when the server sent neither (Ollama's
    /// `/v1`, vLLM).
    pub fn server_ns(&self) -> Option<u64> {
        if let Some(total) = self.total_duration {
            return Some(total);
        }
        let t = self.timings.as_ref()?;
        Some(ms_to_ns(t.prompt_ms)? + ms_to_ns(t.predicted_ms)?)
    }
}

/// The class of a failed call. Counted per kind in summaries; a failed call is
/// never a throughput sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The TCP connection could not be made (refused, unreachable).
    Connect,
    /// No response headers, or no data for longer than the idle timeout, or the
    /// overall deadline passed.
    Timeout,
    /// HTTP 404: the model is not present on the server.
    ModelNotFound,
    /// Any other non-2xx status.
    HttpStatus,
    /// An `{"error": ...}` object arrived in the stream (an SSE `data:` payload
    /// with `error`, or an SSE `error:` line, for the OpenAI-compatible protocol).
    ServerError,
    /// A line that is not a JSON object of the expected shape (or not an SSE line).
    MalformedLine,
    /// A line that is not UTF-8.
    InvalidUtf8,
    /// A line longer than the bound.
    LineTooLong,
    /// The stream ended before the final `done` object or `data: [DONE]` (a clean
    /// end, or the connection closed inside the body).
    Truncated,
    /// The connection was closed before any response header arrived.
    ConnectionClosed,
    /// The body could not be read (connection reset mid-stream, ...).
    Body,
    /// The request could not be sent for another reason.
    Request,
}

/// What went wrong with a call, with a message naming the URL and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallError {
    /// Classification, for counting.
    pub kind: ErrorKind,
    /// Human-readable detail.
    pub message: String,
}

/// Raw observations of one streamed call.
///
/// Invariants: all `*_ns` fields are offsets from t0, the monotonic instant taken
/// just before the request was sent; `chunk_ns` is non-decreasing and holds one
/// entry per chunk with non-empty content (its receive time, i.e. when the network
/// read that completed the line returned); `end_ns` is set only when the final
/// `done` object (Ollama) or `data: [DONE]` (OpenAI-compatible) was received;
/// `response` is exactly the concatenated content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// Endpoint used.
    pub endpoint: Endpoint,
    /// Model requested.
    pub model: String,
    /// Options and keep_alive sent.
    pub settings: RequestSettings,
    /// Lowercase hex SHA-256 of the prompt bytes.
    pub prompt_sha256: String,
    /// Prompt length in bytes.
    pub prompt_bytes: u64,
    /// Wall-clock time of t0, nanoseconds since the Unix epoch (for humans and
    /// cross-machine alignment only; never used for durations).
    pub started_unix_ns: u64,
    /// HTTP status, when headers arrived.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub http_status: Option<u16>,
    /// Response headers received.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub headers_ns: Option<u64>,
    /// Receive offset of each content chunk.
    pub chunk_ns: Vec<u64>,
    /// Offset at which the client had read **and decoded** the final `done` object
    /// (or `data: [DONE]`): the call is complete for the agent. Taken after the
    /// read holding it has been processed, so the client's own decoding of that
    /// read is inside E2E and client overhead (chunk times are read times; with a
    /// fast server the whole body often comes in one read, and a per-read time
    /// would leave the decoding of every chunk outside E2E).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_ns: Option<u64>,
    /// Body bytes received. Always set by agentbench's client (from 0); absent only
    /// in records of external agents whose HTTP library hides the body (e.g. the
    /// official `ollama` Python client), never written as a made-up 0.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes: Option<u64>,
    /// Lines received: NDJSON objects (content, empty and final) for Ollama's
    /// protocol, non-empty SSE lines (`data:` lines, `[DONE]`, comments) for the
    /// OpenAI-compatible one.
    pub lines: u64,
    /// The generated text.
    pub response: String,
    /// Reasoning text of thinking models (chat `message.thinking`), when any.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub thinking: String,
    /// The final object's fields, absent ones absent.
    pub server: ServerFields,
    /// Set when the call failed; what was received before the failure is kept.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<CallError>,
    /// How many times the request was sent (1-based). Above 1 when the server
    /// closed the connection before any response header and the request was sent
    /// once more on the same t0 (curl and browsers resend on a reused connection
    /// that the server closed; reqwest does not say whether the connection was
    /// reused, so any such close is resent once: llama.cpp's server closes its
    /// connection after every streamed response while advertising keep-alive,
    /// and a request sent on it in that instant would otherwise fail), or when
    /// retries were enabled (`--retries N`, off by default; each retry is a new
    /// call with its own t0) and earlier calls failed. Omitted from the JSON when 1.
    #[serde(default = "first_attempt", skip_serializing_if = "is_first_attempt")]
    pub attempt: u32,
    /// The errors of the earlier, failed sends of this call, oldest first (their
    /// partial data is not kept). Empty when [`CallRecord::attempt`] is 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_errors: Vec<CallError>,
    /// The client's own cost of the call, measured by agentbench's client (absent
    /// in older records and in external agents' records).
    #[serde(default, skip_serializing_if = "CallCost::is_empty")]
    pub cost: CallCost,
}

/// The client's own cost of one call, measured directly (not inferred from the
/// server's timings). Each figure is absent when it was not measured; all are
/// absent in records written before they existed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCost {
    /// CPU time of the calling thread from the start of the call to its return,
    /// ns (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`): the client's work for the
    /// call (with reqwest, hyper's connection task included). Valid, and recorded,
    /// only when the call ran on a current-thread tokio runtime (the task never
    /// leaves the thread) and no other call of agentbench's client started or was
    /// in flight on that thread meanwhile;
    /// absent otherwise (multi-thread runtime, concurrent calls). Other tasks of
    /// the same runtime that ran during the call would be counted too (`agentbench
    /// run` runs none). Includes the body's end read after the final object.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_ns: Option<u64>,
    /// t0 → the request handed to the connection: on the client's own transport
    /// (`http://` servers), the instant before the one write of the pre-rendered
    /// request to the socket (an idle connection checked out and found open, or a
    /// new one connected, before it); on reqwest's (`https://`, proxies), the
    /// instant the first poll of the send returned (request built, URL parsed,
    /// connection taken from the pool, the request queued for hyper's connection
    /// task, which writes it right after). For a resent request, the last send's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_ns: Option<u64>,
    /// Σ over the body's reads of (the read's bytes unframed, split into lines
    /// and decoded − the read completed), ns: the client's decoding time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decode_ns: Option<u64>,
    /// Offset at which the read holding the final object completed (the final
    /// object's receive time; [`CallRecord::end_ns`] is after its decoding). Set
    /// only when the final object arrived in a complete line.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub final_read_ns: Option<u64>,
}

impl CallCost {
    /// `true` when nothing was measured (the record then omits `cost`).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn first_attempt() -> u32 {
    1
}

fn is_first_attempt(a: &u32) -> bool {
    *a == 1
}

impl CallRecord {
    /// A call that completed: final object received and no error.
    pub fn is_ok(&self) -> bool {
        self.error.is_none() && self.end_ns.is_some()
    }

    /// `true` when the request was sent more than once (attempt > 1).
    pub fn was_retried(&self) -> bool {
        self.attempt > 1
    }
}
