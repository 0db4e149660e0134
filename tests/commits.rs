//! `agentbench commits` through the binary.
//!
//! The fast tests (bad input → exit 2) run in CI. The end-to-end tests build two
//! release binaries (about 3 minutes on 2 cores, most of it compiling agentbench
//! twice), so they are `#[ignore]`d; run them with
//! `cargo test --test commits -- --ignored --test-threads 1`.

use std::process::{Command, Output};

fn commits(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .arg("commits")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("agentbench runs")
}

#[test]
fn an_unknown_revision_is_named_and_exits_2() {
    let out = commits(&["HEAD", "no-such-rev-xyz"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-rev-xyz"), "{err}");
}

#[test]
fn too_few_rounds_exit_2() {
    let out = commits(&["HEAD", "HEAD", "--rounds", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_prebuilt_binary_exits_2() {
    let out = commits(&["HEAD", "HEAD", "--bin-a", "/nonexistent/agentbench"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The planted slowdown (plant-slowdown feature, 2 µs per content chunk here: well
/// above the noise of 6 rounds) is reported as a regression.
#[test]
#[ignore = "builds two release binaries (~3 min)"]
fn a_planted_slowdown_exits_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .args([
            "commits",
            "HEAD",
            "HEAD",
            "--features-b",
            "plant-slowdown",
            "--rounds",
            "6",
            "--runs",
            "5",
        ])
        .env("AGENTBENCH_PLANT_NS", "2000")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("regressed"), "{stdout}");
}

/// Identical builds are not flagged.
#[test]
#[ignore = "builds two release binaries (~3 min)"]
fn identical_builds_exit_0() {
    let out = commits(&["HEAD", "HEAD", "--rounds", "6", "--runs", "5"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
