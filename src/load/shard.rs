//! Sharded load (`load --shard I/N --start-at …`): which share of the global
//! schedule a shard offers, where `I` and `N` come from, and the shared start.
//!
//! Every shard computes the same global schedule from the seed and keeps its
//! share, so no broker is needed: open loop, arrival `k` goes to shard `k mod N`
//! and keeps `k` as its seq; closed loop, shard `I` runs the workers `w` with
//! `w mod N == I`. Agent sessions shard as whole sessions by session id, the same
//! way: open loop, session `k` of the seeded session schedule (or of a replayed
//! trace) runs on shard `k mod N` with its global id and intended start; closed
//! loop, shard `I` runs the session slots `w mod N == I`, and its sessions take
//! the ids `j · N + I`. A session's think times are drawn per (session id, turn),
//! so they are those of the unsharded run. All shards set their origin at one wall-clock instant
//! (`--start-at`), so their offsets share one time axis and
//! [`super::merge`] can concatenate their records.

use std::time::Duration;

/// A shard of a sharded run: `index` of `count`, and where that came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// This shard, 0-based.
    pub index: u32,
    /// Shards in the run (≥ 1).
    pub count: u32,
    /// `flag`, `slurm` or `kubernetes`.
    pub source: &'static str,
}

fn parse_u32(what: &str, v: &str) -> Result<u32, String> {
    v.trim()
        .parse::<u32>()
        .map_err(|_| format!("{what} must be a whole number, got {v:?}"))
}

fn checked(index: u32, count: u32, source: &'static str) -> Result<ShardSpec, String> {
    if count == 0 {
        return Err("the shard count must be at least 1".into());
    }
    if index >= count {
        return Err(format!(
            "shard index {index} is not below the shard count {count} (indices are 0-based)"
        ));
    }
    Ok(ShardSpec {
        index,
        count,
        source,
    })
}

/// The shard this process is, or `None` for an unsharded run.
///
/// `flag` is `--shard`: `I/N`, or `auto` (the flag without a value) to read the
/// scheduler's environment. `shards` is `--shards N`. Sharding is on when either
/// flag is given or `start_at` is set. Then, in order: an explicit `I/N`; Slurm
/// (`SLURM_PROCID`, `SLURM_NTASKS`); a Kubernetes Indexed Job
/// (`JOB_COMPLETION_INDEX` with `--shards N`); else a run of one shard, 0/1.
pub fn shard_from(
    flag: Option<&str>,
    shards: Option<u32>,
    start_at: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ShardSpec>, String> {
    if flag.is_none() && shards.is_none() && !start_at {
        return Ok(None);
    }
    if let Some(f) = flag.filter(|f| *f != "auto") {
        let Some((i, n)) = f.split_once('/') else {
            return Err(format!("--shard takes I/N (e.g. 0/4) or auto, got {f:?}"));
        };
        let (i, n) = (parse_u32("--shard's I", i)?, parse_u32("--shard's N", n)?);
        if shards.is_some_and(|s| s != n) {
            return Err(format!(
                "--shard {f} and --shards {} disagree",
                shards.unwrap_or(0)
            ));
        }
        return checked(i, n, "flag").map(Some);
    }
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let (Some(i), Some(n)) = (var("SLURM_PROCID"), var("SLURM_NTASKS")) {
        let (i, n) = (
            parse_u32("SLURM_PROCID", &i)?,
            parse_u32("SLURM_NTASKS", &n)?,
        );
        if shards.is_some_and(|s| s != n) {
            return Err(format!(
                "--shards {} disagrees with SLURM_NTASKS={n}",
                shards.unwrap_or(0)
            ));
        }
        return checked(i, n, "slurm").map(Some);
    }
    if let Some(i) = var("JOB_COMPLETION_INDEX") {
        let Some(n) = shards else {
            return Err(
                "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): give --shards N, the Job's completions"
                    .into(),
            );
        };
        return checked(parse_u32("JOB_COMPLETION_INDEX", &i)?, n, "kubernetes").map(Some);
    }
    if flag.is_some() || shards.is_some_and(|n| n > 1) {
        return Err(
            "--shard without I/N needs SLURM_PROCID and SLURM_NTASKS (srun) or JOB_COMPLETION_INDEX and --shards N (a Kubernetes Indexed Job)"
                .into(),
        );
    }
    checked(0, 1, "flag").map(Some)
}

/// Whether item `k` of the global plan (an arrival, a worker, a session slot)
/// belongs to shard `(index, count)`: `k mod count == index` (a count of 0 counts
/// as 1, so every item belongs to the one shard).
pub fn is_mine(k: u64, (index, count): (u32, u32)) -> bool {
    k % u64::from(count.max(1)) == u64::from(index)
}

/// The global number of shard `(index, count)`'s `local`-th item (0-based) of a
/// sequence the shards number together (a closed loop's request seqs, its session
/// ids): `local · count + index`. The shards' numbers are disjoint and together
/// are `0, 1, 2, …`; unsharded (`(0, 1)`) it is `local`.
pub fn global_seq(local: u64, (index, count): (u32, u32)) -> u64 {
    local * u64::from(count.max(1)) + u64::from(index)
}

/// This shard's share of a global open-loop schedule: (intended offsets, global
/// seqs) of the arrivals `k` with `k mod count == index`.
pub fn share(intended: &[u64], index: u32, count: u32) -> (Vec<u64>, Vec<u64>) {
    intended
        .iter()
        .enumerate()
        .filter(|(k, _)| is_mine(*k as u64, (index, count)))
        .map(|(k, &t)| (t, k as u64))
        .unzip()
}

/// Parses `--start-at`; `now_unix_ns` is the wall clock now. Accepted:
///
/// - an RFC 3339 UTC time, `2026-12-03T02:00:00Z` (fractional seconds allowed;
///   `+00:00` for `Z` too);
/// - `@SECONDS`, Unix time (`date +@%s.%N`);
/// - `+S` or `+Ss`: the next whole multiple of S seconds of Unix time that is at
///   least S seconds from now. Processes that start within the same S-second
///   window agree without talking to each other; two that straddle a boundary get
///   starts S apart, which `merge-runs` refuses (shards must share their start). For
///   certainty, compute one absolute time in the caller and pass it to every shard.
pub fn parse_start_at(s: &str, now_unix_ns: u64) -> Result<u64, String> {
    let s = s.trim();
    if let Some(rel) = s.strip_prefix('+') {
        let secs: f64 = rel
            .trim_end_matches('s')
            .parse()
            .map_err(|_| format!("--start-at {s}: +S takes seconds, e.g. +2 or +2s"))?;
        if !(secs.is_finite() && secs >= 1.0 && secs == secs.trunc()) {
            return Err(format!(
                "--start-at {s}: +S takes a whole number of seconds ≥ 1"
            ));
        }
        let step = secs as u64 * 1_000_000_000;
        let earliest = now_unix_ns + step;
        return Ok(earliest.div_ceil(step) * step);
    }
    if let Some(unix) = s.strip_prefix('@') {
        let secs: f64 = unix
            .parse()
            .map_err(|_| format!("--start-at {s}: @ takes Unix seconds, e.g. @1796262972.5"))?;
        if !(secs.is_finite() && secs > 0.0) {
            return Err(format!("--start-at {s}: not a time"));
        }
        return Ok((secs * 1e9).round() as u64);
    }
    parse_rfc3339_utc(s).ok_or_else(|| {
        format!("--start-at {s:?}: give an RFC 3339 UTC time (2026-12-03T02:00:00Z), @UNIX_SECONDS or +S")
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00)` → ns since the Unix epoch.
pub fn parse_rfc3339_utc(s: &str) -> Option<u64> {
    let s = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix('z'))
        .or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (time, None),
    };
    let mut t = hms.splitn(3, ':');
    let h: u64 = t.next()?.parse().ok()?;
    let mi: u64 = t.next()?.parse().ok()?;
    let se: u64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let frac_ns = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<u64>().ok()? * 10u64.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
        None => 0,
    };
    let days = days_from_civil(y, mo, da);
    if days < 0 {
        return None;
    }
    Some(((days as u64 * 86_400 + h * 3_600 + mi * 60 + se) * 1_000_000_000) + frac_ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The run's origin as (CLOCK_MONOTONIC ns, wall-clock ns since the epoch).
///
/// Without a requested start: [`super::START_LEAD`] from now. With one: that
/// instant on this host's wall clock, mapped onto the monotonic clock through one
/// paired reading of both clocks; when it is nearer than the lead (or past) the
/// shard starts [`super::START_LEAD`] from now instead, and the difference is its
/// recorded offset, which `merge-runs` reports.
pub fn origin(start_unix_ns: Option<u64>) -> (u64, u64) {
    let lead = crate::clock::nanos(super::START_LEAD);
    // The pair read closest together of three tries: the wall clock bracketed by
    // two monotonic readings.
    let mut best = (u64::MAX, 0u64, 0u64);
    for _ in 0..3 {
        let m0 = super::clock::mono_ns();
        let w = crate::clock::unix_ns_now();
        let m1 = super::clock::mono_ns();
        if m1 - m0 < best.0 {
            best = (m1 - m0, m0 + (m1 - m0) / 2, w);
        }
    }
    let (_, mono, wall) = best;
    match start_unix_ns {
        Some(start) if start >= wall + lead => (mono + (start - wall), start),
        _ => (mono + lead, wall + lead),
    }
}

/// Sleeps until 250 ms before the origin (`origin_mono_ns`, CLOCK_MONOTONIC),
/// then reads the wall clock and the monotonic clock together and returns the
/// origin's wall time on this host minus the requested start, ns: ≈ 0 when the
/// shard was ready in time, the lateness when it was not, and any step of the
/// wall clock between set-up and start.
pub fn offset_near_origin(origin_mono_ns: u64, start_unix_ns: u64) -> i64 {
    // Wake this far ahead: the header (fsynced), the writer and the engine thread are
    // set up after the reading, and the engine then waits for the origin itself.
    let before = 250_000_000;
    let now = super::clock::mono_ns();
    if origin_mono_ns > now + before {
        std::thread::sleep(Duration::from_nanos(origin_mono_ns - now - before));
    }
    let m0 = super::clock::mono_ns();
    let w = crate::clock::unix_ns_now();
    let m1 = super::clock::mono_ns();
    let mono = m0 + (m1 - m0) / 2;
    let origin_wall = w as i128 + origin_mono_ns as i128 - mono as i128;
    (origin_wall - start_unix_ns as i128) as i64
}

/// How long until `start_unix_ns` on the wall clock (zero when it has passed).
pub fn until(start_unix_ns: u64) -> Duration {
    Duration::from_nanos(start_unix_ns.saturating_sub(crate::clock::unix_ns_now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shard_comes_from_the_flag_then_slurm_then_kubernetes() {
        let none = env(&[]);
        assert_eq!(shard_from(None, None, false, &none), Ok(None));
        let s = shard_from(Some("2/4"), None, false, &none)
            .unwrap()
            .unwrap();
        assert_eq!((s.index, s.count, s.source), (2, 4, "flag"));
        let slurm = env(&[("SLURM_PROCID", "3"), ("SLURM_NTASKS", "4")]);
        let s = shard_from(Some("auto"), None, true, &slurm)
            .unwrap()
            .unwrap();
        assert_eq!((s.index, s.count, s.source), (3, 4, "slurm"));
        let s = shard_from(None, None, true, &slurm).unwrap().unwrap();
        assert_eq!((s.index, s.count), (3, 4));
        let k8s = env(&[("JOB_COMPLETION_INDEX", "1")]);
        let s = shard_from(None, Some(8), true, &k8s).unwrap().unwrap();
        assert_eq!((s.index, s.count, s.source), (1, 8, "kubernetes"));
        assert!(shard_from(None, None, true, &k8s)
            .unwrap_err()
            .contains("--shards"));
        let s = shard_from(None, None, true, &none).unwrap().unwrap();
        assert_eq!((s.index, s.count), (0, 1));
        for bad in ["4/4", "1", "a/b", "1/0"] {
            assert!(shard_from(Some(bad), None, false, &none).is_err(), "{bad}");
        }
        assert!(shard_from(Some("auto"), None, false, &none).is_err());
        assert!(shard_from(Some("1/4"), Some(3), false, &none).is_err());
        assert!(shard_from(None, Some(3), false, &slurm).is_err());
    }

    #[test]
    fn shares_partition_the_schedule() {
        let intended: Vec<u64> = (0..10).map(|i| i * 100).collect();
        let mut all = Vec::new();
        for i in 0..3 {
            let (t, seqs) = share(&intended, i, 3);
            assert!(seqs.iter().all(|k| k % 3 == u64::from(i)));
            all.extend(seqs.iter().zip(t).map(|(&k, t)| (k, t)));
        }
        all.sort_unstable();
        assert_eq!(
            all,
            intended
                .iter()
                .enumerate()
                .map(|(k, &t)| (k as u64, t))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn global_seqs_of_the_shards_are_disjoint_and_cover_the_run() {
        let mut all: Vec<u64> = (0..3)
            .flat_map(|i| (0..4).map(move |j| global_seq(j, (i, 3))))
            .collect();
        assert!(all.iter().all(|&k| is_mine(k, ((k % 3) as u32, 3))));
        all.sort_unstable();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        assert_eq!(global_seq(5, (0, 1)), 5, "unsharded: the local number");
        assert!(is_mine(7, (0, 0)), "a count of 0 counts as 1");
    }

    #[test]
    fn start_at_parses_absolute_and_relative_times() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_start_at("2026-12-03T02:00:00.5Z", 0),
            Ok(1_796_263_200_500_000_000)
        );
        assert_eq!(
            parse_start_at("2026-12-03T02:00:00+00:00", 0),
            Ok(1_796_263_200_000_000_000)
        );
        assert_eq!(parse_start_at("@1.25", 0), Ok(1_250_000_000));
        // +2: the next multiple of 2 s at least 2 s away.
        assert_eq!(parse_start_at("+2s", 10_300_000_000), Ok(14_000_000_000));
        assert_eq!(parse_start_at("+2", 11_900_000_000), Ok(14_000_000_000));
        assert_eq!(parse_start_at("+2", 12_000_000_000), Ok(14_000_000_000));
        for bad in [
            "+0",
            "+1.5",
            "+x",
            "tomorrow",
            "2026-13-01T00:00:00Z",
            "2026-12-03T02:00:00",
        ] {
            assert!(parse_start_at(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn origin_is_the_requested_start_when_it_is_ahead() {
        let start = crate::clock::unix_ns_now() + 200_000_000;
        let (mono, wall) = origin(Some(start));
        assert_eq!(wall, start);
        let ahead = mono.saturating_sub(super::super::clock::mono_ns());
        assert!((150_000_000..=200_000_000).contains(&ahead), "{ahead}");
        // A start that has passed: the lead from now, later than the start.
        let (_, wall) = origin(Some(1));
        assert!(wall > 1);
    }
}
