//! A test router that streams on a schedule and remembers when it sent each chunk.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use bedrock_stream_lambda::InvocationContext;
use http_body_util::BodyExt;
use tokio_stream::wrappers::ReceiverStream;

/// When the router handed each chunk to its body, per request path+query.
#[derive(Clone, Default)]
pub struct Sends(pub Arc<Mutex<Vec<Instant>>>);

impl Sends {
    pub fn take(&self) -> Vec<Instant> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

pub const ERROR_LINE: &str = "\n[bedrock-stream error] the model stream failed: upstream broke\n";

pub fn router(sends: Sends) -> Router {
    Router::new()
        .route("/stream", get(stream))
        .route("/fail", get(fail))
        .route("/echo", any(echo))
        .with_state(sends)
}

/// `GET /stream?n=20&gap_ms=30&first_ms=0`: n lines, the first after first_ms, then one every
/// gap_ms.
async fn stream(State(sends): State<Sends>, Query(q): Query<HashMap<String, u64>>) -> Response {
    let n = q.get("n").copied().unwrap_or(20);
    let gap = Duration::from_millis(q.get("gap_ms").copied().unwrap_or(30));
    let first = Duration::from_millis(q.get("first_ms").copied().unwrap_or(0));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        for i in 0..n {
            tokio::time::sleep(if i == 0 { first } else { gap }).await;
            sends.0.lock().unwrap().push(Instant::now());
            if tx
                .send(Ok(Bytes::from(format!("chunk {i:02}\n"))))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    (
        [
            ("content-type", "text/plain; charset=utf-8"),
            ("x-accel-buffering", "no"),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response()
}

/// `GET /fail`: three lines, a marked error line, then a body error.
async fn fail() -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        for i in 0..3 {
            let _ = tx.send(Ok(Bytes::from(format!("line {i}\n")))).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = tx.send(Ok(Bytes::from_static(ERROR_LINE.as_bytes()))).await;
        let _ = tx.send(Err(std::io::Error::other("upstream broke"))).await;
    });
    (
        [("content-type", "text/plain; charset=utf-8")],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response()
}

/// Any method on `/echo`: what the router saw, as JSON, with status 201 and two cookies.
async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let ctx = parts.extensions.get::<InvocationContext>().cloned();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let headers: HashMap<String, String> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "aws_request_id": ctx.as_ref().map(|c| c.aws_request_id.clone()),
        "deadline_ms": ctx.as_ref().and_then(|c| c.deadline_ms),
        "peer": peer,
    });
    Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("set-cookie", "a=1; Path=/")
        .header("set-cookie", "b=2; Secure")
        .header("x-test", "yes")
        .body(Body::from(json.to_string()))
        .unwrap()
}
