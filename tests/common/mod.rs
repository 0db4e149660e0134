//! Helpers shared by integration tests.
#![allow(dead_code)]

use agentbench::client::{Endpoint, RequestSettings, ServerInfo};
use agentbench::ingest::{ingest, IngestOptions};
use agentbench::provenance::{Harness, Host};
use agentbench::record::{Backend, CorpusInfo, Header, SCHEMA_VERSION};

/// A header for records made against `url` on mock-data/.
pub fn header(url: &str) -> Header {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mock-data");
    let corpus = ingest(&root, &IngestOptions::default()).unwrap();
    Header {
        schema_version: SCHEMA_VERSION,
        harness: Harness::current(),
        created_unix_ns: 1,
        host: Host::current(),
        backend: Backend {
            url: url.to_string(),
            protocol: "ollama".into(),
            endpoint: Endpoint::Generate,
            stub: Some("instant".into()),
        },
        server: ServerInfo::default(),
        model: "gemma3:latest".into(),
        settings: RequestSettings::default(),
        corpus: CorpusInfo {
            root: root.display().to_string(),
            stats: corpus.stats(),
        },
        prompt_templates: Default::default(),
    }
}
