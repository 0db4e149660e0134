//! The external-agent protocol's schema (`schema/workflow-record.schema.json`):
//! the Rust agent's own output validates against it, and the schema agrees with the
//! serde reader on every required field, type, enum and integer bound.

mod common;

use std::process::Command;

use agentbench::client::{CallError, ErrorKind, RequestSettings};
use agentbench::peers::Schema;
use agentbench::prompt::Analysis;
use agentbench::record::{Line, RunFailure, StartState, WorkflowRecord};
use serde_json::{json, Value};

fn schema() -> Schema {
    Schema::workflow().expect("the committed schema loads")
}

fn serde_ok(v: &Value) -> bool {
    matches!(
        serde_json::from_value::<Line>(v.clone()),
        Ok(Line::Workflow(_))
    )
}

/// A run with every optional field set, so that the schema sees every property.
fn maximal() -> Value {
    let mut run = common::synthetic_run(3, 50.0, 1.0);
    let mut settings = RequestSettings::default();
    for kv in [
        "num_gpu=60",
        "num_ctx=2048",
        "temperature=0.7",
        "num_predict=256",
        "seed=42",
        "top_p=0.9",
        "top_k=40",
        "repeat_penalty=1.1",
        "keep_alive=5m",
    ] {
        settings.set(kv).unwrap();
    }
    for c in &mut run.calls {
        c.call.settings = settings.clone();
        c.call.thinking = "hmm".into();
        c.call.attempt = 2;
        c.call.cost = agentbench::client::CallCost {
            cpu_ns: Some(90_000),
            request_ns: Some(20_000),
            decode_ns: Some(5_000),
            final_read_ns: Some(140_000),
        };
        c.call.retried_errors = vec![CallError {
            kind: ErrorKind::Timeout,
            message: "slow".into(),
        }];
    }
    run.calls[1].call.error = Some(CallError {
        kind: ErrorKind::Truncated,
        message: "cut".into(),
    });
    let run = WorkflowRecord {
        start_state: StartState::Warm,
        analysis: Some(Analysis {
            summary: "s".into(),
            findings: vec!["f".into()],
            recommendations: vec!["r".into()],
            metrics: vec!["m: 1".into()],
        }),
        failure: Some(RunFailure {
            stage: agentbench::record::FailedStep::Report,
            message: "cut".into(),
        }),
        config: Some("baseline".into()),
        round: Some(2),
        warmup: true,
        expected_reload: true,
        ..run
    };
    serde_json::to_value(Line::Workflow(Box::new(run))).unwrap()
}

#[test]
fn a_maximal_record_validates_and_uses_every_schema_property() {
    let v = maximal();
    let errors = schema().validate(&v);
    assert!(errors.is_empty(), "{errors:#?}");
    // Every property the schema names appears somewhere in the maximal record, so
    // the agreement test below exercises all of them.
    let text = v.to_string();
    let schema_json: Value = serde_json::from_str(agentbench::peers::WORKFLOW_SCHEMA).unwrap();
    let mut names = Vec::new();
    collect_property_names(&schema_json, &mut names);
    for n in names {
        assert!(
            text.contains(&format!("\"{n}\":")),
            "schema property {n:?} is not in the maximal record"
        );
    }
}

fn collect_property_names(v: &Value, out: &mut Vec<String>) {
    if let Some(o) = v.as_object() {
        if let Some(p) = o.get("properties").and_then(Value::as_object) {
            out.extend(p.keys().cloned());
        }
        for x in o.values() {
            collect_property_names(x, out);
        }
    }
}

/// Paths (object keys / array indices) of every node of `v`.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn nodes(v: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(path.clone());
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                path.push(Step::Key(k.clone()));
                nodes(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Step::Index(i));
                nodes(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn show(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Key(k) => format!(".{k}"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

#[test]
fn schema_and_serde_agree_on_every_removal_and_wrong_value() {
    let s = schema();
    let base = maximal();
    let mut paths = Vec::new();
    nodes(&base, &mut Vec::new(), &mut paths);
    let mut checked = 0;
    let mut disagreements = Vec::new();
    let mut check = |what: String, v: &Value| {
        checked += 1;
        let by_schema = s.validate(v).is_empty();
        let by_serde = serde_ok(v);
        if by_schema != by_serde {
            disagreements.push(format!(
                "{what}: schema {} but serde {}",
                if by_schema { "accepts" } else { "rejects" },
                if by_serde { "accepts" } else { "rejects" }
            ));
        }
    };
    let mut rejected_somewhere = 0;
    for path in &paths {
        let mut probe = base.clone();
        let node = at(&mut probe, path).clone();
        // Remove each property of an object (required by both, or by neither).
        if let Value::Object(o) = &node {
            for k in o.keys() {
                let mut v = base.clone();
                at(&mut v, path).as_object_mut().unwrap().remove(k);
                if !serde_ok(&v) {
                    rejected_somewhere += 1;
                }
                check(format!("without {}.{k}", show(path)), &v);
            }
        }
        // Replace leaves with values of another type, out-of-range integers,
        // fractions and unknown enum strings.
        let replacements: Vec<Value> = match &node {
            Value::String(_) => vec![json!(1), json!("no-such-variant"), json!(null)],
            Value::Number(_) => vec![
                json!("1"),
                json!(-1),
                json!(1.5),
                json!(65_536),
                json!(4_294_967_296u64),
                json!(null),
            ],
            Value::Bool(_) => vec![json!("true"), json!(1)],
            Value::Array(_) => vec![json!({}), json!("x")],
            // Not `[]`: serde_json also reads a struct from an array of its fields
            // in order (so `[]` is a valid all-optional struct); the schema does not
            // offer that form, and no writer uses it.
            Value::Object(_) if !path.is_empty() => vec![json!("x"), json!(1)],
            _ => vec![],
        };
        for r in replacements {
            let mut v = base.clone();
            *at(&mut v, path) = r.clone();
            check(format!("{} = {r}", show(path)), &v);
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {checked} mutations disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(checked > 400, "only {checked} mutations");
    assert!(
        rejected_somewhere > 20,
        "required fields exercised: {rejected_somewhere}"
    );
}

#[test]
fn an_unknown_property_is_rejected_by_the_schema_and_ignored_by_serde() {
    // The one intended difference: the schema is the stricter contract for external
    // agents (a misspelt optional field would otherwise vanish silently), while
    // agentbench's reader stays tolerant of newer writers.
    let s = schema();
    let base = maximal();
    let mut paths = Vec::new();
    nodes(&base, &mut Vec::new(), &mut paths);
    let mut objects = 0;
    for path in paths {
        let mut v = base.clone();
        let node = at(&mut v, &path);
        let is_free_value = path
            .last()
            .is_some_and(|s| matches!(s, Step::Key(k) if k == "keep_alive"));
        if let (Value::Object(o), false) = (node, is_free_value) {
            o.insert("ttft_ms".into(), json!(1));
            objects += 1;
            assert!(
                !s.validate(&v).is_empty(),
                "schema accepted {}.ttft_ms",
                show(&path)
            );
            assert!(serde_ok(&v), "serde rejected {}.ttft_ms", show(&path));
        }
    }
    assert!(objects >= 10, "{objects}");
}

#[test]
fn the_rust_agent_output_validates_against_the_committed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for profile in ["instant", "fault:truncate"] {
        let kind = if profile == "instant" {
            agentbench::stub::StubKind::Instant
        } else {
            agentbench::stub::StubKind::Paced
        };
        let stub = rt
            .block_on(agentbench::stub::serve(
                agentbench::stub::default_addr(0),
                agentbench::stub::StubProfile::named(profile).unwrap(),
                kind,
            ))
            .unwrap();
        let out = dir
            .path()
            .join(format!("{}.jsonl", profile.replace(':', "-")));
        let status = Command::new(env!("CARGO_BIN_EXE_agentbench"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["agent", "--base-url", stub.url(), "--runs", "2", "--out"])
            .arg(&out)
            .status()
            .unwrap();
        let expected = if profile == "instant" { 0 } else { 3 };
        assert_eq!(status.code(), Some(expected), "{profile}");
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{profile}: one line per run");
        for (i, line) in lines.iter().enumerate() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["kind"], "workflow");
            assert_eq!(v["run_index"], i);
            let errors = schema().validate(&v);
            assert!(errors.is_empty(), "{profile} line {i}: {errors:#?}");
        }
        rt.block_on(stub.shutdown());
    }
    // The lines `agentbench run` writes validate too.
    let run_dir = dir.path().join("run");
    let status = Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run", "--stub", "instant", "--runs", "1", "--quiet", "--out",
        ])
        .arg(&run_dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(run_dir.join("records.jsonl")).unwrap();
    let workflow: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "workflow")
        .collect();
    assert_eq!(workflow.len(), 1);
    assert!(schema().validate(&workflow[0]).is_empty());
}
