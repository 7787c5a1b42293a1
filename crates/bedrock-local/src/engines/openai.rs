//! The `openai=URL` engine: any OpenAI-compatible server (Ollama, llama.cpp's server, vLLM)
//! writes the words; the local endpoint still speaks Bedrock's wire protocol around them.

use std::time::Duration;

use base64::Engine as _;
use bedrock_families::{Part, Prompt, Role, Source, StopReason, ToolChoice, Usage};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::engine::{Engine, EngineError, EngineEvent, GenerationRequest};

/// Streams chat completions from an OpenAI-compatible server over plain HTTP.
#[derive(Clone)]
pub struct OpenAiEngine {
    base: String,
    model: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl OpenAiEngine {
    /// `base` is the server's root (`http://127.0.0.1:11434` or `…/v1`); `model` overrides the
    /// model name sent upstream (by default the Bedrock model id).
    pub fn new(base: &str, model: Option<String>) -> Result<Self, EngineError> {
        if !base.starts_with("http://") {
            return Err(EngineError::Internal(format!(
                "openai engine: `{base}` must be an http:// URL (local servers only)"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let base = base
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_string();
        Ok(OpenAiEngine {
            base,
            model,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }
}

/// The chat messages of a prompt in OpenAI's shape: text and images (as data URLs) in content
/// parts, assistant tool calls as `tool_calls`, tool results as `role: "tool"` messages.
/// Documents and video have no OpenAI-compatible form: refused by name.
fn messages(prompt: &Prompt) -> Result<Vec<Value>, EngineError> {
    let mut out = Vec::new();
    if let Some(s) = &prompt.system {
        out.push(json!({"role": "system", "content": s}));
    }
    let refuse = |what: &str| {
        EngineError::Validation(format!(
            "The openai engine cannot pass {what} to an OpenAI-compatible server; remove it from the request."
        ))
    };
    for t in &prompt.turns {
        let mut parts = Vec::new();
        let mut calls = Vec::new();
        let mut results = Vec::new();
        for p in &t.content {
            match p {
                Part::Text(text) => parts.push(json!({"type": "text", "text": text})),
                Part::Image(m) => match &m.source {
                    Source::Bytes(b) => parts.push(json!({"type": "image_url", "image_url": {
                        "url": format!("data:image/{};base64,{}", m.format,
                                       base64::engine::general_purpose::STANDARD.encode(b))}})),
                    _ => return Err(refuse("an image that is not bytes")),
                },
                Part::ToolUse(c) => calls.push(json!({
                    "id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": c.input.to_string()}})),
                Part::ToolResult(r) => {
                    let mut content = String::new();
                    for inner in &r.content {
                        match inner {
                            Part::Text(x) => content.push_str(x),
                            Part::Json(v) => content.push_str(&v.to_string()),
                            _ => return Err(refuse("a tool result that is not text or JSON")),
                        }
                    }
                    results.push(
                        json!({"role": "tool", "tool_call_id": r.tool_use_id, "content": content}),
                    );
                }
                Part::Json(v) => parts.push(json!({"type": "text", "text": v.to_string()})),
                // Reasoning kept in history is not sent back (OpenAI-compatible servers drop it).
                Part::Reasoning(_) => {}
                Part::Document(_) => return Err(refuse("document content")),
                Part::Video(_) => return Err(refuse("video content")),
            }
        }
        out.extend(results);
        let role = match t.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        if parts.is_empty() && calls.is_empty() {
            continue;
        }
        // Plain text stays a string: the widest-supported form.
        let content = match parts.as_slice() {
            [] => Value::Null,
            [one] if one["type"] == "text" => one["text"].clone(),
            _ => Value::Array(parts),
        };
        let mut m = json!({"role": role, "content": content});
        if !calls.is_empty() {
            m["tool_calls"] = Value::Array(calls);
        }
        out.push(m);
    }
    Ok(out)
}

/// Tools, tool choice and structured output in OpenAI's request fields.
fn tool_fields(prompt: &Prompt, body: &mut Value) -> Result<(), EngineError> {
    if prompt.thinking.is_some() {
        return Err(EngineError::Validation(
            "The openai engine cannot ask an OpenAI-compatible server for reasoning; remove thinking / reasoning fields from the request.".into(),
        ));
    }
    if !prompt.tools.is_empty() {
        let tools: Vec<Value> = prompt
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name,
                    "description": t.description.clone().unwrap_or_default(),
                    "parameters": t.input_schema}})
            })
            .collect();
        body["tools"] = Value::Array(tools);
        body["tool_choice"] = match &prompt.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Any => json!("required"),
            ToolChoice::None => json!("none"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
    }
    if let Some(schema) = &prompt.output_schema {
        body["response_format"] = json!({"type": "json_schema",
            "json_schema": {"name": "answer", "schema": schema, "strict": true}});
    }
    Ok(())
}

/// The engine events of one streamed `delta`: reasoning (`reasoning_content`, or Ollama's
/// `reasoning`), text, and tool calls (`tool_calls[]`: a new index with its id and name opens a
/// tool-use block, `arguments` pieces are its input).
fn delta_events(delta: &Value, open_call: &mut Option<u64>) -> Vec<EngineEvent> {
    let mut out = Vec::new();
    for key in ["reasoning_content", "reasoning"] {
        if let Some(text) = delta[key].as_str().filter(|t| !t.is_empty()) {
            out.push(EngineEvent::Reasoning {
                text: text.to_string(),
                tokens: 1,
            });
        }
    }
    if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
        out.push(EngineEvent::Text {
            text: text.to_string(),
            tokens: 1,
        });
    }
    for call in delta["tool_calls"].as_array().into_iter().flatten() {
        let index = call["index"].as_u64().unwrap_or(0);
        if *open_call != Some(index) {
            *open_call = Some(index);
            out.push(EngineEvent::ToolUse {
                id: call["id"]
                    .as_str()
                    .map_or_else(|| format!("call_{index}"), str::to_string),
                name: call["function"]["name"].as_str().unwrap_or("").to_string(),
            });
        }
        if let Some(args) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            out.push(EngineEvent::ToolInput {
                json: args.to_string(),
                tokens: 1,
            });
        }
    }
    out
}

impl Engine for OpenAiEngine {
    fn describe(&self) -> String {
        format!("openai engine (OpenAI-compatible server at {})", self.base)
    }

    fn generate(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<EngineEvent>, EngineError> {
        let s = &request.sampling;
        let mut body = json!({
            "model": self.model.clone().unwrap_or_else(|| request.model_id.clone()),
            "messages": messages(&request.prompt)?,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        tool_fields(&request.prompt, &mut body)?;
        if let Some(m) = s.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if let Some(t) = s.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(p) = s.top_p {
            body["top_p"] = json!(p);
        }
        if !s.stop_sequences.is_empty() {
            body["stop"] = json!(s.stop_sequences);
        }
        let req = hyper::Request::post(format!("{}/v1/chat/completions", self.base))
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let client = self.client.clone();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let fail = |message: String| EngineEvent::Failed { message };
            let response = tokio::select! {
                _ = tx.closed() => return,
                r = client.request(req) => r,
            };
            let response = match response {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    let _ = tx
                        .send(fail(format!("upstream returned HTTP {}", r.status())))
                        .await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(fail(format!("upstream unreachable: {e}"))).await;
                    return;
                }
            };
            if tx
                .send(EngineEvent::Started { input_tokens: 0 })
                .await
                .is_err()
            {
                return;
            }
            let mut body = response.into_body();
            let mut buf = Vec::new();
            let mut usage = Usage::default();
            let mut output_tokens = 0u32;
            let mut finish: Option<String> = None;
            let mut open_call: Option<u64> = None;
            loop {
                let frame = tokio::select! {
                    _ = tx.closed() => return,
                    f = body.frame() => f,
                };
                let Some(frame) = frame else { break };
                let Ok(frame) = frame else {
                    let _ = tx.send(fail("upstream stream broke".into())).await;
                    return;
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                buf.extend_from_slice(&data);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let line = String::from_utf8_lossy(&line);
                    let Some(data) = line.trim().strip_prefix("data:") else {
                        continue;
                    };
                    let data = data.trim();
                    if data == "[DONE]" {
                        continue;
                    }
                    let Ok(v) = serde_json::from_str::<Value>(data) else {
                        continue;
                    };
                    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                        usage.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(0) as u32;
                        usage.output_tokens = u["completion_tokens"].as_u64().unwrap_or(0) as u32;
                    }
                    let choice = &v["choices"][0];
                    if let Some(f) = choice["finish_reason"].as_str() {
                        finish = Some(f.to_string());
                    }
                    for ev in delta_events(&choice["delta"], &mut open_call) {
                        output_tokens += 1;
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                }
            }
            if usage.output_tokens == 0 {
                usage.output_tokens = output_tokens;
            }
            // OpenAI servers do not say which stop sequence matched, so "stop" is end of turn.
            let stop = match finish.as_deref() {
                Some("length") => StopReason::MaxTokens,
                Some("tool_calls") => StopReason::ToolUse,
                _ => StopReason::EndTurn,
            };
            let _ = tx.send(EngineEvent::Finished { stop, usage }).await;
        });
        Ok(rx)
    }
}
