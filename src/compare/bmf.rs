//! Bencher Metric Format output.

use serde_json::{json, Map, Value};

use super::{CompareReport, Direction};

/// The candidate's medians in Bencher Metric Format:
/// `{"<metric>": {"<measure>": {"value", "lower_value", "upper_value"}}}`, with the
/// measure `latency` (ms) or `throughput` (tok/s) and the bounds from the candidate
/// median's bootstrap interval. Metrics without samples are left out.
pub fn bencher_metric_format(report: &CompareReport) -> Value {
    let mut out = Map::new();
    for m in &report.metrics {
        let Some(value) = m.median_candidate else {
            continue;
        };
        let measure = match m.direction {
            Direction::LowerIsBetter => "latency",
            Direction::HigherIsBetter => "throughput",
        };
        let mut entry = json!({ "value": value });
        if let Some((lo, hi)) = m.candidate_ci {
            entry["lower_value"] = json!(lo);
            entry["upper_value"] = json!(hi);
        }
        out.insert(m.metric.clone(), json!({ measure: entry }));
    }
    Value::Object(out)
}
