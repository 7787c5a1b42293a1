//! The bedrock-stream HTTP handler: an axum `Router` that streams Amazon Bedrock answers to
//! people and programs. It does not know whether it runs in Lambda or locally, and it talks to
//! Bedrock only through `aws-sdk-bedrockruntime`.
//!
//! A request flows one way: `contract` (parse and validate the API's body) → `bedrock` (build
//! the SDK call, resolve the model, cap tokens, map errors) → `decode` (upstream events →
//! [`OutEvent`]s) → `pipeline` (stream them as they arrive) → `format` (one encoder per output).

mod bedrock;
pub mod body;
pub mod config;
mod contract;
mod decode;
pub mod error;
pub mod format;
mod image_url;
mod model_shape;
mod pipeline;
mod routes;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use config::Config;
pub use error::{AppError, ErrorKind};
pub use format::{Format, OutEvent, Summary, TEXT_ERROR_MARKER};
pub use pipeline::StreamFailure;

/// Shared state: one SDK client and one configuration per process.
#[derive(Clone)]
pub struct App {
    pub(crate) client: aws_sdk_bedrockruntime::Client,
    config: Arc<Config>,
    streams: Arc<tokio::sync::Semaphore>,
}

/// A place among the concurrent streams; released when the stream ends or the client leaves.
#[derive(Debug)]
pub(crate) struct Admission(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl App {
    pub fn new(client: aws_sdk_bedrockruntime::Client, config: Config) -> Self {
        let streams = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_streams));
        App {
            client,
            config: Arc::new(config),
            streams,
        }
    }

    /// Takes a place among the concurrent streams, or says to come back later.
    pub(crate) fn admit(&self) -> Result<Admission, AppError> {
        Arc::clone(&self.streams)
            .try_acquire_owned()
            .map(Admission)
            .map_err(|_| {
                AppError::new(
                    ErrorKind::TooManyStreams,
                    format!(
                        "this server is already serving {} streams (MAX_CONCURRENT_STREAMS); retry shortly",
                        self.config.max_concurrent_streams
                    ),
                )
            })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The request's limits: `REQUEST_TIMEOUT_SECS` from its start, or the deadline set by
    /// [`with_deadline`] when that comes first.
    fn timing(&self, started: Instant) -> pipeline::Timing {
        let configured = started + self.config.request_timeout;
        let deadline = REQUEST_DEADLINE
            .try_with(|d| *d)
            .map_or(configured, |d| d.min(configured));
        pipeline::Timing {
            started,
            idle: self.config.idle_timeout,
            deadline,
        }
    }
}

tokio::task_local! {
    static REQUEST_DEADLINE: Instant;
}

/// Runs `request` (a call of the router) under a deadline that no Bedrock call it makes may
/// pass: the earlier of this and `REQUEST_TIMEOUT_SECS` ends the request with its marked
/// `upstream_timeout` error. The Lambda adapter passes the invocation's deadline minus
/// `DEADLINE_MARGIN_MS`, so that the error is written before Lambda stops the function.
pub async fn with_deadline<F: std::future::Future>(deadline: Instant, request: F) -> F::Output {
    REQUEST_DEADLINE.scope(deadline, request).await
}

/// The router: every route, limit and error shape of the function.
pub fn router(app: App) -> Router {
    let limit = app.config.max_body_bytes;
    let cors = cors_layer(&app.config.cors_origins);
    Router::new()
        .route("/", post(routes::seed).get(page))
        .route("/converse", post(routes::converse))
        .route("/v1/chat/completions", post(routes::chat_completions))
        .route("/v1/models", get(routes::models))
        .route("/v1/models/{*id}", get(routes::model))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(json_rejections))
        .layer(DefaultBodyLimit::max(limit))
        .layer(cors)
        .with_state(app)
}

/// CORS for the browser page served from another origin: only the configured origins.
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let layer = tower_http::cors::CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::AUTHORIZATION,
            HeaderName::from_static("x-amz-date"),
            HeaderName::from_static("x-amz-security-token"),
            HeaderName::from_static("x-amz-content-sha256"),
        ])
        .max_age(std::time::Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(tower_http::cors::Any)
    } else {
        layer.allow_origin(allowed)
    }
}

/// `GET /`: a small self-contained page (nothing is fetched from elsewhere) to try a prompt.
async fn page() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src blob:",
            ),
        ],
        include_str!("../assets/index.html"),
    )
        .into_response()
}

async fn not_found() -> Response {
    AppError::new(
        ErrorKind::NotFound,
        "no such route; see the README for the endpoints",
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    AppError::new(
        ErrorKind::MethodNotAllowed,
        "method not allowed on this route",
    )
    .into_response()
}

/// axum's own extractor rejections are plain text; give them our JSON error shape.
async fn json_rejections(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || response.status().is_success() {
        return response;
    }
    let kind = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
        s if s.is_client_error() => ErrorKind::BadRequest,
        _ => ErrorKind::Internal,
    };
    let message = match kind {
        ErrorKind::PayloadTooLarge => "request body is larger than MAX_BODY_BYTES".to_string(),
        _ => format!("request rejected ({})", response.status()),
    };
    AppError::new(kind, message).into_response()
}

/// Builds the SDK client from the standard AWS chain (region, credentials), with
/// `config.endpoint_url` as the endpoint when set.
pub async fn bedrock_client(config: &Config) -> aws_sdk_bedrockruntime::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let sdk_config = loader.load().await;
    aws_sdk_bedrockruntime::Client::new(&sdk_config)
}

/// Builds the router from the process environment (region, credentials, limits).
pub async fn router_from_env() -> anyhow::Result<Router> {
    let config = Config::from_env()?;
    let client = bedrock_client(&config).await;
    Ok(router(App::new(client, config)))
}
