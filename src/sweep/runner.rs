//! Running a sweep: the interleaved plan, start-state preparation, the expected
//! reloads, one JSONL record file for the whole sweep, and resumption.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::matrix::SweepConfig;
use super::order::{interleaved, Slot};
use crate::agent::{Agent, WorkflowConfig};
use crate::client::{Endpoint, GenOptions, LlmClient, RequestSettings};
use crate::ingest::IngestOptions;
use crate::record::{Header, RecordWriter, StartState};
use crate::runner::run_durably;

/// Everything that defines a sweep. Written to `sweep.json` beside the records; a
/// resumed sweep must have the same spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// Configurations, baseline first.
    pub configs: Vec<SweepConfig>,
    /// Measured runs per configuration.
    pub runs: u32,
    /// Warm-up rounds before them (recorded, flagged, kept out of statistics).
    pub warmup: u32,
    /// Seed of the interleaving shuffle.
    pub seed: u64,
    /// How the model is prepared before each run.
    pub start_state: StartState,
    /// A call whose `load_duration` exceeds this (ms) is classified as having loaded
    /// the model.
    pub cold_threshold_ms: f64,
    /// Settings common to every configuration (fixed num_predict and seed by default);
    /// a configuration's own options override them.
    pub common: RequestSettings,
}

impl SweepSpec {
    /// Warm-up plus measured rounds.
    pub fn rounds(&self) -> u32 {
        self.warmup + self.runs
    }

    /// The interleaved plan.
    pub fn order(&self) -> Vec<Slot> {
        interleaved(self.configs.len(), self.rounds(), self.seed)
    }

    /// The settings sent for `config`: the common ones, overridden by its options.
    pub fn settings_for(&self, config: &SweepConfig) -> RequestSettings {
        let (c, o) = (&self.common.options, &config.options);
        RequestSettings {
            options: GenOptions {
                num_gpu: o.num_gpu.or(c.num_gpu),
                num_ctx: o.num_ctx.or(c.num_ctx),
                temperature: o.temperature.or(c.temperature),
                num_predict: o.num_predict.or(c.num_predict),
                seed: o.seed.or(c.seed),
                top_p: o.top_p.or(c.top_p),
                top_k: o.top_k.or(c.top_k),
                repeat_penalty: o.repeat_penalty.or(c.repeat_penalty),
            },
            keep_alive: self.common.keep_alive.clone(),
        }
    }
}

/// `sweep.json`: the spec and the planned order (round, config id), for humans and
/// for resumption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    /// The spec.
    pub spec: SweepSpec,
    /// The order runs are made in.
    pub order: Vec<(u32, String)>,
}

/// What one sweep invocation did.
#[derive(Debug, Clone, Default)]
pub struct SweepOutcome {
    /// Runs made now.
    pub executed: usize,
    /// Planned runs already in the record file (skipped).
    pub already_done: usize,
    /// Runs made now with a failed call.
    pub failed: usize,
    /// Bytes of a torn last line removed before appending
    /// ([`crate::record::cut_torn_tail`]: the file as found is saved as
    /// `records.jsonl.torn-<n>`).
    pub torn_bytes: usize,
    /// Undecodable lines of an existing file (1-based line, reason).
    pub skipped_lines: Vec<(usize, String)>,
}

/// Where the sweep writes.
#[derive(Debug, Clone)]
pub struct SweepPaths {
    /// The JSONL record file.
    pub records: PathBuf,
    /// The plan file.
    pub plan: PathBuf,
}

impl SweepPaths {
    /// `records.jsonl` and `sweep.json` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            records: dir.join("records.jsonl"),
            plan: dir.join("sweep.json"),
        }
    }
}

/// Runs (or resumes) a sweep against `client`, writing `paths`. Every planned
/// (config, round) pair already present in the record file is skipped. The runs go
/// through the library's durable loop ([`run_durably`]): each appended and fsynced as
/// it completes; a resumed file's torn last line is cut by the one policy
/// ([`RecordWriter::resume`]).
#[allow(clippy::too_many_arguments)]
pub async fn run_sweep(
    client: &LlmClient,
    model: &str,
    endpoint: Endpoint,
    corpus_root: &Path,
    spec: &SweepSpec,
    header: &Header,
    paths: &SweepPaths,
    show_progress: bool,
) -> Result<SweepOutcome> {
    let order = spec.order();
    let plan = PlanFile {
        spec: spec.clone(),
        order: order
            .iter()
            .map(|s| (s.round, spec.configs[s.config].id.clone()))
            .collect(),
    };
    let mut outcome = SweepOutcome::default();
    let mut done = BTreeSet::new();
    let mut writer = if paths.records.exists() {
        let old: PlanFile = std::fs::read(&paths.plan)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .with_context(|| {
                format!(
                    "{} exists but {} is missing or unreadable: cannot resume; choose another --out",
                    paths.records.display(),
                    paths.plan.display()
                )
            })?;
        if old.spec != *spec {
            bail!(
                "{} holds a different sweep (matrix, runs, warm-up, seed, start state or options differ): resume with the same flags or choose another --out",
                paths.plan.display()
            );
        }
        let (writer, file, torn) = RecordWriter::resume(&paths.records)?;
        outcome.torn_bytes = torn.map_or(0, |t| t.bytes as usize);
        outcome.skipped_lines = file.skipped;
        for r in &file.runs {
            if let (Some(c), Some(round)) = (&r.config, r.round) {
                done.insert((c.clone(), round));
            }
        }
        writer
    } else {
        if let Some(dir) = paths.plan.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&paths.plan, serde_json::to_vec_pretty(&plan)?)
            .with_context(|| format!("cannot write {}", paths.plan.display()))?;
        RecordWriter::create(&paths.records, header)?
    };

    let ingest = IngestOptions::default();
    let agents: Vec<Agent> = spec
        .configs
        .iter()
        .map(|c| {
            Agent::new(
                client.clone(),
                WorkflowConfig {
                    corpus_root: corpus_root.to_path_buf(),
                    ingest: ingest.clone(),
                    model: model.to_string(),
                    settings: spec.settings_for(c),
                    endpoint,
                },
            )
        })
        .collect::<Result<_, _>>()?;

    let todo: Vec<(usize, &Slot)> = order
        .iter()
        .enumerate()
        .filter(|(_, s)| !done.contains(&(spec.configs[s.config].id.clone(), s.round)))
        .collect();
    outcome.already_done = order.len() - todo.len();
    let bar = if show_progress {
        let bar = ProgressBar::new(todo.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:30} {pos}/{len} runs ({msg}), {elapsed} elapsed, ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    // The (num_ctx, num_gpu) the model was last used with; unknown at start.
    let mut last_key = None;
    let made = run_durably(
        &mut writer,
        &todo,
        None,
        async |&(index, slot)| {
            let config = &spec.configs[slot.config];
            bar.set_message(format!("round {} {}", slot.round, config.id));
            let settings = spec.settings_for(config);
            let key = (settings.options.num_ctx, settings.options.num_gpu);
            client
                .prepare(model, spec.start_state, &settings)
                .await
                .with_context(|| {
                    format!(
                        "cannot prepare a {} start for {}",
                        spec.start_state.name(),
                        config.id
                    )
                })?;
            let mut run = agents[slot.config].run_once(index as u32).await;
            run.start_state = spec.start_state;
            run.config = Some(config.id.clone());
            run.round = Some(slot.round);
            run.warmup = slot.round < spec.warmup;
            run.expected_reload = spec.start_state == StartState::AsIs && last_key != Some(key);
            last_key = Some(key);
            Ok(run)
        },
        |&(index, slot), run| {
            if let Some(f) = &run.failure {
                let id = &spec.configs[slot.config].id;
                bar.suspend(|| eprintln!("run {index} ({id}, round {}): {f}", slot.round));
            }
            bar.inc(1);
            Ok(())
        },
    )
    .await?;
    outcome.executed = made.executed;
    outcome.failed = made.failed;
    bar.finish_and_clear();
    Ok(outcome)
}
