//! The client's own HTTP/1.1 transport for `http://` servers: one pre-rendered
//! write per request, the response head parsed with `httparse`, the body's framing
//! (Content-Length, chunked, or until close) undone in place in one read buffer,
//! and idle connections kept for the next request.
//!
//! Why not reqwest here: on the hot path of a call it built a request object,
//! parsed the URL twice, checked a connection out of a keyed pool, queued the
//! request to hyper's connection task and handed every chunk of the body back as
//! its own boxed frame — about 3× wrk's CPU per request against the same stub
//! (docs/benchmarks.md, "Against wrk on the same stub"). This transport does per
//! request what wrk does: a liveness check of the idle connection, one write, reads.
//!
//! reqwest stays for what this does not speak: `https://` (feature `tls`) and a
//! proxy from the environment for a non-loopback host ([`Wire::for_base_url`]
//! says which).
//!
//! Guarantees: a body is handed out as the bytes of its payload only (chunk
//! framing removed), each piece with the instant of the read that brought it; a
//! connection goes back to the idle list only after its response ended exactly at
//! its framing's end, with no byte left over, and the server did not ask to close.

use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection's read buffer when it opens; it doubles (up to
/// [`MAX_BUFFER_BYTES`]) whenever a read fills it, as hyper's adaptive buffer does.
const INITIAL_BUFFER_BYTES: usize = 16 * 1024;
/// The largest read buffer (a response head must fit in it).
const MAX_BUFFER_BYTES: usize = 256 * 1024;
/// The longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// An idle connection older than this is closed rather than reused (reqwest's
/// pool used 90 s).
const IDLE_LIMIT: Duration = Duration::from_secs(90);

/// A plain-HTTP server address, parsed once from a base URL, with its idle
/// connections.
#[derive(Debug)]
pub(crate) struct Wire {
    /// Host to connect to (an IPv6 literal without its brackets).
    host: String,
    port: u16,
    /// The `Host` header's value: the URL's authority as written.
    authority: String,
    /// The base URL's path, without a trailing slash ("" for none).
    prefix: String,
    connect_timeout: Duration,
    idle: Mutex<Vec<Conn>>,
}

/// What went wrong before a response head arrived.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made.
    #[error("{0}")]
    Connect(String),
    /// The connection closed (or was reset, on a reused connection) before the
    /// response head was complete.
    #[error("{0}")]
    Closed(String),
    /// Another I/O failure, or a response head that is not HTTP/1.x.
    #[error("{0}")]
    Failed(String),
}

/// What went wrong while reading a body.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct BodyError {
    /// The connection ended before the body's framing did.
    pub closed_early: bool,
    /// What happened.
    pub message: String,
}

impl Wire {
    /// The transport for `base_url` when it is plain `http://host[:port][/path]`
    /// and no proxy from the environment applies (loopback hosts never use one,
    /// as the reqwest client was built); `None` otherwise (https, userinfo, a proxy).
    pub(crate) fn for_base_url(base_url: &str, connect_timeout: Duration) -> Option<Wire> {
        let rest = base_url.strip_prefix("http://")?;
        let (authority, prefix) = match rest.find(['/', '?', '#']) {
            Some(i) if rest[i..].starts_with('/') && !rest[i..].contains(['?', '#']) => {
                rest.split_at(i)
            }
            Some(_) => return None,
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let (host, port) = split_authority(authority)?;
        if !super::is_loopback_url(base_url) && proxy_in_environment() {
            return None;
        }
        Some(Wire {
            host: host.to_string(),
            port,
            authority: authority.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
            connect_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The bytes of a request for `path` (under the base URL's path): head and
    /// body, ready for one write.
    pub(crate) fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Vec<u8> {
        let body = body.unwrap_or_default();
        let mut out = Vec::with_capacity(160 + body.len());
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        out.extend_from_slice(self.authority.as_bytes());
        out.extend_from_slice(b"\r\naccept: */*\r\nuser-agent: agentbench/");
        out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
        if method != "GET" {
            out.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
            out.extend_from_slice(body.len().to_string().as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(body);
        out
    }

    /// Writes `request` (from [`Wire::request`]) on an idle connection, or a new
    /// one, and reads the response head. `handed`: set to the instant the request
    /// was handed to the socket (the write system call made next). A reused
    /// connection that turns out closed is reported as [`SendError::Closed`] (the
    /// caller may resend once).
    pub(crate) async fn send(
        &self,
        request: &[u8],
        handed: &mut Option<Instant>,
    ) -> Result<Response<'_>, SendError> {
        let (mut conn, reused) = match self.checkout() {
            Some(conn) => (conn, true),
            None => (self.connect().await?, false),
        };
        let lost = |e: io::Error| {
            if reused || is_reset(&e) {
                SendError::Closed(format!(
                    "the connection closed while sending the request: {e}"
                ))
            } else {
                SendError::Failed(e.to_string())
            }
        };
        *handed = Some(Instant::now());
        conn.tcp.write_all(request).await.map_err(lost)?;
        let head = loop {
            let parsed = parse_head(conn.buffered())?;
            if let Some((head, used)) = parsed {
                conn.start += used;
                if (100..200).contains(&head.status) && head.status != 101 {
                    continue; // 1xx interim responses precede the real one
                }
                break head;
            }
            if conn.end - conn.start == MAX_BUFFER_BYTES {
                return Err(SendError::Failed(format!(
                    "the response head is longer than {} KiB",
                    MAX_BUFFER_BYTES / 1024
                )));
            }
            match conn.fill().await {
                Ok(0) => {
                    return Err(SendError::Closed(
                        "the connection closed before the response head was complete".into(),
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(lost(e)),
            }
        };
        let framing = if head.no_body {
            Framing::Done
        } else if head.chunked {
            Framing::Chunked(Chunk::Size)
        } else if let Some(n) = head.length {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        Ok(Response {
            wire: self,
            conn: Some(conn),
            status: head.status,
            keep_alive: head.keep_alive && !matches!(framing, Framing::UntilClose),
            framing,
        })
    }

    /// One whole exchange (`GET`, or `POST` of a JSON body) within `limit`: the
    /// status and at most `max` bytes of the body (the rest is read and dropped).
    pub(crate) async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        limit: Duration,
        max: usize,
    ) -> Result<(u16, Vec<u8>), String> {
        let request = self.request(method, path, body);
        let whole = async {
            let mut attempt = 0;
            let mut response = loop {
                attempt += 1;
                match self.send(&request, &mut None).await {
                    Ok(r) => break r,
                    Err(SendError::Closed(_)) if attempt == 1 => continue,
                    Err(e) => return Err(e.to_string()),
                }
            };
            let status = response.status();
            let mut out = Vec::new();
            while let Some((piece, _)) = response.next().await.map_err(|e| e.to_string())? {
                let room = max.saturating_sub(out.len());
                out.extend_from_slice(&piece[..piece.len().min(room)]);
            }
            response.finish();
            Ok((status, out))
        };
        match tokio::time::timeout(limit, whole).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no complete answer within {} ms",
                limit.as_millis()
            )),
        }
    }

    /// An idle connection still open (its peer has not closed it, nor sent
    /// anything unasked), or `None`.
    fn checkout(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(conn) = idle.pop() {
            if conn.idle_since.elapsed() < IDLE_LIMIT && conn.is_quiet() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, conn: Conn) {
        let mut conn = conn;
        conn.idle_since = Instant::now();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    async fn connect(&self) -> Result<Conn, SendError> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let tcp = match tokio::time::timeout(self.connect_timeout, connect).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(SendError::Connect(e.to_string())),
            Err(_) => {
                return Err(SendError::Connect(format!(
                    "no TCP connection within {:.1} s",
                    self.connect_timeout.as_secs_f64()
                )))
            }
        };
        tcp.set_nodelay(true)
            .map_err(|e| SendError::Connect(e.to_string()))?;
        Ok(Conn {
            tcp,
            buf: vec![0; INITIAL_BUFFER_BYTES],
            start: 0,
            end: 0,
            read_at: Instant::now(),
            idle_since: Instant::now(),
        })
    }
}

/// A response whose head has arrived; its body is read with [`Response::next`].
#[derive(Debug)]
pub(crate) struct Response<'w> {
    wire: &'w Wire,
    /// `None` once given back or dropped.
    conn: Option<Conn>,
    status: u16,
    keep_alive: bool,
    framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

impl Response<'_> {
    /// The HTTP status code.
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// The next piece of the body's payload and the instant the read that brought
    /// it completed; `None` at the body's end. Reads only when nothing of the
    /// payload is buffered.
    pub(crate) async fn next(&mut self) -> Result<Option<(&[u8], Instant)>, BodyError> {
        match self.next_piece().await? {
            Some((at, n)) => Ok(self.conn.as_ref().map(|c| (&c.buf[at..at + n], c.read_at))),
            None => Ok(None),
        }
    }

    /// [`Response::next`]'s piece as its place in the buffer.
    async fn next_piece(&mut self) -> Result<Option<(usize, usize)>, BodyError> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            match self.framing {
                Framing::Done => return Ok(None),
                Framing::Length(0) => self.framing = Framing::Done,
                Framing::Length(left) => {
                    if conn.start == conn.end {
                        fill_body(conn, "the Content-Length's end").await?;
                    }
                    let (at, n) = conn.take(left);
                    self.framing = Framing::Length(left - n as u64);
                    return Ok(Some((at, n)));
                }
                Framing::UntilClose => {
                    if conn.start == conn.end {
                        match conn.fill().await {
                            Ok(0) => {
                                self.framing = Framing::Done;
                                return Ok(None);
                            }
                            Ok(_) => {}
                            Err(e) => return Err(io_error(&e)),
                        }
                    }
                    return Ok(Some(conn.take(u64::MAX)));
                }
                Framing::Chunked(Chunk::Data(left)) => {
                    if conn.start == conn.end {
                        fill_body(conn, "the chunked body's end").await?;
                    }
                    let (at, n) = conn.take(left);
                    let left = left - n as u64;
                    self.framing = Framing::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    });
                    return Ok(Some((at, n)));
                }
                Framing::Chunked(Chunk::DataEnd) => {
                    if conn.end - conn.start < 2 {
                        fill_body(conn, "the chunked body's end").await?;
                        continue;
                    }
                    if &conn.buf[conn.start..conn.start + 2] != b"\r\n" {
                        return Err(bad_chunk("a chunk's data is not followed by CRLF"));
                    }
                    conn.start += 2;
                    self.framing = Framing::Chunked(Chunk::Size);
                }
                Framing::Chunked(state @ (Chunk::Size | Chunk::Trailers)) => {
                    let Some(line) = conn.line()? else {
                        fill_body(conn, "the chunked body's end").await?;
                        continue;
                    };
                    self.framing = match state {
                        Chunk::Size => match chunk_size(line)? {
                            0 => Framing::Chunked(Chunk::Trailers),
                            n => Framing::Chunked(Chunk::Data(n)),
                        },
                        _ if line.is_empty() => Framing::Done,
                        _ => Framing::Chunked(Chunk::Trailers),
                    };
                }
            }
        }
    }

    /// Reads the rest of the body for at most `limit`, then [`Response::finish`].
    pub(crate) async fn drain(&mut self, limit: Duration) {
        let rest = async { while let Ok(Some(_)) = self.next().await {} };
        let _ = tokio::time::timeout(limit, rest).await;
        self.finish();
    }

    /// Gives the connection back for the next request when the body ended exactly
    /// at its framing's end and the server keeps it open; closes it otherwise.
    pub(crate) fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            if self.framing == Framing::Done && self.keep_alive && conn.start == conn.end {
                self.wire.checkin(conn);
            }
        }
    }
}

/// One TCP connection and its read buffer (`buf[start..end]` not yet consumed).
struct Conn {
    tcp: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// When the last read completed: every byte handed out of the buffer is
    /// handed with it (a read happens only once the bytes before it are taken, or
    /// to complete a framing line whose end it brings).
    read_at: Instant,
    idle_since: Instant,
}

impl std::fmt::Debug for Conn {
    /// The connection's addresses and how much is buffered, not the buffer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("local", &self.tcp.local_addr().ok())
            .field("buffered", &(self.end - self.start))
            .field("capacity", &self.buf.len())
            .finish()
    }
}

impl Conn {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more bytes after those buffered; `Ok(0)` at the end of the stream.
    /// Makes room first: moves the unconsumed bytes to the front, or doubles a
    /// full buffer (a head longer than the largest buffer is refused before this).
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.grow();
        }
        let room = self.buf.len() - self.end;
        if room == 0 {
            return Err(io::Error::other("the read buffer is full"));
        }
        let n = self.tcp.read(&mut self.buf[self.end..]).await?;
        self.read_at = Instant::now();
        self.end += n;
        if n == room {
            // The read filled what was free: more was likely waiting.
            self.grow();
        }
        Ok(n)
    }

    fn grow(&mut self) {
        let len = (self.buf.len() * 2).min(MAX_BUFFER_BYTES);
        self.buf.resize(len, 0);
    }

    /// Consumes up to `max` buffered bytes: (their start, their count).
    fn take(&mut self, max: u64) -> (usize, usize) {
        let n = (self.end - self.start).min(usize::try_from(max).unwrap_or(usize::MAX));
        let at = self.start;
        self.start += n;
        (at, n)
    }

    /// Consumes one CRLF-ended line (returned without it), or `None` when no
    /// whole line is buffered yet.
    fn line(&mut self) -> Result<Option<&[u8]>, BodyError> {
        let buffered = &self.buf[self.start..self.end];
        match memchr::memchr(b'\n', buffered) {
            Some(i) => {
                let at = self.start;
                self.start += i + 1;
                let line = &self.buf[at..at + i];
                Ok(Some(line.strip_suffix(b"\r").unwrap_or(line)))
            }
            None if buffered.len() > MAX_CHUNK_LINE => Err(bad_chunk(&format!(
                "a chunk-size or trailer line is longer than {MAX_CHUNK_LINE} bytes"
            ))),
            None => Ok(None),
        }
    }

    /// Whether the idle connection is still open with nothing unread: a
    /// non-blocking peek (one system call) finds no byte and no end of stream.
    fn is_quiet(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a valid local buffer on an open socket.
        let n = unsafe {
            libc::recv(
                self.tcp.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }
}

/// Reads more of a body whose framing says more is due; the end of the stream is
/// then an early close (`what`: the end that was expected).
async fn fill_body(conn: &mut Conn, what: &str) -> Result<(), BodyError> {
    match conn.fill().await {
        Ok(0) => Err(BodyError {
            closed_early: true,
            message: format!("the connection closed before {what}"),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(io_error(&e)),
    }
}

fn io_error(e: &io::Error) -> BodyError {
    BodyError {
        closed_early: e.kind() == io::ErrorKind::UnexpectedEof,
        message: e.to_string(),
    }
}

fn bad_chunk(what: &str) -> BodyError {
    BodyError {
        closed_early: false,
        message: format!("invalid chunked encoding: {what}"),
    }
}

/// The size of a chunk-size line (hex digits, an optional `;extension`).
fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(bad_chunk(&format!(
            "chunk-size line {:?}",
            String::from_utf8_lossy(line)
        )));
    }
    let mut n = 0u64;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => {
                return Err(bad_chunk(&format!(
                    "chunk-size line {:?}",
                    String::from_utf8_lossy(line)
                )))
            }
        };
        n = n * 16 + u64::from(v);
    }
    Ok(n)
}

/// What the response head says about the body and the connection.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    chunked: bool,
    length: Option<u64>,
    keep_alive: bool,
    /// 204, 304: no body whatever the headers say.
    no_body: bool,
}

/// Parses a complete response head at the start of `bytes`: the head and its
/// length, or `None` when more bytes are needed.
fn parse_head(bytes: &[u8]) -> Result<Option<(Head, usize)>, SendError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let used = match response.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(SendError::Failed(format!(
                "the response head is not HTTP/1.x ({e}); starts with {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(60)])
            )))
        }
    };
    let status = response.code.unwrap_or(0);
    let mut head = Head {
        status,
        chunked: false,
        length: None,
        keep_alive: response.version == Some(1),
        no_body: status == 204 || status == 304,
    };
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = value.parse::<u64>().map_err(|_| {
                SendError::Failed(format!(
                    "the response's Content-Length {value:?} is not a number"
                ))
            })?;
            if head.length.is_some_and(|m| m != n) {
                return Err(SendError::Failed(
                    "the response has two different Content-Length headers".into(),
                ));
            }
            head.length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        }
    }
    Ok(Some((head, used)))
}

/// The host to connect to and the port of an authority (`host`, `host:port`,
/// `[v6]:port`, split as [`super::endpoint`] splits it; an IPv6 literal without
/// its brackets); port 80 when absent. `None` when the port is not a number.
fn split_authority(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = super::endpoint::split_host_port(authority);
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    Some((host, port))
}

/// Whether the environment names an HTTP proxy (reqwest's variables).
fn proxy_in_environment() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server on 127.0.0.1:0 that answers each connection's first request with
    /// `responses`' bytes, written in pieces of `piece` bytes.
    async fn serve(response: Vec<u8>, piece: usize) -> (Wire, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = vec![0u8; 4096];
            let _ = s.read(&mut req).await.unwrap();
            for part in response.chunks(piece.max(1)) {
                s.write_all(part).await.unwrap();
                s.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            // Keep the connection open until the client is done reading.
            let _ = s.read(&mut req).await;
        });
        let wire = Wire::for_base_url(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
        (wire, task)
    }

    async fn body_of(wire: &Wire) -> Result<(u16, Vec<u8>, bool), BodyError> {
        let request = wire.request("GET", "/x", None);
        let mut r = wire.send(&request, &mut None).await.unwrap();
        let mut out = Vec::new();
        while let Some((p, _)) = r.next().await? {
            out.extend_from_slice(p);
        }
        r.finish();
        let kept = !wire.idle.lock().unwrap().is_empty();
        Ok((r.status(), out, kept))
    }

    #[tokio::test]
    async fn chunked_bodies_decode_whatever_the_read_boundaries() {
        let response = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\ntrailer: x\r\n\r\n".to_vec();
        for piece in [1, 2, 3, 7, 1000] {
            let (wire, task) = serve(response.clone(), piece).await;
            let (status, body, kept) = body_of(&wire).await.unwrap();
            assert_eq!(
                (status, body.as_slice(), kept),
                (200, &b"hello 0123456789"[..], true),
                "piece {piece}"
            );
            task.abort();
        }
    }

    #[tokio::test]
    async fn content_length_and_close_delimited_bodies_end_where_they_say() {
        let (wire, task) = serve(
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc".to_vec(),
            2,
        )
        .await;
        assert_eq!(body_of(&wire).await.unwrap(), (200, b"abc".to_vec(), true));
        // An idle connection prints as its addresses, not its 16 KiB buffer.
        let shown = format!("{wire:?}");
        assert!(
            shown.contains("buffered: 0") && shown.len() < 600,
            "{shown}"
        );
        task.abort();
        let (wire, task) = serve(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 2\r\n\r\nno".to_vec(),
            5,
        )
        .await;
        assert_eq!(body_of(&wire).await.unwrap(), (404, b"no".to_vec(), false));
        task.abort();
    }

    #[tokio::test]
    async fn heads_and_bodies_larger_than_the_first_buffer_are_read_whole() {
        let big_header = "v".repeat(40 * 1024);
        let body: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
        let mut response = format!(
            "HTTP/1.1 200 OK\r\nx-big: {big_header}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        let (wire, task) = serve(response, 64 * 1024).await;
        assert_eq!(body_of(&wire).await.unwrap(), (200, body, true));
        task.abort();
        // A head beyond the largest buffer is refused, not read forever.
        let huge = format!(
            "HTTP/1.1 200 OK\r\nx-big: {}\r\n\r\n",
            "v".repeat(300 * 1024)
        );
        let (wire, task) = serve(huge.into_bytes(), 64 * 1024).await;
        let request = wire.request("GET", "/x", None);
        let err = wire.send(&request, &mut None).await.unwrap_err();
        assert!(err.to_string().contains("longer than 256 KiB"), "{err}");
        task.abort();
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_early_close_and_bad_framing_is_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for answer in [
                &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel"[..],
                &b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc"[..],
                &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"[..],
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = vec![0u8; 4096];
                let _ = s.read(&mut req).await.unwrap();
                s.write_all(answer).await.unwrap();
                drop(s);
            }
        });
        let wire = Wire::for_base_url(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
        let early = body_of(&wire).await.unwrap_err();
        assert!(early.closed_early, "{early}");
        let short = body_of(&wire).await.unwrap_err();
        assert!(short.closed_early, "{short}");
        let bad = body_of(&wire).await.unwrap_err();
        assert!(
            !bad.closed_early && bad.message.contains("chunk-size"),
            "{bad}"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_closed_idle_connection_is_not_reused() {
        let (wire, task) = serve(
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec(),
            100,
        )
        .await;
        assert_eq!(body_of(&wire).await.unwrap(), (200, Vec::new(), true));
        task.abort();
        let _ = task.await;
        // The server's side is gone: the idle connection reads as closed.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(wire.checkout().is_none());
    }

    #[tokio::test]
    async fn a_server_that_closed_the_idle_connection_gets_the_next_request_on_a_new_one() {
        // As llama.cpp's server does after its keep-alive timeout: one answer per
        // connection, then close.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = vec![0u8; 4096];
                let _ = s.read(&mut req).await.unwrap();
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                drop(s);
            }
        });
        let wire = Wire::for_base_url(&format!("http://{addr}"), Duration::from_secs(2)).unwrap();
        // The first answer's connection is kept (its head did not say close)...
        assert_eq!(body_of(&wire).await.unwrap(), (200, b"ok".to_vec(), true));
        tokio::time::sleep(Duration::from_millis(20)).await;
        // ...the server closed it meanwhile: the next request goes on a new one
        // without a failed send (no resend needed).
        let request = wire.request("GET", "/x", None);
        let mut r = wire
            .send(&request, &mut None)
            .await
            .expect("sent on a new connection");
        assert_eq!(r.status(), 200);
        r.drain(Duration::from_secs(1)).await;
        server.await.unwrap();
    }

    #[test]
    fn which_base_urls_it_speaks() {
        let t = Duration::from_secs(1);
        let w = Wire::for_base_url("http://127.0.0.1:8080/prefix/", t).unwrap();
        assert_eq!(
            (w.host.as_str(), w.port, w.prefix.as_str()),
            ("127.0.0.1", 8080, "/prefix")
        );
        assert_eq!(
            String::from_utf8(w.request("POST", "/api/generate", Some(b"{}"))).unwrap(),
            format!("POST /prefix/api/generate HTTP/1.1\r\nhost: 127.0.0.1:8080\r\naccept: */*\r\nuser-agent: agentbench/{}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}", env!("CARGO_PKG_VERSION"))
        );
        let v6 = Wire::for_base_url("http://[::1]:9", t).unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.authority.as_str()),
            ("::1", 9, "[::1]:9")
        );
        assert_eq!(Wire::for_base_url("http://localhost", t).unwrap().port, 80);
        for not_mine in [
            "https://127.0.0.1:1",
            "http://u:p@127.0.0.1:1",
            "http://127.0.0.1:x",
            "http://127.0.0.1:1/a?b",
        ] {
            assert!(Wire::for_base_url(not_mine, t).is_none(), "{not_mine}");
        }
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1aF").unwrap(), 0x1af);
        assert_eq!(chunk_size(b"10 ;name=v").unwrap(), 16);
        for bad in [&b""[..], b"g", b"-1", b"1234567890abcdef0"] {
            assert!(chunk_size(bad).is_err(), "{bad:?}");
        }
    }
}
