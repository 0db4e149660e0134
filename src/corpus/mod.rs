//! Deterministic generator of a realistic benchmark corpus (CSV timings, JSON results,
//! Markdown summaries) shaped like the one the seed study's agents ingested.
//!
//! Guarantee: for a given seed, [`generate`] writes byte-identical files (no wall clock,
//! no hash-map order, a PRNG defined in this crate). Seed 112 produces the committed
//! `mock-data/` tree: 101 files (28 CSV, 44 JSON, 29 Markdown), roughly 430 KB.

mod render;
mod sim;

pub use crate::rng::SplitMix64;

use serde::Serialize;
use std::path::{Path, PathBuf};

/// Failure to write the corpus; names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A directory could not be created.
    #[error("cannot create directory {path}: {source} (check permissions and free space)")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source} (check permissions and free space)")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What [`generate`] wrote: counts per kind and total bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GeneratedCorpus {
    /// Output directory as given.
    pub root: PathBuf,
    /// Seed used.
    pub seed: u64,
    /// Number of files written (always `csv + json + markdown`).
    pub files: usize,
    /// CSV files written.
    pub csv: usize,
    /// JSON files written.
    pub json: usize,
    /// Markdown files written.
    pub markdown: usize,
    /// Sum of the sizes of all files written.
    pub bytes: u64,
    /// Paths written, relative to `root`, `/`-separated, in generation order.
    pub paths: Vec<String>,
}

/// One generated file: relative path and contents.
pub(crate) struct GenFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Builds the corpus in memory (deterministic for `seed`); [`generate`] writes it out.
pub(crate) fn build(seed: u64) -> Vec<GenFile> {
    render::build(seed)
}

/// Writes the corpus for `seed` under `out` (created if missing; existing files with the
/// same names are overwritten, other files are left alone).
///
/// Guarantees: exactly 101 files (28 `.csv`, 44 `.json`, 29 `.md`) under `out/reports/`
/// and `out/csv_data/`; identical bytes for identical seeds; timestamps derived from the
/// seed only.
pub fn generate(out: &Path, seed: u64) -> Result<GeneratedCorpus, CorpusError> {
    let files = build(seed);
    let mut result = GeneratedCorpus {
        root: out.to_path_buf(),
        seed,
        files: files.len(),
        csv: 0,
        json: 0,
        markdown: 0,
        bytes: 0,
        paths: Vec::with_capacity(files.len()),
    };
    for f in &files {
        let path = out.join(&f.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| CorpusError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, &f.bytes).map_err(|source| CorpusError::Write {
            path: path.clone(),
            source,
        })?;
        if f.path.ends_with(".csv") {
            result.csv += 1;
        } else if f.path.ends_with(".json") {
            result.json += 1;
        } else {
            result.markdown += 1;
        }
        result.bytes += f.bytes.len() as u64;
        result.paths.push(f.path.clone());
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn mock_data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data")
    }

    fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut map = BTreeMap::new();
        for e in walkdir::WalkDir::new(root).sort_by_file_name() {
            let e = e.unwrap();
            if e.file_type().is_file() {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if rel == ".gitattributes" {
                    continue;
                }
                map.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
        map
    }

    /// Regenerates the committed corpus: `cargo test regenerate_mock_data -- --ignored`.
    #[test]
    #[ignore]
    fn regenerate_mock_data() {
        let dir = mock_data_dir();
        for sub in ["reports", "csv_data"] {
            let _ = std::fs::remove_dir_all(dir.join(sub));
        }
        let g = generate(&dir, 112).unwrap();
        println!("{} files, {} bytes", g.files, g.bytes);
    }

    #[test]
    fn counts_sizes_and_layout() {
        let files = build(112);
        let count = |ext: &str| files.iter().filter(|f| f.path.ends_with(ext)).count();
        assert_eq!(files.len(), 101);
        assert_eq!((count(".csv"), count(".json"), count(".md")), (28, 44, 29));
        let total: usize = files.iter().map(|f| f.bytes.len()).sum();
        assert!((400_000..=450_000).contains(&total), "total {total}");
        assert!(files
            .iter()
            .all(|f| f.path.starts_with("reports/") || f.path.starts_with("csv_data/")));
        assert!(files
            .iter()
            .filter(|f| f.path.starts_with("csv_data/"))
            .all(|f| !f.path.ends_with(".md")));
        let mut paths: Vec<_> = files.iter().map(|f| &f.path).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 101, "duplicate paths");
    }

    #[test]
    fn same_seed_same_bytes_other_seed_differs() {
        let a = build(5);
        let b = build(5);
        let c = build(6);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.path == y.path && x.bytes == y.bytes));
        assert!(a.iter().zip(&c).any(|(x, y)| x.bytes != y.bytes));
    }

    #[test]
    fn committed_mock_data_is_seed_112_output() {
        let tmp = tempfile::tempdir().unwrap();
        let g = generate(tmp.path(), 112).unwrap();
        assert_eq!(g.files, 101);
        let fresh = read_tree(tmp.path());
        let committed = read_tree(&mock_data_dir());
        assert_eq!(
            fresh.keys().collect::<Vec<_>>(),
            committed.keys().collect::<Vec<_>>(),
            "mock-data/ file set differs from generate(seed 112); run `cargo test regenerate_mock_data -- --ignored`"
        );
        for (path, bytes) in &fresh {
            assert!(
                committed[path] == *bytes,
                "{path} differs from generate(seed 112)"
            );
        }
    }
}
