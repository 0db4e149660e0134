//! The instruction-count gate end to end, with the real binary under callgrind:
//! identical builds never flag, a planted 1% change is measured as 1%, and a planted
//! 3% change fails the gate. Uses the decode workload (cheap under valgrind).

use std::path::Path;
use std::process::{Command, Output};

fn valgrind_available() -> bool {
    let ok = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind is required in CI (apt-get install valgrind)"
        );
        eprintln!("skipped: valgrind not found (apt-get install valgrind)");
    }
    ok
}

fn icount(baseline: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["icount", "--workload", "decode", "--baseline"])
        .arg(baseline)
        .args(extra)
        .output()
        .unwrap()
}

/// The decode row's change in percent.
fn change_pct(out: &Output) -> f64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("decode"))
        .unwrap_or_else(|| panic!("no decode row in {stdout}"));
    let cell = row.split_whitespace().nth(3).unwrap();
    cell.trim_end_matches('%').parse().unwrap()
}

#[test]
fn identical_builds_pass_and_planted_changes_are_measured() {
    if !valgrind_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let out = icount(&baseline, &["--update"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert!(written["instructions"]["decode"].as_u64().unwrap() > 100_000);

    let out = icount(&baseline, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        change_pct(&out).abs() < 0.05,
        "identical build moved: {}",
        change_pct(&out)
    );

    let out = icount(&baseline, &["--plant-pct", "1"]);
    assert_eq!(out.status.code(), Some(0), "1% is inside the 2% tolerance");
    let measured = change_pct(&out);
    assert!(
        (0.9..=1.1).contains(&measured),
        "planted 1%, measured {measured}%"
    );

    let out = icount(&baseline, &["--plant-pct", "3"]);
    assert_eq!(out.status.code(), Some(1), "3% fails the gate");
    assert!(String::from_utf8_lossy(&out.stdout).contains("REGRESSED"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("icount --update"));
}
