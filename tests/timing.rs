//! Measured timings against the paced stub's known truth: TTFT 200 ms, then 50
//! gaps of 20 ms (profile `paced`). Tolerances allow a noisy 2-core machine.

use std::time::Duration;

use agentbench::client::{CallRequest, Endpoint, OllamaClient, RequestSettings, Timeouts};
use agentbench::metrics::CallMetrics;
use agentbench::metrics::stats::{percentile_sorted, sorted};
use agentbench::stub::{PacedStub, StubProfile};

#[tokio::test(flavor = "current_thread")]
async fn ttft_and_gaps_match_the_paced_truth() {
    let profile = StubProfile::named("paced").unwrap();
    let stub = PacedStub::start(profile).await.unwrap();
    let client = OllamaClient::new(stub.url(), Timeouts::default()).unwrap();
    let settings = RequestSettings::default();
    let request = CallRequest {
        endpoint: Endpoint::Generate,
        model: "gemma3:latest",
        prompt: "Measure me.",
        settings: &settings,
    };
    // A warm-up call opens the connection, as the workflow's second call finds it.
    let _ = client.call(&request).await;
    let rec = client.call(&request).await;
    assert!(rec.is_ok(), "{:?}", rec.error);
    let m = CallMetrics::new(&rec);

    let ttft = m.ttft().unwrap();
    let truth = Duration::from_millis(200);
    let err_ms = (ttft.as_secs_f64() - truth.as_secs_f64()).abs() * 1e3;
    assert!(err_ms <= 5.0, "TTFT {ttft:?} vs truth {truth:?}");

    let gaps_ms = sorted(m.itl().map(|d| d.as_secs_f64() * 1e3));
    assert_eq!(gaps_ms.len(), 50, "50 gaps between 51 chunks");
    let median = percentile_sorted(&gaps_ms, 50.0).unwrap();
    assert!((median - 20.0).abs() <= 3.0, "median gap {median} ms");

    // The stub's clock and ours agree: the harness adds little on top.
    let overhead_ms = m.client_overhead_ns().unwrap() as f64 / 1e6;
    assert!(
        (-1.0..=10.0).contains(&overhead_ms),
        "client overhead {overhead_ms} ms"
    );
    let e2e = m.e2e().unwrap();
    assert!(e2e >= Duration::from_millis(200 + 50 * 20 - 10), "E2E {e2e:?}");
}
