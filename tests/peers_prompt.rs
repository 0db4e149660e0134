//! The Python peers (`peers/python/`) send the Rust agent's prompts byte for byte.
//!
//! 1. End to end, on `mock-data/` and on a generated corpus (seed 7): the Rust agent
//!    (`agentbench run --base-url`), `agent.py` (httpx) and `ollama_agent.py` (official
//!    client) each run one workflow against the same instant stub; the SHA-256 of the
//!    analysis and report prompts recorded by each must be equal (the report prompt
//!    depends on parsing the stub's analysis response, so the parser port is checked
//!    too), and every call must have completed.
//! 2. Corner cases: a corpus written here to hit the formatting, parsing and Markdown
//!    rules that Python's standard library does differently from Rust's, and a set of
//!    analysis responses in odd shapes. `peers/python/dump_prompts.py` prints the
//!    prompts and parsed analyses; the Rust library computes the same in process.
//!
//! Python is `$AGENTBENCH_PYTHON`, else `.venv/bin/python` under the crate root, and
//! must `import httpx, ollama`. Without it the test prints one skip line, except when
//! `CI` is set: then it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use agentbench::ingest::{ingest, summarize, IngestOptions};
use agentbench::prompt::{analysis_prompt, parse_analysis, prompt_hash, report_prompt};
use agentbench::stub::{default_addr, serve, StubKind, StubProfile};
use serde_json::Value;

const ENABLE: &str =
    "python3 -m venv .venv && .venv/bin/pip install -r peers/python/requirements.txt";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn can_import(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import httpx, ollama"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn find_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AGENTBENCH_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            can_import(&p),
            "AGENTBENCH_PYTHON={} cannot `import httpx, ollama` (run `{ENABLE}`)",
            p.display()
        );
        return Ok(p);
    }
    let venv = root().join(".venv/bin/python");
    if venv.exists() && can_import(&venv) {
        return Ok(venv);
    }
    Err(format!(
        "no Python with httpx and ollama (set AGENTBENCH_PYTHON, or run `{ENABLE}`)"
    ))
}

fn python_or_skip(test: &str) -> Option<PathBuf> {
    match find_python() {
        Ok(p) => Some(p),
        Err(why) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("CI is set, so {test} must run: {why}")
        }
        Err(why) => {
            println!("skipped {test}: {why}");
            None
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("cannot start the command");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The workflow lines of a record file (the Rust agent's file also has a header).
fn workflow_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
        .filter(|v| v["kind"] == "workflow")
        .collect()
}

/// (stage, prompt_sha256) of every call of a run; panics when a call failed.
fn prompt_hashes(run: &Value, who: &str) -> Vec<(String, String)> {
    let calls = run["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 2, "{who}: both calls made: {run}");
    calls
        .iter()
        .map(|c| {
            assert!(
                c["call"].get("error").is_none(),
                "{who}: call failed: {}",
                c["call"]["error"]
            );
            let sha = c["call"]["prompt_sha256"].as_str().unwrap().to_string();
            let prompt = c["prompt"].as_str().unwrap();
            assert_eq!(
                prompt_hash(prompt),
                sha,
                "{who}: hash of the recorded prompt"
            );
            (c["stage"].as_str().unwrap().to_string(), sha)
        })
        .collect()
}

fn agents_agree_on(python: &Path, url: &str, corpus: &Path, dir: &Path) {
    let bin = env!("CARGO_BIN_EXE_agentbench");
    let rust_out = dir.join("rust");
    run(Command::new(bin)
        .args(["run", "--runs", "1", "--quiet", "--base-url", url])
        .arg("--corpus")
        .arg(corpus)
        .arg("--out")
        .arg(&rust_out));
    let rust = workflow_lines(&rust_out.join("records.jsonl"));
    let expected = prompt_hashes(&rust[0], "rust");
    for peer in ["agent.py", "ollama_agent.py"] {
        let out = dir.join(format!("{peer}.jsonl"));
        run(Command::new(python)
            .arg(root().join("peers/python").join(peer))
            .args(["--runs", "2", "--base-url", url])
            .arg("--corpus")
            .arg(corpus)
            .arg("--out")
            .arg(&out));
        let runs = workflow_lines(&out);
        assert_eq!(runs.len(), 2, "{peer}: one line per run");
        for (i, run) in runs.iter().enumerate() {
            assert_eq!(run["run_index"], i, "{peer}: run_index");
            assert_eq!(
                prompt_hashes(run, peer),
                expected,
                "{peer} on {}: prompt hashes differ from the Rust agent's",
                corpus.display()
            );
            assert_eq!(
                run["analysis"], rust[0]["analysis"],
                "{peer}: parsed analysis"
            );
            assert_eq!(run["corpus_files"], rust[0]["corpus_files"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_peers_send_the_rust_agents_prompts() {
    let Some(python) = python_or_skip("python_peers_send_the_rust_agents_prompts") else {
        return;
    };
    let stub = serve(default_addr(0), StubProfile::default(), StubKind::Instant)
        .await
        .unwrap();
    let url = stub.url().to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let seed7 = tmp.path().join("seed7");
    agentbench::corpus::generate(&seed7, 7).unwrap();
    let corpora = [root().join("mock-data"), seed7];
    let dir = tmp.path().to_owned();
    tokio::task::spawn_blocking(move || {
        for (i, corpus) in corpora.iter().enumerate() {
            let d = dir.join(format!("out{i}"));
            std::fs::create_dir_all(&d).unwrap();
            agents_agree_on(&python, &url, corpus, &d);
        }
    })
    .await
    .unwrap();
    stub.shutdown().await;
}

/// Files made to hit the rules where Python's standard library differs from Rust's.
fn write_corner_corpus(dir: &Path) {
    let files: &[(&str, &[u8])] = &[
        // CRLF, quotes, a blank line, a BOM, ragged rows, Rust-only float syntax,
        // U+001F (whitespace to Python, not to Rust), ties for {:.2}/{:.3}, -0,
        // num_gpu 60.5 and temperature 0.0005 (round half away from zero), a Kelvin
        // sign in a header (ASCII-only case folding).
        ("a/timings.csv", b"\xef\xbb\xbfmodel,num_gpu,num_ctx,temperature,ttft_s,tokens_s,load_s,error\r\nm\xc3\xa9,60.5,512,0.0005,0.125,10.125,0.06,\r\n\r\n\"m\xc3\xa9\",60.5,512,0.0005,0.375,+.5,0.01,\r\nm2,,,,1.,2.675,,\r\nm2,1e1,,,,-0.0,,\"boom, \"\"quoted\"\"\"\r\nm2,,,,0.0625,7,,,extra\r\nm3\n"),
        ("a/odd.csv", b"model,tokens_s,ttft_ms,\xe2\x84\xaaey\nx,1_000,5,1\nx,2,\x1f5,2\nx,3,inf,3\ny,4,250,4\n"),
        ("a/empty_header.csv", b" , \n1,2\n"),
        ("b/dupes.json", b"{\"model\":\"j\",\"options\":{\"num_gpu\":-0,\"temperature\":0.0015},\"results\":[{\"tokens_per_second\":1,\"tokens_per_second\":3.0625,\"ttft\":0.5,\"cold_start\":true},{\"eval_count\":100,\"eval_duration\":3000000000,\"ttft_ms\":125,\"load_duration\":60000000},{\"success\":false},{\"status\":\"FAILED\",\"error\":\"  \"},{\"error\":\"oom \\u00e9\",\"ttft\":1}],\"big\":18446744073709551617}"),
        ("b/nan.json", b"{\"tokens_s\": NaN}"),
        ("b/huge.json", b"{\"tokens_s\": 1e400}"),
        ("b/surrogate.json", b"{\"model\":\"\\ud800\",\"tokens_s\":1}"),
        ("b/pair.json", b"{\"model\":\"\\ud83d\\ude00\",\"tokens_s\":2}"),
        ("b/deep127.json", format!("{}{{\"tokens_s\":9}}{}", "[".repeat(126), "]".repeat(126)).into_bytes().leak()),
        ("b/deep128.json", format!("{}{{\"tokens_s\":9}}{}", "[".repeat(127), "]".repeat(127)).into_bytes().leak()),
        ("b/bad.json", b"{\"a\":1,}"),
        ("b/latin1.json", b"{\"model\":\"\xe9\"}"),
        ("c/empty.md", b""),
        ("c/1.md", b"Key Findings\n---\n\n* **Bold** finding with `code | pipe` and [a link](http://x.y \"t\")\n* second &amp; &#x41; \\* escaped\n\n| Metric | Value | Extra |\n|:--|--:|---|\n| A \\| B | `1` |\n| C | 2 | 3 | 4 |\n| D | 3 |\n| E | 4 |\n| F | 5 |\n"),
        ("c/2.md", b"# Observations\n\n1. first *emph* and _under_score_ and snake_case_name\n   continued lazily\nlazy line\n2. second\n   - nested <span>html</span> item\n\n     loose paragraph\n\n## Takeaways\n\n- **a**\n- a\n- ![img alt](p.png) tail  \n  hard break\n\n```\n- not a bullet\n```\n"),
        ("c/3.md", b"## Insights:\n\n> - quoted bullet\n\n- <http://auto.link> and foo@bar.com\n- ***strong emph*** and **unclosed\n"),
    ];
    for (name, data) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
}

/// Analysis responses in the shapes the parser has rules for.
fn odd_responses() -> Vec<String> {
    let canned = StubProfile::default().text;
    vec![
        canned,
        String::new(),
        "Just one paragraph\nover two lines.\n\nAnd another.".into(),
        "Intro text first.\n\n**Key Findings:**\n1. one\n   continued\n2) two\n\n__Recommendations__\n+ do this\n• and that\n\nPerformance Metrics: inline start\n| metric | value |\n|---|---|\n| tok/s | 99 |\n|**|\n|---|\n".into(),
        "# Summary\nTL;DR: fast.\n- Executive Summary\n  text under it\n\n## Next Steps\n- a\n\n---\n* b\r\n\u{1f}c\u{3000}\n- ".into(),
        format!("## Executive Summary\n{}\n## Key Findings\n- {}\n", "é".repeat(1500), "ü".repeat(400)),
        "1. Executive Summary\n- **Recommendations**\n- Key Findings:\n- item: with colon\n#no space heading\nsummary: x".into(),
    ]
}

#[test]
fn python_port_matches_on_corner_cases() {
    let Some(python) = python_or_skip("python_port_matches_on_corner_cases") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corner");
    write_corner_corpus(&corpus);
    let responses = odd_responses();
    let responses_file = tmp.path().join("responses.json");
    std::fs::write(&responses_file, serde_json::to_vec(&responses).unwrap()).unwrap();
    for corpus in [corpus, root().join("mock-data")] {
        let out = run(Command::new(&python)
            .arg(root().join("peers/python/dump_prompts.py"))
            .arg("--corpus")
            .arg(&corpus)
            .arg("--responses")
            .arg(&responses_file));
        let py: Value = serde_json::from_str(&out).expect("dump_prompts prints JSON");
        let summary = summarize(&ingest(&corpus, &IngestOptions::default()).unwrap());
        let analysis = analysis_prompt(&summary);
        assert_eq!(
            py["analysis_prompt"].as_str().unwrap(),
            analysis,
            "analysis prompt for {}",
            corpus.display()
        );
        for (i, text) in responses.iter().enumerate() {
            let parsed = parse_analysis(text);
            let got = &py["reports"][i];
            assert_eq!(
                got["analysis"],
                serde_json::to_value(&parsed).unwrap(),
                "parsed analysis of response {i}: {text:?}"
            );
            assert_eq!(
                got["prompt"].as_str().unwrap(),
                report_prompt(&parsed, &summary),
                "report prompt for response {i} on {}",
                corpus.display()
            );
        }
    }
}
