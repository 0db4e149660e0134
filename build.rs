//! Records the git commit the harness was built from (AGENTBENCH_GIT_COMMIT), so
//! every record file names the code that measured it. Absent outside a checkout.
//!
//! Release builds on x86_64 Linux also link the `agentbench` binary with
//! `link/hot-text.ld` (see `scripts/hot_text.sh`), which packs the code a run
//! executes at the start of the executable, and as a position-dependent executable
//! (`-no-pie`), whose 10,800 relocations of read-only data are resolved at link
//! time instead of written into every page of `.data.rel.ro` at each start: fewer
//! pages mapped and touched, a smaller peak RSS (README, "peak RSS"). The cost is
//! that the executable's own image loads at a fixed address (shared libraries,
//! heap and stack are still randomized). `AGENTBENCH_NO_HOT_TEXT=1` leaves the
//! default layout, PIE included.

use std::process::Command;

fn main() {
    release_layout();
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        let dirty =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        let suffix = if dirty { "-dirty" } else { "" };
        println!("cargo:rustc-env=AGENTBENCH_GIT_COMMIT={commit}{suffix}");
    }
}

/// Links the `agentbench` binary of release builds for x86_64 Linux as a
/// position-dependent executable (`-no-pie`; position-independent code links into
/// one as it is) and, when `link/hot-text.ld` is there, with that script (rust-lld
/// by default there; GNU ld reads the same `INSERT BEFORE` script).
/// `AGENTBENCH_NO_HOT_TEXT=1`, debug and test builds keep the default layout.
fn release_layout() {
    const SCRIPT: &str = "link/hot-text.ld";
    println!("cargo:rerun-if-changed={SCRIPT}");
    println!("cargo:rerun-if-env-changed=AGENTBENCH_NO_HOT_TEXT");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let wanted = env("PROFILE") == "release"
        && env("CARGO_CFG_TARGET_OS") == "linux"
        && env("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && env("AGENTBENCH_NO_HOT_TEXT").is_empty();
    if !wanted {
        return;
    }
    println!("cargo:rustc-link-arg-bin=agentbench=-no-pie");
    let script = std::path::Path::new(&env("CARGO_MANIFEST_DIR")).join(SCRIPT);
    if script.is_file() {
        // -Xlinker keeps the path one argument, commas and all.
        println!("cargo:rustc-link-arg-bin=agentbench=-Xlinker");
        println!(
            "cargo:rustc-link-arg-bin=agentbench=--script={}",
            script.display()
        );
    }
}
