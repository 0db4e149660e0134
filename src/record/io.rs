//! Writing and reading record files. Each line is flushed and fsynced as soon as
//! it is written, so a crash loses at most the run in flight.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{Header, Line, WorkflowRecord};

/// A record file could not be written.
#[derive(Debug, Error)]
#[error("cannot write records to {path}: {source}")]
pub struct RecordWriteError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// A record file could not be read.
#[derive(Debug, Error)]
pub enum RecordReadError {
    /// The file could not be opened or read.
    #[error("cannot read records from {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The first line is not a header.
    #[error("{path} does not start with an agentbench header line (is it a record file?)")]
    NoHeader {
        /// The file.
        path: PathBuf,
    },
}

/// Appends lines to a record file, durably: a line written by [`RecordWriter::append`]
/// is on disk, with every line before it, when the call returns. The header line of
/// a new file is made durable on its own thread while the caller goes on (its fsync
/// costs 0.5–5 ms here, and the first run need not wait for it); the next append,
/// or dropping the writer, waits for it first.
#[derive(Debug)]
pub struct RecordWriter {
    file: File,
    path: PathBuf,
    header_sync: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RecordWriter {
    /// Creates `path` (and its parent folders) and writes the header line.
    /// Fails if the file already exists, so that no earlier records are clobbered.
    pub fn create(path: &Path, header: &Header) -> Result<Self, RecordWriteError> {
        let err = |source| RecordWriteError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(err)?;
        let bytes = line_bytes(&Line::Header(Box::new(header.clone())));
        let mut writer = Self {
            file,
            path: path.to_path_buf(),
            header_sync: None,
        };
        writer.file.write_all(&bytes).map_err(err)?;
        writer.file.flush().map_err(err)?;
        let syncing = writer.file.try_clone().map_err(err)?;
        writer.header_sync = Some(std::thread::spawn(move || syncing.sync_data()));
        Ok(writer)
    }

    /// Opens an existing record file to append runs to it (its header is kept). The
    /// caller makes sure the file ends with a complete line.
    pub fn append_to(path: &Path) -> Result<Self, RecordWriteError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| RecordWriteError {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            header_sync: None,
        })
    }

    /// Appends one run and makes it durable (write, flush, fsync) before returning.
    pub fn append(&mut self, run: &WorkflowRecord) -> Result<(), RecordWriteError> {
        self.write_line(&Line::Workflow(Box::new(run.clone())))
    }

    /// Reopens an existing record file to append more runs (`agentbench run
    /// --resume`). A torn last line is handled by [`cut_torn_tail`] (the file as found
    /// is copied to `<file>.torn-<n>`, then cut to its last complete line). Returns
    /// the writer, the records already there, and the torn line when there was one.
    pub fn resume(path: &Path) -> Result<(Self, RecordFile, Option<TornLine>), RecordReadError> {
        let torn = cut_torn_tail(path)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| RecordReadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let records = read_records(path)?;
        Ok((
            Self {
                file,
                path: path.to_path_buf(),
                header_sync: None,
            },
            records,
            torn,
        ))
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the header's fsync, when it is still running.
    fn header_synced(&mut self) -> std::io::Result<()> {
        match self.header_sync.take() {
            Some(sync) => sync
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the fsync thread panicked"))),
            None => Ok(()),
        }
    }

    fn write_line(&mut self, line: &Line) -> Result<(), RecordWriteError> {
        let bytes = line_bytes(line);
        let synced = self.header_synced();
        let err = |source| RecordWriteError {
            path: self.path.clone(),
            source,
        };
        synced.map_err(err)?;
        self.file.write_all(&bytes).map_err(err)?;
        self.file.flush().map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        // A header is durable before its writer is gone, even when no run followed.
        let _ = self.header_synced();
    }
}

/// One line of a record file: its JSON and a newline.
fn line_bytes(line: &Line) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(line).expect("records serialize to JSON");
    bytes.push(b'\n');
    bytes
}

/// The one policy for a torn last line (bytes after the last newline, as a crash
/// mid-write leaves), used by `run --resume` ([`RecordWriter::resume`]) and by a
/// resumed sweep: when those bytes are not all whitespace, the whole file as found
/// is copied to `<file>.torn-<n>` (the first unused `n` from 1) and fsynced, then
/// the file is truncated to its last complete line and fsynced; the torn line is
/// returned. A whitespace-only tail is cut without a copy and `None` is returned.
/// A file that ends with a newline is left untouched.
pub fn cut_torn_tail(path: &Path) -> Result<Option<TornLine>, RecordReadError> {
    let io = |source| RecordReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let data = std::fs::read(path).map_err(io)?;
    let keep = data.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    if keep == data.len() {
        return Ok(None);
    }
    let tail = &data[keep..];
    let mut torn = None;
    if !tail.iter().all(u8::is_ascii_whitespace) {
        let mut n = 1;
        let saved_to = loop {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".torn-{n}"));
            let candidate = PathBuf::from(name);
            if !candidate.exists() {
                break candidate;
            }
            n += 1;
        };
        let mut copy = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&saved_to)
            .map_err(io)?;
        copy.write_all(&data).map_err(io)?;
        copy.sync_all().map_err(io)?;
        torn = Some(TornLine {
            line: data[..keep].iter().filter(|&&b| b == b'\n').count() + 1,
            bytes: tail.len() as u64,
            saved_to,
        });
    }
    let file = OpenOptions::new().write(true).open(path).map_err(io)?;
    file.set_len(keep as u64).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(torn)
}

/// A torn last line found (and cut away) by [`cut_torn_tail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornLine {
    /// 1-based line number of the torn line.
    pub line: usize,
    /// Its length in bytes (no newline).
    pub bytes: u64,
    /// Where the untouched file was copied before the torn line was cut.
    pub saved_to: PathBuf,
}

/// A record file as read back.
#[derive(Debug, Clone)]
pub struct RecordFile {
    /// The file's header.
    pub header: Header,
    /// Its runs, in file order.
    pub runs: Vec<WorkflowRecord>,
    /// Lines that could not be decoded (e.g. a torn last line after a crash), with
    /// their 1-based line number and the reason. They are skipped, not fatal.
    pub skipped: Vec<(usize, String)>,
}

/// Reads a record file. Undecodable lines are reported in
/// [`RecordFile::skipped`]; only an unreadable file or a missing header is an error.
pub fn read_records(path: &Path) -> Result<RecordFile, RecordReadError> {
    let io = |source| RecordReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(io)?);
    let mut header = None;
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(io)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Header(h)) if header.is_none() => header = Some(*h),
            Ok(Line::Header(_)) => skipped.push((i + 1, "a second header line".to_string())),
            Ok(Line::Workflow(w)) => runs.push(*w),
            Err(e) => skipped.push((i + 1, e.to_string())),
        }
    }
    let header = header.ok_or_else(|| RecordReadError::NoHeader {
        path: path.to_path_buf(),
    })?;
    Ok(RecordFile {
        header,
        runs,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_and_cut_torn_tail_leave_the_same_files() {
        let dir = tempfile::tempdir().unwrap();
        let header = Header::new(
            crate::record::Backend {
                url: "http://127.0.0.1:1".into(),
                protocol: "ollama".into(),
                endpoint: crate::client::Endpoint::Generate,
                stub: Some("instant".into()),
            },
            crate::client::ServerInfo::default(),
            "m",
            &crate::client::RequestSettings::default(),
            crate::record::CorpusInfo {
                root: "c".into(),
                stats: Default::default(),
            },
        );
        let run = WorkflowRecord::new(0, 1);
        let mut found = Vec::new();
        for sub in ["run", "sweep"] {
            let path = dir.path().join(sub).join("records.jsonl");
            let mut w = RecordWriter::create(&path, &header).unwrap();
            w.append(&run).unwrap();
            drop(w);
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(br#"{"kind":"workflow","run_in"#).unwrap();
            found = std::fs::read(&path).unwrap();
        }
        let run_path = dir.path().join("run/records.jsonl");
        let sweep_path = dir.path().join("sweep/records.jsonl");
        let (_w, file, torn_run) = RecordWriter::resume(&run_path).unwrap();
        let torn_sweep = cut_torn_tail(&sweep_path).unwrap();
        assert_eq!(file.runs.len(), 1);
        assert!(file.skipped.is_empty());
        let (a, b) = (torn_run.unwrap(), torn_sweep.unwrap());
        assert_eq!((a.line, a.bytes), (3, 26));
        assert_eq!((b.line, b.bytes), (a.line, a.bytes));
        assert_eq!(a.saved_to, dir.path().join("run/records.jsonl.torn-1"));
        assert_eq!(b.saved_to, dir.path().join("sweep/records.jsonl.torn-1"));
        assert_eq!(std::fs::read(&a.saved_to).unwrap(), found);
        assert_eq!(std::fs::read(&b.saved_to).unwrap(), found);
        let cut = std::fs::read(&run_path).unwrap();
        assert_eq!(cut, std::fs::read(&sweep_path).unwrap());
        assert!(cut.ends_with(b"\n"));
        // A second pass finds nothing; a new torn line goes to the next free name.
        assert_eq!(cut_torn_tail(&sweep_path).unwrap(), None);
        std::fs::write(&sweep_path, [cut.as_slice(), b"{"].concat()).unwrap();
        let again = cut_torn_tail(&sweep_path).unwrap().unwrap();
        assert_eq!(
            again.saved_to,
            dir.path().join("sweep/records.jsonl.torn-2")
        );
        // Whitespace after the last newline is cut, not reported.
        std::fs::write(&sweep_path, [cut.as_slice(), b"  "].concat()).unwrap();
        assert_eq!(cut_torn_tail(&sweep_path).unwrap(), None);
        assert_eq!(std::fs::read(&sweep_path).unwrap(), cut);
    }
}
