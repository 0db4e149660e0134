//! The OpenAI-compatible protocol: the SSE client against both stubs and against
//! hand-written HTTP responses over loopback (events split across reads, `[DONE]`,
//! the usage chunk with empty `choices`, an error object mid-stream, HTTP 4xx with a
//! JSON error body, a stream cut before `[DONE]`), and `run --protocol openai`.

use std::time::Duration;

use agentbench::client::{
    CallRecord, CallRequest, Endpoint, ErrorKind, LlmClient, Protocol, RequestSettings,
    ServerProbeError, Timeouts,
};
use agentbench::metrics::CallMetrics;
use agentbench::stub::{InstantStub, PacedStub, StubProfile, DEFAULT_MODEL, DEFAULT_TEXT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn client(url: &str) -> LlmClient {
    LlmClient::new(url, fast())
        .unwrap()
        .with_protocol(Protocol::OpenAi)
}

fn fast() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        idle: Duration::from_secs(5),
        total: None,
    }
}

async fn call(url: &str, endpoint: Endpoint, model: &str, options: &[&str]) -> CallRecord {
    let settings = RequestSettings::from_pairs(options).unwrap();
    client(url)
        .call(&CallRequest {
            endpoint,
            model,
            prompt: "Summarise the benchmark files.",
            settings: &settings,
        })
        .await
}

#[tokio::test]
async fn both_endpoints_of_the_instant_stub_stream_the_whole_text_with_usage_and_timings() {
    let stub = InstantStub::start(StubProfile::default()).await.unwrap();
    for endpoint in [Endpoint::Generate, Endpoint::Chat] {
        let rec = call(stub.url(), endpoint, DEFAULT_MODEL, &[]).await;
        assert!(rec.is_ok(), "{endpoint:?}: {:?}", rec.error);
        assert_eq!(rec.response, DEFAULT_TEXT);
        assert_eq!(rec.chunk_ns.len(), 100);
        // 100 content events, the finish event, the usage event, [DONE].
        assert_eq!(rec.lines, 103);
        let s = &rec.server;
        assert_eq!(s.done_reason.as_deref(), Some("stop"));
        assert_eq!(s.usage.as_ref().unwrap().completion_tokens, Some(100));
        assert_eq!(s.timings.as_ref().unwrap().predicted_n, Some(100));
        assert_eq!(s.total_duration, None, "Ollama's fields stay absent");
        let m = CallMetrics::new(&rec);
        assert_eq!(m.output_tokens(), Some(100));
        assert!(m.client_overhead_ns().unwrap() > 0);
    }
    let paths: Vec<String> = stub.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/completions", "/v1/chat/completions"]);
}

#[tokio::test]
async fn max_tokens_caps_the_stream_and_finish_reason_says_length() {
    let stub = InstantStub::start(StubProfile::default()).await.unwrap();
    let rec = call(
        stub.url(),
        Endpoint::Chat,
        DEFAULT_MODEL,
        &["num_predict=5"],
    )
    .await;
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert_eq!(rec.chunk_ns.len(), 5);
    assert_eq!(rec.server.done_reason.as_deref(), Some("length"));
    assert_eq!(rec.server.usage.unwrap().completion_tokens, Some(5));
}

#[tokio::test]
async fn the_paced_stub_is_measured_as_paced_over_sse() {
    let stub = PacedStub::start(StubProfile::named("paced").unwrap())
        .await
        .unwrap();
    let rec = call(stub.url(), Endpoint::Generate, DEFAULT_MODEL, &[]).await;
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert_eq!(rec.chunk_ns.len(), 51);
    let m = CallMetrics::new(&rec);
    let ttft = m.ttft().unwrap();
    assert!(
        ttft >= Duration::from_millis(200) && ttft < Duration::from_millis(400),
        "{ttft:?}"
    );
    let gaps: Vec<Duration> = m.itl().collect();
    let median = {
        let mut g = gaps.clone();
        g.sort();
        g[g.len() / 2]
    };
    assert!(
        median >= Duration::from_millis(15) && median <= Duration::from_millis(30),
        "{median:?}"
    );
    let t = rec.server.timings.as_ref().unwrap();
    assert!((t.predicted_ms.unwrap() - 1000.0).abs() < 200.0, "{t:?}");
    assert!(m.decode_tps().unwrap() > 40.0 && m.decode_tps().unwrap() < 60.0);
    let overhead = m.client_overhead_ns().unwrap();
    assert!(
        overhead > 0 && overhead < 100_000_000,
        "client overhead {overhead} ns"
    );
}

#[tokio::test]
async fn an_unknown_model_is_a_404_with_the_servers_message() {
    let stub = InstantStub::start(StubProfile::default()).await.unwrap();
    let rec = call(stub.url(), Endpoint::Chat, "nope", &[]).await;
    let e = rec.error.unwrap();
    assert_eq!(e.kind, ErrorKind::ModelNotFound);
    assert!(
        e.message.contains("model \"nope\" not found"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("/v1/models"),
        "names the fix: {}",
        e.message
    );
    assert_eq!(rec.http_status, Some(404));
}

#[tokio::test]
async fn provenance_comes_from_v1_models_and_a_missing_model_is_named() {
    let stub = InstantStub::start(StubProfile::default()).await.unwrap();
    let c = client(stub.url());
    assert_eq!(
        c.probe(Duration::from_secs(2)).await.unwrap(),
        DEFAULT_MODEL
    );
    let info = c.server_info(DEFAULT_MODEL).await.unwrap();
    assert_eq!(info.model_details.unwrap()["id"], DEFAULT_MODEL);
    assert!(info.model_digest.is_none());
    match c.server_info("other-model").await {
        Err(ServerProbeError::ModelNotServed { available, .. }) => {
            assert_eq!(available, DEFAULT_MODEL)
        }
        other => panic!("{other:?}"),
    }
    // Nothing listening: the error names the protocol's fix.
    let dead = client("http://127.0.0.1:9");
    let e = dead.probe(Duration::from_millis(500)).await.unwrap_err();
    assert!(e.to_string().contains("OpenAI-compatible"), "{e}");
}

// ---------------------------------------------------------------------------
// Hand-written responses

/// Serves one connection: reads the request, then writes `parts` with `pause`
/// between them and closes.
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
            if let Some(head_end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
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

fn head(status: &str, content_type: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    .into_bytes()
}

fn http_chunk(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

fn event(text: &str) -> String {
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
        serde_json::to_string(text).unwrap()
    )
}

const FINISH: &str =
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\r\n\r\n";
const USAGE: &str = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12},\"timings\":{\"prompt_n\":9,\"prompt_ms\":1.5,\"predicted_n\":3,\"predicted_ms\":2.5}}\n\n";

/// A complete stream with a comment, a multibyte character, CRLF events and the
/// usage chunk.
fn complete_body() -> Vec<u8> {
    let mut body = String::from(": ping\n\n");
    body += &event("h\u{e9}");
    body += &event(" w\u{f6}rld \u{1F600}");
    body += &event("");
    body += FINISH;
    body += USAGE;
    body += "data: [DONE]\n\n";
    body.into_bytes()
}

async fn call_raw(url: &str) -> CallRecord {
    call(url, Endpoint::Chat, "m", &[]).await
}

#[tokio::test]
async fn events_split_at_every_read_boundary_are_recorded_whole() {
    let body = complete_body();
    // Cut every k bytes: events, `data:` prefixes, `[DONE]` and multibyte characters
    // straddle HTTP chunks (and so reads).
    for k in [1, 2, 3, 5, 7, 64] {
        let mut parts = vec![head("200 OK", "text/event-stream")];
        parts.extend(body.chunks(k).map(http_chunk));
        parts.push(b"0\r\n\r\n".to_vec());
        let url = serve_once(parts, Duration::ZERO).await;
        let rec = call_raw(&url).await;
        assert!(rec.is_ok(), "k={k}: {:?}", rec.error);
        assert_eq!(rec.response, "h\u{e9} w\u{f6}rld \u{1F600}", "k={k}");
        assert_eq!(rec.chunk_ns.len(), 2, "k={k}: empty deltas are not content");
        assert_eq!(
            rec.lines, 7,
            "k={k}: comment, 3 deltas, finish, usage, [DONE]"
        );
        // Reading stops at `data: [DONE]`: the event's closing blank line may be
        // left unread when it comes in a read of its own.
        let len = body.len() as u64;
        assert!(
            rec.bytes.is_some_and(|b| (len - 1..=len).contains(&b)),
            "k={k}: {:?} of {len} bytes",
            rec.bytes
        );
        let s = &rec.server;
        assert_eq!(s.done_reason.as_deref(), Some("stop"));
        assert_eq!(s.usage.as_ref().unwrap().completion_tokens, Some(3));
        assert_eq!(s.prefill_ns(), Some(1_500_000));
        assert_eq!(s.decode_ns(), Some(2_500_000));
        assert!(rec.chunk_ns[1] <= rec.end_ns.unwrap());
    }
}

#[tokio::test]
async fn an_error_object_mid_stream_keeps_what_came_before() {
    let mut body = event("one ");
    body += &event("two");
    body += "data: {\"error\":{\"message\":\"the KV cache is full\",\"type\":\"server_error\",\"code\":500}}\n\n";
    body += &event("never");
    let parts = vec![
        head("200 OK", "text/event-stream"),
        http_chunk(body.as_bytes()),
        b"0\r\n\r\n".to_vec(),
    ];
    let rec = call_raw(&serve_once(parts, Duration::ZERO).await).await;
    let e = rec.error.clone().unwrap();
    assert_eq!(e.kind, ErrorKind::ServerError);
    assert!(e.message.contains("the KV cache is full"), "{}", e.message);
    assert_eq!(rec.response, "one two");
    assert_eq!(rec.chunk_ns.len(), 2);
    assert!(!rec.is_ok() && rec.end_ns.is_none());
    assert_eq!(
        CallMetrics::new(&rec).ttft(),
        None,
        "a failed call is no sample"
    );
}

#[tokio::test]
async fn an_http_400_with_a_json_error_body_is_classified_with_its_message() {
    let body = br#"{"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}}"#;
    let mut response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    let rec = call_raw(&serve_once(vec![response], Duration::ZERO).await).await;
    let e = rec.error.unwrap();
    assert_eq!(e.kind, ErrorKind::HttpStatus);
    assert_eq!(rec.http_status, Some(400));
    assert!(
        e.message
            .contains("the request exceeds the available context size"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_stream_without_done_is_truncated_and_a_non_sse_body_is_malformed() {
    let mut body = event("a");
    body += FINISH;
    body += USAGE;
    let parts = vec![
        head("200 OK", "text/event-stream"),
        http_chunk(body.as_bytes()),
        b"0\r\n\r\n".to_vec(),
    ];
    let rec = call_raw(&serve_once(parts, Duration::ZERO).await).await;
    let e = rec.error.unwrap();
    assert_eq!(e.kind, ErrorKind::Truncated);
    assert!(e.message.contains("[DONE]"), "{}", e.message);
    assert_eq!(rec.response, "a");
    // An Ollama NDJSON body where SSE was expected (the wrong --protocol).
    let ndjson = b"{\"model\":\"m\",\"response\":\"x\",\"done\":false}\n";
    let parts = vec![
        head("200 OK", "application/x-ndjson"),
        http_chunk(ndjson),
        b"0\r\n\r\n".to_vec(),
    ];
    let rec = call_raw(&serve_once(parts, Duration::ZERO).await).await;
    let e = rec.error.unwrap();
    assert_eq!(e.kind, ErrorKind::MalformedLine);
    assert!(e.message.contains("Server-Sent Events"), "{}", e.message);
}

// ---------------------------------------------------------------------------
// The command line

fn agentbench() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_agentbench"));
    c.env_remove("OLLAMA_HOST");
    c
}

#[test]
fn run_with_protocol_openai_records_it_in_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentbench()
        .args([
            "run",
            "--stub",
            "instant",
            "--protocol",
            "openai",
            "--runs",
            "1",
            "--quiet",
            "-o",
            "num_predict=20",
            "--out",
        ])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = agentbench::record::read_records(&dir.path().join("r/records.jsonl")).unwrap();
    assert_eq!(file.header.backend.protocol, "openai");
    let call = &file.runs[0].calls[0].call;
    assert!(call.is_ok(), "{:?}", call.error);
    assert_eq!(
        call.chunk_ns.len(),
        20,
        "num_predict was sent as max_tokens"
    );
    assert!(call.server.usage.is_some(), "the call went over SSE");
    let html = std::fs::read_to_string(dir.path().join("r/index.html")).unwrap();
    assert!(
        html.contains("/v1/completions"),
        "the report names the route"
    );
}

#[test]
fn ollama_only_options_and_unknown_protocols_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentbench()
        .args([
            "run",
            "--stub",
            "instant",
            "--protocol",
            "openai",
            "-o",
            "num_ctx=512",
            "--out",
        ])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("num_ctx") && err.contains("--protocol openai"),
        "{err}"
    );
    assert!(!dir.path().join("x").exists(), "nothing written");
    let out = agentbench()
        .args(["run", "--protocol", "grpc", "--stub", "instant"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("openai"));
    // The sweep's default matrix varies num_ctx and num_gpu: refused, with the way out.
    let out = agentbench()
        .args(["sweep", "--stub", "paced", "--protocol", "openai", "--out"])
        .arg(dir.path().join("s"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--temperature"), "{err}");
}

#[test]
fn a_temperature_sweep_runs_over_the_openai_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentbench()
        .args([
            "sweep",
            "--stub",
            "instant",
            "--protocol",
            "openai",
            "--temperature",
            "0.6,0.8",
            "--runs",
            "1",
            "--num-predict",
            "8",
            "--quiet",
            "--out",
        ])
        .arg(dir.path().join("s"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = agentbench::record::read_records(&dir.path().join("s/records.jsonl")).unwrap();
    assert_eq!(file.header.backend.protocol, "openai");
    assert_eq!(file.runs.len(), 3, "baseline + 2 temperatures");
    assert!(file
        .runs
        .iter()
        .all(|r| r.failure.is_none() && r.calls[0].call.chunk_ns.len() == 8));
    assert!(
        file.runs
            .iter()
            .flat_map(|r| &r.calls)
            .all(|c| c.call.server.usage.is_some() && c.call.server.total_duration.is_none()),
        "every call went over SSE (usage, no Ollama fields)"
    );
}
