//! The record writer: a thread of its own that appends each finished request to
//! `records.jsonl` as one line, flushing and fsyncing at least once a second, so a
//! crash loses at most the last second and the measuring thread never waits on
//! the disk or on serialisation.
//!
//! The records handed on and not yet written (the backlog) are bounded: the writer
//! runs in the idle scheduling class only while the backlog is under
//! [`BACKLOG_HIGH`] bytes and under [`BEHIND`] old (see [`SinkTx`]).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::record::{LoadHeader, LoadLine, RequestRecord, RunEnd, WriterAccount};

/// What the engine hands the writer.
#[derive(Debug)]
enum SinkMsg {
    /// Finished requests, in completion order, with their estimated heap bytes.
    Batch(Vec<RequestRecord>, u64),
    /// The client's accounts; written last.
    End(RunEnd),
}

/// The measuring side's handle on the writer: hands it records, and keeps the
/// backlog of records not yet written under [`BACKLOG_HIGH`] by moving the writer
/// out of the idle class when the backlog passes it (the writer cannot see that
/// itself while an idle class keeps it from running). Cloned, it is one more
/// sender; the writer ends when every clone is dropped.
#[derive(Debug, Clone)]
pub struct SinkTx {
    tx: Sender<SinkMsg>,
    backlog: Arc<Backlog>,
}

impl SinkTx {
    /// A sender with an empty backlog, and the receiving end (which shares the
    /// backlog through [`SinkTx::backlog`]).
    fn channel() -> (SinkTx, Receiver<SinkMsg>) {
        let (tx, rx) = channel();
        let backlog = Arc::new(Backlog::default());
        (SinkTx { tx, backlog }, rx)
    }

    /// Hands finished requests to the writer (nothing when the writer has gone:
    /// its error is returned when it is joined).
    pub fn send_batch(&self, batch: Vec<RequestRecord>) {
        let bytes: u64 = batch.iter().map(heap_bytes).sum();
        let now = self.backlog.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.backlog.peak.fetch_max(now, Ordering::Relaxed);
        if now > BACKLOG_HIGH {
            self.backlog.promote();
        }
        let _ = self.tx.send(SinkMsg::Batch(batch, bytes));
    }

    /// Hands the client's accounts to the writer, to be written last.
    pub fn end(&self, end: RunEnd) {
        let _ = self.tx.send(SinkMsg::End(end));
    }
}

/// The records handed on and not yet written, and the writer's scheduling class.
#[derive(Debug, Default)]
struct Backlog {
    /// Estimated heap bytes of the records in the channel or being written.
    bytes: AtomicU64,
    /// The most `bytes` has been.
    peak: AtomicU64,
    /// The writer's class, changed only under this lock (by the writer, or by a
    /// sender promoting it).
    class: Mutex<WriterClass>,
}

/// The writer thread's scheduling class as last set.
#[derive(Debug, Default)]
struct WriterClass {
    /// The writer's thread id; 0 until it started (or where the idle class is
    /// not used: it would be one-way, see [`idle_class_reversible`]).
    tid: i32,
    /// In `SCHED_IDLE` now.
    idle: bool,
    /// Times it was moved out of `SCHED_IDLE`.
    promotions: u64,
}

impl WriterClass {
    /// Moves the writer into (`true`) or out of the idle class, counting a move
    /// out as a promotion.
    fn switch(&mut self, idle: bool) {
        set_class(self.tid, idle);
        self.idle = idle;
        self.promotions += u64::from(!idle);
    }
}

impl Backlog {
    /// Moves the writer out of the idle class, if it is in it.
    fn promote(&self) {
        let mut class = self.class.lock().unwrap_or_else(|p| p.into_inner());
        if class.tid != 0 && class.idle {
            class.switch(false);
        }
    }

    /// The writer's account so far, with the request lines it wrote and the
    /// calling thread's CPU time (the writer calls it).
    fn account(&self, records: u64) -> WriterAccount {
        let class = self.class.lock().unwrap_or_else(|p| p.into_inner());
        WriterAccount {
            idle_class: class.tid != 0,
            promotions: class.promotions,
            peak_backlog_bytes: self.peak.load(Ordering::Relaxed),
            records,
            cpu_ns: super::clock::thread_cpu_ns(),
        }
    }

    /// The writer wrote a batch: it is `behind` the newest record's completion, and
    /// `left` bytes wait. Changes its class as [`class_after_write`] says.
    fn after_write(&self, behind: Duration, left: u64) {
        let mut class = self.class.lock().unwrap_or_else(|p| p.into_inner());
        if class.tid == 0 {
            return;
        }
        if let Some(idle) = class_after_write(class.idle, behind, left) {
            class.switch(idle);
        }
    }
}

/// A record's heap footprint while it waits for the writer, estimated from its
/// variable-sized parts (the texts and the chunk offsets) and its own size.
fn heap_bytes(rec: &RequestRecord) -> u64 {
    let c = &rec.call;
    (std::mem::size_of::<RequestRecord>()
        + c.model.capacity()
        + c.prompt_sha256.capacity()
        + c.response.capacity()
        + c.thinking.capacity()
        + c.chunk_ns.capacity() * std::mem::size_of::<u64>()) as u64
}

/// Writing the record file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct SinkError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// The longest a written line may wait before it is flushed and fsynced.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The writer thread: joined, it gives the request lines written.
pub type Writer = JoinHandle<Result<u64, SinkError>>;

/// Creates `path` (it must not exist), writes `header` as line 1 (fsynced), and
/// starts the writer thread. Drop every [`SinkTx`] to end it; join for the count
/// of request lines written.
pub fn start_writer(path: &Path, header: &LoadHeader) -> Result<(SinkTx, Writer), SinkError> {
    let err = |source| SinkError {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(err)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write_line(&mut out, &LoadLine::LoadHeader(Box::new(header.clone()))).map_err(err)?;
    out.flush().map_err(err)?;
    out.get_ref().sync_data().map_err(err)?;
    let (tx, rx) = SinkTx::channel();
    let owned = path.to_path_buf();
    let shared = tx.backlog.clone();
    let handle = std::thread::Builder::new()
        .name("agentbench-records".into())
        .spawn(move || {
            write_all(rx, out, &shared).map_err(|source| SinkError {
                path: owned,
                source,
            })
        })
        .map_err(err)?;
    Ok((tx, handle))
}

/// A sink that writes nothing: it counts the requests that succeeded and drops
/// every record (for benches of the measuring loop without the writer's work).
/// Join the thread, once every [`SinkTx`] is dropped, for the count.
pub fn start_counter() -> (SinkTx, JoinHandle<u64>) {
    let (tx, rx) = SinkTx::channel();
    let shared = tx.backlog.clone();
    let handle = std::thread::spawn(move || {
        let mut ok = 0u64;
        for msg in rx {
            if let SinkMsg::Batch(batch, bytes) = msg {
                ok += batch.iter().filter(|r| r.call.is_ok()).count() as u64;
                shared.bytes.fetch_sub(bytes, Ordering::Relaxed);
            }
        }
        ok
    });
    (tx, handle)
}

fn write_line(out: &mut BufWriter<File>, line: &LoadLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

fn sync(out: &mut BufWriter<File>) -> std::io::Result<()> {
    out.flush()?;
    out.get_ref().sync_data()
}

/// How far behind the newest record's completion the writer may fall before it leaves
/// the idle class.
pub const BEHIND: Duration = Duration::from_secs(1);

/// The backlog (estimated heap bytes of records not yet written) at which a
/// sender moves the writer out of the idle class. Measured without it (one CPU
/// shared by the stub, the measuring thread and an idle-class writer, ~40,000
/// requests/s of 64 chunks): the process reached 0.42–0.87 GB of RSS in a 3 s run,
/// and the measuring thread paid for its fresh pages (119,000–221,000 page faults;
/// 15.4–18.2 µs of its CPU a request against 12.1–12.3 µs with the writer kept up). Spread over two CPUs held awake (~27,000 requests/s), 8 MiB and
/// 32 MiB measured alike; the larger mark promotes the writer less often.
pub const BACKLOG_HIGH: u64 = 32 << 20;

/// The writer returns to the idle class once the backlog is under this and under
/// a tenth of [`BEHIND`].
pub const BACKLOG_LOW: u64 = BACKLOG_HIGH / 8;

/// The writer's class after it wrote a batch: `Some(idle)` to change it.
/// It leaves the idle class when it is more than [`BEHIND`] behind or the backlog
/// is over [`BACKLOG_HIGH`]; it returns when both are under their low marks
/// (a tenth of [`BEHIND`], [`BACKLOG_LOW`]).
fn class_after_write(idle: bool, behind: Duration, backlog: u64) -> Option<bool> {
    if idle && (behind > BEHIND || backlog > BACKLOG_HIGH) {
        Some(false)
    } else if !idle && behind < BEHIND / 10 && backlog < BACKLOG_LOW {
        Some(true)
    } else {
        None
    }
}

/// Puts the thread `tid` into `SCHED_IDLE` (it runs only when a CPU has nothing
/// else to do, so serialising records does not delay the measuring thread on a
/// shared core) or back into the normal class. Best effort.
fn set_class(tid: i32, idle: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler on a thread of this process with a valid param.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        libc::sched_setscheduler(tid, policy, &param);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (tid, idle);
}

/// Whether this process may move a thread out of `SCHED_IDLE` again: Linux
/// allows it only with `CAP_SYS_NICE` or an `RLIMIT_NICE` of at least 20 (it
/// counts the idle class as nice 20). Without either, the writer stays in the
/// normal class for the whole run, since an idle-class writer that can never be
/// promoted may starve while its backlog grows.
fn idle_class_reversible() -> bool {
    #[cfg(target_os = "linux")]
    {
        let cap = std::fs::read_to_string("/proc/self/status")
            .ok()
            .is_some_and(|s| has_cap_sys_nice(&s));
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the rlimit it is given.
        let nice_ok =
            unsafe { libc::getrlimit(libc::RLIMIT_NICE, &mut lim) } == 0 && lim.rlim_cur >= 20;
        cap || nice_ok
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// Whether this process may run on more than one CPU (its affinity and cgroup
/// quota): with one, no CPU is ever idle while the measuring thread or the server
/// works, so an idle-class writer would only run in bursts once promoted.
/// Measured on one CPU (taskset, `fast` stub, 64 chunks, one connection): an
/// idle-class writer bounded at [`BACKLOG_HIGH`] gave E2E p50 16.7–18.2 µs and
/// p99.9 1.75–1.93 ms; a normal-class writer 15.3–15.9 µs and 0.36–0.46 ms.
fn more_than_one_cpu() -> bool {
    crate::provenance::cores() > 1
}

/// `CAP_SYS_NICE` (bit 23) in the effective set of a `/proc/<pid>/status` text.
fn has_cap_sys_nice(status: &str) -> bool {
    const CAP_SYS_NICE: u32 = 23;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps >> CAP_SYS_NICE & 1 == 1)
}

/// The calling thread's id.
fn current_tid() -> i32 {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions.
    unsafe {
        libc::gettid()
    }
    #[cfg(not(target_os = "linux"))]
    0
}

fn write_all(
    rx: Receiver<SinkMsg>,
    mut out: BufWriter<File>,
    backlog: &Backlog,
) -> std::io::Result<u64> {
    if more_than_one_cpu() && idle_class_reversible() {
        let mut class = backlog.class.lock().unwrap_or_else(|p| p.into_inner());
        class.tid = current_tid();
        class.idle = true;
        set_class(class.tid, true);
    }
    let mut written = 0u64;
    let mut last_sync = Instant::now();
    let mut dirty = false;
    loop {
        let wait = if dirty {
            SYNC_EVERY.saturating_sub(last_sync.elapsed())
        } else {
            SYNC_EVERY
        };
        match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(SinkMsg::Batch(batch, bytes)) => {
                // When the newest record's request ended (unix ns): a record
                // waits from then, however long its request took.
                let newest = batch
                    .iter()
                    .map(|r| r.call.started_unix_ns + (r.last_seen_ns() - r.sent_ns))
                    .max();
                for rec in batch {
                    write_line(&mut out, &LoadLine::Request(Box::new(rec)))?;
                    written += 1;
                }
                dirty = true;
                let left = backlog.bytes.fetch_sub(bytes, Ordering::Relaxed) - bytes;
                if let Some(sent) = newest {
                    let behind = crate::clock::unix_ns_now().saturating_sub(sent);
                    backlog.after_write(Duration::from_nanos(behind), left);
                }
            }
            Ok(SinkMsg::End(mut end)) => {
                end.writer = Some(backlog.account(written));
                write_line(&mut out, &LoadLine::LoadEnd(Box::new(end)))?;
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                sync(&mut out)?;
                return Ok(written);
            }
        }
        if dirty && last_sync.elapsed() >= SYNC_EVERY {
            sync(&mut out)?;
            last_sync = Instant::now();
            dirty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_leaves_the_idle_class_when_behind_or_over_the_high_mark() {
        let ms = Duration::from_millis;
        assert_eq!(class_after_write(true, ms(10), 0), None);
        assert_eq!(class_after_write(true, BEHIND + ms(1), 0), Some(false));
        assert_eq!(
            class_after_write(true, ms(10), BACKLOG_HIGH + 1),
            Some(false)
        );
        assert_eq!(class_after_write(true, ms(10), BACKLOG_HIGH), None);
    }

    #[test]
    fn the_writer_returns_to_the_idle_class_only_under_both_low_marks() {
        let ms = Duration::from_millis;
        assert_eq!(
            class_after_write(false, ms(10), BACKLOG_LOW - 1),
            Some(true)
        );
        assert_eq!(class_after_write(false, BEHIND / 10 + ms(1), 0), None);
        assert_eq!(class_after_write(false, ms(10), BACKLOG_LOW), None);
    }

    fn record(response_bytes: usize) -> RequestRecord {
        let mut rec: RequestRecord = serde_json::from_str(
            r#"{"seq":0,"worker":0,"prompt":0,"intended_ns":0,"sent_ns":0,"call":{
                "endpoint":"generate","model":"m","settings":{"options":{}},"prompt_sha256":"",
                "prompt_bytes":0,"started_unix_ns":0,"http_status":200,"headers_ns":1,
                "chunk_ns":[1],"end_ns":2,"bytes":3,"lines":2,"response":"","server":{}}}"#,
        )
        .expect("a request record");
        rec.call.response = "x".repeat(response_bytes);
        rec
    }

    #[test]
    fn a_backlog_over_the_high_mark_moves_the_writer_out_of_the_idle_class() {
        let (tx, counter) = start_counter();
        let backlog = tx.backlog.clone();
        {
            // This thread stands in for an idle-class writer (its state only:
            // promoting it sets the normal class it already has).
            let mut class = backlog.class.lock().unwrap();
            class.tid = current_tid();
            class.idle = true;
        }
        tx.send_batch(vec![record(10), record(10)]);
        let small = 2 * heap_bytes(&record(10));
        assert!(backlog.bytes.load(Ordering::Relaxed) <= small);
        assert!(backlog.class.lock().unwrap().idle, "under the mark: idle");
        tx.send_batch(vec![record(BACKLOG_HIGH as usize)]);
        assert!(
            !backlog.class.lock().unwrap().idle,
            "over the mark: promoted"
        );
        drop(tx);
        assert_eq!(counter.join().unwrap(), 3, "every record reached the sink");
        assert_eq!(
            backlog.bytes.load(Ordering::Relaxed),
            0,
            "the backlog drained"
        );
    }

    #[test]
    fn a_record_s_estimate_counts_its_texts_and_chunk_offsets() {
        let base = heap_bytes(&record(0));
        assert!(base >= std::mem::size_of::<RequestRecord>() as u64);
        assert!(heap_bytes(&record(1000)) >= base + 1000);
    }

    #[test]
    fn cap_sys_nice_is_read_from_the_effective_set() {
        let status = |eff: &str| format!("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t{eff}\n");
        assert!(has_cap_sys_nice(&status("000001ffffffffff")));
        assert!(has_cap_sys_nice(&status("0000000000800000")));
        assert!(!has_cap_sys_nice(&status("00000000a80425fb")));
        assert!(!has_cap_sys_nice("Name:\tx\n"));
    }
}
