//! `serve`'s HTTP server: hyper behind limits that a slow or idle client cannot outwait.
//!
//! - at most `MAX_CONNECTIONS` connections; one more gets a canned 503 and is closed;
//! - a request's head must arrive within `HEADER_READ_TIMEOUT_SECS` (hyper's HTTP/1 header
//!   timeout, which also closes idle keep-alive connections), and a connection's first request
//!   too, whatever its protocol (an HTTP/2 preface that never comes);
//! - a write that makes no progress for `IDLE_TIMEOUT_SECS` (the client stopped reading) fails
//!   the connection, which drops the response and with it the Bedrock call; for HTTP/2, where
//!   one stream can stall without the socket doing so, [`super::watch`] does the
//!   same per response.
//!
//! Body limits (size, time, unauthenticated bytes) are the intake's: [`super::intake`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Sleep;
use tower::ServiceExt as _;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// How long a write may wait for the client to read.
    pub write_stall: Duration,
}

/// Largest request head (HTTP/1 read buffer, HTTP/2 header list).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Streams one HTTP/2 connection may open at once.
const MAX_H2_STREAMS: u32 = 64;

/// The canned answer to a connection past `MAX_CONNECTIONS`.
fn busy_response() -> Vec<u8> {
    let body = r#"{"error":{"type":"server_busy","message":"this server holds as many connections as MAX_CONNECTIONS allows; retry shortly"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open connections finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse(tcp));
            continue;
        };
        let app = app.clone();
        let builder = Arc::clone(&builder);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let seen = Arc::new(AtomicBool::new(false));
            let seen_in = Arc::clone(&seen);
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                seen_in.store(true, Ordering::Relaxed);
                app.clone().oneshot(req.map(Body::new))
            });
            let io = TokioIo::new(GuardedIo::new(tcp, limits.write_stall));
            let conn = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(conn);
            let first = tokio::time::sleep(limits.header_read_timeout);
            tokio::pin!(first);
            let mut first_done = false;
            let mut stopping = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    () = &mut first, if !first_done => {
                        first_done = true;
                        if !seen.load(Ordering::Relaxed) {
                            // Nothing usable within the header timeout: drop the connection.
                            break;
                        }
                    }
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    let _ = stop_tx.send(true);
    // Every slot back means every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// A connection past `MAX_CONNECTIONS`: a 503 if the socket takes it at once, then close.
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_millis(200), tcp.write_all(&busy_response())).await;
    let _ = tokio::time::timeout(Duration::from_millis(200), tcp.shutdown()).await;
}

/// A TCP stream whose writes fail with `TimedOut` once one has waited `stall` for the client to
/// read: hyper then drops the connection, the response and the Bedrock call behind it.
pub(crate) struct GuardedIo {
    inner: TcpStream,
    stall: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl GuardedIo {
    pub(crate) fn new(inner: TcpStream, stall: Duration) -> Self {
        GuardedIo {
            inner,
            stall,
            timer: None,
        }
    }

    /// After a write returned `Pending`: has the wait lasted `stall`?
    fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        let stall = self.stall;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        timer.as_mut().poll(cx).is_ready()
    }

    fn progress<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match r {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending if self.stalled(cx) => {
                tracing::warn!(
                    stall_secs = self.stall.as_secs(),
                    "the client stopped reading; closing its connection"
                );
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client stopped reading",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.progress(cx, r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Instant;

    /// What ends an HTTP/1.1 stream whose client stopped reading: the guarded socket's writes
    /// fail once one has waited the stall time, and not before.
    #[tokio::test]
    async fn a_write_that_waits_the_stall_time_fails() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let peer = socket
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let mut io = GuardedIo::new(tcp, Duration::from_millis(300));
        let chunk = vec![b'x'; 16 * 1024];
        let (t0, mut written) = (Instant::now(), 0usize);
        // Bounded: the peer never reads, so the buffers fill within some megabytes.
        let err = loop {
            match tokio::time::timeout(Duration::from_secs(10), io.write_all(&chunk)).await {
                Ok(Ok(())) => written += chunk.len(),
                Ok(Err(e)) => break e,
                Err(_) => panic!("no error after {written} bytes"),
            }
            assert!(written < 256 << 20, "the peer's buffers never filled");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t0.elapsed()
        );
        drop(peer);
    }
}
