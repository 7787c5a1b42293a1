//! Amazon Bedrock model families as data: which family a model id (or a chunk) belongs to, how its
//! request body names prompt and sampling fields, and what its streamed chunks look like — in both
//! directions, so the function (decoding) and the local endpoint (encoding) share one table.

mod anthropic;
mod anthropic_messages;
pub mod catalog;
mod cohere;
pub mod converse;
mod decode;
mod ids;
mod json;
mod llama;
mod mistral;
pub mod model_id;
mod nova;
mod openai;
mod prompt;
mod prompt_converse;
mod titan;

use serde_json::Value;

pub use anthropic::{is_well_formed_text_prompt, wrap_text_prompt};
pub use decode::ChunkDecoder;
pub use ids::new_tool_use_id;
pub use model_id::{ModelId, ModelIdKind};
pub use prompt::{
    Document, Media, Part, Prompt, Reasoning, Role, Sampling, Source, Thinking, ToolCall,
    ToolChoice, ToolResult, ToolSpec, Turn,
};
pub use prompt_converse::prompt_from_converse;

/// A Bedrock model family: one request shape and one chunk shape for `InvokeModel*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Claude v2 / instant text completions: `prompt` + `max_tokens_to_sample` → `completion`.
    AnthropicText,
    /// Claude Messages API (`anthropic_version`, `messages`) → `message_start` … `message_stop`.
    AnthropicMessages,
    /// Amazon Titan text: `inputText` → `outputText`.
    Titan,
    /// Meta Llama: `prompt` + `max_gen_len` → `generation`.
    Llama,
    /// Mistral text completions: `prompt` → `outputs[{text, stop_reason}]`.
    Mistral,
    /// Mistral chat (Large 2 and later): `messages` → `choices[{message|delta}]`.
    MistralChat,
    /// Cohere Command (legacy generate): `prompt` → `text`, `is_finished`.
    Cohere,
    /// Cohere Command R / R+ chat: `message` → `text`, `is_finished`, `event_type`.
    CohereChat,
    /// Amazon Nova (`messages-v1`): the Converse event shapes inside `chunk` bytes.
    Nova,
    /// OpenAI-shaped chat chunks: AI21 Jamba, OpenAI gpt-oss, Qwen, and compatible imports.
    OpenAiChat,
    /// OpenAI-shaped text completions: DeepSeek R1 (`prompt` → `choices[{text, stop_reason}]`).
    OpenAiText,
}

/// Every family, for tables and tests.
pub const ALL_FAMILIES: [Family; 11] = [
    Family::AnthropicText,
    Family::AnthropicMessages,
    Family::Titan,
    Family::Llama,
    Family::Mistral,
    Family::MistralChat,
    Family::Cohere,
    Family::CohereChat,
    Family::Nova,
    Family::OpenAiChat,
    Family::OpenAiText,
];

/// One content block of a whole (non-streaming) answer.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerBlock {
    Text(String),
    Reasoning {
        text: String,
        signature: Option<String>,
    },
    /// Redacted reasoning: the bytes of Anthropic's `data` string (what Converse's
    /// `redactedContent` blob holds).
    RedactedReasoning(Vec<u8>),
    ToolUse(ToolCall),
}

impl AnswerBlock {
    /// The text of the answer's text blocks, joined (what text-only families return).
    pub fn joined_text(blocks: &[AnswerBlock]) -> String {
        blocks
            .iter()
            .filter_map(|b| match b {
                AnswerBlock::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Why a model stopped writing, in family-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence(String),
    /// The model called a tool and waits for its result.
    ToolUse,
}

impl StopReason {
    /// The Converse API's name for it.
    pub fn converse_name(&self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence(_) => "stop_sequence",
            StopReason::ToolUse => "tool_use",
        }
    }
}

/// Token counts of one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Prompt tokens read from the prompt cache (Converse `cacheReadInputTokens`).
    pub cache_read_input_tokens: u32,
    /// Prompt tokens written to the prompt cache (Converse `cacheWriteInputTokens`).
    pub cache_write_input_tokens: u32,
}

/// What a content block of the answer is, when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockStart {
    Text,
    Reasoning,
    ToolUse { id: String, name: String },
}

/// A piece of a content block, in Converse's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    /// A fragment of a tool call's input JSON (fragments concatenate to the whole input).
    ToolInput(String),
    Reasoning(String),
    ReasoningSignature(String),
    RedactedReasoning(Vec<u8>),
    Citation(Value),
}

/// One event of a streamed answer's content, with the index of its content block.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockEvent {
    Start { index: u32, start: BlockStart },
    Delta { index: u32, delta: Delta },
    Stop { index: u32 },
}

/// What the function learns from one decoded chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkInfo {
    /// Text to forward to the client, if the chunk carries any (the common case, kept apart
    /// from `events` so that a text chunk costs no list): a text delta of block `text_index`
    /// that comes before everything in `events`. Text that follows an event (a block stop,
    /// a tool call) is a `Delta::Text` in `events` instead; [`ChunkInfo::all_text`] joins both.
    pub text: Option<String>,
    /// The content block index of `text` (0 unless the family says otherwise).
    pub text_index: u32,
    /// Everything else the chunk says about the answer's content, in order: block starts
    /// (tool use with id and name), tool-input fragments, reasoning, block stops.
    pub events: Vec<BlockEvent>,
    /// Prompt-cache token counts, when the chunk reports them.
    pub cache_read_input_tokens: Option<u64>,
    pub cache_write_input_tokens: Option<u64>,
    /// The family's own stop reason string (`stop_sequence`, `FINISH`, `length`, …).
    pub stop_reason: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// `amazon-bedrock-invocationMetrics`, present on the last chunk from Bedrock.
    pub metrics: Option<InvocationMetrics>,
    /// False when the chunk matched no known shape (the caller may pass it on raw).
    pub recognised: bool,
}

impl ChunkInfo {
    /// A chunk the decoder recognised, nothing learnt yet.
    pub(crate) fn recognised() -> ChunkInfo {
        ChunkInfo {
            recognised: true,
            ..ChunkInfo::default()
        }
    }

    /// Appends a content event. Text already in `text` came before it (callers emit `text`
    /// first, then `events`), so order is kept.
    pub(crate) fn push(&mut self, event: BlockEvent) {
        self.events.push(event);
    }

    /// Appends text of block `index`: into `text` while no event precedes it (the cheap
    /// common case), into `events` otherwise so that order is kept.
    pub(crate) fn push_text(&mut self, index: u32, text: &str) {
        if text.is_empty() {
            return;
        }
        match &mut self.text {
            Some(t) if self.events.is_empty() && self.text_index == index => t.push_str(text),
            None if self.events.is_empty() => {
                self.text = Some(text.to_string());
                self.text_index = index;
            }
            _ => self.events.push(BlockEvent::Delta {
                index,
                delta: Delta::Text(text.to_string()),
            }),
        }
    }

    /// All the text of the chunk, whether in `text` or in text deltas of `events` (for
    /// callers and tests that want the answer's words only).
    pub fn all_text(&self) -> String {
        let mut out = self.text.clone().unwrap_or_default();
        for e in &self.events {
            if let BlockEvent::Delta {
                delta: Delta::Text(t),
                ..
            } = e
            {
                out.push_str(t);
            }
        }
        out
    }
}

/// Bedrock's `amazon-bedrock-invocationMetrics` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationMetrics {
    pub input_token_count: u64,
    pub output_token_count: u64,
    pub invocation_latency: u64,
    pub first_byte_latency: u64,
}

pub const INVOCATION_METRICS_KEY: &str = "amazon-bedrock-invocationMetrics";

/// A request body Bedrock would refuse, with the message it would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

impl ValidationError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ValidationError(msg.into())
    }
}

/// Builds the chunk JSON objects of one streamed answer, in a family's shape.
///
/// The caller (the local endpoint's stream) numbers content blocks as Converse does and calls
/// `block_start` before the first delta of a block and `block_stop` after its last; text-only
/// families may ignore both. Families that cannot carry a kind of content (tool use, reasoning)
/// never receive it: the request is refused before generation.
pub trait ChunkEncoder: Send {
    /// Chunks sent before any content.
    fn start(&mut self, input_tokens: u32) -> Vec<Value>;
    /// Chunks that open content block `index`.
    fn block_start(&mut self, _index: u32, _start: &BlockStart) -> Vec<Value> {
        Vec::new()
    }
    /// Chunks for one piece of text worth `tokens` tokens (block 0 for text-only answers).
    fn delta(&mut self, text: &str, tokens: u32) -> Vec<Value>;
    /// Chunks for one piece of any content of block `index` (tool input, reasoning, …).
    /// Text goes through [`ChunkEncoder::delta`] by default.
    fn block_delta(&mut self, _index: u32, delta: &Delta, tokens: u32) -> Vec<Value> {
        match delta {
            Delta::Text(t) => self.delta(t, tokens),
            _ => Vec::new(),
        }
    }
    /// Chunks that close content block `index`.
    fn block_stop(&mut self, _index: u32) -> Vec<Value> {
        Vec::new()
    }
    /// The closing chunks; the caller adds the invocation metrics to the last one (see
    /// [`attach_invocation_metrics`]).
    fn finish(&mut self, stop: &StopReason, usage: Usage) -> Vec<Value>;
    /// The `amazon-bedrock-invocationMetrics` object this family's last chunk carries. Nova's
    /// also counts prompt-cache tokens (tests/fixtures/invoke-stream/nova-tool-use-micro.json).
    fn invocation_metrics(&self, metrics: &InvocationMetrics, _usage: Usage) -> Value {
        serde_json::to_value(metrics).unwrap_or(Value::Null)
    }
}

/// Merges the invocation metrics into the last of `chunks` (adding an empty chunk when there
/// is none), as Bedrock does on the last chunk of every InvokeModelWithResponseStream answer
/// (tests/fixtures/FACTS.md §2).
pub fn attach_invocation_metrics(
    encoder: &dyn ChunkEncoder,
    chunks: &mut Vec<Value>,
    metrics: &InvocationMetrics,
    usage: Usage,
) {
    if !matches!(chunks.last(), Some(Value::Object(_))) {
        chunks.push(Value::Object(Default::default()));
    }
    if let Some(Value::Object(last)) = chunks.last_mut() {
        last.insert(
            INVOCATION_METRICS_KEY.into(),
            encoder.invocation_metrics(metrics, usage),
        );
    }
}

impl Family {
    /// A short stable name (`anthropic-text`, `titan`, …), used in logs and docs.
    pub fn name(self) -> &'static str {
        match self {
            Family::AnthropicText => "anthropic-text",
            Family::AnthropicMessages => "anthropic-messages",
            Family::Titan => "titan",
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::MistralChat => "mistral-chat",
            Family::Cohere => "cohere",
            Family::CohereChat => "cohere-chat",
            Family::Nova => "nova",
            Family::OpenAiChat => "openai-chat",
            Family::OpenAiText => "openai-text",
        }
    }

    /// The family a model id implies on its own (foundation model ids, inference-profile ids,
    /// and ARNs of either). `None` when the id says nothing (application inference profiles,
    /// imported or custom models) or names a model that does not generate text.
    pub fn from_model_id(model_id: &str) -> Option<Family> {
        let id = ModelId::parse(model_id);
        let base = id.base()?;
        let (provider, model) = base.split_once('.')?;
        Some(match provider {
            "anthropic"
                if model.starts_with("claude-v2") || model.starts_with("claude-instant") =>
            {
                Family::AnthropicText
            }
            "anthropic" => Family::AnthropicMessages,
            "amazon" if model.starts_with("titan-text") || model.starts_with("titan-tg1") => {
                Family::Titan
            }
            "amazon" if model.starts_with("nova") => Family::Nova,
            "meta" if model.starts_with("llama") => Family::Llama,
            "mistral" if mistral::chat_only(model) => Family::MistralChat,
            "mistral" => Family::Mistral,
            "cohere" if model.starts_with("command-r") => Family::CohereChat,
            "cohere" if model.starts_with("command") => Family::Cohere,
            "ai21" if model.starts_with("jamba") => Family::OpenAiChat,
            "deepseek" if model.starts_with("r1") => Family::OpenAiText,
            "deepseek" | "openai" | "qwen" | "writer" | "moonshot" | "minimax" | "google" => {
                Family::OpenAiChat
            }
            _ => return None,
        })
    }

    /// The family for a request: the model id first, refined by the body where one model
    /// accepts two shapes (Claude v2 takes Messages bodies; Mistral Large takes both); the body
    /// alone when the id says nothing.
    pub fn for_request(model_id: &str, body: &Value) -> Option<Family> {
        let by_body = Family::from_request_body(body);
        match (Family::from_model_id(model_id), by_body) {
            (Some(Family::AnthropicText), Some(Family::AnthropicMessages)) => {
                Some(Family::AnthropicMessages)
            }
            (Some(Family::Mistral), Some(Family::MistralChat)) => Some(Family::MistralChat),
            (Some(f), _) => Some(f),
            (None, b) => b,
        }
    }

    /// Sniffs a request body's shape.
    pub fn from_request_body(body: &Value) -> Option<Family> {
        let has = |k: &str| body.get(k).is_some();
        if has("anthropic_version") {
            Some(Family::AnthropicMessages)
        } else if has("max_tokens_to_sample") {
            Some(Family::AnthropicText)
        } else if has("inputText") {
            Some(Family::Titan)
        } else if has("schemaVersion") || has("inferenceConfig") {
            Some(Family::Nova)
        } else if has("max_gen_len") {
            Some(Family::Llama)
        } else if has("message") && (has("chat_history") || has("preamble") || !has("messages")) {
            Some(Family::CohereChat)
        } else if has("messages") {
            Some(Family::OpenAiChat)
        } else {
            None
        }
    }

    /// Sniffs a streamed chunk's shape: for model ids that say nothing about the family.
    pub fn from_chunk(chunk: &Value) -> Option<Family> {
        let has = |k: &str| chunk.get(k).is_some();
        let ty = chunk.get("type").and_then(Value::as_str).unwrap_or("");
        if ty.starts_with("message_") || ty.starts_with("content_block_") || ty == "ping" {
            Some(Family::AnthropicMessages)
        } else if has("completion") {
            Some(Family::AnthropicText)
        } else if has("outputText") {
            Some(Family::Titan)
        } else if has("generation") {
            Some(Family::Llama)
        } else if has("outputs") {
            Some(Family::Mistral)
        } else if has("generations") {
            // A whole Cohere generate body (a `stream: false` request's only chunk).
            Some(Family::Cohere)
        } else if has("is_finished") {
            if has("event_type") {
                Some(Family::CohereChat)
            } else {
                Some(Family::Cohere)
            }
        } else if has("messageStart")
            || has("contentBlockDelta")
            || has("contentBlockStart")
            || has("contentBlockStop")
            || has("messageStop")
            || has("metadata")
        {
            Some(Family::Nova)
        } else if let Some(choice) = json::first_choice(chunk) {
            if choice.get("text").is_some() {
                Some(Family::OpenAiText)
            } else {
                Some(Family::OpenAiChat)
            }
        } else if chunk.get("choices").is_some_and(Value::is_array)
            || json::str_field(chunk, "object") == Some("chat.completion.chunk")
        {
            // The extra last chunk of an OpenAI-shaped stream: `choices: []` and the usage.
            Some(Family::OpenAiChat)
        } else {
            None
        }
    }

    /// Every max-output-tokens field this family reads, as paths of object keys; the first is
    /// the one set when a body has none. Two names where the family's parser reads either
    /// (`nova::parse_request`: `max_new_tokens`, else `maxTokens`; `openai::parse_chat_request`:
    /// `max_completion_tokens`, else `max_tokens`).
    pub fn max_tokens_paths(self) -> &'static [&'static [&'static str]] {
        match self {
            Family::AnthropicText => &[&["max_tokens_to_sample"]],
            Family::Titan => &[&["textGenerationConfig", "maxTokenCount"]],
            Family::Llama => &[&["max_gen_len"]],
            Family::Nova => &[
                &["inferenceConfig", "max_new_tokens"],
                &["inferenceConfig", "maxTokens"],
            ],
            Family::OpenAiChat | Family::MistralChat => {
                &[&["max_tokens"], &["max_completion_tokens"]]
            }
            Family::AnthropicMessages
            | Family::Mistral
            | Family::Cohere
            | Family::CohereChat
            | Family::OpenAiText => &[&["max_tokens"]],
        }
    }

    /// The max-output-tokens field set when a body has none (the first of
    /// [`Family::max_tokens_paths`]).
    pub fn max_tokens_path(self) -> &'static [&'static str] {
        self.max_tokens_paths()[0]
    }

    /// Caps every max-output-tokens field of the body at `limit`, and sets the first one when
    /// the body has none, so that whichever name the model reads, it reads at most `limit`.
    /// Errors when the body is not a JSON object, a field is not a number, or the request
    /// cannot carry a cap (Nova with `maxReasoningEffort: high` must leave `maxTokens` unset).
    pub fn cap_max_tokens(self, body: &mut Value, limit: u64) -> Result<(), ValidationError> {
        if !body.is_object() {
            return Err(ValidationError::new("request body must be a JSON object"));
        }
        let mut present = false;
        for path in self.max_tokens_paths() {
            present |= cap_field(body, path, limit, false)?;
        }
        if !present {
            if self == Family::Nova && nova_high_effort(body) {
                return Err(ValidationError::new(
                    "MAX_OUTPUT_TOKENS cannot be applied: Nova needs `inferenceConfig.maxTokens` unset when reasoningConfig.maxReasoningEffort is 'high'; use low or medium effort",
                ));
            }
            cap_field(body, self.max_tokens_path(), limit, true)?;
        }
        Ok(())
    }

    /// Caps the max-output-tokens fields of this family that the body has, adding none;
    /// returns whether it had any. For the second family a model id admits (Claude v2 reads
    /// Messages bodies too), so that a decoy field of the other shape is capped as well.
    pub fn cap_present_max_tokens(
        self,
        body: &mut Value,
        limit: u64,
    ) -> Result<bool, ValidationError> {
        let mut present = false;
        for path in self.max_tokens_paths() {
            present |= cap_field(body, path, limit, false)?;
        }
        Ok(present)
    }

    /// Reads one streamed chunk on its own (the JSON inside a `chunk` event's bytes). Block
    /// indexes are the family's own; a whole stream is better read with a [`ChunkDecoder`],
    /// which numbers blocks as Converse does (Nova's one-block-per-text-piece, OpenAI's tool
    /// call indexes) and finds gpt-oss reasoning split across chunks.
    pub fn decode_chunk(self, chunk: &Value) -> ChunkInfo {
        ChunkDecoder::new(self).decode(chunk)
    }

    /// Reads a request body into a prompt and sampling settings, validating it as Bedrock does.
    pub fn parse_request(self, body: &Value) -> Result<(Prompt, Sampling), ValidationError> {
        if !body.is_object() {
            return Err(ValidationError::new(
                "Malformed input request: expected type: JSONObject, please reformat your input and try again.",
            ));
        }
        match self {
            Family::AnthropicText => anthropic::parse_text_request(body),
            Family::AnthropicMessages => anthropic_messages::parse_request(body),
            Family::Titan => titan::parse_request(body),
            Family::Llama => llama::parse_request(body),
            Family::Mistral => mistral::parse_text_request(body),
            Family::MistralChat | Family::OpenAiChat => openai::parse_chat_request(body),
            Family::Cohere => cohere::parse_request(body),
            Family::CohereChat => cohere::parse_chat_request(body),
            Family::Nova => nova::parse_request(body),
            Family::OpenAiText => openai::parse_text_request(body),
        }
    }

    /// A streaming encoder for this family's chunk shapes.
    pub fn encoder(self, model_id: &str) -> Box<dyn ChunkEncoder> {
        match self {
            Family::AnthropicText => Box::new(anthropic::TextEncoder),
            Family::AnthropicMessages => Box::new(anthropic_messages::Encoder::new(model_id)),
            Family::Titan => Box::new(titan::Encoder::default()),
            Family::Llama => Box::new(llama::Encoder::default()),
            Family::Mistral => Box::new(mistral::TextEncoder),
            Family::MistralChat => Box::new(mistral::ChatEncoder::default()),
            Family::Cohere => Box::new(cohere::Encoder::new(false)),
            Family::CohereChat => Box::new(cohere::Encoder::new(true)),
            Family::Nova => Box::new(nova::Encoder::new()),
            Family::OpenAiChat => Box::new(openai::ChatEncoder::new(model_id)),
            Family::OpenAiText => Box::new(openai::TextEncoder),
        }
    }

    /// The non-streaming `InvokeModel` response body of a text answer.
    pub fn response_body(
        self,
        model_id: &str,
        text: &str,
        stop: &StopReason,
        usage: Usage,
    ) -> Value {
        self.response_body_blocks(
            model_id,
            &[AnswerBlock::Text(text.to_string())],
            stop,
            usage,
        )
    }

    /// The non-streaming `InvokeModel` response body of an answer with reasoning and tool
    /// calls, in the family's shape. Families that cannot carry a kind of block never receive
    /// it (the request is refused first); text-only families return the joined text.
    pub fn response_body_blocks(
        self,
        model_id: &str,
        blocks: &[AnswerBlock],
        stop: &StopReason,
        usage: Usage,
    ) -> Value {
        let text = AnswerBlock::joined_text(blocks);
        match self {
            Family::AnthropicText => anthropic::text_response(&text, stop),
            Family::AnthropicMessages => {
                anthropic_messages::response(model_id, blocks, stop, usage)
            }
            Family::Titan => titan::response(&text, stop, usage),
            Family::Llama => llama::response(&text, stop, usage),
            Family::Mistral => mistral::text_response(&text, stop),
            Family::MistralChat => mistral::chat_response(blocks, stop),
            Family::Cohere => cohere::response(&text, stop),
            Family::CohereChat => cohere::chat_response(blocks, stop),
            Family::Nova => nova::response(blocks, stop, usage),
            Family::OpenAiChat => openai::chat_response(model_id, blocks, stop, usage),
            Family::OpenAiText => openai::text_response(&text, stop),
        }
    }

    /// Reads a non-streaming `InvokeModel` response body (for `invoke`-style callers and tests).
    pub fn decode_response(self, body: &Value) -> ChunkInfo {
        match self {
            Family::AnthropicMessages => anthropic_messages::decode_response(body),
            Family::Titan => titan::decode_response(body),
            Family::Cohere | Family::CohereChat => cohere::decode_response(body),
            Family::Nova => nova::decode_response(body),
            Family::OpenAiChat | Family::MistralChat => openai::decode_chat_response(body),
            _ => self.decode_chunk(body),
        }
    }
}

/// Nova's `reasoningConfig: {type: enabled, maxReasoningEffort: high}`.
fn nova_high_effort(body: &Value) -> bool {
    body.get("reasoningConfig").is_some_and(|c| {
        c.get("type").and_then(Value::as_str) == Some("enabled")
            && c.get("maxReasoningEffort").and_then(Value::as_str) == Some("high")
    })
}

/// Caps the number at `path` at `limit`; with `insert`, sets it when absent (creating the
/// parent objects). Returns whether the field was there.
fn cap_field(
    body: &mut Value,
    path: &[&str],
    limit: u64,
    insert: bool,
) -> Result<bool, ValidationError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(false);
    };
    let mut node = body;
    for key in parents {
        let obj = node
            .as_object_mut()
            .ok_or_else(|| ValidationError::new("request body must be a JSON object"))?;
        if !insert && obj.get(*key).is_none_or(|v| v.is_null()) {
            return Ok(false);
        }
        let child = obj
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Default::default()));
        if child.is_null() {
            *child = Value::Object(Default::default());
        }
        node = child;
    }
    let obj = node.as_object_mut().ok_or_else(|| {
        ValidationError::new(format!("`{}` must be a JSON object", parents.join(".")))
    })?;
    match obj.get(*last) {
        None | Some(Value::Null) => {
            if insert {
                obj.insert((*last).to_string(), Value::from(limit));
            }
            Ok(false)
        }
        Some(v) => {
            let current = v.as_f64().ok_or_else(|| {
                ValidationError::new(format!("`{}` must be a number", path.join(".")))
            })?;
            if current > limit as f64 {
                obj.insert((*last).to_string(), Value::from(limit));
            }
            Ok(true)
        }
    }
}
