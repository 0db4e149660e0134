//! HDR latency histograms: TTFT, ITL, E2E and client overhead per group
//! (backend + configuration), fed only from [`CallMetrics`] so that every sample
//! follows the definitions of `docs/metrics.md`.
//!
//! # Units, range and clamping
//!
//! Values are recorded in **microseconds** (nanoseconds rounded to the nearest µs)
//! with 3 significant digits over the fixed range 0 µs ..= 1 hour ([`HIGHEST_US`];
//! auto-resize is off). A value above one hour is recorded as one hour and counted
//! in [`LatencyTally::clamped_high`]. Client overhead is E2E − server
//! `total_duration` (two different clocks): a negative overhead (the server claims
//! more time than the call took) is no sample; it is counted in
//! [`LatencyTally::negative_overhead`].
//!
//! # Files
//!
//! The `*.us.hdr` (V2 binary) and `*.ms.hgrm` (the text of [`percentile_distribution`])
//! files are written, read and merged by [`crate::report::hdr_files`]; this module
//! does no I/O.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::catalog::{self, MetricDef};
use super::CallMetrics;
use crate::client::CallRecord;
use crate::record::{Header, RecordFile, WorkflowRecord};

/// Highest trackable value: one hour, in microseconds.
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant decimal digits kept by every histogram.
pub const SIGFIG: u8 = 3;
/// Percentile ticks per half distance in `.hgrm` output (HdrHistogram's default).
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;
/// Divisor from recorded µs to the `.hgrm` file's milliseconds.
pub const HGRM_SCALE: f64 = 1000.0;

/// The latency metrics kept as histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyMetric {
    /// Time to first content chunk.
    Ttft,
    /// Gaps between consecutive content chunks, pooled across calls.
    Itl,
    /// Final chunk received − t0.
    E2e,
    /// E2E (client) − total_duration (server), clamped at 0.
    ClientOverhead,
}

impl LatencyMetric {
    /// All four, in display order.
    pub const ALL: [LatencyMetric; 4] = [
        LatencyMetric::Ttft,
        LatencyMetric::Itl,
        LatencyMetric::E2e,
        LatencyMetric::ClientOverhead,
    ];

    /// The metric's catalog entry (names, unit, definition).
    pub fn def(self) -> &'static MetricDef {
        catalog::expect(match self {
            LatencyMetric::Ttft => "ttft",
            LatencyMetric::Itl => "itl",
            LatencyMetric::E2e => "e2e",
            LatencyMetric::ClientOverhead => "client_overhead",
        })
    }

    /// Stable lowercase slug used in file names and HTML ids (`ttft`, `itl`, `e2e`,
    /// `client-overhead`): the catalog entry's [`hdr_slug`](MetricDef::hdr_slug).
    pub fn slug(self) -> &'static str {
        let d = self.def();
        d.hdr_slug.unwrap_or(d.id)
    }

    /// Human title.
    pub fn title(self) -> &'static str {
        self.def().title
    }

    /// The metric's definition, one sentence (from the catalog).
    pub fn definition(self) -> &'static str {
        self.def().definition
    }

    /// The metric whose slug is `slug`, if any.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.slug() == slug)
    }
}

/// What the histograms of one group are keyed by: where the calls went and with
/// which configuration. Ordered, so reports list groups deterministically.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey {
    /// `stub:<profile>` for agentbench's own stub, else `<protocol>@<url>`.
    pub backend: String,
    /// Model and the options set (`model num_ctx=2048 ...`, or `model defaults`).
    pub config: String,
}

impl GroupKey {
    /// The key of every call in a record file, from its header.
    pub fn of_header(h: &Header) -> Self {
        let backend = match &h.backend.stub {
            Some(profile) => format!("stub:{profile}"),
            None => format!("{}@{}", h.backend.protocol, h.backend.url),
        };
        let mut opts = Vec::new();
        if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&h.settings.options) {
            for (k, v) in map {
                opts.push(format!("{k}={v}"));
            }
        }
        if let Some(k) = &h.settings.keep_alive {
            opts.push(format!("keep_alive={k}"));
        }
        let opts = if opts.is_empty() {
            "defaults".to_string()
        } else {
            opts.join(" ")
        };
        Self {
            backend,
            config: format!("{} {opts}", h.model),
        }
    }

    /// `backend | config`, for legends and tables (not escaped).
    pub fn label(&self) -> String {
        format!("{} | {}", self.backend, self.config)
    }

    /// A file-name-safe slug: ASCII alphanumerics, `.` and `_` kept, every other run
    /// of characters becomes one `-`; at most 80 bytes, never empty, never `.`/`..`.
    pub fn slug(&self) -> String {
        let mut out = String::new();
        for c in self.label().chars() {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                out.push(c);
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        let mut out = out.trim_matches(|c| c == '-' || c == '.').to_string();
        out.truncate(80);
        if out.is_empty() {
            out.push_str("group");
        }
        out
    }
}

/// An HDR file could not be read, written or merged.
#[derive(Debug, Error)]
pub enum HdrError {
    /// I/O on the file failed.
    #[error("cannot access histogram file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a V2 histogram encoding.
    #[error("{path} is not an HdrHistogram V2 file: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// Encoding failed.
    #[error("cannot encode histogram for {path}: {reason}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// What the encoder said.
        reason: String,
    },
    /// Two histograms could not be added (incompatible ranges).
    #[error("cannot merge {path} into the others: {reason}")]
    Add {
        /// The file (or group) being added.
        path: PathBuf,
        /// What the histogram said.
        reason: String,
    },
    /// The inputs name different metrics in their file names.
    #[error(
        "refusing to merge different metrics: {first} is {first_metric}, {other} is {other_metric}"
    )]
    MixedMetrics {
        /// The first input with a recognised metric.
        first: PathBuf,
        /// Its metric slug.
        first_metric: String,
        /// The disagreeing input.
        other: PathBuf,
        /// Its metric slug.
        other_metric: String,
    },
    /// No input was given.
    #[error("no histogram files to merge (writing {out})")]
    NoInputs {
        /// The output that was asked for.
        out: PathBuf,
    },
}

/// A new empty histogram with the fixed range and precision of this module.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG)
        .expect("1 µs .. 1 h at 3 significant digits is a valid range");
    h.auto(false);
    h
}

/// The four latency histograms of one group, plus the counts of what was clamped.
#[derive(Debug, Clone)]
pub struct LatencyHistograms {
    ttft: Histogram<u64>,
    itl: Histogram<u64>,
    e2e: Histogram<u64>,
    client_overhead: Histogram<u64>,
    /// The calls recorded, and what they added no sample for or clamped.
    pub tally: LatencyTally,
}

impl Default for LatencyHistograms {
    fn default() -> Self {
        Self::new()
    }
}

fn us(d: Duration) -> u64 {
    let ns = d.as_nanos();
    u64::try_from(ns.saturating_add(500) / 1000).unwrap_or(u64::MAX)
}

impl LatencyHistograms {
    /// Empty histograms (range 0..=1 h in µs, 3 significant digits).
    pub fn new() -> Self {
        Self {
            ttft: new_histogram(),
            itl: new_histogram(),
            e2e: new_histogram(),
            client_overhead: new_histogram(),
            tally: LatencyTally::default(),
        }
    }

    /// The histogram of `metric` (values in µs).
    pub fn get(&self, metric: LatencyMetric) -> &Histogram<u64> {
        match metric {
            LatencyMetric::Ttft => &self.ttft,
            LatencyMetric::Itl => &self.itl,
            LatencyMetric::E2e => &self.e2e,
            LatencyMetric::ClientOverhead => &self.client_overhead,
        }
    }

    fn get_mut(&mut self, metric: LatencyMetric) -> &mut Histogram<u64> {
        match metric {
            LatencyMetric::Ttft => &mut self.ttft,
            LatencyMetric::Itl => &mut self.itl,
            LatencyMetric::E2e => &mut self.e2e,
            LatencyMetric::ClientOverhead => &mut self.client_overhead,
        }
    }

    /// Records one call through [`CallMetrics`]: TTFT, every ITL gap, E2E and client
    /// overhead when each is defined. A failed call adds no sample and is counted in
    /// [`LatencyTally::calls_failed`].
    pub fn record_call(&mut self, rec: &CallRecord) {
        // The tally is a few counters (Copy): counted on a copy while the
        // closure borrows the histograms.
        let mut tally = self.tally;
        tally.record_call(rec, |metric, value_us| {
            record_clamped(self.get_mut(metric), value_us);
        });
        self.tally = tally;
    }

    /// Records every call of a run (both stages pooled).
    pub fn record_run(&mut self, run: &WorkflowRecord) {
        for c in &run.calls {
            self.record_call(&c.call);
        }
    }

    /// All runs of a record file.
    pub fn from_records(file: &RecordFile) -> Self {
        let mut h = Self::new();
        for run in &file.runs {
            h.record_run(run);
        }
        h
    }

    /// Adds `other`'s samples and counters: afterwards `self` is as if it had
    /// recorded both sample sets.
    pub fn merge(&mut self, other: &LatencyHistograms) -> Result<(), HdrError> {
        for m in LatencyMetric::ALL {
            self.get_mut(m)
                .add(other.get(m))
                .map_err(|e| HdrError::Add {
                    path: PathBuf::from(m.slug()),
                    reason: format!("{e:?}"),
                })?;
        }
        self.tally.add(&other.tally);
        Ok(())
    }
}

/// Every latency sample of a completed call, through [`CallMetrics`], in µs: TTFT,
/// each ITL gap, E2E and a non-negative client overhead, each when defined. Returns
/// whether the client overhead was negative (no sample). Used only through
/// [`LatencyTally::record_call`], the one account of what a call adds.
fn call_samples(rec: &CallRecord, mut sample: impl FnMut(LatencyMetric, u64)) -> bool {
    let m = CallMetrics::new(rec);
    if let Some(t) = m.ttft() {
        sample(LatencyMetric::Ttft, us(t));
    }
    for gap in m.itl() {
        sample(LatencyMetric::Itl, us(gap));
    }
    if let Some(t) = m.e2e() {
        sample(LatencyMetric::E2e, us(t));
    }
    match m.client_overhead_ns() {
        Some(ns) => {
            sample(
                LatencyMetric::ClientOverhead,
                us(Duration::from_nanos(ns as u64)),
            );
            false
        }
        None => m.negative_client_overhead_ns().is_some(),
    }
}

/// The histogram of `metric` alone over every completed call of `runs`: exactly
/// [`LatencyHistograms::get`] of the same runs recorded with
/// [`LatencyHistograms::record_run`] (values above [`HIGHEST_US`] recorded as it),
/// holding one 188 KB histogram instead of four, for a caller that uses the metrics
/// one at a time (a report's files and plots).
pub fn metric_histogram(metric: LatencyMetric, runs: &[WorkflowRecord]) -> Histogram<u64> {
    let mut h = new_histogram();
    let mut tally = LatencyTally::default();
    for call in runs.iter().flat_map(|r| &r.calls) {
        tally.record_call(&call.call, |m, value_us| {
            if m == metric {
                record_clamped(&mut h, value_us);
            }
        });
    }
    h
}

/// Records a value [`LatencyTally::record_call`] handed out (already clamped).
fn record_clamped(h: &mut Histogram<u64>, value_us: u64) {
    h.record(value_us)
        .expect("values are clamped into the histogram's range");
}

/// What [`LatencyHistograms`] counts beside its samples, over some runs, without
/// the histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyTally {
    /// Completed calls.
    pub calls_ok: u64,
    /// Failed calls (they add no samples).
    pub calls_failed: u64,
    /// Completed calls whose client overhead was negative (no sample).
    pub negative_overhead: u64,
    /// Samples above [`HIGHEST_US`] (recorded as [`HIGHEST_US`]).
    pub clamped_high: u64,
}

impl LatencyTally {
    /// The counts of every call of `runs`, equal to those of a [`LatencyHistograms`]
    /// that recorded them.
    pub fn of_runs(runs: &[WorkflowRecord]) -> Self {
        let mut t = Self::default();
        for call in runs.iter().flat_map(|r| &r.calls) {
            t.record_call(&call.call, |_, _| {});
        }
        t
    }

    /// Counts one call and hands each of its samples (see [`CallMetrics`]) to
    /// `sample` in µs, a value above [`HIGHEST_US`] as [`HIGHEST_US`] and counted in
    /// [`Self::clamped_high`]. A failed call adds no sample.
    fn record_call(&mut self, rec: &CallRecord, mut sample: impl FnMut(LatencyMetric, u64)) {
        if !rec.is_ok() {
            self.calls_failed += 1;
            return;
        }
        self.calls_ok += 1;
        let clamped_high = &mut self.clamped_high;
        let negative = call_samples(rec, |metric, value_us| {
            *clamped_high += u64::from(value_us > HIGHEST_US);
            sample(metric, value_us.min(HIGHEST_US));
        });
        self.negative_overhead += u64::from(negative);
    }

    /// Adds `other`'s counts.
    fn add(&mut self, other: &Self) {
        self.calls_ok += other.calls_ok;
        self.calls_failed += other.calls_failed;
        self.negative_overhead += other.negative_overhead;
        self.clamped_high += other.clamped_high;
    }
}

/// Histograms of several groups, keyed and ordered by [`GroupKey`].
#[derive(Debug, Clone, Default)]
pub struct HistogramSet {
    /// One entry per group.
    pub groups: BTreeMap<GroupKey, LatencyHistograms>,
}

impl HistogramSet {
    /// Groups the files' calls by [`GroupKey::of_header`]; files with the same key
    /// are merged.
    pub fn from_records(files: &[RecordFile]) -> Self {
        let mut set = Self::default();
        for f in files {
            set.entry(GroupKey::of_header(&f.header))
                .merge(&LatencyHistograms::from_records(f))
                .expect("histograms of this module share one range");
        }
        set
    }

    /// The group's histograms, created empty when absent (for benches that feed
    /// [`LatencyHistograms::record_call`] directly).
    pub fn entry(&mut self, key: GroupKey) -> &mut LatencyHistograms {
        self.groups.entry(key).or_default()
    }

    /// Adds `other` group by group (same key → histograms added).
    pub fn merge(&mut self, other: &HistogramSet) -> Result<(), HdrError> {
        for (k, h) in &other.groups {
            self.entry(k.clone()).merge(h)?;
        }
        Ok(())
    }
}

/// The percentile distribution of `h` in HdrHistogram's text format
/// (`outputPercentileDistribution(out, ticks, scale)`, Java's layout byte for byte:
/// a header, one row per percentile tick with `%12.3f %2.12f %10d %14.2f`, the last
/// row without the 1/(1-p) column, then the `#[Mean`, `#[Max` and `#[Buckets`
/// footer). Values are divided by `scale` (use [`HGRM_SCALE`] for µs → ms).
pub fn percentile_distribution(
    h: &Histogram<u64>,
    ticks_per_half_distance: u32,
    scale: f64,
) -> String {
    let prec = usize::from(h.sigfig());
    let mut s = String::new();
    let _ = write!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(ticks_per_half_distance) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / scale;
            if q < 1.0 {
                let _ = writeln!(
                    s,
                    "{value:12.prec$} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(s, "{value:12.prec$} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / scale, h.stdev() / scale, h.max() as f64 / scale)
    };
    let _ = writeln!(
        s,
        "#[Mean    = {mean:12.prec$}, StdDeviation   = {stdev:12.prec$}]"
    );
    let _ = writeln!(
        s,
        "#[Max     = {max:12.prec$}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    );
    s
}

/// HdrHistogram's sub-bucket count for `sigfig` digits: the power of two at or
/// above 2·10^sigfig (2048 for 3 digits).
pub fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest = 2 * 10u64.pow(u32::from(sigfig));
    largest.next_power_of_two()
}
