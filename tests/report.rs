//! The report renders from a fixture record set with known timings, escapes
//! everything that comes from records, and states the figures the fixture implies.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use agentbench::client::{
    CallError, CallRecord, Endpoint, ErrorKind, RequestSettings, ServerFields, ServerInfo,
};
use agentbench::metrics::hdr::LatencyMetric;
use agentbench::provenance::{Harness, Host};
use agentbench::record::{
    read_records, Backend, CorpusInfo, Header, Phase, PhaseSpan, RecordFile, RecordWriter, Stage,
    StageCall, StartState, WorkflowRecord, SCHEMA_VERSION,
};
use agentbench::report::{escape_html, write_report, write_report_named, ReportInput};

const MS: u64 = 1_000_000;
const EVIL_MODEL: &str = "<script>alert(1)</script>";
const EVIL_RESPONSE: &str = "ok <script>alert(1)</script> \"><img src=x onerror=alert(1)>";

fn header(model: &str, stub: Option<&str>, url: &str, settings: RequestSettings) -> Header {
    Header {
        schema_version: SCHEMA_VERSION,
        harness: Harness::current(),
        created_unix_ns: 1_700_000_000_000_000_000,
        host: Host::current(),
        backend: Backend {
            url: url.into(),
            protocol: "ollama".into(),
            endpoint: Endpoint::Generate,
            stub: stub.map(str::to_string),
        },
        server: ServerInfo {
            version: Some("0.9.0".into()),
            model_digest: Some("sha256:abc".into()),
            ..ServerInfo::default()
        },
        model: model.into(),
        settings,
        corpus: CorpusInfo {
            root: "corpus".into(),
            stats: Default::default(),
        },
        prompt_templates: BTreeMap::new(),
    }
}

/// A completed call: chunks at ttft, +10, +30 ms; final object at +40 ms; server
/// total 2 ms less than E2E (client overhead 2 ms), load 1, prefill 5, decode 20.
fn call(model: &str, ttft_ms: u64, response: &str) -> CallRecord {
    let t = ttft_ms * MS;
    CallRecord {
        endpoint: Endpoint::Generate,
        model: model.into(),
        settings: RequestSettings::default(),
        prompt_sha256: "00".into(),
        prompt_bytes: 10,
        started_unix_ns: 0,
        http_status: Some(200),
        headers_ns: Some(t / 2),
        chunk_ns: vec![t, t + 10 * MS, t + 30 * MS],
        end_ns: Some(t + 40 * MS),
        bytes: Some(100),
        lines: 4,
        response: response.into(),
        thinking: String::new(),
        server: ServerFields {
            total_duration: Some(t + 38 * MS),
            load_duration: Some(MS),
            prompt_eval_count: Some(20),
            prompt_eval_duration: Some(5 * MS),
            eval_count: Some(3),
            eval_duration: Some(20 * MS),
            done_reason: Some("stop".into()),
            ..ServerFields::default()
        },
        error: None,
        attempt: 1,
        retried_errors: Vec::new(),
        cost: Default::default(),
    }
}

fn run(index: u32, analysis: CallRecord, report: Option<CallRecord>) -> WorkflowRecord {
    let mut phases = vec![
        PhaseSpan {
            phase: Phase::Ingest,
            start_ns: 0,
            end_ns: 5 * MS,
        },
        PhaseSpan {
            phase: Phase::AnalysisPrompt,
            start_ns: 5 * MS,
            end_ns: 6 * MS,
        },
    ];
    let a_end = 6 * MS + analysis.end_ns.unwrap_or(0) + MS;
    phases.push(PhaseSpan {
        phase: Phase::AnalysisCall,
        start_ns: 6 * MS,
        end_ns: a_end,
    });
    let mut calls = vec![StageCall {
        stage: Stage::Analysis,
        prompt: "analyse".into(),
        call: analysis,
    }];
    let failure = if let Some(report) = report {
        let p_end = a_end + MS;
        phases.push(PhaseSpan {
            phase: Phase::Parse,
            start_ns: a_end,
            end_ns: p_end,
        });
        phases.push(PhaseSpan {
            phase: Phase::ReportPrompt,
            start_ns: p_end,
            end_ns: p_end + MS,
        });
        phases.push(PhaseSpan {
            phase: Phase::ReportCall,
            start_ns: p_end + MS,
            end_ns: p_end + 2 * MS + report.end_ns.unwrap(),
        });
        calls.push(StageCall {
            stage: Stage::Report,
            prompt: "report".into(),
            call: report,
        });
        None
    } else {
        Some(agentbench::record::RunFailure {
            stage: agentbench::record::FailedStep::Analysis,
            message: "truncated".into(),
        })
    };
    WorkflowRecord {
        run_index: index,
        started_unix_ns: 0,
        start_state: StartState::AsIs,
        corpus_files: 3,
        phases,
        calls,
        analysis: None,
        failure,
        config: None,
        round: None,
        warmup: false,
        expected_reload: false,
    }
}

/// Group A (stub, evil model name): analysis TTFTs 100, 200, 300 ms plus one
/// truncated call whose only chunk came at 999 ms; report TTFTs 50 ms.
/// Group B (ollama URL, num_ctx=2048): analysis TTFTs 400, 500, 600 ms.
/// File A also gets a torn last line.
fn fixture(dir: &Path) -> (RecordFile, RecordFile) {
    let pa = dir.join("a.jsonl");
    let mut w = RecordWriter::create(
        &pa,
        &header(
            EVIL_MODEL,
            Some("instant"),
            "http://127.0.0.1:1",
            RequestSettings::default(),
        ),
    )
    .unwrap();
    for (i, t) in [100, 200, 300].into_iter().enumerate() {
        w.append(&run(
            i as u32,
            call(EVIL_MODEL, t, EVIL_RESPONSE),
            Some(call(EVIL_MODEL, 50, "report text")),
        ))
        .unwrap();
    }
    let mut failed = call(EVIL_MODEL, 999, "partial");
    failed.chunk_ns.truncate(1);
    failed.end_ns = None;
    failed.server = ServerFields::default();
    failed.error = Some(CallError {
        kind: ErrorKind::Truncated,
        message: "stream ended before done <b>at</b> http://127.0.0.1:1".into(),
    });
    w.append(&run(3, failed, None)).unwrap();
    drop(w);
    let mut f = std::fs::OpenOptions::new().append(true).open(&pa).unwrap();
    f.write_all(b"{\"kind\":\"workflow\",\"torn").unwrap();
    drop(f);

    let pb = dir.join("b.jsonl");
    let settings = RequestSettings::from_pairs(&["num_ctx=2048"]).unwrap();
    let mut w = RecordWriter::create(
        &pb,
        &header("llama3", None, "http://127.0.0.1:11434", settings),
    )
    .unwrap();
    for (i, t) in [400, 500, 600].into_iter().enumerate() {
        w.append(&run(
            i as u32,
            call("llama3", t, "fine"),
            Some(call("llama3", 60, "report")),
        ))
        .unwrap();
    }
    drop(w);
    (read_records(&pa).unwrap(), read_records(&pb).unwrap())
}

fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn escape_html_neutralises_payloads() {
    assert_eq!(
        escape_html("<script>alert(1)</script>"),
        "&lt;script&gt;alert(1)&lt;/script&gt;"
    );
    assert_eq!(
        escape_html("\"><img src=x onerror=alert(1)>"),
        "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
    );
    assert_eq!(escape_html("a&b 'c'"), "a&amp;b &#39;c&#39;");
    assert_eq!(escape_html("plain µs"), "plain µs");
}

#[test]
fn report_renders_every_plot_self_contained_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = fixture(dir.path());
    assert_eq!(a.runs.len(), 4);
    assert_eq!(a.skipped.len(), 1, "the torn line is skipped");
    let out = dir.path().join("report");
    let inputs = [
        ReportInput {
            name: "records/<b>a</b>.jsonl",
            file: &a,
        },
        ReportInput {
            name: "b.jsonl",
            file: &b,
        },
    ];
    let paths = write_report_named(&inputs, &out).unwrap();
    // To look at the fixture's report: AGENTBENCH_KEEP_REPORT=/some/dir cargo test.
    if let Some(keep) = std::env::var_os("AGENTBENCH_KEEP_REPORT") {
        write_report_named(&inputs, Path::new(&keep)).unwrap();
    }
    let html = std::fs::read_to_string(&paths.index_html).unwrap();

    for id in [
        "plot-ttft",
        "plot-itl",
        "plot-e2e",
        "plot-client-overhead",
        "plot-phases",
        "plot-workflow",
        "plot-itl-position",
        "plot-config",
    ] {
        let tag = format!("<figure id=\"{id}\">");
        let at = html.find(&tag).unwrap_or_else(|| panic!("{id} missing"));
        assert!(
            html[at..]
                .trim_start_matches(&tag)
                .trim_start()
                .starts_with("<svg"),
            "{id} has an inline svg"
        );
    }
    let lower = html.to_lowercase();
    assert!(
        !lower.contains("<script"),
        "no script element, escaped or not"
    );
    for bad in [
        "<img", "<link", "<iframe", "<object", "<embed", "@import", "url(", "href=", "src=\"",
        "src='",
    ] {
        assert!(
            !lower.contains(bad),
            "external reference or unescaped markup: {bad}"
        );
    }
    // The only `http` outside escaped text is the SVG namespace.
    for (i, _) in html.match_indices("http") {
        let before = &html[i.saturating_sub(7)..i];
        let in_text = html[..i]
            .rfind('<')
            .zip(html[..i].rfind('>'))
            .is_some_and(|(lt, gt)| gt > lt);
        assert!(
            before.ends_with("xmlns=\"") || in_text,
            "http in a tag at {i}: {}",
            &html[i.saturating_sub(40)..i + 30]
        );
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped model name / response shown"
    );
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        html.contains("records/&lt;b&gt;a&lt;/b&gt;.jsonl"),
        "escaped file name"
    );
    assert!(
        !html.contains("<b>"),
        "error message and file name markup escaped"
    );
    assert!(html.contains("stream ended before done &lt;b&gt;at&lt;/b&gt;"));
    assert!(
        html.contains("unexpected end") || html.contains("EOF"),
        "skipped line reason shown"
    );
    assert!(
        html.contains("0.9.0") && html.contains("sha256:abc"),
        "provenance shown"
    );

    // Histogram files for both groups and every metric.
    assert_eq!(paths.histograms.len(), 2 * LatencyMetric::ALL.len());
    for h in &paths.histograms {
        assert!(h.hdr.exists() && h.hgrm.exists());
        assert!(h.hdr.starts_with(out.join("hdr")));
    }
    let ttft_a = paths
        .histograms
        .iter()
        .find(|h| h.metric == LatencyMetric::Ttft && h.group.backend == "stub:instant")
        .unwrap();
    let hist = agentbench::report::hdr_files::read_hdr_file(&ttft_a.hdr).unwrap();
    assert_eq!(
        hist.len(),
        6,
        "3 analysis + 3 report TTFTs; the failed call adds none"
    );
    assert!(
        hist.max() < 301_000,
        "the failed call's 999 ms chunk is not a sample"
    );
}

#[test]
fn summaries_state_the_fixture_figures_and_count_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = fixture(dir.path());
    let out = dir.path().join("report");
    let paths = write_report(&[a, b], &out).unwrap();

    // Expected from the fixture's known values.
    let ttft_a = median(&mut [100.0, 200.0, 300.0]);
    let ttft_b = median(&mut [400.0, 500.0, 600.0]);
    assert_eq!((ttft_a, ttft_b), (200.0, 500.0));

    let csv = std::fs::read_to_string(&paths.summary_csv).unwrap();
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 4, "2 groups × 2 stages");
    let find = |backend: &str, stage: &str| {
        rows.iter()
            .find(|r| r["backend"] == backend && r["stage"] == stage)
            .unwrap_or_else(|| panic!("row {backend} {stage}"))
    };
    let a_an = find("stub:instant", "analysis");
    assert_eq!(a_an["ttft_median_ms"].parse::<f64>().unwrap(), ttft_a);
    assert_eq!(a_an["calls"], "4");
    assert_eq!(a_an["ok"], "3");
    assert_eq!(a_an["errors"], "truncated=1");
    assert_eq!(a_an["ttft_n"], "3", "the failed call adds no TTFT sample");
    assert_eq!(a_an["itl_n"], "6", "2 gaps × 3 completed calls");
    assert_eq!(
        a_an["client_overhead_median_ms"].parse::<f64>().unwrap(),
        2.0
    );
    assert_eq!(a_an["decode_tps_median"].parse::<f64>().unwrap(), 150.0);
    let b_an = find("ollama@http://127.0.0.1:11434", "analysis");
    assert_eq!(b_an["ttft_median_ms"].parse::<f64>().unwrap(), ttft_b);
    assert_eq!(b_an["errors"], "");
    assert!(b_an["config"].contains("num_ctx=2048"));
    assert_eq!(
        find("stub:instant", "report")["ttft_median_ms"]
            .parse::<f64>()
            .unwrap(),
        50.0
    );

    let md = std::fs::read_to_string(&paths.summary_md).unwrap();
    let a_line = md
        .lines()
        .find(|l| l.starts_with("| G1 | analysis |"))
        .expect("group A analysis row");
    assert!(a_line.contains(&format!("{ttft_a:.3} / ")), "{a_line}");
    assert!(
        a_line.contains("3/4") && a_line.contains("truncated=1"),
        "{a_line}"
    );
    let b_line = md
        .lines()
        .find(|l| l.starts_with("| G2 | analysis |"))
        .unwrap();
    assert!(b_line.contains(&format!("{ttft_b:.3} / ")), "{b_line}");
    assert!(!md.contains("<script"), "markdown escapes the model name");
    assert!(md.contains("Skipped record lines"));

    let html = std::fs::read_to_string(&paths.index_html).unwrap();
    assert!(html.contains("input 1") && html.contains("input 2"));
}

#[test]
fn one_group_renders_without_the_comparison_plot() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = fixture(dir.path());
    let paths = write_report(&[a], &dir.path().join("r")).unwrap();
    let html = std::fs::read_to_string(paths.index_html).unwrap();
    assert!(html.contains("id=\"plot-ttft\""));
    assert!(!html.contains("id=\"plot-config\""));
    assert!(html.contains("One configuration only"));
}

/// The lead says where the server parts came from for each protocol recorded:
/// Ollama's final-chunk fields only for Ollama, llama.cpp's `timings` for an
/// OpenAI-compatible backend.
#[test]
fn the_lead_names_the_server_parts_source_per_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (a, mut b) = fixture(dir.path());
    b.header.backend.protocol = "openai".into();

    let paths = write_report(std::slice::from_ref(&b), &dir.path().join("openai")).unwrap();
    let html = std::fs::read_to_string(paths.index_html).unwrap();
    assert!(
        !html.contains("final-chunk") && !html.contains("final chunk"),
        "openai only: {html}"
    );
    assert!(html.contains("llama.cpp's <code>timings</code>"));

    let paths = write_report(&[a, b], &dir.path().join("both")).unwrap();
    let html = std::fs::read_to_string(paths.index_html).unwrap();
    assert!(html.contains("over Ollama's protocol, from the final chunk's fields"));
    assert!(html.contains("over the OpenAI-compatible protocol, from llama.cpp's"));
}
