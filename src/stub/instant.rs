//! The instant stub: a hyper 1 server on its own thread whose responder builds each reply
//! at once (Ollama's NDJSON, or SSE on the OpenAI-compatible routes) and sends it as one
//! body.
//!
//! Correct for a zero-latency server. Its server timings are the responder's real work,
//! so `E2E (client) − total_duration (server)` is the client's own cost plus the
//! transport. It used to run on wiremock 0.6, whose `MountedMock` keeps a copy of every
//! matched request for `MockGuard::received_requests` even with request recording
//! disabled: ~8.5 KB per request, never freed (754 MB after 85,000 requests). The
//! responder still implements [`wiremock::Respond`] for use in a wiremock server.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use wiremock::{Request, Respond, ResponseTemplate};

use super::ndjson::{nanos, ServerTimings, Stamp};
use super::routes::{Action, Core, GenWhat, RequestRecord, StubResponse, MAX_BODY_BYTES};
use super::server::Server;
use super::{StubError, StubProfile};

/// A [`wiremock::Respond`] that answers like Ollama, building every body per request.
///
/// Server timings in final lines are real measurements of this responder:
/// `total_duration` = start of [`OllamaResponder::handle`] to the moment the final line is
/// rendered; `load_duration` = parsing the request and resolving the model;
/// `prompt_eval_duration` = taking the `created_at` timestamp; `eval_duration` = rendering
/// the content (all lines when streaming, the whole text otherwise). The three parts are consecutive and disjoint, so their sum
/// never exceeds `total_duration`. `eval_count` = content chunks; `prompt_eval_count` =
/// prompt bytes / 4 (rounded up, at least 1).
#[derive(Clone)]
pub struct OllamaResponder {
    core: Arc<Core>,
}

impl OllamaResponder {
    /// A responder serving `profile` (compiled once here). Fails if the profile is invalid.
    pub fn new(profile: StubProfile) -> Result<Self, StubError> {
        let core = Core::new(profile).map_err(StubError::InvalidProfile)?;
        Ok(OllamaResponder {
            core: Arc::new(core),
        })
    }

    /// Answers one request (`path` without the query string). Never panics on client input:
    /// a bad request gets a 4xx reply with an `{"error": ...}` body. The arrival is recorded.
    pub fn handle(&self, method: &str, path: &str, body: &[u8]) -> StubResponse {
        let t0 = Instant::now();
        self.core.record(method, path, SystemTime::now(), t0);
        let plan = match self.core.route(method, path, body) {
            Action::Reply(r) => return r,
            Action::Generate(p) => p,
        };
        let c = &self.core.c;
        let t1 = Instant::now();
        let ts = Stamp::now();
        let (n, done_reason) = match plan.what {
            GenWhat::Load => {
                return StubResponse::json(200, c.load_reply(plan.ep, plan.model, &ts, "load"))
            }
            GenWhat::Unload => {
                return StubResponse::json(200, c.load_reply(plan.ep, plan.model, &ts, "unload"))
            }
            GenWhat::Text { n, done_reason } => (n, done_reason),
        };
        let mut buf = Vec::new();
        let t2 = Instant::now();
        let content = if plan.stream {
            c.push_chunks(&mut buf, plan.ep, plan.model, &ts, n);
            None
        } else {
            Some(c.content(n))
        };
        let t3 = Instant::now();
        let timings = ServerTimings {
            total_duration: nanos(t3 - t0),
            load_duration: nanos(t1 - t0),
            prompt_eval_count: plan.prompt_eval_count,
            prompt_eval_duration: nanos(t2 - t1),
            eval_count: n as u64,
            eval_duration: nanos(t3 - t2),
        };
        c.push_final(
            &mut buf,
            plan.ep,
            plan.model,
            &ts,
            done_reason,
            &timings,
            content.as_deref(),
        );
        if plan.stream {
            StubResponse {
                status: 200,
                content_type: plan.ep.stream_content_type(),
                body: buf,
            }
        } else {
            StubResponse::json(200, buf)
        }
    }

    /// Requests seen so far (at most the last 10 000). The instant stub records a request
    /// when its body has been read, just before answering.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.core.requests_after(None)
    }
}

impl Respond for OllamaResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let r = self.handle(request.method.as_str(), request.url.path(), &request.body);
        ResponseTemplate::new(r.status).set_body_raw(r.body, r.content_type)
    }
}

/// A running instant stub (hyper 1 on its own thread, current-thread runtime, HTTP/1.1
/// keep-alive). Stops when dropped. Memory stays flat: the only per-request state kept is
/// the bounded arrival log (at most [`super::MAX_REQUEST_RECORDS`] records).
pub struct InstantStub {
    server: Server,
    responder: OllamaResponder,
}

impl InstantStub {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(profile: StubProfile) -> Result<Self, StubError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(StubError::Bind)?;
        Self::start_on(listener, profile).await
    }

    /// Starts on an already bound listener. The stub keeps its own bounded arrival log
    /// (see [`InstantStub::requests`]).
    pub async fn start_on(listener: TcpListener, profile: StubProfile) -> Result<Self, StubError> {
        let responder = OllamaResponder::new(profile)?;
        let r = responder.clone();
        let server = Server::spawn(listener, "instant-stub", move |req| {
            let r = r.clone();
            async move { Ok::<_, Infallible>(answer(&r, req).await) }
        })?;
        Ok(InstantStub { server, responder })
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Requests seen so far (at most the last 10 000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.responder.requests()
    }

    /// The recorded requests that arrived after `after` (all for `None`), oldest first;
    /// copies only those.
    pub fn requests_after(&self, after: Option<Instant>) -> Vec<RequestRecord> {
        self.responder.core.requests_after(after)
    }

    /// The profile being served.
    pub fn profile(&self) -> &StubProfile {
        &self.responder.core.c.profile
    }

    /// Stops accepting, lets in-flight responses finish, waits for every connection.
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}

async fn answer(
    r: &OllamaResponder,
    req: hyper::Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let reply = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => r.handle(parts.method.as_str(), parts.uri.path(), &b.to_bytes()),
        Err(e) => {
            let status = if e.is::<http_body_util::LengthLimitError>() {
                413
            } else {
                400
            };
            StubResponse::error(status, &format!("reading body: {e}"))
        }
    };
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    resp
}
