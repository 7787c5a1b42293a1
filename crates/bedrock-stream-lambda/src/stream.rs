//! The body of a streamed response: the HTTP integration prelude, the 8-NUL separator, each
//! frame of the router's body as its own chunk, and real HTTP trailers on a mid-stream error.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue};
use http_body::{Frame, SizeHint};
use serde::Serialize;
use tokio::sync::oneshot;

/// Trailer names for a mid-stream error, as the Runtime API defines them.
pub(crate) const ERROR_TYPE_TRAILER: &str = "lambda-runtime-function-error-type";
pub(crate) const ERROR_BODY_TRAILER: &str = "lambda-runtime-function-error-body";
/// The error type reported when the router's body fails after the prelude.
pub(crate) const STREAM_ERROR_TYPE: &str = "Runtime.StreamError";

const SEPARATOR: [u8; 8] = [0; 8];

/// The `errorMessage`/`errorType` document the Runtime API takes for every kind of error.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDocument {
    pub(crate) error_message: String,
    pub(crate) error_type: String,
}

impl ErrorDocument {
    pub(crate) fn new(error_type: &str, message: impl Into<String>) -> Self {
        Self {
            error_message: message.into(),
            error_type: error_type.to_owned(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Prelude<'a> {
    status_code: u16,
    headers: serde_json::Map<String, serde_json::Value>,
    cookies: &'a [String],
}

/// Serialises the response head as the prelude (the separator follows as its own chunk).
///
/// `Set-Cookie` values move to `cookies`, repeated headers are joined with `", "`, framing
/// headers are dropped (the function URL frames the client's response itself), and a missing
/// `Content-Type` becomes `application/octet-stream`, as the stock runtime does.
pub(crate) fn prelude(parts: &http::response::Parts) -> Bytes {
    let mut cookies = Vec::new();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        if name == SET_COOKIE {
            cookies.extend(parts.headers.get_all(name).iter().map(lossy));
            continue;
        }
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        let joined = parts
            .headers
            .get_all(name)
            .iter()
            .map(lossy)
            .collect::<Vec<_>>()
            .join(", ");
        headers.insert(name.as_str().to_owned(), joined.into());
    }
    headers
        .entry(CONTENT_TYPE.as_str())
        .or_insert_with(|| "application/octet-stream".into());

    let prelude = Prelude {
        status_code: parts.status.as_u16(),
        headers,
        cookies: &cookies,
    };
    // Serialising string maps cannot fail; an empty prelude would still be a valid stream.
    Bytes::from(serde_json::to_vec(&prelude).unwrap_or_else(|_| b"{}".to_vec()))
}

fn lossy(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// What happened to a streamed response, reported once it ended or was dropped.
#[derive(Debug, Default, Clone)]
pub(crate) struct StreamOutcome {
    /// Body bytes after the separator.
    pub(crate) bytes: u64,
    /// Body frames (HTTP chunks) after the separator.
    pub(crate) chunks: u64,
    /// Time from the prelude to the first body byte, if any was sent.
    pub(crate) first_byte: Option<Duration>,
    /// The router's body error, sent as trailers.
    pub(crate) error: Option<String>,
    /// Whether the body ran to its end (false when the Runtime API dropped it).
    pub(crate) completed: bool,
}

/// The request body of `POST /runtime/invocation/{id}/response`.
pub(crate) struct ResponseStream {
    /// The prelude, then the separator: two chunks, written together. Lambda reads a byte
    /// stream, but `cargo lambda watch` takes the first chunk as the prelude and the second as
    /// the separator, so they must not share a chunk.
    head: [Option<Bytes>; 2],
    body: Body,
    done: bool,
    started: Instant,
    outcome: StreamOutcome,
    report: Option<oneshot::Sender<StreamOutcome>>,
}

impl ResponseStream {
    pub(crate) fn new(prelude: Bytes, body: Body) -> (Self, oneshot::Receiver<StreamOutcome>) {
        let (report, outcome) = oneshot::channel();
        let stream = Self {
            head: [Some(prelude), Some(Bytes::from_static(&SEPARATOR))],
            body,
            done: false,
            started: Instant::now(),
            outcome: StreamOutcome::default(),
            report: Some(report),
        };
        (stream, outcome)
    }

    fn finish(&mut self, completed: bool) {
        self.done = true;
        self.outcome.completed = completed;
        if let Some(report) = self.report.take() {
            // Nobody waiting for the outcome is fine: it is only logged.
            let _ = report.send(std::mem::take(&mut self.outcome));
        }
    }

    fn error_trailers(&mut self, error: &axum::Error) -> HeaderMap {
        let message = error.to_string();
        let document = ErrorDocument::new(STREAM_ERROR_TYPE, message.clone());
        let json = serde_json::to_vec(&document).unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(json);
        let mut trailers = HeaderMap::with_capacity(2);
        trailers.insert(
            ERROR_TYPE_TRAILER,
            HeaderValue::from_static(STREAM_ERROR_TYPE),
        );
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            trailers.insert(ERROR_BODY_TRAILER, value);
        }
        self.outcome.error = Some(message);
        trailers
    }
}

impl http_body::Body for ResponseStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(head) = this.head.iter_mut().find_map(Option::take) {
            this.started = Instant::now();
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    // An empty chunk would end the chunked body early.
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => {
                        if this.outcome.first_byte.is_none() {
                            this.outcome.first_byte = Some(this.started.elapsed());
                        }
                        this.outcome.bytes += data.len() as u64;
                        this.outcome.chunks += 1;
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    // The router's own trailers have nowhere to go behind a function URL.
                    Err(_) => continue,
                },
                Some(Err(error)) => {
                    // Everything the router wrote before failing was already handed to hyper,
                    // which writes it out ahead of these trailers.
                    let trailers = this.error_trailers(&error);
                    this.finish(true);
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                None => {
                    this.finish(true);
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.head.iter().all(Option::is_none)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        if self.report.is_some() {
            self.finish(false);
        }
    }
}

/// Every request body the client sends: a complete one, or a streamed response.
pub(crate) enum OutBody {
    Full(Option<Bytes>),
    Stream(Box<ResponseStream>),
}

impl OutBody {
    pub(crate) fn empty() -> Self {
        Self::Full(None)
    }
}

impl http_body::Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream(stream) => Pin::new(stream.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream(stream) => stream.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn parts(response: http::Response<()>) -> http::response::Parts {
        response.into_parts().0
    }

    #[test]
    fn prelude_moves_cookies_and_drops_framing_headers() {
        let response = http::Response::builder()
            .status(201)
            .header("content-type", "text/plain; charset=utf-8")
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2; Secure")
            .header("x-multi", "one")
            .header("x-multi", "two")
            .header("content-length", "12")
            .body(())
            .unwrap();
        let head = prelude(&parts(response));
        let value: serde_json::Value = serde_json::from_slice(&head).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "statusCode": 201,
                "headers": {"content-type": "text/plain; charset=utf-8", "x-multi": "one, two"},
                "cookies": ["a=1", "b=2; Secure"]
            })
        );
    }

    #[test]
    fn prelude_defaults_the_content_type() {
        let head = prelude(&parts(http::Response::new(())));
        let value: serde_json::Value = serde_json::from_slice(&head).unwrap();
        assert_eq!(value["headers"]["content-type"], "application/octet-stream");
        assert_eq!(value["cookies"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn a_body_error_becomes_trailers_after_the_data() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(b"one")),
            Ok(Bytes::new()),
            Ok(Bytes::from_static(b"two")),
            Err(std::io::Error::other("model went away")),
        ];
        let body = Body::from_stream(tokio_stream::iter(chunks));
        let (stream, outcome) = ResponseStream::new(Bytes::from_static(b"{}"), body);
        let mut stream = Box::pin(stream);
        let mut data = Vec::new();
        let mut trailers = None;
        while let Some(frame) = stream.frame().await {
            let frame = frame.unwrap();
            match frame.into_data() {
                Ok(bytes) => data.push(bytes),
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        assert_eq!(data, ["{}", "\0\0\0\0\0\0\0\0", "one", "two"]);
        let trailers = trailers.unwrap();
        assert_eq!(trailers[ERROR_TYPE_TRAILER], STREAM_ERROR_TYPE);
        let body = base64::engine::general_purpose::STANDARD
            .decode(trailers[ERROR_BODY_TRAILER].as_bytes())
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["errorType"], STREAM_ERROR_TYPE);
        assert!(body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("model went away"));
        let outcome = outcome.await.unwrap();
        assert_eq!(
            (outcome.bytes, outcome.chunks, outcome.completed),
            (6, 2, true)
        );
        assert!(outcome.error.is_some());
    }
}
