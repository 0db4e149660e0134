//! What a stub serves and how fast: [`StubProfile`], [`Pacing`], [`ModelSpec`].
//!
//! A profile is plain configuration. The stubs compile it once at start (text split into
//! chunks, JSON pieces pre-rendered, chunk schedule precomputed), so per-request work stays
//! small.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::client::{LlamaTimings, Usage};

use super::capacity::{parse_params, CapacityModel, FaultMix, Pause, CAPACITY_PARAMS, FAST_PARAMS};
use super::faults::{Fault, HTML_PAYLOAD, MULTIBYTE_TEXT};

/// Names accepted by [`StubProfile::named`], in the order they are documented.
pub const PROFILE_NAMES: &[&str] = &[
    "instant",
    "paced",
    "realistic",
    "sweep",
    "replay",
    "fast",
    "capacity",
];

/// The recorded stream the `replay` profile serves, relative to the crate root. It lives
/// beside `mock-data/`, not in it: every file under `mock-data/` is part of the benchmark
/// corpus (a `.json` there would be ingested into the prompts, and the corpus test
/// checks that the folder holds exactly the generator's 101 files).
pub const REPLAY_PATH: &str = "replay/llama-server-gemma3-270m.json";

const REPLAY_JSON: &str = include_str!("../../replay/llama-server-gemma3-270m.json");

/// How the `replay` profile is labelled in the console line of a fallback run.
pub const REPLAY_SOURCE_LINE: &str =
    "text and pacing replayed from one recorded llama.cpp stream of gemma3-270m, replay/llama-server-gemma3-270m.json";

/// One content chunk of a recorded stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayChunk {
    /// Receive offset from t0 (just before the request was sent), ns.
    pub at_ns: u64,
    /// The chunk's text.
    pub text: String,
}

/// One real stream, recorded at the client: chunk texts and receive times, and the
/// server's own figures. Written by `tests/llm_real.rs` (`record_replay_profile`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecording {
    /// What was recorded: server, build, model, machine.
    pub source: String,
    /// Model name as served.
    pub model: String,
    /// The URL path called (`/v1/completions`).
    pub path: String,
    /// `max_tokens` sent.
    pub max_tokens: u64,
    /// Prompt length, bytes.
    pub prompt_bytes: u64,
    /// Response headers received, ns from t0.
    pub headers_ns: u64,
    /// Content chunks in order.
    pub chunks: Vec<ReplayChunk>,
    /// `data: [DONE]` received, ns from t0.
    pub end_ns: u64,
    /// The server's `usage`.
    pub usage: Option<Usage>,
    /// llama.cpp's `timings`.
    pub timings: Option<LlamaTimings>,
}

impl ReplayRecording {
    /// Parses a recording; checks that it has chunks and that their times never decrease.
    pub fn parse(json: &str) -> Result<Self, String> {
        let r: ReplayRecording =
            serde_json::from_str(json).map_err(|e| format!("bad replay recording: {e}"))?;
        if r.chunks.is_empty() || r.chunks.iter().any(|c| c.text.is_empty()) {
            return Err("a replay recording needs chunks, each with non-empty text".into());
        }
        if r.chunks.windows(2).any(|w| w[1].at_ns < w[0].at_ns) {
            return Err("replay chunk times must not decrease".into());
        }
        Ok(r)
    }

    /// The recording compiled into the binary ([`REPLAY_PATH`]).
    pub fn embedded() -> Self {
        Self::parse(REPLAY_JSON).expect("the committed replay recording parses (tested)")
    }

    /// Its pacing: the first chunk at its recorded offset, then the recorded gaps.
    pub fn pacing(&self) -> Pacing {
        let at: Vec<u64> = self.chunks.iter().map(|c| c.at_ns).collect();
        Pacing::Replay {
            ttft: Duration::from_nanos(at[0]),
            gaps: at
                .windows(2)
                .map(|w| Duration::from_nanos(w[1] - w[0]))
                .collect(),
        }
    }
}

/// The default model served by every named profile.
pub const DEFAULT_MODEL: &str = "gemma3:latest";

/// The canned response text served by default.
///
/// It follows the markdown convention shared with the prompt team: the sections
/// `## Executive Summary` (a paragraph), `## Key Findings`, `## Performance Metrics` and
/// `## Recommendations` (each a list of `- ` bullets), in that order. About 3 KB.
pub const DEFAULT_TEXT: &str = "\
## Executive Summary

The benchmark corpus covers 101 files (28 CSV, 44 JSON, 29 Markdown) collected from repeated \
runs of gemma3 on a single-GPU host. Decode throughput is stable across configurations at \
roughly 98-102 tokens per second, while time to first token is dominated by model loading: \
cold calls spend about 3.5 s loading weights, warm calls answer in 0.6-0.9 s. Changing \
num_ctx or num_gpu forces a reload, so option sweeps measure load time more than they \
measure the options themselves. Results are consistent enough to compare configurations, \
provided cold and warm calls are reported separately.

## Key Findings

- Warm TTFT has a median of 0.71 s (p95 0.94 s); cold TTFT has a median of 4.2 s because \
every options change triggers a model reload.
- Decode throughput varies by less than 4% across num_gpu 60, 80 and 120: the whole model \
fits in VRAM in each case, so offloading more layers brings no gain.
- Prompts longer than num_ctx 256 or 512 are silently truncated; one report call produced \
only 3 tokens, which drags the averages down if it is not flagged.
- Temperature 0.6 versus 0.8 changes the output length (1.1k versus 1.6k tokens on \
average) but not the per-token speed.
- Without num_predict or a fixed seed, output length ranges from 3 to 2.6k tokens, which \
makes end-to-end latency comparisons between runs unreliable.

## Performance Metrics

- Decode throughput: 99.4 tok/s mean, 1.8 tok/s standard deviation (n = 57 calls).
- Prefill throughput: 1,850 tok/s mean for prompts of 350-1,000 tokens.
- Time to first token (warm): 0.71 s median, 0.94 s p95.
- Time to first token (cold): 4.2 s median, including 3.5 s of load_duration.
- Inter-token latency: 10.1 ms median, 13.8 ms p99.
- End-to-end latency per analysis call: 12.6 s median for about 1,200 output tokens.
- Error rate: 0 of 57 calls failed; 2 calls ended with done_reason length.

## Recommendations

- Report cold and warm calls separately and keep warm-up calls out of the measurement \
window.
- Set num_predict and a fixed seed so that every configuration produces the same number of \
output tokens.
- Raise num_ctx to at least 2048 for the report prompt, or measure the prompt size and \
reject configurations that would truncate it.
- Record the Ollama version, the model digest and the driver version with every run so \
that results can be reproduced.
- Repeat each configuration at least five times and publish confidence intervals instead \
of single means.
";

/// How a paced stub spaces the content chunks of a streamed response.
///
/// All offsets are measured from the request's arrival at the server. The final `done` line
/// is sent immediately after the last content chunk. The instant stub ignores pacing: it
/// always answers at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// No waiting: every line is sent as soon as it is rendered.
    None,
    /// First content chunk `ttft` after arrival, then one chunk every `gap`.
    Constant {
        /// Arrival to first content chunk (includes the profile's `load`).
        ttft: Duration,
        /// Time between two consecutive content chunks.
        gap: Duration,
    },
    /// Like [`Pacing::Constant`], but each gap is drawn uniformly from
    /// `[gap - jitter, gap + jitter]` (clamped at zero) by a splitmix64 generator seeded with
    /// `seed`. The schedule is computed once per stub, so every request sees the same gaps.
    Jitter {
        /// Arrival to first content chunk (includes the profile's `load`).
        ttft: Duration,
        /// Mean time between two consecutive content chunks.
        gap: Duration,
        /// Half-width of the uniform spread around `gap`.
        jitter: Duration,
        /// PRNG seed; the same seed gives the same schedule.
        seed: u64,
    },
    /// A recorded timing profile: first chunk at `ttft`, then `gaps[i]` before chunk `i + 1`.
    /// When the response has more chunks than `gaps` covers, the gaps are cycled; an empty
    /// `gaps` means no wait between chunks.
    Replay {
        /// Arrival to first content chunk (includes the profile's `load`).
        ttft: Duration,
        /// Gaps between consecutive content chunks.
        gaps: Vec<Duration>,
    },
}

impl Pacing {
    /// The time to first chunk this pacing asks for (zero for [`Pacing::None`]).
    pub fn ttft(&self) -> Duration {
        match self {
            Pacing::None => Duration::ZERO,
            Pacing::Constant { ttft, .. }
            | Pacing::Jitter { ttft, .. }
            | Pacing::Replay { ttft, .. } => *ttft,
        }
    }

    /// Offsets from request arrival of the first `chunks` content chunks. Deterministic:
    /// the same pacing always yields the same offsets. Offsets never decrease.
    pub fn schedule(&self, chunks: usize) -> Vec<Duration> {
        let mut out = Vec::with_capacity(chunks);
        let mut at = self.ttft();
        match self {
            Pacing::None => out.resize(chunks, Duration::ZERO),
            Pacing::Constant { gap, .. } => {
                for _ in 0..chunks {
                    out.push(at);
                    at += *gap;
                }
            }
            Pacing::Jitter {
                gap, jitter, seed, ..
            } => {
                let mut rng = SplitMix64::new(*seed);
                let gap_ns = gap.as_nanos() as f64;
                let jit_ns = jitter.as_nanos() as f64;
                for _ in 0..chunks {
                    out.push(at);
                    let g = gap_ns + (rng.next_f64() * 2.0 - 1.0) * jit_ns;
                    at += Duration::from_nanos(g.max(0.0) as u64);
                }
            }
            Pacing::Replay { gaps, .. } => {
                for i in 0..chunks {
                    out.push(at);
                    if !gaps.is_empty() {
                        at += gaps[i % gaps.len()];
                    }
                }
            }
        }
        out
    }
}

/// The crate's seeded PRNG ([`crate::rng::SplitMix64`]), re-exported where the stubs'
/// jitter has always named it; the stream is unchanged.
pub use crate::rng::SplitMix64;

/// One model a stub pretends to serve, with the metadata `/api/tags`, `/api/show` and
/// `/api/ps` report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// Full name with tag, e.g. `gemma3:latest`. Requests naming the model without a tag
    /// get `:latest` appended before matching, as Ollama does.
    pub name: String,
    /// `sha256` hex digest reported by `/api/tags` and `/api/ps`. By default derived from the
    /// name with a stub prefix, so it can never be mistaken for a real model's digest.
    pub digest: String,
    /// Model family, e.g. `gemma3`.
    pub family: String,
    /// Parameter size as Ollama prints it, e.g. `4.3B`.
    pub parameter_size: String,
    /// Quantization level, e.g. `Q4_K_M`.
    pub quantization_level: String,
    /// Size in bytes reported by `/api/tags` and `/api/ps`.
    pub size: u64,
    /// Context length reported by `/api/show` and `/api/ps`.
    pub context_length: u64,
}

impl ModelSpec {
    /// A spec named `name` that says what it is: family `agentbench-stub`, parameter
    /// size and quantization `none` (a stub has no weights), size 0, a digest derived
    /// from the name. The stub's profile (and, for `replay`, the recorded model) is
    /// reported beside it by `/api/show`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let name = if name.contains(':') {
            name
        } else {
            format!("{name}:latest")
        };
        ModelSpec {
            digest: stub_digest(&name),
            name,
            family: STUB_FAMILY.into(),
            parameter_size: "none".into(),
            quantization_level: "none".into(),
            size: 0,
            context_length: 131_072,
        }
    }
}

/// The model family every stub model reports (`details.family`, `general.architecture`).
pub const STUB_FAMILY: &str = "agentbench-stub";

/// The digest a stub reports for `name`: sha256 of `agentbench-stub/<name>`, in hex.
pub fn stub_digest(name: &str) -> String {
    let hash = Sha256::digest(format!("agentbench-stub/{name}").as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// The name given to [`StubProfile::named`] is not one of [`PROFILE_NAMES`], or its
/// parameters (`fast:…`, `capacity:…`) are wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct UnknownProfile {
    /// The name that was asked for.
    pub name: String,
    /// What is wrong with the parameters (names the parameter, lists the valid ones);
    /// `None` when the profile itself is unknown.
    pub reason: Option<String>,
}

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Some(r) => write!(f, "bad stub profile {:?}: {r}", self.name),
            None => write!(
                f,
                "unknown stub profile {:?}; valid profiles: {}, or fault:<name> with a fault \
                 among {}; fast and capacity take parameters (fast:{}, capacity:{})",
                self.name,
                PROFILE_NAMES.join(", "),
                Fault::names(),
                FAST_PARAMS.join(","),
                CAPACITY_PARAMS.join(",")
            ),
        }
    }
}

impl UnknownProfile {
    /// The valid profile names.
    pub fn valid(&self) -> &'static [&'static str] {
        PROFILE_NAMES
    }
}

/// Everything a stub serves: models, response text, chunking and timing.
///
/// Build one with [`StubProfile::named`] or [`StubProfile::default`] (= `instant`) and adjust
/// it with the `with_*` methods. The text is split into at most `chunks` non-empty pieces
/// (fewer if the text has fewer characters) whose concatenation is exactly `text`; pieces end
/// on word boundaries when the text has enough words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StubProfile {
    /// Profile name for provenance records (`instant`, `paced`, `realistic` or `custom`).
    pub name: String,
    /// Models served; requests for any other model get a 404. Must not be empty.
    pub models: Vec<ModelSpec>,
    /// The response text served to every generate and chat call.
    pub text: String,
    /// Number of content chunks the text is split into. Must be at least 1.
    pub chunks: usize,
    /// Chunk timing (paced stub only).
    pub pacing: Pacing,
    /// Simulated model load time, part of the TTFT (paced stub only; clamped to the ttft).
    /// Reported as `load_duration`.
    pub load: Duration,
    /// Emulated configuration effects (paced stub only; see [`super::emulate`]).
    pub emulate: Option<super::emulate::Emulation>,
    /// A server fault to inject (paced stub only; see [`Fault`]). `None` serves normally.
    pub fault: Option<Fault>,
    /// Explicit content chunks (a replayed stream's pieces); empty = `text` split into
    /// `chunks` pieces. When set, their concatenation is `text`.
    pub pieces: Vec<String>,
    /// The real model whose recorded stream this profile replays (`replay`: the
    /// recording's model, e.g. `gemma3-270m`); `None` for synthetic text. Reported by
    /// `/api/show` so the stub never passes for that model.
    pub replay_of: Option<String>,
    /// The capacity model served by the capacity stub (`capacity:…`); `None` elsewhere.
    pub capacity: Option<CapacityModel>,
    /// A one-off stall (fast and capacity stubs only; `…pause=1s@2s`).
    pub pause: Option<Pause>,
    /// Faults mixed into generations (fast and capacity stubs only; `…faults=0.01`).
    pub faults: Option<FaultMix>,
}

impl Default for StubProfile {
    /// The `instant` profile.
    fn default() -> Self {
        StubProfile {
            name: "instant".into(),
            models: vec![ModelSpec::new(DEFAULT_MODEL)],
            text: DEFAULT_TEXT.into(),
            chunks: 100,
            pacing: Pacing::None,
            load: Duration::ZERO,
            emulate: None,
            fault: None,
            pieces: Vec::new(),
            replay_of: None,
            capacity: None,
            pause: None,
            faults: None,
        }
    }
}

impl StubProfile {
    /// A named profile:
    ///
    /// - `instant`: zero latency, 100 chunks, no simulated load. For measuring the harness's
    ///   own overhead (with the instant stub, server timings are the stub's real work).
    /// - `paced`: a known truth for tests: 51 chunks, first chunk 200 ms after arrival, then
    ///   one every 20 ms (50 gaps), no load. Total ≈ 1.2 s.
    /// - `realistic`: 100 chunks, TTFT 150 ms of which 30 ms simulated load, gaps of
    ///   8 ms ± 3 ms (splitmix64, seed 42). Total ≈ 0.95 s. The default for `agentbench run`
    ///   on the embedded stub.
    /// - `replay`: a real stream replayed — the text, chunk boundaries and receive
    ///   times of one recorded llama.cpp stream ([`REPLAY_PATH`]), no simulated load. The
    ///   default for `agentbench run` on the embedded stub.
    /// - `fault:<name>` (e.g. `fault:truncate`): 20 chunks served by the paced stub's
    ///   fault responder with [`Fault`] `<name>` injected; `fault:html-payload` serves
    ///   [`HTML_PAYLOAD`] and `fault:split-utf8` serves [`MULTIBYTE_TEXT`].
    /// - `fast[:chunks=N,pause=D@T]`: the fast stub ([`super::LoadStub`]): pre-rendered
    ///   bytes, no pacing, 64 chunks unless `chunks` says otherwise.
    /// - `capacity[:slots=S,prefill=P,decode=D,tokens=T,jitter=J,seed=N,pause=D@T]`: the
    ///   capacity stub, serving [`CapacityModel`] (defaults `slots=2,prefill=4000,
    ///   decode=200,tokens=32`, no jitter); the text is split into `tokens` chunks.
    ///
    /// `faults=P[,fault_seed=N]` (fast and capacity): each generation independently
    /// faulty with probability `P` (see [`FaultMix`]).
    /// `pause=D@T` (fast and capacity): a one-off stall of `D` starting `T` after the first
    /// generation request arrived (durations `1s`, `250ms`, `500us`; see [`Pause`]).
    /// Errors name the bad parameter and list the valid ones.
    pub fn named(name: &str) -> Result<Self, UnknownProfile> {
        let base = StubProfile::default();
        let (head, params) = name.split_once(':').unwrap_or((name, ""));
        if head == "fast" || head == "capacity" {
            let capacity = head == "capacity";
            let p = parse_params(capacity, params).map_err(|reason| UnknownProfile {
                name: name.into(),
                reason: Some(reason),
            })?;
            let chunks = match &p.capacity {
                Some(m) => m.tokens,
                None => p.chunks.unwrap_or(64),
            };
            return Ok(StubProfile {
                name: name.into(),
                chunks,
                capacity: p.capacity,
                pause: p.pause,
                faults: p.faults,
                ..base
            });
        }
        if let Some(fault) = name.strip_prefix("fault:") {
            let fault = Fault::from_name(fault).ok_or_else(|| UnknownProfile {
                name: name.into(),
                reason: None,
            })?;
            let text = match fault {
                Fault::HtmlPayload => HTML_PAYLOAD,
                Fault::SplitUtf8 => MULTIBYTE_TEXT,
                _ => DEFAULT_TEXT,
            };
            return Ok(StubProfile {
                name: name.into(),
                chunks: 20,
                text: text.into(),
                ..base
            }
            .with_fault(fault));
        }
        match name {
            "instant" => Ok(base),
            "paced" => Ok(StubProfile {
                name: "paced".into(),
                chunks: 51,
                pacing: Pacing::Constant {
                    ttft: Duration::from_millis(200),
                    gap: Duration::from_millis(20),
                },
                ..base
            }),
            "realistic" => Ok(StubProfile {
                name: "realistic".into(),
                chunks: 100,
                pacing: Pacing::Jitter {
                    ttft: Duration::from_millis(150),
                    gap: Duration::from_millis(8),
                    jitter: Duration::from_millis(3),
                    seed: 42,
                },
                load: Duration::from_millis(30),
                ..base
            }),
            "sweep" => Ok(super::emulate::sweep_profile(base)),
            "replay" => {
                let r = ReplayRecording::embedded();
                let pieces: Vec<String> = r
                    .chunks
                    .iter()
                    .map(|c| c.text.clone())
                    .filter(|t| !t.is_empty())
                    .collect();
                Ok(StubProfile {
                    name: "replay".into(),
                    text: pieces.concat(),
                    chunks: pieces.len(),
                    pacing: r.pacing(),
                    pieces,
                    replay_of: Some(r.model.clone()),
                    ..base
                })
            }
            other => Err(UnknownProfile {
                name: other.into(),
                reason: None,
            }),
        }
    }

    /// This profile serving `models` instead (names without a tag get `:latest`).
    pub fn with_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.models = models.into_iter().map(ModelSpec::new).collect();
        self
    }

    /// This profile serving `text` (split into `chunks` pieces).
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self.pieces.clear();
        self
    }

    /// This profile splitting the text into `chunks` pieces.
    pub fn with_chunks(mut self, chunks: usize) -> Self {
        self.chunks = chunks;
        self.pieces.clear();
        self
    }

    /// This profile with `pacing`.
    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// This profile with a simulated load of `load` inside the TTFT.
    pub fn with_load(mut self, load: Duration) -> Self {
        self.load = load;
        self
    }

    /// This profile emulating configuration effects (see [`super::emulate`]).
    pub fn with_emulation(mut self, e: super::emulate::Emulation) -> Self {
        self.emulate = Some(e);
        self
    }

    /// This profile with `fault` injected (served by the paced stub's raw responder).
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// The load actually simulated: `load` clamped to the pacing's TTFT.
    pub fn effective_load(&self) -> Duration {
        self.load.min(self.pacing.ttft())
    }

    /// The pieces served as content chunks: the explicit ones, else the text split
    /// (see the type's docs).
    pub fn pieces(&self) -> Vec<&str> {
        if !self.pieces.is_empty() {
            return self.pieces.iter().map(String::as_str).collect();
        }
        split_text(&self.text, self.chunks)
    }

    /// Checks the profile can be served: at least one model, one chunk and one character.
    pub fn validate(&self) -> Result<(), String> {
        if self.models.is_empty() {
            return Err("a stub profile needs at least one model".into());
        }
        if self.chunks == 0 {
            return Err("a stub profile needs at least one chunk".into());
        }
        if self.text.is_empty() {
            return Err("a stub profile needs a non-empty text".into());
        }
        if !self.pieces.is_empty()
            && (self.pieces.iter().any(String::is_empty) || self.pieces.concat() != self.text)
        {
            return Err("explicit pieces must be non-empty and concatenate to the text".into());
        }
        if let Some(m) = self.models.iter().find(|m| m.name.is_empty()) {
            return Err(format!("empty model name in {:?}", m));
        }
        Ok(())
    }
}

/// Splits `text` into at most `n` non-empty pieces that concatenate to `text`.
///
/// Words (a run of whitespace followed by non-whitespace) are spread evenly over the pieces
/// when there are at least `n` of them; otherwise the text is cut between characters.
pub fn split_text(text: &str, n: usize) -> Vec<&str> {
    if text.is_empty() || n == 0 {
        return Vec::new();
    }
    // Word starts: byte offsets where a whitespace run begins after a non-whitespace char.
    let mut starts = vec![0usize];
    let mut prev_ws = true;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if ws && !prev_ws && i != 0 {
            starts.push(i);
        }
        prev_ws = ws;
    }
    let cuts: Vec<usize> = if starts.len() >= n {
        (0..n).map(|k| starts[k * starts.len() / n]).collect()
    } else {
        let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let n = n.min(chars.len());
        (0..n).map(|k| chars[k * chars.len() / n]).collect()
    };
    let mut out = Vec::with_capacity(cuts.len());
    for (k, &start) in cuts.iter().enumerate() {
        let end = cuts.get(k + 1).copied().unwrap_or(text.len());
        out.push(&text[start..end]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_concatenates_and_is_non_empty() {
        for n in [1, 2, 7, 50, 100, 1000, 5000] {
            let p = split_text(DEFAULT_TEXT, n);
            assert!(p.len() <= n && !p.is_empty());
            assert!(p.iter().all(|s| !s.is_empty()));
            assert_eq!(p.concat(), DEFAULT_TEXT);
        }
        assert_eq!(split_text(DEFAULT_TEXT, 100).len(), 100);
        assert_eq!(split_text("héllo", 10), vec!["h", "é", "l", "l", "o"]);
        assert_eq!(split_text("a b c d", 2), vec!["a b", " c d"]);
    }

    #[test]
    fn default_text_follows_convention() {
        let t = DEFAULT_TEXT;
        let pos: Vec<usize> = [
            "## Executive Summary\n",
            "## Key Findings\n",
            "## Performance Metrics\n",
            "## Recommendations\n",
        ]
        .iter()
        .map(|h| t.find(h).expect(h))
        .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]));
        assert!((2000..4096).contains(&t.len()), "{}", t.len());
    }

    #[test]
    fn named_profiles() {
        for n in PROFILE_NAMES {
            let p = StubProfile::named(n).unwrap();
            p.validate().unwrap();
            assert_eq!(p.name, *n);
        }
        let e = StubProfile::named("nope").unwrap_err();
        assert!(e.to_string().contains("instant, paced, realistic"));
        let p = StubProfile::named("paced").unwrap();
        let s = p.pacing.schedule(p.chunks);
        assert_eq!(s.len(), 51);
        assert_eq!(s[0], Duration::from_millis(200));
        assert_eq!(s[50], Duration::from_millis(200 + 50 * 20));
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let p = StubProfile::named("realistic").unwrap();
        let a = p.pacing.schedule(100);
        assert_eq!(a, p.pacing.schedule(100));
        for w in a.windows(2) {
            let g = w[1] - w[0];
            assert!(g >= Duration::from_millis(5) && g <= Duration::from_millis(11));
        }
        assert_eq!(p.effective_load(), Duration::from_millis(30));
    }

    #[test]
    fn the_replay_profile_serves_the_recorded_stream() {
        let r = ReplayRecording::embedded();
        let p = StubProfile::named("replay").unwrap();
        p.validate().unwrap();
        let texts: Vec<&str> = r
            .chunks
            .iter()
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(p.pieces(), texts, "chunk boundaries are the recorded ones");
        let s = p.pacing.schedule(p.pieces().len());
        let recorded: Vec<Duration> = r
            .chunks
            .iter()
            .filter(|c| !c.text.is_empty())
            .map(|c| Duration::from_nanos(c.at_ns))
            .collect();
        assert_eq!(s[0], recorded[0]);
        assert_eq!(
            s.last(),
            recorded.last(),
            "the schedule ends where the recording did"
        );
        assert!(
            r.timings.is_some() && r.usage.is_some(),
            "server figures recorded"
        );
        assert!(ReplayRecording::parse("{}").is_err());
        assert!(
            p.clone().with_text("x").pieces() == vec!["x"],
            "with_text drops the pieces"
        );
    }

    #[test]
    fn replay_cycles() {
        let p = Pacing::Replay {
            ttft: Duration::from_millis(1),
            gaps: vec![Duration::from_millis(2), Duration::from_millis(3)],
        };
        let ms: Vec<u128> = p.schedule(4).iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![1, 3, 6, 8]);
    }
}
