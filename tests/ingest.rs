//! Ingest of the committed corpus and of deliberately broken inputs.

use agentbench::ingest::{ingest, summarize, FileKind, IngestError, IngestOptions, ParseOutcome};
use std::path::{Path, PathBuf};
use std::process::Command;

fn mock_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data")
}

#[test]
fn mock_data_counts_and_no_skips() {
    let corpus = ingest(&mock_data(), &IngestOptions::default()).unwrap();
    let s = corpus.stats();
    assert_eq!((s.csv, s.json, s.markdown), (28, 44, 29));
    assert_eq!(s.files, 101);
    assert_eq!(s.parsed_ok, 101);
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);
    assert_eq!(s.ignored, 1, "only mock-data/.gitattributes is ignored");
    assert!((400_000..=450_000).contains(&s.bytes), "bytes {}", s.bytes);
    // Paths are relative, '/'-separated and in sorted walk order.
    assert!(corpus
        .files
        .iter()
        .all(|f| !f.path.starts_with('/') && !f.path.contains('\\')));
    assert_eq!(corpus.files[0].path, "csv_data/backend_compare_03.json");
    // Every CSV found numeric timing columns; every JSON found metric records.
    for f in &corpus.files {
        match &f.outcome {
            ParseOutcome::Csv(d) => {
                assert!(d.numeric("tokens_s").is_some(), "{}", f.path);
                assert!(d.ragged_rows.is_empty(), "{}", f.path);
            }
            ParseOutcome::Json(d) => assert!(!d.records.is_empty(), "{}", f.path),
            ParseOutcome::Markdown(d) => assert!(!d.headings.is_empty(), "{}", f.path),
            ParseOutcome::Skipped { reason } => panic!("{} skipped: {reason}", f.path),
        }
    }
}

#[test]
fn mock_data_summary_has_plausible_aggregates() {
    let corpus = ingest(&mock_data(), &IngestOptions::default()).unwrap();
    let sum = summarize(&corpus);
    let names: Vec<&str> = sum.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(
        names,
        [
            "(unattributed)",
            "gemma3:latest",
            "llama3.1:8b-instruct-q4_0",
            "qwen2.5:7b"
        ]
    );
    for m in &sum.models {
        let tps = m.tokens_per_second.as_ref().unwrap();
        assert!(tps.n >= 50 && tps.n <= m.calls, "{}: n {}", m.model, tps.n);
        assert!(
            (60.0..=120.0).contains(&tps.mean),
            "{}: {}",
            m.model,
            tps.mean
        );
        assert!(tps.min <= tps.median && tps.median <= tps.max);
        let warm = m.ttft_warm_s.as_ref().unwrap();
        let cold = m.ttft_cold_s.as_ref().unwrap();
        assert!(
            (0.2..=0.7).contains(&warm.mean),
            "{} warm {}",
            m.model,
            warm.mean
        );
        assert!(
            (1.0..=4.0).contains(&cold.mean),
            "{} cold {}",
            m.model,
            cold.mean
        );
    }
    // gemma3 is the fastest model in the generated data.
    let mean = |name: &str| {
        sum.models
            .iter()
            .find(|m| m.model == name)
            .unwrap()
            .tokens_per_second
            .as_ref()
            .unwrap()
            .mean
    };
    assert!(mean("gemma3:latest") > mean("llama3.1:8b-instruct-q4_0"));
    // Config sweep: 18 option combinations + baseline appear for gemma3.
    let gemma_cfgs = sum
        .configs
        .iter()
        .filter(|c| c.model == "gemma3:latest")
        .count();
    assert_eq!(gemma_cfgs, 19);
    assert!(sum.configs.iter().any(|c| c.label() == "baseline"));
    // Errors are few but present, and counted per message.
    assert!(sum.errors.total > 0 && sum.errors.total * 10 < sum.observations);
    assert_eq!(
        sum.errors.total,
        sum.errors.by_message.iter().map(|e| e.count).sum::<u64>()
    );
    assert_eq!(
        sum.errors.total,
        sum.models.iter().map(|m| m.errors).sum::<u64>()
    );
    // Bounded Markdown extracts.
    assert!(!sum.findings.is_empty() && sum.findings.len() <= 20);
    assert!(!sum.key_metrics.is_empty() && sum.key_metrics.len() <= 20);
    assert_eq!(sum.files.len(), 101);
    assert_eq!(
        sum.dirs
            .iter()
            .map(|d| d.csv + d.json + d.markdown)
            .sum::<u64>(),
        101
    );
}

#[test]
fn missing_root_is_an_error_naming_the_path() {
    let err = ingest(
        Path::new("/definitely/not/here-42"),
        &IngestOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, IngestError::Missing { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("/definitely/not/here-42") && msg.contains("does not exist"),
        "{msg}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.csv");
    std::fs::write(&file, "x\n1\n").unwrap();
    let err = ingest(&file, &IngestOptions::default()).unwrap_err();
    assert!(matches!(err, IngestError::NotADirectory { .. }));
    assert!(err.to_string().contains("a.csv"));
}

#[test]
fn bad_files_are_recorded_and_the_rest_ingested() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let w = |p: &str, b: &[u8]| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b).unwrap();
    };
    w(
        "good/timings.CSV",
        b"model,tokens_s,ttft_s,error\nm,80.0,0.3,\nm,90.0,0.5,\n",
    );
    w(
        "good/ragged.csv",
        b"model,tokens_s\nm,70.0\nm,71.0,extra\nm\n",
    );
    w(
        "good/results.json",
        br#"{"model":"m","results":[{"tokens_per_second":75.0,"ttft_s":0.4}]}"#,
    );
    w(
        "good/notes.md",
        b"# Notes\n\n## Key Findings\n\n- a finding\n",
    );
    w("bad/invalid.json", b"{\"model\": ");
    w(
        "bad/binary.json",
        &[0x89, b'P', b'N', b'G', 0xff, 0x00, 0xfe],
    );
    w("bad/latin1.md", b"# caf\xe9\n");
    w("bad/empty.csv", b"");
    w("bad/huge.json", &vec![b' '; 2048]);
    w("other/readme.txt", b"ignored");
    w("other/image.png", b"ignored");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();
        std::os::unix::fs::symlink(root.join("bad/self.json"), root.join("bad/self.json")).unwrap();
        std::os::unix::fs::symlink(root, root.join("good/back")).unwrap();
    }
    let corpus = ingest(
        root,
        &IngestOptions {
            max_file_bytes: 1024,
        },
    )
    .unwrap();
    let s = corpus.stats();
    let reason = |p: &str| {
        s.skipped
            .iter()
            .find(|x| x.path == p)
            .unwrap_or_else(|| panic!("{p} not skipped: {:?}", s.skipped))
            .reason
            .clone()
    };
    assert!(reason("bad/invalid.json").starts_with("invalid JSON"));
    assert!(reason("bad/binary.json").contains("not UTF-8"));
    assert!(reason("bad/latin1.md").contains("not UTF-8"));
    assert!(reason("bad/empty.csv").contains("empty"));
    assert!(
        reason("bad/huge.json").contains("2048 bytes") && reason("bad/huge.json").contains("1024")
    );
    #[cfg(unix)]
    {
        assert!(reason("bad/self.json").contains("symbolic link"));
        // `loop` and `good/back` have no considered extension: counted as ignored, not followed.
        assert_eq!(s.ignored, 4);
        assert_eq!(s.skipped.len(), 6);
    }
    assert_eq!(s.parsed_ok, 4);
    let ragged = corpus
        .files
        .iter()
        .find(|f| f.path == "good/ragged.csv")
        .unwrap();
    match &ragged.outcome {
        ParseOutcome::Csv(d) => {
            assert_eq!(d.rows, 3);
            assert_eq!(d.ragged_rows, vec![3, 4]);
            assert_eq!(
                d.numeric("tokens_s").unwrap().values,
                vec![Some(70.0), Some(71.0), None]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        corpus
            .files
            .iter()
            .find(|f| f.path == "good/timings.CSV")
            .unwrap()
            .kind,
        FileKind::Csv
    );
    let sum = summarize(&corpus);
    let m = &sum.models[0];
    assert_eq!(m.model, "m");
    assert_eq!(m.tokens_per_second.as_ref().unwrap().n, 5);
    assert_eq!(sum.findings[0].text, "a finding");
}

#[test]
fn ingest_is_deterministic() {
    let a = ingest(&mock_data(), &IngestOptions::default()).unwrap();
    let b = ingest(&mock_data(), &IngestOptions::default()).unwrap();
    assert_eq!(a, b);
    let ca = serde_json::to_string(&a).unwrap();
    assert_eq!(ca, serde_json::to_string(&b).unwrap());
    assert!(ca.contains(r#""status":"csv""#) && ca.contains(r#""kind":"markdown""#));
    let ja = serde_json::to_string(&summarize(&a)).unwrap();
    let jb = serde_json::to_string(&summarize(&b)).unwrap();
    assert_eq!(ja, jb);
}

/// One hostile input per issue item, ingested together with one good file: each is
/// listed with its reason, the good file is parsed, and `agentbench run` proceeds.
#[cfg(unix)]
#[test]
fn hostile_corpus_inputs_are_each_listed_with_a_reason_and_the_run_proceeds() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("corpus");
    std::fs::create_dir(&root).unwrap();
    let w = |p: &str, b: &[u8]| std::fs::write(root.join(p), b).unwrap();
    w(
        "good.csv",
        b"model,tokens_s,ttft_s\nm,80.0,0.3\nm,90.0,0.5\n",
    );
    // Ragged CSV rows: parsed, the ragged rows recorded (not skipped).
    w(
        "ragged.csv",
        b"model,tokens_s\nm,70.0\nm,71.0,extra,more\nm\n",
    );
    w("invalid.json", b"{\"model\": [1, 2,");
    w(
        "binary.json",
        &[0x7f, b'E', b'L', b'F', 0, 0, 0xff, 0xfe, 0x00],
    );
    w("empty.csv", b"");
    w("empty.json", b"");
    w("empty.md", b"");
    // 50 MB (sparse: no disk used) against the default 16 MiB cap.
    let big = std::fs::File::create(root.join("big.json")).unwrap();
    big.set_len(50_000_000).unwrap();
    drop(big);
    std::os::unix::fs::symlink("loop.json", root.join("loop.json")).unwrap();
    std::os::unix::fs::symlink("a.json", root.join("b.json")).unwrap();
    std::os::unix::fs::symlink("b.json", root.join("a.json")).unwrap();
    w("unreadable.json", b"{\"model\":\"m\"}");
    std::fs::set_permissions(
        root.join("unreadable.json"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    // As root (as in CI containers) mode 000 does not stop a read: check that and say so.
    let privileged = std::fs::read(root.join("unreadable.json")).is_ok();
    let fifo = root.join("fifo.json");
    let made_fifo = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let bad_name = std::ffi::OsStr::from_bytes(b"caf\xe9.json");
    std::fs::write(root.join(bad_name), b"{\"model\":\"m\"}").unwrap();

    let corpus = ingest(&root, &IngestOptions::default()).unwrap();
    let s = corpus.stats();
    let reason = |p: &str| {
        s.skipped
            .iter()
            .find(|x| x.path == p)
            .unwrap_or_else(|| panic!("{p} not listed: {:#?}", s.skipped))
            .reason
            .clone()
    };
    let mut tried = 0;
    let mut check = |p: &str, want: &str| {
        let r = reason(p);
        assert!(r.contains(want), "{p}: {r}");
        tried += 1;
    };
    check("invalid.json", "invalid JSON");
    check("binary.json", "not UTF-8");
    check("empty.csv", "empty");
    check("empty.json", "empty");
    check("empty.md", "empty");
    check("big.json", "over the max_file_bytes cap of 16777216");
    check("loop.json", "symbolic link");
    check("a.json", "symbolic link");
    check("b.json", "symbolic link");
    check("caf\u{fffd}.json", "file name is not UTF-8");
    if made_fifo {
        check("fifo.json", "not a regular file");
    }
    if privileged {
        println!("unreadable file: running with privileges that read mode-000 files; its skip is not asserted");
        assert!(corpus.files.iter().any(|f| f.path == "unreadable.json"));
    } else {
        check("unreadable.json", "cannot read file");
    }
    let ragged = corpus
        .files
        .iter()
        .find(|f| f.path == "ragged.csv")
        .unwrap();
    match &ragged.outcome {
        ParseOutcome::Csv(d) => assert_eq!(d.ragged_rows, vec![3, 4]),
        other => panic!("{other:?}"),
    }
    tried += 1;
    assert!(corpus
        .files
        .iter()
        .any(|f| f.path == "good.csv" && f.outcome.is_ok()));

    // The cap is configurable: raised above 50 MB the file is read (and is not JSON).
    let raised = ingest(
        &root,
        &IngestOptions {
            max_file_bytes: 64_000_000,
        },
    )
    .unwrap()
    .stats();
    let big = raised
        .skipped
        .iter()
        .find(|x| x.path == "big.json")
        .unwrap();
    assert!(!big.reason.contains("cap"), "{}", big.reason);

    // The whole run proceeds, and summary.json lists every skipped file.
    let out_dir = tmp.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OLLAMA_HOST")
        .args(["run", "--stub", "instant", "--runs", "1", "--quiet"])
        .args(["--max-file-bytes", "1000000", "--corpus"])
        .arg(&root)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let listed = summary["corpus_skipped"].as_array().unwrap();
    assert!(listed.len() >= 10, "{listed:?}");
    assert!(listed
        .iter()
        .any(|x| x["path"] == "big.json" && x["reason"].as_str().unwrap().contains("1000000")));
    println!("bad corpus inputs tried: {tried}");
}

/// SHA-256 of the ingest's whole output for one corpus: every file entry (path, kind,
/// size, parsed data or skip reason), the ignored count, the walk errors, and the
/// summary, as JSON (`{:?}` of the floats would hide nothing either: serde_json
/// writes the shortest round-tripping form, so equal digests mean equal bits).
fn output_digest(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let corpus = ingest(root, &IngestOptions::default()).unwrap();
    let mut h = Sha256::new();
    h.update(serde_json::to_string(&corpus.files).unwrap());
    h.update(corpus.ignored.to_string());
    h.update(serde_json::to_string(&corpus.walk_errors).unwrap());
    h.update(serde_json::to_string(&summarize(&corpus)).unwrap());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The ingest's output, byte for byte, as recorded before the ingest was made fast
/// (2026-12-03, commit 5e4fa11): mock-data/ and three generated corpora. A change to
/// what is parsed or how must show here first, and be deliberate.
#[test]
fn ingest_output_matches_the_recorded_digests() {
    let mut got = vec![("mock-data".to_string(), output_digest(&mock_data()))];
    let tmp = tempfile::tempdir().unwrap();
    for seed in [1u64, 7, 2026] {
        let dir = tmp.path().join(seed.to_string());
        agentbench::corpus::generate(&dir, seed).unwrap();
        got.push((format!("seed {seed}"), output_digest(&dir)));
    }
    for (name, digest) in &got {
        println!("{name}: {digest}");
    }
    let want = [
        (
            "mock-data",
            "7045c9b812a5461f15da884f823debbb747d92025aa5d55f22b2b1f0434c78ac",
        ),
        (
            "seed 1",
            "5cc5769d332f6e2205f18c984b75bc1a54740a796345e87d283a30ebbfbbcd76",
        ),
        (
            "seed 7",
            "37dec0368c7a411c6dbdef37206d8f7d132462240b0a0ccfa68147d98cf55de3",
        ),
        (
            "seed 2026",
            "ef937eece0d3cab3f8e1e75f6d8d846704963574599f161ac5e31258fed1668a",
        ),
    ];
    for ((name, digest), (want_name, want_digest)) in got.iter().zip(want) {
        assert_eq!(name, want_name);
        assert_eq!(digest, want_digest, "{name}: the ingest's output changed");
    }
}
