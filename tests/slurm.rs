//! A sharded load run under a real cluster scheduler (issue 16): `srun -n 4`
//! starts four `agentbench load --shard --start-at …` tasks (I and N from
//! SLURM_PROCID / SLURM_NTASKS) against one stub on 127.0.0.1, and `merge-runs`
//! gives all four shards and the full schedule.
//!
//! A second test submits deploy/slurm/load.sbatch with `sbatch --wait`, as a user
//! would, and reads the merged run the script writes.
//!
//! Needs a running Slurm cluster (`scripts/slurm-local.sh start`, which `.ci/run`
//! calls). Without `srun`, or with a controller that does not answer, the test
//! fails when `CI` is set and otherwise prints one skip line.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentbench::load::{read_load_file, Arrival, Extent, OpenSchedule};

mod common;
use common::text;

/// Why Slurm cannot be used here, or None when it can.
fn slurm_missing() -> Option<String> {
    let srun = Command::new("srun")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !srun.is_ok_and(|s| s.success()) {
        return Some("srun is not installed".into());
    }
    let sinfo = Command::new("timeout")
        .args(["10", "sinfo", "-h", "-o", "%T"])
        .output();
    match sinfo {
        Ok(o) if o.status.success() => {
            let states = String::from_utf8_lossy(&o.stdout).to_string();
            if states.lines().any(|l| {
                let l = l.trim();
                l.starts_with("idle") || l.starts_with("mixed")
            }) {
                None
            } else {
                Some(format!("no idle Slurm node (sinfo: {})", states.trim()))
            }
        }
        Ok(o) => Some(format!(
            "the Slurm controller does not answer: {}",
            text(&o)
        )),
        Err(e) => Some(format!("sinfo: {e}")),
    }
}

/// The Slurm tests one at a time: two jobs of 4 tasks would queue on the 2-CPU
/// node, and the second would start after its shared start.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Skips (one line) or fails (under CI) when Slurm is not usable; true to go on.
fn slurm_usable() -> bool {
    if let Some(why) = slurm_missing() {
        if std::env::var_os("CI").is_some() {
            panic!("{why} in CI (scripts/slurm-local.sh start)");
        }
        eprintln!("skipped: {why} (scripts/slurm-local.sh start runs a one-node cluster)");
        return false;
    }
    true
}

/// A stub process on 127.0.0.1 and its URL.
fn start_stub(bin: &str) -> (std::process::Child, String) {
    let mut stub = Command::new(bin)
        .args(["stub", "--port", "0", "--profile", "fast"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut addr = String::new();
    std::io::BufReader::new(stub.stdout.take().unwrap())
        .read_line(&mut addr)
        .unwrap();
    (stub, format!("http://{}", addr.trim()))
}

/// deploy/slurm/load.sbatch as a user submits it (`sbatch --wait`): four shards,
/// merged by the script into OUT/merged.
#[test]
fn the_sbatch_script_runs_the_shards_and_merges_them() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !slurm_usable() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_agentbench");
    let (mut stub, url) = start_stub(bin);
    let tmp = tempfile::tempdir().unwrap();
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 5;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/slurm/load.sbatch");
    let o = Command::new("timeout")
        .args(["90", "sbatch", "--wait", "--overcommit"])
        .arg(&script)
        .current_dir(tmp.path())
        .env("AGENTBENCH", bin)
        .env("BASE_URL", &url)
        .env("RATE", "100")
        .env("DURATION", "2")
        .env("OUT", tmp.path().join("out"))
        .env("START_AT", format!("@{start}"))
        .env(
            "ARGS",
            "--arrival constant --prompt-tokens 16 --output-tokens 8 --max-lag 1s",
        )
        .output()
        .unwrap();
    let _ = stub.kill();
    let _ = stub.wait();
    let log: String = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".out"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        o.status.success(),
        "sbatch: {}\njob output:\n{log}",
        text(&o)
    );
    let merged = read_load_file(&tmp.path().join("out/merged/records.jsonl"))
        .unwrap_or_else(|e| panic!("{e}\njob output:\n{log}"));
    assert_eq!(merged.header.plan.shards.len(), 4, "{log}");
    let mut seqs: Vec<u64> = merged.requests.iter().map(|r| r.seq).collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (0..200).collect::<Vec<_>>(),
        "2 s at 100/s, each once"
    );
}

#[test]
fn srun_of_four_shards_merges_into_the_full_schedule() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !slurm_usable() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_agentbench");
    let (mut stub, url) = start_stub(bin);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // One absolute start computed here, as deploy/slurm/load.sbatch does.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 5;
    let t0 = Instant::now();
    // Each task's folder is named by its SLURM_PROCID; --shard (no value) reads
    // I and N from Slurm's environment. --overcommit: 4 tasks on a 2-CPU node.
    let o = Command::new("timeout")
        .args(["90", "srun", "--overcommit", "-n", "4", "--time=2"])
        .args(["--chdir", env!("CARGO_MANIFEST_DIR")])
        .arg("bash")
        .arg("-c")
        .arg(
            r#"exec "$0" load --shard --start-at "$1" --base-url "$2" --rate 200 --arrival poisson \
                 --requests 400 --seed 13 --prompt-tokens 16 --output-tokens 8 --max-lag 1s \
                 --quiet --out "$3/shard-$SLURM_PROCID""#,
        )
        .arg(bin)
        .arg(format!("@{start}"))
        .arg(&url)
        .arg(root)
        .env_remove("SLURM_PROCID")
        .env_remove("SLURM_NTASKS")
        .output()
        .unwrap();
    let _ = stub.kill();
    let _ = stub.wait();
    assert!(o.status.success(), "srun: {}", text(&o));
    eprintln!("srun -n 4: {:.1} s", t0.elapsed().as_secs_f64());

    let dirs: Vec<_> = (0..4).map(|i| root.join(format!("shard-{i}"))).collect();
    for (i, d) in dirs.iter().enumerate() {
        let f = read_load_file(&d.join("records.jsonl")).unwrap();
        let s = f.header.plan.shard.as_ref().unwrap();
        assert_eq!(
            (s.index, s.count, s.source.as_str()),
            (i as u32, 4, "slurm")
        );
        assert_eq!(s.start_unix_ns, start * 1_000_000_000);
    }
    let merged = root.join("merged");
    let o = Command::new(bin)
        .arg("merge-runs")
        .args(&dirs)
        .arg("--out")
        .arg(&merged)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(o.status.success(), "merge-runs: {}", text(&o));
    let file = read_load_file(&merged.join("records.jsonl")).unwrap();
    assert_eq!(file.header.plan.shards.len(), 4, "all four shards");
    let mut got: Vec<(u64, u64)> = file
        .requests
        .iter()
        .map(|r| (r.seq, r.intended_ns))
        .collect();
    got.sort_unstable();
    let expected: Vec<(u64, u64)> = OpenSchedule {
        rate: 200.0,
        arrival: Arrival::Poisson,
        seed: 13,
        extent: Extent::Requests(400),
    }
    .intended()
    .into_iter()
    .enumerate()
    .map(|(k, t)| (k as u64, t))
    .collect();
    assert_eq!(got, expected, "the full schedule, each request once");
    assert!(Path::new(&merged.join("index.html")).is_file());
    assert!(t0.elapsed() < Duration::from_secs(100));
}
