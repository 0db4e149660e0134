//! One streamed call: send, read the NDJSON body, record raw observations.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::clock::{nanos as ns, unix_ns_now};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::call::{CallCost, CallError, CallRecord, Endpoint, ErrorKind, Protocol, ServerFields};
use super::ndjson::{DecodeError, LineSplitter, StreamDecoder, WireChunk};
use super::sse::{SseDecoder, SseLine};
use super::{wire, CallRequest, LlmClient, Transport};
use crate::client::options::GenOptions;

#[derive(Serialize)]
struct GenerateBody<'a> {
    model: &'a str,
    prompt: &'a str,
    stream: bool,
    #[serde(skip_serializing_if = "is_empty_options")]
    options: &'a GenOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_alive: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'a str,
    content: &'a str,
}

/// Who wrote one message of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A system prompt.
    System,
    /// The agent's (user's) message.
    User,
    /// The model's answer.
    Assistant,
}

impl Role {
    /// `system`, `user` or `assistant`, as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation sent to a chat endpoint
/// ([`LlmClient::prepare_chat`]): serialised as `{"role":…,"content":…}` in both
/// protocols (Ollama's `/api/chat`, OpenAI's `/v1/chat/completions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text, sent byte for byte.
    pub content: String,
}

impl Message {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message (a previous answer).
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [ChatMessage<'a>],
    stream: bool,
    #[serde(skip_serializing_if = "is_empty_options")]
    options: &'a GenOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_alive: Option<&'a serde_json::Value>,
}

fn is_empty_options(o: &&GenOptions) -> bool {
    **o == GenOptions::default()
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// An OpenAI-compatible request (`/v1/completions` with `prompt`, or
/// `/v1/chat/completions` with `messages`). Options are translated as
/// [`RequestSettings::check_protocol`](crate::client::RequestSettings::check_protocol)
/// documents.
#[derive(Serialize)]
struct OpenAiBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a [ChatMessage<'a>]>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeat_penalty: Option<f64>,
}

fn openai_body(req: &CallRequest<'_>) -> serde_json::Result<Vec<u8>> {
    let single = [ChatMessage {
        role: "user",
        content: req.prompt,
    }];
    let (prompt, messages) = match req.endpoint {
        Endpoint::Generate => (Some(req.prompt), None),
        Endpoint::Chat => (None, Some(&single[..])),
    };
    openai_body_of(req.model, req.settings, prompt, messages)
}

fn openai_body_of(
    model: &str,
    settings: &crate::client::RequestSettings,
    prompt: Option<&str>,
    messages: Option<&[ChatMessage<'_>]>,
) -> serde_json::Result<Vec<u8>> {
    let o = &settings.options;
    serde_json::to_vec(&OpenAiBody {
        model,
        prompt,
        messages,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        max_tokens: o.num_predict.filter(|n| *n >= 1),
        temperature: o.temperature,
        seed: o.seed,
        top_p: o.top_p,
        top_k: o.top_k,
        repeat_penalty: o.repeat_penalty,
    })
}

/// Serializes the request body for `protocol` (before t0: building the body is not
/// part of the measured call).
pub(crate) fn request_body(req: &CallRequest<'_>, protocol: Protocol) -> Vec<u8> {
    if protocol == Protocol::OpenAi {
        return openai_body(req).expect("request bodies hold only strings and numbers");
    }
    let options = &req.settings.options;
    let keep_alive = req.settings.keep_alive.as_ref();
    let result = match req.endpoint {
        Endpoint::Generate => serde_json::to_vec(&GenerateBody {
            model: req.model,
            prompt: req.prompt,
            stream: true,
            options,
            keep_alive,
        }),
        Endpoint::Chat => serde_json::to_vec(&ChatBody {
            model: req.model,
            messages: &[ChatMessage {
                role: "user",
                content: req.prompt,
            }],
            stream: true,
            options,
            keep_alive,
        }),
    };
    result.expect("request bodies hold only strings, numbers and JSON values")
}

/// Serializes a chat request carrying a whole conversation for `protocol`.
fn conversation_body(
    model: &str,
    messages: &[Message],
    settings: &crate::client::RequestSettings,
    protocol: Protocol,
) -> Vec<u8> {
    let wire: Vec<ChatMessage<'_>> = messages
        .iter()
        .map(|m| ChatMessage {
            role: m.role.as_str(),
            content: &m.content,
        })
        .collect();
    let result = match protocol {
        Protocol::OpenAi => openai_body_of(model, settings, None, Some(&wire)),
        Protocol::Ollama => serde_json::to_vec(&ChatBody {
            model,
            messages: &wire,
            stream: true,
            options: &settings.options,
            keep_alive: settings.keep_alive.as_ref(),
        }),
    };
    result.expect("request bodies hold only strings, numbers and JSON values")
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// How reading a body ended.
enum Stop {
    /// Final object seen.
    Done,
    /// A failure; the message is complete.
    Failed(CallError),
}

/// A request rendered once, to be sent any number of times: the body bytes, the
/// URL and the prompt's hash are computed here, before any call's t0, so a load
/// run's hot path does no serialisation or hashing per request.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    endpoint: Endpoint,
    model: String,
    settings: crate::client::RequestSettings,
    url: String,
    /// `url` parsed once, for the reqwest transport (`None` when it does not
    /// parse: then each send parses the string and reports the failure as before).
    parsed_url: Option<reqwest::Url>,
    body: bytes::Bytes,
    /// The whole request (head and body) for the client's own transport, rendered
    /// once; empty for reqwest's.
    wire_request: bytes::Bytes,
    prompt_sha256: String,
    prompt_bytes: u64,
}

impl PreparedCall {
    /// Lowercase hex SHA-256 of the prompt.
    pub fn prompt_sha256(&self) -> &str {
        &self.prompt_sha256
    }

    /// Prompt length in bytes.
    pub fn prompt_bytes(&self) -> u64 {
        self.prompt_bytes
    }

    /// The request body as sent.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl LlmClient {
    /// Renders `req` for this client's protocol and server (see [`PreparedCall`]).
    pub fn prepare_call(&self, req: &CallRequest<'_>) -> PreparedCall {
        let protocol = self.protocol();
        let path = req.endpoint.path_for(protocol);
        let body = request_body(req, protocol);
        PreparedCall {
            endpoint: req.endpoint,
            model: req.model.to_string(),
            settings: req.settings.clone(),
            parsed_url: self.parsed_url(path),
            url: format!("{}{path}", self.base_url()),
            wire_request: self.wire_request(path, &body),
            body: bytes::Bytes::from(body),
            prompt_sha256: sha256_hex(req.prompt.as_bytes()),
            prompt_bytes: req.prompt.len() as u64,
        }
    }

    /// Renders a chat call that sends the whole `messages` conversation, in order
    /// (Ollama's `/api/chat` or OpenAI's `/v1/chat/completions`, as this client
    /// speaks), before any t0. The record's prompt hash and length are those of
    /// every message's content concatenated in order (roles excluded), so a
    /// conversation's prompt text is comparable with a single prompt's.
    pub fn prepare_chat(
        &self,
        model: &str,
        messages: &[Message],
        settings: &crate::client::RequestSettings,
    ) -> PreparedCall {
        let protocol = self.protocol();
        let mut hash = Sha256::new();
        let mut bytes = 0u64;
        for m in messages {
            hash.update(m.content.as_bytes());
            bytes += m.content.len() as u64;
        }
        let digest = hash.finalize();
        let mut sha = String::with_capacity(64);
        for b in digest {
            sha.push_str(&format!("{b:02x}"));
        }
        let path = Endpoint::Chat.path_for(protocol);
        let body = conversation_body(model, messages, settings, protocol);
        PreparedCall {
            endpoint: Endpoint::Chat,
            model: model.to_string(),
            settings: settings.clone(),
            parsed_url: self.parsed_url(path),
            url: format!("{}{path}", self.base_url()),
            wire_request: self.wire_request(path, &body),
            body: bytes::Bytes::from(body),
            prompt_sha256: sha,
            prompt_bytes: bytes,
        }
    }

    /// The endpoint's URL parsed for reqwest (`None` on the client's own transport).
    fn parsed_url(&self, path: &str) -> Option<reqwest::Url> {
        match self.transport() {
            Transport::Http(_) => reqwest::Url::parse(&format!("{}{path}", self.base_url())).ok(),
            Transport::Wire(_) => None,
        }
    }

    /// The whole POST of `body` to `path` for the client's own transport (empty
    /// for reqwest's).
    fn wire_request(&self, path: &str, body: &[u8]) -> bytes::Bytes {
        match self.transport() {
            Transport::Wire(wire) => wire.request("POST", path, Some(body)).into(),
            Transport::Http(_) => bytes::Bytes::new(),
        }
    }

    /// Streams one call and returns its record. Never fails: errors are recorded
    /// in the record, classified, with what was received before them kept.
    pub async fn call(&self, req: &CallRequest<'_>) -> CallRecord {
        let prepared = self.prepare_call(req);
        self.call_prepared(&prepared, Instant::now()).await
    }

    /// Sends a prepared request whose t0 (the instant every `*_ns` offset of the
    /// record counts from) the caller took just before: the load engine reads its
    /// own clock at the same instant, so the record's offsets and its send time
    /// share one origin. Never fails, like [`LlmClient::call`].
    ///
    /// The record's [`CallCost::cpu_ns`] is measured when the call runs on a
    /// current-thread runtime with no other call on its thread (see [`CallCost`]).
    pub async fn call_prepared(&self, prepared: &PreparedCall, t0: Instant) -> CallRecord {
        let watch = CpuWatch::start();
        let mut rec = self.stream_call(prepared, t0).await;
        rec.cost.cpu_ns = watch.and_then(CpuWatch::finish);
        rec
    }

    async fn stream_call(&self, prepared: &PreparedCall, t0: Instant) -> CallRecord {
        let protocol = self.protocol();
        let url = prepared.url.as_str();
        let (mut decoders, text_room, chunk_room) = self.carry.take();
        let mut rec = CallRecord {
            endpoint: prepared.endpoint,
            model: prepared.model.clone(),
            settings: prepared.settings.clone(),
            prompt_sha256: prepared.prompt_sha256.clone(),
            prompt_bytes: prepared.prompt_bytes,
            started_unix_ns: unix_ns_now(),
            http_status: None,
            headers_ns: None,
            chunk_ns: Vec::with_capacity(chunk_room),
            end_ns: None,
            bytes: Some(0),
            lines: 0,
            // Room for the answer up front (see `Carry`): grown by doubling from
            // empty, the text was reallocated at every power of two on its way
            // (icount `call` −1.7 %).
            response: String::with_capacity(text_room),
            thinking: String::new(),
            server: ServerFields::default(),
            error: None,
            attempt: 1,
            retried_errors: Vec::new(),
            cost: CallCost::default(),
        };
        let model = prepared.model.as_str();
        let timeouts = self.timeouts();
        let deadline = timeouts.total.map(|d| t0 + d);
        let wait_limit = |now: Instant| match deadline {
            Some(d) => timeouts.idle.min(d.saturating_duration_since(now)),
            None => timeouts.idle,
        };

        let mut response = loop {
            let limit = wait_limit(Instant::now());
            let mut handed = None;
            let sent = tokio::time::timeout(limit, self.send(prepared, &mut handed)).await;
            rec.cost.request_ns = handed.map(|at| ns(at.saturating_duration_since(t0)));
            let error = match sent {
                Ok(Ok(r)) => break r,
                Err(_) => timeout_error(url, "response headers", limit),
                Ok(Err(e)) => e,
            };
            if error.kind != ErrorKind::ConnectionClosed || rec.attempt > 1 {
                rec.error = Some(error);
                return rec;
            }
            // Resent once, on the same t0 (see CallRecord::attempt).
            rec.retried_errors.push(error);
            rec.attempt += 1;
        };
        rec.headers_ns = Some(ns(t0.elapsed()));
        let status = response.status();
        rec.http_status = Some(status);
        if !(200..300).contains(&status) {
            let body = response.bounded(64 * 1024).await;
            rec.error = Some(status_error(url, model, protocol, status, &body));
            return rec;
        }

        let on_line = match protocol {
            Protocol::Ollama => on_line,
            Protocol::OpenAi => on_sse_line,
        };
        let mut splitter = LineSplitter::new(self.max_line_bytes());
        let mut decode = Duration::ZERO;
        // When the decoding of the last piece ended: pieces of one read share its
        // instant, and the read's decoding time is counted once.
        let mut decoded_until = t0;
        let stop = loop {
            let limit = wait_limit(Instant::now());
            let (next, read_at) = match tokio::time::timeout(limit, response.next()).await {
                Err(_) => break Stop::Failed(timeout_error(url, "the next chunk", limit)),
                Ok(Ok(None)) => {
                    break end_of_stream(url, &mut splitter, &mut decoders, &mut rec, t0, protocol)
                }
                Ok(Err(e)) => {
                    let kind = if e.closed_early {
                        ErrorKind::Truncated
                    } else {
                        ErrorKind::Body
                    };
                    break Stop::Failed(CallError {
                        kind,
                        message: format!(
                            "reading the response body from {url} failed after {} objects: {}",
                            rec.lines, e.message
                        ),
                    });
                }
                Ok(Ok(Some(piece))) => piece,
            };
            let at = ns(read_at.saturating_duration_since(t0));
            *rec.bytes.get_or_insert(0) += next.len() as u64;
            let pushed = splitter.push(next, |line| on_line(line, at, &mut rec, &mut decoders));
            let now = Instant::now();
            decode += now.saturating_duration_since(read_at.max(decoded_until));
            decoded_until = now;
            match pushed {
                Err(too_long) => {
                    break Stop::Failed(CallError {
                        kind: ErrorKind::LineTooLong,
                        message: format!("{too_long} from {url}"),
                    })
                }
                Ok(Err(stop)) => {
                    if matches!(stop, Stop::Done) {
                        rec.cost.final_read_ns = Some(at);
                    }
                    break stop;
                }
                Ok(Ok(())) => {}
            }
        };
        rec.cost.decode_ns = Some(ns(decode));
        if matches!(stop, Stop::Done) {
            // E2E ends when the final object has been decoded (see CallRecord::end_ns);
            // every Done, including one in a final unterminated line, passes here.
            rec.end_ns = Some(ns(t0.elapsed()));
            response.drain().await;
            self.carry
                .put(decoders, rec.response.len(), rec.chunk_ns.len());
        }
        if let Stop::Failed(error) = stop {
            rec.error = Some(error);
        }
        rec
    }

    fn max_line_bytes(&self) -> usize {
        self.max_line
    }

    /// Like [`LlmClient::call`], but a failed call is made again, up to
    /// `retries` more times (0 = no retry, the default everywhere). The record
    /// returned is the last call's, with [`CallRecord::attempt`] counting every send
    /// (a call may resend once itself) and the earlier sends' errors in
    /// [`CallRecord::retried_errors`]. A 404 (model not
    /// found) is not retried: it cannot succeed.
    pub async fn call_with_retries(&self, req: &CallRequest<'_>, retries: u32) -> CallRecord {
        let mut earlier = Vec::new();
        let mut sends = 0;
        let mut calls = 0;
        loop {
            calls += 1;
            let mut rec = self.call(req).await;
            // A call may have resent its request once itself (CallRecord::attempt).
            sends += rec.attempt;
            earlier.append(&mut rec.retried_errors);
            rec.attempt = sends;
            let retry = match &rec.error {
                Some(e) => calls <= retries && e.kind != ErrorKind::ModelNotFound,
                None => false,
            };
            if !retry {
                rec.retried_errors = earlier;
                return rec;
            }
            if let Some(e) = rec.error.take() {
                earlier.push(e);
            }
        }
    }
}

thread_local! {
    /// Calls of this client on this thread: (in flight now, started ever).
    static CALLS: std::cell::Cell<(u32, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// Measures one call's thread CPU time, when that measures the call alone (see
/// [`CallCost::cpu_ns`]): on a current-thread runtime, with no other call of this
/// client in flight on the thread when it starts nor started before it ends.
struct CpuWatch {
    cpu_start: u64,
    /// This call's number among the calls started on the thread.
    seq: u64,
    /// No other call was in flight at the start.
    alone: bool,
    done: bool,
}

impl CpuWatch {
    /// `None` off a current-thread runtime (the task may change threads).
    fn start() -> Option<Self> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread {
            return None;
        }
        let (in_flight, started) = CALLS.with(|c| c.get());
        CALLS.with(|c| c.set((in_flight + 1, started + 1)));
        let alone = in_flight == 0;
        Some(Self {
            // Not read when the figure is void already (concurrent calls, as in a
            // load run): each read is a system call.
            cpu_start: if alone {
                crate::load::clock::thread_cpu_ns()
            } else {
                0
            },
            seq: started + 1,
            alone,
            done: false,
        })
    }

    /// The CPU time since [`CpuWatch::start`], when no other call overlapped.
    fn finish(mut self) -> Option<u64> {
        self.leave();
        let (_, started) = CALLS.with(|c| c.get());
        (self.alone && started == self.seq)
            .then(|| crate::load::clock::thread_cpu_ns().saturating_sub(self.cpu_start))
    }

    fn leave(&mut self) {
        if !self.done {
            self.done = true;
            CALLS.with(|c| {
                let (in_flight, started) = c.get();
                c.set((in_flight.saturating_sub(1), started));
            });
        }
    }
}

impl Drop for CpuWatch {
    /// A call dropped before it finished (cancelled) leaves the count too.
    fn drop(&mut self) {
        self.leave();
    }
}

/// How long [`Sent::drain`] waits for the end of a body after its final object.
const DRAIN_LIMIT: Duration = Duration::from_millis(100);

/// A response whose head arrived, from either transport.
enum Sent<'c> {
    /// The client's own transport.
    Wire(wire::Response<'c>),
    /// reqwest's, with the body piece last handed out.
    Http(reqwest::Response, bytes::Bytes),
}

impl LlmClient {
    /// Sends `prepared` and waits for the response head. `handed`: set to the
    /// instant the request left the client's hands (handed to the socket's write,
    /// on the client's own transport; to hyper's connection task, on reqwest's).
    async fn send(
        &self,
        prepared: &PreparedCall,
        handed: &mut Option<Instant>,
    ) -> Result<Sent<'_>, CallError> {
        let url = prepared.url.as_str();
        let http = match self.transport() {
            Transport::Wire(wire) => {
                return match wire.send(&prepared.wire_request, handed).await {
                    Ok(r) => Ok(Sent::Wire(r)),
                    Err(e) => Err(wire_send_error(url, e)),
                }
            }
            Transport::Http(http) => http,
        };
        let builder = match &prepared.parsed_url {
            Some(parsed) => http.post(parsed.clone()),
            None => http.post(url),
        };
        let send = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(prepared.body.clone())
            .send();
        // The first poll builds the request and hands it to the connection.
        let mut send = std::pin::pin!(send);
        let send = std::future::poll_fn(|cx| {
            let polled = send.as_mut().poll(cx);
            handed.get_or_insert_with(Instant::now);
            polled
        });
        match send.await {
            Ok(r) => Ok(Sent::Http(r, bytes::Bytes::new())),
            Err(e) => Err(send_error(url, &e)),
        }
    }
}

impl Sent<'_> {
    fn status(&self) -> u16 {
        match self {
            Sent::Wire(r) => r.status(),
            Sent::Http(r, _) => r.status().as_u16(),
        }
    }

    /// The next piece of the body and the instant the read that brought it
    /// completed; `None` at the body's end.
    async fn next(&mut self) -> Result<Option<(&[u8], Instant)>, wire::BodyError> {
        match self {
            Sent::Wire(r) => r.next().await,
            Sent::Http(r, piece) => match r.chunk().await {
                Ok(Some(bytes)) => {
                    let read_at = Instant::now();
                    *piece = bytes;
                    Ok(Some((&piece[..], read_at)))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(wire::BodyError {
                    closed_early: is_closed_early(&e),
                    message: format!("{e} ({})", root_cause(&e)),
                }),
            },
        }
    }

    /// Reads what follows the final object (normally only the chunked body's
    /// terminator, already on its way) for at most [`DRAIN_LIMIT`], so that the
    /// connection goes back to the idle ones: a body dropped before its end closes
    /// the connection, and the next call would pay a new connect inside its TTFT.
    /// Runs after `end_ns`; nothing read here enters the record.
    async fn drain(&mut self) {
        match self {
            Sent::Wire(r) => r.drain(DRAIN_LIMIT).await,
            Sent::Http(r, _) => {
                let rest = async { while let Ok(Some(_)) = r.chunk().await {} };
                let _ = tokio::time::timeout(DRAIN_LIMIT, rest).await;
            }
        }
    }

    /// At most `max` bytes of the body, waiting at most 5 s for each piece.
    async fn bounded(&mut self, max: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while let Ok(Ok(Some((bytes, _)))) =
            tokio::time::timeout(Duration::from_secs(5), self.next()).await
        {
            let room = max.saturating_sub(out.len());
            out.extend_from_slice(&bytes[..bytes.len().min(room)]);
            if out.len() >= max {
                break;
            }
        }
        out
    }
}

/// The [`CallError`] for a request the client's own transport could not send, or
/// whose response head did not arrive.
fn wire_send_error(url: &str, e: wire::SendError) -> CallError {
    match e {
        wire::SendError::Connect(reason) => CallError {
            kind: ErrorKind::Connect,
            message: format!(
                "cannot connect to {url}: {reason}; is Ollama running? (set OLLAMA_HOST or --base-url)"
            ),
        },
        wire::SendError::Closed(reason) => CallError {
            kind: ErrorKind::ConnectionClosed,
            message: format!("{url} closed the connection before sending response headers: {reason}"),
        },
        wire::SendError::Failed(reason) => CallError {
            kind: ErrorKind::Request,
            message: format!("request to {url} failed: {reason}"),
        },
    }
}

/// The connection closed before the message was complete (EOF inside a chunked
/// body or before the headers), as opposed to a reset or another I/O failure.
fn is_closed_early(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return true;
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::UnexpectedEof {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// The failure for line number `n` (`what`: "line" or "SSE line") that did not decode.
fn bad_line(what: &str, n: u64, line: &[u8], e: DecodeError) -> Stop {
    let kind = match e {
        DecodeError::InvalidUtf8 { .. } => ErrorKind::InvalidUtf8,
        DecodeError::Malformed(_) => ErrorKind::MalformedLine,
    };
    Stop::Failed(CallError {
        kind,
        message: format!("{what} {n}: {e}; starts with {}", snippet(line)),
    })
}

/// The line decoders of one stream (the protocol's is used, the other stays idle).
#[derive(Default)]
struct Decoders {
    ndjson: StreamDecoder,
    sse: SseDecoder,
}

/// What a finished call leaves for the next call on the same client (shared by its
/// clones): its line decoders, so that a stream's first line is read through the
/// shape that earlier lines had (a decoder gives every line the same value whatever
/// lines came before it: see [`StreamDecoder`]), and the size of its answer, so that
/// the next answer's text and arrival offsets are allocated once, at about the size
/// they will reach, instead of grown by doubling. A call takes it when no other call
/// holds it and puts it back when its stream ended well; calls that overlap start
/// without it. Never changes what a call records.
#[derive(Clone, Default)]
pub(crate) struct Carry(std::sync::Arc<std::sync::Mutex<Option<Kept>>>);

/// What [`Carry`] holds between calls.
struct Kept {
    decoders: Decoders,
    text_bytes: usize,
    chunks: usize,
}

impl std::fmt::Debug for Carry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Carry")
    }
}

impl Carry {
    /// Room given to an answer's text without an earlier answer to size it by.
    const TEXT_BYTES: usize = 1024;
    /// Room given to an answer's arrival offsets likewise.
    const CHUNKS: usize = 256;
    /// Most room given from an earlier answer's size (one long answer does not make
    /// every later record hold that much).
    const MAX_TEXT_BYTES: usize = 64 * 1024;
    /// Most room for arrival offsets given from an earlier answer's chunk count.
    const MAX_CHUNKS: usize = 8 * 1024;

    /// The kept decoders and the room for this call's text and offsets: fresh
    /// decoders and the defaults when nothing is kept or another call holds it.
    fn take(&self) -> (Decoders, usize, usize) {
        let kept = self.0.try_lock().ok().and_then(|mut slot| slot.take());
        match kept {
            Some(k) => {
                let room = |n: usize, max: usize| (n + n / 8 + 1).min(max);
                (
                    k.decoders,
                    room(k.text_bytes, Self::MAX_TEXT_BYTES),
                    room(k.chunks, Self::MAX_CHUNKS),
                )
            }
            None => (Decoders::default(), Self::TEXT_BYTES, Self::CHUNKS),
        }
    }

    /// Keeps `decoders` and the size of an answer (its text's bytes and its chunks)
    /// for the next call.
    fn put(&self, decoders: Decoders, text_bytes: usize, chunks: usize) {
        if let Ok(mut slot) = self.0.try_lock() {
            *slot = Some(Kept {
                decoders,
                text_bytes,
                chunks,
            });
        }
    }
}

/// Handles one complete SSE line of an OpenAI-compatible stream received at offset
/// `at`. `Err` ends the stream (`data: [DONE]`, an error, a bad line).
fn on_sse_line(
    line: &[u8],
    at: u64,
    rec: &mut CallRecord,
    decoders: &mut Decoders,
) -> Result<(), Stop> {
    rec.lines += 1;
    let decoded = decoders
        .sse
        .decode(line)
        .map_err(|e| bad_line("SSE line", rec.lines, line, e))?;
    let mut chunk = match decoded {
        SseLine::Chunk(chunk) => chunk,
        SseLine::Other => return Ok(()),
        SseLine::Done => return Err(Stop::Done),
        SseLine::Error(message) => {
            return Err(Stop::Failed(CallError {
                kind: ErrorKind::ServerError,
                message: format!("server error in stream: {message}"),
            }))
        }
    };
    let content = chunk.content();
    if !content.is_empty() {
        rec.chunk_ns.push(at);
        rec.response.push_str(content);
        #[cfg(feature = "plant-slowdown")]
        planted::spin();
    }
    let reasoning = chunk.reasoning();
    if !reasoning.is_empty() {
        rec.thinking.push_str(reasoning);
    }
    if let Some(reason) = chunk.finish_reason() {
        rec.server.done_reason = Some(reason.to_string());
    }
    if let Some(usage) = chunk.usage.take() {
        rec.server.usage = Some(usage);
    }
    if let Some(timings) = chunk.timings.take() {
        rec.server.timings = Some(timings);
    }
    decoders.sse.recycle(chunk);
    Ok(())
}

/// Handles one complete NDJSON line received at offset `at`, decoded by the
/// stream's decoder. `Err` ends the stream.
fn on_line(
    line: &[u8],
    at: u64,
    rec: &mut CallRecord,
    decoders: &mut Decoders,
) -> Result<(), Stop> {
    rec.lines += 1;
    let mut chunk = WireChunk::default();
    decoders
        .ndjson
        .decode_into(line, &mut chunk)
        .map_err(|e| bad_line("line", rec.lines, line, e))?;
    if let Some(message) = &chunk.error {
        return Err(Stop::Failed(CallError {
            kind: ErrorKind::ServerError,
            message: format!("server error in stream: {message}"),
        }));
    }
    let content = chunk.content();
    if !content.is_empty() {
        rec.chunk_ns.push(at);
        rec.response.push_str(content);
        #[cfg(feature = "plant-slowdown")]
        planted::spin();
    }
    if let Some(thinking) = chunk.message.as_ref().and_then(|m| m.thinking.as_deref()) {
        rec.thinking.push_str(thinking);
    }
    if chunk.done {
        rec.server = chunk.server_fields();
        return Err(Stop::Done);
    }
    decoders.ndjson.recycle(chunk);
    Ok(())
}

/// The planted slowdown of the `plant-slowdown` feature (a fixture for
/// `agentbench commits`): a busy-wait of `AGENTBENCH_PLANT_NS` ns (default 400, read
/// once) per content chunk.
#[cfg(feature = "plant-slowdown")]
mod planted {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    fn cost() -> Duration {
        static COST: OnceLock<Duration> = OnceLock::new();
        *COST.get_or_init(|| {
            let ns = std::env::var("AGENTBENCH_PLANT_NS")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(400);
            Duration::from_nanos(ns)
        })
    }

    pub(super) fn spin() {
        let cost = cost();
        let t = Instant::now();
        while t.elapsed() < cost {
            std::hint::spin_loop();
        }
    }
}

/// The body ended: a final unterminated line is decoded; without a `done` object
/// (Ollama) or `data: [DONE]` (OpenAI-compatible) the call is truncated.
fn end_of_stream(
    url: &str,
    splitter: &mut LineSplitter,
    decoders: &mut Decoders,
    rec: &mut CallRecord,
    t0: Instant,
    protocol: Protocol,
) -> Stop {
    let rest = splitter.take_remainder();
    let rest = rest.strip_suffix(b"\r").unwrap_or(&rest);
    if !rest.iter().all(u8::is_ascii_whitespace) {
        let at = ns(t0.elapsed());
        let handled = match protocol {
            Protocol::Ollama => on_line(rest, at, rec, decoders),
            Protocol::OpenAi => on_sse_line(rest, at, rec, decoders),
        };
        if let Err(stop) = handled {
            return stop;
        }
    }
    let what = match protocol {
        Protocol::Ollama => "objects without the final \"done\" object",
        Protocol::OpenAi => "SSE lines without `data: [DONE]`",
    };
    Stop::Failed(CallError {
        kind: ErrorKind::Truncated,
        message: format!("the stream from {url} ended after {} {what}", rec.lines),
    })
}

fn snippet(line: &[u8]) -> String {
    let cut = &line[..line.len().min(80)];
    format!("{:?}", String::from_utf8_lossy(cut))
}

fn timeout_error(url: &str, what: &str, limit: Duration) -> CallError {
    CallError {
        kind: ErrorKind::Timeout,
        message: format!(
            "no {what} from {url} within {:.1} s (raise --timeout / --idle-timeout if the model is slow to load)",
            limit.as_secs_f64()
        ),
    }
}

fn send_error(url: &str, e: &reqwest::Error) -> CallError {
    if !e.is_connect() && is_closed_early(e) {
        CallError {
            kind: ErrorKind::ConnectionClosed,
            message: format!(
                "{url} closed the connection before sending response headers: {}",
                root_cause(e)
            ),
        }
    } else if e.is_connect() {
        CallError {
            kind: ErrorKind::Connect,
            message: format!(
                "cannot connect to {url}: {}; is Ollama running? (set OLLAMA_HOST or --base-url)",
                root_cause(e)
            ),
        }
    } else if e.is_timeout() {
        CallError {
            kind: ErrorKind::Timeout,
            message: format!("request to {url} timed out: {}", root_cause(e)),
        }
    } else {
        CallError {
            kind: ErrorKind::Request,
            message: format!("request to {url} failed: {}", root_cause(e)),
        }
    }
}

/// The innermost error message (reqwest wraps hyper wraps io).
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn status_error(url: &str, model: &str, protocol: Protocol, status: u16, body: &[u8]) -> CallError {
    // Ollama: {"error": "..."}; OpenAI-compatible: {"error": {"message": "...", ...}}.
    let server_message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").map(super::sse::error_message))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    if status == 404 {
        let fix = match protocol {
            Protocol::Ollama => format!("try `ollama pull {model}`"),
            Protocol::OpenAi => format!(
                "check --model {model} against GET /v1/models, and that the server speaks the OpenAI protocol at this URL"
            ),
        };
        CallError {
            kind: ErrorKind::ModelNotFound,
            message: format!(
                "model {model} not found at {url} ({fix}); server said: {server_message}"
            ),
        }
    } else {
        CallError {
            kind: ErrorKind::HttpStatus,
            message: format!(
                "{url} answered HTTP {}: {server_message}",
                super::server_info::status_text(status)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::options::RequestSettings;

    #[test]
    fn the_carry_sizes_the_next_answer_by_the_last_and_is_taken_once() {
        let carry = Carry::default();
        let (decoders, text, chunks) = carry.take();
        assert_eq!((text, chunks), (Carry::TEXT_BYTES, Carry::CHUNKS));
        carry.put(decoders, 2000, 64);
        let (_held, text, chunks) = carry.take();
        assert_eq!((text, chunks), (2000 + 250 + 1, 64 + 8 + 1));
        // Taken: a call that overlaps gets the defaults.
        let (_, text, chunks) = carry.take();
        assert_eq!((text, chunks), (Carry::TEXT_BYTES, Carry::CHUNKS));
        // One long answer does not size every later one beyond the bound.
        carry.put(Decoders::default(), 1 << 20, 64);
        assert_eq!(carry.take().1, Carry::MAX_TEXT_BYTES);
    }

    #[test]
    fn body_is_byte_stable_and_omits_unset_fields() {
        let settings = RequestSettings::from_pairs(&["num_predict=64", "keep_alive=0"]).unwrap();
        let req = CallRequest {
            endpoint: Endpoint::Generate,
            model: "m",
            prompt: "p\"q",
            settings: &settings,
        };
        assert_eq!(
            String::from_utf8(request_body(&req, Protocol::Ollama)).unwrap(),
            r#"{"model":"m","prompt":"p\"q","stream":true,"options":{"num_predict":64},"keep_alive":0}"#
        );
        let plain = RequestSettings::default();
        let chat = CallRequest {
            endpoint: Endpoint::Chat,
            model: "m",
            prompt: "hi",
            settings: &plain,
        };
        assert_eq!(
            String::from_utf8(request_body(&chat, Protocol::Ollama)).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#
        );
    }

    #[test]
    fn openai_bodies_translate_the_options() {
        let settings = RequestSettings::from_pairs(&[
            "num_predict=64",
            "seed=7",
            "temperature=0.5",
            "top_k=40",
        ])
        .unwrap();
        let req = CallRequest {
            endpoint: Endpoint::Generate,
            model: "m",
            prompt: "p",
            settings: &settings,
        };
        assert_eq!(
            String::from_utf8(request_body(&req, Protocol::OpenAi)).unwrap(),
            r#"{"model":"m","prompt":"p","stream":true,"stream_options":{"include_usage":true},"max_tokens":64,"temperature":0.5,"seed":7,"top_k":40}"#
        );
        let unbounded = RequestSettings::from_pairs(&["num_predict=-1"]).unwrap();
        let chat = CallRequest {
            endpoint: Endpoint::Chat,
            model: "m",
            prompt: "hi",
            settings: &unbounded,
        };
        assert_eq!(
            String::from_utf8(request_body(&chat, Protocol::OpenAi)).unwrap(),
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn conversations_are_sent_whole_in_both_protocols() {
        let settings = RequestSettings::from_pairs(&["num_predict=8"]).unwrap();
        let conv = [
            Message::user("a"),
            Message::assistant("b\"c"),
            Message::user("d"),
        ];
        let msgs = r#"[{"role":"user","content":"a"},{"role":"assistant","content":"b\"c"},{"role":"user","content":"d"}]"#;
        assert_eq!(
            String::from_utf8(conversation_body("m", &conv, &settings, Protocol::Ollama)).unwrap(),
            format!(
                r#"{{"model":"m","messages":{msgs},"stream":true,"options":{{"num_predict":8}}}}"#
            )
        );
        assert_eq!(
            String::from_utf8(conversation_body("m", &conv, &settings, Protocol::OpenAi)).unwrap(),
            format!(
                r#"{{"model":"m","messages":{msgs},"stream":true,"stream_options":{{"include_usage":true}},"max_tokens":8}}"#
            )
        );
        let client = LlmClient::new("http://127.0.0.1:1", Default::default()).unwrap();
        let p = client.prepare_chat("m", &conv, &settings);
        assert_eq!(p.prompt_bytes(), 5);
        assert_eq!(p.prompt_sha256(), sha256_hex(b"ab\"cd"));
    }

    #[test]
    fn sha256_matches_a_published_vector() {
        // FIPS 180-2 example: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
