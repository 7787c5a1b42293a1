//! Cohere Command: the legacy generate body (`prompt` → `generations[{text, finish_reason}]`,
//! streamed as `text` + `is_finished`) and Command R / R+ chat (`message`, `chat_history`,
//! `preamble`, `tools`, `tool_results` → `event_type` stream-start / text-generation /
//! tool-calls-generation / stream-end).
//!
//! Real data: tests/fixtures/invoke/cohere-*.json and invoke-stream/cohere-stream-false-*.json
//! (a `"stream": false` request answered by one chunk holding the whole body). Token-by-token
//! Command streams and Command R streams and tool calls were not found recorded; their shapes
//! follow Cohere's v1 chat API, which Bedrock's Command R documentation mirrors (tool calls
//! are `{name, parameters}` without ids; `finish_reason` is `COMPLETE` when tools are called).

use serde_json::{json, Map, Value};

use crate::decode::{Blocks, Open};
use crate::json::{opt_array, opt_f32, opt_strings, opt_u32, required_str, str_field, u64_at};
use crate::{
    AnswerBlock, BlockEvent, BlockStart, ChunkEncoder, ChunkInfo, Delta, Part, Prompt, Role,
    Sampling, StopReason, ToolCall, ToolResult, ToolSpec, Turn, Usage, ValidationError,
};

fn sampling(body: &Value) -> Result<Sampling, ValidationError> {
    Ok(Sampling {
        max_tokens: opt_u32(body, &["max_tokens"])?,
        temperature: opt_f32(body, &["temperature"])?,
        top_p: opt_f32(body, &["p"])?,
        top_k: opt_u32(body, &["k"])?,
        stop_sequences: opt_strings(body, &["stop_sequences"])?,
    })
}

pub(crate) fn parse_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let prompt = required_str(body, "prompt")?;
    if body
        .get("num_generations")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err(ValidationError::new(
            "num_generations: only one generation is supported",
        ));
    }
    Ok((Prompt::user(prompt), sampling(body)?))
}

/// The id we give a Cohere tool call (Cohere's calls carry none): its position in the turn.
fn call_id(turn: usize, k: usize) -> String {
    format!("cohere_call_{turn}_{k}")
}

fn calls(list: &[Value], turn: usize) -> Vec<Part> {
    list.iter()
        .enumerate()
        .map(|(k, c)| {
            Part::ToolUse(ToolCall {
                id: call_id(turn, k),
                name: str_field(c, "name").unwrap_or_default().to_string(),
                input: c.get("parameters").cloned().unwrap_or_else(|| json!({})),
            })
        })
        .collect()
}

/// Cohere's `parameter_definitions` → a JSON schema.
fn schema(defs: Option<&Map<String, Value>>) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, d) in defs.into_iter().flatten() {
        let ty = match str_field(d, "type").unwrap_or("str") {
            "str" | "string" => "string",
            "int" | "integer" => "integer",
            "float" | "number" => "number",
            "bool" | "boolean" => "boolean",
            t if t.starts_with("List") || t.starts_with("list") => "array",
            _ => "object",
        };
        let mut p = json!({"type": ty});
        if let Some(desc) = str_field(d, "description") {
            p["description"] = Value::from(desc);
        }
        props.insert(name.clone(), p);
        if d.get("required").and_then(Value::as_bool) == Some(true) {
            required.push(Value::from(name.as_str()));
        }
    }
    json!({"type": "object", "properties": props, "required": required})
}

pub(crate) fn parse_chat_request(body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
    let message = required_str(body, "message")?;
    let mut prompt = Prompt {
        system: str_field(body, "preamble").map(str::to_string),
        ..Prompt::default()
    };
    for (i, h) in opt_array(body, "chat_history")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let text = str_field(h, "message").unwrap_or_default();
        match str_field(h, "role") {
            Some("CHATBOT") => {
                let mut content = Vec::new();
                if !text.is_empty() {
                    content.push(Part::Text(text.to_string()));
                }
                if let Some(list) = h.get("tool_calls").and_then(Value::as_array) {
                    content.extend(calls(list, i));
                }
                prompt.turns.push(Turn {
                    role: Role::Assistant,
                    content,
                });
            }
            Some("SYSTEM") => {
                prompt.system = Some(match prompt.system.take() {
                    Some(s) => format!("{s}\n{text}"),
                    None => text.to_string(),
                })
            }
            Some("TOOL") => {
                let results = tool_results(h.get("tool_results"), &prompt)?;
                prompt.turns.push(Turn {
                    role: Role::User,
                    content: results,
                });
            }
            Some("USER") | None => prompt.turns.push(Turn::new(Role::User, text.to_string())),
            Some(other) => {
                return Err(ValidationError::new(format!(
                    "chat_history.{i}.role: unknown role {other} (USER, CHATBOT, SYSTEM or TOOL)"
                )))
            }
        }
    }
    if let Some(tools) = opt_array(body, "tools")? {
        for (i, t) in tools.iter().enumerate() {
            prompt.tools.push(ToolSpec {
                name: str_field(t, "name")
                    .ok_or_else(|| ValidationError::new(format!("tools.{i}.name: required")))?
                    .to_string(),
                description: str_field(t, "description").map(str::to_string),
                input_schema: schema(t.get("parameter_definitions").and_then(Value::as_object)),
            });
        }
    }
    if body.get("tool_results").is_some_and(|v| !v.is_null()) {
        // The calls being answered, as the assistant turn that made them.
        let list: Vec<Value> = opt_array(body, "tool_results")?
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("call").cloned())
            .collect();
        let turn = prompt.turns.len();
        prompt.turns.push(Turn {
            role: Role::Assistant,
            content: calls(&list, turn),
        });
        let results = tool_results(body.get("tool_results"), &prompt)?;
        prompt.turns.push(Turn {
            role: Role::User,
            content: results,
        });
    }
    if !message.is_empty() || prompt.turns.is_empty() {
        match prompt.turns.last_mut() {
            Some(t) if t.role == Role::User => t.content.push(Part::Text(message.to_string())),
            _ => prompt
                .turns
                .push(Turn::new(Role::User, message.to_string())),
        }
    }
    Ok((prompt, sampling(body)?))
}

/// `tool_results: [{call: {name, parameters}, outputs: [{…}]}]` → tool-result parts, matched
/// to the calls of the last assistant turn by position.
fn tool_results(v: Option<&Value>, prompt: &Prompt) -> Result<Vec<Part>, ValidationError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(ValidationError::new("tool_results: must be a list")),
    };
    let ids: Vec<String> = prompt
        .turns
        .iter()
        .rev()
        .find(|t| t.role == Role::Assistant)
        .map(|t| {
            t.content
                .iter()
                .filter_map(|p| match p {
                    Part::ToolUse(c) => Some(c.id.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(list
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let outputs = r
                .get("outputs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Part::ToolResult(ToolResult {
                tool_use_id: ids.get(k).cloned().unwrap_or_else(|| call_id(0, k)),
                is_error: false,
                content: outputs.into_iter().map(Part::Json).collect(),
            })
        })
        .collect())
}

fn reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence(_) | StopReason::ToolUse => "COMPLETE",
        StopReason::MaxTokens => "MAX_TOKENS",
    }
}

pub(crate) struct Encoder {
    pub(crate) chat: bool,
    text: String,
    tool: Option<(String, String)>,
    calls: Vec<Value>,
}

impl Encoder {
    pub(crate) fn new(chat: bool) -> Encoder {
        Encoder {
            chat,
            text: String::new(),
            tool: None,
            calls: Vec::new(),
        }
    }

    fn flush_tool(&mut self) -> Vec<Value> {
        let Some((name, args)) = self.tool.take() else {
            return Vec::new();
        };
        let parameters: Value = serde_json::from_str(&args).unwrap_or_else(|_| json!({}));
        let call = json!({"name": name, "parameters": parameters});
        self.calls.push(call.clone());
        vec![
            json!({"is_finished": false, "event_type": "tool-calls-generation",
                    "text": self.text, "tool_calls": [call]}),
        ]
    }
}

impl ChunkEncoder for Encoder {
    fn start(&mut self, _input_tokens: u32) -> Vec<Value> {
        if self.chat {
            vec![json!({"is_finished": false, "event_type": "stream-start",
                        "generation_id": crate::ids::uuid()})]
        } else {
            Vec::new()
        }
    }
    fn block_start(&mut self, _index: u32, start: &BlockStart) -> Vec<Value> {
        let out = self.flush_tool();
        if let (true, BlockStart::ToolUse { name, .. }) = (self.chat, start) {
            self.tool = Some((name.clone(), String::new()));
        }
        out
    }
    fn delta(&mut self, text: &str, _tokens: u32) -> Vec<Value> {
        self.text.push_str(text);
        if self.chat {
            vec![json!({"is_finished": false, "event_type": "text-generation", "text": text})]
        } else {
            vec![json!({"text": text, "is_finished": false})]
        }
    }
    fn block_delta(&mut self, _index: u32, delta: &Delta, tokens: u32) -> Vec<Value> {
        match delta {
            Delta::Text(t) => self.delta(t, tokens),
            Delta::ToolInput(s) => {
                if let Some((_, args)) = &mut self.tool {
                    args.push_str(s);
                }
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
    fn block_stop(&mut self, _index: u32) -> Vec<Value> {
        self.flush_tool()
    }
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value> {
        let mut out = self.flush_tool();
        let meta = json!({"billed_units": {"input_tokens": usage.input_tokens,
                                           "output_tokens": usage.output_tokens}});
        if self.chat {
            let mut response = json!({"response_id": crate::ids::uuid(), "text": self.text,
                                      "generation_id": crate::ids::uuid(),
                                      "finish_reason": reason(stop), "meta": meta});
            if !self.calls.is_empty() {
                response["tool_calls"] = Value::Array(std::mem::take(&mut self.calls));
            }
            out.push(json!({"is_finished": true, "event_type": "stream-end",
                            "finish_reason": reason(stop), "response": response}));
        } else {
            out.push(json!({"is_finished": true, "finish_reason": reason(stop),
                            "response": {"id": crate::ids::uuid(), "prompt": "",
                                         "generations": [{"finish_reason": reason(stop),
                                                          "id": crate::ids::uuid(),
                                                          "text": self.text}]}}));
        }
        out
    }
}

pub(crate) fn response(text: &str, stop: &StopReason) -> Value {
    json!({"generations": [{"finish_reason": reason(stop), "id": crate::ids::uuid(), "text": text}],
           "id": crate::ids::uuid(), "prompt": ""})
}

pub(crate) fn chat_response(blocks: &[AnswerBlock], stop: &StopReason) -> Value {
    let calls: Vec<Value> = blocks
        .iter()
        .filter_map(|b| match b {
            AnswerBlock::ToolUse(c) => Some(json!({"name": c.name, "parameters": c.input})),
            _ => None,
        })
        .collect();
    let mut body = json!({"response_id": crate::ids::uuid(),
        "text": AnswerBlock::joined_text(blocks), "generation_id": crate::ids::uuid(),
        "chat_history": [], "finish_reason": reason(stop)});
    if !calls.is_empty() {
        body["tool_calls"] = Value::Array(calls);
    }
    body
}

/// A whole generate body (`stream: false`, or the non-streaming response): each generation is
/// its own text block.
fn decode_generations(body: &Value, list: &[Value]) -> ChunkInfo {
    let mut info = ChunkInfo::recognised();
    for (i, g) in list.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        info.push_text(index, str_field(g, "text").unwrap_or_default());
    }
    if list.len() > 1 {
        for i in 0..list.len() {
            info.push(BlockEvent::Stop {
                index: u32::try_from(i).unwrap_or(u32::MAX),
            });
        }
    }
    info.stop_reason = list
        .first()
        .and_then(|g| str_field(g, "finish_reason"))
        .map(str::to_string);
    meta_into(&mut info, body.get("meta"));
    info
}

fn meta_into(info: &mut ChunkInfo, meta: Option<&Value>) {
    if let Some(m) = meta {
        info.input_tokens = u64_at(m, &["billed_units", "input_tokens"]);
        info.output_tokens = u64_at(m, &["billed_units", "output_tokens"]);
    }
}

/// Legacy Command chunks: `{text, is_finished}` … `{is_finished: true, finish_reason}`, or one
/// whole body with `generations`.
pub(crate) fn decode_chunk(chunk: &Value) -> ChunkInfo {
    if let Some(list) = chunk.get("generations").and_then(Value::as_array) {
        return decode_generations(chunk, list);
    }
    let mut info = ChunkInfo {
        recognised: chunk.get("is_finished").is_some() || chunk.get("text").is_some(),
        ..ChunkInfo::default()
    };
    info.push_text(0, str_field(chunk, "text").unwrap_or_default());
    info.stop_reason = str_field(chunk, "finish_reason").map(str::to_string);
    info
}

pub(crate) fn decode_response(body: &Value) -> ChunkInfo {
    if let Some(list) = body.get("generations").and_then(Value::as_array) {
        return decode_generations(body, list);
    }
    // Command R: `{response_id, text, generation_id, chat_history, finish_reason[, tool_calls]}`
    // (tests/fixtures/invoke/cohere-chat-command-r.json; no usage in the body).
    let mut info = ChunkInfo {
        recognised: body.get("text").is_some(),
        ..ChunkInfo::default()
    };
    info.push_text(0, str_field(body, "text").unwrap_or_default());
    for (k, c) in body
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let index = u32::try_from(k + 1).unwrap_or(u32::MAX);
        info.push(BlockEvent::Start {
            index,
            start: BlockStart::ToolUse {
                id: call_id(0, k),
                name: str_field(c, "name").unwrap_or_default().to_string(),
            },
        });
        let input = c.get("parameters").cloned().unwrap_or_else(|| json!({}));
        info.push(BlockEvent::Delta {
            index,
            delta: Delta::ToolInput(input.to_string()),
        });
        info.push(BlockEvent::Stop { index });
    }
    info.stop_reason = str_field(body, "finish_reason").map(str::to_string);
    meta_into(&mut info, body.get("meta"));
    info
}

/// Command R chat streams: text, then tool calls (whole, without ids: each gets one made from
/// its position).
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamState {
    blocks: Blocks,
    calls: usize,
}

impl StreamState {
    pub(crate) fn decode(&mut self, chunk: &Value) -> ChunkInfo {
        if chunk.get("generations").is_some() {
            return decode_chunk(chunk);
        }
        let mut info = ChunkInfo::recognised();
        match str_field(chunk, "event_type") {
            Some("text-generation") | None => {
                if let Some(t) = str_field(chunk, "text").filter(|t| !t.is_empty()) {
                    let index = self.blocks.enter(Open::Text, None, &mut info);
                    info.push_text(index, t);
                } else if chunk.get("is_finished").is_none() {
                    info.recognised = false;
                }
            }
            Some("tool-calls-generation") => {
                for c in chunk
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = call_id(0, self.calls);
                    self.calls += 1;
                    let start = BlockStart::ToolUse {
                        id: id.clone(),
                        name: str_field(c, "name").unwrap_or_default().to_string(),
                    };
                    let index = self.blocks.enter(Open::Tool(id), Some(start), &mut info);
                    let input = c.get("parameters").cloned().unwrap_or_else(|| json!({}));
                    info.push(BlockEvent::Delta {
                        index,
                        delta: Delta::ToolInput(input.to_string()),
                    });
                }
            }
            Some("stream-end") => {
                self.blocks.close(&mut info);
                let response = chunk.get("response").unwrap_or(&Value::Null);
                info.stop_reason = str_field(chunk, "finish_reason")
                    .or_else(|| str_field(response, "finish_reason"))
                    .map(str::to_string);
                meta_into(&mut info, response.get("meta"));
            }
            Some(_) => {}
        }
        if chunk.get("is_finished").and_then(Value::as_bool) == Some(true) {
            self.blocks.close(&mut info);
            if info.stop_reason.is_none() {
                info.stop_reason = str_field(chunk, "finish_reason").map(str::to_string);
            }
        }
        info
    }
}
