//! TEMPORARY placeholder with the agreed API; replaced by the content branch.
use crate::ingest::DataSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Analysis {
    pub summary: String,
    pub findings: Vec<String>,
    pub recommendations: Vec<String>,
    pub metrics: Vec<String>,
}
pub fn analysis_prompt(_s: &DataSummary) -> String {
    "analyse".into()
}
pub fn parse_analysis(t: &str) -> Analysis {
    Analysis {
        summary: t.chars().take(100).collect(),
        ..Default::default()
    }
}
pub fn report_prompt(a: &Analysis, _s: &DataSummary) -> String {
    format!("report {}", a.summary)
}
pub fn prompt_hash(p: &str) -> String {
    p.len().to_string()
}
pub fn template_hashes() -> BTreeMap<&'static str, String> {
    BTreeMap::new()
}
