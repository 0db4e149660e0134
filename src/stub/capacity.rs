//! The known truth behind the `fast` and `capacity` profiles: [`CapacityModel`] (a server
//! with S parallel slots, per-slot prefill and decode rates and a FIFO queue), the one-off
//! [`Pause`], and the parameter syntax `fast:chunks=64,pause=1s@2s` /
//! `capacity:slots=2,prefill=4000,decode=200,tokens=32,jitter=0.2,seed=7,pause=1s@2s`.
//!
//! Pure functions only: a test (or the load engine's) can compute what the stub will do.

use std::time::Duration;

use super::profile::SplitMix64;

/// A server with `slots` parallel slots and a FIFO queue in front of them.
///
/// A request waits (first come, first served, from its arrival) for a free slot. In its
/// slot it spends `prompt_tokens / prefill_tps` on the prompt, then emits one content
/// chunk per output token at `decode_tps`: chunk `i` (0-based) leaves at
/// `prefill + (i + 1) / decode_tps` after the slot start, so the first content chunk
/// follows the prefill by one token's decode time, and the slot is busy for
/// [`CapacityModel::service_time`]. Prompt tokens are `ceil(prompt bytes / 4)`, at least 1
/// (prompt bytes as the stub's `prompt_eval_count` counts them: prompt + system for
/// `/api/generate` and `/v1/completions`, message contents + 8 per message for the chat
/// routes). Output tokens are `tokens` unless the request caps them lower with
/// `num_predict` (Ollama) or `max_tokens` (OpenAI).
///
/// With `jitter > 0`, each request's prefill and decode times are multiplied by a factor
/// drawn uniformly from `[1 - jitter, 1 + jitter]` by a [`SplitMix64`] seeded with
/// `seed`, one draw per request in the order requests get their slot.
#[derive(Clone, Debug, PartialEq)]
pub struct CapacityModel {
    /// Parallel slots (requests in service at once), at least 1.
    pub slots: usize,
    /// Prompt tokens per second, per slot (> 0).
    pub prefill_tps: f64,
    /// Output tokens per second, per slot (> 0).
    pub decode_tps: f64,
    /// Output tokens of a request that does not cap them (1..=[`MAX_TOKENS`]).
    pub tokens: usize,
    /// Half-width of the uniform service-time factor around 1 (0 = none; below 1).
    pub jitter: f64,
    /// Seed of the jitter's generator.
    pub seed: u64,
}

// Every float is checked finite when parsed (NaN is refused), so equality is reflexive.
impl Eq for CapacityModel {}

/// The largest `tokens` a capacity profile accepts (the served text has enough characters
/// for that many non-empty chunks).
pub const MAX_TOKENS: usize = 2000;

impl Default for CapacityModel {
    /// `slots=2,prefill=4000,decode=200,tokens=32`, no jitter, seed 0.
    fn default() -> Self {
        CapacityModel {
            slots: 2,
            prefill_tps: 4000.0,
            decode_tps: 200.0,
            tokens: 32,
            jitter: 0.0,
            seed: 0,
        }
    }
}

impl CapacityModel {
    /// Prompt tokens for a prompt of `prompt_bytes`: `ceil(bytes / 4)`, at least 1.
    pub fn prompt_tokens(prompt_bytes: u64) -> u64 {
        prompt_bytes.div_ceil(4).max(1)
    }

    /// Output tokens of a request capped at `cap` (`num_predict` / `max_tokens`; values
    /// below 1 are ignored, as the stub ignores them).
    pub fn output_tokens(&self, cap: Option<u64>) -> u64 {
        let all = self.tokens as u64;
        cap.filter(|c| *c >= 1).map_or(all, |c| c.min(all))
    }

    /// Time in the slot before the first decode step: `prompt_tokens / prefill_tps`.
    pub fn prefill_time(&self, prompt_tokens: u64) -> Duration {
        secs(prompt_tokens as f64 / self.prefill_tps)
    }

    /// Offset from the end of the prefill of content chunk `i` (0-based):
    /// `(i + 1) / decode_tps`.
    pub fn decode_offset(&self, i: u64) -> Duration {
        secs((i + 1) as f64 / self.decode_tps)
    }

    /// Slot time of one request without jitter: `prefill_time + output_tokens / decode_tps`
    /// (each term at most a million seconds).
    pub fn service_time(&self, prompt_tokens: u64, output_tokens: u64) -> Duration {
        self.prefill_time(prompt_tokens) + secs(output_tokens as f64 / self.decode_tps)
    }

    /// The jitter factors the stub applies, in slot order: the first `n` draws.
    pub fn jitter_factors(&self, n: usize) -> Vec<f64> {
        let mut rng = self.rng();
        (0..n).map(|_| self.factor(&mut rng)).collect()
    }

    pub(crate) fn rng(&self) -> SplitMix64 {
        SplitMix64::new(self.seed)
    }

    pub(crate) fn factor(&self, rng: &mut SplitMix64) -> f64 {
        if self.jitter == 0.0 {
            return 1.0;
        }
        1.0 + (rng.next_f64() * 2.0 - 1.0) * self.jitter
    }

    fn check(&self) -> Result<(), String> {
        if self.slots == 0 {
            return Err("slots must be at least 1".into());
        }
        if !(self.prefill_tps.is_finite() && self.prefill_tps > 0.0) {
            return Err("prefill must be a positive number of tokens/s".into());
        }
        if !(self.decode_tps.is_finite() && self.decode_tps > 0.0) {
            return Err("decode must be a positive number of tokens/s".into());
        }
        if self.tokens == 0 || self.tokens > MAX_TOKENS {
            return Err(format!("tokens must be in 1..={MAX_TOKENS}"));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err("jitter must be in [0, 1)".into());
        }
        Ok(())
    }
}

/// The longest time the model ever computes (a million seconds): extreme rates give
/// long but representable times, so deadlines never overflow an `Instant`.
const MAX_SECS: f64 = 1e6;

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.min(MAX_SECS)).unwrap_or(Duration::ZERO)
}

/// A one-off stall: `after` the first generation request arrived, for `duration`, the
/// server makes no progress (see the `fast` and `capacity` profiles). Written
/// `pause=<duration>@<after>`, e.g. `pause=1s@2s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    /// How long the server stalls.
    pub duration: Duration,
    /// From the first generation request's arrival to the start of the stall.
    pub after: Duration,
}

/// Faults mixed into a load stub's generations: each generation, independently with
/// probability `rate` (drawn from a [`SplitMix64`] seeded with `seed`, one draw per
/// generation in arrival order), gets one of [`InjectedFault::ALL`], chosen uniformly.
/// Written `faults=RATE` (and `fault_seed=N`), e.g. `fast:faults=0.01`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultMix {
    /// Probability in [0, 1] that a generation is faulty.
    pub rate: f64,
    /// Seed of the draws.
    pub seed: u64,
}

// `rate` is checked to be in 0..=1 when parsed (NaN is refused): equality is reflexive.
impl Eq for FaultMix {}

/// A fault the load stubs inject (see [`FaultMix`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InjectedFault {
    /// HTTP 500 with a JSON error body, before any content.
    Http500,
    /// Half the content, then an error object in the stream.
    ErrorMidStream,
    /// Half the content, then the body ends without the final object.
    Truncate,
}

impl InjectedFault {
    /// Every injected fault, in the order draws index them.
    pub const ALL: [InjectedFault; 3] = [
        InjectedFault::Http500,
        InjectedFault::ErrorMidStream,
        InjectedFault::Truncate,
    ];

    /// `http-500`, `error-mid-stream`, `truncate` (the names of the matching
    /// `fault:NAME` profiles).
    pub fn name(self) -> &'static str {
        match self {
            InjectedFault::Http500 => "http-500",
            InjectedFault::ErrorMidStream => "error-mid-stream",
            InjectedFault::Truncate => "truncate",
        }
    }

    /// The fault for a draw, or `None` (no fault) — `u` uniform in [0, 1).
    pub fn pick(rate: f64, u: f64, v: u64) -> Option<InjectedFault> {
        (u < rate).then(|| Self::ALL[(v % Self::ALL.len() as u64) as usize])
    }
}

/// What a `fast:…` or `capacity:…` profile name asks for.
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct LoadParams {
    pub chunks: Option<usize>,
    pub capacity: Option<CapacityModel>,
    pub pause: Option<Pause>,
    pub faults: Option<FaultMix>,
}

/// Parameters valid after `fast:`.
pub const FAST_PARAMS: &[&str] = &["chunks", "pause", "faults", "fault_seed"];
/// Parameters valid after `capacity:`.
pub const CAPACITY_PARAMS: &[&str] = &[
    "slots",
    "prefill",
    "decode",
    "tokens",
    "jitter",
    "seed",
    "pause",
    "faults",
    "fault_seed",
];

/// Parses the parameter list of `fast` (`capacity = false`) or `capacity`. Errors name the
/// bad parameter and list the valid ones.
pub(crate) fn parse_params(capacity: bool, params: &str) -> Result<LoadParams, String> {
    let valid = if capacity {
        CAPACITY_PARAMS
    } else {
        FAST_PARAMS
    };
    let mut out = LoadParams {
        capacity: capacity.then(CapacityModel::default),
        ..LoadParams::default()
    };
    for item in params.split(',').filter(|s| !s.trim().is_empty()) {
        let (key, value) = item.split_once('=').ok_or_else(|| {
            format!(
                "parameter {item:?} needs a value (key=value); valid: {}",
                valid.join(", ")
            )
        })?;
        let (key, value) = (key.trim(), value.trim());
        let bad = |what: &str| format!("parameter {key}={value:?}: {what}");
        if !valid.contains(&key) {
            return Err(format!(
                "unknown parameter {key:?}; valid: {}",
                valid.join(", ")
            ));
        }
        let num = || -> Result<f64, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad("not a number"))
        };
        let int = || -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| bad("not a non-negative integer"))
        };
        let m = out.capacity.as_mut();
        match (key, m) {
            ("pause", _) => {
                let (d, at) = value
                    .split_once('@')
                    .ok_or_else(|| bad("write pause=DURATION@AFTER, e.g. 1s@2s"))?;
                let duration = parse_duration(d).ok_or_else(|| bad("bad duration"))?;
                let after = parse_duration(at).ok_or_else(|| bad("bad start offset"))?;
                if duration.is_zero() {
                    return Err(bad("the pause must last longer than 0"));
                }
                out.pause = Some(Pause { duration, after });
            }
            ("faults", _) => {
                let rate = num()?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(bad("a probability in 0..=1, e.g. faults=0.01"));
                }
                out.faults.get_or_insert(FaultMix { rate, seed: 0 }).rate = rate;
            }
            ("fault_seed", _) => {
                let seed = int()?;
                out.faults.get_or_insert(FaultMix { rate: 0.0, seed }).seed = seed;
            }
            ("chunks", _) => {
                let n = int()? as usize;
                if n == 0 || n > MAX_TOKENS {
                    return Err(bad(&format!("must be in 1..={MAX_TOKENS}")));
                }
                out.chunks = Some(n);
            }
            ("slots", Some(m)) => m.slots = int()? as usize,
            ("prefill", Some(m)) => m.prefill_tps = num()?,
            ("decode", Some(m)) => m.decode_tps = num()?,
            ("tokens", Some(m)) => m.tokens = int()?.min(usize::MAX as u64) as usize,
            ("jitter", Some(m)) => m.jitter = num()?,
            ("seed", Some(m)) => m.seed = int()?,
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}; valid: {}",
                    valid.join(", ")
                ))
            }
        }
    }
    if let Some(m) = &out.capacity {
        m.check()?;
    }
    Ok(out)
}

/// `1s`, `250ms`, `1.5s`, `500us`; a bare number is seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(v * mult).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_errors_name_the_parameter() {
        let p = parse_params(
            true,
            "slots=3,prefill=1000,decode=50,tokens=10,jitter=0.2,seed=9,pause=1s@250ms",
        )
        .unwrap();
        let m = p.capacity.unwrap();
        assert_eq!((m.slots, m.tokens, m.seed), (3, 10, 9));
        assert_eq!((m.prefill_tps, m.decode_tps, m.jitter), (1000.0, 50.0, 0.2));
        assert_eq!(
            p.pause,
            Some(Pause {
                duration: Duration::from_secs(1),
                after: Duration::from_millis(250)
            })
        );
        assert_eq!(parse_params(false, "chunks=8").unwrap().chunks, Some(8));
        for (cap, bad, needle) in [
            (true, "slots=0", "slots"),
            (true, "slot=2", "slot"),
            (true, "decode=-1", "decode"),
            (true, "prefill=abc", "prefill"),
            (true, "tokens=0", "tokens"),
            (true, "jitter=1.5", "jitter"),
            (true, "pause=1s", "pause"),
            (false, "pause=x@1s", "pause"),
            (false, "slots=2", "slots"),
            (false, "chunks", "chunks"),
            (false, "chunks=0", "chunks"),
        ] {
            let e = parse_params(cap, bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        assert!(parse_params(false, "nope=1")
            .unwrap_err()
            .contains("chunks, pause"));
    }

    #[test]
    fn service_time_is_prefill_plus_decode() {
        let m = CapacityModel::default();
        assert_eq!(CapacityModel::prompt_tokens(0), 1);
        assert_eq!(CapacityModel::prompt_tokens(9), 3);
        assert_eq!(m.output_tokens(None), 32);
        assert_eq!(m.output_tokens(Some(5)), 5);
        assert_eq!(m.output_tokens(Some(500)), 32);
        assert_eq!(m.service_time(400, 32), Duration::from_millis(100 + 160));
        assert_eq!(m.decode_offset(0), Duration::from_millis(5));
        assert_eq!(m.jitter_factors(3), vec![1.0; 3]);
        let j = CapacityModel {
            jitter: 0.2,
            seed: 5,
            ..m
        };
        let f = j.jitter_factors(100);
        assert!(f.iter().all(|x| (0.8..=1.2).contains(x)));
        assert_eq!(f, j.jitter_factors(100));
        // Extreme rates give long, representable times (no overflow, no panic).
        let slow = parse_params(true, "prefill=1e-300,decode=1e-300,tokens=2000")
            .unwrap()
            .capacity
            .unwrap();
        let t = slow.service_time(u64::MAX, u64::MAX);
        assert_eq!(t, Duration::from_secs(2_000_000));
        let _ = std::time::Instant::now() + t;
    }
}
