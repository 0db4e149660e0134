//! Ollama stubs that speak the protocol faithfully, for benchmarking the harness itself.
//!
//! The servers share one set of JSON builders, so their replies have identical shapes:
//!
//! - [`InstantStub`] (hyper 1, own thread): answers every request at once. Its server timings are
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
//! For load tests, [`LoadStub`] serves the `fast` profile (pre-rendered bytes, far faster
//! than a client can ask) and the `capacity` profile (S slots, a FIFO queue and per-slot
//! prefill/decode rates: a known truth, [`CapacityModel`]), both with an optional one-off
//! [`Pause`], counters ([`StubStats`], [`RunningStub::stats`], `GET /stub/stats`) and a
//! bounded log of generation requests with their bodies ([`RunningStub::request_log`],
//! `GET /stub/requests`).
//!
//! [`serve`] is the entry point for a standalone stub (`agentbench stub`), and
//! [`kind_for`] says which server a profile name needs.

mod capacity;
pub mod emulate;
mod faults;
mod instant;
mod load;
mod ndjson;
mod paced;
mod profile;
mod routes;
mod server;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

pub use capacity::{
    CapacityModel, FaultMix, InjectedFault, Pause, CAPACITY_PARAMS, FAST_PARAMS, MAX_TOKENS,
};
pub use faults::{Fault, UnknownFault, HTML_PAYLOAD, MULTIBYTE_TEXT, OVERSIZED_LINE_BYTES};
pub use instant::{InstantStub, OllamaResponder};
pub use load::{LoadStub, LoggedRequest, StubStats, REQUEST_LOG_BYTES, REQUEST_LOG_MAX};
pub use ndjson::{rfc3339_nanos, Route, ServerTimings};
pub use paced::{PacedStub, StreamTimes};
pub use profile::{
    split_text, stub_digest, ModelSpec, Pacing, ReplayChunk, ReplayRecording, SplitMix64,
    StubProfile, UnknownProfile, DEFAULT_MODEL, DEFAULT_TEXT, PROFILE_NAMES, REPLAY_PATH,
    REPLAY_SOURCE_LINE, STUB_FAMILY,
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
    /// [`LoadStub`] without a capacity model: pre-rendered bytes, as fast as it can.
    Fast,
    /// [`LoadStub`] with the profile's [`CapacityModel`] (the default model when the
    /// profile has none).
    Capacity,
}

impl StubKind {
    /// `"instant"`, `"paced"`, `"fast"` or `"capacity"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StubKind::Instant => "instant",
            StubKind::Paced => "paced",
            StubKind::Fast => "fast",
            StubKind::Capacity => "capacity",
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

    /// Parses `instant`, `paced`, `fast` or `capacity`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "instant" => Ok(StubKind::Instant),
            "paced" => Ok(StubKind::Paced),
            "fast" => Ok(StubKind::Fast),
            "capacity" => Ok(StubKind::Capacity),
            other => Err(format!(
                "unknown stub kind {other:?}; valid: instant, paced, fast, capacity"
            )),
        }
    }
}

/// The server that serves the profile named `profile_name` (as given to
/// [`StubProfile::named`]): [`StubKind::Instant`] for `instant`, [`StubKind::Fast`] for
/// `fast` / `fast:…`, [`StubKind::Capacity`] for `capacity` / `capacity:…`, and
/// [`StubKind::Paced`] for every other profile (paced, realistic, sweep, replay,
/// fault:…). Never fails: an unknown name is reported by [`StubProfile::named`].
pub fn kind_for(profile_name: &str) -> StubKind {
    let head = profile_name.split(':').next().unwrap_or(profile_name);
    match head {
        "instant" if profile_name == "instant" => StubKind::Instant,
        "fast" => StubKind::Fast,
        "capacity" => StubKind::Capacity,
        _ => StubKind::Paced,
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
    /// A fast stub ([`StubKind::Fast`]).
    Fast(LoadStub),
    /// A capacity stub ([`StubKind::Capacity`]).
    Capacity(LoadStub),
}

impl RunningStub {
    /// Base URL, `http://HOST:PORT`.
    pub fn url(&self) -> &str {
        match self {
            RunningStub::Instant(s) => s.url(),
            RunningStub::Paced(s) => s.url(),
            RunningStub::Fast(s) | RunningStub::Capacity(s) => s.url(),
        }
    }

    /// The bound address (the real port even when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        match self {
            RunningStub::Instant(s) => s.addr(),
            RunningStub::Paced(s) => s.addr(),
            RunningStub::Fast(s) | RunningStub::Capacity(s) => s.addr(),
        }
    }

    /// Which kind of stub this is.
    pub fn kind(&self) -> StubKind {
        match self {
            RunningStub::Instant(_) => StubKind::Instant,
            RunningStub::Paced(_) => StubKind::Paced,
            RunningStub::Fast(_) => StubKind::Fast,
            RunningStub::Capacity(_) => StubKind::Capacity,
        }
    }

    /// The profile being served.
    pub fn profile(&self) -> &StubProfile {
        match self {
            RunningStub::Instant(s) => s.profile(),
            RunningStub::Paced(s) => s.profile(),
            RunningStub::Fast(s) | RunningStub::Capacity(s) => s.profile(),
        }
    }

    /// Requests seen so far (at most the last [`MAX_REQUEST_RECORDS`]), oldest first.
    /// The fast and capacity stubs keep no per-request log (always empty; see
    /// [`RunningStub::stats`]).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests_after(None)
    }

    /// The recorded requests that arrived after `after` (all of them for `None`), oldest
    /// first: copies only those, so polling for new arrivals stays cheap.
    pub fn requests_after(&self, after: Option<std::time::Instant>) -> Vec<RequestRecord> {
        match self {
            RunningStub::Instant(s) => s.requests_after(after),
            RunningStub::Paced(s) => s.requests_after(after),
            RunningStub::Fast(_) | RunningStub::Capacity(_) => Vec::new(),
        }
    }

    /// The fast and capacity stubs' log of generation requests with their bodies
    /// ([`LoadStub::request_log`], bounded); empty for the instant and paced stubs.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        match self {
            RunningStub::Fast(s) | RunningStub::Capacity(s) => s.request_log(),
            RunningStub::Instant(_) | RunningStub::Paced(_) => Vec::new(),
        }
    }

    /// TCP connections the stub accepted so far: counted by the paced stub (see
    /// [`PacedStub::connections_accepted`]); `None` for the other kinds, which do
    /// not count them.
    pub fn connections_accepted(&self) -> Option<u64> {
        match self {
            RunningStub::Paced(s) => Some(s.connections_accepted()),
            _ => None,
        }
    }

    /// Generation counters ([`StubStats`]): arrivals, completions and peak in-flight of
    /// the fast and capacity stubs; all zeros for the instant and paced stubs, which do
    /// not count.
    pub fn stats(&self) -> StubStats {
        match self {
            RunningStub::Fast(s) | RunningStub::Capacity(s) => s.stats(),
            RunningStub::Instant(_) | RunningStub::Paced(_) => StubStats::default(),
        }
    }

    /// Stops the stub and waits for in-flight responses to finish.
    pub async fn shutdown(self) {
        match self {
            RunningStub::Instant(s) => s.shutdown().await,
            RunningStub::Paced(s) => s.shutdown().await,
            RunningStub::Fast(s) | RunningStub::Capacity(s) => s.shutdown().await,
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
        StubKind::Fast => {
            let profile = StubProfile {
                capacity: None,
                ..profile
            };
            RunningStub::Fast(LoadStub::start_on(listener, profile).await?)
        }
        StubKind::Capacity => {
            let mut profile = profile;
            let chunks = profile.chunks;
            let model = profile.capacity.get_or_insert_with(|| CapacityModel {
                tokens: chunks,
                ..CapacityModel::default()
            });
            let tokens = model.tokens;
            let profile = profile.with_chunks(tokens);
            RunningStub::Capacity(LoadStub::start_on(listener, profile).await?)
        }
    })
}
