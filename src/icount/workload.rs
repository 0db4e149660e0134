//! The workloads measured in instructions. Each does its set-up once, then its
//! measured body `iterations` times; results go through `black_box` so nothing is
//! optimised away.

use std::hint::black_box;
use std::path::Path;

use crate::client::ndjson::{LineSplitter, StreamDecoder, WireChunk};
use crate::ingest::{ingest, summarize, IngestOptions};
use crate::metrics::stats::{compare_samples, BootstrapOpts, CompareOpts, Statistic};
use crate::prompt::{analysis_prompt, parse_analysis, report_prompt};
use crate::stub::{OllamaResponder, StubProfile};

/// A CPU path measured in instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Walk, parse and summarize `mock-data/`.
    Ingest,
    /// Build the analysis prompt, parse a response, build the report prompt.
    Prompts,
    /// Split and decode a recorded 1000-chunk NDJSON stream in 4 KiB reads, with one
    /// `StreamDecoder` as the client decodes a stream.
    Decode,
    /// `compare_samples` on two 200-sample sets with 1000 bootstrap resamples.
    Stats,
    /// [`CALLS_PER_ITERATION`] sequential 64-chunk calls by the client (cost
    /// recording included) to the in-process instant stub over a kept-alive
    /// connection, on a current-thread runtime: runtime, stub, client and connection
    /// are set up once (a warm-up call). The count includes the stub's thread
    /// (callgrind counts every thread); one call's count varies by a few percent
    /// with how the two threads interleave, so an iteration averages several.
    Call,
    /// Only the planted loop: calibrates its cost per step (the gate's own tests).
    Plant,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 5] = [
        Workload::Ingest,
        Workload::Prompts,
        Workload::Decode,
        Workload::Stats,
        Workload::Call,
    ];

    /// Stable name (used in the baseline file and on the command line).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Ingest => "ingest",
            Workload::Prompts => "prompts",
            Workload::Decode => "decode",
            Workload::Stats => "stats",
            Workload::Call => "call",
            Workload::Plant => "plant",
        }
    }

    /// The workload named `name` (including the calibration workload `plant`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([Workload::Plant])
            .find(|w| w.name() == name)
    }
}

/// Extra work: a loop of `steps` integer additions. Used only by the gate's own
/// tests, to plant a known change; 0 does nothing.
fn planted_work(steps: u64) {
    let mut acc = 0u64;
    for i in 0..black_box(steps) {
        acc = acc.wrapping_add(black_box(i));
    }
    black_box(acc);
}

/// Runs `workload` with its set-up once and its body `iterations` times, on the
/// corpus at `corpus`, adding `plant_steps` steps of planted work to every iteration.
pub fn run_workload(
    workload: Workload,
    iterations: u32,
    corpus: &Path,
    plant_steps: u64,
) -> Result<(), String> {
    let opts = IngestOptions::default();
    let plant = || planted_work(plant_steps);
    match workload {
        Workload::Ingest => {
            for _ in 0..iterations {
                let corpus = ingest(corpus, &opts).map_err(|e| e.to_string())?;
                black_box(summarize(&corpus));
                plant();
            }
        }
        Workload::Prompts => {
            let corpus = ingest(corpus, &opts).map_err(|e| e.to_string())?;
            let summary = summarize(&corpus);
            let response = StubProfile::default().text;
            for _ in 0..iterations {
                let prompt = analysis_prompt(&summary);
                let analysis = parse_analysis(&response);
                black_box(report_prompt(&analysis, &summary));
                black_box(prompt);
                plant();
            }
        }
        Workload::Decode => {
            let responder = OllamaResponder::new(StubProfile::default().with_chunks(1000))
                .map_err(|e| e.to_string())?;
            let body = responder
                .handle(
                    "POST",
                    "/api/generate",
                    br#"{"model":"gemma3:latest","prompt":"x"}"#,
                )
                .body;
            for _ in 0..iterations {
                let mut splitter = LineSplitter::default();
                let mut decoder = StreamDecoder::new();
                let mut chars = 0usize;
                for read in body.chunks(4096) {
                    let _ = splitter.push::<()>(read, |line| {
                        let mut chunk = WireChunk::default();
                        if decoder.decode_into(line, &mut chunk).is_ok() {
                            chars += chunk.content().len();
                        }
                        Ok(())
                    });
                }
                black_box(chars);
                plant();
            }
        }
        Workload::Plant => {
            for _ in 0..iterations {
                plant();
            }
        }
        Workload::Call => call_workload(iterations, plant)?,
        Workload::Stats => {
            let a: Vec<f64> = (0..200).map(|i| 100.0 + ((i * 37) % 23) as f64).collect();
            let b: Vec<f64> = (0..200).map(|i| 103.0 + ((i * 41) % 29) as f64).collect();
            let opts = CompareOpts {
                bootstrap: BootstrapOpts {
                    resamples: 1000,
                    ..BootstrapOpts::default()
                },
                statistic: Statistic::Median,
            };
            for _ in 0..iterations {
                black_box(compare_samples(&a, &b, &opts).map_err(|e| e.to_string())?);
                plant();
            }
        }
    }
    Ok(())
}

/// Calls per iteration of [`Workload::Call`].
pub const CALLS_PER_ITERATION: u32 = 16;

/// [`Workload::Call`].
fn call_workload(iterations: u32, plant: impl Fn()) -> Result<(), String> {
    use crate::client::{CallRequest, Endpoint, LlmClient, RequestSettings, Timeouts};
    use crate::stub::InstantStub;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let stub = InstantStub::start(StubProfile::default().with_chunks(64))
            .await
            .map_err(|e| e.to_string())?;
        let client = LlmClient::new(stub.url(), Timeouts::default()).map_err(|e| e.to_string())?;
        let settings = RequestSettings::default();
        let prepared = client.prepare_call(&CallRequest {
            endpoint: Endpoint::Generate,
            model: crate::stub::DEFAULT_MODEL,
            prompt: "x",
            settings: &settings,
        });
        let call = || client.call_prepared(&prepared, std::time::Instant::now());
        if !call().await.is_ok() {
            return Err("the warm-up call failed".to_string());
        }
        for _ in 0..iterations {
            for _ in 0..CALLS_PER_ITERATION {
                let rec = call().await;
                if !rec.is_ok() {
                    return Err(format!("a call failed: {:?}", rec.error));
                }
                black_box(rec);
            }
            plant();
        }
        stub.shutdown().await;
        Ok(())
    })
}
