//! What must match before two record sets are compared.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::record::RecordFile;

/// One provenance field that differs between baseline and candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvenanceMismatch {
    /// What differs.
    pub field: String,
    /// Baseline value.
    pub baseline: String,
    /// Candidate value.
    pub candidate: String,
}

fn show<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

/// The differences that make a comparison meaningless: model, model digest, server
/// version, options, endpoint, stub profile, harness version and build profile,
/// whether the CPUs were held awake (it halves a fast stub's latency on a VM), prompt
/// templates, and the set of prompt hashes actually sent (different prompts are
/// different work). A record from before the idle state was recorded counts as not
/// held: nothing could hold them then.
/// The git commit is deliberately not compared: comparing commits is the point.
pub fn provenance_mismatches(base: &RecordFile, cand: &RecordFile) -> Vec<ProvenanceMismatch> {
    let (b, c) = (&base.header, &cand.header);
    let mut out = Vec::new();
    let mut check = |field: &str, x: String, y: String| {
        if x != y {
            out.push(ProvenanceMismatch {
                field: field.to_string(),
                baseline: x,
                candidate: y,
            });
        }
    };
    check("model", b.model.clone(), c.model.clone());
    check(
        "model digest",
        show(&b.server.model_digest),
        show(&c.server.model_digest),
    );
    check(
        "server version",
        show(&b.server.version),
        show(&c.server.version),
    );
    check(
        "options",
        serde_json::to_string(&b.settings).unwrap_or_default(),
        serde_json::to_string(&c.settings).unwrap_or_default(),
    );
    check(
        "harness version",
        b.harness.version.clone(),
        c.harness.version.clone(),
    );
    check(
        "harness build profile",
        b.harness.profile.clone(),
        c.harness.profile.clone(),
    );
    check(
        "prompt templates",
        show(&b.prompt_templates),
        show(&c.prompt_templates),
    );
    check(
        "endpoint",
        show(&b.backend.endpoint),
        show(&c.backend.endpoint),
    );
    check("stub profile", show(&b.backend.stub), show(&c.backend.stub));
    let held = |h: &crate::record::Header| h.host.cpu_idle.as_ref().is_some_and(|c| c.held_awake);
    check("CPUs held awake", held(b).to_string(), held(c).to_string());
    check(
        "prompt hashes",
        show(&prompt_hashes(base)),
        show(&prompt_hashes(cand)),
    );
    out
}

fn prompt_hashes(file: &RecordFile) -> BTreeSet<&str> {
    file.runs
        .iter()
        .flat_map(|r| r.calls.iter().map(|c| c.call.prompt_sha256.as_str()))
        .collect()
}
