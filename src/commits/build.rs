//! Building revisions in git worktrees and running the binaries against one stub.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

#[cfg(target_os = "linux")]
use std::os::unix::process::CommandExt as _;

use anyhow::{bail, Context, Result};

/// `git rev-parse --verify REV^{commit}` in `repo`: the full commit id, or `None`
/// when `rev` names no commit.
pub fn resolve_rev(repo: &Path, rev: &str) -> Result<Option<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{rev}^{{commit}}"))
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// The repository's top-level folder (the current directory's).
pub fn repo_root() -> Result<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!("not inside a git repository");
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// A detached git worktree, removed on drop.
struct Worktree {
    repo: PathBuf,
    path: PathBuf,
}

impl Worktree {
    fn add(repo: &Path, path: &Path, commit: &str) -> Result<Self> {
        if path.exists() {
            remove_worktree(repo, path);
        }
        let status = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["worktree", "add", "--detach", "--quiet"])
            .arg(path)
            .arg(commit)
            .status()
            .context("cannot run git worktree add")?;
        if !status.success() {
            bail!("git worktree add {} {commit} failed", path.display());
        }
        Ok(Self {
            repo: repo.to_path_buf(),
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        remove_worktree(&self.repo, &self.path);
    }
}

fn remove_worktree(repo: &Path, path: &Path) {
    let _ = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["worktree", "remove", "--force"])
        .arg(path)
        .stderr(Stdio::null())
        .status();
    if path.exists() {
        let _ = std::fs::remove_dir_all(path);
        let _ = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["worktree", "prune"])
            .status();
    }
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// Label used in folder names (`a`, `b`).
    pub label: String,
    /// Full commit id.
    pub commit: String,
    /// `cargo build --features` value, if any.
    pub features: Option<String>,
}

/// Builds `spec` in a worktree under `work` (release, `CARGO_TARGET_DIR` =
/// `work/build`, shared by every build so dependencies compile once), copies the
/// binary to `work/bin-<label>` and removes the worktree. Returns the binary.
pub fn build_revision(repo: &Path, work: &Path, spec: &BuildSpec) -> Result<PathBuf> {
    std::fs::create_dir_all(work)?;
    let short = &spec.commit[..spec.commit.len().min(12)];
    let tree_path = work.join(format!("{short}-{}", spec.label));
    let tree = Worktree::add(repo, &tree_path, &spec.commit)?;
    let target = work.join("build");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(&tree.path)
        .args(["build", "--release", "--quiet", "--bin", "agentbench"])
        .env("CARGO_TARGET_DIR", &target);
    if let Some(f) = &spec.features {
        cmd.args(["--features", f]);
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!(
            "cargo build of {} ({short}{}) failed",
            spec.label,
            spec.features
                .as_deref()
                .map(|f| format!(", features {f}"))
                .unwrap_or_default()
        );
    }
    let built = target.join("release").join("agentbench");
    let bin = work.join(format!("bin-{}", spec.label));
    std::fs::copy(&built, &bin)
        .with_context(|| format!("cannot copy {} to {}", built.display(), bin.display()))?;
    drop(tree);
    Ok(bin)
}

/// Which CPU the stub and the binaries under test run on.
///
/// On a small machine the scheduler may put the stub's server thread and the
/// client on the same core in one process and on different cores in the next,
/// and client overhead differs by a factor of two to four between those
/// placements (measured on the 2-core machine this was developed on). Pinning
/// both, each to its own core, removes that process-to-process bimodality. Only
/// on Linux; elsewhere, or with fewer than two CPUs, nothing is pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pinning {
    /// CPU of the stub process.
    pub stub_cpu: usize,
    /// CPU of each run of a binary under test.
    pub bench_cpu: usize,
}

impl Pinning {
    /// The stub on the last allowed CPU, the binaries on the first; `None` when
    /// fewer than two CPUs are available or the platform has no affinity call.
    pub fn auto() -> Option<Self> {
        let cpus = allowed_cpus();
        match (cpus.first(), cpus.last()) {
            (Some(&first), Some(&last)) if first != last => Some(Self {
                stub_cpu: last,
                bench_cpu: first,
            }),
            _ => None,
        }
    }
}

/// The CPUs this process may run on (empty where that cannot be asked).
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Makes `cmd`'s child run only on `cpu` (Linux; a no-op elsewhere).
fn pin_child(cmd: &mut Command, cpu: Option<usize>) {
    #[cfg(target_os = "linux")]
    if let Some(cpu) = cpu {
        // SAFETY: the closure runs in the forked child before exec and only calls
        // the async-signal-safe sched_setaffinity on a stack value.
        unsafe {
            cmd.pre_exec(move || {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (cmd, cpu);
}

/// Makes `cmd`'s child receive SIGKILL when this process dies (Linux), so that a
/// `commits` interrupted by a signal leaves no stub running.
fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// A standalone stub process (killed on drop, and with this process).
pub struct StubProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl StubProcess {
    /// Starts `exe stub --port 0 --profile PROFILE` (on `cpu` when given) and reads
    /// its address from the first stdout line.
    pub fn start(exe: &Path, profile: &str, cpu: Option<usize>) -> Result<Self> {
        let mut cmd = Command::new(exe);
        cmd.args(["stub", "--port", "0", "--profile", profile])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        pin_child(&mut cmd, cpu);
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} stub", exe.display()))?;
        let stdout = child.stdout.take().context("no stub stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line.trim().to_string();
        if addr.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the stub printed no address");
        }
        Ok(Self { child, addr })
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where and how a binary under test is run.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec<'a> {
    /// Working directory (the corpus `mock-data/` is resolved from it).
    pub cwd: &'a Path,
    /// The stub's `127.0.0.1:PORT`.
    pub addr: &'a str,
    /// Workflow runs in the process.
    pub runs: u32,
    /// CPU to pin the process to, if any.
    pub cpu: Option<usize>,
}

/// Runs `bin run --base-url http://ADDR --runs R --out OUT --quiet` in `spec.cwd`
/// and returns the record file. The output folder is emptied first.
pub fn run_binary(bin: &Path, spec: &RunSpec<'_>, out: &Path) -> Result<PathBuf> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let (cwd, addr, runs) = (spec.cwd, spec.addr, spec.runs);
    let mut cmd = Command::new(bin);
    pin_child(&mut cmd, spec.cpu);
    let output = cmd
        .current_dir(cwd)
        .arg("run")
        .arg("--base-url")
        .arg(format!("http://{addr}"))
        .arg("--runs")
        .arg(runs.to_string())
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !output.status.success() {
        bail!(
            "{} run exited with {}: {}",
            bin.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(out.join("records.jsonl"))
}
