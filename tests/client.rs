//! The client against hand-written HTTP responses over loopback: every way a
//! stream can end is classified, and what arrived before a failure is kept.

use std::time::Duration;

use agentbench::client::{
    CallRecord, CallRequest, Endpoint, ErrorKind, LlmClient, RequestSettings, Timeouts,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves one connection: reads the request head and body, then writes `parts`
/// with `pause` between them and closes.
async fn serve_once(parts: Vec<Vec<u8>>, pause: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = Vec::new();
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            if let Some(head_end) = find(&got, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= head_end + 4 + len {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        for part in parts {
            if sock.write_all(&part).await.is_err() {
                return;
            }
            let _ = sock.flush().await;
            tokio::time::sleep(pause).await;
        }
    });
    url
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A chunked HTTP/1.1 200 head for NDJSON.
fn head_200() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
        .to_vec()
}

/// One HTTP chunk holding `data`.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

fn last_chunk() -> Vec<u8> {
    b"0\r\n\r\n".to_vec()
}

const FINAL: &[u8] = br#"{"model":"m","created_at":"2026-01-01T00:00:00Z","response":"","done":true,"done_reason":"stop","total_duration":5000000,"load_duration":1000,"prompt_eval_count":7,"prompt_eval_duration":2000,"eval_count":3,"eval_duration":3000}
"#;

fn piece(text: &str) -> Vec<u8> {
    format!("{{\"model\":\"m\",\"created_at\":\"2026-01-01T00:00:00Z\",\"response\":{},\"done\":false}}\n", serde_json::to_string(text).unwrap()).into_bytes()
}

async fn call(url: &str, timeouts: Timeouts) -> CallRecord {
    let client = LlmClient::new(url, timeouts).unwrap();
    let settings = RequestSettings::default();
    client
        .call(&CallRequest {
            endpoint: Endpoint::Generate,
            model: "m",
            prompt: "hello",
            settings: &settings,
        })
        .await
}

fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        idle: Duration::from_secs(2),
        total: None,
    }
}

#[tokio::test]
async fn a_complete_stream_split_inside_a_character_is_recorded_whole() {
    let mut body = piece("h\u{e9}");
    body.extend(piece(" w\u{f6}rld"));
    body.extend(piece(""));
    body.extend_from_slice(FINAL);
    // Cut every 3 bytes: lines and two-byte characters straddle HTTP chunks.
    let mut parts = vec![head_200()];
    parts.extend(body.chunks(3).map(chunk));
    parts.push(last_chunk());
    let url = serve_once(parts, Duration::ZERO).await;
    let rec = call(&url, fast()).await;
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert_eq!(rec.response, "h\u{e9} w\u{f6}rld");
    assert_eq!(rec.chunk_ns.len(), 2, "empty pieces are not content chunks");
    assert_eq!(rec.lines, 4);
    assert_eq!(rec.bytes, Some(body.len() as u64));
    assert_eq!(rec.server.eval_count, Some(3));
    assert_eq!(rec.server.total_duration, Some(5_000_000));
    assert_eq!(rec.http_status, Some(200));
    let end = rec.end_ns.unwrap();
    assert!(rec.headers_ns.unwrap() <= rec.chunk_ns[0] && rec.chunk_ns[1] <= end);
    assert_eq!(
        rec.prompt_sha256,
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
}

#[tokio::test]
async fn a_404_names_the_model_and_the_fix() {
    let body = br#"{"error":"model \"m\" not found, try pulling it first"}"#;
    let head = format!(
        "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let url = serve_once(vec![head.into_bytes(), body.to_vec()], Duration::ZERO).await;
    let rec = call(&url, fast()).await;
    let err = rec.error.unwrap();
    assert_eq!(err.kind, ErrorKind::ModelNotFound);
    assert!(
        err.message.contains("model m not found at"),
        "{}",
        err.message
    );
    assert!(err.message.contains("ollama pull m"), "{}", err.message);
    assert_eq!(rec.http_status, Some(404));
}

#[tokio::test]
async fn an_error_object_mid_stream_keeps_what_came_before() {
    let mut body = piece("partial");
    body.extend_from_slice(b"{\"error\":\"out of memory\"}\n");
    let parts = vec![head_200(), chunk(&body), last_chunk()];
    let url = serve_once(parts, Duration::ZERO).await;
    let rec = call(&url, fast()).await;
    let err = rec.error.as_ref().unwrap();
    assert_eq!(err.kind, ErrorKind::ServerError);
    assert!(err.message.contains("out of memory"));
    assert_eq!(rec.response, "partial");
    assert_eq!(rec.chunk_ns.len(), 1);
    assert!(!rec.is_ok());
}

#[tokio::test]
async fn a_stream_without_the_final_object_is_truncated_not_zero() {
    let parts = vec![
        head_200(),
        chunk(&piece("a")),
        chunk(&piece("b")),
        last_chunk(),
    ];
    let url = serve_once(parts, Duration::ZERO).await;
    let rec = call(&url, fast()).await;
    assert_eq!(rec.error.as_ref().unwrap().kind, ErrorKind::Truncated);
    assert_eq!(rec.response, "ab");
    assert_eq!(rec.end_ns, None);
    assert_eq!(
        agentbench::metrics::CallMetrics::new(&rec).decode_tps(),
        None
    );
}

#[tokio::test]
async fn malformed_and_non_utf8_lines_are_classified() {
    let parts = vec![
        head_200(),
        chunk(&piece("a")),
        chunk(b"{\"response\": nope}\n"),
        last_chunk(),
    ];
    let url = serve_once(parts, Duration::ZERO).await;
    let rec = call(&url, fast()).await;
    assert_eq!(rec.error.as_ref().unwrap().kind, ErrorKind::MalformedLine);
    assert_eq!(rec.response, "a");

    let parts = vec![
        head_200(),
        chunk(b"{\"response\":\"\xff\xfe\"}\n"),
        last_chunk(),
    ];
    let url = serve_once(parts, Duration::ZERO).await;
    let rec = call(&url, fast()).await;
    assert_eq!(rec.error.as_ref().unwrap().kind, ErrorKind::InvalidUtf8);
}

#[tokio::test]
async fn a_stall_longer_than_the_idle_timeout_is_a_timeout() {
    let parts = vec![head_200(), chunk(&piece("a")), chunk(FINAL), last_chunk()];
    let url = serve_once(parts, Duration::from_millis(800)).await;
    let timeouts = Timeouts {
        idle: Duration::from_millis(200),
        ..fast()
    };
    let rec = call(&url, timeouts).await;
    assert_eq!(rec.error.as_ref().unwrap().kind, ErrorKind::Timeout);
}

#[tokio::test]
async fn an_overlong_line_is_bounded() {
    let big = vec![b'x'; 4096];
    let parts = vec![head_200(), chunk(&big), chunk(&big), last_chunk()];
    let url = serve_once(parts, Duration::ZERO).await;
    let client = LlmClient::new(&url, fast())
        .unwrap()
        .with_max_line_bytes(1000);
    let settings = RequestSettings::default();
    let rec = client
        .call(&CallRequest {
            endpoint: Endpoint::Chat,
            model: "m",
            prompt: "p",
            settings: &settings,
        })
        .await;
    assert_eq!(rec.error.as_ref().unwrap().kind, ErrorKind::LineTooLong);
}

#[tokio::test]
async fn a_refused_connection_names_the_url_and_ollama_host() {
    // Bind then drop a listener: the port is now (almost certainly) closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let rec = call(&url, fast()).await;
    let err = rec.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Connect);
    assert!(err.message.contains(&url), "{}", err.message);
    assert!(err.message.contains("OLLAMA_HOST"), "{}", err.message);
}

/// What [`keep_alive_server`] does with the request it has just read.
#[derive(Clone, Copy)]
enum Reply {
    /// Close the connection without a response.
    Close,
    /// Stream a complete response, then (20 ms later) the chunked terminator, and
    /// keep the connection open for the next request.
    Serve,
}

/// A keep-alive HTTP/1.1 server that answers the n-th request it reads (0-based,
/// over all connections) with `plan(n)`; returns its URL and the count of
/// connections it accepted.
async fn keep_alive_server(
    plan: fn(usize) -> Reply,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let requests = requests.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                loop {
                    let Ok(n) = sock.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let Some(head_end) = find(&got, b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if got.len() < head_end + 4 + len {
                        continue;
                    }
                    got.drain(..head_end + 4 + len);
                    match plan(requests.fetch_add(1, Ordering::SeqCst)) {
                        Reply::Close => return,
                        Reply::Serve => {
                            let mut body = head_200();
                            body.extend(chunk(&piece("hi")));
                            body.extend(chunk(FINAL));
                            sock.write_all(&body).await.unwrap();
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            sock.write_all(&last_chunk()).await.unwrap();
                        }
                    }
                }
            });
        }
    });
    (url, accepted)
}

/// The client reads a body to its end after the final object (bounded), so a
/// keep-alive server's connection is reused: the second call pays no connect.
#[tokio::test]
async fn calls_in_a_row_reuse_one_connection() {
    let (url, accepted) = keep_alive_server(|_| Reply::Serve).await;
    let client = LlmClient::new(&url, fast()).unwrap();
    let settings = RequestSettings::default();
    let req = CallRequest {
        endpoint: Endpoint::Generate,
        model: "m",
        prompt: "hello",
        settings: &settings,
    };
    for _ in 0..3 {
        let rec = client.call(&req).await;
        assert!(rec.is_ok(), "{:?}", rec.error);
        // E2E ends at the final object, not at the terminator 20 ms later.
        assert!(rec.end_ns.unwrap() < 15_000_000, "{:?}", rec.end_ns);
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A connection the server closes before any response header (llama.cpp's server
/// does this after every streamed response while advertising keep-alive) gets the
/// request sent once more; the record says so and keeps the first error.
#[tokio::test]
async fn a_close_before_headers_is_resent_once_and_recorded() {
    let (url, accepted) =
        keep_alive_server(|n| if n == 0 { Reply::Close } else { Reply::Serve }).await;
    let rec = call(&url, fast()).await;
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert_eq!(rec.attempt, 2);
    assert_eq!(rec.retried_errors.len(), 1);
    assert_eq!(rec.retried_errors[0].kind, ErrorKind::ConnectionClosed);
    assert!(rec.retried_errors[0].message.contains(&url));
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);

    // Only once: a server that always closes fails the call after the resend.
    let (url, accepted) = keep_alive_server(|_| Reply::Close).await;
    let rec = call(&url, fast()).await;
    assert_eq!(
        rec.error.as_ref().map(|e| e.kind),
        Some(ErrorKind::ConnectionClosed)
    );
    assert_eq!(rec.attempt, 2);
    assert_eq!(rec.retried_errors.len(), 1);
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}
