//! The official Ollama Python client (`pip install ollama`, version pinned in
//! `tests/python/requirements.txt`) must accept both stubs.
//!
//! Python is taken from `$AGENTBENCH_PYTHON`, else from `.venv/bin/python` under the crate
//! root if it can `import ollama`. Without either, the test is skipped with a note, except
//! when `CI` is set: then it fails, because CI must run it.

use std::path::{Path, PathBuf};
use std::process::Command;

use agentbench::stub::{default_addr, serve, StubKind, StubProfile};

const ENABLE: &str =
    "python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt";

fn can_import_ollama(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import ollama"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The Python to use, or why there is none.
fn find_python() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("AGENTBENCH_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if can_import_ollama(&p) {
            return Ok(p);
        }
        // Explicitly configured but broken: that is an error, not a skip.
        panic!("AGENTBENCH_PYTHON={} cannot `import ollama`", p.display());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() && can_import_ollama(&venv) {
        return Ok(venv);
    }
    Err(format!(
        "no Python with the `ollama` package (set AGENTBENCH_PYTHON, or run `{ENABLE}`)"
    ))
}

#[tokio::test]
async fn official_python_client_accepts_both_stubs() {
    let python = match find_python() {
        Ok(p) => p,
        Err(why) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("CI is set, so the Python client check must run: {why}")
        }
        Err(why) => {
            println!("skipped official_python_client_accepts_both_stubs: {why}");
            return;
        }
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ollama_client_check.py");
    let profile = StubProfile::default().with_chunks(40);
    let expected = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(expected.path(), &profile.text).unwrap();
    for kind in [StubKind::Instant, StubKind::Paced, StubKind::Fast] {
        let stub = serve(default_addr(0), profile.clone(), kind).await.unwrap();
        let (python, script, url, expected) = (
            python.clone(),
            script.clone(),
            stub.url().to_owned(),
            expected.path().to_owned(),
        );
        // Both stubs serve from their own threads, so blocking here is fine; keep the test
        // runtime free anyway.
        let out = tokio::task::spawn_blocking(move || {
            Command::new(python)
                .arg(script)
                .arg(url)
                .arg(expected)
                .output()
        })
        .await
        .unwrap()
        .expect("cannot run python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.trim_end().ends_with("ok"),
            "{kind} stub rejected by the Python client\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stub.shutdown().await;
    }
}
