//! Model lifecycle: which models are loaded (`GET /api/ps`), loading (empty prompt)
//! and unloading (empty prompt with `keep_alive: 0`), and preparing a run's
//! [`StartState`]: cold = unloaded and verified absent, warm = loaded with the run's
//! options and verified present.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::server_info::status_text;
use super::{LlmClient, RequestSettings};

/// How the model's state was set before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StartState {
    /// Nothing done before the run: the model is as it comes.
    #[default]
    AsIs,
    /// Unloaded first (empty prompt, `keep_alive: 0`), verified absent in `/api/ps`:
    /// the run's first call loads the model.
    Cold,
    /// Loaded first (empty prompt, with the run's options), verified present in
    /// `/api/ps`: the run's first call finds the model loaded.
    Warm,
}

impl StartState {
    /// `as-is`, `cold` or `warm`.
    pub fn name(self) -> &'static str {
        match self {
            StartState::AsIs => "as-is",
            StartState::Cold => "cold",
            StartState::Warm => "warm",
        }
    }
}

impl std::str::FromStr for StartState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "as-is" => Ok(StartState::AsIs),
            "cold" => Ok(StartState::Cold),
            "warm" => Ok(StartState::Warm),
            other => Err(format!(
                "unknown start state {other:?}; valid: as-is, cold, warm"
            )),
        }
    }
}

/// One entry of `GET /api/ps`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PsModel {
    /// Model name with tag.
    #[serde(default)]
    pub name: String,
    /// Model name as Ollama also reports it.
    #[serde(default)]
    pub model: String,
    /// Bytes held in VRAM.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub size_vram: Option<u64>,
    /// When the model will be unloaded (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<String>,
}

#[derive(Deserialize)]
struct Ps {
    #[serde(default)]
    models: Vec<PsModel>,
}

/// A start state could not be prepared.
#[derive(Debug, Error)]
pub enum LifecycleError {
    /// A lifecycle request failed.
    #[error("{what} at {url} failed: {reason}")]
    Request {
        /// Which request (e.g. `GET /api/ps`).
        what: &'static str,
        /// The base URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// `/api/ps` still listed the model after unloading it.
    #[error("model {model} is still listed by GET /api/ps {waited_ms} ms after unloading it")]
    StillLoaded {
        /// The model.
        model: String,
        /// How long we polled.
        waited_ms: u128,
    },
    /// `/api/ps` did not list the model after loading it.
    #[error("model {model} is not listed by GET /api/ps {waited_ms} ms after loading it")]
    NotLoaded {
        /// The model.
        model: String,
        /// How long we polled.
        waited_ms: u128,
    },
}

/// `name` with `:latest` when it has no tag, as Ollama matches names.
fn full_name(name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

impl PsModel {
    /// Whether this entry is `model` (tags normalized).
    pub fn is(&self, model: &str) -> bool {
        let want = full_name(model);
        full_name(&self.name) == want || (!self.model.is_empty() && full_name(&self.model) == want)
    }
}

/// How long [`LlmClient::prepare`] polls `/api/ps` for the expected state.
pub const VERIFY_LIMIT: Duration = Duration::from_secs(15);

impl LlmClient {
    fn lifecycle_err(&self, what: &'static str, reason: String) -> LifecycleError {
        LifecycleError::Request {
            what,
            url: self.base_url().to_string(),
            reason,
        }
    }

    /// `GET /api/ps`: the models loaded now.
    pub async fn loaded_models(&self) -> Result<Vec<PsModel>, LifecycleError> {
        const WHAT: &str = "GET /api/ps";
        let (status, body) = self
            .exchange("/api/ps", None, Duration::from_secs(10))
            .await
            .map_err(|e| self.lifecycle_err(WHAT, e))?;
        if !(200..300).contains(&status) {
            return Err(self.lifecycle_err(WHAT, format!("HTTP {}", status_text(status))));
        }
        let ps: Ps =
            serde_json::from_slice(&body).map_err(|e| self.lifecycle_err(WHAT, e.to_string()))?;
        Ok(ps.models)
    }

    /// Whether `/api/ps` lists `model`.
    pub async fn is_loaded(&self, model: &str) -> Result<bool, LifecycleError> {
        Ok(self.loaded_models().await?.iter().any(|m| m.is(model)))
    }

    async fn empty_generate(
        &self,
        what: &'static str,
        body: serde_json::Value,
    ) -> Result<(), LifecycleError> {
        let (status, body) = self
            .exchange("/api/generate", Some(&body), self.timeouts().idle)
            .await
            .map_err(|e| self.lifecycle_err(what, e))?;
        let text = String::from_utf8_lossy(&body);
        if !(200..300).contains(&status) || text.contains("\"error\"") {
            return Err(self.lifecycle_err(
                what,
                format!("HTTP {}: {}", status_text(status), text.trim()),
            ));
        }
        Ok(())
    }

    /// Loads `model` with `settings`' options (empty prompt, not streamed). Loading
    /// with the run's options means its first call will not reload.
    pub async fn load_model(
        &self,
        model: &str,
        settings: &RequestSettings,
    ) -> Result<(), LifecycleError> {
        let mut body = serde_json::json!({
            "model": model, "prompt": "", "stream": false, "options": settings.options,
        });
        if let Some(k) = &settings.keep_alive {
            body["keep_alive"] = k.clone();
        }
        self.empty_generate("load (POST /api/generate, empty prompt)", body)
            .await
    }

    /// Unloads `model` (empty prompt, `keep_alive: 0`).
    pub async fn unload_model(&self, model: &str) -> Result<(), LifecycleError> {
        let body =
            serde_json::json!({ "model": model, "prompt": "", "stream": false, "keep_alive": 0 });
        self.empty_generate("unload (POST /api/generate, keep_alive 0)", body)
            .await
    }

    /// Polls `/api/ps` until `model`'s presence equals `present` or `limit` passes.
    pub async fn wait_loaded(
        &self,
        model: &str,
        present: bool,
        limit: Duration,
    ) -> Result<bool, LifecycleError> {
        let start = Instant::now();
        loop {
            if self.is_loaded(model).await? == present {
                return Ok(true);
            }
            if start.elapsed() >= limit {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Puts the server in `state` for `model`: nothing for [`StartState::AsIs`];
    /// unload and verify absent for [`StartState::Cold`]; load with `settings` and
    /// verify present for [`StartState::Warm`].
    pub async fn prepare(
        &self,
        model: &str,
        state: StartState,
        settings: &RequestSettings,
    ) -> Result<(), LifecycleError> {
        let start = Instant::now();
        match state {
            StartState::AsIs => Ok(()),
            StartState::Cold => {
                self.unload_model(model).await?;
                if self.wait_loaded(model, false, VERIFY_LIMIT).await? {
                    Ok(())
                } else {
                    Err(LifecycleError::StillLoaded {
                        model: model.to_string(),
                        waited_ms: start.elapsed().as_millis(),
                    })
                }
            }
            StartState::Warm => {
                self.load_model(model, settings).await?;
                if self.wait_loaded(model, true, VERIFY_LIMIT).await? {
                    Ok(())
                } else {
                    Err(LifecycleError::NotLoaded {
                        model: model.to_string(),
                        waited_ms: start.elapsed().as_millis(),
                    })
                }
            }
        }
    }
}
