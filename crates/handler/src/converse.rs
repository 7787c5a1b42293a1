//! `POST /converse`: Bedrock's Converse request shape (`modelId`, `messages`, `system`,
//! `inferenceConfig`, `additionalModelRequestFields`, `guardrailConfig`) → `ConverseStream`.

use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, GuardrailStreamConfiguration, GuardrailTrace,
    InferenceConfiguration, Message, SystemContentBlock,
};
use aws_smithy_types::{Document, Number};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{send_by, AppError};
use crate::format::Format;
use crate::pipeline::{self, RequestLog, Upstream};
use crate::seed::{parse_json, resolve_model};
use crate::App;

/// The Converse request, as Bedrock's JSON names it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConverseRequest {
    pub model_id: Option<String>,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub system: Vec<TextBlock>,
    #[serde(default)]
    pub inference_config: Option<InferenceConfig>,
    #[serde(default)]
    pub additional_model_request_fields: Option<Value>,
    #[serde(default)]
    pub guardrail_config: Option<GuardrailConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: String,
    pub content: Vec<TextBlock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBlock {
    pub text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferenceConfig {
    pub max_tokens: Option<i32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    #[serde(default)]
    pub stop_sequences: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardrailConfig {
    pub guardrail_identifier: String,
    pub guardrail_version: String,
    pub trace: Option<String>,
}

/// serde_json → Smithy `Document`, for `additionalModelRequestFields`.
pub(crate) fn to_document(v: &Value) -> Document {
    match v {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or(0.0))
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(a) => Document::Array(a.iter().map(to_document).collect()),
        Value::Object(o) => Document::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// A chat in family-neutral form, as `/converse` and `/v1/chat/completions` both produce.
pub(crate) struct Chat {
    pub model_id: String,
    pub system: Vec<String>,
    pub messages: Vec<(ConversationRole, String)>,
    pub max_tokens: Option<i32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stop_sequences: Vec<String>,
    pub additional: Option<Value>,
    pub guardrail: Option<GuardrailConfig>,
}

impl Chat {
    /// The SDK messages and inference settings, with the output-token cap applied.
    fn parts(&self, app: &App) -> Result<(Vec<Message>, InferenceConfiguration), AppError> {
        if self.messages.is_empty() {
            return Err(AppError::bad_request("messages must not be empty"));
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        for (role, text) in &self.messages {
            messages.push(
                Message::builder()
                    .role(role.clone())
                    .content(ContentBlock::Text(text.clone()))
                    .build()
                    .map_err(|e| AppError::bad_request(format!("messages: {e}")))?,
            );
        }
        let mut max_tokens = self.max_tokens;
        if let Some(m) = max_tokens {
            if m < 1 {
                return Err(AppError::bad_request("maxTokens must be at least 1"));
            }
        }
        if let Some(cap) = app.config.max_output_tokens {
            let cap = i32::try_from(cap).unwrap_or(i32::MAX);
            max_tokens = Some(max_tokens.map_or(cap, |m| m.min(cap)));
        }
        let mut inference = InferenceConfiguration::builder()
            .set_max_tokens(max_tokens)
            .set_temperature(self.temperature)
            .set_top_p(self.top_p);
        if !self.stop_sequences.is_empty() {
            inference = inference.set_stop_sequences(Some(self.stop_sequences.clone()));
        }
        Ok((messages, inference.build()))
    }

    /// Starts `ConverseStream` for this chat.
    pub(crate) async fn stream(self, app: &App, deadline: Instant) -> Result<Upstream, AppError> {
        let (messages, inference) = self.parts(app)?;
        let mut call = app
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .set_messages(Some(messages))
            .inference_config(inference);
        for s in self.system {
            call = call.system(SystemContentBlock::Text(s));
        }
        if let Some(extra) = &self.additional {
            call = call.additional_model_request_fields(to_document(extra));
        }
        if let Some(g) = self.guardrail {
            let mut cfg = GuardrailStreamConfiguration::builder()
                .guardrail_identifier(g.guardrail_identifier)
                .guardrail_version(g.guardrail_version);
            if let Some(t) = g.trace {
                cfg = cfg.trace(GuardrailTrace::from(t.as_str()));
            }
            call = call.guardrail_config(cfg.build());
        }
        let out = send_by(
            deadline,
            call.send(),
            "Bedrock did not start answering within the request timeout",
        )
        .await?;
        Ok(Upstream::Converse {
            rx: out.stream,
            tool: None,
        })
    }

    /// Calls `Converse` (not streaming) for this chat.
    pub(crate) async fn complete(
        self,
        app: &App,
        deadline: Instant,
    ) -> Result<Completion, AppError> {
        let started = Instant::now();
        let (messages, inference) = self.parts(app)?;
        let mut call = app
            .client
            .converse()
            .model_id(&self.model_id)
            .set_messages(Some(messages))
            .inference_config(inference);
        for s in self.system {
            call = call.system(SystemContentBlock::Text(s));
        }
        if let Some(extra) = &self.additional {
            call = call.additional_model_request_fields(to_document(extra));
        }
        let out = send_by(
            deadline,
            call.send(),
            "Bedrock did not answer within the request timeout",
        )
        .await?;
        let text: String = out
            .output()
            .and_then(|o| o.as_message().ok())
            .map(|m| {
                m.content()
                    .iter()
                    .filter_map(|c| c.as_text().ok())
                    .map(String::as_str)
                    .collect()
            })
            .unwrap_or_default();
        let usage = out.usage();
        let summary = crate::format::Summary {
            stop_reason: Some(out.stop_reason().as_str().to_string()),
            input_tokens: usage.and_then(|u| u64::try_from(u.input_tokens()).ok()),
            output_tokens: usage.and_then(|u| u64::try_from(u.output_tokens()).ok()),
            first_byte_ms: None,
            total_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            bedrock_latency_ms: out
                .metrics()
                .and_then(|m| u64::try_from(m.latency_ms()).ok()),
            bedrock_first_byte_ms: None,
        };
        Ok(Completion { text, summary })
    }
}

/// A whole answer from `Converse`.
pub(crate) struct Completion {
    pub text: String,
    pub summary: crate::format::Summary,
}

pub(crate) fn role(name: &str) -> Result<ConversationRole, AppError> {
    match name {
        "user" => Ok(ConversationRole::User),
        "assistant" => Ok(ConversationRole::Assistant),
        other => Err(AppError::bad_request(format!(
            "unknown role `{other}`: use user or assistant"
        ))),
    }
}

pub(crate) async fn handle(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let run = async {
        let format = Format::negotiate(&headers, uri.query())?;
        let req: ConverseRequest = parse_json(&body)?;
        let model_id = resolve_model(&app, req.model_id)?;
        let cfg = req.inference_config.unwrap_or_default();
        let mut messages = Vec::with_capacity(req.messages.len());
        for m in req.messages {
            let text: String = m.content.into_iter().map(|b| b.text).collect();
            messages.push((role(&m.role)?, text));
        }
        let chat = Chat {
            model_id: model_id.clone(),
            system: req.system.into_iter().map(|b| b.text).collect(),
            messages,
            max_tokens: cfg.max_tokens,
            temperature: cfg.temperature,
            top_p: cfg.top_p,
            stop_sequences: cfg.stop_sequences,
            additional: req.additional_model_request_fields,
            guardrail: req.guardrail_config,
        };
        let timing = app.timing(started);
        let log = RequestLog {
            admission: app.admit()?,
            request_id: uuid::Uuid::new_v4().to_string(),
            route: "converse",
            model_id,
        };
        let upstream = match chat.stream(&app, timing.deadline).await {
            Ok(u) => u,
            Err(e) => {
                log.finished(&Default::default(), Some(&e));
                return Err(e);
            }
        };
        Ok::<_, AppError>(pipeline::respond(upstream, Box::new(format), timing, log).await)
    };
    match run.await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
