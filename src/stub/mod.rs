//! Ollama stubs that speak the protocol faithfully, for benchmarking the harness itself.
//!
//! Two servers share one set of JSON builders, so their replies have identical shapes:
//!
//! - [`InstantStub`] (wiremock 0.6): answers every request at once. Its server timings are
//!   the real time its responder spent, so client overhead (E2E − `total_duration`) shows
//!   the harness's own cost.
//! - [`PacedStub`] (hyper 1): streams each NDJSON line as its own HTTP chunk following a
//!   [`Pacing`] schedule and reports the timings it actually produced. It records request
//!   arrivals ([`PacedStub::requests`]).
//!
//! Routes: `POST /api/generate`, `POST /api/chat`, `GET /api/tags`, `POST /api/show`,
//! `GET /api/ps`, `GET /api/version`, `GET|HEAD /`. Unknown model → 404 with Ollama's
//! wording; malformed JSON → 400; any error body is `{"error": "..."}`.
//!
//! OpenAI-compatible routes, shaped like llama.cpp's `llama-server`: `POST
//! /v1/completions`, `POST /v1/chat/completions` (SSE `data:` chunks, a chunk with
//! `finish_reason`, a usage chunk with empty `choices` carrying `usage` and llama.cpp's
//! `timings`, then `data: [DONE]`; `max_tokens` caps the chunks; `stream` defaults to
//! false as in OpenAI's API) and `GET /v1/models`. Their errors are
//! `{"error": {"message": …, "type": …, "code": …}}`.
//!
//! A profile with a [`Fault`] (`fault:<name>`) makes the paced stub inject that server
//! fault on generations (see [`faults`](Fault)).
//!
//! [`serve`] is the entry point for a standalone stub (`agentbench stub`).

pub mod emulate;
mod faults;
mod instant;
mod ndjson;
mod paced;
mod profile;
mod routes;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

pub use faults::{Fault, UnknownFault, HTML_PAYLOAD, MULTIBYTE_TEXT, OVERSIZED_LINE_BYTES};
pub use instant::{InstantStub, OllamaResponder};
pub use ndjson::{rfc3339_nanos, ServerTimings};
pub use paced::PacedStub;
pub use profile::{
    split_text, stub_digest, ModelSpec, Pacing, ReplayChunk, ReplayRecording, SplitMix64,
    StubProfile, UnknownProfile, DEFAULT_MODEL, DEFAULT_TEXT, PROFILE_NAMES, REPLAY_PATH,
    REPLAY_SOURCE_LINE,
};
pub use routes::{RequestRecord, StubResponse, MAX_REQUEST_RECORDS, STUB_VERSION};

/// Errors at the stub module's boundary.
#[derive(Debug, thiserror::Error)]
pub enum StubError {
    /// The address could not be bound (in use, not permitted, ...).
    #[error("cannot bind the stub's address: {0}")]
    Bind(#[source] std::io::Error),
    /// The stub's thread or runtime could not be started.
    #[error("cannot start the stub's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The profile cannot be served (no model, no chunk, empty text).
    #[error("invalid stub profile: {0}")]
    InvalidProfile(String),
    /// A profile name that does not exist.
    #[error(transparent)]
    UnknownProfile(#[from] UnknownProfile),
    /// Waiting for ctrl-c failed.
    #[error("cannot listen for ctrl-c: {0}")]
    Signal(#[source] std::io::Error),
}

/// Which stub to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StubKind {
    /// [`InstantStub`]: zero latency, pacing ignored.
    Instant,
    /// [`PacedStub`]: streams on the profile's schedule.
    #[default]
    Paced,
}

impl StubKind {
    /// `"instant"` or `"paced"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StubKind::Instant => "instant",
            StubKind::Paced => "paced",
        }
    }
}

impl fmt::Display for StubKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StubKind {
    type Err = String;

    /// Parses `instant` or `paced`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "instant" => Ok(StubKind::Instant),
            "paced" => Ok(StubKind::Paced),
            other => Err(format!(
                "unknown stub kind {other:?}; valid: instant, paced"
            )),
        }
    }
}

/// `127.0.0.1:port`: stubs bind loopback by default.
pub fn default_addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// A stub started by [`serve`]. Stops when dropped.
pub enum RunningStub {
    /// An instant stub.
    Instant(InstantStub),
    /// A paced stub.
    Paced(PacedStub),
}

impl RunningStub {
    /// Base URL, `http://HOST:PORT`.
    pub fn url(&self) -> &str {
        match self {
            RunningStub::Instant(s) => s.url(),
            RunningStub::Paced(s) => s.url(),
        }
    }

    /// The bound address (the real port even when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        match self {
            RunningStub::Instant(s) => s.addr(),
            RunningStub::Paced(s) => s.addr(),
        }
    }

    /// Which kind of stub this is.
    pub fn kind(&self) -> StubKind {
        match self {
            RunningStub::Instant(_) => StubKind::Instant,
            RunningStub::Paced(_) => StubKind::Paced,
        }
    }

    /// The profile being served.
    pub fn profile(&self) -> &StubProfile {
        match self {
            RunningStub::Instant(s) => s.profile(),
            RunningStub::Paced(s) => s.profile(),
        }
    }

    /// Requests seen so far (at most the last [`MAX_REQUEST_RECORDS`]), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        match self {
            RunningStub::Instant(s) => s.requests(),
            RunningStub::Paced(s) => s.requests(),
        }
    }

    /// Stops the stub; for a paced stub, waits for in-flight responses.
    pub async fn shutdown(self) {
        match self {
            RunningStub::Instant(s) => drop(s),
            RunningStub::Paced(s) => s.shutdown().await,
        }
    }

    /// Serves until ctrl-c, then shuts down.
    pub async fn run_until_ctrl_c(self) -> Result<(), StubError> {
        let r = tokio::signal::ctrl_c().await.map_err(StubError::Signal);
        self.shutdown().await;
        r
    }
}

/// Binds `addr` (use [`default_addr`] for loopback) and starts a stub of `kind` serving
/// `profile`. Returns once the socket is bound and accepting; the stub runs until the
/// returned value is dropped or shut down (see [`RunningStub::run_until_ctrl_c`]).
///
/// ```no_run
/// # async fn f() -> Result<(), agentbench::stub::StubError> {
/// use agentbench::stub::{default_addr, serve, StubKind, StubProfile};
/// let stub = serve(default_addr(0), StubProfile::named("realistic")?, StubKind::Paced).await?;
/// println!("{}", stub.addr());
/// stub.run_until_ctrl_c().await
/// # }
/// ```
pub async fn serve(
    addr: SocketAddr,
    profile: StubProfile,
    kind: StubKind,
) -> Result<RunningStub, StubError> {
    let listener = std::net::TcpListener::bind(addr).map_err(StubError::Bind)?;
    Ok(match kind {
        StubKind::Instant => RunningStub::Instant(InstantStub::start_on(listener, profile).await?),
        StubKind::Paced => RunningStub::Paced(PacedStub::start_on(listener, profile).await?),
    })
}
