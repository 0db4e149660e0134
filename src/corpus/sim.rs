//! Simulated Ollama calls: plausible, seed-determined timings for the generated corpus.

use crate::rng::SplitMix64;

/// Models that appear in the corpus.
pub(crate) const MODELS: [&str; 3] = ["gemma3:latest", "llama3.1:8b-instruct-q4_0", "qwen2.5:7b"];

/// Options of one configuration; `None` means "Ollama default" (the baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Config {
    pub num_gpu: Option<u32>,
    pub num_ctx: Option<u32>,
    pub temperature: Option<f64>,
}

impl Config {
    pub const BASELINE: Config = Config {
        num_gpu: None,
        num_ctx: None,
        temperature: None,
    };

    pub fn new(num_gpu: u32, num_ctx: u32, temperature: f64) -> Self {
        Self {
            num_gpu: Some(num_gpu),
            num_ctx: Some(num_ctx),
            temperature: Some(temperature),
        }
    }

    pub fn is_baseline(&self) -> bool {
        self.num_gpu.is_none() && self.num_ctx.is_none() && self.temperature.is_none()
    }

    /// Short human label, e.g. `num_gpu=80 num_ctx=512 temp=0.8` or `baseline`.
    pub fn label(&self) -> String {
        if self.is_baseline() {
            return "baseline (defaults)".to_string();
        }
        let mut s = String::new();
        if let Some(g) = self.num_gpu {
            s.push_str(&format!("num_gpu={g}"));
        }
        if let Some(c) = self.num_ctx {
            s.push_str(&format!(" num_ctx={c}"));
        }
        if let Some(t) = self.temperature {
            s.push_str(&format!(" temp={t:.1}"));
        }
        s.trim().to_string()
    }
}

/// Which part of the option space a topic explores.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Grid {
    Baseline,
    Full,
    Gpu,
    Ctx,
    Mixed,
}

impl Grid {
    pub fn configs(self) -> Vec<Config> {
        let full = || {
            let mut v = Vec::new();
            for g in [60, 80, 120] {
                for c in [256, 512, 1024] {
                    for t in [0.6, 0.8] {
                        v.push(Config::new(g, c, t));
                    }
                }
            }
            v
        };
        match self {
            Grid::Baseline => vec![Config::BASELINE],
            Grid::Full => full(),
            Grid::Gpu => [60, 80, 120].map(|g| Config::new(g, 1024, 0.8)).to_vec(),
            Grid::Ctx => [256, 512, 1024].map(|c| Config::new(80, c, 0.8)).to_vec(),
            Grid::Mixed => {
                let mut v = vec![Config::BASELINE];
                v.extend(full());
                v
            }
        }
    }
}

/// What one simulated call observed (seconds, tokens).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obs {
    pub ttft_s: f64,
    pub tokens_s: f64,
    pub load_s: f64,
    pub prompt_eval_s: f64,
    pub eval_s: f64,
    pub prompt_eval_count: u32,
    pub eval_count: u32,
    pub response_chars: u32,
}

/// One simulated call: its start time, setup, and either observations or an error.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub ts: u64,
    pub model: &'static str,
    pub cfg: Config,
    pub cold: bool,
    pub result: Result<Obs, &'static str>,
}

const ERRORS: [&str; 4] = [
    "timeout after 120s",
    "connection refused (ollama not running?)",
    "HTTP 500: llama runner process has terminated",
    "context length exceeded: prompt truncated to num_ctx",
];

fn base_decode(model: &str) -> f64 {
    match model {
        "gemma3:latest" => 104.0,
        "llama3.1:8b-instruct-q4_0" => 79.0,
        _ => 88.0,
    }
}

/// Simulates one call of `model` with `cfg`; `cold` adds a model load.
pub(crate) fn simulate(
    rng: &mut SplitMix64,
    model: &str,
    cfg: Config,
    cold: bool,
) -> Result<Obs, &'static str> {
    if rng.chance(0.03) {
        return Err(*rng.pick(&ERRORS));
    }
    let gpu = match cfg.num_gpu {
        Some(60) => 0.78,
        Some(80) => 0.92,
        _ => 1.0,
    };
    let ctx = match cfg.num_ctx {
        Some(256) => 1.03,
        Some(512) => 1.015,
        _ => 1.0,
    };
    let tokens_s = (base_decode(model) * gpu * ctx * rng.range_f64(0.95, 1.05)).clamp(60.0, 120.0);
    let prompt_eval_count = rng.range_u64(240, 640) as u32;
    let prefill = rng.range_f64(1500.0, 2600.0) * gpu;
    let prompt_eval_s = prompt_eval_count as f64 / prefill;
    let load_s = if cold { rng.range_f64(0.9, 3.3) } else { 0.0 };
    let overhead = rng.range_f64(0.02, 0.08);
    let ttft_s = (load_s + prompt_eval_s + overhead).max(0.2);
    let eval_count = rng.range_u64(90, 950) as u32;
    let eval_s = eval_count as f64 / tokens_s;
    let response_chars = (eval_count as f64 * rng.range_f64(3.6, 4.6)) as u32;
    Ok(Obs {
        ttft_s,
        tokens_s,
        load_s,
        prompt_eval_s,
        eval_s,
        prompt_eval_count,
        eval_count,
        response_chars,
    })
}

/// Wall-clock stand-in: advances through simulated calls from a seed-derived start.
pub(crate) struct Clock {
    pub t: f64,
}

/// Runs calls until at least `target` rows exist: for each (model, config) block,
/// `3..=5` runs, the first one cold (changing options reloads the model).
pub(crate) fn session(
    rng: &mut SplitMix64,
    clock: &mut Clock,
    models: &[&'static str],
    configs: &[Config],
    target: usize,
) -> Vec<Call> {
    let mut calls = Vec::with_capacity(target + 5);
    let mut block = rng.below(configs.len() as u64) as usize;
    while calls.len() < target {
        let model = models[block % models.len()];
        let cfg = configs[(block / models.len()) % configs.len()];
        block += 1;
        let runs = rng.range_u64(3, 5);
        for i in 0..runs {
            let cold = i == 0;
            let result = simulate(rng, model, cfg, cold);
            let spent = match &result {
                Ok(o) => o.ttft_s + o.eval_s,
                Err(_) => rng.range_f64(1.0, 30.0),
            };
            calls.push(Call {
                ts: clock.t as u64,
                model,
                cfg,
                cold,
                result,
            });
            clock.t += spent + rng.range_f64(0.3, 2.0);
        }
        clock.t += rng.range_f64(5.0, 90.0);
    }
    calls
}

/// Summary statistics of a slice of values (mean, min, max); `None` when empty.
pub(crate) fn stats(values: &[f64]) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    let mut sum = 0.0;
    for &v in values {
        min = min.min(v);
        max = max.max(v);
        sum += v;
    }
    Some((sum / values.len() as f64, min, max))
}

/// Rounds to `d` decimals (for JSON numbers that look like real tool output).
pub(crate) fn round(x: f64, d: i32) -> f64 {
    let p = 10f64.powi(d);
    (x * p).round() / p
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (proleptic Gregorian, UTC).
pub(crate) fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_727_740_800), "2024-10-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400 + 3661), "2000-02-29T01:01:01Z");
    }

    #[test]
    fn simulated_values_are_plausible() {
        let mut rng = SplitMix64::new(7);
        let mut errors = 0;
        for i in 0..2000 {
            let cold = i % 4 == 0;
            match simulate(&mut rng, MODELS[i % 3], Config::new(60, 256, 0.6), cold) {
                Ok(o) => {
                    assert!((60.0..=120.0).contains(&o.tokens_s));
                    if cold {
                        assert!((1.0..=4.0).contains(&o.ttft_s), "cold {}", o.ttft_s);
                    } else {
                        assert!((0.2..=0.7).contains(&o.ttft_s), "warm {}", o.ttft_s);
                    }
                }
                Err(_) => errors += 1,
            }
        }
        assert!((20..=120).contains(&errors), "errors {errors}");
    }
}
