//! Layout of the corpus and rendering of each file kind.

use super::sim::{iso8601, round, session, stats, Call, Clock, Config, Grid, MODELS};
use super::GenFile;
use crate::rng::SplitMix64;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

const GEMMA: &str = MODELS[0];
const LLAMA: &str = MODELS[1];
const QWEN: &str = MODELS[2];

struct Topic {
    dir: &'static str,
    title: &'static str,
    csv: usize,
    json: usize,
    md: usize,
    models: &'static [&'static str],
    grid: Grid,
}

const TOPICS: [Topic; 8] = [
    Topic {
        dir: "reports/gemma3_baseline",
        title: "Gemma3 baseline",
        csv: 3,
        json: 5,
        md: 4,
        models: &[GEMMA],
        grid: Grid::Baseline,
    },
    Topic {
        dir: "reports/param_sweep",
        title: "Parameter sweep",
        csv: 4,
        json: 8,
        md: 5,
        models: &[GEMMA],
        grid: Grid::Full,
    },
    Topic {
        dir: "reports/ollama_tuning",
        title: "Ollama tuning",
        csv: 2,
        json: 5,
        md: 4,
        models: &[LLAMA],
        grid: Grid::Mixed,
    },
    Topic {
        dir: "reports/model_comparison",
        title: "Model comparison",
        csv: 2,
        json: 5,
        md: 4,
        models: &[GEMMA, LLAMA, QWEN],
        grid: Grid::Baseline,
    },
    Topic {
        dir: "reports/context_scaling",
        title: "Context scaling",
        csv: 1,
        json: 4,
        md: 3,
        models: &[QWEN, GEMMA],
        grid: Grid::Ctx,
    },
    Topic {
        dir: "reports/gpu_offload",
        title: "GPU offload",
        csv: 2,
        json: 4,
        md: 3,
        models: &[GEMMA, LLAMA, QWEN],
        grid: Grid::Gpu,
    },
    Topic {
        dir: "reports/agent_workflow",
        title: "Agent workflow",
        csv: 0,
        json: 3,
        md: 4,
        models: &[GEMMA, LLAMA],
        grid: Grid::Baseline,
    },
    Topic {
        dir: "csv_data",
        title: "Raw timings",
        csv: 14,
        json: 10,
        md: 0,
        models: &[GEMMA, LLAMA, QWEN],
        grid: Grid::Mixed,
    },
];

const PROMPTS: [&str; 6] = [
    "Summarize the benchmark results in reports/param_sweep",
    "Analyze TTFT: cold vs warm starts, and the cost of model loads",
    "Which num_gpu setting gives the best decode throughput?",
    "Write recommendations for num_ctx given the prompt sizes, with caveats",
    "Compare gemma3, llama3.1 and qwen2.5 on tokens/s",
    "Explain the error rows and how to avoid them",
];

const MD_NAMES: [&str; 5] = ["summary", "findings", "analysis", "run_notes", "comparison"];

pub(super) fn build(seed: u64) -> Vec<GenFile> {
    let mut rng = SplitMix64::new(seed);
    // Fixed start derived from the seed: 2024-10-01 plus up to a year, at 08:00 UTC.
    let start = 1_727_740_800 + (seed % 365) * 86_400 + 8 * 3600;
    let mut clock = Clock { t: start as f64 };
    let mut files = Vec::with_capacity(101);
    for (ti, topic) in TOPICS.iter().enumerate() {
        let configs = topic.grid.configs();
        for i in 0..topic.csv {
            let mut r = rng.fork(ti as u64 * 1000 + i as u64);
            let target = r.range_u64(44, 56) as usize;
            let calls = session(&mut r, &mut clock, topic.models, &configs, target);
            let prompt_first = topic.dir == "csv_data" && i % 3 == 2;
            let (name, bytes) = if prompt_first {
                (
                    format!("prompt_timings_{:02}.csv", i + 1),
                    csv_prompt_first(&mut r, &calls),
                )
            } else {
                (
                    format!("ollama_timings_{:02}.csv", i + 1),
                    csv_timings(&calls),
                )
            };
            files.push(GenFile {
                path: format!("{}/{name}", topic.dir),
                bytes,
            });
        }
        for i in 0..topic.json {
            let mut r = rng.fork(ti as u64 * 1000 + 100 + i as u64);
            let (name, value) = match (i + ti) % 4 {
                0 => (
                    "model_results",
                    json_model_results(&mut r, &mut clock, topic, &configs),
                ),
                1 => (
                    "backend_compare",
                    json_backends(&mut r, &mut clock, topic, &configs),
                ),
                2 => (
                    "test_suite",
                    json_test_suite(&mut r, &mut clock, topic, &configs),
                ),
                _ => ("runs", json_runs(&mut r, &mut clock, topic, &configs)),
            };
            let mut bytes =
                serde_json::to_vec_pretty(&value).expect("JSON values always serialize");
            bytes.push(b'\n');
            files.push(GenFile {
                path: format!("{}/{name}_{:02}.json", topic.dir, i + 1),
                bytes,
            });
        }
        for i in 0..topic.md {
            let mut r = rng.fork(ti as u64 * 1000 + 200 + i as u64);
            let calls = session(&mut r, &mut clock, topic.models, &configs, 24);
            let name = MD_NAMES[i % MD_NAMES.len()];
            let title = format!("{}: {}", topic.title, name.replace('_', " "));
            files.push(GenFile {
                path: format!("{}/{name}.md", topic.dir),
                bytes: markdown_report(&title, &calls).into_bytes(),
            });
        }
    }
    // Two top-level Markdown files: an index and an overall summary.
    let mut r = rng.fork(9999);
    files.push(GenFile {
        path: "reports/README.md".into(),
        bytes: readme().into_bytes(),
    });
    let all = Grid::Mixed.configs();
    let calls = session(&mut r, &mut clock, &MODELS, &all, 60);
    files.push(GenFile {
        path: "reports/SUMMARY.md".into(),
        bytes: markdown_report("Benchmark summary: all models", &calls).into_bytes(),
    });
    files
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn temp_str(t: Option<f64>) -> String {
    t.map(|t| format!("{t:.1}")).unwrap_or_default()
}

fn csv_timings(calls: &[Call]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "timestamp",
        "model",
        "num_gpu",
        "num_ctx",
        "temperature",
        "ttft_s",
        "tokens_s",
        "load_s",
        "prompt_eval_s",
        "eval_s",
        "prompt_eval_count",
        "eval_count",
        "total_tokens",
        "response_chars",
        "error",
    ];
    w.write_record(header).expect("in-memory write");
    for c in calls {
        let mut row = vec![
            iso8601(c.ts),
            c.model.to_string(),
            opt(c.cfg.num_gpu),
            opt(c.cfg.num_ctx),
            temp_str(c.cfg.temperature),
        ];
        obs_fields(&mut row, c);
        w.write_record(&row).expect("in-memory write");
    }
    w.into_inner().expect("in-memory flush")
}

fn obs_fields(row: &mut Vec<String>, c: &Call) {
    match &c.result {
        Ok(o) => {
            row.extend([
                format!("{:.3}", o.ttft_s),
                format!("{:.2}", o.tokens_s),
                format!("{:.3}", o.load_s),
                format!("{:.3}", o.prompt_eval_s),
                format!("{:.3}", o.eval_s),
                o.prompt_eval_count.to_string(),
                o.eval_count.to_string(),
                (o.prompt_eval_count + o.eval_count).to_string(),
                o.response_chars.to_string(),
                String::new(),
            ]);
        }
        Err(e) => {
            row.extend(std::iter::repeat_n(String::new(), 9));
            row.push((*e).to_string());
        }
    }
}

fn csv_prompt_first(rng: &mut SplitMix64, calls: &[Call]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "prompt",
        "ttft_s",
        "tokens_s",
        "load_s",
        "prompt_eval_s",
        "eval_s",
        "prompt_eval_count",
        "eval_count",
        "total_tokens",
        "response_chars",
        "error",
    ];
    w.write_record(header).expect("in-memory write");
    for c in calls {
        let mut row = vec![rng.pick(&PROMPTS).to_string()];
        obs_fields(&mut row, c);
        w.write_record(&row).expect("in-memory write");
    }
    w.into_inner().expect("in-memory flush")
}

fn cfg_object(cfg: &Config) -> Value {
    let mut m = Map::new();
    if let Some(g) = cfg.num_gpu {
        m.insert("num_gpu".into(), json!(g));
    }
    if let Some(c) = cfg.num_ctx {
        m.insert("num_ctx".into(), json!(c));
    }
    if let Some(t) = cfg.temperature {
        m.insert("temperature".into(), json!(t));
    }
    Value::Object(m)
}

fn ns(s: f64) -> u64 {
    (s * 1e9).round() as u64
}

/// `{model, results[...]}` with Ollama's native nanosecond durations and `ttft_ms`.
fn json_model_results(
    rng: &mut SplitMix64,
    clock: &mut Clock,
    topic: &Topic,
    configs: &[Config],
) -> Value {
    let model = *rng.pick(topic.models);
    let n = rng.range_u64(11, 15) as usize;
    let calls = session(rng, clock, &[model], configs, n);
    let results: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| match &c.result {
            Ok(o) => json!({
                "run": i + 1,
                "timestamp": iso8601(c.ts),
                "options": cfg_object(&c.cfg),
                "cold_start": c.cold,
                "ttft_ms": round(o.ttft_s * 1000.0, 1),
                "tokens_per_second": round(o.tokens_s, 2),
                "load_duration": ns(o.load_s),
                "prompt_eval_duration": ns(o.prompt_eval_s),
                "eval_duration": ns(o.eval_s),
                "total_duration": ns(o.ttft_s + o.eval_s),
                "prompt_eval_count": o.prompt_eval_count,
                "eval_count": o.eval_count,
                "done_reason": "stop"
            }),
            Err(e) => json!({
                "run": i + 1,
                "timestamp": iso8601(c.ts),
                "options": cfg_object(&c.cfg),
                "cold_start": c.cold,
                "error": e
            }),
        })
        .collect();
    json!({ "model": model, "host": "bench-node-01", "ollama_version": "0.5.7", "results": results })
}

/// `{generated_at, settings{}, backends{...}}`: one model and config, two client backends.
fn json_backends(
    rng: &mut SplitMix64,
    clock: &mut Clock,
    topic: &Topic,
    configs: &[Config],
) -> Value {
    let model = *rng.pick(topic.models);
    let cfg = *rng.pick(configs);
    let generated_at = iso8601(clock.t as u64);
    let mut backends = Map::new();
    for backend in ["rust-agent", "python-agent"] {
        let calls = session(rng, clock, &[model], &[cfg], 6);
        let mut tps = Vec::new();
        let mut ttft = Vec::new();
        let runs: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| match &c.result {
                Ok(o) => {
                    tps.push(o.tokens_s);
                    ttft.push(o.ttft_s);
                    json!({
                        "run": i + 1,
                        "ttft_s": round(o.ttft_s, 3),
                        "tokens_per_second": round(o.tokens_s, 2),
                        "load_duration": ns(o.load_s),
                        "eval_duration": ns(o.eval_s),
                        "eval_count": o.eval_count,
                        "prompt_eval_count": o.prompt_eval_count
                    })
                }
                Err(e) => json!({ "run": i + 1, "error": e }),
            })
            .collect();
        let (m_tps, _, _) = stats(&tps).unwrap_or_default();
        let (m_ttft, _, _) = stats(&ttft).unwrap_or_default();
        backends.insert(
            backend.into(),
            json!({
                "runs": runs,
                "mean_tokens_per_second": round(m_tps, 2),
                "mean_ttft_s": round(m_ttft, 3),
                "failed_runs": calls.iter().filter(|c| c.result.is_err()).count()
            }),
        );
    }
    let mut settings = Map::new();
    settings.insert("model".into(), json!(model));
    settings.insert("num_gpu".into(), json!(cfg.num_gpu));
    settings.insert("num_ctx".into(), json!(cfg.num_ctx));
    settings.insert("temperature".into(), json!(cfg.temperature));
    settings.insert("stream".into(), json!(true));
    json!({ "generated_at": generated_at, "settings": settings, "backends": backends })
}

/// `{test_timestamp, total_tests, successful_tests, overall_tokens_per_second, results[], summary{}}`.
fn json_test_suite(
    rng: &mut SplitMix64,
    clock: &mut Clock,
    topic: &Topic,
    configs: &[Config],
) -> Value {
    let test_timestamp = iso8601(clock.t as u64);
    let n = rng.range_u64(11, 15) as usize;
    let calls = session(rng, clock, topic.models, configs, n);
    let mut tps = Vec::new();
    let mut ttft = Vec::new();
    let results: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (success, ttft_s, tok_s, total, error) = match &c.result {
                Ok(o) => {
                    tps.push(o.tokens_s);
                    ttft.push(o.ttft_s);
                    (
                        true,
                        json!(round(o.ttft_s, 3)),
                        json!(round(o.tokens_s, 2)),
                        json!(o.prompt_eval_count + o.eval_count),
                        Value::Null,
                    )
                }
                Err(e) => (false, Value::Null, Value::Null, Value::Null, json!(e)),
            };
            json!({
                "test_name": format!("{}_{:03}", topic.dir.rsplit('/').next().unwrap_or("test"), i + 1),
                "model": c.model,
                "num_gpu": c.cfg.num_gpu,
                "num_ctx": c.cfg.num_ctx,
                "temperature": c.cfg.temperature,
                "success": success,
                "ttft_s": ttft_s,
                "tokens_per_second": tok_s,
                "total_tokens": total,
                "error": error
            })
        })
        .collect();
    let (m_tps, lo, hi) = stats(&tps).unwrap_or_default();
    let (m_ttft, _, _) = stats(&ttft).unwrap_or_default();
    json!({
        "test_timestamp": test_timestamp,
        "total_tests": calls.len(),
        "successful_tests": tps.len(),
        "overall_tokens_per_second": round(m_tps, 2),
        "results": results,
        "summary": {
            "avg_ttft_s": round(m_ttft, 3),
            "avg_tokens_per_second": round(m_tps, 2),
            "min_tokens_per_second": round(lo, 2),
            "max_tokens_per_second": round(hi, 2),
            "failed_tests": calls.len() - tps.len()
        }
    })
}

/// `{benchmark, runs[{model, config{}, metrics{throughput, latency_ms, ttft_s}}]}`.
fn json_runs(rng: &mut SplitMix64, clock: &mut Clock, topic: &Topic, configs: &[Config]) -> Value {
    let n = rng.range_u64(12, 16) as usize;
    let calls = session(rng, clock, topic.models, configs, n);
    let runs: Vec<Value> = calls
        .iter()
        .map(|c| match &c.result {
            Ok(o) => json!({
                "model": c.model,
                "started_at": iso8601(c.ts),
                "config": cfg_object(&c.cfg),
                "status": "ok",
                "metrics": {
                    "throughput": round(o.tokens_s, 2),
                    "ttft_s": round(o.ttft_s, 3),
                    "latency_ms": round((o.ttft_s + o.eval_s) * 1000.0, 1),
                    "eval_count": o.eval_count
                }
            }),
            Err(e) => json!({
                "model": c.model,
                "started_at": iso8601(c.ts),
                "config": cfg_object(&c.cfg),
                "status": "error",
                "error": e
            }),
        })
        .collect();
    json!({ "benchmark": topic.title, "source": "agent-bench", "runs": runs })
}

struct Group {
    model: &'static str,
    cfg: Config,
    tps: Vec<f64>,
    warm: Vec<f64>,
    cold: Vec<f64>,
    load: Vec<f64>,
    errors: usize,
}

fn markdown_report(title: &str, calls: &[Call]) -> String {
    let mut groups: Vec<Group> = Vec::new();
    for c in calls {
        let idx = match groups
            .iter()
            .position(|g| g.model == c.model && g.cfg == c.cfg)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    model: c.model,
                    cfg: c.cfg,
                    tps: vec![],
                    warm: vec![],
                    cold: vec![],
                    load: vec![],
                    errors: 0,
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[idx];
        match &c.result {
            Ok(o) => {
                g.tps.push(o.tokens_s);
                if c.cold {
                    g.cold.push(o.ttft_s);
                    g.load.push(o.load_s);
                } else {
                    g.warm.push(o.ttft_s);
                }
            }
            Err(_) => g.errors += 1,
        }
    }
    let all = |f: fn(&Group) -> &Vec<f64>| {
        groups
            .iter()
            .flat_map(|g| f(g).iter().copied())
            .collect::<Vec<_>>()
    };
    let tps = all(|g| &g.tps);
    let warm = all(|g| &g.warm);
    let cold = all(|g| &g.cold);
    let load = all(|g| &g.load);
    let errors: usize = groups.iter().map(|g| g.errors).sum();
    let mean = |v: &[f64]| stats(v).map(|s| s.0).unwrap_or(0.0);
    let ranked = {
        let mut r: Vec<(&Group, f64)> = groups
            .iter()
            .filter_map(|g| stats(&g.tps).map(|s| (g, s.0)))
            .collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1));
        r
    };
    let date = calls.first().map(|c| iso8601(c.ts)).unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "# {title}\n");
    let _ = writeln!(
        s,
        "Generated {date} from {} calls across {} model/configuration pairs.\n",
        calls.len(),
        groups.len()
    );
    let _ = writeln!(s, "## Overview\n");
    let _ = writeln!(
        s,
        "Each configuration was run 3-5 times back to back; the first run after an options change \
         reloads the model, so its TTFT includes the load time. Throughput is the server's \
         eval_count / eval_duration.\n"
    );
    let _ = writeln!(s, "## Results\n\n| Metric | Value |\n|--------|-------|");
    let _ = writeln!(s, "| Total calls | {} |", calls.len());
    let _ = writeln!(s, "| Successful calls | {} |", calls.len() - errors);
    let _ = writeln!(s, "| Mean decode throughput | {:.2} tok/s |", mean(&tps));
    let _ = writeln!(s, "| Mean TTFT (warm) | {:.3} s |", mean(&warm));
    let _ = writeln!(s, "| Mean TTFT (cold) | {:.3} s |", mean(&cold));
    let _ = writeln!(s, "| Mean model load (cold) | {:.3} s |", mean(&load));
    if let Some((g, v)) = ranked.first() {
        let _ = writeln!(
            s,
            "| Best configuration | {} {} ({v:.2} tok/s) |",
            g.model,
            g.cfg.label()
        );
    }
    let _ = writeln!(s, "\n## Per-configuration results\n");
    let _ = writeln!(s, "| Model | Configuration | Runs | Mean tok/s | Warm TTFT (s) | Errors |\n|---|---|---|---|---|---|");
    for g in &groups {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {:.3} | {} |",
            g.model,
            g.cfg.label(),
            g.tps.len() + g.errors,
            mean(&g.tps),
            mean(&g.warm),
            g.errors
        );
    }
    let _ = writeln!(s, "\n## Key Findings\n");
    if let (Some((best, bv)), Some((worst, wv))) = (ranked.first(), ranked.last()) {
        let _ = writeln!(
            s,
            "- Fastest: {} with {} at {bv:.2} tok/s.",
            best.model,
            best.cfg.label()
        );
        if ranked.len() > 1 {
            let _ = writeln!(
                s,
                "- Slowest: {} with {} at {wv:.2} tok/s ({:.1}% below the fastest).",
                worst.model,
                worst.cfg.label(),
                (1.0 - wv / bv) * 100.0
            );
        }
    }
    let _ = writeln!(
        s,
        "- Cold starts averaged {:.2} s TTFT versus {:.2} s warm: model load dominates first-call latency.",
        mean(&cold),
        mean(&warm)
    );
    let _ = writeln!(
        s,
        "- {errors} of {} calls failed; failed calls are excluded from throughput means.",
        calls.len()
    );
    let _ = writeln!(s, "\n## Recommendations\n");
    let _ = writeln!(
        s,
        "- Report warm and cold TTFT separately; never average them together."
    );
    let _ = writeln!(
        s,
        "- Keep options fixed within a run so the model is not reloaded between calls."
    );
    if ranked.iter().any(|(g, _)| g.cfg.num_gpu == Some(60)) {
        let _ = writeln!(
            s,
            "- Prefer full GPU offload (num_gpu=120): num_gpu=60 decodes measurably slower."
        );
    }
    s
}

fn readme() -> String {
    let mut s =
        String::from("# Benchmark reports\n\nIndex of the report folders in this corpus.\n\n");
    s.push_str("| Folder | Topic | CSV | JSON | Markdown |\n|---|---|---|---|---|\n");
    for t in &TOPICS {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            t.dir, t.title, t.csv, t.json, t.md
        );
    }
    s.push_str("\n## Notes\n\n");
    s.push_str("- Timings come from Ollama's final `done` line (durations in nanoseconds) or client-side clocks (`ttft_s`).\n");
    s.push_str("- `num_gpu`, `num_ctx` and `temperature` left empty mean the Ollama defaults (baseline).\n");
    s.push_str("- Rows with a non-empty `error` column are failed calls and carry no timings.\n");
    s
}
