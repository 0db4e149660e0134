//! Measured timings against the paced stub's known truth: TTFT 200 ms, then 50
//! gaps of 20 ms (profile `paced`). Tolerances allow a noisy 2-core machine.

use std::time::Duration;

use agentbench::client::{CallRequest, Endpoint, LlmClient, RequestSettings, Timeouts};
use agentbench::metrics::stats::{percentile_sorted, sorted};
use agentbench::metrics::CallMetrics;
use agentbench::stub::{PacedStub, StubProfile};

#[tokio::test(flavor = "current_thread")]
async fn ttft_and_gaps_match_the_paced_truth() {
    let profile = StubProfile::named("paced").unwrap();
    let stub = PacedStub::start(profile).await.unwrap();
    let client = LlmClient::new(stub.url(), Timeouts::default()).unwrap();
    let settings = RequestSettings::default();
    let request = CallRequest {
        endpoint: Endpoint::Generate,
        model: "gemma3:latest",
        prompt: "Measure me.",
        settings: &settings,
    };
    // A warm-up call opens the connection, as the workflow's second call finds it.
    let _ = client.call(&request).await;
    // Three measured calls; the median resists one descheduled call on a busy machine.
    let mut records = Vec::new();
    for _ in 0..3 {
        let rec = client.call(&request).await;
        assert!(rec.is_ok(), "{:?}", rec.error);
        records.push(rec);
    }
    let calls: Vec<CallMetrics<'_>> = records.iter().map(CallMetrics::new).collect();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;

    let ttfts = sorted(calls.iter().map(|m| ms(m.ttft().unwrap())));
    let ttft = percentile_sorted(&ttfts, 50.0).unwrap();
    assert!(
        (ttft - 200.0).abs() <= 5.0,
        "median TTFT {ttft} ms vs truth 200 ms ({ttfts:?})"
    );

    for m in &calls {
        assert_eq!(m.itl().count(), 50, "50 gaps between 51 chunks");
    }
    let gaps = sorted(calls.iter().flat_map(|m| m.itl()).map(ms));
    let median = percentile_sorted(&gaps, 50.0).unwrap();
    assert!(
        (median - 20.0).abs() <= 3.0,
        "median gap {median} ms vs truth 20 ms"
    );

    // The stub's clock and ours agree: the harness adds little on top.
    let overheads = sorted(
        calls
            .iter()
            .map(|m| m.client_overhead_ns().unwrap() as f64 / 1e6),
    );
    let overhead = percentile_sorted(&overheads, 50.0).unwrap();
    assert!(
        (-1.0..=10.0).contains(&overhead),
        "client overhead {overhead} ms"
    );
    for m in &calls {
        let e2e = m.e2e().unwrap();
        assert!(
            e2e >= Duration::from_millis(200 + 50 * 20 - 10),
            "E2E {e2e:?}"
        );
    }
}
