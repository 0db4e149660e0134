//! Ingest: walk a corpus folder, parse CSV / JSON / Markdown benchmark files, and
//! summarize what they contain for the LLM prompts.
//!
//! Guarantees: deterministic order (walk sorted by file name, `/`-separated relative
//! paths, no hash-map iteration reaches any output); one bad file never aborts the walk
//! (it is recorded with a reason); symlinks are never followed.

mod csv_file;
mod helper;
mod json_file;
mod json_tree;
mod markdown;
#[cfg(test)]
mod reference;
mod summary;

pub use csv_file::{CsvData, LabelColumn, LabelValues, NumericColumn};
pub use json_file::{JsonData, MetricRecord, NumericFields};
pub use markdown::{Heading, MarkdownData, MdBullet, MdRow, MdRows, MdTable};
pub use summary::{
    summarize, ConfigAggregate, DataSummary, DirSummary, Dist, ErrorCount, ErrorSummary,
    FileSummary, KeyMetric, ModelAggregate, SourcedText, MAX_FINDINGS, MAX_KEY_METRICS,
    UNATTRIBUTED,
};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Knobs for [`ingest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestOptions {
    /// Files larger than this many bytes are skipped (recorded with a reason), never read.
    pub max_file_bytes: u64,
}

impl Default for IngestOptions {
    /// A 16 MiB cap per file.
    fn default() -> Self {
        Self {
            max_file_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why a corpus could not be ingested at all (per-file problems are never errors).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The root does not exist.
    #[error("corpus root {path} does not exist: pass an existing folder of CSV/JSON/Markdown files (e.g. mock-data/, or create one with `agentbench corpus --out DIR`)")]
    Missing {
        /// The root as given.
        path: PathBuf,
    },
    /// The root exists but is not a directory.
    #[error(
        "corpus root {path} is not a directory: pass the folder that contains the benchmark files"
    )]
    NotADirectory {
        /// The root as given.
        path: PathBuf,
    },
    /// The root could not be inspected (permissions, I/O).
    #[error("cannot read corpus root {path}: {source} (check permissions)")]
    Unreadable {
        /// The root as given.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Kind of a considered file, decided by its extension (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// `.csv`
    Csv,
    /// `.json`
    Json,
    /// `.md`
    Markdown,
}

impl FileKind {
    /// The kind for a file name, or `None` for extensions that are not considered.
    pub fn from_name(name: &str) -> Option<Self> {
        let ext = name.rsplit_once('.')?.1;
        if ext.eq_ignore_ascii_case("csv") {
            Some(Self::Csv)
        } else if ext.eq_ignore_ascii_case("json") {
            Some(Self::Json)
        } else if ext.eq_ignore_ascii_case("md") {
            Some(Self::Markdown)
        } else {
            None
        }
    }

    /// Short lowercase name: `csv`, `json` or `md`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Markdown => "md",
        }
    }
}

/// What parsing one file produced; `Skipped` carries the reason it was not parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ParseOutcome {
    /// A parsed CSV file.
    Csv(CsvData),
    /// A parsed JSON file.
    Json(JsonData),
    /// A parsed Markdown file.
    Markdown(MarkdownData),
    /// Not parsed (unreadable, too large, empty, invalid UTF-8 / JSON, symlink...).
    Skipped {
        /// Human-readable reason.
        reason: String,
    },
}

impl ParseOutcome {
    /// `true` unless the file was skipped.
    pub fn is_ok(&self) -> bool {
        !matches!(self, Self::Skipped { .. })
    }
}

/// One considered file (known extension), parsed or skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileEntry {
    /// Path relative to the corpus root, `/`-separated.
    pub path: String,
    /// Kind from the extension.
    pub kind: FileKind,
    /// Size on disk (0 for symlinks and unreadable entries).
    pub bytes: u64,
    /// Parse result.
    pub outcome: ParseOutcome,
}

/// A file or walk entry that was not parsed, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skipped {
    /// Path relative to the corpus root, `/`-separated.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The ingested corpus: every considered file in walk order (sorted by file name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Corpus {
    /// The root as given to [`ingest`].
    pub root: PathBuf,
    /// Considered files (`.csv`, `.json`, `.md`), deterministic order.
    pub files: Vec<FileEntry>,
    /// Number of regular files with other extensions (and symlinks without a considered
    /// extension), not parsed.
    pub ignored: u64,
    /// Entries the walk itself could not read (e.g. permission denied on a folder).
    pub walk_errors: Vec<Skipped>,
}

/// Counts describing a corpus, for run records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusStats {
    /// Considered files (known extension), parsed or not.
    pub files: u64,
    /// Considered `.csv` files.
    pub csv: u64,
    /// Considered `.json` files.
    pub json: u64,
    /// Considered `.md` files.
    pub markdown: u64,
    /// Total size of the considered files.
    pub bytes: u64,
    /// Files parsed successfully.
    pub parsed_ok: u64,
    /// Files (and unreadable walk entries) not parsed, with reasons, in walk order.
    pub skipped: Vec<Skipped>,
    /// Files ignored because of their extension.
    pub ignored: u64,
}

impl Corpus {
    /// Counts per kind, bytes, parsed and skipped files (deterministic).
    pub fn stats(&self) -> CorpusStats {
        let mut s = CorpusStats {
            files: self.files.len() as u64,
            csv: 0,
            json: 0,
            markdown: 0,
            bytes: 0,
            parsed_ok: 0,
            skipped: Vec::new(),
            ignored: self.ignored,
        };
        for f in &self.files {
            match f.kind {
                FileKind::Csv => s.csv += 1,
                FileKind::Json => s.json += 1,
                FileKind::Markdown => s.markdown += 1,
            }
            s.bytes += f.bytes;
            match &f.outcome {
                ParseOutcome::Skipped { reason } => s.skipped.push(Skipped {
                    path: f.path.clone(),
                    reason: reason.clone(),
                }),
                _ => s.parsed_ok += 1,
            }
        }
        s.skipped.extend(self.walk_errors.iter().cloned());
        s
    }
}

/// `path` relative to `root`, its components joined with `/` (lossy UTF-8).
fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    // A UTF-8 path of plain `/`-separated names is its own components joined.
    if let Some(s) = rel.to_str() {
        if std::path::MAIN_SEPARATOR == '/' && !s.split('/').any(|c| c.is_empty() || c == ".") {
            return s.to_string();
        }
    }
    joined_components(rel)
}

/// The components of `rel` (lossy UTF-8) joined with `/`.
fn joined_components(rel: &Path) -> String {
    let mut out = String::new();
    for (i, c) in rel.components().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&c.as_os_str().to_string_lossy());
    }
    out
}

/// Checks that `root` exists and is a directory without reading it: the errors
/// [`ingest`] gives for the root itself, at the cost of one `stat`.
pub fn check_root(root: &Path) -> Result<(), IngestError> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(IngestError::NotADirectory {
            path: root.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(IngestError::Missing {
            path: root.to_path_buf(),
        }),
        Err(source) => Err(IngestError::Unreadable {
            path: root.to_path_buf(),
            source,
        }),
    }
}

/// Corpus walks started per root, process-wide (see [`walks_of`]).
static WALKS: std::sync::Mutex<Vec<(PathBuf, u64)>> = std::sync::Mutex::new(Vec::new());

/// How many corpus walks [`ingest`] has started on `root` (as given, not
/// canonicalised) in this process, on any thread (calls whose root passed
/// [`check_root`]). Lets a test check how many times a command read the corpus; a
/// test gives the command a root of its own, so tests running alongside cannot
/// change the count.
pub fn walks_of(root: &Path) -> u64 {
    let walks = WALKS.lock().unwrap_or_else(|e| e.into_inner());
    walks.iter().find(|(r, _)| r == root).map_or(0, |(_, n)| *n)
}

fn count_walk(root: &Path) {
    let mut walks = WALKS.lock().unwrap_or_else(|e| e.into_inner());
    match walks.iter_mut().find(|(r, _)| r == root) {
        Some((_, n)) => *n += 1,
        None => walks.push((root.to_path_buf(), 1)),
    }
}

/// Walks `root` (symlinks not followed, sorted by file name) and parses every `.csv`,
/// `.json` and `.md` file (extension case-insensitive).
///
/// Returns `Err` only when `root` is missing, not a directory or cannot be inspected;
/// every per-file problem is recorded in the returned [`Corpus`] instead.
pub fn ingest(root: &Path, opts: &IngestOptions) -> Result<Corpus, IngestError> {
    check_root(root)?;
    count_walk(root);
    let mut corpus = Corpus {
        root: root.to_path_buf(),
        files: Vec::new(),
        ignored: 0,
        walk_errors: Vec::new(),
    };
    let mut jobs: Vec<(usize, PathBuf)> = Vec::new();
    // Sorted by file name, as `sort_by_file_name` sorts, but cheaper: walkdir only
    // compares entries of one directory, whose paths are that directory's path
    // joined with their names, one common prefix; so comparing whole paths (as
    // bytes) orders them as comparing names does, without parsing each path for
    // its last component at every comparison.
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by(|a, b| a.path().as_os_str().cmp(b.path().as_os_str()));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err.path().map(|p| rel_path(root, p)).unwrap_or_default();
                corpus.walk_errors.push(Skipped {
                    path,
                    reason: format!("cannot read directory entry: {err}"),
                });
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let Some(kind) = FileKind::from_name(&name) else {
            corpus.ignored += 1;
            continue;
        };
        let path = rel_path(root, entry.path());
        if entry.file_name().to_str().is_none() {
            // A lossy name could collide with another file's: never parse under it.
            corpus.files.push(FileEntry {
                path,
                kind,
                bytes: 0,
                outcome: ParseOutcome::Skipped {
                    reason: "file name is not UTF-8 (shown with U+FFFD replacements): not read"
                        .into(),
                },
            });
            continue;
        }
        if ft.is_symlink() {
            corpus.files.push(FileEntry {
                path,
                kind,
                bytes: 0,
                outcome: ParseOutcome::Skipped {
                    reason: "symbolic link: not followed".into(),
                },
            });
            continue;
        }
        if !ft.is_file() {
            corpus.files.push(FileEntry {
                path,
                kind,
                bytes: 0,
                outcome: ParseOutcome::Skipped {
                    reason: "not a regular file".into(),
                },
            });
            continue;
        }
        // Read and parsed below, once the walk is done; the outcome is a placeholder.
        jobs.push((corpus.files.len(), entry.into_path()));
        corpus.files.push(FileEntry {
            path,
            kind,
            bytes: 0,
            outcome: ParseOutcome::Skipped {
                reason: String::new(),
            },
        });
    }
    load_all(&mut corpus.files, jobs, opts);
    Ok(corpus)
}

/// Files per corpus below which [`load_all`] stays on the calling thread.
const PARALLEL_MIN_FILES: usize = 8;

/// Reads and parses the files of `jobs` (index into `files`, full path) into
/// `files`. With two or more CPUs and enough files, the calling thread and one
/// helper thread (kept between ingests, see `helper`) take files in turn from a
/// shared counter; each file's outcome depends on its bytes only, so the result is
/// the same as one thread's, in the same (walk) order.
fn load_all(files: &mut [FileEntry], jobs: Vec<(usize, PathBuf)>, opts: &IngestOptions) {
    let store = |files: &mut [FileEntry], i: usize, (bytes, outcome): (u64, ParseOutcome)| {
        let f = &mut files[i];
        f.bytes = bytes;
        f.outcome = outcome;
    };
    let alone = jobs.len() < PARALLEL_MIN_FILES || crate::provenance::cores() < 2;
    let kinds: Vec<FileKind> = jobs.iter().map(|(i, _)| files[*i].kind).collect();
    let batch = helper::Batch::new(jobs, kinds, opts.clone());
    let (mine, theirs) = if alone {
        (batch.work(), Vec::new())
    } else {
        helper::load_on_two(std::sync::Arc::new(batch))
    };
    for (i, loaded) in mine.into_iter().chain(theirs) {
        store(files, i, loaded);
    }
}

fn skipped(reason: String) -> ParseOutcome {
    ParseOutcome::Skipped { reason }
}

/// Reads one file once and parses it; never fails, returns (size, outcome).
///
/// Opens the file first and takes its size from the open file (one path lookup);
/// the bytes go to `buf` (cleared first, grown to the file's size if smaller), which
/// the caller reuses for its next file, so a walk allocates for its largest file
/// only, not once per file. If the file cannot be opened, [`load_by_path`] gives
/// the same outcome as before (a stat error, the size cap, or the open error as
/// "cannot read file").
fn load(
    path: &Path,
    kind: FileKind,
    opts: &IngestOptions,
    buf: &mut Vec<u8>,
) -> (u64, ParseOutcome) {
    let Ok(mut file) = std::fs::File::open(path) else {
        return load_by_path(path, kind, opts);
    };
    let Ok(meta) = file.metadata() else {
        return load_by_path(path, kind, opts);
    };
    let size = meta.len();
    if size > opts.max_file_bytes {
        return (size, over_cap(size, opts));
    }
    match read_whole(&mut file, size as usize, buf) {
        Ok(len) => (len as u64, parse_bytes(kind, &buf[..len])),
        Err(e) => (size, skipped(format!("cannot read file: {e}"))),
    }
}

/// Reads `file` from its start to its end into `buf`, as `read_to_end` does, and
/// returns the length read: the contents are `buf[..len]` (bytes past it are left
/// from earlier files). For a file of `size` bytes by its metadata: asks for one
/// byte more than `size` (zero-filling `buf` only where it was never that long, so a
/// reused buffer is not cleared per file). A read that stops exactly at `size`,
/// short of the byte past it, has met the end of the file as it was when read: a
/// regular file's read returns less than asked only at its end. So a file that is
/// the size its metadata says is read with one system call, without the second
/// read `File::read_to_end` makes to see the end, nor its calls for the size and
/// position. A file that shrank is read to where it ends; one that grew (the byte
/// past `size` came back) is read on to its end.
fn read_whole(
    file: &mut impl std::io::Read,
    size: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    use std::io::ErrorKind;
    let want = size + 1;
    if buf.len() < want {
        buf.try_reserve_exact(want - buf.len())?;
        buf.resize(want, 0);
    }
    let mut filled = 0;
    loop {
        match file.read(&mut buf[filled..want]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if filled == size {
            return Ok(size);
        }
        if filled == want {
            // It grew: read on to its end.
            buf.truncate(want);
            file.read_to_end(buf)?;
            return Ok(buf.len());
        }
    }
}

fn over_cap(size: u64, opts: &IngestOptions) -> ParseOutcome {
    skipped(format!(
        "file is {size} bytes, over the max_file_bytes cap of {}",
        opts.max_file_bytes
    ))
}

/// [`load`] by path: stat, then read (two path lookups).
fn load_by_path(path: &Path, kind: FileKind, opts: &IngestOptions) -> (u64, ParseOutcome) {
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => return (0, skipped(format!("cannot stat file: {e}"))),
    };
    if size > opts.max_file_bytes {
        return (size, over_cap(size, opts));
    }
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return (size, skipped(format!("cannot read file: {e}"))),
    };
    (data.len() as u64, parse_bytes(kind, &data))
}

/// Parses one file's contents as `kind`, exactly as [`ingest`] does after reading
/// it. Never panics; every problem (empty, not UTF-8, invalid JSON, ...) is a
/// [`ParseOutcome::Skipped`] with the reason. Public for the fuzz tests.
pub fn parse_bytes(kind: FileKind, data: &[u8]) -> ParseOutcome {
    if data.is_empty() {
        return skipped("empty file (0 bytes)".into());
    }
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => {
            return skipped(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ))
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let outcome = match kind {
        FileKind::Csv => csv_file::parse(text).map(ParseOutcome::Csv),
        FileKind::Json => json_file::parse(text).map(ParseOutcome::Json),
        FileKind::Markdown => Ok(ParseOutcome::Markdown(markdown::parse(text))),
    };
    outcome.unwrap_or_else(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_whole_reads_to_the_end_whatever_the_size_said() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = b"left over".to_vec();
        for len in [0usize, 1, 31, 32, 33, 100, 10_000, 5] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            // The size as stated, smaller (the file grew), larger (it shrank).
            for size in [len, len / 2, len + 40] {
                let mut file = std::fs::File::open(&path).unwrap();
                let n = read_whole(&mut file, size, &mut buf).unwrap();
                assert_eq!(buf[..n], data, "len {len}, size {size}");
            }
        }
    }

    /// Reads as a regular file does: as much as asked, up to its end; counts calls.
    struct FileLike<'a> {
        rest: &'a [u8],
        reads: usize,
    }

    impl std::io::Read for FileLike<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            self.reads += 1;
            let n = out.len().min(self.rest.len());
            out[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_file_the_size_its_metadata_says_takes_one_read() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut buf = vec![7u8; 9000];
        // The stated size: exact (one read), smaller (it grew: read on to its end, as
        // many reads as `read_to_end` makes), larger (it shrank: a second read meets
        // the end).
        for (size, reads) in [(5000, Some(1)), (0, None), (4999, None), (5001, Some(2))] {
            let mut file = FileLike {
                rest: &data,
                reads: 0,
            };
            let n = read_whole(&mut file, size, &mut buf).unwrap();
            assert_eq!(buf[..n], data, "stated size {size}");
            if let Some(reads) = reads {
                assert_eq!(file.reads, reads, "stated size {size}");
            }
        }
        let mut empty = FileLike {
            rest: &[],
            reads: 0,
        };
        assert_eq!(read_whole(&mut empty, 0, &mut buf).unwrap(), 0);
        assert_eq!(empty.reads, 1);
    }

    #[test]
    fn whole_path_order_is_file_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "a/b", "a.b", "ab", "a-b", "B", "a b", "\u{e9}"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
            for f in ["x.csv", "x", "X.md", "x.csv.json", "y"] {
                std::fs::write(dir.path().join(d).join(f), b"1").unwrap();
            }
        }
        for root in [dir.path().to_path_buf(), dir.path().join("a/../")] {
            let paths = |w: walkdir::WalkDir| -> Vec<PathBuf> {
                w.into_iter().map(|e| e.unwrap().into_path()).collect()
            };
            let want = paths(walkdir::WalkDir::new(&root).sort_by_file_name());
            let got = paths(
                walkdir::WalkDir::new(&root)
                    .sort_by(|a, b| a.path().as_os_str().cmp(b.path().as_os_str())),
            );
            assert_eq!(got, want);
            assert_eq!(want.len(), 1 + 8 + 8 * 5);
        }
    }

    #[test]
    fn rel_path_joins_components() {
        let root = Path::new("/r");
        for p in [
            "/r/a",
            "/r/a/b.json",
            "/r/a//b",
            "/r/./a",
            "/r/a/./b",
            "/r/a/",
            "/r/a/..",
            "/r",
            "/elsewhere/x",
            "relative/x",
            "./x",
            "x/.",
            "a/../b",
        ] {
            let p = Path::new(p);
            let want = joined_components(p.strip_prefix(root).unwrap_or(p));
            assert_eq!(rel_path(root, p), want, "{p:?}");
        }
    }
}
