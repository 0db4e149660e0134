//! The standalone stub's memory stays flat under load: `agentbench stub` runs as a child
//! process, a few thousand generations go to it over keep-alive connections, and its
//! resident set (VmRSS from /proc) may grow only by a bound that a leak of ~8 KB per
//! request (the wiremock stub's: 7 MB → 754 MB after 85,000 requests) would exceed
//! several times over. Linux only (reads /proc).

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the child stub however the test ends.
struct Stub(Child);

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the stub binary (`STUB_MEMORY_BIN` names another build to check, e.g. an old
/// one that leaked).
fn start(profile: &str) -> (Stub, String) {
    let bin = std::env::var("STUB_MEMORY_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_agentbench").to_string());
    let mut child = Command::new(bin)
        .args(["stub", "--port", "0", "--profile", profile])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the stub");
    let stdout = child.stdout.take().unwrap();
    let stub = Stub(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line.trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "first line: {addr:?}");
    (stub, format!("http://{addr}"))
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// `total` streamed generations over `conns` keep-alive connections.
async fn drive(url: &str, total: usize, conns: usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let body = r#"{"model":"gemma3","prompt":"How fast is the stub?","stream":true}"#;
    let tasks: Vec<_> = (0..conns)
        .map(|_| {
            let client = client.clone();
            let url = format!("{url}/api/generate");
            tokio::spawn(async move {
                for _ in 0..total / conns {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let bytes = r.bytes().await.unwrap();
                    assert!(bytes.ends_with(b"}\n"));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

async fn check_flat(profile: &str) {
    const WARMUP: usize = 1_000;
    const MEASURED: usize = 4_000;
    // A leak of ~8 KB per request would add ~32 MiB over MEASURED requests.
    const BOUND_KIB: u64 = 8 * 1024;
    let (stub, url) = start(profile);
    let pid = stub.0.id();
    drive(&url, WARMUP, 4).await;
    let before = rss_kib(pid);
    drive(&url, MEASURED, 4).await;
    let after = rss_kib(pid);
    let growth = after.saturating_sub(before);
    assert!(
        growth < BOUND_KIB,
        "{profile}: RSS grew {growth} KiB ({before} → {after} KiB) over {MEASURED} requests \
         ({} bytes/request)",
        growth * 1024 / MEASURED as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instant_stub_does_not_leak() {
    check_flat("instant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fast_stub_does_not_leak() {
    check_flat("fast").await;
}
