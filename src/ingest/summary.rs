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
        // Values equal under `total_cmp` have the same bits, so an unstable sort
        // leaves the same slice as a stable one, without its buffer.
        values.sort_unstable_by(f64::total_cmp);
        Self::of_sorted(values)
    }

    /// [`Dist::of`], sorting through `keys` (scratch, any content): `total_cmp`
    /// orders floats as [`total_key`] orders integers, so sorting the keys and
    /// mapping them back leaves `values` exactly as [`Dist::of`] sorts them, with
    /// cheaper comparisons.
    fn of_sorting_with(values: &mut [f64], keys: &mut Vec<u64>) -> Option<Dist> {
        keys.clear();
        keys.extend(values.iter().map(|&v| total_key(v)));
        keys.sort_unstable();
        for (v, &k) in values.iter_mut().zip(keys.iter()) {
            *v = from_total_key(k);
        }
        Self::of_sorted(values)
    }

    /// The distribution of `values`, sorted by `total_cmp`.
    fn of_sorted(values: &[f64]) -> Option<Dist> {
        if values.is_empty() {
            return None;
        }
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

const SIGN: u64 = 1 << 63;

/// An integer whose unsigned order is `f64::total_cmp`'s order of the floats: the
/// bits with the sign flipped for positive values, all bits flipped for negative
/// ones (what `total_cmp` compares, shifted to unsigned).
fn total_key(v: f64) -> u64 {
    let b = v.to_bits();
    if b & SIGN == 0 {
        b | SIGN
    } else {
        !b
    }
}

/// The float of a [`total_key`].
fn from_total_key(k: u64) -> f64 {
    f64::from_bits(if k & SIGN != 0 { k & !SIGN } else { !k })
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

/// Observation counts of one key.
#[derive(Default, Clone, Copy)]
struct Acc {
    calls: u64,
    errors: u64,
}

/// The metrics gathered per key, as indices into [`Accs::samples`].
const TPS: usize = 0;
const TTFT: usize = 1;
const WARM: usize = 2;
const COLD: usize = 3;

/// One metric's values for every key of an [`Accs`], each tagged with its key's
/// position: one vector for all keys, grouped once at the end, instead of one
/// growing vector per key.
#[derive(Default)]
struct Samples(Vec<(usize, f64)>);

impl Samples {
    /// The values grouped by position (`groups` positions), in push order within
    /// a group: a counting sort.
    fn grouped(&self, groups: usize) -> Grouped {
        let mut starts = vec![0usize; groups + 1];
        for &(at, _) in &self.0 {
            starts[at + 1] += 1;
        }
        for at in 0..groups {
            starts[at + 1] += starts[at];
        }
        let mut next = starts[..groups].to_vec();
        let mut values = vec![0.0; self.0.len()];
        for &(at, v) in &self.0 {
            values[next[at]] = v;
            next[at] += 1;
        }
        Grouped { values, starts }
    }
}

/// [`Samples`] grouped: position `at`'s values are `values[starts[at]..starts[at + 1]]`.
struct Grouped {
    values: Vec<f64>,
    starts: Vec<usize>,
}

/// Accumulators by key. Observations come in runs with the same key (one file's
/// rows, one run's records), so the key of the last lookup is tried before the
/// ordered index: most observations cost one key comparison.
struct Accs<K> {
    /// Position of each key's accumulator.
    index: BTreeMap<K, usize>,
    /// Counts by position (first-seen order).
    accs: Vec<Acc>,
    /// The key of the last lookup and its position.
    last: Option<(K, usize)>,
    /// Values of decode throughput, TTFT, warm TTFT, cold TTFT ([`TPS`]...).
    samples: [Samples; 4],
}

impl<K: Ord + Copy> Accs<K> {
    fn new() -> Self {
        Self {
            index: BTreeMap::new(),
            accs: Vec::new(),
            last: None,
            samples: Default::default(),
        }
    }

    /// The position of `key` (a new, empty accumulator the first time).
    fn position(&mut self, key: K) -> usize {
        match self.last {
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
        }
    }

    /// Counts `o` under `key`; a successful call's throughput and TTFT (also as
    /// warm or cold TTFT when known) are kept.
    fn add(&mut self, key: K, o: &Obs<'_>) {
        let at = self.position(key);
        let acc = &mut self.accs[at];
        acc.calls += 1;
        if o.error.is_some() {
            acc.errors += 1;
            return;
        }
        if let Some(v) = o.tps {
            self.samples[TPS].0.push((at, v));
        }
        if let Some(t) = o.ttft {
            self.samples[TTFT].0.push((at, t));
            match o.cold {
                Some(true) => self.samples[COLD].0.push((at, t)),
                Some(false) => self.samples[WARM].0.push((at, t)),
                None => {}
            }
        }
    }

    /// Every key in key order, with its position, and the accumulators to read.
    fn finish(self) -> (Vec<(K, usize)>, Finished) {
        let n = self.accs.len();
        let finished = Finished {
            groups: self.samples.map(|s| s.grouped(n)),
            accs: self.accs,
            keys: Vec::new(),
        };
        (self.index.into_iter().collect(), finished)
    }
}

/// Finished accumulators, by position.
struct Finished {
    accs: Vec<Acc>,
    groups: [Grouped; 4],
    /// Scratch for [`Dist::of_sorting_with`].
    keys: Vec<u64>,
}

impl Finished {
    /// The distribution of `metric` ([`TPS`]...) at position `at`.
    fn dist(&mut self, metric: usize, at: usize) -> Option<Dist> {
        let g = &mut self.groups[metric];
        let values = &mut g.values[g.starts[at]..g.starts[at + 1]];
        Dist::of_sorting_with(values, &mut self.keys)
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
    let label = |c: Option<&'a super::LabelColumn>, i: usize| c.and_then(|c| c.values.get(i));
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
        for row in t.rows.iter() {
            if metrics.len() >= MAX_KEY_METRICS || taken >= METRICS_PER_FILE {
                return;
            }
            if let (Some(metric), Some(value)) = (row.get(0), row.get(1)) {
                metrics.push(KeyMetric {
                    source: path.to_string(),
                    metric: metric.to_string(),
                    value: value.to_string(),
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
            models.add(model, &o);
            if o.model.is_some() {
                configs.add(key_of(&o, model), &o);
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
    let (order, mut m) = models.finish();
    let models = order
        .into_iter()
        .map(|(model, at)| ModelAggregate {
            model: model.to_string(),
            calls: m.accs[at].calls,
            errors: m.accs[at].errors,
            tokens_per_second: m.dist(TPS, at),
            ttft_s: m.dist(TTFT, at),
            ttft_warm_s: m.dist(WARM, at),
            ttft_cold_s: m.dist(COLD, at),
        })
        .collect();
    let (order, mut c) = configs.finish();
    let configs = order
        .into_iter()
        .map(|((model, num_gpu, num_ctx, temp), at)| ConfigAggregate {
            model: model.to_string(),
            num_gpu,
            num_ctx,
            temperature: temp.map(|t| t as f64 / 1000.0),
            calls: c.accs[at].calls,
            errors: c.accs[at].errors,
            tokens_per_second: c.dist(TPS, at),
            ttft_warm_s: c.dist(WARM, at),
            ttft_cold_s: c.dist(COLD, at),
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

    #[test]
    fn sorting_by_total_keys_is_sorting_by_total_cmp() {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            79.14,
            0.375,
        ];
        let mut rng = crate::rng::SplitMix64::new(17);
        for n in 0..40 {
            let values: Vec<f64> = (0..n)
                .map(|i| match rng.next_u64() % 3 {
                    0 => special[(rng.next_u64() % special.len() as u64) as usize],
                    1 => f64::from_bits(rng.next_u64()),
                    _ => (i % 7) as f64 * 0.5,
                })
                .collect();
            let (mut a, mut b) = (values.clone(), values);
            let want = Dist::of(&mut a);
            let got = Dist::of_sorting_with(&mut b, &mut vec![7, 1]);
            assert_eq!(format!("{got:?}"), format!("{want:?}"));
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "same order, same bits");
        }
    }
}
