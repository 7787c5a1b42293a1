//! Body adapters.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// Ends a body cleanly at its first error instead of aborting the connection. For local HTTP
/// servers: the error was already told in-band, and an abort could lose bytes still buffered.
/// (The Lambda adapter keeps the error and turns it into Runtime API trailers.)
pub struct EndOnError {
    inner: Body,
    done: bool,
}

impl EndOnError {
    pub fn new(inner: Body) -> Self {
        EndOnError { inner, done: false }
    }
}

impl HttpBody for EndOnError {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Err(_))) => {
                self.done = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        // A whole body (a JSON error) keeps its length: sent with Content-Length, not chunked.
        self.inner.size_hint()
    }
}

/// Applies [`EndOnError`] to every response of a router.
pub fn end_streams_cleanly(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::map_response(
        |response: axum::response::Response| async move {
            response.map(|b| Body::new(EndOnError::new(b)))
        },
    ))
}
