//! Provenance: which harness build measured, on which machine.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The harness build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Harness {
    /// Crate name.
    pub name: String,
    /// Crate version.
    pub version: String,
    /// Git commit at build time (`-dirty` when the tree had changes), when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git_commit: Option<String>,
    /// `debug` or `release`: debug builds measure a slower client.
    pub profile: String,
}

impl Harness {
    /// This build.
    pub fn current() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("AGENTBENCH_GIT_COMMIT").map(str::to_string),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
        }
    }
}

/// The measuring machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Operating system (`linux`, `macos`, ...).
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Kernel release, when readable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kernel: Option<String>,
    /// CPU model name, when readable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_model: Option<String>,
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// Host name, when readable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hostname: Option<String>,
    /// The CPUs' idle handling when the record was made, and whether this process
    /// held them awake (absent in records written before it was recorded).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_idle: Option<crate::cpu_idle::CpuIdle>,
}

impl Host {
    /// This machine's facts, read once per process (the first call reads them;
    /// later calls copy them), with the CPUs' idle handling as it is now
    /// ([`crate::cpu_idle::CpuIdle::current`]); unreadable ones are `None`, never an
    /// error.
    pub fn current() -> Self {
        Self {
            cpu_idle: Some(crate::cpu_idle::CpuIdle::current()),
            ..Self::facts().clone()
        }
    }

    /// This machine's facts as read once per process (the first call reads them),
    /// without the CPUs' idle handling (`cpu_idle` is `None`: it changes while the
    /// process runs; [`Host::current`] reads it).
    pub fn facts() -> &'static Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        HOST.get_or_init(Self::read)
    }

    /// The CPUs' idle handling in words ([`crate::cpu_idle::CpuIdle::describe`]), or
    /// "not recorded" for a record from before it was.
    pub fn cpu_idle_text(&self) -> String {
        self.cpu_idle
            .as_ref()
            .map_or_else(|| "not recorded".to_string(), |c| c.describe())
    }

    fn read() -> Self {
        let read = read_fact;
        Self {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            kernel: read("/proc/sys/kernel/osrelease"),
            cpu_model: read("/proc/cpuinfo").and_then(|s| cpu_model(&s)),
            cores: cores(),
            hostname: read("/proc/sys/kernel/hostname"),
            cpu_idle: None,
        }
    }
}

/// A one-line fact from a `/proc` or `/sys` file, trimmed; `None` when the file
/// cannot be read or holds only white space.
pub(crate) fn read_fact(path: impl AsRef<std::path::Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Logical CPUs this process may run on (std's `available_parallelism`: the
/// affinity mask and any cgroup CPU quota; 1 when unknown), asked once per process:
/// the question reads several cgroup files.
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_model_line() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n";
        assert_eq!(cpu_model(text).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(cpu_model("nothing"), None);
    }

    #[test]
    fn current_host_has_cores() {
        assert!(Host::current().cores >= 1);
        assert_eq!(Harness::current().name, "agentbench");
    }
}
