//! One hyper 1 serving loop for the stubs that run on their own thread with a
//! current-thread tokio runtime (instant, fast, capacity): HTTP/1.1, keep-alive,
//! `TCP_NODELAY`, graceful stop.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};

use bytes::Bytes;
use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::StubError;

/// A serving loop on its own thread. Dropping it stops accepting and closes idle
/// connections; [`Server::shutdown`] also waits until every connection is closed.
pub(crate) struct Server {
    addr: SocketAddr,
    url: String,
    stop: watch::Sender<bool>,
    finished: Option<oneshot::Receiver<()>>,
}

impl Server {
    /// Serves `listener` with `handler` on a new thread named `name-PORT`. Returns once
    /// the listener is registered with the runtime.
    pub fn spawn<F, Fut, B>(
        listener: TcpListener,
        name: &str,
        handler: F,
    ) -> Result<Self, StubError>
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
        B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
    {
        let addr = listener.local_addr().map_err(StubError::Bind)?;
        listener.set_nonblocking(true).map_err(StubError::Bind)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StubError::Runtime)?;
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, finished) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("{name}-{}", addr.port()))
            .spawn(move || {
                rt.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => {
                            let _ = ready_tx.send(Ok(()));
                            accept_loop(l, handler, stop_rx).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                let _ = done_tx.send(());
            })
            .map_err(StubError::Runtime)?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StubError::Bind(e)),
            Err(_) => {
                return Err(StubError::Runtime(std::io::Error::other(
                    "stub thread died",
                )))
            }
        }
        Ok(Server {
            addr,
            url: format!("http://{addr}"),
            stop,
            finished: Some(finished),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting, lets in-flight responses finish, waits for every connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(f) = self.finished.take() {
            let _ = f.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop<F, Fut, B>(
    listener: tokio::net::TcpListener,
    handler: F,
    mut stop: watch::Receiver<bool>,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // e.g. out of file descriptors: back off instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let mut stop = stop.clone();
                conns.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(handler));
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}
