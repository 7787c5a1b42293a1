//! The `openai=URL` engine: any OpenAI-compatible server (Ollama, llama.cpp's server, vLLM)
//! writes the words; the local endpoint still speaks Bedrock's wire protocol around them.

use std::time::Duration;

use bedrock_families::{Prompt, Role, StopReason, Usage};
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

fn messages(prompt: &Prompt) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(s) = &prompt.system {
        out.push(json!({"role": "system", "content": s}));
    }
    for t in &prompt.turns {
        let role = match t.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        out.push(json!({"role": role, "content": t.text()}));
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
            "messages": messages(&request.prompt),
            "stream": true,
            "stream_options": {"include_usage": true},
        });
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
                    if let Some(text) = choice["delta"]["content"]
                        .as_str()
                        .filter(|t| !t.is_empty())
                    {
                        output_tokens += 1;
                        let ev = EngineEvent::Text {
                            text: text.to_string(),
                            tokens: 1,
                        };
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
                _ => StopReason::EndTurn,
            };
            let _ = tx.send(EngineEvent::Finished { stop, usage }).await;
        });
        Ok(rx)
    }
}
