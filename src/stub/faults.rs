//! Server faults the paced stub can inject, one [`Fault`] per failure mode.
//!
//! A profile with a fault (`StubProfile::with_fault`, or the profile name
//! `fault:<name>`, e.g. `fault:truncate`) makes the paced stub serve with a raw
//! tokio TCP responder instead of hyper: some faults (a close before the headers,
//! invalid UTF-8, a character split across reads, a chunked body cut mid-way) need
//! byte-level control that a well-behaved HTTP server does not give. Every
//! response carries `connection: close`. Only `POST /api/generate` and
//! `POST /api/chat` are faulty; the other routes answer normally, so a harness can
//! still probe the server's version and model.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::ndjson::{json_escape, nanos, Route, ServerTimings, Stamp};
use super::routes::{Action, Core, GenPlan, GenWhat, StubResponse, MAX_BODY_BYTES};

/// One way for a server to fail (or to answer something hostile but valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Nothing listens: the stub's address refuses connections.
    Refused,
    /// HTTP 404 with Ollama's "model not found" body for every generation.
    ModelNotFound,
    /// HTTP 500 with an `{"error": ...}` body.
    Http500,
    /// HTTP 200, three content lines, then an `{"error": ...}` line.
    ErrorMidStream,
    /// HTTP 200, three content lines, then the connection is closed inside the
    /// chunked body (no final object, no chunked terminator).
    Truncate,
    /// A complete stream whose final `done` object carries no metric field.
    /// Not an error: the server figures stay undefined.
    NoMetrics,
    /// Three content lines, then a line that is not JSON.
    MalformedLine,
    /// Three content lines, then a line holding bytes that are not UTF-8.
    InvalidUtf8,
    /// A complete stream of multi-byte text where every line is written in two
    /// reads split inside a UTF-8 character. Not an error.
    SplitUtf8,
    /// One content line, then silence until the stub stops (longer than any timeout).
    Stall,
    /// A complete stream written one byte every 100 ms; only an overall per-call
    /// timeout stops it.
    SlowDrip,
    /// A 64 MiB line without a newline.
    OversizedLine,
    /// The request is read, then the connection is closed before any header.
    CloseBeforeHeaders,
    /// A complete stream whose text is HTML, `<script>` and attribute-breaking
    /// payloads ([`HTML_PAYLOAD`]). Not an error: reports must escape it.
    HtmlPayload,
}

/// The response text of [`Fault::HtmlPayload`]: script and event-handler payloads
/// that would run if a report embedded the text unescaped. Each payload, if it ran,
/// would set `document.title` to a string starting with `PWNED`.
pub const HTML_PAYLOAD: &str = "## Executive Summary\n\n\
<script>document.title='PWNED-script'</script> text \"><img src=x onerror=\"document.title='PWNED-img'\"> \
'><svg onload=\"document.title='PWNED-svg'\"></svg> </pre></details><script>document.title='PWNED-close'</script> \
<iframe srcdoc=\"<script>parent.document.title='PWNED-iframe'</script>\"></iframe> &amp; &lt;b&gt;\n\n\
## Key Findings\n\n- <b onmouseover=alert(1)>bold</b>\n\n## Performance Metrics\n\n- 1 tok/s\n\n\
## Recommendations\n\n- <a href=\"javascript:document.title='PWNED-href'\">click</a>\n";

/// The response text of [`Fault::SplitUtf8`]: two-, three- and four-byte characters.
pub const MULTIBYTE_TEXT: &str = "Grüße aus Köln — 日本語のテキスト, émojis 🦀🚀 and ✓ marks; \
Ελληνικά, русский, العربية, עברית. Ünïcödé everywhere: 𝄞 ♫ € ¥ £ ∑ ∞ ≠ ≤ ≥. ";

const STALL_MAX: Duration = Duration::from_secs(3600);
const DRIP_GAP: Duration = Duration::from_millis(100);
const LINE_GAP: Duration = Duration::from_millis(2);
/// Bytes of the oversized line: 64 MiB.
pub const OVERSIZED_LINE_BYTES: usize = 64 << 20;

impl Fault {
    /// Every fault, in the order documented.
    pub const ALL: [Fault; 14] = [
        Fault::Refused,
        Fault::ModelNotFound,
        Fault::Http500,
        Fault::ErrorMidStream,
        Fault::Truncate,
        Fault::NoMetrics,
        Fault::MalformedLine,
        Fault::InvalidUtf8,
        Fault::SplitUtf8,
        Fault::Stall,
        Fault::SlowDrip,
        Fault::OversizedLine,
        Fault::CloseBeforeHeaders,
        Fault::HtmlPayload,
    ];

    /// The fault's name, as in the profile name `fault:<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Refused => "refused",
            Fault::ModelNotFound => "not-found",
            Fault::Http500 => "http-500",
            Fault::ErrorMidStream => "error-mid-stream",
            Fault::Truncate => "truncate",
            Fault::NoMetrics => "no-metrics",
            Fault::MalformedLine => "malformed-line",
            Fault::InvalidUtf8 => "invalid-utf8",
            Fault::SplitUtf8 => "split-utf8",
            Fault::Stall => "stall",
            Fault::SlowDrip => "slow-drip",
            Fault::OversizedLine => "oversized-line",
            Fault::CloseBeforeHeaders => "close-before-headers",
            Fault::HtmlPayload => "html-payload",
        }
    }

    /// The fault named `name` (see [`Fault::name`]).
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The fault's names, comma-separated (for messages).
    pub fn names() -> String {
        Fault::ALL.map(Fault::name).join(", ")
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?}; valid: {names}", names = Fault::names())]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    /// Parses a [`Fault::name`].
    fn from_str(s: &str) -> Result<Self, UnknownFault> {
        Fault::from_name(s).ok_or_else(|| UnknownFault(s.to_string()))
    }
}

/// Accepts connections until `stop` and answers each with `fault`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    core: Arc<Core>,
    fault: Fault,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let core = core.clone();
                let mut stop = stop.clone();
                conns.spawn(async move {
                    tokio::select! {
                        _ = connection(stream, &core, fault) => {}
                        _ = stop.changed() => {}
                    }
                });
            }
        }
    }
    drop(listener);
    conns.shutdown().await;
}

/// A request head and body as read off the socket.
struct RawRequest {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length bodies only). `None` on EOF, a
/// timeout, a malformed head or an oversized body.
async fn read_request(sock: &mut TcpStream) -> Option<RawRequest> {
    let mut got = Vec::with_capacity(4096);
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if got.len() > 64 * 1024 {
            return None;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
    };
    let head = std::str::from_utf8(&got[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.split('?').next()?.to_string();
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if len > MAX_BODY_BYTES {
        return None;
    }
    let mut body = got[head_end + 4..].to_vec();
    while body.len() < len {
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    body.truncate(len);
    Some(RawRequest { method, path, body })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// A complete response with a Content-Length.
fn full_response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `data` as one HTTP/1.1 chunk.
fn http_chunk(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

/// Writes `bytes` and flushes; `Err` when the peer went away.
async fn send(sock: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    sock.write_all(bytes).await?;
    sock.flush().await
}

/// The NDJSON lines of a streamed generation: content line `i` for `i < n`.
fn content_line(core: &Core, plan: &GenPlan, i: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(192);
    core.c
        .push_chunk(&mut buf, plan.ep, plan.model, &Stamp::now(), i);
    buf
}

/// The final line with the timings this responder really produced.
fn final_line(
    core: &Core,
    plan: &GenPlan,
    n: usize,
    done_reason: &str,
    t: (Instant, Instant, Instant),
) -> Vec<u8> {
    let (arrival, first, last) = t;
    let timings = ServerTimings {
        total_duration: nanos(arrival.elapsed()),
        load_duration: 0,
        prompt_eval_count: plan.prompt_eval_count,
        prompt_eval_duration: nanos(first - arrival),
        eval_count: n as u64,
        eval_duration: nanos(last - first),
    };
    let mut buf = Vec::with_capacity(400);
    core.c.push_final(
        &mut buf,
        plan.ep,
        plan.model,
        &Stamp::now(),
        done_reason,
        &timings,
        None,
    );
    buf
}

/// A final line without any metric field (and without `done_reason`).
fn bare_final_line(core: &Core, plan: &GenPlan) -> Vec<u8> {
    let model = json_escape(&core.c.profile.models[plan.model].name);
    let stamp = Stamp::now();
    let line = match plan.ep {
        Route::Generate | Route::Completions => format!(
            "{{\"model\":\"{model}\",\"created_at\":\"{}\",\"response\":\"\",\"done\":true}}\n",
            stamp.as_str()
        ),
        Route::Chat | Route::ChatCompletions => format!(
            "{{\"model\":\"{model}\",\"created_at\":\"{}\",\"message\":{{\"role\":\"assistant\",\"content\":\"\"}},\"done\":true}}\n",
            stamp.as_str()
        ),
    };
    line.into_bytes()
}

/// Serves one connection (one request) with `fault`.
async fn connection(mut sock: TcpStream, core: &Core, fault: Fault) {
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    let arrival = Instant::now();
    core.record(&req.method, &req.path, SystemTime::now(), arrival);
    let is_generation =
        req.method == "POST" && (req.path == "/api/generate" || req.path == "/api/chat");
    if is_generation && fault == Fault::CloseBeforeHeaders {
        return; // dropping the socket closes it before any byte of the response
    }
    let plan = match core.route(&req.method, &req.path, &req.body) {
        Action::Reply(r) => {
            let _ = send(&mut sock, &full_response(r.status, r.content_type, &r.body)).await;
            return;
        }
        Action::Generate(p) => p,
    };
    let (n, done_reason) = match plan.what {
        GenWhat::Text { n, done_reason } => (n, done_reason),
        GenWhat::Load | GenWhat::Unload => {
            let why = if plan.what == GenWhat::Load {
                "load"
            } else {
                "unload"
            };
            let body = core.c.load_reply(plan.ep, plan.model, &Stamp::now(), why);
            let _ = send(&mut sock, &full_response(200, "application/json", &body)).await;
            return;
        }
    };
    let _ = faulty_generation(&mut sock, core, fault, &plan, n, done_reason, arrival).await;
}

/// Writes a generation's response with `fault` applied. `Err` when the client went away.
async fn faulty_generation(
    sock: &mut TcpStream,
    core: &Core,
    fault: Fault,
    plan: &GenPlan,
    n: usize,
    done_reason: &str,
    arrival: Instant,
) -> std::io::Result<()> {
    match fault {
        Fault::ModelNotFound => {
            let name = &core.c.profile.models[plan.model].name;
            let body = StubResponse::error(
                404,
                &format!("model \"{name}\" not found, try pulling it first"),
            );
            return send(sock, &full_response(404, body.content_type, &body.body)).await;
        }
        Fault::Http500 => {
            let body = StubResponse::error(500, "stub fault: llama runner process has terminated");
            return send(sock, &full_response(500, body.content_type, &body.body)).await;
        }
        _ => {}
    }
    send(sock, STREAM_HEAD).await?;
    let prefix = n.min(3);
    let first = Instant::now();
    let mut lines_sent = 0;
    // The faults that cut a stream short send three content lines first.
    if matches!(
        fault,
        Fault::ErrorMidStream | Fault::Truncate | Fault::MalformedLine | Fault::InvalidUtf8
    ) {
        for i in 0..prefix {
            send(sock, &http_chunk(&content_line(core, plan, i))).await?;
            tokio::time::sleep(LINE_GAP).await;
            lines_sent += 1;
        }
    }
    match fault {
        Fault::ErrorMidStream => {
            send(
                sock,
                &http_chunk(b"{\"error\":\"stub fault: an error occurred mid-stream\"}\n"),
            )
            .await?;
            send(sock, LAST_CHUNK).await
        }
        Fault::Truncate => {
            // Half of an HTTP chunk, then the socket is dropped: the connection
            // closes inside the body.
            let line = content_line(core, plan, lines_sent);
            let mut part = format!("{:x}\r\n", line.len()).into_bytes();
            part.extend_from_slice(&line[..line.len() / 2]);
            send(sock, &part).await
        }
        Fault::MalformedLine => {
            send(sock, &http_chunk(b"{\"model\":\"x\",\"response\":\"cut\n")).await?;
            send(sock, LAST_CHUNK).await
        }
        Fault::InvalidUtf8 => {
            send(
                sock,
                &http_chunk(
                    b"{\"model\":\"x\",\"response\":\"bad \xff\xfe bytes\",\"done\":false}\n",
                ),
            )
            .await?;
            send(sock, LAST_CHUNK).await
        }
        Fault::Stall => {
            send(sock, &http_chunk(&content_line(core, plan, 0))).await?;
            tokio::time::sleep(STALL_MAX).await;
            Ok(())
        }
        Fault::OversizedLine => {
            send(sock, &http_chunk(b"{\"model\":\"x\",\"response\":\"")).await?;
            let block = vec![b'A'; 1 << 20];
            for _ in 0..(OVERSIZED_LINE_BYTES >> 20) {
                send(sock, &http_chunk(&block)).await?;
            }
            send(sock, LAST_CHUNK).await
        }
        Fault::SlowDrip => {
            let mut body = Vec::new();
            for i in 0..n {
                body.extend_from_slice(&content_line(core, plan, i));
            }
            let last = Instant::now();
            body.extend_from_slice(&final_line(
                core,
                plan,
                n,
                done_reason,
                (arrival, first, last),
            ));
            for b in body {
                send(sock, &http_chunk(&[b])).await?;
                tokio::time::sleep(DRIP_GAP).await;
            }
            send(sock, LAST_CHUNK).await
        }
        Fault::SplitUtf8 => {
            for i in 0..n {
                let line = content_line(core, plan, i);
                // Split inside the first multi-byte character, when there is one.
                let cut = line
                    .iter()
                    .position(|b| *b >= 0x80)
                    .map_or(line.len() / 2, |p| p + 1);
                send(sock, &http_chunk(&line[..cut])).await?;
                tokio::time::sleep(LINE_GAP).await;
                send(sock, &http_chunk(&line[cut..])).await?;
                tokio::time::sleep(LINE_GAP).await;
            }
            let last = Instant::now();
            let fin = final_line(core, plan, n, done_reason, (arrival, first, last));
            send(sock, &http_chunk(&fin)).await?;
            send(sock, LAST_CHUNK).await
        }
        Fault::NoMetrics | Fault::HtmlPayload => {
            for i in 0..n {
                send(sock, &http_chunk(&content_line(core, plan, i))).await?;
                tokio::time::sleep(LINE_GAP).await;
            }
            let last = Instant::now();
            let fin = if fault == Fault::NoMetrics {
                bare_final_line(core, plan)
            } else {
                final_line(core, plan, n, done_reason, (arrival, first, last))
            };
            send(sock, &http_chunk(&fin)).await?;
            send(sock, LAST_CHUNK).await
        }
        Fault::Refused | Fault::CloseBeforeHeaders | Fault::ModelNotFound | Fault::Http500 => {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>().unwrap(), f);
        }
        assert!("nope"
            .parse::<Fault>()
            .unwrap_err()
            .to_string()
            .contains("truncate"));
    }

    #[test]
    fn chunks_are_framed() {
        assert_eq!(http_chunk(b"abc"), b"3\r\nabc\r\n");
        let r = full_response(404, "application/json", b"{}");
        assert!(r.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(r.ends_with(b"content-length: 2\r\nconnection: close\r\n\r\n{}"));
    }
}
