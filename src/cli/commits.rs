//! `agentbench commits REV_A REV_B`: build both revisions, run them alternately
//! against one stub, and analyse the paired per-round differences.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};

use super::table::{confidence_label, render};
use super::CommitsArgs;
use crate::commits::build::{
    build_revision, repo_root, resolve_rev, run_binary, BuildSpec, Pinning, RunSpec, StubProcess,
};
use crate::commits::{analyse_rounds, round_measures, PairedVerdict, RoundMeasure};
use crate::metrics::stats::BootstrapOpts;
use crate::record::read_records;

/// Runs the comparison. Exit 1 on a regression, 0 otherwise; 2 on bad input.
pub fn run_commits(args: &CommitsArgs) -> Result<ExitCode> {
    if args.rounds < 2 {
        eprintln!("agentbench: --rounds must be at least 2 (paired differences need two rounds)");
        return Ok(ExitCode::from(2));
    }
    if !(args.threshold.is_finite() && args.threshold >= 0.0) {
        eprintln!("agentbench: --threshold must be a non-negative percent");
        return Ok(ExitCode::from(2));
    }
    let repo = repo_root()?;
    let mut commits = Vec::new();
    for rev in [&args.rev_a, &args.rev_b] {
        match resolve_rev(&repo, rev)? {
            Some(c) => commits.push(c),
            None => {
                eprintln!("agentbench: unknown revision {rev:?} (git rev-parse --verify {rev}^{{commit}} failed)");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let work = repo.join("target").join("agentbench-commits");
    let started = Instant::now();
    let specs = [
        BuildSpec {
            label: "a".into(),
            commit: commits[0].clone(),
            features: args.features_a.clone(),
        },
        BuildSpec {
            label: "b".into(),
            commit: commits[1].clone(),
            features: args.features_b.clone(),
        },
    ];
    let mut bins = Vec::new();
    for (spec, prebuilt) in specs.iter().zip([&args.bin_a, &args.bin_b]) {
        if let Some(bin) = prebuilt {
            if !bin.is_file() {
                eprintln!("agentbench: no binary at {}", bin.display());
                return Ok(ExitCode::from(2));
            }
            bins.push(bin.clone());
            continue;
        }
        eprintln!(
            "building {} = {} ({}){}",
            spec.label.to_uppercase(),
            if spec.label == "a" {
                &args.rev_a
            } else {
                &args.rev_b
            },
            &spec.commit[..12],
            spec.features
                .as_deref()
                .map(|f| format!(" --features {f}"))
                .unwrap_or_default()
        );
        bins.push(build_revision(&repo, &work, spec)?);
    }
    let built = started.elapsed();

    let exe = std::env::current_exe().context("cannot find the current executable")?;
    let pinning = if args.no_pin { None } else { Pinning::auto() };
    let stub = StubProcess::start(&exe, &args.profile, pinning.map(|p| p.stub_cpu))?;
    let cwd = std::env::current_dir()?;
    let runs_dir = work.join("runs");
    let spec = RunSpec {
        cwd: &cwd,
        addr: &stub.addr,
        runs: args.runs,
        cpu: pinning.map(|p| p.bench_cpu),
    };
    // Warm-up: one run of each, discarded.
    for (i, bin) in bins.iter().enumerate() {
        let warmup = RunSpec { runs: 1, ..spec };
        run_binary(bin, &warmup, &runs_dir.join(format!("warmup-{i}")))?;
    }
    let measure_started = Instant::now();
    let mut per: [Vec<RoundMeasure>; 2] = [Vec::new(), Vec::new()];
    for round in 0..args.rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let out = runs_dir.join(format!("{round:03}-{}", specs[i].label));
            let path = run_binary(&bins[i], &spec, &out)?;
            let file = read_records(&path)?;
            per[i].push(round_measures(&file));
        }
    }
    drop(stub);
    let measured = measure_started.elapsed();

    let opts = BootstrapOpts {
        seed: args.seed,
        ..BootstrapOpts::default()
    };
    let results = analyse_rounds(&per[0], &per[1], args.threshold, &opts);
    let ci_header = results.first().map_or("CI %".to_string(), |r| {
        format!("{} CI %", confidence_label(r.ci_confidence))
    });
    let mut rows = vec![[
        "metric",
        "A p50 µs",
        "B p50 µs",
        "median Δ %",
        &ci_header,
        "B slower",
        "sign p",
        "verdict",
    ]
    .map(str::to_string)
    .to_vec()];
    for r in &results {
        rows.push(vec![
            r.metric.clone(),
            format!("{:.1}", r.median_a_ns / 1e3),
            format!("{:.1}", r.median_b_ns / 1e3),
            format!("{:+.2}", r.median_change_pct),
            format!("[{:+.2}, {:+.2}]", r.ci_lower_pct, r.ci_upper_pct),
            format!("{}/{}", r.b_slower, r.rounds),
            format!("{:.3}", r.sign_p),
            format!("{:?}", r.verdict).to_lowercase(),
        ]);
    }
    println!(
        "A = {} ({}), B = {} ({}); {} rounds × {} runs, alternating; threshold {}%; {}",
        args.rev_a,
        &commits[0][..12],
        args.rev_b,
        &commits[1][..12],
        args.rounds,
        args.runs,
        args.threshold,
        match pinning {
            Some(p) => format!(
                "stub on CPU {}, binaries on CPU {}",
                p.stub_cpu, p.bench_cpu
            ),
            None => "not pinned".to_string(),
        }
    );
    print!("{}", render(&rows));
    println!(
        "built in {:.1} s, measured in {:.1} s",
        built.as_secs_f64(),
        measured.as_secs_f64()
    );
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "rev_a": args.rev_a, "commit_a": commits[0],
            "rev_b": args.rev_b, "commit_b": commits[1],
            "rounds": args.rounds, "runs": args.runs,
            "pinning": pinning.map(|p| serde_json::json!({"stub_cpu": p.stub_cpu, "bench_cpu": p.bench_cpu})),
            "a": per[0], "b": per[1], "results": results,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if results.is_empty() {
        eprintln!("agentbench: no metric had two paired rounds; nothing to compare");
        return Ok(ExitCode::from(2));
    }
    if results
        .iter()
        .any(|r| r.verdict == PairedVerdict::Regressed)
    {
        println!("verdict: REGRESSED");
        return Ok(ExitCode::from(1));
    }
    println!("verdict: no regression");
    Ok(ExitCode::SUCCESS)
}
