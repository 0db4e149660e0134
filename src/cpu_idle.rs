//! The CPUs' idle states while measuring: what they are, and holding the CPUs out
//! of them.
//!
//! An idle CPU sleeps in an idle state (on a VM: the vCPU halts and the hypervisor
//! deschedules it), and waking it costs that state's exit latency: on the
//! project's VM (`haltpoll` driver, no guest halt polling) about 25 µs a wake-up,
//! paid twice by every call to a server on another CPU, once for the request and
//! once for the response (docs/benchmarks.md, "CPUs held awake"). That time is neither the
//! client's nor the server's work. Holding a Linux PM QoS CPU-latency request of
//! 0 µs (`/dev/cpu_dma_latency`, as `tuned`'s latency profiles and `cyclictest`
//! do) makes the idle governor choose its polling state: idle CPUs spin instead of
//! sleeping, so a wake-up is a cache miss, not an exit. It costs power and affects
//! every process on the machine, the server included, for as long as it is held;
//! so a run holds it only when asked (`--keep-cpus-awake`), and its record says
//! so ([`CpuIdle`], in the header's host).

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::provenance::read_fact;

/// The kernel's PM QoS CPU-latency device.
pub const LATENCY_DEVICE: &str = "/dev/cpu_dma_latency";

/// The aggregate limit the kernel reports when no request constrains it
/// (`PM_QOS_CPU_LATENCY_DEFAULT_VALUE`, 2000 s in µs).
const NO_LIMIT_US: i32 = 2_000_000_000;

/// How many [`AwakeCpus`] this process holds now.
static HOLDS: AtomicUsize = AtomicUsize::new(0);

/// The CPUs' idle handling when a record was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuIdle {
    /// The cpuidle driver (`intel_idle`, `acpi_idle`, `haltpoll`, ...), when readable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub driver: Option<String>,
    /// The cpuidle governor (`menu`, `teo`, `haltpoll`, ...), when readable.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub governor: Option<String>,
    /// The machine-wide CPU wake-up latency limit in µs in force then, whoever
    /// requested it, when readable (`None` also when nothing limits it). 0: idle
    /// CPUs poll.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_limit_us: Option<i32>,
    /// This process held the CPUs awake (a 0 µs request, [`AwakeCpus`]).
    pub held_awake: bool,
}

impl CpuIdle {
    /// The state now: driver and governor (read once per process), the limit in
    /// force (read now) and whether this process holds the CPUs awake.
    pub fn current() -> Self {
        static NAMES: OnceLock<(Option<String>, Option<String>)> = OnceLock::new();
        let (driver, governor) = NAMES
            .get_or_init(|| {
                let read = |name| read_fact(Path::new(CPUIDLE_DIR).join(name));
                (
                    read("current_driver"),
                    read("current_governor").or_else(|| read("current_governor_ro")),
                )
            })
            .clone();
        Self {
            driver,
            governor,
            latency_limit_us: read_limit(Path::new(LATENCY_DEVICE)),
            held_awake: held(),
        }
    }

    /// One line for a report: `haltpoll/haltpoll, CPUs held awake (0 µs limit)`.
    pub fn describe(&self) -> String {
        let names = match (&self.driver, &self.governor) {
            (Some(d), Some(g)) => format!("{d}/{g}"),
            (Some(d), None) => d.clone(),
            (None, Some(g)) => format!("governor {g}"),
            (None, None) => "unknown driver".to_string(),
        };
        let limit = match self.latency_limit_us {
            Some(us) => format!("{us} µs wake-up limit"),
            None => "no wake-up limit".to_string(),
        };
        if self.held_awake {
            format!("{names}, CPUs held awake ({limit})")
        } else {
            format!("{names}, idle states as the machine has them ({limit})")
        }
    }
}

const CPUIDLE_DIR: &str = "/sys/devices/system/cpu/cpuidle";

/// The aggregate limit reported by the PM QoS device at `path` (`None`: no
/// device, not readable, or no limit).
fn read_limit(path: &Path) -> Option<i32> {
    let mut bytes = [0u8; 4];
    File::open(path).ok()?.read_exact(&mut bytes).ok()?;
    limit_from_bytes(bytes)
}

/// The device's answer (a native-endian `s32`) as a limit; `None` for "no limit".
fn limit_from_bytes(bytes: [u8; 4]) -> Option<i32> {
    Some(i32::from_ne_bytes(bytes)).filter(|&us| (0..NO_LIMIT_US).contains(&us))
}

/// Whether this process holds the CPUs awake now.
pub fn held() -> bool {
    HOLDS.load(Ordering::Relaxed) > 0
}

/// The CPUs could not be held awake.
#[derive(Debug, thiserror::Error)]
pub enum CpuIdleError {
    /// The kernel has no PM QoS device (not Linux, or built without it).
    #[error(
        "cannot hold the CPUs awake: {path} does not exist (a Linux kernel with PM QoS \
         has it); leave out --keep-cpus-awake"
    )]
    NoDevice {
        /// The device path.
        path: String,
    },
    /// The device is not writable by this user.
    #[error(
        "cannot hold the CPUs awake: {path} is not writable by this user; run as root, \
         or grant write access (sudo chmod o+w {path}), or leave out --keep-cpus-awake"
    )]
    Denied {
        /// The device path.
        path: String,
    },
    /// Another failure opening or writing the device.
    #[error("cannot hold the CPUs awake: writing {path}: {source}")]
    Io {
        /// The device path.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// A held PM QoS request of 0 µs: while it lives, idle CPUs poll instead of
/// entering an idle state. Dropping it closes the device, which withdraws the
/// request (the kernel does so too if the process dies).
#[derive(Debug)]
pub struct AwakeCpus {
    _device: File,
}

impl AwakeCpus {
    /// Holds the CPUs awake until the value is dropped.
    pub fn hold() -> Result<Self, CpuIdleError> {
        Self::hold_at(Path::new(LATENCY_DEVICE))
    }

    fn hold_at(path: &Path) -> Result<Self, CpuIdleError> {
        let shown = path.display().to_string();
        let mut device = File::options()
            .write(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => CpuIdleError::NoDevice {
                    path: shown.clone(),
                },
                std::io::ErrorKind::PermissionDenied => CpuIdleError::Denied {
                    path: shown.clone(),
                },
                _ => CpuIdleError::Io {
                    path: shown.clone(),
                    source: e,
                },
            })?;
        device
            .write_all(&0i32.to_ne_bytes())
            .map_err(|source| CpuIdleError::Io {
                path: shown,
                source,
            })?;
        HOLDS.fetch_add(1, Ordering::Relaxed);
        Ok(Self { _device: device })
    }
}

impl Drop for AwakeCpus {
    fn drop(&mut self) {
        HOLDS.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_devices_answer_reads_as_a_limit() {
        assert_eq!(limit_from_bytes(0i32.to_ne_bytes()), Some(0));
        assert_eq!(limit_from_bytes(20i32.to_ne_bytes()), Some(20));
        assert_eq!(limit_from_bytes(NO_LIMIT_US.to_ne_bytes()), None);
        assert_eq!(limit_from_bytes((-1i32).to_ne_bytes()), None);
    }

    #[test]
    fn a_missing_device_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cpu_dma_latency");
        let err = AwakeCpus::hold_at(&path).unwrap_err();
        assert!(matches!(err, CpuIdleError::NoDevice { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("--keep-cpus-awake"), "{text}");
    }

    #[test]
    fn a_hold_is_counted_while_it_lives_and_writes_a_zero_limit() {
        // A plain file stands in for the device: the request is the 4 bytes written.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cpu_dma_latency");
        std::fs::write(&path, []).unwrap();
        let hold = AwakeCpus::hold_at(&path).unwrap();
        assert!(held());
        assert!(CpuIdle::current().held_awake);
        assert_eq!(std::fs::read(&path).unwrap(), 0i32.to_ne_bytes());
        assert_eq!(read_limit(&path), Some(0));
        drop(hold);
        assert!(!held());
    }

    #[test]
    fn the_description_says_whether_the_cpus_were_held() {
        let mut s = CpuIdle {
            driver: Some("haltpoll".into()),
            governor: Some("haltpoll".into()),
            latency_limit_us: Some(0),
            held_awake: true,
        };
        assert_eq!(
            s.describe(),
            "haltpoll/haltpoll, CPUs held awake (0 µs wake-up limit)"
        );
        s.held_awake = false;
        s.latency_limit_us = None;
        assert_eq!(
            s.describe(),
            "haltpoll/haltpoll, idle states as the machine has them (no wake-up limit)"
        );
    }
}
