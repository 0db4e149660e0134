//! The client: streams a call and records raw observations. It speaks Ollama's
//! protocol (`/api/*`, NDJSON) and the OpenAI-compatible one (`/v1/*`, SSE; see
//! [`Protocol`] and [`sse`]) into the same [`CallRecord`].
//!
//! [`LlmClient::call`] never returns an error: a failed call is a
//! [`CallRecord`] with [`CallRecord::error`] set and whatever was received before
//! the failure kept. Derived numbers live in [`crate::metrics`].

pub mod call;
pub mod endpoint;
pub mod lifecycle;
pub mod ndjson;
pub mod options;
mod server_info;
pub mod sse;
mod stream;
mod wire;
pub use stream::{Message, PreparedCall, Role};

pub use call::{
    CallCost, CallError, CallRecord, Endpoint, ErrorKind, LlamaTimings, Protocol, ServerFields,
    Usage,
};
pub use endpoint::{resolve_base_url, BadBaseUrl, DEFAULT_OLLAMA_URL};
pub use lifecycle::{LifecycleError, PsModel, StartState};
pub use options::{GenOptions, OptionError, RequestSettings, OPTION_KEYS};
pub use server_info::{Probed, ServerInfo, ServerProbeError};

use std::sync::Arc;
use std::time::Duration;

/// Time limits for one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// TCP connect limit.
    pub connect: Duration,
    /// Longest wait for the headers or for the next read of the body.
    pub idle: Duration,
    /// Overall limit for the whole call, from t0.
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            idle: Duration::from_secs(300),
            total: None,
        }
    }
}

/// What to send in one call.
#[derive(Debug, Clone)]
pub struct CallRequest<'a> {
    /// generate or chat.
    pub endpoint: Endpoint,
    /// Model name as the server knows it.
    pub model: &'a str,
    /// The prompt (generate) or the user message (chat).
    pub prompt: &'a str,
    /// Options and keep_alive; only the ones set are sent.
    pub settings: &'a RequestSettings,
}

/// A reusable streaming client for one LLM server, Ollama's or OpenAI-compatible.
///
/// Holds one set of idle connections, shared by its clones; calls made through
/// the same client reuse connections, as a competent agent would. Speaks Ollama's
/// protocol unless [`LlmClient::with_protocol`] says otherwise.
///
/// `http://` servers are spoken to by the client's own HTTP/1.1 transport (one
/// write per request, the body's framing undone in place; see `client/wire.rs`);
/// `https://` (feature `tls`) and servers behind a proxy from the environment go
/// through reqwest.
#[derive(Debug, Clone)]
pub struct LlmClient {
    transport: Transport,
    base_url: String,
    timeouts: Timeouts,
    max_line: usize,
    protocol: Protocol,
    /// What the last call left for the next (see `stream::Carry`).
    carry: stream::Carry,
}

/// The former name of [`LlmClient`], kept so that code written against it still
/// builds (with a warning saying what to write instead).
#[deprecated(note = "renamed `LlmClient`: it speaks Ollama's and the OpenAI-compatible protocol")]
pub type OllamaClient = LlmClient;

/// The HTTP client could not be built (e.g. an https URL without the `tls` feature).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client for {url}: {source}")]
pub struct ClientBuildError {
    /// The base URL.
    pub url: String,
    /// The underlying error.
    #[source]
    pub source: reqwest::Error,
}

impl LlmClient {
    /// A client for `base_url` (as returned by [`resolve_base_url`]). Proxies from
    /// the environment are bypassed for loopback hosts, so a local benchmark never
    /// detours through a proxy.
    pub fn new(base_url: &str, timeouts: Timeouts) -> Result<Self, ClientBuildError> {
        let base = base_url.trim_end_matches('/');
        let transport = match wire::Wire::for_base_url(base, timeouts.connect) {
            Some(wire) => Transport::Wire(Arc::new(wire)),
            None => Transport::Http(Self::reqwest_client(base_url, timeouts)?),
        };
        Ok(Self {
            transport,
            base_url: base.to_string(),
            timeouts,
            max_line: ndjson::DEFAULT_MAX_LINE_BYTES,
            protocol: Protocol::Ollama,
            carry: stream::Carry::default(),
        })
    }

    fn reqwest_client(
        base_url: &str,
        timeouts: Timeouts,
    ) -> Result<reqwest::Client, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90));
        if is_loopback_url(base_url) {
            builder = builder.no_proxy();
        }
        builder.build().map_err(|source| ClientBuildError {
            url: base_url.to_string(),
            source,
        })
    }

    /// Speaks `protocol` (calls, probe and provenance use its routes).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The protocol spoken.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sets the bound on one NDJSON line (default 16 MiB).
    pub fn with_max_line_bytes(mut self, max_line: usize) -> Self {
        self.max_line = max_line;
        self
    }

    /// The server's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// One whole, non-streamed exchange with the server within `limit`: `GET path`,
    /// or `POST path` with `json` as its body. `Ok`: the status and the body (at
    /// most 16 MiB kept); `Err`: why no whole answer came, in words.
    pub(crate) async fn exchange(
        &self,
        path: &str,
        json: Option<&serde_json::Value>,
        limit: Duration,
    ) -> Result<(u16, Vec<u8>), String> {
        const MAX: usize = 16 << 20;
        let body = json.map(|v| serde_json::to_vec(v).unwrap_or_default());
        match &self.transport {
            Transport::Wire(wire) => {
                let method = if body.is_some() { "POST" } else { "GET" };
                wire.exchange(method, path, body.as_deref(), limit, MAX)
                    .await
            }
            Transport::Http(http) => {
                let url = format!("{}{path}", self.base_url);
                let request = match body {
                    Some(b) => http
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(b),
                    None => http.get(&url),
                };
                let whole = async {
                    let r = request.send().await.map_err(|e| stream::root_cause(&e))?;
                    let status = r.status().as_u16();
                    let bytes = r.bytes().await.map_err(|e| stream::root_cause(&e))?;
                    Ok((status, bytes[..bytes.len().min(MAX)].to_vec()))
                };
                tokio::time::timeout(limit, whole)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no complete answer within {} ms",
                            limit.as_millis()
                        ))
                    })
            }
        }
    }
}

/// How a client reaches its server.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// The client's own HTTP/1.1 over TCP (`http://`, no proxy).
    Wire(Arc<wire::Wire>),
    /// reqwest (`https://`, or a proxy from the environment).
    Http(reqwest::Client),
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.starts_with("127.") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}
