//! The bedrock-stream HTTP handler: an axum `Router` that streams Amazon Bedrock answers.
//! It does not know whether it runs in Lambda or locally.

use axum::{routing::get, Router};

/// Builds the router from the process environment (region, credentials, limits).
pub async fn router_from_env() -> anyhow::Result<Router> {
    Ok(Router::new().route("/healthz", get(|| async { "ok" })))
}
