//! The route handlers: each reads its contract, makes its Bedrock call and streams the answer
//! in the format the client asked for. Glue only: parsing lives in `contract`, calls in
//! `bedrock`, decoding in `decode`, output in `format`.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;

use crate::error::{AppError, ErrorKind};
use crate::format::{openai as openai_format, ConverseText, EventEncoder, Format};
use crate::pipeline::{self, RequestLog};
use crate::{bedrock, contract, decode, App};

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Logs a call that failed before it streamed, and passes the error on.
fn failed<T>(log: &RequestLog, e: AppError) -> Result<T, AppError> {
    log.finished(&Default::default(), Some(&e));
    Err(e)
}

/// `POST /`: the seed contract → InvokeModelWithResponseStream.
pub(crate) async fn seed(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let run = async {
        let format = Format::negotiate(&headers, uri.query())?;
        let req = contract::seed::parse(&body)?;
        let model_id = bedrock::resolve_model(&app, req.bedrock_params.model_id.clone())?;
        let timing = app.timing(started);
        let log = RequestLog {
            admission: app.admit()?,
            request_id: request_id(),
            route: "seed",
            model_id: model_id.clone(),
        };
        let upstream =
            match bedrock::invoke_stream(&app, &model_id, req, &log.request_id, timing.deadline)
                .await
            {
                Ok(u) => u,
                Err(e) => return failed(&log, e),
            };
        Ok(pipeline::respond(upstream, Box::new(format), timing, log).await)
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// Whether a `/converse` caller asked for the whole answer as Converse JSON.
fn wants_json(headers: &HeaderMap, query: Option<&str>) -> bool {
    if let Some(q) = query {
        if q.split('&').any(|p| p == "format=json") {
            return true;
        }
        if q.split('&').any(|p| p.starts_with("format=")) {
            return false;
        }
    }
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.contains("application/json")
                && !a.contains("text/event-stream")
                && !a.contains("application/x-ndjson")
        })
}

/// `POST /converse`: a Converse request → ConverseStream (text, sse, ndjson) or Converse (JSON).
pub(crate) async fn converse(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let run = async {
        let json = wants_json(&headers, uri.query());
        let format = if json {
            Format::Text
        } else {
            Format::negotiate(&headers, uri.query())?
        };
        let mut req = contract::converse::parse(&body)?;
        let model_id = bedrock::resolve_model(&app, req.model_id.take())?;
        let timing = app.timing(started);
        let log = RequestLog {
            admission: app.admit()?,
            request_id: request_id(),
            route: "converse",
            model_id: model_id.clone(),
        };
        if json {
            let out =
                match bedrock::converse(&app, &model_id, req, &log.request_id, timing.deadline)
                    .await
                {
                    Ok(o) => o,
                    Err(e) => return failed(&log, e),
                };
            let (body, summary) = decode::converse_response(&out, timing.elapsed_ms());
            log.finished(&summary, None);
            return Ok(Json(body).into_response());
        }
        let upstream =
            match bedrock::converse_stream(&app, &model_id, req, &log.request_id, timing.deadline)
                .await
            {
                Ok(u) => u,
                Err(e) => return failed(&log, e),
            };
        let encoder: Box<dyn EventEncoder> = match format {
            Format::Text => Box::new(ConverseText),
            other => Box::new(other),
        };
        Ok(pipeline::respond(upstream, encoder, timing, log).await)
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v1/chat/completions`: OpenAI's request → ConverseStream or Converse, in OpenAI's
/// response shapes.
pub(crate) async fn chat_completions(State(app): State<App>, body: Bytes) -> Response {
    let started = Instant::now();
    let run = async {
        let opts = contract::openai::ParseOptions {
            allow_image_urls: app.config().allow_image_urls,
        };
        let mut call = contract::openai::parse(&body, opts)?;
        let model_id = bedrock::resolve_model(&app, call.converse.model_id.take())?;
        call.apply_reasoning(&model_id, app.config().max_output_tokens)?;
        let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
        let timing = app.timing(started);
        let log = RequestLog {
            admission: app.admit()?,
            request_id: id.clone(),
            route: "openai",
            model_id: model_id.clone(),
        };
        if let Err(e) = crate::image_url::fetch_images(&mut call, timing.deadline).await {
            return failed(&log, e);
        }
        let shape = openai_format::AnswerShape {
            json_tool: call.json_tool,
            single_tool_call: call.single_tool_call,
        };
        if call.stream {
            let upstream = match bedrock::converse_stream(
                &app,
                &model_id,
                call.converse,
                &id,
                timing.deadline,
            )
            .await
            {
                Ok(u) => u,
                Err(e) => return failed(&log, e),
            };
            let encoder = openai_format::ChunkEncoder::new(id, model_id, call.include_usage, shape);
            return Ok(pipeline::respond(upstream, Box::new(encoder), timing, log).await);
        }
        let out =
            match bedrock::converse(&app, &model_id, call.converse, &id, timing.deadline).await {
                Ok(o) => o,
                Err(e) => return failed(&log, e),
            };
        let (body, summary) = decode::converse_response(&out, timing.elapsed_ms());
        log.finished(&summary, None);
        Ok(openai_format::completion(
            &id, &model_id, &body, &summary, &shape,
        ))
    };
    run.await
        .unwrap_or_else(|e: AppError| openai_format::error_response(&e))
}

/// Well-known Bedrock model ids offered by `GET /v1/models` (filtered by `ALLOWED_MODELS`).
const KNOWN_MODELS: &[&str] = &[
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.amazon.nova-pro-v1:0",
    "us.amazon.nova-lite-v1:0",
    "us.amazon.nova-micro-v1:0",
    "us.meta.llama3-1-8b-instruct-v1:0",
    "us.meta.llama3-3-70b-instruct-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "cohere.command-r-plus-v1:0",
    "ai21.jamba-1-5-mini-v1:0",
    "us.deepseek.r1-v1:0",
    "openai.gpt-oss-120b-1:0",
    "amazon.titan-text-express-v1",
];

/// The model ids `/v1/models` lists: the default first, then exact ids from `ALLOWED_MODELS`,
/// then the well-known ids the allowlist admits.
fn listed_models(app: &App) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut push = |id: &str| {
        if !ids.iter().any(|i| i == id) && app.config().model_allowed(id) {
            ids.push(id.to_string());
        }
    };
    if let Some(d) = &app.config().default_model_id {
        push(d);
    }
    for pattern in &app.config().allowed_models {
        if !pattern.contains('*') {
            push(pattern);
        }
    }
    for id in KNOWN_MODELS {
        push(id);
    }
    ids
}

/// `GET /v1/models`.
pub(crate) async fn models(State(app): State<App>) -> Response {
    openai_format::model_list(&listed_models(&app))
}

/// Whether `id` could name a Bedrock model: at most 2048 characters of those Bedrock's
/// `modelId` pattern uses (letters, digits, `.`, `-`, `_`, `:`, `/` in ARNs; see
/// errors/model-id-pattern.json in the fixtures), no empty path segment or `..`.
fn plausible_model_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 2048
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
        && !id.contains("..")
        && !id.starts_with(['.', '/', '-'])
        && !id.ends_with('/')
        && !id.contains("//")
        && (id.starts_with("arn:") || !id.contains('/'))
}

/// `GET /v1/models/{id}`: any id the allowlist admits (Bedrock decides whether it exists).
pub(crate) async fn model(State(app): State<App>, Path(id): Path<String>) -> Response {
    if !plausible_model_id(&id) {
        return openai_format::error_response(&AppError::new(ErrorKind::NotFound, "no such model"));
    }
    if !app.config().model_allowed(&id) {
        return openai_format::error_response(&AppError::new(
            ErrorKind::ModelNotAllowed,
            format!("model `{id}` is not in this function's ALLOWED_MODELS"),
        ));
    }
    Json(openai_format::model_object(&id)).into_response()
}
