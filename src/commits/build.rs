//! Building revisions in git worktrees and running the binaries against one stub.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

/// A standalone stub process (killed on drop).
pub struct StubProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl StubProcess {
    /// Starts `exe stub --port 0 --profile PROFILE` and reads its address from the
    /// first stdout line.
    pub fn start(exe: &Path, profile: &str) -> Result<Self> {
        let mut child = Command::new(exe)
            .args(["stub", "--port", "0", "--profile", profile])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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

/// Runs `bin run --base-url http://ADDR --runs R --out OUT --quiet` in `cwd` and
/// returns the record file. The output folder is emptied first.
pub fn run_binary(bin: &Path, cwd: &Path, addr: &str, runs: u32, out: &Path) -> Result<PathBuf> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let output = Command::new(bin)
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
