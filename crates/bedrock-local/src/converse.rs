//! The Converse request, read with the shared serde shapes
//! ([`bedrock_families::converse::ConverseRequest`]) into a family-neutral prompt, and validated
//! as Bedrock validates it: the conversation's shape (roles, empty content, blank text), tool
//! blocks against `toolConfig` and against the previous turn's tool calls, images, documents,
//! reasoning, inference parameters and `additionalModelRequestFields` per family.
//!
//! Messages are Bedrock's own where a real one was recorded (tests/fixtures/errors/*.json or a
//! public issue, named beside each); the others are marked "Approximation". Indexes in Bedrock's
//! own messages count from 0 (`messages.2.content`); Coral's constraint messages count list
//! members from 1 (`messages.2.member.content.1.member.toolUse.name`).

use std::collections::HashSet;

use bedrock_families::catalog::Reasoning;
use bedrock_families::converse::{
    CachePointBlock, ContentBlock, ConversationRole, ConverseRequest, DocumentBlock,
    DocumentSource, GuardrailConverseContentBlock, GuardrailImageSource, ImageBlock, MediaSource,
    ReasoningContentBlock, SystemContentBlock, Tool, ToolChoice as WireToolChoice, ToolInputSchema,
    ToolResultContentBlock, ToolResultStatus,
};
use bedrock_families::{
    Document, Family, Media, Part, Prompt, Reasoning as PartReasoning, Role, Sampling, Source,
    Thinking, ToolCall, ToolChoice, ToolResult, ToolSpec, Turn,
};
use serde_json::{Map, Value};

use crate::engine::CachePoint;
use crate::error::BedrockError;
use crate::validate::{self, Ctx};

/// A Converse request, ready for the engine.
#[derive(Debug, Clone)]
pub(crate) struct ConverseCall {
    pub prompt: Prompt,
    pub sampling: Sampling,
    pub cache_points: Vec<CachePoint>,
    /// `additionalModelResponseFieldPaths`.
    pub response_field_paths: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> BedrockError {
    BedrockError::Validation(msg.into())
}

/// Tool names: `ToolName` in botocore's service-2.json (`[a-zA-Z0-9_-]+`, 1..=64).
fn tool_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// Tool-use ids: `ToolUseId` (`[a-zA-Z0-9_.:-]+`, 1..=64).
fn tool_use_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'))
}

fn constraint(at: &str, what: &str) -> BedrockError {
    invalid(format!(
        "1 validation error detected: Value at '{at}' failed to satisfy constraint: {what}"
    ))
}

fn cache_point_ok(c: &CachePointBlock, at: &str) -> Result<(), BedrockError> {
    if c.kind != "default" {
        return Err(constraint(
            &format!("{at}.cachePoint.type"),
            "Member must satisfy enum value set: [default]",
        ));
    }
    match c.ttl.as_deref() {
        None | Some("5m") | Some("1h") => Ok(()),
        Some(_) => Err(constraint(
            &format!("{at}.cachePoint.ttl"),
            "Member must satisfy enum value set: [5m, 1h]",
        )),
    }
}

/// Reads and validates a Converse body (JSON) for the model in `ctx`.
pub(crate) fn read(json: Value, model_id: &str, ctx: &Ctx) -> Result<ConverseCall, BedrockError> {
    let req: ConverseRequest = serde_json::from_value(json).map_err(|e| {
        invalid(format!(
            "Malformed input request: {e}, please reformat your input and try again."
        ))
    })?;
    if let Some(body_id) = &req.model_id {
        if body_id != model_id {
            return Err(invalid(format!(
                "The body's modelId ({body_id}) differs from the one in the URL ({model_id}); Bedrock reads the model id from the URL only."
            )));
        }
    }
    if req.guardrail_config.is_some() {
        return Err(invalid(
            "The local Bedrock endpoint has no guardrails: remove guardrailConfig.",
        ));
    }
    if req.prompt_variables.is_some() {
        return Err(invalid(
            "promptVariables need a prompt resource (a prompt ARN as modelId); the local Bedrock endpoint has no prompt management.",
        ));
    }
    let mut prompt = Prompt::default();
    let mut cache_points = Vec::new();

    // Tools come first in the cached prefix.
    let has_tool_config = req.tool_config.is_some();
    if let Some(config) = &req.tool_config {
        if config.tools.is_empty() {
            // tests/fixtures/errors/tool-config-tools-empty.json.
            return Err(invalid("1 validation error detected: Value at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"));
        }
        for (i, tool) in config.tools.iter().enumerate() {
            let at = format!("toolConfig.tools.{}.member", i + 1);
            match tool {
                Tool::ToolSpec(spec) => {
                    if !tool_name_ok(&spec.name) {
                        // As tests/fixtures/errors/tool-use-name-pattern.json words it for toolUse.
                        return Err(constraint(
                            &format!("{at}.toolSpec.name"),
                            "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                        ));
                    }
                    if prompt.tools.iter().any(|t| t.name == spec.name) {
                        // Approximation: Anthropic's wording for duplicate tool names.
                        return Err(ctx.provider("tools: Tool names must be unique."));
                    }
                    let ToolInputSchema::Json(schema) = &spec.input_schema;
                    if !schema.is_object() {
                        // Approximation: a JSON schema is an object.
                        return Err(invalid(format!(
                            "{at}.toolSpec.inputSchema.json must be a JSON schema object"
                        )));
                    }
                    prompt.tools.push(ToolSpec {
                        name: spec.name.clone(),
                        description: spec.description.clone(),
                        input_schema: schema.clone(),
                    });
                }
                Tool::SystemTool(t) => {
                    return Err(invalid(format!(
                        "The local Bedrock endpoint has no system tools: remove toolConfig.tools systemTool {}.",
                        t.name
                    )));
                }
                Tool::CachePoint(c) => {
                    cache_point_ok(c, &at)?;
                    cache_points.push(CachePoint::Tools {
                        count: prompt.tools.len(),
                    });
                }
            }
        }
        prompt.tool_choice = match &config.tool_choice {
            None | Some(WireToolChoice::Auto(_)) => ToolChoice::Auto,
            Some(WireToolChoice::Any(_)) => ToolChoice::Any,
            Some(WireToolChoice::Tool(t)) => ToolChoice::Tool(t.name.clone()),
        };
    }

    // The system prompt.
    let mut system = String::new();
    for (i, block) in req.system.iter().flatten().enumerate() {
        match block {
            SystemContentBlock::Text(t) => {
                if t.is_empty() {
                    return Err(constraint(
                        &format!("system.{}.member.text", i + 1),
                        "Member must have length greater than or equal to 1",
                    ));
                }
                if !system.is_empty() {
                    system.push('\n');
                }
                system.push_str(t);
            }
            SystemContentBlock::GuardContent(GuardrailConverseContentBlock::Text(t)) => {
                if !system.is_empty() {
                    system.push('\n');
                }
                system.push_str(&t.text);
            }
            SystemContentBlock::GuardContent(GuardrailConverseContentBlock::Image(_)) => {
                return Err(invalid(
                    "System prompts take text only: move the guardContent image into a user message.",
                ));
            }
            SystemContentBlock::CachePoint(c) => {
                cache_point_ok(c, &format!("system.{}.member", i + 1))?;
                cache_points.push(CachePoint::System {
                    chars: system.len(),
                });
            }
        }
    }
    if !system.is_empty() {
        if ctx.model.is_some_and(|m| !m.capabilities.system) {
            // Approximation: worded as the recorded "doesn't support the … field" messages.
            return Err(invalid(
                "This model doesn't support system messages. Remove system and try again.",
            ));
        }
        prompt.system = Some(system);
    }

    // The conversation.
    let messages = req.messages.unwrap_or_default();
    if messages.is_empty() {
        return Err(start_with_user());
    }
    let mut tool_blocks = false;
    for (m, message) in messages.iter().enumerate() {
        let role = match message.role {
            ConversationRole::User => Role::User,
            ConversationRole::Assistant => Role::Assistant,
        };
        if m == 0 && role != Role::User {
            return Err(start_with_user());
        }
        if m > 0 && prompt.turns.last().map(|t| t.role) == Some(role) {
            // tests/fixtures/errors/roles-must-alternate.json.
            return Err(invalid("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."));
        }
        if message.content.is_empty() {
            // tests/fixtures/errors/empty-message-content.json.
            return Err(invalid(format!("The content field in the Message object at messages.{m} is empty. Add a ContentBlock object to the content field and try again.")));
        }
        let mut parts = Vec::with_capacity(message.content.len());
        for (b, block) in message.content.iter().enumerate() {
            if matches!(
                block,
                ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)
            ) {
                tool_blocks = true;
            }
            if let ContentBlock::CachePoint(c) = block {
                cache_point_ok(
                    c,
                    &format!("messages.{}.member.content.{}.member", m + 1, b + 1),
                )?;
                cache_points.push(CachePoint::Message {
                    turn: m,
                    parts: parts.len(),
                });
                continue;
            }
            parts.push(read_block(ctx, role, m, b, block)?);
        }
        prompt.turns.push(Turn {
            role,
            content: parts,
        });
    }
    if tool_blocks && !has_tool_config {
        // tests/fixtures/errors/tool-blocks-without-tool-config.json.
        return Err(invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks."));
    }
    check_tool_results(ctx, &prompt)?;

    // Sampling.
    let mut sampling = Sampling::default();
    if let Some(cfg) = &req.inference_config {
        if let Some(n) = cfg.max_tokens {
            if n < 1 {
                return Err(invalid(format!("1 validation error detected: Value '{n}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1")));
            }
            sampling.max_tokens = u32::try_from(n).ok();
        }
        for (name, v) in [("temperature", cfg.temperature), ("topP", cfg.top_p)] {
            if let Some(v) = v {
                let bound = if v < 0.0 {
                    Some("greater than or equal to 0")
                } else if v > 1.0 {
                    Some("less than or equal to 1")
                } else {
                    None
                };
                if let Some(bound) = bound {
                    return Err(invalid(format!("1 validation error detected: Value '{v}' at 'inferenceConfig.{name}' failed to satisfy constraint: Member must have value {bound}")));
                }
            }
        }
        sampling.temperature = cfg.temperature;
        sampling.top_p = cfg.top_p;
        if let Some(stops) = &cfg.stop_sequences {
            if stops.iter().any(String::is_empty) {
                return Err(constraint(
                    "inferenceConfig.stopSequences",
                    "Member must satisfy constraint: [Member must have length greater than or equal to 1]",
                ));
            }
            sampling.stop_sequences = stops.clone();
        }
    }
    if let Some(fields) = &req.additional_model_request_fields {
        additional_fields(ctx, fields, &mut prompt, &mut sampling)?;
    }
    if let Some(output) = &req.output_config {
        if let Some(format) = &output.text_format {
            if format.kind != "json_schema" {
                return Err(constraint(
                    "outputConfig.textFormat.type",
                    "Member must satisfy enum value set: [json_schema]",
                ));
            }
            let bedrock_families::converse::OutputFormatStructure::JsonSchema(def) =
                &format.structure;
            let schema: Value = serde_json::from_str(&def.schema).map_err(|e| {
                // Approximation: no recorded wording for a schema that is not JSON.
                invalid(format!(
                    "outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: {e}"
                ))
            })?;
            prompt.output_schema = Some(schema);
        }
    }
    let mut paths = Vec::new();
    for p in req.additional_model_response_field_paths.iter().flatten() {
        if !p.starts_with('/') {
            // Approximation: the paths are JSON Pointers.
            return Err(invalid(format!(
                "additionalModelResponseFieldPaths: {p} is not a JSON Pointer (it must start with /)"
            )));
        }
        paths.push(p.clone());
    }

    validate::check_max_tokens(ctx, &sampling)?;
    validate::check_prompt(ctx, &prompt, &sampling)?;
    validate::check_caching(ctx, cache_points.len())?;
    if cache_points
        .first()
        .is_some_and(|c| prefix_is_empty(&prompt, c))
    {
        // tests/fixtures/errors/cache-point-nothing-to-cache.json.
        return Err(invalid(
            "There is nothing available to cache. Please remove the invalid cache point and try again.",
        ));
    }
    Ok(ConverseCall {
        prompt,
        sampling,
        cache_points,
        response_field_paths: paths,
    })
}

fn start_with_user() -> BedrockError {
    // tests/fixtures/errors/conversation-must-start-with-user.json.
    invalid("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
}

fn prefix_is_empty(prompt: &Prompt, point: &CachePoint) -> bool {
    match *point {
        CachePoint::Tools { count } => count == 0,
        CachePoint::System { chars } => prompt.tools.is_empty() && chars == 0,
        CachePoint::Message { turn, parts } => {
            prompt.tools.is_empty() && prompt.system.is_none() && turn == 0 && parts == 0
        }
    }
}

fn media(format: &str, source: &MediaSource) -> Media {
    Media {
        format: format.to_string(),
        source: match source {
            MediaSource::Bytes(b) => Source::Bytes(b.0.clone()),
            MediaSource::S3Location(s) => Source::S3(s.uri.clone()),
        },
    }
}

fn image(ctx: &Ctx, m: usize, b: usize, block: &ImageBlock) -> Result<Part, BedrockError> {
    let media = media(block.format.as_str(), &block.source);
    validate::check_image(ctx, m, b, &media)?;
    Ok(Part::Image(media))
}

fn document(ctx: &Ctx, m: usize, b: usize, block: &DocumentBlock) -> Result<Part, BedrockError> {
    let format = block.format.map(|f| f.as_str().to_string());
    let source = match &block.source {
        DocumentSource::Bytes(bytes) => {
            if bytes.0.is_empty() {
                return Err(constraint(
                    &format!(
                        "messages.{}.member.content.{}.member.document.source.bytes",
                        m + 1,
                        b + 1
                    ),
                    "Member must have length greater than or equal to 1",
                ));
            }
            Source::Bytes(bytes.0.clone())
        }
        DocumentSource::S3Location(s) => Source::S3(s.uri.clone()),
        DocumentSource::Text(t) => Source::Text(t.clone()),
        DocumentSource::Content(blocks) => Source::Text(
            blocks
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    };
    let doc = Document {
        name: block.name.clone(),
        format,
        source,
    };
    validate::check_document(ctx, m, b, &doc)?;
    Ok(Part::Document(doc))
}

/// Images, documents and video go in user messages only (API reference, `Message`).
fn user_only(role: Role, what: &str) -> Result<(), BedrockError> {
    if role == Role::User {
        Ok(())
    } else {
        // Approximation: the API reference's rule, in the recorded messages' words.
        Err(invalid(format!(
            "Assistant messages cannot contain {what} content. Please remove the {what} content and try again."
        )))
    }
}

fn read_block(
    ctx: &Ctx,
    role: Role,
    m: usize,
    b: usize,
    block: &ContentBlock,
) -> Result<Part, BedrockError> {
    let coral = |field: &str| format!("messages.{}.member.content.{}.member.{field}", m + 1, b + 1);
    Ok(match block {
        ContentBlock::Text(t) => {
            if t.trim().is_empty() {
                // Real wording, quoted in continuedev/continue#9767 (ConverseStream).
                return Err(invalid(format!("The text field in the ContentBlock object at messages.{m}.content.{b} is blank. Add text to the text field, and try again.")));
            }
            Part::Text(t.clone())
        }
        ContentBlock::Image(i) => {
            user_only(role, "image")?;
            image(ctx, m, b, i)?
        }
        ContentBlock::Document(d) => {
            user_only(role, "document")?;
            document(ctx, m, b, d)?
        }
        ContentBlock::Video(v) => {
            user_only(role, "video")?;
            let format = serde_json::to_value(v.format)
                .ok()
                .and_then(|f| f.as_str().map(str::to_string))
                .unwrap_or_default();
            let media = media(&format, &v.source);
            validate::check_video(ctx, &media)?;
            Part::Video(media)
        }
        ContentBlock::Audio(_) => {
            // Approximation: worded as the recorded image message; no model here takes audio.
            return Err(invalid(
                "This model doesn't support the audio field for user messages. Remove audio and try again.",
            ));
        }
        ContentBlock::ToolUse(t) => {
            if !tool_name_ok(&t.name) {
                // tests/fixtures/errors/tool-use-name-pattern.json.
                return Err(constraint(
                    &coral("toolUse.name"),
                    "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                ));
            }
            if !tool_use_id_ok(&t.tool_use_id) {
                return Err(constraint(
                    &coral("toolUse.toolUseId"),
                    "Member must satisfy regular expression pattern: [a-zA-Z0-9_.:-]+",
                ));
            }
            if role != Role::Assistant {
                // Approximation: only the assistant calls tools.
                return Err(invalid(format!(
                    "User messages cannot contain toolUse content (messages.{m}.content.{b}). Tool calls belong in assistant messages."
                )));
            }
            Part::ToolUse(ToolCall {
                id: t.tool_use_id.clone(),
                name: t.name.clone(),
                input: t.input.clone(),
            })
        }
        ContentBlock::ToolResult(r) => {
            if !tool_use_id_ok(&r.tool_use_id) {
                return Err(constraint(
                    &coral("toolResult.toolUseId"),
                    "Member must satisfy regular expression pattern: [a-zA-Z0-9_.:-]+",
                ));
            }
            if role != Role::User {
                // Approximation: tool results travel in user messages.
                return Err(invalid(format!(
                    "Assistant messages cannot contain toolResult content (messages.{m}.content.{b}). Tool results belong in user messages."
                )));
            }
            let is_error = r.status == Some(ToolResultStatus::Error);
            if is_error && r.content.is_empty() {
                // tests/fixtures/errors/tool-result-empty-with-error-status.json.
                return Err(invalid(format!("The content field at messages.{m}.content.{b}.toolResult cannot be empty when status value is error.")));
            }
            let mut content = Vec::with_capacity(r.content.len());
            for c in &r.content {
                content.push(match c {
                    ToolResultContentBlock::Json(v) => Part::Json(v.clone()),
                    ToolResultContentBlock::Text(t) => Part::Text(t.clone()),
                    ToolResultContentBlock::Image(i) => image(ctx, m, b, i)?,
                    ToolResultContentBlock::Document(d) => document(ctx, m, b, d)?,
                    ToolResultContentBlock::Video(v) => {
                        let format = serde_json::to_value(v.format)
                            .ok()
                            .and_then(|f| f.as_str().map(str::to_string))
                            .unwrap_or_default();
                        let media = media(&format, &v.source);
                        validate::check_video(ctx, &media)?;
                        Part::Video(media)
                    }
                    ToolResultContentBlock::SearchResult(s) => Part::Text(search_result_text(
                        &s.source,
                        &s.title,
                        s.content.iter().map(|t| t.text.as_str()),
                    )),
                });
            }
            Part::ToolResult(ToolResult {
                tool_use_id: r.tool_use_id.clone(),
                is_error,
                content,
            })
        }
        ContentBlock::GuardContent(GuardrailConverseContentBlock::Text(t)) => {
            Part::Text(t.text.clone())
        }
        ContentBlock::GuardContent(GuardrailConverseContentBlock::Image(i)) => {
            let GuardrailImageSource::Bytes(bytes) = &i.source;
            let media = Media {
                format: i.format.clone(),
                source: Source::Bytes(bytes.0.clone()),
            };
            validate::check_image(ctx, m, b, &media)?;
            Part::Image(media)
        }
        ContentBlock::CachePoint(_) => {
            // Handled by the caller; kept for an exhaustive match.
            return Err(invalid("cachePoint out of place"));
        }
        ContentBlock::ReasoningContent(r) => {
            if role == Role::User {
                // tests/fixtures/errors/reasoning-content-in-user-message.json.
                return Err(invalid("User messages cannot contain reasoning content. Please remove the reasoning content and try again."));
            }
            Part::Reasoning(match r {
                ReasoningContentBlock::ReasoningText(t) => PartReasoning::Text {
                    text: t.text.clone(),
                    signature: t.signature.clone(),
                },
                ReasoningContentBlock::RedactedContent(b) => PartReasoning::Redacted(b.0.clone()),
            })
        }
        ContentBlock::CitationsContent(c) => Part::Text(
            c.content
                .iter()
                .flatten()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(""),
        ),
        ContentBlock::SearchResult(s) => Part::Text(search_result_text(
            &s.source,
            &s.title,
            s.content.iter().map(|t| t.text.as_str()),
        )),
    })
}

fn search_result_text<'a>(
    source: &str,
    title: &str,
    content: impl Iterator<Item = &'a str>,
) -> String {
    let body: Vec<&str> = content.collect();
    format!("{title} ({source}): {}", body.join("\n"))
}

/// Tool results answer the previous turn's tool calls: each id once, none missing, no extras.
fn check_tool_results(ctx: &Ctx, prompt: &Prompt) -> Result<(), BedrockError> {
    let no_mixing = matches!(
        ctx.family,
        Some(Family::Llama | Family::Mistral | Family::MistralChat)
    );
    for (m, turn) in prompt.turns.iter().enumerate() {
        if turn.role == Role::Assistant {
            let mut seen = HashSet::new();
            let mut dups = Vec::new();
            for part in &turn.content {
                if let Part::ToolUse(call) = part {
                    if !seen.insert(call.id.as_str()) && !dups.contains(&call.id.as_str()) {
                        dups.push(call.id.as_str());
                    }
                }
            }
            if !dups.is_empty() {
                // tests/fixtures/errors/duplicate-tool-use-ids.json.
                return Err(invalid(format!(
                    "The toolUse blocks at messages.{m}.content contain duplicate Ids: {}",
                    dups.join(", ")
                )));
            }
            continue;
        }
        let calls: Vec<&str> = m
            .checked_sub(1)
            .and_then(|p| prompt.turns.get(p))
            .map(|prev| {
                prev.content
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolUse(c) => Some(c.id.as_str()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let results: Vec<&str> = turn
            .content
            .iter()
            .filter_map(|p| match p {
                Part::ToolResult(r) => Some(r.tool_use_id.as_str()),
                _ => None,
            })
            .collect();
        if calls.is_empty() && results.is_empty() {
            continue;
        }
        if results.len() > calls.len() {
            // tests/fixtures/errors/too-many-tool-results.json.
            return Err(invalid(format!("The number of toolResult blocks at messages.{m}.content exceeds the number of toolUse blocks of previous turn.")));
        }
        let missing: Vec<&str> = calls
            .iter()
            .copied()
            .filter(|id| !results.contains(id))
            .collect();
        if !missing.is_empty() {
            // tests/fixtures/errors/missing-tool-results-for-ids.json.
            return Err(invalid(format!(
                "Expected toolResult blocks at messages.{m}.content for the following Ids: {}",
                missing.join(", ")
            )));
        }
        if no_mixing && !results.is_empty() && results.len() < turn.content.len() {
            // tests/fixtures/errors/conversation-and-tool-result-blocks-same-turn.json.
            return Err(invalid(format!("messages.{m}.content: Conversation blocks and tool result blocks cannot be provided in the same turn.")));
        }
    }
    Ok(())
}

/// The `additionalModelRequestFields` a family's native request takes through Converse.
/// Anthropic answers an unknown key with pydantic's "Extra inputs are not permitted"
/// (tests/fixtures/errors/model-errors-extra-inputs.json); the other families' schema
/// validators name an "extraneous key" (Approximation, after the recorded InvokeModel wording in
/// malformed-input-extraneous-key-*.json).
fn additional_fields(
    ctx: &Ctx,
    fields: &Value,
    prompt: &mut Prompt,
    sampling: &mut Sampling,
) -> Result<(), BedrockError> {
    let Some(map) = fields.as_object() else {
        // Approximation.
        return Err(invalid(
            "additionalModelRequestFields must be a JSON object",
        ));
    };
    let reasoning = ctx.model.map(|m| m.capabilities.reasoning);
    let anthropic = matches!(
        ctx.family,
        Some(Family::AnthropicMessages | Family::AnthropicText)
    );
    let unknown = |key: &str| {
        if anthropic {
            ctx.provider(format!("{key}: Extra inputs are not permitted"))
        } else {
            ctx.provider(format!("Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."))
        }
    };
    for (key, value) in map {
        match (ctx.family, key.as_str()) {
            (Some(Family::AnthropicMessages | Family::AnthropicText) | None, "thinking") => {
                prompt.thinking = anthropic_thinking(ctx, value)?;
            }
            (
                Some(
                    Family::AnthropicMessages
                    | Family::AnthropicText
                    | Family::Mistral
                    | Family::MistralChat,
                )
                | None,
                "top_k",
            ) => sampling.top_k = Some(top_k(ctx, key, value)?),
            (Some(Family::Cohere | Family::CohereChat), "k") => {
                sampling.top_k = Some(top_k(ctx, key, value)?);
            }
            (Some(Family::AnthropicMessages) | None, "anthropic_beta") => {
                // Beta flags turn on provider features (longer context, interleaved thinking)
                // that do not change what the local engines write.
                let ok = value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string));
                if !ok {
                    return Err(ctx.provider("anthropic_beta: Input should be a valid list"));
                }
            }
            (Some(Family::AnthropicMessages) | None, "tool_choice") => {
                if let Some(existing) = &prompt.tools.first().map(|_| &prompt.tool_choice) {
                    let name = match existing {
                        ToolChoice::Any => "any",
                        ToolChoice::Tool(_) => "tool",
                        ToolChoice::Auto | ToolChoice::None => "auto",
                    };
                    // tests/fixtures/errors/additional-field-conflicts-tool-choice.json.
                    return Err(invalid(format!("The additional field tool_choice/type conflicts with the existing field toolConfig.toolChoice.{name}. Remove tool_choice/type and try again.")));
                }
                return Err(unknown(key));
            }
            (Some(Family::Nova) | None, "inferenceConfig") => {
                let Some(cfg) = value.as_object() else {
                    return Err(unknown(key));
                };
                for (k, v) in cfg {
                    match k.as_str() {
                        "topK" => sampling.top_k = Some(top_k(ctx, k, v)?),
                        other => return Err(unknown(&format!("inferenceConfig/{other}"))),
                    }
                }
            }
            (Some(Family::Nova) | None, "reasoningConfig")
                if reasoning.is_none_or(|r| r == Reasoning::Effort) =>
            {
                prompt.thinking = nova_reasoning(ctx, value, sampling)?;
            }
            (Some(Family::OpenAiChat) | None, "reasoning_effort")
                if reasoning.is_none_or(|r| r == Reasoning::Effort) =>
            {
                prompt.thinking = match value.as_str() {
                    Some(level) => effort_budget(level),
                    None => None,
                }
                .map(Some)
                .ok_or_else(|| {
                    ctx.provider("reasoning_effort: Input should be 'low', 'medium' or 'high'")
                })?;
            }
            _ => return Err(unknown(key)),
        }
    }
    Ok(())
}

fn top_k(ctx: &Ctx, key: &str, value: &Value) -> Result<u32, BedrockError> {
    value
        .as_u64()
        .and_then(|k| u32::try_from(k).ok())
        .ok_or_else(|| ctx.provider(format!("{key}: Input should be a valid integer")))
}

/// An effort level as a token budget (the local engines only need "how much").
fn effort_budget(level: &str) -> Option<Thinking> {
    let budget_tokens = match level {
        "low" => 1024,
        "medium" => 4096,
        "high" => 16384,
        _ => return None,
    };
    Some(Thinking { budget_tokens })
}

/// Anthropic's `thinking: {type: enabled, budget_tokens}` / `{type: disabled}`. The messages
/// for a malformed object are Approximations in pydantic's words, as the recorded
/// `thinking.enabled.budget_tokens` message is.
fn anthropic_thinking(ctx: &Ctx, value: &Value) -> Result<Option<Thinking>, BedrockError> {
    if ctx
        .model
        .is_some_and(|m| m.capabilities.reasoning == Reasoning::None)
    {
        // Approximation: a model without extended thinking has no such field.
        return Err(ctx.provider("thinking: Extra inputs are not permitted"));
    }
    let Some(obj) = value.as_object() else {
        return Err(ctx.provider(
            "thinking: Input should be a valid dictionary or object to extract fields from",
        ));
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("disabled") => {
            extra_keys(ctx, obj, &["type"], "thinking.disabled")?;
            Ok(None)
        }
        Some("enabled") => {
            extra_keys(ctx, obj, &["type", "budget_tokens"], "thinking.enabled")?;
            let budget = obj.get("budget_tokens").ok_or_else(|| {
                ctx.provider("thinking.enabled.budget_tokens: Field required")
            })?;
            let budget_tokens = budget
                .as_u64()
                .map(|b| u32::try_from(b).unwrap_or(u32::MAX))
                .ok_or_else(|| {
                    ctx.provider("thinking.enabled.budget_tokens: Input should be a valid integer")
                })?;
            Ok(Some(Thinking { budget_tokens }))
        }
        Some(other) => Err(ctx.provider(format!("thinking: Input tag '{other}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled'"))),
        None => Err(ctx.provider("thinking: Unable to extract tag using discriminator 'type'")),
    }
}

fn extra_keys(
    ctx: &Ctx,
    obj: &Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), BedrockError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ctx.provider(format!("{at}.{k}: Extra inputs are not permitted"))),
        None => Ok(()),
    }
}

/// Nova 2's `reasoningConfig: {type: enabled|disabled, maxReasoningEffort: low|medium|high}`.
fn nova_reasoning(
    ctx: &Ctx,
    value: &Value,
    sampling: &Sampling,
) -> Result<Option<Thinking>, BedrockError> {
    let bad = || {
        // Approximation.
        ctx.provider("Malformed input request: #/reasoningConfig: expected {\"type\": \"enabled\"|\"disabled\", \"maxReasoningEffort\": \"low\"|\"medium\"|\"high\"}, please reformat your input and try again.")
    };
    let obj = value.as_object().ok_or_else(bad)?;
    match obj.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(None),
        Some("enabled") => {
            let level = obj
                .get("maxReasoningEffort")
                .and_then(Value::as_str)
                .unwrap_or("low");
            if level == "high" && sampling.max_tokens.is_some() {
                // tests/fixtures/errors/nova2-max-tokens-with-high-reasoning.json.
                return Err(ctx.provider("`maxTokens` must be unset when reasoningConfig type is 'enabled' and maxReasoningEffort is 'high'. Please consult our documentation at https://docs.aws.amazon.com/nova/latest/userguide"));
            }
            effort_budget(level).map(Some).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}
