//! The paced stub: a small hyper 1 server that streams each line as its own HTTP chunk on a
//! schedule, reporting the timings it really produced.
//!
//! It runs on its own thread with a current-thread tokio runtime, so its pacing is not
//! disturbed by (and does not disturb) the runtime of the client under test.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Sleep};

use super::emulate::{load_time, offset};
use super::ndjson::{nanos, ServerTimings, Stamp};
use super::routes::{Action, Core, GenPlan, GenWhat, RequestRecord, StubResponse, MAX_BODY_BYTES};
use super::{StubError, StubProfile};

/// A running paced stub.
///
/// Streamed generations follow the profile's [`Pacing`](super::Pacing) schedule, measured
/// from the request's arrival (the moment its head was parsed) with `sleep_until`, so
/// lateness never accumulates. Final-line timings come from the server's own clock:
/// `total_duration` = arrival → final line produced; `load_duration` = the simulated load;
/// `prompt_eval_duration` = (arrival → first chunk) − load; `eval_duration` = first chunk →
/// last chunk; `eval_count` = chunks sent. A chunk is "sent" when hyper asks for it, i.e.
/// once the previous one has been handed to the socket. `stream:false` waits for the whole
/// schedule and then answers with one object carrying the same timings.
///
/// Connections are HTTP/1.1 with keep-alive. Dropping the stub stops accepting and closes
/// idle connections; responses in flight finish. [`PacedStub::shutdown`] also waits for them.
pub struct PacedStub {
    addr: SocketAddr,
    url: String,
    core: Arc<Core>,
    stop: watch::Sender<bool>,
    finished: Option<oneshot::Receiver<()>>,
}

impl PacedStub {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(profile: StubProfile) -> Result<Self, StubError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(StubError::Bind)?;
        Self::start_on(listener, profile).await
    }

    /// Starts on an already bound listener (its address is served as is).
    pub async fn start_on(listener: TcpListener, profile: StubProfile) -> Result<Self, StubError> {
        let core = Arc::new(Core::new(profile).map_err(StubError::InvalidProfile)?);
        let addr = listener.local_addr().map_err(StubError::Bind)?;
        let fault = core.c.profile.fault;
        if fault == Some(super::Fault::Refused) {
            // Nothing listens: connections to `addr` are refused.
            drop(listener);
            let (stop, _) = watch::channel(false);
            return Ok(PacedStub {
                addr,
                url: format!("http://{addr}"),
                core,
                stop,
                finished: None,
            });
        }
        listener.set_nonblocking(true).map_err(StubError::Bind)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StubError::Runtime)?;
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, finished) = oneshot::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let server_core = core.clone();
        std::thread::Builder::new()
            .name(format!("paced-stub-{}", addr.port()))
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => {
                            let _ = ready_tx.send(Ok(()));
                            match fault {
                                Some(f) => super::faults::serve(l, server_core, f, stop_rx).await,
                                None => accept_loop(l, server_core, stop_rx).await,
                            }
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                let _ = done_tx.send(());
            })
            .map_err(StubError::Runtime)?;
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StubError::Bind(e)),
            Err(_) => {
                return Err(StubError::Runtime(std::io::Error::other(
                    "stub thread died",
                )))
            }
        }
        Ok(PacedStub {
            addr,
            url: format!("http://{addr}"),
            core,
            stop,
            finished: Some(finished),
        })
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Arrivals of the requests seen so far (at most the last 10 000), oldest first. A
    /// request is recorded as soon as its head is parsed, before its body is read.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.core.requests_after(None)
    }

    /// The recorded arrivals after `after` (all for `None`), oldest first; copies only
    /// those.
    pub fn requests_after(&self, after: Option<Instant>) -> Vec<RequestRecord> {
        self.core.requests_after(after)
    }

    /// The profile being served.
    pub fn profile(&self) -> &StubProfile {
        &self.core.c.profile
    }

    /// The times of the streamed generations served so far (at most the last
    /// 10 000), oldest first: see [`StreamTimes`].
    pub fn streams(&self) -> Vec<StreamTimes> {
        self.core.streams()
    }

    /// TCP connections accepted so far (each keep-alive connection once, however
    /// many requests it carried). Counted for the profiles without a fault; a
    /// `fault:` profile's server does not count (always 0).
    pub fn connections_accepted(&self) -> u64 {
        self.core
            .accepted
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops accepting, lets in-flight responses finish, and waits until every connection
    /// is closed.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(f) = self.finished.take() {
            let _ = f.await;
        }
    }
}

impl Drop for PacedStub {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    core: Arc<Core>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // e.g. out of file descriptors: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                core.accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let core = core.clone();
                let mut stop = stop.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(core.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn handle(core: Arc<Core>, req: Request<Incoming>) -> Result<Response<StubBody>, Infallible> {
    let arrival = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    core.record(&method, &path, SystemTime::now(), arrival);
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
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
    let plan = match core.route(&method, &path, &body) {
        Action::Reply(r) => return Ok(reply(r)),
        Action::Generate(p) => p,
    };
    let c = &core.c;
    let (n, done_reason) = match plan.what {
        GenWhat::Load => {
            sleep_until((arrival + load_time(c, plan.emul.as_ref())).into()).await;
            return Ok(reply(StubResponse::json(
                200,
                c.load_reply(plan.ep, plan.model, &Stamp::now(), "load"),
            )));
        }
        GenWhat::Unload => {
            return Ok(reply(StubResponse::json(
                200,
                c.load_reply(plan.ep, plan.model, &Stamp::now(), "unload"),
            )))
        }
        GenWhat::Text { n, done_reason } => (n, done_reason),
    };
    if !plan.stream {
        sleep_until((arrival + offset(c, plan.emul.as_ref(), 0)).into()).await;
        let first = Instant::now();
        sleep_until((arrival + offset(c, plan.emul.as_ref(), n - 1)).into()).await;
        let last = Instant::now();
        let content = c.content(n);
        let timings = timings(&core, &plan, arrival, first, last, n);
        let mut buf = Vec::with_capacity(content.len() + 400);
        c.push_final(
            &mut buf,
            plan.ep,
            plan.model,
            &Stamp::now(),
            done_reason,
            &timings,
            Some(&content),
        );
        return Ok(reply(StubResponse::json(200, buf)));
    }
    let body = PacedBody {
        core: core.clone(),
        plan,
        n,
        done_reason,
        arrival,
        next: 0,
        first: arrival,
        last: arrival,
        sleep: None,
        finished: false,
    };
    let content_type = body.plan.ep.stream_content_type();
    let mut resp = Response::new(StubBody::Paced(Box::new(body)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

fn timings(
    core: &Core,
    plan: &GenPlan,
    arrival: Instant,
    first: Instant,
    last: Instant,
    n: usize,
) -> ServerTimings {
    let load = core.c.load;
    let mut t = ServerTimings {
        total_duration: nanos(arrival.elapsed()),
        load_duration: nanos(load),
        prompt_eval_count: plan.prompt_eval_count,
        prompt_eval_duration: nanos((first - arrival).saturating_sub(load)),
        eval_count: n as u64,
        eval_duration: nanos(last - first),
    };
    if let Some(e) = &plan.emul {
        e.server_timings(&mut t, n);
    }
    t
}

fn reply(r: StubResponse) -> Response<StubBody> {
    let mut resp = Response::new(StubBody::Full(Some(Bytes::from(r.body))));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    resp
}

/// Response bodies of the paced stub: a complete body, or a paced stream.
enum StubBody {
    Full(Option<Bytes>),
    Paced(Box<PacedBody>),
}

impl Body for StubBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            StubBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            StubBody::Paced(p) => p.poll_line(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            StubBody::Full(b) => b.is_none(),
            StubBody::Paced(p) => p.finished,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            StubBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            StubBody::Paced(_) => SizeHint::default(),
        }
    }
}

/// A streamed generation: content line `i` becomes available at `arrival + schedule[i]`,
/// then the final line follows at once.
struct PacedBody {
    core: Arc<Core>,
    plan: GenPlan,
    n: usize,
    done_reason: &'static str,
    arrival: Instant,
    next: usize,
    first: Instant,
    last: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    finished: bool,
}

impl PacedBody {
    fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let c = &self.core.c;
        if self.next < self.n {
            let deadline = self.arrival + offset(c, self.plan.emul.as_ref(), self.next);
            if Instant::now() < deadline {
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
            let now = Instant::now();
            if self.next == 0 {
                self.first = now;
            }
            self.last = now;
            let mut buf = Vec::with_capacity(192);
            c.push_chunk(
                &mut buf,
                self.plan.ep,
                self.plan.model,
                &Stamp::now(),
                self.next,
            );
            self.next += 1;
            return Poll::Ready(Some(Bytes::from(buf)));
        }
        let t = timings(
            &self.core,
            &self.plan,
            self.arrival,
            self.first,
            self.last,
            self.n,
        );
        let mut buf = Vec::with_capacity(400);
        c.push_final(
            &mut buf,
            self.plan.ep,
            self.plan.model,
            &Stamp::now(),
            self.done_reason,
            &t,
            None,
        );
        self.finished = true;
        self.core.record_stream(StreamTimes {
            arrival: self.arrival,
            final_line: Instant::now(),
            total_duration_ns: t.total_duration,
        });
        Poll::Ready(Some(Bytes::from(buf)))
    }
}

/// When the paced stub served one streamed generation, on the process's monotonic
/// clock (comparable with the client's `Instant`s when the stub runs in the same
/// process): for splitting a call into request path, server, response path and
/// client decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamTimes {
    /// The request's head was parsed (as [`RequestRecord::instant`]).
    pub arrival: Instant,
    /// The final line was rendered and handed to hyper, which writes it to the
    /// socket when it next polls the connection (the stub's last byte, but for the
    /// chunked body's terminator).
    pub final_line: Instant,
    /// The `total_duration` the final line reported, ns (arrival → final line
    /// rendered, the stub's own figure).
    pub total_duration_ns: u64,
}
