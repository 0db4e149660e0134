//! The stubs for load tests: `fast` (pre-rendered bytes, as fast as hyper can write) and
//! `capacity` (S slots, a FIFO queue, per-slot prefill and decode rates: see
//! [`CapacityModel`]), both with an optional one-off [`Pause`] and counters
//! ([`StubStats`], also served as JSON at `GET /stub/stats`).
//!
//! Both run on their own thread with a current-thread tokio runtime (HTTP/1.1,
//! keep-alive). Every content line is rendered once at start-up, so serving a generation
//! copies no text: content goes out as slices of shared buffers, and only the final line
//! (its timings are this request's) is formatted per request. Content lines carry the
//! `created_at` (OpenAI: `created`) of the stub's start-up; final lines carry the time
//! they are rendered. Generation requests are logged in a bounded ring
//! ([`LoadStub::request_log`], `GET /stub/requests`: the last [`REQUEST_LOG_MAX`]
//! requests, at most [`REQUEST_LOG_BYTES`] of bodies), so memory stays flat however
//! many requests are served.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, Sleep};

use super::capacity::{CapacityModel, InjectedFault, Pause};
use super::ndjson::{nanos, Route, ServerTimings, Stamp};
use super::profile::SplitMix64;
use super::routes::{Action, Core, GenPlan, GenWhat, StubResponse, MAX_BODY_BYTES};
use super::server::Server;
use super::{StubError, StubProfile};

/// Counters of generation requests (`/api/generate`, `/api/chat`, `/v1/completions`,
/// `/v1/chat/completions` that produce text), since the stub started. Other routes and
/// rejected requests are not counted. A stub that does not count reports zeros.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StubStats {
    /// Generation requests whose head and body were read and accepted.
    pub arrivals: u64,
    /// Generations whose last byte was handed to the connection.
    pub completions: u64,
    /// Generations arrived and neither completed nor abandoned by the client, now.
    pub in_flight: u64,
    /// The most generations in flight at once (arrival to last byte handed over).
    pub peak_in_flight: u64,
    /// Generations holding a slot now (capacity stub; the fast stub has no slots: 0).
    pub in_service: u64,
    /// The most generations holding a slot at once (capacity stub; never above `slots`).
    pub peak_in_service: u64,
    /// Generations answered with an injected HTTP 500 (`faults=`).
    #[serde(default)]
    pub injected_http_500: u64,
    /// Generations cut by an injected error object mid-stream.
    #[serde(default)]
    pub injected_error_mid_stream: u64,
    /// Generations whose body ended early without the final object.
    #[serde(default)]
    pub injected_truncate: u64,
}

/// Most generation requests [`LoadStub::request_log`] keeps (the oldest go first).
pub const REQUEST_LOG_MAX: usize = 1024;
/// Most body bytes [`LoadStub::request_log`] keeps in all (the oldest go first).
pub const REQUEST_LOG_BYTES: usize = 16 << 20;

/// One generation request as a load stub received it (see
/// [`LoadStub::request_log`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Arrival order among generation requests, from 0.
    pub seq: u64,
    /// Arrival, ns since the stub started.
    pub arrival_ns: u64,
    /// Request path, e.g. `/api/chat`.
    pub path: String,
    /// The request body, as received (lossily decoded when not UTF-8).
    pub body: String,
}

/// The bounded ring behind [`LoadStub::request_log`].
#[derive(Default)]
struct RequestLog {
    next: u64,
    bytes: usize,
    ring: std::collections::VecDeque<(u64, u64, String, Bytes)>,
}

impl RequestLog {
    fn push(&mut self, arrival_ns: u64, path: &str, body: Bytes) {
        let seq = self.next;
        self.next += 1;
        self.bytes += body.len();
        self.ring
            .push_back((seq, arrival_ns, path.to_owned(), body));
        while self.ring.len() > REQUEST_LOG_MAX
            || (self.bytes > REQUEST_LOG_BYTES && self.ring.len() > 1)
        {
            if let Some((_, _, _, b)) = self.ring.pop_front() {
                self.bytes -= b.len();
            }
        }
    }

    fn snapshot(&self) -> Vec<LoggedRequest> {
        self.ring
            .iter()
            .map(|(seq, arrival_ns, path, body)| LoggedRequest {
                seq: *seq,
                arrival_ns: *arrival_ns,
                path: path.clone(),
                body: String::from_utf8_lossy(body).into_owned(),
            })
            .collect()
    }
}

#[derive(Default)]
struct Counters {
    arrivals: AtomicU64,
    completions: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    in_service: AtomicU64,
    peak_in_service: AtomicU64,
    injected: [AtomicU64; 3],
}

impl Counters {
    fn snapshot(&self) -> StubStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StubStats {
            arrivals: l(&self.arrivals),
            completions: l(&self.completions),
            in_flight: l(&self.in_flight),
            peak_in_flight: l(&self.peak_in_flight),
            in_service: l(&self.in_service),
            peak_in_service: l(&self.peak_in_service),
            injected_http_500: l(&self.injected[0]),
            injected_error_mid_stream: l(&self.injected[1]),
            injected_truncate: l(&self.injected[2]),
        }
    }
}

/// One endpoint's pre-rendered stream for one model.
struct Pre {
    /// All content lines (SSE events) back to back.
    stream: Bytes,
    /// `stream[offsets[i]..offsets[i + 1]]` is content line `i`.
    offsets: Vec<usize>,
    /// The escaped content, concatenated (for `stream: false`).
    content: Bytes,
    /// `content[..content_offsets[n]]` is the first `n` pieces.
    content_offsets: Vec<usize>,
}

struct Capacity {
    model: CapacityModel,
    slots: Arc<Semaphore>,
    rng: Mutex<SplitMix64>,
}

struct Shared {
    core: Core,
    capacity: Option<Capacity>,
    pause: Option<Pause>,
    faults: Option<(f64, Mutex<SplitMix64>)>,
    first_gen: OnceLock<Instant>,
    counters: Counters,
    started: Instant,
    log: Mutex<RequestLog>,
    /// Per model, per endpoint (see [`ep_index`]).
    pre: Vec<[Pre; 4]>,
}

fn ep_index(ep: Route) -> usize {
    match ep {
        Route::Generate => 0,
        Route::Chat => 1,
        Route::Completions => 2,
        Route::ChatCompletions => 3,
    }
}

impl Shared {
    fn log_snapshot(&self) -> Vec<LoggedRequest> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }

    /// The pause window, once the first generation has arrived.
    fn window(&self) -> Option<(Instant, Instant)> {
        let p = self.pause?;
        let a = *self.first_gen.get()? + p.after;
        Some((a, a + p.duration))
    }

    /// The end of the pause window when `now` is inside it.
    fn hold_until(&self, now: Instant) -> Option<Instant> {
        self.window()
            .and_then(|(a, b)| (a <= now && now < b).then_some(b))
    }

    /// The wall time at which work started at `start` reaches `start + work`, the pause
    /// window (when any) freezing it.
    fn shift(&self, start: Instant, work: std::time::Duration) -> Instant {
        let d = start + work;
        let Some((a, b)) = self.window() else {
            return d;
        };
        if start >= b || d <= a {
            d
        } else if start >= a {
            b + work
        } else {
            d + (b - a)
        }
    }
}

/// Counts one generation from arrival until completed or abandoned.
struct Flight {
    sh: Arc<Shared>,
    done: bool,
}

impl Flight {
    fn arrive(sh: &Arc<Shared>, arrival: Instant) -> Self {
        sh.first_gen.get_or_init(|| arrival);
        let c = &sh.counters;
        c.arrivals.fetch_add(1, Ordering::Relaxed);
        let now = c.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        c.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        Flight {
            sh: sh.clone(),
            done: false,
        }
    }

    fn complete(&mut self) {
        if !self.done {
            self.done = true;
            let c = &self.sh.counters;
            c.completions.fetch_add(1, Ordering::Relaxed);
            c.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if !self.done {
            self.sh.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A held slot of the capacity stub; released when dropped.
struct InService {
    sh: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl InService {
    fn new(sh: &Arc<Shared>, permit: OwnedSemaphorePermit) -> Self {
        let c = &sh.counters;
        let now = c.in_service.fetch_add(1, Ordering::Relaxed) + 1;
        c.peak_in_service.fetch_max(now, Ordering::Relaxed);
        InService {
            sh: sh.clone(),
            _permit: permit,
        }
    }
}

impl Drop for InService {
    fn drop(&mut self) {
        self.sh.counters.in_service.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running `fast` or `capacity` stub (see the module docs). Stops when dropped.
///
/// Server timings in final lines are this server's own: `total_duration` = arrival →
/// final line rendered (queue wait included); `load_duration` = 0. Fast:
/// `prompt_eval_duration` = arrival → content handed over, `eval_duration` = content →
/// final line. Capacity: `prompt_eval_duration` = slot start → end of the prefill,
/// `eval_duration` = end of the prefill → last content chunk, so `total_duration −
/// prompt_eval_duration − eval_duration` is the time spent queueing for a slot; a pause
/// inside the service is inside these figures. The OpenAI routes carry the same numbers
/// in llama.cpp's `timings` and `usage`.
pub struct LoadStub {
    server: Server,
    sh: Arc<Shared>,
}

impl LoadStub {
    /// Starts on `127.0.0.1:0` (a free port). A profile with a
    /// [`capacity`](StubProfile::capacity) model serves as the capacity stub, else as
    /// the fast stub.
    pub async fn start(profile: StubProfile) -> Result<Self, StubError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(StubError::Bind)?;
        Self::start_on(listener, profile).await
    }

    /// Starts on an already bound listener (see [`LoadStub::start`]). Fails when the
    /// profile is invalid, or when a capacity profile's text gives fewer content chunks
    /// than its model's `tokens`.
    pub async fn start_on(listener: TcpListener, profile: StubProfile) -> Result<Self, StubError> {
        let model = profile.capacity.clone();
        let pause = profile.pause;
        let faults = profile
            .faults
            .map(|f| (f.rate, Mutex::new(SplitMix64::new(f.seed))));
        let core = Core::new(profile).map_err(StubError::InvalidProfile)?;
        let capacity = match model {
            Some(m) => {
                if core.c.chunks() != m.tokens {
                    return Err(StubError::InvalidProfile(format!(
                        "the capacity model has tokens={} but the text gives {} chunks",
                        m.tokens,
                        core.c.chunks()
                    )));
                }
                Some(Capacity {
                    slots: Arc::new(Semaphore::new(m.slots)),
                    rng: Mutex::new(m.rng()),
                    model: m,
                })
            }
            None => None,
        };
        let pre = prerender(&core);
        let sh = Arc::new(Shared {
            core,
            capacity,
            pause,
            faults,
            first_gen: OnceLock::new(),
            counters: Counters::default(),
            started: Instant::now(),
            log: Mutex::new(RequestLog::default()),
            pre,
        });
        let name = if sh.capacity.is_some() {
            "capacity-stub"
        } else {
            "fast-stub"
        };
        let hsh = sh.clone();
        let server = Server::spawn(listener, name, move |req| handle(hsh.clone(), req))?;
        Ok(LoadStub { server, sh })
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The profile being served.
    pub fn profile(&self) -> &StubProfile {
        &self.sh.core.c.profile
    }

    /// The capacity model served (`None` for the fast stub).
    pub fn capacity(&self) -> Option<&CapacityModel> {
        self.sh.capacity.as_ref().map(|c| &c.model)
    }

    /// The counters now.
    pub fn stats(&self) -> StubStats {
        self.sh.counters.snapshot()
    }

    /// The last generation requests received (at most [`REQUEST_LOG_MAX`], and at
    /// most [`REQUEST_LOG_BYTES`] of bodies), oldest first; also served as JSON at
    /// `GET /stub/requests`.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.sh.log_snapshot()
    }

    /// Stops accepting, lets in-flight responses finish, waits for every connection.
    pub async fn shutdown(self) {
        self.server.shutdown().await
    }
}

fn prerender(core: &Core) -> Vec<[Pre; 4]> {
    let c = &core.c;
    let n = c.chunks();
    let ts = Stamp::now();
    let content = c.content(n);
    let content_offsets: Vec<usize> = (0..=n).map(|i| c.content(i).len()).collect();
    let content = Bytes::from(content);
    (0..c.profile.models.len())
        .map(|m| {
            [
                Route::Generate,
                Route::Chat,
                Route::Completions,
                Route::ChatCompletions,
            ]
            .map(|ep| {
                let mut buf = Vec::new();
                let mut offsets = vec![0];
                for i in 0..n {
                    c.push_chunk(&mut buf, ep, m, &ts, i);
                    offsets.push(buf.len());
                }
                Pre {
                    stream: Bytes::from(buf),
                    offsets,
                    content: content.clone(),
                    content_offsets: content_offsets.clone(),
                }
            })
        })
        .collect()
}

async fn handle(sh: Arc<Shared>, req: Request<Incoming>) -> Result<Response<LoadBody>, Infallible> {
    let arrival = Instant::now();
    let (parts, body) = req.into_parts();
    if parts.uri.path() == "/stub/stats" {
        if parts.method != Method::GET {
            return Ok(reply(StubResponse::error(405, "method not allowed")));
        }
        let body = serde_json::to_vec(&sh.counters.snapshot()).unwrap_or_default();
        return Ok(reply(StubResponse::json(200, body)));
    }
    if parts.uri.path() == "/stub/requests" {
        if parts.method != Method::GET {
            return Ok(reply(StubResponse::error(405, "method not allowed")));
        }
        let body = serde_json::to_vec(&sh.log_snapshot()).unwrap_or_default();
        return Ok(reply(StubResponse::json(200, body)));
    }
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let status = if e.is::<http_body_util::LengthLimitError>() {
                413
            } else {
                400
            };
            return Ok(reply(StubResponse::error(
                status,
                &format!("reading body: {e}"),
            )));
        }
    };
    let plan = match sh
        .core
        .route(parts.method.as_str(), parts.uri.path(), &body)
    {
        Action::Reply(r) => return Ok(reply(r)),
        Action::Generate(p) => p,
    };
    let c = &sh.core.c;
    let (n, done_reason) = match plan.what {
        GenWhat::Load | GenWhat::Unload => {
            let reason = if plan.what == GenWhat::Load {
                "load"
            } else {
                "unload"
            };
            return Ok(reply(StubResponse::json(
                200,
                c.load_reply(plan.ep, plan.model, &Stamp::now(), reason),
            )));
        }
        GenWhat::Text { n, done_reason } => (n, done_reason),
    };
    let flight = Flight::arrive(&sh, arrival);
    {
        let at = nanos(arrival.saturating_duration_since(sh.started));
        let mut log = sh.log.lock().unwrap_or_else(|e| e.into_inner());
        log.push(at, parts.uri.path(), body.clone());
    }
    let fault = sh.faults.as_ref().and_then(|(rate, rng)| {
        let mut rng = rng.lock().unwrap_or_else(|e| e.into_inner());
        let (u, v) = (rng.next_f64(), rng.next_u64());
        InjectedFault::pick(*rate, u, v)
    });
    if let Some(f) = fault {
        let i = InjectedFault::ALL.iter().position(|x| *x == f).unwrap_or(0);
        sh.counters.injected[i].fetch_add(1, Ordering::Relaxed);
    }
    if fault == Some(InjectedFault::Http500) {
        drop(flight);
        return Ok(reply(StubResponse::error(500, "injected fault: http-500")));
    }
    let (service, factor) = match &sh.capacity {
        Some(cap) => {
            let Ok(permit) = cap.slots.clone().acquire_owned().await else {
                return Ok(reply(StubResponse::error(503, "the stub is stopping")));
            };
            let f = {
                let mut rng = cap.rng.lock().unwrap_or_else(|e| e.into_inner());
                cap.model.factor(&mut rng)
            };
            (Some(InService::new(&sh, permit)), f)
        }
        None => (None, 1.0),
    };
    let start = Instant::now();
    // Headers wait out a pause.
    if let Some(end) = sh.hold_until(start) {
        sleep_until(end.into()).await;
    }
    let ep = plan.ep;
    let body = GenBody {
        sh: sh.clone(),
        plan,
        n,
        done_reason,
        arrival,
        start,
        factor,
        next: 0,
        first: None,
        last: start,
        sleep: None,
        flight,
        service,
        finished: false,
        fault,
    };
    let mut resp = Response::new(LoadBody::Gen(Box::new(body)));
    let ct = if plan.stream {
        ep.stream_content_type()
    } else {
        "application/json; charset=utf-8"
    };
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    Ok(resp)
}

/// The error object an injected `error-mid-stream` fault ends a stream with, in the
/// endpoint's protocol.
fn error_line(ep: Route) -> &'static [u8] {
    if ep.is_openai() {
        b"data: {\"error\":{\"message\":\"injected fault: error-mid-stream\",\"type\":\"server_error\",\"code\":500}}\n\n"
    } else {
        b"{\"error\":\"injected fault: error-mid-stream\"}\n"
    }
}

fn reply(r: StubResponse) -> Response<LoadBody> {
    let mut resp = Response::new(LoadBody::Full(Some(Bytes::from(r.body))));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    resp
}

/// Response bodies of the load stubs: a complete body, or a generation.
enum LoadBody {
    Full(Option<Bytes>),
    Gen(Box<GenBody>),
}

impl Body for LoadBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            LoadBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            LoadBody::Gen(g) => g.poll_next(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            LoadBody::Full(b) => b.is_none(),
            LoadBody::Gen(g) => g.finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            LoadBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            LoadBody::Gen(_) => SizeHint::default(),
        }
    }
}

/// One generation in progress.
struct GenBody {
    sh: Arc<Shared>,
    plan: GenPlan,
    n: usize,
    done_reason: &'static str,
    arrival: Instant,
    /// Slot start (capacity) or response start (fast).
    start: Instant,
    factor: f64,
    /// Content chunks handed over so far.
    next: usize,
    first: Option<Instant>,
    last: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    flight: Flight,
    service: Option<InService>,
    finished: bool,
    /// An injected mid-stream fault: after half the content, an error object
    /// (`ErrorMidStream`) or the end of the body (`Truncate`).
    fault: Option<InjectedFault>,
}

impl GenBody {
    /// Work time from the slot start to the end of the prefill (jitter applied).
    fn prefill_work(&self, cap: &CapacityModel) -> std::time::Duration {
        cap.prefill_time(self.plan.prompt_eval_count)
            .mul_f64(self.factor)
    }

    /// When the next piece of output may go: content chunk `next` (capacity; the last
    /// one for `stream: false`), or now unless a pause holds (fast).
    fn deadline(&self, now: Instant) -> Option<Instant> {
        if self.next >= self.n {
            return None;
        }
        match &self.sh.capacity {
            Some(cap) => {
                let i = if self.plan.stream {
                    self.next
                } else {
                    self.n - 1
                };
                let work = self.prefill_work(&cap.model)
                    + cap.model.decode_offset(i as u64).mul_f64(self.factor);
                Some(self.sh.shift(self.start, work))
            }
            None => self.sh.hold_until(now),
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let now = Instant::now();
        if let Some(deadline) = self.deadline(now) {
            if now < deadline {
                let deadline = tokio::time::Instant::from_std(deadline);
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        }
        let now = Instant::now();
        let pre = &self.sh.pre[self.plan.model][ep_index(self.plan.ep)];
        if let Some(f) = self.fault {
            let half = self.n / 2;
            if self.next >= half || !self.plan.stream {
                self.finished = true;
                self.flight.complete();
                self.service = None;
                return match f {
                    InjectedFault::ErrorMidStream => {
                        Poll::Ready(Some(Bytes::from(error_line(self.plan.ep))))
                    }
                    _ => Poll::Ready(None),
                };
            }
            // Content up to the cut, in one piece (fast) or chunk by chunk.
            let upto = if self.sh.capacity.is_some() {
                self.next + 1
            } else {
                half
            };
            self.first.get_or_insert(now);
            let piece = pre.stream.slice(pre.offsets[self.next]..pre.offsets[upto]);
            self.next = upto;
            return Poll::Ready(Some(piece));
        }
        if self.next < self.n {
            self.first.get_or_insert(now);
            self.last = now;
            if !self.plan.stream {
                self.next = self.n;
            } else {
                // Capacity: one chunk per token; fast: all content in one frame.
                let upto = if self.sh.capacity.is_some() {
                    self.next + 1
                } else {
                    self.n
                };
                let piece = pre.stream.slice(pre.offsets[self.next]..pre.offsets[upto]);
                self.next = upto;
                return Poll::Ready(Some(piece));
            }
        }
        let t = self.timings();
        let c = &self.sh.core.c;
        let mut buf = Vec::with_capacity(if self.plan.stream {
            640
        } else {
            640 + pre.content_offsets[self.n]
        });
        let content = (!self.plan.stream).then(|| &pre.content[..pre.content_offsets[self.n]]);
        c.push_final(
            &mut buf,
            self.plan.ep,
            self.plan.model,
            &Stamp::now(),
            self.done_reason,
            &t,
            content,
        );
        self.finished = true;
        self.flight.complete();
        self.service = None;
        Poll::Ready(Some(Bytes::from(buf)))
    }

    fn timings(&self) -> ServerTimings {
        let first = self.first.unwrap_or(self.last);
        let (prompt_eval, eval) = match &self.sh.capacity {
            Some(cap) => {
                let prefill_end = self.sh.shift(self.start, self.prefill_work(&cap.model));
                (
                    prefill_end.saturating_duration_since(self.start),
                    self.last.saturating_duration_since(prefill_end),
                )
            }
            None => (first - self.arrival, Instant::now() - first),
        };
        ServerTimings {
            total_duration: nanos(self.arrival.elapsed()),
            load_duration: 0,
            prompt_eval_count: self.plan.prompt_eval_count,
            prompt_eval_duration: nanos(prompt_eval),
            eval_count: self.n as u64,
            eval_duration: nanos(eval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_log_is_bounded_in_entries_and_bytes() {
        let mut log = RequestLog::default();
        for i in 0..(REQUEST_LOG_MAX as u64 + 76) {
            log.push(i, "/api/chat", Bytes::from_static(b"{}"));
        }
        let snap = log.snapshot();
        assert_eq!(snap.len(), REQUEST_LOG_MAX);
        assert_eq!(snap[0].seq, 76);
        assert_eq!(snap.last().unwrap().body, "{}");
        let big = Bytes::from(vec![b'x'; REQUEST_LOG_BYTES / 2 + 1]);
        log.push(0, "/api/chat", big.clone());
        log.push(1, "/api/chat", big.clone());
        assert_eq!(log.ring.len(), 1, "the newest is kept, the rest dropped");
        assert!(log.bytes <= REQUEST_LOG_BYTES);
    }
}
