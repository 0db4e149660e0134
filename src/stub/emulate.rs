//! Emulated configuration effects for the paced stub, so that a whole options sweep
//! runs without a GPU. A profile with an [`Emulation`] (the named profile `sweep`, or
//! any profile via [`StubProfile::with_emulation`](super::StubProfile::with_emulation))
//! makes each generation's timing depend on its options, as Ollama's does:
//!
//! - **reload**: when the model is not loaded, or `num_ctx` / `num_gpu` differ from the
//!   loaded ones, the call first spends [`Emulation::reload`], reported as
//!   `load_duration` (an empty-prompt load with options loads with those options;
//!   `keep_alive: 0` unloads);
//! - **prefill**: TTFT = load + `base_ttft` + `per_ctx` · num_ctx + `per_prompt_token`
//!   · tokens evaluated;
//! - **truncation**: the prompt's tokens (bytes / 4) are capped at num_ctx, so
//!   `prompt_eval_count` shows what the server really saw;
//! - **decode**: gap = `gap` · (1 + `cpu_penalty_permille`/1000 · layers on CPU /
//!   `layers`) / planted speed-up; num_gpu ≥ `layers` is a full offload;
//! - **noise**: each generation's TTFT and gap are scaled by a uniform factor in
//!   1 ± `jitter_permille`/1000 drawn from splitmix64 seeded with `seed` and the
//!   generation's sequence number: deterministic for a given request order.
//!
//! The server fields report the emulated durations (the emulated GPU's clock);
//! `total_duration` stays the stub's measured arrival → final line, so scheduling
//! lateness shows up as unaccounted server time, not as a faster or slower "GPU".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::ndjson::{nanos, Compiled, ServerTimings};
use super::profile::SplitMix64;

/// A planted decode speed-up for the configurations whose options match. `None` in a
/// key matches any value (including absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planted {
    /// num_gpu to match.
    pub num_gpu: Option<i64>,
    /// num_ctx to match.
    pub num_ctx: Option<u64>,
    /// temperature × 1000 to match.
    pub temperature_milli: Option<i64>,
    /// Decode speed factor × 1000 (1100 = 10 % more tokens per second).
    pub speed_permille: u32,
}

/// How options change an emulated server's timing (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emulation {
    /// Prefill time independent of the prompt.
    pub base_ttft: Duration,
    /// Prefill time per token of num_ctx (KV cache set-up).
    pub per_ctx: Duration,
    /// Prefill time per prompt token evaluated.
    pub per_prompt_token: Duration,
    /// Decode gap at full GPU offload.
    pub gap: Duration,
    /// Model layers; num_gpu below this leaves layers on the CPU.
    pub layers: i64,
    /// Gap increase, in ‰, when every layer is on the CPU (linear in between).
    pub cpu_penalty_permille: u32,
    /// Load time when the model (re)loads.
    pub reload: Duration,
    /// num_ctx when the request sets none (Ollama's default).
    pub default_num_ctx: u64,
    /// num_gpu when the request sets none (Ollama's default: all layers).
    pub default_num_gpu: i64,
    /// Half-width of the per-generation noise, in ‰.
    pub jitter_permille: u32,
    /// Noise seed.
    pub seed: u64,
    /// Planted decode speed-ups.
    pub planted: Vec<Planted>,
}

impl Emulation {
    /// The `sweep` profile's emulation: an 80-layer model (num_gpu 60 leaves a quarter
    /// of it on the CPU: +20 % per-token time), 8 ms decode gap at full offload, TTFT
    /// 60 ms + 0.1 ms per num_ctx token + 0.02 ms per prompt token, 400 ms reload,
    /// num_ctx 2048 by default, ±2 % noise, nothing planted.
    pub fn sweep() -> Self {
        Emulation {
            base_ttft: Duration::from_millis(60),
            per_ctx: Duration::from_micros(100),
            per_prompt_token: Duration::from_micros(20),
            gap: Duration::from_millis(8),
            layers: 80,
            cpu_penalty_permille: 800,
            reload: Duration::from_millis(400),
            default_num_ctx: 2048,
            default_num_gpu: 999,
            jitter_permille: 20,
            seed: 42,
            planted: Vec::new(),
        }
    }

    /// A fast emulation for tests: 1 ms gap, 5 ms TTFT base, 40 ms reload.
    pub fn fast() -> Self {
        Emulation {
            base_ttft: Duration::from_millis(5),
            per_ctx: Duration::from_micros(5),
            per_prompt_token: Duration::from_micros(1),
            gap: Duration::from_millis(1),
            reload: Duration::from_millis(40),
            ..Self::sweep()
        }
    }

    /// This emulation with `p` planted.
    pub fn with_planted(mut self, p: Planted) -> Self {
        self.planted.push(p);
        self
    }

    fn speed_permille(&self, o: &ReqOptions) -> u32 {
        let temp = o.temperature.map(|t| (t * 1000.0).round() as i64);
        self.planted
            .iter()
            .find(|p| {
                p.num_gpu.is_none_or(|g| o.num_gpu == Some(g))
                    && p.num_ctx.is_none_or(|c| o.num_ctx == Some(c))
                    && p.temperature_milli.is_none_or(|t| temp == Some(t))
            })
            .map_or(1000, |p| p.speed_permille.max(1))
    }
}

/// The options of a request that the emulation reads.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ReqOptions {
    pub num_ctx: Option<u64>,
    pub num_gpu: Option<i64>,
    pub temperature: Option<f64>,
}

/// One generation's emulated timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Emulated {
    /// Load time (zero when no reload).
    pub load: Duration,
    /// Arrival → first chunk (includes `load`).
    pub ttft: Duration,
    /// Between chunks.
    pub gap: Duration,
    /// Prompt tokens evaluated (capped at num_ctx).
    pub prompt_eval_count: u64,
}

impl Emulated {
    /// Offset of content chunk `i` from arrival.
    pub fn offset(&self, i: usize) -> Duration {
        self.ttft + self.gap * u32::try_from(i).unwrap_or(u32::MAX)
    }

    /// Replaces the measured server timings with the emulated GPU's, keeping the
    /// measured `total_duration`.
    pub fn server_timings(&self, t: &mut ServerTimings, n: usize) {
        t.load_duration = nanos(self.load);
        t.prompt_eval_duration = nanos(self.ttft - self.load);
        t.eval_duration = nanos(self.gap * u32::try_from(n.saturating_sub(1)).unwrap_or(0));
        t.prompt_eval_count = self.prompt_eval_count;
    }
}

/// What an emulating stub remembers between requests: the options the model is
/// loaded with (`None` = unloaded) and the generation counter that seeds the noise.
#[derive(Debug, Default)]
pub(crate) struct EmulState {
    loaded: Mutex<Option<(u64, i64)>>,
    count: AtomicU64,
}

impl EmulState {
    /// Plans one generation (or load: `text == false`) and updates the loaded state.
    /// `was_loaded` says whether the stub's `/api/ps` state listed the model;
    /// `unload_after` is `keep_alive: 0`.
    pub fn plan(
        &self,
        e: &Emulation,
        o: &ReqOptions,
        was_loaded: bool,
        prompt_tokens: u64,
        unload_after: bool,
    ) -> Emulated {
        let key = (
            o.num_ctx.unwrap_or(e.default_num_ctx),
            o.num_gpu.unwrap_or(e.default_num_gpu),
        );
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let reload = !was_loaded || *loaded != Some(key);
        *loaded = if unload_after { None } else { Some(key) };
        drop(loaded);
        let k = self.count.fetch_add(1, Ordering::Relaxed);
        let mut rng = SplitMix64::new(e.seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let jitter = f64::from(e.jitter_permille) / 1000.0;
        let mut noise = || 1.0 + (rng.next_f64() * 2.0 - 1.0) * jitter;
        let evaluated = prompt_tokens.min(key.0).max(1);
        let load = if reload { e.reload } else { Duration::ZERO };
        let prefill = e.base_ttft
            + e.per_ctx * u32::try_from(key.0).unwrap_or(u32::MAX)
            + e.per_prompt_token * u32::try_from(evaluated).unwrap_or(u32::MAX);
        let on_cpu = (e.layers - key.1.clamp(0, e.layers)) as f64 / e.layers.max(1) as f64;
        let slow = 1.0 + f64::from(e.cpu_penalty_permille) / 1000.0 * on_cpu;
        let speed = f64::from(e.speed_permille(o)) / 1000.0;
        Emulated {
            load,
            ttft: load + prefill.mul_f64(noise()),
            gap: e.gap.mul_f64(slow / speed * noise()),
            prompt_eval_count: evaluated,
        }
    }

    /// Forgets the loaded options (an unload).
    pub fn unload(&self) {
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Offset of content chunk `i`: the emulated one, else the profile's schedule.
pub(crate) fn offset(c: &Compiled, emul: Option<&Emulated>, i: usize) -> Duration {
    emul.map_or(c.schedule[i], |e| e.offset(i))
}

/// Load time of a generation or load request.
pub(crate) fn load_time(c: &Compiled, emul: Option<&Emulated>) -> Duration {
    emul.map_or(c.load, |e| e.load)
}

/// The named profile `sweep`: [`Emulation::sweep`] on 100 chunks of the default text.
pub(crate) fn sweep_profile(base: super::StubProfile) -> super::StubProfile {
    super::StubProfile {
        name: "sweep".into(),
        chunks: 100,
        pacing: super::Pacing::Constant {
            ttft: Duration::from_millis(60),
            gap: Duration::from_millis(8),
        },
        ..base
    }
    .with_emulation(Emulation::sweep())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_follows_options_and_truncation_caps_at_num_ctx() {
        let e = Emulation::sweep();
        let s = EmulState::default();
        let o = ReqOptions {
            num_ctx: Some(256),
            ..Default::default()
        };
        let a = s.plan(&e, &o, false, 900, false);
        assert_eq!(a.load, e.reload);
        assert_eq!(a.prompt_eval_count, 256);
        let b = s.plan(&e, &o, true, 100, false);
        assert_eq!(b.load, Duration::ZERO);
        assert_eq!(b.prompt_eval_count, 100);
        let c = s.plan(&e, &ReqOptions::default(), true, 100, false);
        assert_eq!(c.load, e.reload, "num_ctx changed: reload");
        let slow = s.plan(
            &e,
            &ReqOptions {
                num_gpu: Some(60),
                ..Default::default()
            },
            true,
            100,
            false,
        );
        assert!(slow.gap > c.gap.mul_f64(1.1), "{slow:?} vs {c:?}");
    }
}
