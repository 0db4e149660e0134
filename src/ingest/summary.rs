//! The data summary handed to the prompts: aggregates, errors, findings, files.

use super::{Corpus, CorpusStats, CsvData, FileKind, JsonData, MarkdownData, ParseOutcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// Maximum findings kept in a [`DataSummary`].
pub const MAX_FINDINGS: usize = 20;
/// Maximum findings taken from one Markdown file.
const FINDINGS_PER_FILE: usize = 2;
/// Maximum key metric rows kept in a [`DataSummary`].
pub const MAX_KEY_METRICS: usize = 20;
/// Maximum key metric rows taken from one Markdown file.
const METRICS_PER_FILE: usize = 4;
/// Model name used for observations that carry no model.
pub const UNATTRIBUTED: &str = "(unattributed)";

/// Distribution of a metric: count, mean, median, min, max.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dist {
    /// Number of values.
    pub n: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (mean of the two middle values for even n).
    pub median: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

impl Dist {
    /// `None` for an empty slice; sorts `values` in place.
    pub fn of(values: &mut [f64]) -> Option<Dist> {
        if values.is_empty() {
            return None;
        }
        // Values equal under `total_cmp` have the same bits, so an unstable sort
        // leaves the same slice as a stable one, without its buffer.
        values.sort_unstable_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Dist {
            n: n as u64,
            mean: values.iter().sum::<f64>() / n as f64,
            median,
            min: values[0],
            max: values[n - 1],
        })
    }
}

/// Aggregates for one model over all CSV rows and JSON records attributed to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelAggregate {
    /// Model name, or [`UNATTRIBUTED`].
    pub model: String,
    /// Observations (successful or failed calls).
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Decode throughput (tok/s) of successful calls.
    pub tokens_per_second: Option<Dist>,
    /// TTFT (s) of all successful calls, cold and warm mixed.
    pub ttft_s: Option<Dist>,
    /// TTFT (s) of calls known to be warm (no model load).
    pub ttft_warm_s: Option<Dist>,
    /// TTFT (s) of calls known to be cold (model load included).
    pub ttft_cold_s: Option<Dist>,
}

/// Aggregates for one (model, num_gpu, num_ctx, temperature) configuration;
/// `None` options mean Ollama defaults (baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigAggregate {
    /// Model name.
    pub model: String,
    /// `num_gpu` option.
    pub num_gpu: Option<i64>,
    /// `num_ctx` option.
    pub num_ctx: Option<i64>,
    /// `temperature` option.
    pub temperature: Option<f64>,
    /// Observations.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Decode throughput (tok/s).
    pub tokens_per_second: Option<Dist>,
    /// Warm TTFT (s).
    pub ttft_warm_s: Option<Dist>,
    /// Cold TTFT (s).
    pub ttft_cold_s: Option<Dist>,
}

impl ConfigAggregate {
    /// `baseline` or e.g. `num_gpu=80 num_ctx=512 temperature=0.80`.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(g) = self.num_gpu {
            parts.push(format!("num_gpu={g}"));
        }
        if let Some(c) = self.num_ctx {
            parts.push(format!("num_ctx={c}"));
        }
        if let Some(t) = self.temperature {
            parts.push(format!("temperature={t:.2}"));
        }
        if parts.is_empty() {
            "baseline".to_string()
        } else {
            parts.join(" ")
        }
    }
}

/// One error message and how often it occurred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    /// The message as recorded.
    pub message: String,
    /// Occurrences.
    pub count: u64,
}

/// Failed calls found in the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorSummary {
    /// Total failed calls.
    pub total: u64,
    /// Counts per message, most frequent first (ties by message).
    pub by_message: Vec<ErrorCount>,
}

/// A text snippet and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourcedText {
    /// Relative path of the source file.
    pub source: String,
    /// The text.
    pub text: String,
}

/// A `| Metric | Value |` row from a Markdown file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyMetric {
    /// Relative path of the source file.
    pub source: String,
    /// Metric name (first cell).
    pub metric: String,
    /// Value (second cell).
    pub value: String,
}

/// Files per folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirSummary {
    /// Folder relative to the root (`.` for the root itself).
    pub dir: String,
    /// CSV files.
    pub csv: u64,
    /// JSON files.
    pub json: u64,
    /// Markdown files.
    pub markdown: u64,
    /// Bytes of those files.
    pub bytes: u64,
}

/// One file of the corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    /// Relative path.
    pub path: String,
    /// Kind.
    pub kind: FileKind,
    /// Size in bytes.
    pub bytes: u64,
    /// `false` when the file was skipped.
    pub parsed: bool,
}

/// Everything the prompts need, derived deterministically from a [`Corpus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSummary {
    /// Corpus counts (files per kind, bytes, skipped with reasons).
    pub stats: CorpusStats,
    /// CSV rows and JSON records that contributed to the aggregates.
    pub observations: u64,
    /// Per-model aggregates, sorted by model name.
    pub models: Vec<ModelAggregate>,
    /// Per-configuration aggregates, sorted by (model, num_gpu, num_ctx, temperature),
    /// defaults first; only observations with a known model.
    pub configs: Vec<ConfigAggregate>,
    /// Failed calls.
    pub errors: ErrorSummary,
    /// Bullet items under "findings"-like Markdown headings (deduplicated, at most
    /// [`MAX_FINDINGS`], at most 2 per file, in walk order).
    pub findings: Vec<SourcedText>,
    /// Rows of `| Metric | Value |` tables (at most [`MAX_KEY_METRICS`], 4 per file).
    pub key_metrics: Vec<KeyMetric>,
    /// Files per folder, sorted by folder.
    pub dirs: Vec<DirSummary>,
    /// Every considered file in walk order.
    pub files: Vec<FileSummary>,
}

struct Obs<'a> {
    model: Option<&'a str>,
    num_gpu: Option<f64>,
    num_ctx: Option<f64>,
    temperature: Option<f64>,
    tps: Option<f64>,
    ttft: Option<f64>,
    cold: Option<bool>,
    error: Option<&'a str>,
}

#[derive(Default)]
struct Acc {
    calls: u64,
    errors: u64,
    tps: Vec<f64>,
    ttft: Vec<f64>,
    warm: Vec<f64>,
    cold: Vec<f64>,
}

impl Acc {
    fn add(&mut self, o: &Obs<'_>) {
        self.calls += 1;
        if o.error.is_some() {
            self.errors += 1;
            return;
        }
        self.tps.extend(o.tps);
        if let Some(t) = o.ttft {
            self.ttft.push(t);
            match o.cold {
                Some(true) => self.cold.push(t),
                Some(false) => self.warm.push(t),
                None => {}
            }
        }
    }
}

/// Accumulators by key. Observations come in runs with the same key (one file's
/// rows, one run's records), so the key of the last lookup is tried before the
/// ordered index: most observations cost one key comparison.
struct Accs<K> {
    /// Position in `accs` of each key's accumulator.
    index: BTreeMap<K, usize>,
    /// Accumulators, in first-seen order.
    accs: Vec<Acc>,
    /// The key of the last lookup and its position.
    last: Option<(K, usize)>,
}

impl<K: Ord + Copy> Accs<K> {
    fn new() -> Self {
        Self {
            index: BTreeMap::new(),
            accs: Vec::new(),
            last: None,
        }
    }

    /// The accumulator of `key` (a new, empty one the first time).
    fn get(&mut self, key: K) -> &mut Acc {
        let at = match self.last {
            Some((k, at)) if k == key => at,
            _ => {
                let next = self.accs.len();
                let at = *self.index.entry(key).or_insert(next);
                if at == next {
                    self.accs.push(Acc::default());
                }
                self.last = Some((key, at));
                at
            }
        };
        &mut self.accs[at]
    }

    /// Every key and its accumulator, in key order.
    fn into_sorted(self) -> impl Iterator<Item = (K, Acc)> {
        let mut accs = self.accs;
        self.index
            .into_iter()
            .map(move |(k, at)| (k, std::mem::take(&mut accs[at])))
    }
}

/// (model, num_gpu, num_ctx, temperature × 1000): borrowed, so that an observation
/// costs no allocation; ordered as the owned key would be.
type ConfigKey<'c> = (&'c str, Option<i64>, Option<i64>, Option<i64>);

fn cold_from_load(load_s: Option<f64>) -> Option<bool> {
    load_s.map(|l| l > 0.05)
}

fn csv_obs<'a>(d: &'a CsvData, mut f: impl FnMut(Obs<'a>)) {
    let col = |names: &[&str]| names.iter().find_map(|n| d.numeric(n));
    let tps = col(&["tokens_s", "tokens_per_second", "tok_s", "throughput"]);
    let ttft_s = col(&["ttft_s", "ttft"]);
    let ttft_ms = d.numeric("ttft_ms");
    let load_s = d.numeric("load_s");
    let load_ns = d.numeric("load_duration");
    let (gpu, ctx, temp) = (
        d.numeric("num_gpu"),
        d.numeric("num_ctx"),
        d.numeric("temperature"),
    );
    let model = d.label("model");
    let error = d.label("error");
    if tps.is_none() && ttft_s.is_none() && ttft_ms.is_none() {
        return;
    }
    let at = |c: Option<&super::NumericColumn>, i: usize| {
        c.and_then(|c| c.values.get(i).copied().flatten())
    };
    let label = |c: Option<&'a super::LabelColumn>, i: usize| {
        c.and_then(|c| c.values.get(i)).and_then(|v| v.as_deref())
    };
    for i in 0..d.rows as usize {
        let o = Obs {
            model: label(model, i),
            num_gpu: at(gpu, i),
            num_ctx: at(ctx, i),
            temperature: at(temp, i),
            tps: at(tps, i),
            ttft: at(ttft_s, i).or_else(|| at(ttft_ms, i).map(|v| v / 1000.0)),
            cold: cold_from_load(at(load_s, i).or_else(|| at(load_ns, i).map(|v| v / 1e9))),
            error: label(error, i),
        };
        if o.error.is_some() || o.tps.is_some() || o.ttft.is_some() {
            f(o);
        }
    }
}

fn json_obs<'a>(d: &'a JsonData, mut f: impl FnMut(Obs<'a>)) {
    for r in &d.records {
        if r.error.is_none() && r.tokens_per_second.is_none() && r.ttft_s.is_none() {
            continue;
        }
        f(Obs {
            model: r.model.as_deref(),
            num_gpu: r.num_gpu,
            num_ctx: r.num_ctx,
            temperature: r.temperature,
            tps: r.tokens_per_second,
            ttft: r.ttft_s,
            cold: r.cold_start.or_else(|| cold_from_load(r.load_s)),
            error: r.error.as_deref(),
        });
    }
}

fn is_findings_section(section: Option<&str>) -> bool {
    section.is_some_and(|s| {
        let s = s.to_ascii_lowercase();
        ["finding", "insight", "observation", "takeaway"]
            .iter()
            .any(|k| s.contains(k))
    })
}

fn md_extract(
    path: &str,
    d: &MarkdownData,
    findings: &mut Vec<SourcedText>,
    metrics: &mut Vec<KeyMetric>,
) {
    let mut taken = 0;
    for b in &d.bullets {
        if findings.len() >= MAX_FINDINGS || taken >= FINDINGS_PER_FILE {
            break;
        }
        if is_findings_section(b.section.as_deref()) && !findings.iter().any(|f| f.text == b.text) {
            findings.push(SourcedText {
                source: path.to_string(),
                text: b.text.clone(),
            });
            taken += 1;
        }
    }
    let mut taken = 0;
    for t in d.tables.iter().filter(|t| t.is_metric_value()) {
        for row in &t.rows {
            if metrics.len() >= MAX_KEY_METRICS || taken >= METRICS_PER_FILE {
                return;
            }
            if let [metric, value, ..] = row.as_slice() {
                metrics.push(KeyMetric {
                    source: path.to_string(),
                    metric: metric.clone(),
                    value: value.clone(),
                });
                taken += 1;
            }
        }
    }
}

fn key_of<'c>(o: &Obs<'_>, model: &'c str) -> ConfigKey<'c> {
    (
        model,
        o.num_gpu.map(|v| v.round() as i64),
        o.num_ctx.map(|v| v.round() as i64),
        o.temperature.map(|v| (v * 1000.0).round() as i64),
    )
}

/// Builds the [`DataSummary`] of a corpus. Deterministic: the same corpus always yields
/// the same summary (walk order, `BTreeMap`s, fixed caps).
pub fn summarize<'c>(corpus: &'c Corpus) -> DataSummary {
    let mut models: Accs<&'c str> = Accs::new();
    let mut configs: Accs<ConfigKey<'c>> = Accs::new();
    let mut errors: BTreeMap<&'c str, u64> = BTreeMap::new();
    let mut observations = 0u64;
    let mut findings = Vec::new();
    let mut key_metrics = Vec::new();
    let mut dirs: BTreeMap<&str, DirSummary> = BTreeMap::new();
    let mut files = Vec::with_capacity(corpus.files.len());
    {
        let mut add = |o: Obs<'c>| {
            observations += 1;
            let model = o.model.unwrap_or(UNATTRIBUTED);
            models.get(model).add(&o);
            if o.model.is_some() {
                configs.get(key_of(&o, model)).add(&o);
            }
            if let Some(e) = o.error {
                *errors.entry(e).or_default() += 1;
            }
        };
        for f in &corpus.files {
            match &f.outcome {
                ParseOutcome::Csv(d) => csv_obs(d, &mut add),
                ParseOutcome::Json(d) => json_obs(d, &mut add),
                ParseOutcome::Markdown(d) => {
                    md_extract(&f.path, d, &mut findings, &mut key_metrics)
                }
                ParseOutcome::Skipped { .. } => {}
            }
        }
    }
    for f in &corpus.files {
        let dir = f.path.rsplit_once('/').map_or(".", |(d, _)| d);
        let e = dirs.entry(dir).or_insert_with(|| DirSummary {
            dir: dir.to_string(),
            csv: 0,
            json: 0,
            markdown: 0,
            bytes: 0,
        });
        match f.kind {
            FileKind::Csv => e.csv += 1,
            FileKind::Json => e.json += 1,
            FileKind::Markdown => e.markdown += 1,
        }
        e.bytes += f.bytes;
        files.push(FileSummary {
            path: f.path.clone(),
            kind: f.kind,
            bytes: f.bytes,
            parsed: f.outcome.is_ok(),
        });
    }
    let models = models
        .into_sorted()
        .map(|(model, mut a)| ModelAggregate {
            model: model.to_string(),
            calls: a.calls,
            errors: a.errors,
            tokens_per_second: Dist::of(&mut a.tps),
            ttft_s: Dist::of(&mut a.ttft),
            ttft_warm_s: Dist::of(&mut a.warm),
            ttft_cold_s: Dist::of(&mut a.cold),
        })
        .collect();
    let configs = configs
        .into_sorted()
        .map(|((model, num_gpu, num_ctx, temp), mut a)| ConfigAggregate {
            model: model.to_string(),
            num_gpu,
            num_ctx,
            temperature: temp.map(|t| t as f64 / 1000.0),
            calls: a.calls,
            errors: a.errors,
            tokens_per_second: Dist::of(&mut a.tps),
            ttft_warm_s: Dist::of(&mut a.warm),
            ttft_cold_s: Dist::of(&mut a.cold),
        })
        .collect();
    let mut by_message: Vec<ErrorCount> = errors
        .into_iter()
        .map(|(m, count)| ErrorCount {
            message: m.to_string(),
            count,
        })
        .collect();
    by_message.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.message.cmp(&b.message))
    });
    DataSummary {
        stats: corpus.stats(),
        observations,
        models,
        configs,
        errors: ErrorSummary {
            total: by_message.iter().map(|e| e.count).sum(),
            by_message,
        },
        findings,
        key_metrics,
        dirs: dirs.into_values().collect(),
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_median_even_and_odd() {
        let d = Dist::of(&mut [3.0, 1.0, 2.0]).unwrap();
        assert_eq!(
            (d.n, d.median, d.min, d.max, d.mean),
            (3, 2.0, 1.0, 3.0, 2.0)
        );
        assert_eq!(Dist::of(&mut [4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Dist::of(&mut []).is_none());
    }
}
