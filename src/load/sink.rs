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

/// Puts the calling thread in the SCHED_IDLE class: it runs only when a CPU has
/// nothing else to do, so serialising records never delays the measuring thread
/// when both share a core (e.g. under `taskset -c 0`). Best effort.
fn yield_to_the_measuring_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid param.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

fn write_all(rx: Receiver<SinkMsg>, mut out: BufWriter<File>) -> std::io::Result<u64> {
    yield_to_the_measuring_thread();
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
