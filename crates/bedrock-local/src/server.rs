//! Binding and serving: HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port, with
//! TCP_NODELAY so each frame leaves as soon as it is written, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::activity::{Activity, ActivitySnapshot};
use crate::engine::Engine;
use crate::faults::{Fault, Faults};
use crate::state::AppState;

/// A local Bedrock runtime endpoint around one engine.
#[derive(Clone)]
pub struct LocalBedrock {
    state: Arc<AppState>,
}

impl LocalBedrock {
    pub fn new(engine: Arc<dyn Engine>) -> Self {
        LocalBedrock {
            state: Arc::new(AppState {
                engine,
                faults: Faults::default(),
                activity: Arc::new(Activity::default()),
            }),
        }
    }

    pub fn describe(&self) -> String {
        self.state.engine.describe()
    }

    /// The axum router, for embedding or for `oneshot` tests.
    pub fn router(&self) -> axum::Router {
        crate::routes::router(Arc::clone(&self.state))
    }

    /// Queues a fault directly (the same as `POST /_emulator/faults`).
    pub fn inject(&self, fault: Fault) {
        self.state.faults.push(fault);
    }

    pub fn activity(&self) -> ActivitySnapshot {
        self.state.activity.snapshot()
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let listener = listener.tap_io(|tcp| {
            // Best effort: without it a frame may wait for the peer's delayed ACK.
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Binds `addr` and serves in the background.
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<RunningServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let this = self.clone();
        let task = tokio::spawn(async move {
            this.serve(listener, async {
                let _ = rx.await;
            })
            .await
        });
        Ok(RunningServer {
            addr,
            server: self,
            shutdown: Some(tx),
            task,
        })
    }
}

/// A server running in the background; shuts down when dropped or on [`RunningServer::stop`].
pub struct RunningServer {
    pub addr: SocketAddr,
    pub server: LocalBedrock,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// `http://127.0.0.1:PORT`, for `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
