//! `load --workload agent --trace FILE` and `export-trace` end to end against the
//! fast stub: a replay sends every request of the trace with its prompt length
//! (4 bytes a token) and its output bound, in its session, at the trace's times
//! scaled by --time-scale (a session's turn k+1 intended at turn k's end plus the
//! scaled think time); the exported trace gives the same lengths back; bad traces
//! and flags the trace fixes are refused with exit 2 naming the file:line or flag.

use std::path::{Path, PathBuf};
use std::process::Output;

use agentbench::load::read_load_file;
use agentbench::trace::{read_trace, ReadOptions};

mod common;
use common::{agentbench, text};

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("traces")
        .join(name)
}

fn replay(trace: &Path, extra: &[&str], out: &Path) -> Output {
    agentbench()
        .args(["load", "--workload", "agent", "--trace"])
        .arg(trace)
        .args(["--stub", "fast:chunks=8", "--quiet", "--max-lag", "1s"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

const SCALE: f64 = 0.05;

#[test]
fn a_replay_sends_the_traces_sessions_at_its_scaled_times_and_exports_its_lengths() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let trace = sample("sample-agentic.jsonl");
    let o = replay(&trace, &["--time-scale", "0.05"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let expected = read_trace(&trace, &ReadOptions::default()).unwrap().trace;
    let scripts = expected.to_scripts(SCALE).unwrap();
    let file = read_load_file(&out.join("records.jsonl")).unwrap();
    let plan = file.header.plan.agent.as_ref().expect("an agent plan");
    let info = plan.trace.as_ref().expect("the trace is recorded");
    assert_eq!(info.sessions, scripts.len() as u64);
    assert_eq!(info.time_scale, SCALE);
    assert_eq!(file.requests.len() as u64, expected.request_count());

    let mut by_session: Vec<Vec<_>> = vec![Vec::new(); scripts.len()];
    for r in &file.requests {
        let t = r.turn.as_ref().expect("every request is a turn");
        assert!(r.call.is_ok(), "{:?}", r.call.error);
        by_session[t.session as usize].push(r);
    }
    for (i, (turns, script)) in by_session.iter_mut().zip(&scripts).enumerate() {
        turns.sort_by_key(|r| r.turn.as_ref().unwrap().turn);
        assert_eq!(turns.len(), script.turns.len(), "session {i}");
        // Sessions arrive at the trace's (scaled) start.
        let start = script.start_ns.unwrap();
        assert_eq!(turns[0].intended_ns, start, "session {i}");
        for (k, (r, planned)) in turns.iter().zip(&script.turns).enumerate() {
            let agentbench::load::session::TurnInput::Prompt(prompt) = &planned.input else {
                panic!("a trace turn is a prompt");
            };
            assert_eq!(
                r.call.prompt_bytes,
                prompt.len() as u64,
                "session {i} turn {k}"
            );
            assert_eq!(
                r.call.settings.options.num_predict,
                planned.max_tokens.map(i64::from),
                "session {i} turn {k}: the output bound is the trace's"
            );
            if k > 0 {
                // The timing rule: previous turn's real end + the scaled think time.
                let prev = turns[k - 1].call.end_ns.unwrap() + turns[k - 1].sent_ns;
                assert_eq!(
                    r.intended_ns,
                    prev + planned.think_ns,
                    "session {i} turn {k}"
                );
            }
        }
    }

    // Export: the same sessions and prompt lengths come back (the stub counts
    // 4 bytes a token, as the synthesis writes them).
    let exported = tmp.path().join("export.jsonl");
    let o = agentbench()
        .args(["export-trace"])
        .arg(&out)
        .arg("--out")
        .arg(&exported)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let back = read_trace(&exported, &ReadOptions::default())
        .unwrap()
        .trace;
    assert_eq!(back.sessions.len(), expected.sessions.len());
    let lengths = |t: &agentbench::trace::Trace| -> Vec<Vec<u64>> {
        let mut v: Vec<Vec<u64>> = t
            .to_scripts(1.0)
            .unwrap()
            .iter()
            .map(|s| {
                s.turns
                    .iter()
                    .map(|t| match &t.input {
                        agentbench::load::session::TurnInput::Prompt(p) => p.len() as u64 / 4,
                        _ => 0,
                    })
                    .collect()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(lengths(&back), lengths(&expected));
}

#[test]
fn a_mooncake_trace_replays_at_its_times_under_a_ceiling_each_request_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let trace = sample("sample-mooncake.jsonl");
    let o = replay(
        &trace,
        &[
            "--time-scale",
            "0.2",
            "--max-concurrency",
            "4",
            "--jobs",
            "12",
        ],
        &out,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let file = read_load_file(&out.join("records.jsonl")).unwrap();
    assert_eq!(
        file.requests.len(),
        12,
        "--jobs 12 of the trace's 20, once each"
    );
    let mut sessions: Vec<u64> = file
        .requests
        .iter()
        .map(|r| r.turn.as_ref().unwrap().session)
        .collect();
    sessions.sort_unstable();
    assert_eq!(sessions, (0..12).collect::<Vec<_>>());
    let peak = file.end.as_ref().unwrap().peak_in_flight;
    assert!(peak <= 4, "at most 4 in flight, peak {peak}");
    // Each request arrives at its timestamp × 0.2, relative to the first.
    let scripts = read_trace(&trace, &ReadOptions::default())
        .unwrap()
        .trace
        .to_scripts(0.2)
        .unwrap();
    for r in &file.requests {
        let s = r.turn.as_ref().unwrap().session as usize;
        assert_eq!(
            r.turn.as_ref().unwrap().session_intended_ns,
            scripts[s].start_ns.unwrap()
        );
    }
}

#[test]
fn bad_traces_and_flags_the_trace_fixes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 3, \"hash_ids\": [1]}\n{\"timestamp\": -5, \"input_length\": 10}\n{\"timestamp\": 9, \"input_length\": 10, \"output_length\": 3, \"hash_ids\": [2]}\n",
    )
    .unwrap();
    let out = tmp.path().join("run");
    let o = replay(&bad, &[], &out);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    assert!(err.contains("--skip-bad"), "{err}");
    assert!(!out.join("records.jsonl").exists(), "nothing was sent");

    let o = replay(&bad, &["--skip-bad"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("skipped 1 bad line"));
    let file = read_load_file(&out.join("records.jsonl")).unwrap();
    assert_eq!(
        file.requests.len(),
        2,
        "the two good lines, none silently lost"
    );
    assert_eq!(
        file.header.plan.agent.unwrap().trace.unwrap().skipped_lines,
        1
    );

    let good = sample("sample-mooncake.jsonl");
    for (flags, named) in [
        (vec!["--think", "5ms"], "--think"),
        (vec!["--turns", "2"], "--turns"),
        (vec!["--session-rate", "5"], "--session-rate"),
        (vec!["--prompt-tokens", "8"], "--prompt-tokens"),
        (vec!["--time-scale", "0"], "--time-scale"),
        (vec!["--time-scale", "-1"], "--time-scale"),
    ] {
        let o = replay(&good, &flags, &tmp.path().join("x"));
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(named),
            "{flags:?}: {}",
            text(&o)
        );
    }
    let o = agentbench()
        .args(["load", "--stub", "fast", "--trace"])
        .arg(&good)
        .arg("--out")
        .arg(tmp.path().join("y"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--workload agent"));
    let o = agentbench()
        .args([
            "load",
            "--workload",
            "agent",
            "--stub",
            "fast",
            "--skip-bad",
        ])
        .arg("--out")
        .arg(tmp.path().join("z"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--trace"));
}
