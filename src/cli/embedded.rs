//! An embedded stub on its own thread and runtime, so that the stub's work never
//! shares a thread with the client being measured.

use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use tokio::sync::oneshot;

use crate::stub::{InstantStub, PacedStub, StubProfile};

/// A stub serving on 127.0.0.1 until dropped.
pub struct EmbeddedStub {
    url: String,
    profile_name: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedStub {
    /// Starts the stub profile `profile_name` serving `model`: the zero-latency
    /// wiremock stub for `instant`, the paced server otherwise.
    pub fn start(profile_name: &str, model: &str) -> Result<Self> {
        let profile = StubProfile::named(profile_name)
            .map_err(|e| anyhow!("{e}"))?
            .with_models([model.to_string()]);
        let instant = profile_name == "instant";
        let (url_tx, url_rx) = mpsc::channel::<Result<String, String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("agentbench-stub".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = url_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    if instant {
                        match InstantStub::start(profile).await {
                            Ok(stub) => {
                                let _ = url_tx.send(Ok(stub.url().to_string()));
                                let _ = stop_rx.await;
                            }
                            Err(e) => {
                                let _ = url_tx.send(Err(e.to_string()));
                            }
                        }
                    } else {
                        match PacedStub::start(profile).await {
                            Ok(stub) => {
                                let _ = url_tx.send(Ok(stub.url().to_string()));
                                let _ = stop_rx.await;
                            }
                            Err(e) => {
                                let _ = url_tx.send(Err(e.to_string()));
                            }
                        }
                    }
                });
            })
            .context("cannot start the stub thread")?;
        let url = url_rx
            .recv()
            .context("the stub thread ended before it was serving")?
            .map_err(|e| anyhow!("the embedded stub could not start: {e}"))?;
        Ok(Self {
            url,
            profile_name: profile_name.to_string(),
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The profile served.
    pub fn profile_name(&self) -> &str {
        &self.profile_name
    }
}

impl Drop for EmbeddedStub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
