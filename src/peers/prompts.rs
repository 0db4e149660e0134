//! Prompt verification: every peer must have sent the same prompts, or the
//! comparison measures different work.
//!
//! Two checks per call: the recorded `prompt_sha256` must be the SHA-256 of the
//! recorded prompt text (recomputed here, never trusted), and the hash must equal the
//! reference agent's (the first agent that made that call) for the same run index and
//! stage, in every round.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::prompt::prompt_hash;
use crate::record::{Stage, WorkflowRecord};

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum PromptIssue {
    /// The recorded hash is not the SHA-256 of the recorded prompt.
    HashMismatch {
        /// Agent name.
        agent: String,
        /// Peers round.
        round: u32,
        /// Run index.
        run_index: u32,
        /// Stage.
        stage: Stage,
        /// `prompt_sha256` as recorded.
        recorded: String,
        /// SHA-256 of the recorded prompt text.
        computed: String,
    },
    /// The prompt differs from the reference agent's for the same run and stage.
    Differs {
        /// Agent name.
        agent: String,
        /// Peers round.
        round: u32,
        /// Run index.
        run_index: u32,
        /// Stage.
        stage: Stage,
        /// SHA-256 of this agent's prompt.
        hash: String,
        /// The agent whose prompt is the reference.
        reference_agent: String,
        /// SHA-256 of the reference prompt.
        reference_hash: String,
    },
}

impl fmt::Display for PromptIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptIssue::HashMismatch {
                agent,
                round,
                run_index,
                stage,
                recorded,
                computed,
            } => write!(
                f,
                "agent {agent:?}, round {round}, run {run_index}, stage {}: recorded prompt_sha256 {recorded} is not the SHA-256 of its prompt ({computed})",
                stage.name()
            ),
            PromptIssue::Differs {
                agent,
                round,
                run_index,
                stage,
                hash,
                reference_agent,
                reference_hash,
            } => write!(
                f,
                "agent {agent:?}, round {round}, run {run_index}, stage {}: prompt sha256 {hash} differs from agent {reference_agent:?}'s {reference_hash}",
                stage.name()
            ),
        }
    }
}

/// The outcome of [`verify_prompts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromptCheck {
    /// Calls whose prompt was checked.
    pub calls_checked: usize,
    /// Distinct (run index, stage) pairs compared across agents.
    pub pairs_compared: usize,
    /// Every disagreement found.
    pub issues: Vec<PromptIssue>,
}

impl PromptCheck {
    /// No disagreement.
    pub fn ok(&self) -> bool {
        self.issues.is_empty()
    }
}

/// Checks every call of every agent (`(name, runs)`, runs tagged with their peers
/// round in [`WorkflowRecord::round`]). The reference for a (run index, stage) is
/// the first agent in `agents` order that recorded it, in its earliest round.
pub fn verify_prompts(agents: &[(&str, &[WorkflowRecord])]) -> PromptCheck {
    let mut check = PromptCheck::default();
    let mut reference: BTreeMap<(u32, Stage), (String, String)> = BTreeMap::new();
    for (agent, runs) in agents {
        let mut runs: Vec<&WorkflowRecord> = runs.iter().collect();
        runs.sort_by_key(|r| (r.round.unwrap_or(0), r.run_index));
        for run in runs {
            let round = run.round.unwrap_or(0);
            for call in &run.calls {
                check.calls_checked += 1;
                let computed = prompt_hash(&call.prompt);
                if !call.call.prompt_sha256.eq_ignore_ascii_case(&computed) {
                    check.issues.push(PromptIssue::HashMismatch {
                        agent: agent.to_string(),
                        round,
                        run_index: run.run_index,
                        stage: call.stage,
                        recorded: call.call.prompt_sha256.clone(),
                        computed: computed.clone(),
                    });
                }
                let key = (run.run_index, call.stage);
                match reference.get(&key) {
                    None => {
                        reference.insert(key, (agent.to_string(), computed));
                    }
                    Some((ref_agent, ref_hash)) if *ref_hash != computed => {
                        check.issues.push(PromptIssue::Differs {
                            agent: agent.to_string(),
                            round,
                            run_index: run.run_index,
                            stage: call.stage,
                            hash: computed,
                            reference_agent: ref_agent.clone(),
                            reference_hash: ref_hash.clone(),
                        });
                    }
                    Some(_) => {}
                }
            }
        }
    }
    check.pairs_compared = reference.len();
    check
}
