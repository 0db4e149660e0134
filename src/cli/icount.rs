//! `agentbench icount`: the instruction-count gate.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::table::render;
use super::{IcountArgs, IcountWorkloadArgs};
use crate::icount::{
    check, extra_iterations, measure, plant_instructions_per_step, read_baseline, run_workload,
    write_baseline, Baseline, Workload, EXTRA_ITERATIONS,
};

fn workloads(names: &[String]) -> Result<Vec<Workload>> {
    if names.is_empty() {
        return Ok(Workload::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Workload::from_name(n).with_context(|| {
                let known: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload `{n}`; known: {}", known.join(", "))
            })
        })
        .collect()
}

/// Measures every workload under callgrind and checks (or, with `--update`,
/// rewrites) the baseline. Exit 1 when a workload grew beyond the tolerance.
pub fn run_icount(args: &IcountArgs) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot locate the agentbench binary")?;
    let corpus = std::fs::canonicalize(&args.corpus)
        .with_context(|| format!("corpus {} not found", args.corpus.display()))?;
    let baseline = if args.update && !args.baseline.exists() {
        Baseline::default()
    } else {
        read_baseline(&args.baseline)?
    };
    let per_step = if args.plant_pct > 0.0 {
        plant_instructions_per_step(&exe, &corpus)?
    } else {
        1.0
    };
    let mut measured = BTreeMap::new();
    for workload in workloads(&args.workload)? {
        let base = baseline
            .instructions
            .get(workload.name())
            .copied()
            .unwrap_or(0);
        let plant_steps = (base as f64 * args.plant_pct / 100.0 / per_step) as u64;
        let n = measure(&exe, &corpus, workload, plant_steps)?;
        measured.insert(workload.name().to_string(), n);
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "instructions": &measured });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.update {
        let prompts = extra_iterations(Workload::Prompts);
        let updated = Baseline {
            note: format!(
                "instructions per iteration: valgrind --tool=callgrind, (Ir(1+k) - Ir(1)) / k, k = {EXTRA_ITERATIONS} ({prompts} for prompts), release build; update with `agentbench icount --update`"
            ),
            instructions: measured,
        };
        write_baseline(&args.baseline, &updated)?;
        println!("baseline written to {}", args.baseline.display());
        return Ok(ExitCode::SUCCESS);
    }
    let changes = check(&baseline, &measured, args.tolerance);
    let mut rows = vec![["workload", "baseline", "measured", "change", "verdict"]
        .map(str::to_string)
        .to_vec()];
    for c in &changes {
        rows.push(vec![
            c.workload.clone(),
            c.baseline.map_or("–".into(), |b| b.to_string()),
            c.measured.to_string(),
            c.change_pct.map_or("–".into(), |p| format!("{p:+.3}%")),
            if c.regressed { "REGRESSED" } else { "ok" }.to_string(),
        ]);
    }
    print!("{}", render(&rows));
    if changes.iter().any(|c| c.regressed) {
        eprintln!(
            "instruction count grew by more than {}%; if intended, run `agentbench icount --update` and commit {}",
            args.tolerance,
            args.baseline.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The child side: runs one workload (under callgrind, started by `run_icount`).
pub fn run_icount_workload(args: &IcountWorkloadArgs) -> Result<ExitCode> {
    let workload = workloads(std::slice::from_ref(&args.workload))?[0];
    run_workload(workload, args.iterations, &args.corpus, args.plant_steps)
        .map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}
