//! The load-test stubs against known truth: the fast stub's streams decode with the
//! project's own client on all four generation routes; the capacity stub's completions
//! fall in the waves its [`CapacityModel`] predicts; a pause holds back the requests that
//! meet it, exactly once; the counters count. Tolerances, no speed assertions.

use std::time::{Duration, Instant};

use agentbench::client::{
    CallRecord, CallRequest, Endpoint, LlmClient, Protocol, RequestSettings, Timeouts,
};
use agentbench::stub::{
    default_addr, kind_for, serve, CapacityModel, RunningStub, StubKind, StubProfile, StubStats,
    DEFAULT_MODEL,
};
use serde_json::{json, Value};

async fn start(name: &str) -> RunningStub {
    serve(
        default_addr(0),
        StubProfile::named(name).unwrap(),
        kind_for(name),
    )
    .await
    .unwrap()
}

fn client(url: &str, protocol: Protocol) -> LlmClient {
    LlmClient::new(url, Timeouts::default())
        .unwrap()
        .with_protocol(protocol)
}

async fn call(c: &LlmClient, endpoint: Endpoint, prompt: &str) -> CallRecord {
    let settings = RequestSettings::default();
    c.call(&CallRequest {
        endpoint,
        model: DEFAULT_MODEL,
        prompt,
        settings: &settings,
    })
    .await
}

async fn stats_route(url: &str) -> StubStats {
    let r = reqwest::get(format!("{url}/stub/stats")).await.unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

#[test]
fn profile_names_parse_and_pick_their_server() {
    assert_eq!(kind_for("fast"), StubKind::Fast);
    assert_eq!(kind_for("fast:pause=1s@2s"), StubKind::Fast);
    assert_eq!(kind_for("capacity:slots=2"), StubKind::Capacity);
    assert_eq!(kind_for("instant"), StubKind::Instant);
    assert_eq!(kind_for("replay"), StubKind::Paced);
    assert_eq!(kind_for("fault:truncate"), StubKind::Paced);
    let p = StubProfile::named("fast").unwrap();
    assert_eq!((p.chunks, p.pause, p.capacity), (64, None, None));
    let p = StubProfile::named("fast:chunks=8,pause=1s@2s").unwrap();
    assert_eq!(p.chunks, 8);
    let pause = p.pause.unwrap();
    assert_eq!(
        (pause.duration, pause.after),
        (Duration::from_secs(1), Duration::from_secs(2))
    );
    let p = StubProfile::named("capacity:slots=3,prefill=1000,decode=50,tokens=12").unwrap();
    let m = p.capacity.unwrap();
    assert_eq!((m.slots, m.tokens, p.chunks), (3, 12, 12));
    for (bad, needle) in [
        ("capacity:slot=2", "\"slot\""),
        ("capacity:slots=0", "slots"),
        ("capacity:decode=fast", "decode"),
        ("fast:chunks=0", "chunks"),
        ("fast:slots=2", "valid: chunks, pause"),
        ("fast:pause=soon", "pause"),
    ] {
        let e = StubProfile::named(bad).unwrap_err().to_string();
        assert!(e.contains(needle), "{bad}: {e}");
        assert!(e.contains(bad), "{bad}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_stub_streams_64_chunks_on_all_four_routes() {
    let stub = start("fast").await;
    let pieces = stub.profile().pieces().concat();
    for protocol in [Protocol::Ollama, Protocol::OpenAi] {
        let c = client(stub.url(), protocol);
        let info = c.server_info(DEFAULT_MODEL).await.unwrap();
        assert!(info.version.is_some(), "{protocol:?}: {info:?}");
        for endpoint in [Endpoint::Generate, Endpoint::Chat] {
            let rec = call(&c, endpoint, "hello").await;
            assert!(rec.is_ok(), "{protocol:?} {endpoint:?}: {:?}", rec.error);
            assert_eq!(rec.chunk_ns.len(), 64, "{protocol:?} {endpoint:?}");
            assert_eq!(rec.response, pieces);
            let s = &rec.server;
            match protocol {
                Protocol::Ollama => {
                    assert_eq!(s.eval_count, Some(64));
                    let total = s.total_duration.unwrap();
                    assert!(total <= rec.end_ns.unwrap(), "server time within the call");
                    assert!(s.prompt_eval_duration.unwrap() + s.eval_duration.unwrap() <= total);
                }
                _ => {
                    let t = s.timings.as_ref().expect("llama.cpp timings");
                    assert_eq!(t.predicted_n, Some(64));
                    assert_eq!(s.usage.as_ref().unwrap().completion_tokens, Some(64));
                }
            }
        }
    }
    // Not streamed, and capped.
    let http = reqwest::Client::new();
    let v: Value = http
        .post(format!("{}/api/generate", stub.url()))
        .json(&json!({"model": "gemma3", "prompt": "x", "stream": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["response"], pieces.as_str());
    assert_eq!(v["eval_count"], 64);
    let r = http
        .post(format!("{}/v1/completions", stub.url()))
        .json(&json!({"model": "gemma3", "prompt": "x", "stream": true, "max_tokens": 5}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains("\"completion_tokens\":5") && r.ends_with("data: [DONE]\n\n"));
    for path in ["/", "/api/version", "/api/tags", "/v1/models", "/props"] {
        let r = http
            .get(format!("{}{path}", stub.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let props: Value = reqwest::get(format!("{}/props", stub.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(props["build_info"].as_str().unwrap().contains("stub"));
    let st = stub.stats();
    assert_eq!(st.arrivals, 6);
    assert_eq!(st.completions, 6);
    assert_eq!(st.in_flight, 0);
    assert_eq!(st.peak_in_service, 0, "the fast stub has no slots");
    assert_eq!(stats_route(stub.url()).await, st);
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_stub_serves_in_waves_of_its_slots() {
    let name = "capacity:slots=2,prefill=4000,decode=200,tokens=32";
    let stub = start(name).await;
    let model = stub.profile().capacity.clone().unwrap();
    let prompt = "x".repeat(400); // 100 prompt tokens: 25 ms of prefill
    let service = model.service_time(CapacityModel::prompt_tokens(400), 32);
    assert_eq!(service, Duration::from_millis(185));
    let c = client(stub.url(), Protocol::Ollama);
    // Warm the connection pool so the six calls go out together.
    let _ = c.server_info(DEFAULT_MODEL).await;
    let t0 = Instant::now();
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            let prompt = prompt.clone();
            tokio::spawn(async move {
                let rec = call(&c, Endpoint::Generate, &prompt).await;
                (rec, t0.elapsed())
            })
        })
        .collect();
    let mut done = Vec::new();
    for h in calls {
        done.push(h.await.unwrap());
    }
    // Wide enough for a debug build on a busy 2-core machine; waves are 185 ms apart.
    let tol = Duration::from_millis(50);
    let near = |got: Duration, want: Duration| got.abs_diff(want) <= tol;
    let mut waits = Vec::new();
    for (rec, _) in &done {
        assert!(rec.is_ok(), "{:?}", rec.error);
        assert_eq!(rec.chunk_ns.len(), 32);
        let s = &rec.server;
        assert_eq!(s.prompt_eval_count, Some(100));
        assert_eq!(s.eval_count, Some(32));
        let prefill = Duration::from_nanos(s.prompt_eval_duration.unwrap());
        let eval = Duration::from_nanos(s.eval_duration.unwrap());
        let total = Duration::from_nanos(s.total_duration.unwrap());
        assert!(near(prefill, Duration::from_millis(25)), "{prefill:?}");
        assert!(near(eval, Duration::from_millis(160)), "{eval:?}");
        // Queue wait = total − service.
        waits.push(total - prefill - eval);
    }
    waits.sort();
    // Two in service at a time: waits of 0, 0, S, S, 2S, 2S.
    for (i, w) in waits.iter().enumerate() {
        let want = service * (i as u32 / 2);
        assert!(near(*w, want), "wait {i}: {w:?}, want {want:?} ({waits:?})");
    }
    let mut ends: Vec<Duration> = done.iter().map(|(_, e)| *e).collect();
    ends.sort();
    for (i, e) in ends.iter().enumerate() {
        let want = service * (i as u32 / 2 + 1);
        assert!(
            e.abs_diff(want) <= Duration::from_millis(60),
            "completion {i} at {e:?}, want {want:?} ({ends:?})"
        );
    }
    let st = stub.stats();
    assert_eq!(
        (st.arrivals, st.completions, st.in_flight, st.in_service),
        (6, 6, 0, 0)
    );
    assert_eq!(st.peak_in_flight, 6);
    assert_eq!(st.peak_in_service, 2);
    assert_eq!(stats_route(stub.url()).await, st);
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_holds_back_a_request_that_arrives_in_it_once() {
    // Window: 300 ms after the first generation's arrival, for 600 ms.
    let stub = start("fast:pause=600ms@300ms").await;
    let c = client(stub.url(), Protocol::Ollama);
    let t0 = Instant::now();
    let first = call(&c, Endpoint::Generate, "a").await;
    assert!(first.is_ok());
    let first_done = Instant::now();
    assert!(
        first_done - t0 < Duration::from_millis(250),
        "before the window"
    );
    // Arrives about 450 ms after the first: inside the window.
    tokio::time::sleep_until((first_done + Duration::from_millis(450)).into()).await;
    let rec = call(&c, Endpoint::Chat, "b").await;
    let end = Instant::now();
    assert!(rec.is_ok(), "{:?}", rec.error);
    // The first arrived after t0, so the window ends after t0 + 900 ms.
    assert!(
        end - t0 >= Duration::from_millis(900),
        "completed {:?} after t0, inside the window",
        end - t0
    );
    // Exactly once: after the window, no hold.
    let t1 = Instant::now();
    assert!(call(&c, Endpoint::Generate, "c").await.is_ok());
    assert!(
        t1.elapsed() < Duration::from_millis(300),
        "{:?}",
        t1.elapsed()
    );
    assert_eq!(stub.stats().completions, 3);
    stub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_freezes_the_capacity_stubs_slots() {
    // One slot, 200 ms of decode; a 500 ms pause starting 100 ms after arrival.
    let stub =
        start("capacity:slots=1,prefill=1000000,decode=100,tokens=20,pause=500ms@100ms").await;
    let c = client(stub.url(), Protocol::Ollama);
    let t0 = Instant::now();
    let rec = call(&c, Endpoint::Generate, "a").await;
    let took = t0.elapsed();
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert!(
        took >= Duration::from_millis(700) && took <= Duration::from_millis(800),
        "{took:?}: 200 ms of service + 500 ms frozen"
    );
    let eval = Duration::from_nanos(rec.server.eval_duration.unwrap());
    assert!(eval >= Duration::from_millis(690), "{eval:?}");
    stub.shutdown().await;
}
