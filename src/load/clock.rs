//! The load engine's clock and timer: CLOCK_MONOTONIC in nanoseconds (the clock
//! behind `std::time::Instant` on Linux, shared by every process on the host), and
//! a timer that wakes a task at an absolute instant with microsecond precision.
//!
//! tokio's own timer wheel has a 1 ms tick: an open-loop schedule at thousands of
//! requests per second would be sent in 1 ms clumps and every request would carry
//! up to 1 ms of lag that only the timer made. On Linux the engine waits on a
//! `timerfd` armed with the absolute intended time instead, registered with the
//! runtime's reactor, so the thread sleeps in `epoll` until the kernel's hrtimer
//! fires, with no busy-waiting and no cross-thread wake-up.

/// Nanoseconds on CLOCK_MONOTONIC.
pub fn mono_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time of the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process (every thread), ns.
pub fn process_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids are constants.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Asks the kernel for the tightest timer slack on the calling thread (default
/// 50 µs), so its sleeps end when asked. Best effort.
pub fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

pub use imp::Timer;

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use tokio::io::unix::AsyncFd;

    /// A one-shot absolute timer on CLOCK_MONOTONIC (a `timerfd`), awaited on the
    /// current runtime's reactor. One timer serves one task at a time.
    pub struct Timer {
        fd: AsyncFd<OwnedFd>,
    }

    impl Timer {
        /// A new timer; fails only when the kernel refuses a timerfd or the
        /// runtime has no reactor.
        pub fn new() -> std::io::Result<Self> {
            // SAFETY: timerfd_create takes constants and returns a new fd or -1.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh fd owned by nobody else.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: `fd` is open and owned by the AsyncFd until it is dropped.
            let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            Ok(Timer { fd })
        }

        /// Returns at or after `at_ns` on CLOCK_MONOTONIC (at once when it has
        /// passed).
        pub async fn wait_until(&mut self, at_ns: u64) {
            if super::mono_ns() >= at_ns {
                return;
            }
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: (at_ns / 1_000_000_000) as libc::time_t,
                    tv_nsec: (at_ns % 1_000_000_000) as libc::c_long,
                },
            };
            let raw = self.fd.get_ref().as_raw_fd();
            // SAFETY: valid fd and itimerspec; the old value is not asked for.
            let rc = unsafe {
                libc::timerfd_settime(raw, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut())
            };
            if rc != 0 {
                return fallback(at_ns).await;
            }
            loop {
                let Ok(mut guard) = self.fd.readable().await else {
                    return fallback(at_ns).await;
                };
                let mut expirations = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer from our own fd.
                let n = unsafe { libc::read(raw, expirations.as_mut_ptr().cast(), 8) };
                if n == 8 {
                    return;
                }
                guard.clear_ready();
                if super::mono_ns() >= at_ns {
                    return;
                }
            }
        }
    }

    async fn fallback(at_ns: u64) {
        let now = super::mono_ns();
        if at_ns > now {
            tokio::time::sleep(std::time::Duration::from_nanos(at_ns - now)).await;
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    /// A timer on tokio's clock (1 ms tick) where timerfd does not exist.
    pub struct Timer;

    impl Timer {
        /// A new timer.
        pub fn new() -> std::io::Result<Self> {
            Ok(Timer)
        }

        /// Returns at or after `at_ns` on the monotonic clock.
        pub async fn wait_until(&mut self, at_ns: u64) {
            let now = super::mono_ns();
            if at_ns > now {
                tokio::time::sleep(std::time::Duration::from_nanos(at_ns - now)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_wakes_at_or_after_the_instant() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut t = Timer::new().unwrap();
            for delay_us in [0u64, 200, 1_500, 3_000] {
                let at = mono_ns() + delay_us * 1_000;
                t.wait_until(at).await;
                assert!(mono_ns() >= at, "woke before {delay_us} µs");
            }
        });
    }

    #[test]
    fn clocks_advance() {
        let a = mono_ns();
        let c = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..200_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(mono_ns() > a);
        assert!(thread_cpu_ns() >= c);
        assert!(process_cpu_ns() > 0);
    }
}
