//! A tiny Bedrock-wire server for tests: it answers `converse-stream`,
//! `invoke-with-response-stream` and `converse` with recorded bytes — the real Bedrock
//! recordings in `crates/bedrock-families/tests/fixtures/` (event-stream frames replayed one body chunk
//! per frame, optionally spaced in time) or frames a test builds — and records every request
//! body the SDK sent, so a test can check what went on the wire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use serde_json::Value;
use tokio::net::TcpListener;

pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bedrock-families/tests/fixtures")
}

/// A fixture's JSON (`converse-stream/claude3-sonnet-text-then-tool-use.json`).
pub fn fixture_json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures_dir().join(rel)).unwrap()).unwrap()
}

/// The raw bytes of a recorded HTTP event-stream body, split into its frames (each frame's
/// prelude starts with its total length, big-endian).
pub fn fixture_frames(rel: &str) -> Vec<Bytes> {
    let text = std::fs::read_to_string(fixtures_dir().join(rel)).unwrap();
    let compact: String = text.split_whitespace().collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap();
    let mut frames = Vec::new();
    let mut at = 0;
    while at < raw.len() {
        let len = u32::from_be_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
        assert!(len >= 16 && at + len <= raw.len(), "bad frame at {at}");
        frames.push(Bytes::copy_from_slice(&raw[at..at + len]));
        at += len;
    }
    frames
}

/// What the server answers for one model id.
#[derive(Clone)]
pub enum Reply {
    /// Event-stream frames, one body chunk each.
    Frames(Vec<Bytes>),
    /// A JSON body (Converse, InvokeModel).
    Json(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    /// `/model/<id>/<operation>`, percent-decoded.
    pub model_id: String,
    pub operation: String,
    pub body: Value,
}

#[derive(Clone)]
struct Shared {
    replies: Arc<HashMap<String, Reply>>,
    fallback: Option<Reply>,
    gap: Duration,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

pub struct Replay {
    pub url: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Replay {
    /// Serves `replies` by model id (`fallback` for any other id), `gap` between frames.
    pub async fn start(
        replies: Vec<(&str, Reply)>,
        fallback: Option<Reply>,
        gap: Duration,
    ) -> Replay {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            replies: Arc::new(
                replies
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ),
            fallback,
            gap,
            recorded: Arc::clone(&recorded),
        };
        let app = Router::new()
            .route("/model/{id}/{operation}", post(answer))
            .with_state(shared);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Replay {
            url,
            recorded,
            _task: task,
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }
}

async fn answer(
    State(s): State<Shared>,
    Path((id, operation)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    s.recorded.lock().unwrap().push(Recorded {
        model_id: id.clone(),
        operation: operation.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let Some(reply) = s.replies.get(&id).cloned().or(s.fallback.clone()) else {
        return (
            StatusCode::BAD_REQUEST,
            [("x-amzn-errortype", "ValidationException")],
            r#"{"message":"The provided model identifier is invalid."}"#,
        )
            .into_response();
    };
    match reply {
        Reply::Json(bytes) => (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(bytes),
        )
            .into_response(),
        Reply::Frames(frames) => {
            let gap = s.gap;
            let stream = futures::stream::unfold(
                (frames.into_iter(), true),
                move |(mut it, first)| async move {
                    let frame = it.next()?;
                    if !first && !gap.is_zero() {
                        tokio::time::sleep(gap).await;
                    }
                    Some((Ok::<_, std::convert::Infallible>(frame), (it, false)))
                },
            );
            (
                [(header::CONTENT_TYPE, "application/vnd.amazon.eventstream")],
                Body::from_stream(stream),
            )
                .into_response()
        }
    }
}
