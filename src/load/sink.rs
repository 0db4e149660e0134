//! The record writer: a thread of its own that appends each finished request to
//! `records.jsonl` as one line, flushing and fsyncing at least once a second, so a
//! crash loses at most the last second and the measuring thread never waits on
//! the disk or on serialisation.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::record::{LoadHeader, LoadLine, RequestRecord, RunEnd};

/// What the engine hands the writer.
#[derive(Debug)]
pub enum SinkMsg {
    /// Finished requests, in completion order.
    Batch(Vec<RequestRecord>),
    /// The client's accounts; written last.
    End(RunEnd),
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
/// starts the writer thread. Drop every sender to end it; join for the count of
/// request lines written.
pub fn start_writer(
    path: &Path,
    header: &LoadHeader,
) -> Result<(Sender<SinkMsg>, Writer), SinkError> {
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
    let (tx, rx) = channel();
    let owned = path.to_path_buf();
    let handle = std::thread::Builder::new()
        .name("agentbench-records".into())
        .spawn(move || {
            write_all(rx, out).map_err(|source| SinkError {
                path: owned,
                source,
            })
        })
        .map_err(err)?;
    Ok((tx, handle))
}

fn write_line(out: &mut BufWriter<File>, line: &LoadLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

fn sync(out: &mut BufWriter<File>) -> std::io::Result<()> {
    out.flush()?;
    out.get_ref().sync_data()
}

/// The writer's scheduling class: `SCHED_IDLE` (it runs only when a CPU has
/// nothing else to do, so serialising records never delays the measuring thread
/// on a shared core) while it keeps up, and the normal class while it is more
/// than [`BEHIND`] behind (on a busy machine an idle-class writer can starve, and
/// its backlog of records then grows in memory: measured, RSS 15 → 39 MB in a
/// 1,000/s run while other builds ran). Best effort.
fn set_idle(idle: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid param.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        let policy = if idle {
            libc::SCHED_IDLE
        } else {
            libc::SCHED_OTHER
        };
        libc::sched_setscheduler(0, policy, &param);
    }
}

/// How far behind the newest record's send the writer may fall before it leaves
/// `SCHED_IDLE` (it returns when it is within a tenth of that).
pub const BEHIND: Duration = Duration::from_secs(1);

fn write_all(rx: Receiver<SinkMsg>, mut out: BufWriter<File>) -> std::io::Result<u64> {
    let mut idle = true;
    set_idle(idle);
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
            Ok(SinkMsg::Batch(batch)) => {
                let newest = batch.iter().map(|r| r.call.started_unix_ns).max();
                if let Some(sent) = newest {
                    let behind = crate::clock::unix_ns_now().saturating_sub(sent);
                    let behind = Duration::from_nanos(behind);
                    if idle && behind > BEHIND {
                        idle = false;
                        set_idle(false);
                    } else if !idle && behind < BEHIND / 10 {
                        idle = true;
                        set_idle(true);
                    }
                }
                for rec in batch {
                    write_line(&mut out, &LoadLine::Request(Box::new(rec)))?;
                    written += 1;
                }
                dirty = true;
            }
            Ok(SinkMsg::End(end)) => {
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
