//! A function that streams numbered lines on a schedule, through this crate's runtime: used by
//! `tests/e2e/cargo_lambda_watch.sh` to see how chunks travel through `cargo lambda watch`
//! without depending on the handler or a model.
//!
//! `GET|POST /?n=10&gap_ms=200[&fail=1]` streams `n` lines `gap_ms` apart (then, with `fail=1`,
//! a body error, which our runtime turns into error trailers); `/healthz` answers `ok`.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

async fn lines(Query(q): Query<HashMap<String, u64>>) -> impl IntoResponse {
    let n = q.get("n").copied().unwrap_or(10).min(1000);
    let gap = Duration::from_millis(q.get("gap_ms").copied().unwrap_or(200).min(10_000));
    let fail = q.get("fail").is_some_and(|f| *f != 0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        for i in 0..n {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            // The client went away: stop producing.
            if tx
                .send(Ok(Bytes::from(format!("line {i}\n"))))
                .await
                .is_err()
            {
                return;
            }
        }
        if fail {
            let _ = tx
                .send(Err(std::io::Error::other("stream-demo failed on purpose")))
                .await;
        }
    });
    (
        [("content-type", "text/plain; charset=utf-8")],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bedrock_stream_lambda::init_tracing();
    let app = Router::new()
        .route("/", get(lines).post(lines))
        .route("/healthz", get(|| async { "ok" }));
    bedrock_stream_lambda::run(app, bedrock_stream_lambda::DEFAULT_DEADLINE_MARGIN).await
}
