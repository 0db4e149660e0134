//! Server provenance: `/api/version`, `/api/show`, `/api/tags` (Ollama);
//! `/v1/models` and, best effort, llama.cpp's `/props` or vLLM's `/version`
//! (OpenAI-compatible).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::call::Protocol;
use super::LlmClient;

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
    /// Nothing answered `GET /v1/models` at the URL (OpenAI-compatible protocol).
    #[error("no OpenAI-compatible server reachable at {url}: {reason} (start it, e.g. `scripts/llama-server.sh start`, and pass its URL with --base-url; or use --protocol ollama)")]
    UnreachableOpenAi {
        /// The base URL probed.
        url: String,
        /// The underlying cause.
        reason: String,
    },
    /// `GET /v1/models` does not list the model.
    #[error("model {model} is not served at {url}: GET /v1/models lists {available}; pass one of them with --model")]
    ModelNotServed {
        /// The model asked for.
        model: String,
        /// The base URL.
        url: String,
        /// The ids listed, comma-separated.
        available: String,
    },
}

/// What a [`LlmClient::probe_kept`] learned, kept so that provenance
/// ([`LlmClient::server_info_after_probe`]) does not ask the server again: Ollama's
/// version, or the OpenAI-compatible server's `/v1/models` list.
#[derive(Debug, Clone)]
pub struct Probed {
    answer: String,
    models: Option<Vec<OpenAiModel>>,
}

impl Probed {
    /// The probe's answer as [`LlmClient::probe`] returns it: Ollama's version, or
    /// the model ids (comma-separated).
    pub fn answer(&self) -> &str {
        &self.answer
    }
}

/// An Ollama probe's answer (the version), as [`LlmClient::probe`] returned it.
impl From<String> for Probed {
    fn from(answer: String) -> Self {
        Self {
            answer,
            models: None,
        }
    }
}

impl LlmClient {
    /// Whether a server answers within `limit`: `GET /api/version` (Ollama; `Ok` holds
    /// the version) or `GET /v1/models` (OpenAI-compatible; `Ok` holds the model ids,
    /// comma-separated).
    pub async fn probe(&self, limit: Duration) -> Result<String, ServerProbeError> {
        self.probe_kept(limit).await.map(|p| p.answer)
    }

    /// [`LlmClient::probe`], keeping what the server said for
    /// [`LlmClient::server_info_after_probe`], so that a run asks `/api/version` or
    /// `/v1/models` once.
    pub async fn probe_kept(&self, limit: Duration) -> Result<Probed, ServerProbeError> {
        if self.protocol() == Protocol::OpenAi {
            let models = self.openai_models(limit).await?;
            let answer = models
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(",");
            return Ok(Probed {
                answer,
                models: Some(models),
            });
        }
        let unreachable = |reason: String| ServerProbeError::Unreachable {
            url: self.base_url().to_string(),
            reason,
        };
        let (_, body) = self
            .exchange("/api/version", None, limit)
            .await
            .map_err(unreachable)?;
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| unreachable(format!("not an Ollama server ({e})")))?;
        Ok(Probed::from(
            value
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_string(),
        ))
    }

    /// Gathers provenance for `model`. `Err` only when the server reports the model
    /// missing (404 from `/api/show`); other failures become notes.
    pub async fn server_info(&self, model: &str) -> Result<ServerInfo, ServerProbeError> {
        self.server_info_after_probe(model, None).await
    }

    /// Like [`LlmClient::server_info`], with what a probe of this client already
    /// learned (`Some`, from [`LlmClient::probe_kept`], or an Ollama version from
    /// [`LlmClient::probe`] via `Probed::from`): Ollama's version, or the
    /// OpenAI-compatible server's `/v1/models` list, is taken from it instead of asking
    /// the server a second time.
    pub async fn server_info_after_probe(
        &self,
        model: &str,
        probed: Option<Probed>,
    ) -> Result<ServerInfo, ServerProbeError> {
        if self.protocol() == Protocol::OpenAi {
            return self
                .openai_server_info(model, probed.and_then(|p| p.models))
                .await;
        }
        let limit = Duration::from_secs(10);
        let mut info = ServerInfo::default();
        let version = match probed {
            Some(p) => Ok(p.answer),
            None => self.probe(limit).await,
        };
        match version {
            Ok(v) => info.version = Some(v),
            Err(e) => info.notes.push(format!("/api/version: {e}")),
        }
        let show = serde_json::json!({ "model": model });
        match self.exchange("/api/show", Some(&show), limit).await {
            Ok((404, _)) => {
                return Err(ServerProbeError::ModelNotFound {
                    model: model.to_string(),
                    url: self.base_url().to_string(),
                })
            }
            Ok((200..=299, body)) => match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(v) => info.model_details = v.get("details").cloned(),
                Err(e) => info.notes.push(format!("/api/show: {e}")),
            },
            Ok((status, _)) => info
                .notes
                .push(format!("/api/show: HTTP {}", status_text(status))),
            Err(e) => info.notes.push(format!("/api/show: {e}")),
        }
        match self.exchange("/api/tags", None, limit).await {
            Ok((_, body)) => match serde_json::from_slice::<Tags>(&body) {
                Ok(tags) => {
                    info.model_digest = tags
                        .models
                        .into_iter()
                        .find(|m| m.name == model || m.model.as_deref() == Some(model))
                        .and_then(|m| m.digest);
                }
                Err(e) => info.notes.push(format!("/api/tags: {e}")),
            },
            Err(e) => info.notes.push(format!("/api/tags: {e}")),
        }
        Ok(info)
    }
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, Deserialize)]
struct OpenAiModel {
    #[serde(default)]
    id: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct OpenAiModels {
    #[serde(default)]
    data: Vec<OpenAiModel>,
}

impl LlmClient {
    async fn openai_models(&self, limit: Duration) -> Result<Vec<OpenAiModel>, ServerProbeError> {
        let unreachable = |reason: String| ServerProbeError::UnreachableOpenAi {
            url: self.base_url().to_string(),
            reason,
        };
        let (status, body) = self
            .exchange("/v1/models", None, limit)
            .await
            .map_err(unreachable)?;
        if !(200..300).contains(&status) {
            return Err(unreachable(format!(
                "GET /v1/models answered HTTP {}",
                status_text(status)
            )));
        }
        let models: OpenAiModels = serde_json::from_slice(&body).map_err(|e| {
            unreachable(format!("GET /v1/models is not an OpenAI model list ({e})"))
        })?;
        Ok(models.data)
    }

    /// Provenance from an OpenAI-compatible server: the model's `/v1/models` entry as
    /// its details (`Err` when the list does not have it), the version from llama.cpp's
    /// `/props` (`build_info`) or vLLM's `/version`, when either answers. `probed`: the
    /// list a probe of this client already fetched (not asked again).
    async fn openai_server_info(
        &self,
        model: &str,
        probed: Option<Vec<OpenAiModel>>,
    ) -> Result<ServerInfo, ServerProbeError> {
        let limit = Duration::from_secs(10);
        let models = match probed {
            Some(models) => models,
            None => self.openai_models(limit).await?,
        };
        let mut info = ServerInfo::default();
        let entry = models
            .iter()
            .find(|m| m.id == model || m.id.strip_suffix(":latest") == Some(model));
        match entry {
            Some(m) => {
                let mut details = m.rest.clone();
                details.insert("id".into(), m.id.clone().into());
                info.model_details = Some(serde_json::Value::Object(details));
            }
            None if models.is_empty() => info
                .notes
                .push("/v1/models: the list is empty; the model name is not checked".into()),
            None => {
                return Err(ServerProbeError::ModelNotServed {
                    model: model.to_string(),
                    url: self.base_url().to_string(),
                    available: models
                        .iter()
                        .map(|m| m.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
        info.notes
            .push("no model digest: the OpenAI protocol does not report one".into());
        let get = |path: &'static str| async move {
            match self.exchange(path, None, limit).await {
                Ok((200..=299, body)) => serde_json::from_slice::<serde_json::Value>(&body).ok(),
                _ => None,
            }
        };
        if let Some(v) = get("/props").await.and_then(|p| {
            p.get("build_info")
                .and_then(|b| b.as_str())
                .map(|b| format!("llama.cpp {b}"))
        }) {
            info.version = Some(v);
        } else if let Some(v) = get("/version").await.and_then(|p| {
            p.get("version")
                .and_then(|b| b.as_str())
                .map(str::to_string)
        }) {
            info.version = Some(v);
        } else {
            info.notes
                .push("no server version: neither /props (llama.cpp) nor /version answered".into());
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

/// A status code as reqwest's `StatusCode` displayed it ("404 Not Found").
pub(crate) fn status_text(code: u16) -> String {
    match reqwest::StatusCode::from_u16(code) {
        Ok(s) => s.to_string(),
        Err(_) => code.to_string(),
    }
}
