//! One agent process, measured from outside: spawn instant, exit, wall time, and the
//! kernel's resource usage of the child (`wait4`: user and system CPU time, peak RSS).

use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitInfo {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl ExitInfo {
    /// Exited with status 0.
    pub fn success(self) -> bool {
        self == ExitInfo::Code(0)
    }
}

impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitInfo::Code(c) => write!(f, "exit status {c}"),
            ExitInfo::Signal(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// What the kernel and the clock say about one finished child.
#[derive(Debug, Clone, Copy)]
pub struct ProcessUsage {
    /// Taken just before `spawn` (fork + exec).
    pub started: Instant,
    /// Spawn to exit observed.
    pub wall: Duration,
    /// User CPU time (`ru_utime`).
    pub user: Duration,
    /// System CPU time (`ru_stime`).
    pub sys: Duration,
    /// Peak resident set size in bytes (`ru_maxrss`, KiB on Linux, × 1024). Includes
    /// the child's own waited-for children (Linux reports the largest).
    pub peak_rss_bytes: u64,
    /// How it ended.
    pub exit: ExitInfo,
    /// Killed by the harness because it ran past the time limit.
    pub timed_out: bool,
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
}

/// Runs `program args…` with stdin closed and stdout and stderr appended to `log`,
/// waits for it and returns its usage. A child running past `limit` is killed
/// (SIGKILL) and reported as such. The child is reaped only after the watchdog has
/// stopped, so the watchdog can never signal a reused pid.
pub fn run_measured(
    program: &OsStr,
    args: &[String],
    log: &Path,
    limit: Option<Duration>,
) -> std::io::Result<ProcessUsage> {
    let out = File::options().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let started = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let watchdog = limit.map(|limit| {
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(limit) {
                // SAFETY: `pid` is our unreaped child (a zombie at worst), so it
                // cannot name another process; kill has no memory effects.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return true;
            }
            false
        })
    });
    // Wait for the exit without reaping (WNOWAIT): the pid stays ours.
    loop {
        // SAFETY: siginfo_t is plain data; waitid only writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let wall = started.elapsed();
    drop(stop_tx);
    let timed_out = watchdog.is_some_and(|w| w.join().unwrap_or(false));
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // The child is reaped; `Child`'s drop neither waits nor kills.
    drop(child);
    let exit = if libc::WIFEXITED(status) {
        ExitInfo::Code(libc::WEXITSTATUS(status))
    } else {
        ExitInfo::Signal(libc::WTERMSIG(status))
    };
    Ok(ProcessUsage {
        started,
        wall,
        user: timeval(ru.ru_utime),
        sys: timeval(ru.ru_stime),
        peak_rss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024,
        exit,
        timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_measured_and_its_exit_status_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let u = run_measured(
            OsStr::new("sh"),
            &["-c".into(), "echo hi; echo err >&2; exit 3".into()],
            &log,
            None,
        )
        .unwrap();
        assert_eq!(u.exit, ExitInfo::Code(3));
        assert!(u.peak_rss_bytes > 0);
        assert!(u.wall > Duration::ZERO);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("hi") && text.contains("err"), "{text}");
    }

    #[test]
    fn a_child_past_its_limit_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let u = run_measured(
            OsStr::new("sleep"),
            &["5".into()],
            &dir.path().join("log"),
            Some(Duration::from_millis(100)),
        )
        .unwrap();
        assert!(u.timed_out);
        assert_eq!(u.exit, ExitInfo::Signal(libc::SIGKILL));
        assert!(u.wall < Duration::from_secs(4));
    }

    #[test]
    fn a_missing_program_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(run_measured(
            OsStr::new("/nonexistent/agent"),
            &[],
            &dir.path().join("log"),
            None
        )
        .is_err());
    }
}
