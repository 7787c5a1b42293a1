//! A Lambda Runtime API emulator on 127.0.0.1: hands out queued events on `…/invocation/next`
//! and records, with timestamps, every poll, body frame, trailer and error a function sends.
//! Shared by `bedrock-stream-lambda`'s tests and the cold-start benchmark (`crates/bench`).
//!
//! The paths and headers are the Runtime API's (2018-06-01): `lambda-runtime-aws-request-id`,
//! `lambda-runtime-deadline-ms`, `lambda-runtime-invoked-function-arn`,
//! `lambda-runtime-trace-id`; a streamed response is the function-URL prelude (JSON), eight NUL
//! bytes, then the body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// An event waiting for the function's next `/next` poll. An empty `request_id` is answered
/// with `204 No Content`, as `cargo lambda watch` does when it has nothing for the function.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    pub request_id: String,
    pub body: Vec<u8>,
    pub trace_id: Option<String>,
}

/// One piece of the `/response` body as the server read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub bytes: Bytes,
}

/// What the function sent for one invocation.
#[derive(Debug)]
pub enum Report {
    Response(StreamRecord),
    Error(ErrorRecord),
    InitError(ErrorRecord),
}

#[derive(Debug)]
pub struct StreamRecord {
    pub request_id: String,
    pub headers: HeaderMap,
    /// When `/next` handed the event out.
    pub handed_out: Instant,
    /// When the `/response` request head arrived.
    pub opened: Instant,
    pub frames: Vec<Received>,
    pub trailers: Option<(Instant, HeaderMap)>,
    pub ended: Instant,
    /// Reading the body failed (what was read is in `frames`).
    pub body_error: Option<String>,
}

#[derive(Debug)]
pub struct ErrorRecord {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<QueuedEvent>>,
    reports: mpsc::UnboundedSender<Report>,
    /// (request id, when it was handed out), for the record of its response.
    handed_out: Mutex<Vec<(String, Instant)>>,
    polls: Mutex<Vec<Instant>>,
    poll_tx: mpsc::UnboundedSender<Instant>,
    connections: AtomicUsize,
    /// The invocation deadline handed out with each event, in ms from the `/next` answer.
    deadline_in_ms: std::sync::atomic::AtomicU64,
    /// Every byte read from every connection, in order, to check the wire format itself.
    wire: Arc<Mutex<Vec<u8>>>,
}

/// A running emulator; the server stops when it is dropped.
pub struct Emulator {
    pub addr: SocketAddr,
    events: mpsc::UnboundedSender<QueuedEvent>,
    reports: mpsc::UnboundedReceiver<Report>,
    poll_rx: mpsc::UnboundedReceiver<Instant>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Emulator {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (events, events_rx) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (poll_tx, poll_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(events_rx),
            reports: reports_tx,
            handed_out: Mutex::new(Vec::new()),
            polls: Mutex::new(Vec::new()),
            poll_tx,
            connections: AtomicUsize::new(0),
            deadline_in_ms: std::sync::atomic::AtomicU64::new(60_000),
            wire: Arc::new(Mutex::new(Vec::new())),
        });
        let state = shared.clone();
        // Ends when the emulator is dropped (the task is aborted).
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Answers to /next must not add delays of their own to what is measured.
                let _ = stream.set_nodelay(true);
                state.connections.fetch_add(1, Ordering::SeqCst);
                let state = state.clone();
                let io = Recording {
                    inner: stream,
                    wire: state.wire.clone(),
                };
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(io), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            events,
            reports,
            poll_rx,
            shared,
            server,
        })
    }

    /// [`Emulator::bind`] for tests: panics when no port can be bound.
    #[allow(clippy::expect_used)]
    pub async fn start() -> Self {
        Self::bind()
            .await
            .expect("binding the emulator on 127.0.0.1")
    }

    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` holds it.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// Hands out later events with `Lambda-Runtime-Deadline-Ms` this far ahead (default 60 s).
    pub fn set_deadline_in(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.shared.deadline_in_ms.store(ms, Ordering::SeqCst);
    }

    pub fn push(&self, event: QueuedEvent) {
        // The receiver lives as long as `self`.
        let _ = self.events.send(event);
    }

    /// Queues a function URL event (payload format 2.0) for `method path?query`.
    pub fn push_url_event(&self, request_id: &str, method: &str, path: &str, body: Option<&str>) {
        self.push(QueuedEvent {
            request_id: request_id.to_owned(),
            body: url_event(method, path, body).to_string().into_bytes(),
            trace_id: Some(format!("Root=1-00000000-{request_id};Sampled=0")),
        });
    }

    /// The next report, if one comes within `limit`.
    pub async fn next_report(&mut self, limit: Duration) -> Option<Report> {
        tokio::time::timeout(limit, self.reports.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next report, waiting at most 10 s; panics otherwise (for tests).
    #[allow(clippy::panic)]
    pub async fn report(&mut self) -> Report {
        match self.next_report(Duration::from_secs(10)).await {
            Some(r) => r,
            None => panic!("no report from the function within 10 s"),
        }
    }

    /// The next report as a streamed response; panics otherwise (for tests).
    #[allow(clippy::panic)]
    pub async fn response(&mut self) -> StreamRecord {
        match self.report().await {
            Report::Response(record) => record,
            other => panic!("expected a streamed response, got {other:?}"),
        }
    }

    /// When the next `/next` poll not yet waited for arrived, if one comes within `limit`.
    pub async fn next_poll(&mut self, limit: Duration) -> Option<Instant> {
        tokio::time::timeout(limit, self.poll_rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// When each `/next` poll arrived.
    pub fn polls(&self) -> Vec<Instant> {
        lock(&self.shared.polls).clone()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Everything the function sent so far, as raw HTTP/1.1.
    pub fn wire(&self) -> Vec<u8> {
        lock(&self.shared.wire).clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A socket that keeps a copy of what it reads.
struct Recording {
    inner: TcpStream,
    wire: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Recording {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if poll.is_ready() {
            lock(&this.wire).extend_from_slice(&buf.filled()[before..]);
        }
        poll
    }
}

impl AsyncWrite for Recording {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A function URL event as Lambda sends it; `path` may carry a query string.
pub fn url_event(method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {
            "host": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
            "content-type": "application/json",
            "user-agent": "test"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "test"
            },
            "requestId": "url-request-id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:12:00:00 +0000",
            "timeEpoch": 1767268800000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    if !body.is_empty() {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
    }
    r
}

async fn handle(
    state: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let opened = Instant::now();
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Ok(match parts.as_slice() {
        ["2018-06-01", "runtime", "invocation", "next"] => {
            lock(&state.polls).push(opened);
            let _ = state.poll_tx.send(opened);
            // Waits for the next queued event; a function waiting here after its last event
            // is stopped by whoever runs it.
            let event = state.events.lock().await.recv().await;
            match event {
                None => reply(StatusCode::GONE, "{}"),
                Some(event) if event.request_id.is_empty() => reply(StatusCode::NO_CONTENT, ""),
                Some(event) => {
                    lock(&state.handed_out).push((event.request_id.clone(), Instant::now()));
                    next_response(event, state.deadline_in_ms.load(Ordering::SeqCst))
                }
            }
        }
        ["2018-06-01", "runtime", "invocation", id, "response"] => {
            let request_id = (*id).to_owned();
            let handed_out = lock(&state.handed_out)
                .iter()
                .rev()
                .find(|(rid, _)| *rid == request_id)
                .map_or(opened, |(_, at)| *at);
            let (head, mut body) = req.into_parts();
            let (mut frames, mut trailers, mut body_error) = (Vec::new(), None, None);
            while let Some(frame) = body.frame().await {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        body_error = Some(format!("reading the response: {e}"));
                        break;
                    }
                };
                let at = Instant::now();
                match frame.into_data() {
                    Ok(bytes) => frames.push(Received { at, bytes }),
                    Err(frame) => {
                        if let Ok(map) = frame.into_trailers() {
                            trailers = Some((at, map));
                        }
                    }
                }
            }
            let _ = state.reports.send(Report::Response(StreamRecord {
                request_id,
                headers: head.headers,
                handed_out,
                opened,
                frames,
                trailers,
                ended: Instant::now(),
                body_error,
            }));
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        ["2018-06-01", "runtime", "invocation", _, "error"]
        | ["2018-06-01", "runtime", "init", "error"] => {
            let init = parts[2] == "init";
            let (head, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let record = ErrorRecord {
                path: path.clone(),
                headers: head.headers,
                body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            };
            let _ = state.reports.send(if init {
                Report::InitError(record)
            } else {
                Report::Error(record)
            });
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        _ => reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"unknown path"}"#),
    })
}

/// The answer to `/next` for `event`, with the Runtime API's headers.
fn next_response(event: QueuedEvent, deadline_in_ms: u64) -> Response<Full<Bytes>> {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() + u128::from(deadline_in_ms));
    let mut r = Response::new(Full::new(Bytes::from(event.body)));
    let h = r.headers_mut();
    let mut set = |k: &'static str, v: &str| {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", &event.request_id);
    set("lambda-runtime-deadline-ms", &deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:test",
    );
    set("content-type", "application/json");
    if let Some(trace) = &event.trace_id {
        set("lambda-runtime-trace-id", trace);
    }
    r
}

/// A `/response` body taken apart: the prelude, where the separator arrived, and the body
/// chunks after it with their arrival times.
#[derive(Debug)]
pub struct Parsed {
    pub prelude: serde_json::Value,
    /// When the frame that completed the separator arrived.
    pub separator_at: Instant,
    /// Body pieces after the separator, as read by the server.
    pub chunks: Vec<Received>,
}

impl StreamRecord {
    /// `Lambda-Runtime-Function-Response-Mode: streaming`: the body is streamed.
    pub fn streaming(&self) -> bool {
        self.headers
            .get("lambda-runtime-function-response-mode")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"))
    }

    /// The function-URL content type: the body starts with a prelude and the 8-NUL separator.
    pub fn has_prelude(&self) -> bool {
        self.headers.get("content-type").is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/vnd.awslambda.http-integration-response")
        })
    }

    /// The prelude and the body after the 8-NUL separator; `None` without a separator or
    /// with a prelude that is not JSON.
    pub fn split(&self) -> Option<Parsed> {
        let mut all = Vec::new();
        let mut split = None;
        let mut chunks = Vec::new();
        for frame in &self.frames {
            if split.is_some() {
                chunks.push(frame.clone());
                continue;
            }
            all.extend_from_slice(&frame.bytes);
            if let Some(pos) = all.windows(8).position(|w| w == [0u8; 8]) {
                split = Some((pos, frame.at));
                let rest = all.split_off(pos + 8);
                if !rest.is_empty() {
                    chunks.push(Received {
                        at: frame.at,
                        bytes: Bytes::from(rest),
                    });
                }
            }
        }
        let (pos, separator_at) = split?;
        Some(Parsed {
            prelude: serde_json::from_slice(&all[..pos]).ok()?,
            separator_at,
            chunks,
        })
    }

    /// [`StreamRecord::split`] for tests: panics without a separator or a JSON prelude.
    #[allow(clippy::expect_used)]
    pub fn parse(&self) -> Parsed {
        self.split()
            .expect("no 8-NUL separator after a JSON prelude in the response")
    }

    /// The body after the separator, as one string (for tests: panics like `parse`).
    pub fn body_text(&self) -> String {
        let bytes: Vec<u8> = self
            .parse()
            .chunks
            .iter()
            .flat_map(|c| c.bytes.iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The whole body as read, frames joined.
    pub fn raw_body(&self) -> Vec<u8> {
        self.frames
            .iter()
            .flat_map(|f| f.bytes.iter().copied())
            .collect()
    }
}

/// Groups arrivals closer than `within` into one piece: what a reader sees when chunks merge.
pub fn pieces(chunks: &[Received], within: Duration) -> Vec<(Instant, usize)> {
    let mut pieces: Vec<(Instant, usize)> = Vec::new();
    let mut last: Option<Instant> = None;
    for chunk in chunks {
        match (pieces.last_mut(), last) {
            (Some(piece), Some(prev)) if chunk.at.duration_since(prev) < within => {
                piece.1 += chunk.bytes.len();
            }
            _ => pieces.push((chunk.at, chunk.bytes.len())),
        }
        last = Some(chunk.at);
    }
    pieces
}
