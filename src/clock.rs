//! Time conversions shared by the client, the agent, the stubs and the CLI.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `d` in whole nanoseconds, saturating at `u64::MAX` (≈ 584 years).
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds since the Unix epoch; 0 for times before it.
pub fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, nanos)
}

/// The current wall-clock time in nanoseconds since the Unix epoch.
pub fn unix_ns_now() -> u64 {
    unix_ns(SystemTime::now())
}
