//! The HTML report in a real browser: the stub answers with `<script>` and
//! attribute-breaking payloads, a corpus file is named like one, the report is
//! rendered and opened in headless Chromium, and the dumped DOM shows that no
//! payload ran and none became an element.
//!
//! Needs `/usr/bin/chromium` (or `AGENTBENCH_CHROMIUM`). Without it the test fails
//! when `CI` is set, and otherwise prints one skip line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("AGENTBENCH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

/// Runs headless Chromium on `page` and returns the DOM after scripts would have run.
fn dump_dom(chromium: &Path, page: &Path, profile: &Path) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hostile_model_text_and_file_names_do_not_run_in_the_report() {
    let Some(chromium) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("/usr/bin/chromium is missing in CI (apt-get install -y chromium)");
        }
        println!("skipped: no /usr/bin/chromium (set AGENTBENCH_CHROMIUM or install chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir(&corpus).unwrap();
    std::fs::write(corpus.join("good.csv"), "model,tokens_s\nm,80.0\nm,90.0\n").unwrap();
    #[cfg(unix)]
    std::fs::write(
        corpus.join("\"><img src=x onerror=\"document.title='PWNED-name'\">.json"),
        "{not json",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_agentbench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("OLLAMA_HOST")
        .args([
            "run",
            "--stub",
            "fault:html-payload",
            "--runs",
            "1",
            "--quiet",
        ])
        .arg("--corpus")
        .arg(&corpus)
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
    let page = out_dir.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("&lt;script&gt;document.title="),
        "the payload is rendered, escaped"
    );

    let dom = dump_dom(&chromium, &page, &tmp.path().join("chromium-profile"));
    assert!(dom.contains("<html"), "no DOM dumped: {dom:.300}");
    assert!(
        dom.contains("<title>agentbench report</title>"),
        "the title changed: a payload ran"
    );
    assert!(!dom.contains("<title>PWNED"));
    let lower = dom.to_lowercase();
    for element in [
        "<script",
        "<img",
        "<iframe",
        "<svg onload",
        "<b onmouseover",
        "<a href=\"javascript",
    ] {
        assert!(
            !lower.contains(element),
            "the payload became an element: {element}"
        );
    }
    // The payloads are there as text.
    assert!(dom.contains("&lt;script&gt;document.title='PWNED-script'&lt;/script&gt;"));
    assert!(
        dom.contains("onerror="),
        "the file-name and img payloads are shown as text"
    );
    // Control: the same browser does run such a payload when it is not escaped,
    // so the assertions above can fail.
    let control = tmp.path().join("control.html");
    std::fs::write(
        &control,
        "<html><head><title>agentbench report</title></head><body><img src=x onerror=\"document.title='PWNED-img'\"></body></html>",
    )
    .unwrap();
    let dom = dump_dom(&chromium, &control, &tmp.path().join("chromium-control"));
    assert!(
        dom.contains("<title>PWNED-img</title>"),
        "control did not run: {dom:.300}"
    );
    println!("browser check: 6 payloads rendered as text, none ran (Chromium --dump-dom)");
}
