//! A Lambda Runtime API emulator for tests: a hyper server on 127.0.0.1:0 that hands out queued
//! events on `/next` and records, with timestamps, every chunk and trailer a function sends.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

/// An event waiting for the function's next `/next` poll.
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
}

#[derive(Debug)]
pub struct ErrorRecord {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

struct Shared {
    events: Mutex<mpsc::UnboundedReceiver<QueuedEvent>>,
    reports: mpsc::UnboundedSender<Report>,
    /// (request id, when it was handed out), for the record of its response.
    handed_out: std::sync::Mutex<Vec<(String, Instant)>>,
    polls: std::sync::Mutex<Vec<Instant>>,
    connections: AtomicUsize,
    /// The invocation deadline handed out with each event, in ms from the `/next` answer.
    deadline_in_ms: std::sync::atomic::AtomicU64,
    /// Every byte read from every connection, in order, to check the wire format itself.
    wire: Arc<std::sync::Mutex<Vec<u8>>>,
}

pub struct Emulator {
    pub addr: SocketAddr,
    events: mpsc::UnboundedSender<QueuedEvent>,
    reports: mpsc::UnboundedReceiver<Report>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Emulator {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events_rx),
            reports: reports_tx,
            handed_out: std::sync::Mutex::new(Vec::new()),
            polls: std::sync::Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            deadline_in_ms: std::sync::atomic::AtomicU64::new(60_000),
            wire: Arc::new(std::sync::Mutex::new(Vec::new())),
        });
        let state = shared.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                // Answers to /next must not add delays of their own to what we measure.
                stream.set_nodelay(true).unwrap();
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
        Self {
            addr,
            events,
            reports,
            shared,
            server,
        }
    }

    /// `host:port`, as `AWS_LAMBDA_RUNTIME_API` holds it.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// Hands out later events with `Lambda-Runtime-Deadline-Ms` this far ahead (default 60 s).
    pub fn set_deadline_in(&self, d: Duration) {
        self.shared
            .deadline_in_ms
            .store(u64::try_from(d.as_millis()).unwrap(), Ordering::SeqCst);
    }

    pub fn push(&self, event: QueuedEvent) {
        self.events.send(event).unwrap();
    }

    /// Queues a function URL event (payload format 2.0) for `method path?query`.
    pub fn push_url_event(&self, request_id: &str, method: &str, path: &str, body: Option<&str>) {
        self.push(QueuedEvent {
            request_id: request_id.to_owned(),
            body: url_event(method, path, body).to_string().into_bytes(),
            trace_id: Some(format!("Root=1-00000000-{request_id};Sampled=0")),
        });
    }

    /// The next report, waiting at most 10 s.
    pub async fn report(&mut self) -> Report {
        tokio::time::timeout(Duration::from_secs(10), self.reports.recv())
            .await
            .expect("no report from the function within 10 s")
            .expect("emulator stopped")
    }

    pub async fn response(&mut self) -> StreamRecord {
        match self.report().await {
            Report::Response(record) => record,
            other => panic!("expected a streamed response, got {other:?}"),
        }
    }

    /// When each `/next` poll arrived.
    pub fn polls(&self) -> Vec<Instant> {
        self.shared.polls.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Everything the function sent so far, as raw HTTP/1.1.
    pub fn wire(&self) -> Vec<u8> {
        self.shared.wire.lock().unwrap().clone()
    }
}

/// A socket that keeps a copy of what it reads.
struct Recording {
    inner: tokio::net::TcpStream,
    wire: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl tokio::io::AsyncRead for Recording {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if poll.is_ready() {
            this.wire
                .lock()
                .unwrap()
                .extend_from_slice(&buf.filled()[before..]);
        }
        poll
    }
}

impl tokio::io::AsyncWrite for Recording {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
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

type EmuBody = Full<Bytes>;

async fn handle(
    state: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<EmuBody>, Infallible> {
    let opened = Instant::now();
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let reply = |status: StatusCode, body: &str| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap())
    };
    match parts.as_slice() {
        ["2018-06-01", "runtime", "invocation", "next"] => {
            state.polls.lock().unwrap().push(opened);
            let event = state.events.lock().await.recv().await;
            let Some(event) = event else {
                return reply(StatusCode::GONE, "{}");
            };
            if event.request_id.is_empty() {
                // What `cargo lambda watch` answers when it has nothing for the function.
                return Ok(Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Full::new(Bytes::new()))
                    .unwrap());
            }
            state
                .handed_out
                .lock()
                .unwrap()
                .push((event.request_id.clone(), Instant::now()));
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + u128::from(state.deadline_in_ms.load(Ordering::SeqCst));
            let mut response = Response::builder()
                .header("lambda-runtime-aws-request-id", &event.request_id)
                .header("lambda-runtime-deadline-ms", deadline.to_string())
                .header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:test",
                )
                .header("content-type", "application/json");
            if let Some(trace) = &event.trace_id {
                response = response.header("lambda-runtime-trace-id", trace);
            }
            Ok(response.body(Full::new(Bytes::from(event.body))).unwrap())
        }
        ["2018-06-01", "runtime", "invocation", id, "response"] => {
            let request_id = (*id).to_owned();
            let handed_out = state
                .handed_out
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|(rid, _)| *rid == request_id)
                .map(|(_, at)| *at)
                .unwrap_or(opened);
            let (head, mut body) = req.into_parts();
            let mut frames = Vec::new();
            let mut trailers = None;
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
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
            let record = StreamRecord {
                request_id,
                headers: head.headers,
                handed_out,
                opened,
                frames,
                trailers,
                ended: Instant::now(),
            };
            let _ = state.reports.send(Report::Response(record));
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        ["2018-06-01", "runtime", "invocation", _, "error"]
        | ["2018-06-01", "runtime", "init", "error"] => {
            let init = parts[2] == "init";
            let (head, body) = req.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
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
    }
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
    pub fn parse(&self) -> Parsed {
        let mut all = Vec::new();
        let mut separator_at = None;
        let mut chunks = Vec::new();
        let mut split_at = None;
        for frame in &self.frames {
            if split_at.is_some() {
                chunks.push(frame.clone());
                continue;
            }
            all.extend_from_slice(&frame.bytes);
            if let Some(pos) = find_separator(&all) {
                separator_at = Some(frame.at);
                split_at = Some(pos);
                let rest = all.split_off(pos + 8);
                if !rest.is_empty() {
                    chunks.push(Received {
                        at: frame.at,
                        bytes: Bytes::from(rest),
                    });
                }
            }
        }
        let pos = split_at.expect("no 8-NUL separator in the response");
        let prelude = serde_json::from_slice(&all[..pos]).expect("prelude is not JSON");
        Parsed {
            prelude,
            separator_at: separator_at.unwrap(),
            chunks,
        }
    }

    /// The body after the separator, as one string.
    pub fn body_text(&self) -> String {
        let parsed = self.parse();
        let bytes: Vec<u8> = parsed
            .chunks
            .iter()
            .flat_map(|c| c.bytes.iter().copied())
            .collect();
        String::from_utf8(bytes).unwrap()
    }
}

fn find_separator(bytes: &[u8]) -> Option<usize> {
    bytes.windows(8).position(|w| w == [0u8; 8])
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
