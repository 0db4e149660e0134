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
    /// The URL path of the endpoint.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Generate => "/api/generate",
            Endpoint::Chat => "/api/chat",
        }
    }
}

/// The server's final-chunk fields under Ollama's own names. Ollama omits zero
/// values, so every field is optional and an absent field is kept absent (never
/// turned into 0). Durations are nanoseconds of the server's clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// stop | length | load | unload.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub done_reason: Option<String>,
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
    /// An `{"error": ...}` object arrived in the stream.
    ServerError,
    /// A line that is not a JSON object of the expected shape.
    MalformedLine,
    /// A line that is not UTF-8.
    InvalidUtf8,
    /// A line longer than the bound.
    LineTooLong,
    /// The stream ended before the final `done` object (a clean end, or the
    /// connection closed inside the body).
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
/// `done` object was received; `response` is exactly the concatenated content.
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
    /// Receive offset of the final `done` object.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_ns: Option<u64>,
    /// Body bytes received.
    pub bytes: u64,
    /// NDJSON objects received (content, empty and final).
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
    /// 1-based attempt that produced this record: above 1 only when retries were
    /// enabled (`--retries N`, off by default) and earlier attempts failed.
    /// Omitted from the JSON when 1.
    #[serde(default = "first_attempt", skip_serializing_if = "is_first_attempt")]
    pub attempt: u32,
    /// The errors of the earlier, failed attempts of a retried call, oldest first
    /// (their partial data is not kept). Empty unless the call was retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_errors: Vec<CallError>,
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

    /// `true` when this record comes from a retry (attempt > 1).
    pub fn was_retried(&self) -> bool {
        self.attempt > 1
    }
}
