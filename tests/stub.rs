//! The Ollama stubs over loopback with reqwest: protocol shapes, errors, timings.

use std::time::{Duration, Instant};

use agentbench::stub::{
    default_addr, serve, InstantStub, PacedStub, RunningStub, StubKind, StubProfile, DEFAULT_TEXT,
    STUB_VERSION,
};
use serde_json::{json, Value};

const METRICS: [&str; 6] = [
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
];

/// The instant, paced and fast stubs serving `profile`: same routes, same shapes.
async fn both(profile: StubProfile) -> Vec<RunningStub> {
    let mut out = Vec::new();
    for kind in [StubKind::Instant, StubKind::Paced, StubKind::Fast] {
        out.push(serve(default_addr(0), profile.clone(), kind).await.unwrap());
    }
    out
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

async fn call(client: &reqwest::Client, url: &str, path: &str, body: Option<Value>) -> Reply {
    let req = match body {
        Some(b) => client.post(format!("{url}{path}")).json(&b),
        None => client.get(format!("{url}{path}")),
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.text().await.unwrap();
    Reply {
        status,
        content_type,
        body,
    }
}

fn lines(body: &str) -> Vec<Value> {
    assert!(body.ends_with('\n'), "NDJSON ends with a newline");
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn check_created_at(v: &Value) {
    let s = v["created_at"].as_str().unwrap();
    assert_eq!(s.len(), 30, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.');
    assert!(s.starts_with("20"));
}

fn check_final(v: &Value) {
    assert_eq!(v["done"], true);
    for f in METRICS {
        assert!(v[f].is_u64(), "missing {f} in {v}");
    }
    let sum = v["load_duration"].as_u64().unwrap()
        + v["prompt_eval_duration"].as_u64().unwrap()
        + v["eval_duration"].as_u64().unwrap();
    assert!(sum <= v["total_duration"].as_u64().unwrap(), "{v}");
}

/// Content of a stream: asserts every line but the last is `done:false`.
fn stream_text(lines: &[Value], chat: bool) -> String {
    let (last, chunks) = lines.split_last().unwrap();
    let mut text = String::new();
    for l in chunks {
        assert_eq!(l["done"], false);
        assert_eq!(l["model"], "gemma3:latest");
        check_created_at(l);
        if chat {
            assert_eq!(l["message"]["role"], "assistant");
            text.push_str(l["message"]["content"].as_str().unwrap());
            assert!(l.get("response").is_none());
        } else {
            text.push_str(l["response"].as_str().unwrap());
        }
    }
    check_final(last);
    if chat {
        assert_eq!(last["message"]["content"], "");
        assert!(last.get("context").is_none());
    } else {
        assert_eq!(last["response"], "");
        assert!(last["context"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.is_u64()));
    }
    text
}

#[tokio::test]
async fn generate_stream_shape() {
    let client = reqwest::Client::new();
    for stub in both(StubProfile::default()).await {
        // `stream` absent means streaming.
        let r = call(
            &client,
            stub.url(),
            "/api/generate",
            Some(json!({"model": "gemma3", "prompt": "Analyse this.", "options": {"temperature": 0.6, "num_ctx": 1024, "whatever": [1]}})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.content_type, "application/x-ndjson");
        let ls = lines(&r.body);
        assert_eq!(ls.len(), 101, "{}: 100 chunks + final", stub.kind());
        assert_eq!(stream_text(&ls, false), DEFAULT_TEXT);
        let last = ls.last().unwrap();
        assert_eq!(last["done_reason"], "stop");
        assert_eq!(last["eval_count"], 100);
        assert_eq!(last["prompt_eval_count"], 4); // 13 bytes / 4, rounded up
    }
}

#[tokio::test]
async fn non_stream_is_one_object() {
    let client = reqwest::Client::new();
    for stub in both(StubProfile::default()).await {
        for (path, body) in [
            (
                "/api/generate",
                json!({"model": "gemma3:latest", "prompt": "x", "stream": false}),
            ),
            (
                "/api/chat",
                json!({"model": "gemma3:latest", "stream": false, "messages": [{"role": "user", "content": "x"}]}),
            ),
        ] {
            let r = call(&client, stub.url(), path, Some(body)).await;
            assert_eq!(r.status, 200);
            assert!(
                r.content_type.starts_with("application/json"),
                "{}",
                r.content_type
            );
            let v: Value = serde_json::from_str(&r.body).unwrap();
            check_final(&v);
            check_created_at(&v);
            assert_eq!(v["done_reason"], "stop");
            let text = if path == "/api/chat" {
                &v["message"]["content"]
            } else {
                &v["response"]
            };
            assert_eq!(text, DEFAULT_TEXT);
            assert_eq!(v["eval_count"], 100);
        }
    }
}

#[tokio::test]
async fn chat_chunks_carry_message() {
    let client = reqwest::Client::new();
    for stub in both(StubProfile::default().with_chunks(20)).await {
        let r = call(
            &client,
            stub.url(),
            "/api/chat",
            Some(
                json!({"model": "gemma3", "stream": true, "keep_alive": "5m", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Write the report."}]}),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let ls = lines(&r.body);
        assert_eq!(ls.len(), 21);
        assert_eq!(stream_text(&ls, true), DEFAULT_TEXT);
    }
}

#[tokio::test]
async fn errors_use_ollama_wording() {
    let client = reqwest::Client::new();
    for stub in both(StubProfile::default()).await {
        for path in ["/api/generate", "/api/chat", "/api/show"] {
            let r = call(
                &client,
                stub.url(),
                path,
                Some(json!({"model": "llama9:70b", "prompt": "x", "messages": []})),
            )
            .await;
            assert_eq!(r.status, 404, "{path}");
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(
                v["error"],
                "model \"llama9:70b\" not found, try pulling it first"
            );
        }
        let bad = client
            .post(format!("{}/api/generate", stub.url()))
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let v: Value = bad.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().len() > 3);
        let r = call(&client, stub.url(), "/api/nothing", None).await;
        assert_eq!(r.status, 404);
        assert!(serde_json::from_str::<Value>(&r.body).unwrap()["error"].is_string());
    }
}

#[tokio::test]
async fn num_predict_caps_chunks() {
    let client = reqwest::Client::new();
    for stub in both(StubProfile::default()).await {
        let r = call(
            &client,
            stub.url(),
            "/api/generate",
            Some(
                json!({"model": "gemma3", "prompt": "x", "options": {"num_predict": 7, "seed": 1}}),
            ),
        )
        .await;
        let ls = lines(&r.body);
        assert_eq!(ls.len(), 8);
        let last = ls.last().unwrap();
        assert_eq!(last["done_reason"], "length");
        assert_eq!(last["eval_count"], 7);
        // A cap above the chunk count changes nothing; -1 means no cap.
        for np in [1000, -1] {
            let r = call(
                &client,
                stub.url(),
                "/api/generate",
                Some(json!({"model": "gemma3", "prompt": "x", "options": {"num_predict": np}})),
            )
            .await;
            let ls = lines(&r.body);
            assert_eq!(ls.len(), 101);
            assert_eq!(ls.last().unwrap()["done_reason"], "stop");
        }
    }
}

#[tokio::test]
async fn load_and_unload() {
    let client = reqwest::Client::new();
    for stub in both(StubProfile::default()).await {
        let url = stub.url();
        let load = call(
            &client,
            url,
            "/api/generate",
            Some(json!({"model": "gemma3"})),
        )
        .await;
        let v: Value = serde_json::from_str(&load.body).unwrap();
        assert_eq!(
            (v["done"].clone(), v["done_reason"].clone()),
            (json!(true), json!("load"))
        );
        assert_eq!(v["response"], "");
        let ps: Value =
            serde_json::from_str(&call(&client, url, "/api/ps", None).await.body).unwrap();
        assert_eq!(ps["models"].as_array().unwrap().len(), 1);

        let unload = call(
            &client,
            url,
            "/api/chat",
            Some(json!({"model": "gemma3", "messages": [], "keep_alive": 0})),
        )
        .await;
        let v: Value = serde_json::from_str(&unload.body).unwrap();
        assert_eq!(v["done_reason"], "unload");
        assert_eq!(v["message"]["role"], "assistant");
        let ps: Value =
            serde_json::from_str(&call(&client, url, "/api/ps", None).await.body).unwrap();
        assert_eq!(ps["models"].as_array().unwrap().len(), 0);
    }
}

#[tokio::test]
async fn info_routes() {
    let client = reqwest::Client::new();
    for stub in both(StubProfile::default()).await {
        let url = stub.url();
        let root = call(&client, url, "/", None).await;
        assert_eq!(
            (root.status, root.body.as_str()),
            (200, "Ollama is running")
        );
        let head = client.head(format!("{url}/")).send().await.unwrap();
        assert_eq!(head.status(), 200);

        let v: Value =
            serde_json::from_str(&call(&client, url, "/api/version", None).await.body).unwrap();
        assert_eq!(v["version"], STUB_VERSION);
        assert!(STUB_VERSION.contains("stub"));

        let tags: Value =
            serde_json::from_str(&call(&client, url, "/api/tags", None).await.body).unwrap();
        let m = &tags["models"][0];
        assert_eq!(m["name"], "gemma3:latest");
        assert_eq!(m["model"], "gemma3:latest");
        assert_eq!(m["digest"].as_str().unwrap().len(), 64);
        assert_eq!(m["size"].as_u64(), Some(0), "a stub has no weights");
        check_created_at(&json!({"created_at": m["modified_at"]}));
        assert_eq!(m["details"]["family"], "agentbench-stub");
        assert_eq!(m["details"]["format"], "gguf");
        assert_eq!(m["details"]["parameter_size"], "none");
        assert_eq!(m["details"]["quantization_level"], "none");
        assert_eq!(m["details"]["families"], json!(["agentbench-stub"]));

        for req in [json!({"model": "gemma3"}), json!({"name": "gemma3:latest"})] {
            let r = call(&client, url, "/api/show", Some(req)).await;
            assert_eq!(r.status, 200);
            let s: Value = serde_json::from_str(&r.body).unwrap();
            for f in ["modelfile", "parameters", "template", "modified_at"] {
                assert!(s[f].is_string(), "{f}");
            }
            assert_eq!(s["details"]["parent_model"], "");
            assert_eq!(s["details"]["quantization_level"], "none");
            assert_eq!(s["model_info"]["general.architecture"], "agentbench-stub");
            assert_eq!(
                s["model_info"]["general.name"],
                "agentbench stub, profile instant"
            );
        }

        // Nothing loaded before the first generation; loaded after it.
        let ps: Value =
            serde_json::from_str(&call(&client, url, "/api/ps", None).await.body).unwrap();
        assert_eq!(ps, json!({"models": []}));
        call(
            &client,
            url,
            "/api/generate",
            Some(json!({"model": "gemma3", "prompt": "x", "keep_alive": -1})),
        )
        .await;
        let ps: Value =
            serde_json::from_str(&call(&client, url, "/api/ps", None).await.body).unwrap();
        let m = &ps["models"][0];
        for f in ["name", "model", "digest", "expires_at"] {
            assert!(m[f].is_string(), "{f}");
        }
        assert!(m["size"].is_u64() && m["size_vram"].is_u64());
        assert_eq!(m["details"]["family"], "agentbench-stub");
        assert!(m["expires_at"].as_str().unwrap() > "2100");
    }
}

#[tokio::test]
async fn several_models() {
    let client = reqwest::Client::new();
    let profile = StubProfile::default().with_models(["gemma3", "qwen3:0.6b"]);
    for stub in both(profile).await {
        let tags: Value =
            serde_json::from_str(&call(&client, stub.url(), "/api/tags", None).await.body).unwrap();
        assert_eq!(tags["models"].as_array().unwrap().len(), 2);
        let r = call(
            &client,
            stub.url(),
            "/api/generate",
            Some(json!({"model": "qwen3:0.6b", "prompt": "x", "options": {"num_predict": 2}})),
        )
        .await;
        assert!(lines(&r.body).iter().all(|l| l["model"] == "qwen3:0.6b"));
    }
}

#[tokio::test]
async fn instant_timings_are_truthful() {
    let stub = InstantStub::start(StubProfile::default()).await.unwrap();
    let client = reqwest::Client::new();
    for stream in [true, false] {
        let t0 = Instant::now();
        let r = call(
            &client,
            stub.url(),
            "/api/generate",
            Some(json!({"model": "gemma3", "prompt": "x".repeat(400), "stream": stream})),
        )
        .await;
        let e2e = t0.elapsed();
        let last: Value = if stream {
            lines(&r.body).pop().unwrap()
        } else {
            serde_json::from_str(&r.body).unwrap()
        };
        check_final(&last);
        let total = Duration::from_nanos(last["total_duration"].as_u64().unwrap());
        assert!(total < Duration::from_millis(50), "{total:?}");
        assert!(total > Duration::ZERO);
        assert!(
            total < e2e,
            "server time {total:?} within client E2E {e2e:?}"
        );
        assert_eq!(last["prompt_eval_count"], 100);
        assert!(last["eval_duration"].as_u64().unwrap() > 0);
    }
}

/// Streams `path`, returning (time of each received chunk since t0, full body).
async fn timed_stream(
    client: &reqwest::Client,
    url: &str,
    body: Value,
) -> (Instant, Vec<Duration>, String) {
    let t0 = Instant::now();
    let mut resp = client
        .post(format!("{url}/api/generate"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut times = Vec::new();
    let mut text = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        times.push(t0.elapsed());
        text.extend_from_slice(&chunk);
    }
    (t0, times, String::from_utf8(text).unwrap())
}

#[tokio::test]
async fn paced_timings_are_truthful() {
    let stub = PacedStub::start(StubProfile::named("paced").unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    // Warm the keep-alive connection so the measurement excludes the TCP connect.
    assert_eq!(call(&client, stub.url(), "/", None).await.status, 200);
    let (t0, times, body) = timed_stream(
        &client,
        stub.url(),
        json!({"model": "gemma3", "prompt": "Analyse."}),
    )
    .await;
    let ls = lines(&body);
    assert_eq!(ls.len(), 52, "51 content lines and the final object");
    assert_eq!(stream_text(&ls, false), DEFAULT_TEXT);
    let ttft = times[0];
    assert!(
        ttft >= Duration::from_millis(185) && ttft <= Duration::from_millis(215),
        "client TTFT {ttft:?}, expected 200 ms ± 15 ms"
    );
    // Lines arrive spread over ~1 s, not in one burst.
    assert!(times.len() >= 40, "only {} reads", times.len());
    let span = *times.last().unwrap() - ttft;
    assert!(span >= Duration::from_millis(950), "{span:?}");

    let last = ls.last().unwrap();
    let ms = |f: &str| Duration::from_nanos(last[f].as_u64().unwrap());
    let expected = Duration::from_millis(200 + 50 * 20);
    assert!(
        ms("total_duration") >= expected - Duration::from_millis(2),
        "{last}"
    );
    assert!(
        ms("total_duration") <= expected + Duration::from_millis(100),
        "{last}"
    );
    assert_eq!(ms("load_duration"), Duration::ZERO);
    let pe = ms("prompt_eval_duration");
    assert!(
        pe >= Duration::from_millis(198) && pe <= Duration::from_millis(230),
        "{pe:?}"
    );
    let ev = ms("eval_duration");
    assert!(
        ev >= Duration::from_millis(978) && ev <= Duration::from_millis(1080),
        "{ev:?}"
    );
    assert_eq!(last["eval_count"], 51);

    // The stub recorded the arrival, between our send and our first chunk.
    let reqs = stub.requests();
    let rec = reqs.iter().find(|r| r.path == "/api/generate").unwrap();
    assert_eq!(rec.method, "POST");
    assert!(rec.instant >= t0 && rec.instant <= t0 + ttft);
    assert!(rec.at <= std::time::SystemTime::now());
    assert_eq!(reqs[0].path, "/");
    stub.shutdown().await;
}

#[tokio::test]
async fn paced_load_and_non_stream() {
    let stub = PacedStub::start(StubProfile::named("realistic").unwrap())
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let r = call(
        &client,
        stub.url(),
        "/api/chat",
        Some(json!({"model": "gemma3", "stream": false, "messages": [{"role": "user", "content": "hi"}]})),
    )
    .await;
    let e2e = t0.elapsed();
    let v: Value = serde_json::from_str(&r.body).unwrap();
    check_final(&v);
    assert_eq!(v["message"]["content"], DEFAULT_TEXT);
    assert_eq!(v["load_duration"], 30_000_000);
    let total = Duration::from_nanos(v["total_duration"].as_u64().unwrap());
    // 150 ms TTFT + 99 gaps of 8 ± 3 ms.
    assert!(total >= Duration::from_millis(150 + 99 * 5), "{total:?}");
    assert!(total <= e2e);
    let pe = Duration::from_nanos(v["prompt_eval_duration"].as_u64().unwrap());
    assert!(
        pe >= Duration::from_millis(119) && pe <= Duration::from_millis(160),
        "{pe:?}"
    );
}

#[tokio::test]
async fn paced_serves_concurrent_streams() {
    let stub = PacedStub::start(StubProfile::named("paced").unwrap().with_chunks(10))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let t0 = Instant::now();
    let calls = (0..8).map(|_| {
        timed_stream(
            &client,
            stub.url(),
            json!({"model": "gemma3", "prompt": "x"}),
        )
    });
    let results = futures_util::future::join_all(calls).await;
    let wall = t0.elapsed();
    for (_, _, body) in &results {
        assert_eq!(lines(body).len(), 11);
    }
    // Eight 380 ms streams in parallel, not one after another.
    assert!(wall < Duration::from_millis(1000), "{wall:?}");
    assert_eq!(stub.requests().len(), 8);
}

#[tokio::test]
async fn serve_reports_bind_errors_and_real_port() {
    let stub = serve(default_addr(0), StubProfile::default(), StubKind::Paced)
        .await
        .unwrap();
    assert_ne!(stub.addr().port(), 0);
    assert_eq!(
        stub.url(),
        format!("http://127.0.0.1:{}", stub.addr().port())
    );
    for kind in [
        StubKind::Instant,
        StubKind::Paced,
        StubKind::Fast,
        StubKind::Capacity,
    ] {
        let err = serve(stub.addr(), StubProfile::default(), kind)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, agentbench::stub::StubError::Bind(_)), "{err}");
    }
    let err = serve(
        default_addr(0),
        StubProfile::default().with_chunks(0),
        StubKind::Instant,
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("chunk"), "{err}");
    assert!(StubProfile::named("quick")
        .unwrap_err()
        .to_string()
        .contains("instant, paced, realistic"));
}

/// Issue 12, defect 7: the replay stub says what it is — the agentbench stub replaying a
/// recorded stream of the small model — and never claims a 4.3B Q4_K_M model.
#[tokio::test]
async fn the_replay_stubs_identity_is_true() {
    let client = reqwest::Client::new();
    let stub = serve(
        default_addr(0),
        StubProfile::named("replay").unwrap(),
        StubKind::Paced,
    )
    .await
    .unwrap();
    let url = stub.url();
    let r = call(&client, url, "/api/show", Some(json!({"model": "gemma3"}))).await;
    assert_eq!(r.status, 200);
    let s: Value = serde_json::from_str(&r.body).unwrap();
    let text = r.body.as_str();
    assert!(!text.contains("4.3B") && !text.contains("Q4_K_M"), "{text}");
    assert_eq!(s["details"]["family"], "agentbench-stub");
    assert_eq!(s["details"]["parent_model"], "gemma3-270m");
    let name = s["model_info"]["general.name"].as_str().unwrap();
    assert!(
        name.contains("agentbench stub") && name.contains("replay") && name.contains("gemma3-270m"),
        "{name}"
    );
    assert!(s["modelfile"].as_str().unwrap().contains("gemma3-270m"));
    let tags = call(&client, url, "/api/tags", None).await.body;
    assert!(!tags.contains("4.3B") && !tags.contains("Q4_K_M"), "{tags}");
    stub.shutdown().await;
}

/// The `replay` recording (the text of every stub run's `llm_report.md` by default)
/// is no degenerate loop: it stopped before `max_tokens`, and no line repeats more
/// than twice (the greedy recording before it was "## References / - 1 to 2
/// references" ten times over, cut at `max_tokens`).
#[test]
fn the_replay_recording_is_not_a_degenerate_loop() {
    let r = agentbench::stub::ReplayRecording::embedded();
    let tokens = r
        .usage
        .as_ref()
        .and_then(|u| u.completion_tokens)
        .expect("usage recorded");
    assert!(tokens < r.max_tokens, "{tokens} tokens: cut at max_tokens");
    let text: String = r.chunks.iter().map(|c| c.text.as_str()).collect();
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *seen.entry(line).or_default() += 1;
    }
    let worst = seen.iter().max_by_key(|(_, n)| **n).unwrap();
    assert!(*worst.1 <= 2, "{worst:?} repeats in:\n{text}");
    assert_eq!(StubProfile::named("replay").unwrap().text, text);
}
