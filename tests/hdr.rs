//! HDR histograms: `.hgrm` text, merging, V2 round trips, and feeding from records.

use std::path::PathBuf;

use agentbench::client::{
    CallError, CallRecord, Endpoint, ErrorKind, RequestSettings, ServerFields,
};
use agentbench::metrics::hdr::{
    new_histogram, percentile_distribution, HdrError, LatencyHistograms, LatencyMetric, HGRM_SCALE,
};
use agentbench::report::hdr_files::{merge_hdr_files, read_hdr_file, write_hdr_file};
use hdrhistogram::Histogram;

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Long-tailed pseudo-random samples in µs (1 µs .. ~10 s).
fn samples(n: usize, mut seed: u64) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let r = xorshift(&mut seed);
            let mag = r % 7;
            1 + (xorshift(&mut seed) % 10u64.pow(mag as u32 + 1))
        })
        .collect()
}

fn hist_of(values: &[u64]) -> Histogram<u64> {
    let mut h = new_histogram();
    for &v in values {
        h.record(v).unwrap();
    }
    h
}

struct Row {
    value: f64,
    quantile: f64,
    total: u64,
}

/// A parser for HdrHistogram's percentile-distribution text.
fn parse_hgrm(text: &str) -> (Vec<Row>, u64, f64) {
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "       Value     Percentile TotalCount 1/(1-Percentile)"
    );
    assert_eq!(lines.next().unwrap(), "");
    let mut rows = Vec::new();
    let mut total_count = None;
    let mut max = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("#[Max     = ") {
            let (m, t) = rest.split_once(", Total count    = ").unwrap();
            max = Some(m.trim().parse::<f64>().unwrap());
            total_count = Some(t.trim_end_matches(']').trim().parse::<u64>().unwrap());
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(cols.len() == 4 || cols.len() == 3, "bad row {line:?}");
        rows.push(Row {
            value: cols[0].parse().unwrap(),
            quantile: cols[1].parse().unwrap(),
            total: cols[2].parse().unwrap(),
        });
    }
    (
        rows,
        total_count.expect("#[Max line"),
        max.expect("#[Max line"),
    )
}

#[test]
fn hgrm_text_parses_back_to_the_histograms_percentiles() {
    let values = samples(20_000, 0x1234_5678);
    let h = hist_of(&values);
    let text = percentile_distribution(&h, 5, HGRM_SCALE);
    let (rows, total, max) = parse_hgrm(&text);
    assert!(rows.len() > 50, "5 ticks per half distance gives many rows");
    assert_eq!(total, h.len());
    assert_eq!(rows.last().unwrap().total, h.len());
    assert_eq!(rows.last().unwrap().quantile, 1.0);
    assert!((max * 1000.0 - h.max() as f64).abs() < 0.5);
    let mut last_q = -1.0;
    for r in &rows {
        assert!(r.quantile > last_q, "percentiles strictly increase");
        last_q = r.quantile;
        // The quantile column is printed with 12 decimals, and the iterator's tick
        // quantile and value_at_quantile's rank may differ by an ulp (hdrhistogram
        // documents it): the value must lie between the values at q ± 1e-11; the
        // value column has 3 decimals of ms = 1 µs resolution.
        let lo = h.value_at_quantile((r.quantile - 1e-11).max(0.0)) as f64;
        let hi = h.value_at_quantile((r.quantile + 1e-11).min(1.0)) as f64;
        let got_us = r.value * 1000.0;
        assert!(
            got_us >= lo - 0.5 && got_us <= hi + 0.5,
            "q={} hgrm {got_us} µs outside value_at_quantile [{lo}, {hi}] µs",
            r.quantile
        );
    }
    assert!(text.contains("#[Buckets = "));
    assert!(text.contains("SubBuckets     =         2048]"));
    assert!(text.contains("#[Mean    = "));
}

#[test]
fn merging_equals_recording_both_sample_sets() {
    let a = samples(5_000, 7);
    let b = samples(3_000, 99);
    let mut merged = hist_of(&a);
    merged.add(hist_of(&b)).unwrap();
    let both: Vec<u64> = a.iter().chain(&b).copied().collect();
    let direct = hist_of(&both);
    assert_eq!(merged.len(), direct.len());
    assert_eq!(merged.len(), 8_000);
    for i in 0..=1000 {
        let q = i as f64 / 1000.0;
        assert_eq!(
            merged.value_at_quantile(q),
            direct.value_at_quantile(q),
            "q={q}"
        );
    }
    assert_eq!(merged, direct);
}

#[test]
fn v2_files_round_trip_and_merge_into_hdr_and_hgrm() {
    let dir = tempfile::tempdir().unwrap();
    let a = hist_of(&samples(1_000, 3));
    let b = hist_of(&samples(2_000, 5));
    let pa = dir.path().join("x-ttft.us.hdr");
    let pb = dir.path().join("y-ttft.us.hdr");
    write_hdr_file(&a, &pa).unwrap();
    write_hdr_file(&b, &pb).unwrap();
    assert_eq!(read_hdr_file(&pa).unwrap(), a);
    assert_eq!(read_hdr_file(&pb).unwrap(), b);

    let out = dir.path().join("merged-ttft.us.hdr");
    let merged = merge_hdr_files(&[pa.clone(), pb.clone()], &out).unwrap();
    let mut want = a.clone();
    want.add(&b).unwrap();
    assert_eq!(merged.histogram.len(), 3_000);
    assert_eq!(read_hdr_file(&out).unwrap().len(), 3_000);
    for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(
            merged.histogram.value_at_quantile(q),
            want.value_at_quantile(q)
        );
    }
    assert_eq!(merged.hgrm, dir.path().join("merged-ttft.ms.hgrm"));
    let text = std::fs::read_to_string(&merged.hgrm).unwrap();
    assert_eq!(parse_hgrm(&text).1, 3_000);

    // Different metrics by name are refused; a missing file names its path.
    let pc = dir.path().join("x-e2e.us.hdr");
    write_hdr_file(&a, &pc).unwrap();
    let err = merge_hdr_files(&[pa, pc], &dir.path().join("bad.hdr")).unwrap_err();
    assert!(matches!(err, HdrError::MixedMetrics { .. }), "{err}");
    let missing = PathBuf::from("/nonexistent/zz-itl.us.hdr");
    let err =
        merge_hdr_files(std::slice::from_ref(&missing), &dir.path().join("m.hdr")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/zz-itl.us.hdr"),
        "{err}"
    );
}

fn call(chunks_ms: &[u64], end_ms: u64, total_ms: Option<u64>) -> CallRecord {
    CallRecord {
        endpoint: Endpoint::Generate,
        model: "m".into(),
        settings: RequestSettings::default(),
        prompt_sha256: String::new(),
        prompt_bytes: 0,
        started_unix_ns: 0,
        http_status: Some(200),
        headers_ns: Some(1),
        chunk_ns: chunks_ms.iter().map(|m| m * 1_000_000).collect(),
        end_ns: Some(end_ms * 1_000_000),
        bytes: Some(0),
        lines: chunks_ms.len() as u64 + 1,
        response: String::new(),
        thinking: String::new(),
        server: ServerFields {
            total_duration: total_ms.map(|t| t * 1_000_000),
            ..ServerFields::default()
        },
        error: None,
        attempt: 1,
        retried_errors: Vec::new(),
        cost: Default::default(),
    }
}

#[test]
fn record_call_follows_call_metrics_and_counts_clamps_and_failures() {
    let mut h = LatencyHistograms::new();
    h.record_call(&call(&[100, 110, 130], 140, Some(120)));
    h.record_call(&call(&[200, 201], 210, Some(215))); // overhead −5 ms
    let mut failed = call(&[50, 60], 70, Some(60));
    failed.error = Some(CallError {
        kind: ErrorKind::Truncated,
        message: "cut".into(),
    });
    h.record_call(&failed);

    assert_eq!((h.tally.calls_ok, h.tally.calls_failed), (2, 1));
    let ttft = h.get(LatencyMetric::Ttft);
    assert_eq!(ttft.len(), 2, "the failed call adds no TTFT sample");
    assert!(ttft.equivalent(ttft.min(), 100_000));
    assert!(ttft.equivalent(ttft.max(), 200_000));
    assert_eq!(h.get(LatencyMetric::Itl).len(), 3);
    assert!(h
        .get(LatencyMetric::Itl)
        .equivalent(h.get(LatencyMetric::Itl).min(), 1_000));
    assert_eq!(h.get(LatencyMetric::E2e).len(), 2);
    let over = h.get(LatencyMetric::ClientOverhead);
    assert_eq!(over.len(), 1, "a negative overhead is no sample");
    assert_eq!(h.tally.negative_overhead, 1);
    assert!(over.equivalent(over.max(), 20_000));

    // Beyond one hour: clamped and counted.
    h.record_call(&call(&[4_000_000], 4_000_001, None));
    assert_eq!(h.tally.clamped_high, 2);

    // Merging sets adds counts and counters.
    let mut twice = h.clone();
    twice.merge(&h).unwrap();
    assert_eq!(
        twice.get(LatencyMetric::Ttft).len(),
        2 * h.get(LatencyMetric::Ttft).len()
    );
    assert_eq!(twice.tally.calls_failed, 2);
    assert_eq!(twice.tally.negative_overhead, 2);
}

/// A report builds each metric's histogram on its own (one in memory at a time):
/// the same histogram, and the same counters, as recording the runs whole.
#[test]
fn one_metric_at_a_time_equals_recording_the_runs_whole() {
    use agentbench::metrics::hdr::{metric_histogram, LatencyTally};
    use agentbench::record::{Stage, StageCall, WorkflowRecord};

    let mut failed = call(&[50, 60], 70, Some(60));
    failed.error = Some(CallError {
        kind: ErrorKind::Truncated,
        message: "cut".into(),
    });
    let calls = [
        call(&[100, 110, 130], 140, Some(120)),
        call(&[200, 201], 210, Some(215)), // negative overhead
        failed,
        call(&[4_000_000], 4_000_001, None), // above one hour
    ];
    let runs: Vec<WorkflowRecord> = calls
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| WorkflowRecord {
            calls: pair
                .iter()
                .zip([Stage::Analysis, Stage::Report])
                .map(|(c, stage)| StageCall {
                    stage,
                    prompt: String::new(),
                    call: c.clone(),
                })
                .collect(),
            ..WorkflowRecord::new(i as u32, 0)
        })
        .collect();
    let mut whole = LatencyHistograms::new();
    for r in &runs {
        whole.record_run(r);
    }
    for m in LatencyMetric::ALL {
        assert_eq!(&metric_histogram(m, &runs), whole.get(m), "{m:?}");
    }
    let tally = LatencyTally::of_runs(&runs);
    assert_eq!(
        (
            tally.calls_ok,
            tally.calls_failed,
            tally.negative_overhead,
            tally.clamped_high
        ),
        (3, 1, 1, 2)
    );
    assert_eq!(
        (
            whole.tally.calls_ok,
            whole.tally.calls_failed,
            whole.tally.negative_overhead,
            whole.tally.clamped_high
        ),
        (3, 1, 1, 2)
    );
}
