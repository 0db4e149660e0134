//! Server provenance: `/api/version`, `/api/show`, `/api/tags`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::stream::root_cause;
use super::OllamaClient;

/// What the server says about itself and the model. Each part is best effort:
/// absent when the server does not answer it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `/api/version` → `version`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    /// The model's digest from `/api/tags`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model_digest: Option<String>,
    /// `/api/show` → `details` (family, parameter_size, quantization_level, ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub model_details: Option<serde_json::Value>,
    /// Why a part is missing, one line per part.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// The server could not be reached or does not have the model.
#[derive(Debug, Error)]
pub enum ServerProbeError {
    /// Nothing answered at the URL.
    #[error("no Ollama server reachable at {url}: {reason} (start `ollama serve`, or set OLLAMA_HOST / --base-url)")]
    Unreachable {
        /// The base URL probed.
        url: String,
        /// The underlying cause.
        reason: String,
    },
    /// The server answered 404 for the model.
    #[error("model {model} not found at {url} (try `ollama pull {model}`)")]
    ModelNotFound {
        /// The model asked for.
        model: String,
        /// The base URL.
        url: String,
    },
}

impl OllamaClient {
    /// `GET /api/version` within `limit`: `Ok(version)` when a server answers.
    pub async fn probe(&self, limit: Duration) -> Result<String, ServerProbeError> {
        let url = format!("{}/api/version", self.base_url());
        let unreachable = |reason: String| ServerProbeError::Unreachable {
            url: self.base_url().to_string(),
            reason,
        };
        let response = tokio::time::timeout(limit, self.http().get(&url).send())
            .await
            .map_err(|_| unreachable(format!("no answer within {} ms", limit.as_millis())))?
            .map_err(|e| unreachable(root_cause(&e)))?;
        let value: serde_json::Value = tokio::time::timeout(limit, response.json())
            .await
            .map_err(|_| unreachable("the version body did not arrive".into()))?
            .map_err(|e| unreachable(format!("not an Ollama server ({})", root_cause(&e))))?;
        Ok(value
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string())
    }

    /// Gathers provenance for `model`. `Err` only when the server reports the model
    /// missing (404 from `/api/show`); other failures become notes.
    pub async fn server_info(&self, model: &str) -> Result<ServerInfo, ServerProbeError> {
        let limit = Duration::from_secs(10);
        let mut info = ServerInfo::default();
        match self.probe(limit).await {
            Ok(v) => info.version = Some(v),
            Err(e) => info.notes.push(format!("/api/version: {e}")),
        }
        let show_url = format!("{}/api/show", self.base_url());
        let show = self
            .http()
            .post(&show_url)
            .json(&serde_json::json!({ "model": model }))
            .timeout(limit)
            .send()
            .await;
        match show {
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                return Err(ServerProbeError::ModelNotFound {
                    model: model.to_string(),
                    url: self.base_url().to_string(),
                })
            }
            Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                Ok(v) => info.model_details = v.get("details").cloned(),
                Err(e) => info.notes.push(format!("/api/show: {}", root_cause(&e))),
            },
            Ok(r) => info.notes.push(format!("/api/show: HTTP {}", r.status())),
            Err(e) => info.notes.push(format!("/api/show: {}", root_cause(&e))),
        }
        let tags_url = format!("{}/api/tags", self.base_url());
        match self.http().get(&tags_url).timeout(limit).send().await {
            Ok(r) => match r.json::<Tags>().await {
                Ok(tags) => {
                    info.model_digest = tags
                        .models
                        .into_iter()
                        .find(|m| m.name == model || m.model.as_deref() == Some(model))
                        .and_then(|m| m.digest);
                }
                Err(e) => info.notes.push(format!("/api/tags: {}", root_cause(&e))),
            },
            Err(e) => info.notes.push(format!("/api/tags: {}", root_cause(&e))),
        }
        Ok(info)
    }
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<TagModel>,
}

#[derive(Deserialize)]
struct TagModel {
    #[serde(default)]
    name: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}
