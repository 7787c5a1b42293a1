//! Streamed responses are handed to the connection through a one-frame channel by a task of
//! their own: when the client stops taking frames (its socket is full, or its HTTP/2 window is
//! closed) for the idle timeout, the task drops the response body, and with it the Bedrock call
//! and the stream's place among `MAX_CONCURRENT_STREAMS`. The handler's own idle timer only
//! runs while the body is being read, so without this a client that stops reading would hold
//! both for as long as it keeps the connection.
//!
//! Only HTTP/2 responses need it: an HTTP/1.1 connection carries one response at a time, so a
//! client that stops reading stalls the socket itself, and `server::GuardedIo` failing a write
//! that waits the idle timeout ends the connection and the response with it. The pump costs a
//! task and a hand-over per frame, which HTTP/1.1 streams are spared.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// The middleware: HTTP/2 responses are watched, HTTP/1.1 ones pass as they are.
pub(crate) async fn watch(State(idle): State<Duration>, request: Request, next: Next) -> Response {
    let h2 = request.version() == axum::http::Version::HTTP_2;
    let response = next.run(request).await;
    if h2 {
        watch_response(response, idle)
    } else {
        response
    }
}

/// Wraps `response`'s body when it is a stream (no exact length): see the module docs.
fn watch_response(response: Response, idle: Duration) -> Response {
    if response.body().size_hint().exact().is_some() {
        // A whole body (JSON, errors): nothing upstream to cancel; the connection's write
        // timeout covers a client that does not read it.
        return response;
    }
    response.map(|body| Body::new(pump(body, idle)))
}

fn pump(mut body: Body, idle: Duration) -> ChannelBody {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, axum::Error>>(1);
    tokio::spawn(async move {
        loop {
            let Some(frame) = body.frame().await else {
                return;
            };
            let last = frame.is_err();
            match tokio::time::timeout(idle, tx.send(frame)).await {
                Ok(Ok(())) if !last => {}
                Ok(Ok(())) | Ok(Err(_)) => return,
                Err(_) => {
                    tracing::warn!(
                        idle_secs = idle.as_secs(),
                        "the client stopped reading its stream; dropped the stream and its Bedrock call"
                    );
                    return;
                }
            }
        }
    });
    ChannelBody { rx }
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, axum::Error>>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
