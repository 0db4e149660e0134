//! `agentbench history` and the report's history section, through the binary:
//! entries carry the medians of the records they were made from, the trend page
//! and the report draw one chart per metric, and bad input names the file and line.

use std::process::{Command, Output};

mod common;
use common::{header, synthetic_run, write_records};

fn agentbench(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .args(args)
        .output()
        .unwrap()
}

fn os<S: AsRef<std::ffi::OsStr> + ?Sized>(s: &S) -> &std::ffi::OsStr {
    s.as_ref()
}

#[test]
fn append_records_the_medians_and_plot_draws_the_trend() {
    let dir = tempfile::tempdir().unwrap();
    let h = header("http://127.0.0.1:1");
    // Client overhead 2, 3, 4 ms → median 3 ms; a second commit's at 6 ms.
    let first: Vec<_> = (0..3)
        .map(|i| synthetic_run(i, 100.0, 2.0 + i as f64))
        .collect();
    let second: Vec<_> = (0..3).map(|i| synthetic_run(i, 100.0, 6.0)).collect();
    let a = write_records(dir.path(), "a", &h, &first);
    let b = write_records(dir.path(), "b", &h, &second);
    let hist = dir.path().join("nested/history.jsonl");
    for records in [&a, &b] {
        let out = agentbench(&[
            os("history"),
            os("append"),
            os(records),
            os("--history"),
            os(&hist),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let entries = agentbench::history::read(&hist).unwrap();
    assert_eq!(entries.len(), 2);
    let overhead = |i: usize| entries[i].medians["analysis.client_overhead_ms"];
    assert!((overhead(0) - 3.0).abs() < 1e-3, "{}", overhead(0));
    assert!((overhead(1) - 6.0).abs() < 1e-3, "{}", overhead(1));
    assert_eq!(entries[0].runs, 3);
    assert_eq!(entries[0].backend, "stub:instant");

    let page_dir = dir.path().join("page");
    let out = agentbench(&[
        os("history"),
        os("plot"),
        os("--history"),
        os(&hist),
        os("--out"),
        os(&page_dir),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(page_dir.join("history.html")).unwrap();
    for id in [
        "trend-analysis.client_overhead_ms",
        "trend-workflow.ingest_ms",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "missing {id}");
    }
    assert_eq!(
        page.matches("<svg").count(),
        6,
        "one chart per trend metric"
    );

    let report_dir = dir.path().join("report");
    let out = agentbench(&[
        os("report"),
        os(&b),
        os("--history"),
        os(&hist),
        os("--out"),
        os(&report_dir),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(report_dir.join("index.html")).unwrap();
    assert!(html.contains("id=\"history\""));
    assert!(html.contains("id=\"trend-report.client_overhead_ms\""));
    // Without --history there is no such section.
    let plain = dir.path().join("plain");
    assert!(agentbench(&[os("report"), os(&b), os("--out"), os(&plain)])
        .status
        .success());
    let html = std::fs::read_to_string(plain.join("index.html")).unwrap();
    assert!(!html.contains("id=\"history\""));
}

#[test]
fn bad_history_lines_and_empty_records_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("history.jsonl");
    std::fs::write(&hist, "\n{\"version\": 1, \"oops\": true}\n").unwrap();
    let out = agentbench(&[
        os("history"),
        os("plot"),
        os("--history"),
        os(&hist),
        os("--out"),
        os(dir.path()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("history.jsonl:2:"), "{err}");

    let h = header("http://127.0.0.1:1");
    let empty = write_records(dir.path(), "empty", &h, &[]);
    let out = agentbench(&[
        os("history"),
        os("append"),
        os(&empty),
        os("--history"),
        os(&hist),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no completed workflow run"), "{err}");
    assert!(err.contains("empty.jsonl"), "{err}");
}
