//! Helpers shared by the benches (each bench includes this with `mod support;`).
//!
//! - criterion settings sized for a shared 2-core machine;
//! - the 1000-chunk NDJSON fixture, produced by the instant stub's own responder;
//! - [`Recorder`]: feeds every measured call into the same HDR histograms
//!   (`agentbench::metrics::hdr::HistogramSet`) as `agentbench run`'s reports, keeps a
//!   bounded tail of raw records, and writes them (records.jsonl + HTML/Markdown/CSV
//!   report + `.hdr`/`.hgrm`) under `reports/bench/<bench>/`;
//! - the CPUs held awake for the whole bench process ([`hold_cpus_awake`]).

#![allow(dead_code)] // every bench uses a different part of this module

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agentbench::agent::Agent;
use agentbench::client::{CallRecord, Endpoint, LlmClient, RequestSettings, ServerInfo, Timeouts};
use agentbench::ingest::{ingest, summarize, DataSummary, IngestOptions};
use agentbench::metrics::hdr::{GroupKey, HistogramSet, LatencyMetric};
use agentbench::metrics::RunSummary;
use agentbench::record::{
    Backend, CorpusInfo, Header, Phase, PhaseSpan, RecordFile, RecordWriter, Stage, StageCall,
    WorkflowRecord,
};
use agentbench::stub::{InstantStub, OllamaResponder, StubProfile, DEFAULT_MODEL};
use criterion::{Criterion, PlottingBackend};

/// Criterion's warm-up; also the recorder's warm-up gate.
pub const WARM_UP: Duration = Duration::from_secs(1);
/// Criterion's measurement time for the fast benches.
pub const MEASUREMENT: Duration = Duration::from_secs(4);
/// Raw records (calls) kept per bench for records.jsonl and the HTML report. The
/// histograms see every measured call; only the raw tail is bounded.
pub const KEEP_CALLS: usize = 2000;

/// The crate root (benches run with the package root as working directory, but
/// paths never depend on it).
pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus.
pub fn mock_data() -> PathBuf {
    manifest_dir().join("mock-data")
}

/// `reports/bench/<bench>/`.
pub fn bench_out(bench: &str) -> PathBuf {
    manifest_dir().join("reports").join("bench").join(bench)
}

/// True under `cargo bench -- --test` (criterion runs every bench once).
pub fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// Criterion settings for the fast benches: 1 s warm-up, 4 s measurement; charts
/// drawn with plotters (SVG; gnuplot is not installed here).
pub fn config() -> Criterion {
    hold_cpus_awake();
    Criterion::default()
        .plotting_backend(PlottingBackend::Plotters)
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
}

/// Holds the CPUs awake (`agentbench::cpu_idle::AwakeCpus`) from the first call
/// until the bench process exits, and says so once, on stderr: the benches measure
/// the harness's own cost, and a halted CPU's wake-up (about 25 µs twice per call to
/// a stub on the other CPU, on the project's VM) is the machine's. Where the device
/// is not writable it says why and measures the machine as it is;
/// `AGENTBENCH_CPU_IDLE=as-is` measures it as it is on purpose. Either way the
/// records' host says which (`cpu_idle.held_awake`).
pub fn hold_cpus_awake() {
    use agentbench::cpu_idle::{AwakeCpus, CpuIdle};
    use std::sync::OnceLock;
    static HOLD: OnceLock<Option<AwakeCpus>> = OnceLock::new();
    HOLD.get_or_init(|| {
        let hold = if std::env::var("AGENTBENCH_CPU_IDLE").is_ok_and(|v| v == "as-is") {
            eprintln!("CPU idle: as the machine has them (AGENTBENCH_CPU_IDLE=as-is)");
            None
        } else {
            AwakeCpus::hold()
                .map_err(|e| eprintln!("CPU idle: as the machine has them ({e})"))
                .ok()
        };
        eprintln!("CPU idle: {}", CpuIdle::current().describe());
        hold
    });
}

/// The tokio runtime the client is measured in: one thread, as `agentbench run`
/// uses (the stubs run on their own threads).
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
}

/// The data summary of `mock-data/`.
pub fn mock_summary() -> DataSummary {
    let corpus = ingest(&mock_data(), &IngestOptions::default()).expect("mock-data/ ingests");
    summarize(&corpus)
}

/// A client with the CLI's default timeouts.
pub fn client(url: &str) -> LlmClient {
    LlmClient::new(url, Timeouts::default()).expect("plain-http client")
}

// ---------------------------------------------------------------------------
// The NDJSON fixture

/// The recorded 1000-chunk `/api/generate` stream.
pub fn fixture_path() -> PathBuf {
    manifest_dir().join("benches/fixtures/generate-1000.ndjson")
}

/// The body the instant stub sends for a streamed `/api/generate` call with
/// `chunks` content chunks (the stub's own body builder, via its responder).
pub fn stub_stream(chunks: usize) -> Vec<u8> {
    stub_body("/api/generate", chunks)
}

/// The instant stub's `/v1/completions` SSE stream of `chunks` content chunks.
pub fn stub_sse_stream(chunks: usize) -> Vec<u8> {
    stub_body("/v1/completions", chunks)
}

/// The instant stub's streamed answer on `path` (a generate or completions route) of
/// `chunks` content chunks.
fn stub_body(path: &str, chunks: usize) -> Vec<u8> {
    let responder = OllamaResponder::new(StubProfile::default().with_chunks(chunks))
        .expect("the instant profile is valid");
    let body = format!(r#"{{"model":"{DEFAULT_MODEL}","prompt":"fixture","stream":true}}"#);
    let reply = responder.handle("POST", path, body.as_bytes());
    assert_eq!(reply.status, 200, "the stub refused the fixture request");
    reply.body
}

/// The fixture's bytes: the committed file, or (when it is missing) a stream built
/// by the stub and written there for next time.
pub fn fixture_1000() -> Vec<u8> {
    let path = fixture_path();
    match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(_) => {
            let bytes = stub_stream(1000);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(&path, &bytes);
            bytes
        }
    }
}

/// Read sizes between 1 and 4 KiB (deterministic), as a TCP/HTTP body arrives:
/// the `(start, end)` byte ranges covering `len` bytes.
pub fn read_ranges(len: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut rng = agentbench::stub::SplitMix64::new(seed);
    let mut out = Vec::new();
    let mut at = 0;
    while at < len {
        let size = 1024 + (rng.next_u64() % 3073) as usize;
        let end = (at + size).min(len);
        out.push((at, end));
        at = end;
    }
    out
}

// ---------------------------------------------------------------------------
// Provenance

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A record-file header like the one `agentbench run` writes.
pub fn header(url: &str, stub: Option<&str>, model: &str, server: ServerInfo) -> Header {
    let root = mock_data();
    let stats = ingest(&root, &IngestOptions::default())
        .map(|c| c.stats())
        .unwrap_or_default();
    let backend = Backend {
        url: url.to_string(),
        protocol: "ollama".into(),
        endpoint: Endpoint::Generate,
        stub: stub.map(str::to_string),
    };
    let corpus = CorpusInfo {
        root: root.display().to_string(),
        stats,
    };
    Header::new(backend, server, model, &RequestSettings::default(), corpus)
}

/// Starts the zero-latency stub with `profile` on `rt`, and returns it with a client
/// for it and the header of a record file measured against it.
pub fn instant_stub_setup(
    rt: &tokio::runtime::Runtime,
    profile: StubProfile,
) -> (InstantStub, LlmClient, Header) {
    let stub = rt
        .block_on(InstantStub::start(profile))
        .expect("the instant stub starts");
    let client = client(stub.url());
    let server = rt
        .block_on(client.server_info(DEFAULT_MODEL))
        .expect("the stub serves its model");
    let header = header(stub.url(), Some("instant"), DEFAULT_MODEL, server);
    (stub, client, header)
}

/// Runs `agent` `iters` times, feeding each run to `recorder`; returns the summed wall
/// time of the runs (criterion's `iter_custom` measure, recording kept outside it).
pub async fn time_runs(
    agent: &Agent,
    recorder: &std::cell::RefCell<Recorder>,
    iters: u64,
) -> Duration {
    recorder.borrow_mut().begin_batch();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        let run = agent.run_once(0).await;
        let wall = t.elapsed();
        total += wall;
        recorder.borrow_mut().record_run(t, wall, run);
    }
    total
}

/// Benches `agent.run_once` against a live server (Ollama, llama.cpp): 10 flat
/// samples of one run each after 1 s of warm-up, every run fed to `recorder`;
/// then prints the runs recorded and the phase medians. Returns the recorder.
pub fn bench_live_workflow(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    bench: &str,
    model: &str,
    measurement: Duration,
    agent: &Agent,
    recorder: Recorder,
) -> Recorder {
    let recorder = std::cell::RefCell::new(recorder);
    let mut g = c.benchmark_group(bench);
    g.sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(measurement);
    g.bench_function(criterion::BenchmarkId::new("run_once", model), |b| {
        b.to_async(rt).iter_custom(|iters| {
            let recorder = &recorder;
            time_runs(agent, recorder, iters)
        })
    });
    g.finish();
    let r = recorder.into_inner();
    if r.recorded_runs > 0 {
        let failed = r.runs.iter().filter(|w| w.failure.is_some()).count();
        println!(
            "{bench}: {} runs recorded ({failed} with a failed call); phase medians (ms): {}",
            r.recorded_runs,
            phase_line(&r.run_summary())
        );
    }
    r
}

// ---------------------------------------------------------------------------
// The recorder

/// Collects what one bench configuration measured.
///
/// Warm-up: criterion's warm-up calls the routine too. Calls that *start* before
/// `WARM_UP` has passed since the first batch began are counted in `warm_up_calls`
/// and not recorded (the tail of criterion's last warm-up batch may still be
/// recorded: steady-state calls). Under `--test` nothing is gated.
pub struct Recorder {
    /// Group key of the histograms (`stub:instant` / `ollama@URL`, bench config).
    pub key: GroupKey,
    /// The header for records.jsonl and the report.
    pub header: Header,
    /// Subfolder under `reports/bench/<bench>/`.
    pub dir: String,
    /// Histograms of every recorded call.
    pub histograms: HistogramSet,
    /// The last runs (bounded by [`KEEP_CALLS`] calls).
    pub runs: VecDeque<WorkflowRecord>,
    kept_calls: usize,
    gate: Option<Instant>,
    /// Calls left out as warm-up.
    pub warm_up_calls: u64,
    /// Runs recorded (after warm-up).
    pub recorded_runs: u64,
    /// Calls recorded (after warm-up).
    pub recorded_calls: u64,
    /// Per recorded call or run: (wall ns as timed by the bench, sum of the server's
    /// `total_duration` ns when every call reported one), bounded like the runs.
    pub samples: VecDeque<(u64, Option<u64>)>,
    keep_calls: usize,
    next_index: u32,
}

impl Recorder {
    /// A recorder for one configuration.
    pub fn new(backend: &str, config: &str, dir: &str, header: Header) -> Self {
        Self {
            key: GroupKey {
                backend: backend.to_string(),
                config: config.to_string(),
            },
            header,
            dir: dir.to_string(),
            histograms: HistogramSet::default(),
            runs: VecDeque::new(),
            kept_calls: 0,
            gate: None,
            warm_up_calls: 0,
            recorded_runs: 0,
            recorded_calls: 0,
            samples: VecDeque::new(),
            keep_calls: KEEP_CALLS,
            next_index: 0,
        }
    }

    /// Keeps at most `calls` raw calls (default [`KEEP_CALLS`]).
    pub fn keep_at_most(mut self, calls: usize) -> Self {
        self.keep_calls = calls.max(1);
        self
    }

    /// Call at the start of every batch of iterations: starts the warm-up gate.
    pub fn begin_batch(&mut self) {
        if self.gate.is_none() {
            let warm = if test_mode() { Duration::ZERO } else { WARM_UP };
            self.gate = Some(Instant::now() + warm);
        }
    }

    fn in_warm_up(&self, started: Instant) -> bool {
        self.gate.is_some_and(|g| started < g)
    }

    fn keep(&mut self, run: WorkflowRecord) {
        self.kept_calls += run.calls.len();
        self.runs.push_back(run);
        while self.kept_calls > self.keep_calls {
            match self.runs.pop_front() {
                Some(old) => self.kept_calls -= old.calls.len(),
                None => break,
            }
        }
    }

    fn push_sample(&mut self, wall: Duration, calls: &[&CallRecord]) {
        let wall_ns = u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX);
        let server = calls
            .iter()
            .map(|c| c.server.server_ns())
            .sum::<Option<u64>>();
        self.samples.push_back((wall_ns, server));
        if self.samples.len() > self.keep_calls {
            self.samples.pop_front();
        }
    }

    /// Records one bare call that started at `started` and took `wall` (as timed by
    /// the bench). Kept as a one-call run (stage analysis, one AnalysisCall phase).
    pub fn record_call(
        &mut self,
        started: Instant,
        wall: Duration,
        prompt: &str,
        call: CallRecord,
    ) {
        if self.in_warm_up(started) {
            self.warm_up_calls += 1;
            return;
        }
        self.histograms.entry(self.key.clone()).record_call(&call);
        self.recorded_calls += 1;
        self.recorded_runs += 1;
        self.push_sample(wall, &[&call]);
        let wall_ns = u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX);
        let started_unix_ns = call.started_unix_ns;
        let run = WorkflowRecord {
            phases: vec![PhaseSpan {
                phase: Phase::AnalysisCall,
                start_ns: 0,
                end_ns: wall_ns,
            }],
            calls: vec![StageCall {
                stage: Stage::Analysis,
                prompt: prompt.to_string(),
                call,
            }],
            ..WorkflowRecord::new(self.next_index, started_unix_ns)
        };
        self.next_index = self.next_index.wrapping_add(1);
        self.keep(run);
    }

    /// Records one workflow run that started at `started` and took `wall`.
    pub fn record_run(&mut self, started: Instant, wall: Duration, mut run: WorkflowRecord) {
        if self.in_warm_up(started) {
            self.warm_up_calls += run.calls.len() as u64;
            return;
        }
        let set = self.histograms.entry(self.key.clone());
        set.record_run(&run);
        self.recorded_calls += run.calls.len() as u64;
        self.recorded_runs += 1;
        let calls: Vec<&CallRecord> = run.calls.iter().map(|c| &c.call).collect();
        self.push_sample(wall, &calls);
        run.run_index = self.next_index;
        self.next_index = self.next_index.wrapping_add(1);
        self.keep(run);
    }

    /// Writes `reports/bench/<bench>/<dir>/records.jsonl` and the report of the kept
    /// runs there. Nothing is written when nothing was recorded (bench filtered out).
    pub fn write(&self, bench: &str) -> Result<Option<PathBuf>, String> {
        if self.runs.is_empty() {
            return Ok(None);
        }
        let dir = bench_out(bench).join(&self.dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("records.jsonl");
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let mut writer = RecordWriter::create(&path, &self.header).map_err(|e| e.to_string())?;
        for run in &self.runs {
            writer.append(run).map_err(|e| e.to_string())?;
        }
        let file = RecordFile {
            header: self.header.clone(),
            runs: self.runs.iter().cloned().collect(),
            skipped: vec![],
        };
        agentbench::report::write_report(&[file], &dir).map_err(|e| e.to_string())?;
        Ok(Some(dir))
    }

    /// Summary of the kept runs (phase and stage quantiles).
    pub fn run_summary(&self) -> RunSummary {
        let runs: Vec<WorkflowRecord> = self.runs.iter().cloned().collect();
        RunSummary::of(&runs)
    }

    /// Median and p95 in µs of (wall − server total_duration) over the kept samples,
    /// and the median server total in µs.
    pub fn beyond_server_us(&self) -> Option<((f64, f64), f64)> {
        let with_server: Vec<(u64, u64)> = self
            .samples
            .iter()
            .filter_map(|&(w, s)| s.map(|s| (w, s)))
            .collect();
        let beyond = p50_p95_us(with_server.iter().map(|&(w, s)| w as i64 - s as i64))?;
        let server = p50_p95_us(with_server.iter().map(|&(_, s)| s as i64))?;
        Some((beyond, server.0))
    }

    /// Median wall time of the kept samples in µs.
    pub fn wall_median_us(&self) -> Option<f64> {
        p50_p95_us(self.samples.iter().map(|&(w, _)| w as i64)).map(|(m, _)| m)
    }

    /// Quantile of a metric's histogram in µs (`None` when empty).
    pub fn hist_us(&self, metric: LatencyMetric, q: f64) -> Option<u64> {
        let h = self.histograms.groups.get(&self.key)?.get(metric);
        (!h.is_empty()).then(|| h.value_at_quantile(q))
    }
}

/// Writes every recorder's report and the pooled histograms
/// (`reports/bench/<bench>/hdr/`), and prints where they went.
pub fn finish(bench: &str, recorders: &[&Recorder]) {
    let mut set = HistogramSet::default();
    let mut any = false;
    for r in recorders {
        if r.recorded_calls == 0 {
            continue;
        }
        any = true;
        set.merge(&r.histograms)
            .expect("histograms of agentbench share one range");
        match r.write(bench) {
            Ok(Some(dir)) => println!(
                "{bench}: {} calls recorded ({} kept raw, {} warm-up calls left out) -> {}",
                r.recorded_calls,
                r.runs.iter().map(|w| w.calls.len()).sum::<usize>(),
                r.warm_up_calls,
                dir.display()
            ),
            Ok(None) => {}
            Err(e) => eprintln!("{bench}: cannot write the report: {e}"),
        }
    }
    if any {
        let dir = bench_out(bench).join("hdr");
        if let Err(e) = set.write_dir(&dir) {
            eprintln!("{bench}: cannot write histograms: {e}");
        }
    }
}

/// Median and 95th percentile of `ns` samples in µs, `(p50, p95)`.
pub fn p50_p95_us(samples: impl IntoIterator<Item = i64>) -> Option<(f64, f64)> {
    let mut v: Vec<i64> = samples.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
    Some((at(0.5), at(0.95)))
}

/// Phase medians of the kept runs, one line, in ms.
pub fn phase_line(summary: &RunSummary) -> String {
    let names: BTreeMap<Phase, &str> = BTreeMap::from([
        (Phase::Ingest, "ingest"),
        (Phase::AnalysisPrompt, "analysis_prompt"),
        (Phase::AnalysisCall, "analysis_call"),
        (Phase::Parse, "parse"),
        (Phase::ReportPrompt, "report_prompt"),
        (Phase::ReportCall, "report_call"),
    ]);
    summary
        .phases_ms
        .iter()
        .map(|(p, q)| format!("{} {:.3}", names.get(p).copied().unwrap_or("?"), q.median))
        .collect::<Vec<_>>()
        .join(", ")
}
