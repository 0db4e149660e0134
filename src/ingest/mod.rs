//! TEMPORARY placeholder with the agreed API; replaced by the content branch.
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub max_file_bytes: u64,
}
impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 16 << 20,
        }
    }
}
#[derive(Debug, thiserror::Error)]
#[error("corpus root {0} missing")]
pub struct IngestError(pub PathBuf);
#[derive(Debug, Clone, Serialize)]
pub struct Corpus {
    pub root: PathBuf,
}
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Default)]
pub struct CorpusStats {
    pub files: u64,
}
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {}
impl Corpus {
    pub fn stats(&self) -> CorpusStats {
        CorpusStats { files: 0 }
    }
}
pub fn ingest(root: &Path, _o: &IngestOptions) -> Result<Corpus, IngestError> {
    if root.is_dir() {
        Ok(Corpus { root: root.into() })
    } else {
        Err(IngestError(root.into()))
    }
}
pub fn summarize(_c: &Corpus) -> DataSummary {
    DataSummary {}
}
