//! Bedrock's checks of what a request asks of a model, shared by Converse and InvokeModel: tool
//! use and tool choice, images, documents and video, reasoning (`thinking`) with its budget
//! rules, and prompt caching — each against the model's catalog entry.
//!
//! Messages are Bedrock's own where a real one was recorded (tests/fixtures/errors/*.json,
//! named beside each); the others are marked "Approximation" with what they are modelled on.
//! Errors that Bedrock relays from the model provider carry the prefix `The model returned the
//! following errors: ` on Converse and come without it on InvokeModel (FACTS.md §6).

use bedrock_families::catalog::{ModelInfo, Reasoning, MIN_THINKING_BUDGET};
use bedrock_families::{Document, Family, Media, Part, Prompt, Role, Sampling, Source, ToolChoice};

use crate::error::BedrockError;
use crate::media;
use crate::models::Operation;

/// Bedrock's per-request limits for a model the id does not name (the catalog's
/// `Capabilities` carry them per model): the API reference's `Message` ("up to 20 images. Each
/// image's size, height, and width must be no more than 3.75 MB, 8000 px, and 8000 px … up to
/// five documents. Each document's size must be no more than 4.5 MB", API_runtime_Message.html).
const MAX_IMAGES: usize = 20;
const MAX_IMAGE_BYTES: usize = 3_932_160; // 3.75 × 1024 × 1024
const MAX_IMAGE_PX: usize = 8000;
const MAX_DOCUMENTS: usize = 5;
const MAX_DOCUMENT_BYTES: usize = 4_718_592; // 4.5 × 1024 × 1024
/// Anthropic's image limit is on the base64 text: 5 MiB
/// (tests/fixtures/errors/image-exceeds-5mb.json: `7167852 bytes > 5242880 bytes`).
const MAX_IMAGE_BASE64: usize = 5_242_880;

/// Who is asking: the model (when the id names one), the family that shapes it, and the
/// operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub model: Option<&'static ModelInfo>,
    pub family: Option<Family>,
    pub op: Operation,
}

fn invalid(msg: impl Into<String>) -> BedrockError {
    BedrockError::Validation(msg.into())
}

impl Ctx {
    /// An error the model provider reports, as Bedrock relays it on this operation.
    pub(crate) fn provider(&self, text: impl AsRef<str>) -> BedrockError {
        if self.op.converse() {
            invalid(format!(
                "The model returned the following errors: {}",
                text.as_ref()
            ))
        } else {
            invalid(text.as_ref())
        }
    }

    fn anthropic(&self) -> bool {
        matches!(
            self.family,
            Some(Family::AnthropicMessages | Family::AnthropicText)
        )
    }

    fn caps(&self) -> Option<bedrock_families::catalog::Capabilities> {
        self.model.map(|m| m.capabilities)
    }

    /// (images, image bytes, image px, documents, document bytes) this model takes.
    fn limits(&self) -> (usize, usize, usize, usize, usize) {
        match self.caps() {
            Some(c) => (
                usize::from(c.max_images),
                c.max_image_bytes as usize,
                c.max_image_px as usize,
                usize::from(c.max_documents),
                c.max_document_bytes as usize,
            ),
            None => (
                MAX_IMAGES,
                MAX_IMAGE_BYTES,
                MAX_IMAGE_PX,
                MAX_DOCUMENTS,
                MAX_DOCUMENT_BYTES,
            ),
        }
    }
}

/// Checks one image at `messages.{m}.content.{b}` (0-based, as Bedrock's own messages count).
pub(crate) fn check_image(
    ctx: &Ctx,
    m: usize,
    b: usize,
    image: &Media,
) -> Result<(), BedrockError> {
    if let Some(caps) = ctx.caps() {
        if !caps.images {
            // tests/fixtures/errors/image-not-supported-by-model.json.
            return Err(invalid(
                "This model doesn't support the image field for user messages. Remove image and try again.",
            ));
        }
    }
    let bytes = match &image.source {
        Source::Bytes(b) => b,
        Source::S3(_) | Source::Text(_) => return Err(no_s3("image")),
    };
    let at = format!("messages.{m}.content.{b}.image.source.bytes");
    let base64_len = bytes.len().div_ceil(3) * 4;
    let (_, max_bytes, max_px, _, _) = ctx.limits();
    if bytes.len() > max_bytes {
        return Err(if ctx.anthropic() {
            // tests/fixtures/errors/image-exceeds-5mb.json (Anthropic counts the base64 text).
            ctx.provider(format!(
                "{at}: image exceeds 5 MB maximum: {base64_len} bytes > {MAX_IMAGE_BASE64} bytes"
            ))
        } else {
            // Approximation: the API reference's limit, in the recorded message's words.
            ctx.provider(format!(
                "{at}: image exceeds 3.75 MB maximum: {} bytes > {max_bytes} bytes",
                bytes.len()
            ))
        });
    }
    let declared = image.format.as_str();
    match media::sniff_image(bytes) {
        // Approximation: Anthropic's wording for bytes that are no image.
        None => Err(ctx.provider(format!("{at}: Could not process image"))),
        // Approximation: Anthropic's wording for a format that does not match the bytes.
        Some(info) if info.format != declared => Err(ctx.provider(format!(
            "{at}: The image was specified using the image/{declared} media type, but the image appears to be a image/{} image",
            info.format
        ))),
        Some(info) if info.width > max_px || info.height > max_px => {
            // Approximation: the API reference's 8000 px limit.
            Err(ctx.provider(format!(
                "{at}: image dimensions exceed max allowed size: {max_px} pixels"
            )))
        }
        Some(_) => Ok(()),
    }
}

/// The local endpoint has no S3 access; a clear refusal beats a silent empty image.
fn no_s3(what: &str) -> BedrockError {
    invalid(format!(
        "The local Bedrock endpoint cannot read S3 objects: send the {what} as bytes instead of s3Location."
    ))
}

/// Checks one document at `messages.{m}.content.{b}`.
pub(crate) fn check_document(
    ctx: &Ctx,
    m: usize,
    b: usize,
    doc: &Document,
) -> Result<(), BedrockError> {
    if let Some(caps) = ctx.caps() {
        if !caps.documents {
            // Approximation: the image message (recorded) with `document`.
            return Err(invalid(
                "This model doesn't support the document field for user messages. Remove document and try again.",
            ));
        }
    }
    // Coral's length constraint counts list members from 1
    // (tests/fixtures/errors/document-name-*.json: `messages.1.member.content.2.member`).
    let len = doc.name.chars().count();
    let at = format!(
        "messages.{}.member.content.{}.member.document.name",
        m + 1,
        b + 1
    );
    if len < 1 {
        return Err(invalid(format!("1 validation error detected: Value at '{at}' failed to satisfy constraint: Member must have length greater than or equal to 1")));
    }
    if len > 200 {
        return Err(invalid(format!("1 validation error detected: Value at '{at}' failed to satisfy constraint: Member must have length less than or equal to 200")));
    }
    if !media::document_name_ok(&doc.name) {
        // tests/fixtures/errors/document-name-charset.json.
        return Err(invalid("The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character. Check that the file name conforms to these restrictions and retry your request."));
    }
    let bytes: &[u8] = match &doc.source {
        Source::Bytes(b) => b,
        Source::Text(t) => t.as_bytes(),
        Source::S3(_) => return Err(no_s3("document")),
    };
    let (_, _, _, _, max_bytes) = ctx.limits();
    if bytes.len() > max_bytes {
        // Approximation: the API reference's 4.5 MB limit.
        return Err(invalid(format!(
            "The document {} is {} bytes; documents must be no more than 4.5 MB ({max_bytes} bytes).",
            doc.name,
            bytes.len()
        )));
    }
    if let (Some(format), Source::Bytes(_)) = (doc.format.as_deref(), &doc.source) {
        if !media::document_matches(format, bytes) {
            // Approximation: no recorded Bedrock wording for bytes that are not the format.
            return Err(ctx.provider(format!(
                "messages.{m}.content.{b}.document.source.bytes: The document {} is not a valid {format} file",
                doc.name
            )));
        }
    }
    Ok(())
}

/// Checks a video block's support (its bytes are passed on unread).
pub(crate) fn check_video(ctx: &Ctx, video: &Media) -> Result<(), BedrockError> {
    if let Some(caps) = ctx.caps() {
        if !caps.video {
            // Approximation: the image message (recorded) with `video`.
            return Err(invalid(
                "This model doesn't support the video field for user messages. Remove video and try again.",
            ));
        }
    }
    match video.source {
        Source::S3(_) | Source::Text(_) => Err(no_s3("video")),
        Source::Bytes(_) => Ok(()),
    }
}

/// Every image, document and video of a prompt from an InvokeModel body, with its turn and part
/// index (the family parsers keep the body's order).
pub(crate) fn check_media(ctx: &Ctx, prompt: &Prompt) -> Result<(), BedrockError> {
    for (m, turn) in prompt.turns.iter().enumerate() {
        for (b, part) in turn.content.iter().enumerate() {
            check_part_media(ctx, m, b, part)?;
            if let Part::ToolResult(r) = part {
                for inner in &r.content {
                    check_part_media(ctx, m, b, inner)?;
                }
            }
        }
    }
    Ok(())
}

fn check_part_media(ctx: &Ctx, m: usize, b: usize, part: &Part) -> Result<(), BedrockError> {
    match part {
        Part::Image(i) => check_image(ctx, m, b, i),
        Part::Document(d) => check_document(ctx, m, b, d),
        Part::Video(v) => check_video(ctx, v),
        _ => Ok(()),
    }
}

/// The whole-prompt checks: counts of images and documents, reasoning in user turns, tool use
/// and tool choice, and thinking with its budget rules.
pub(crate) fn check_prompt(
    ctx: &Ctx,
    prompt: &Prompt,
    sampling: &Sampling,
) -> Result<(), BedrockError> {
    let (mut images, mut documents) = (0usize, 0usize);
    let mut tool_blocks = false;
    for turn in &prompt.turns {
        for part in &turn.content {
            match part {
                Part::Image(_) => images += 1,
                Part::Document(_) => documents += 1,
                Part::ToolUse(_) => tool_blocks = true,
                Part::ToolResult(r) => {
                    tool_blocks = true;
                    for inner in &r.content {
                        match inner {
                            Part::Image(_) => images += 1,
                            Part::Document(_) => documents += 1,
                            _ => {}
                        }
                    }
                }
                Part::Reasoning(_) if turn.role == Role::User => {
                    // tests/fixtures/errors/reasoning-content-in-user-message.json.
                    return Err(invalid("User messages cannot contain reasoning content. Please remove the reasoning content and try again."));
                }
                _ => {}
            }
        }
    }
    let (max_images, _, _, max_documents, _) = ctx.limits();
    // A model without images or documents was refused per block already.
    if images > max_images && max_images > 0 {
        // Approximation: the API reference's limit of 20 images.
        return Err(invalid(format!(
            "Too many images: the request has {images} images and a request may have at most {max_images}."
        )));
    }
    if documents > max_documents && max_documents > 0 {
        // Approximation: the API reference's limit of five documents.
        return Err(invalid(format!(
            "Too many documents: the request has {documents} documents and a request may have at most {max_documents}."
        )));
    }
    check_tools(ctx, prompt, tool_blocks)?;
    check_thinking(ctx, prompt, sampling)
}

fn check_tools(ctx: &Ctx, prompt: &Prompt, tool_blocks: bool) -> Result<(), BedrockError> {
    if prompt.tools.is_empty() && !tool_blocks {
        return Ok(());
    }
    if let Some(caps) = ctx.caps() {
        if !caps.tool_use {
            // tests/fixtures/errors/tool-use-not-supported.json.
            return Err(invalid("This model doesn't support tool use."));
        }
        if ctx.op == Operation::ConverseStream && !caps.tool_use_streaming {
            // tests/fixtures/errors/tool-use-not-supported-in-streaming.json.
            return Err(invalid(
                "This model doesn't support tool use in streaming mode.",
            ));
        }
        match &prompt.tool_choice {
            ToolChoice::Any if !caps.tool_choice_any => {
                // tests/fixtures/errors/tool-choice-any-not-supported.json.
                return Err(invalid("This model doesn't support the toolConfig.toolChoice.any field. Remove toolConfig.toolChoice.any and try again."));
            }
            ToolChoice::Tool(_) if !caps.tool_choice_tool => {
                // tests/fixtures/errors/tool-choice-tool-not-supported.json.
                return Err(invalid("This model doesn't support the toolConfig.toolChoice.tool field. Remove toolConfig.toolChoice.tool and try again."));
            }
            _ => {}
        }
    }
    if let ToolChoice::Tool(name) = &prompt.tool_choice {
        if !prompt.tools.iter().any(|t| &t.name == name) {
            // Approximation: no recorded wording for a tool choice naming no defined tool.
            return Err(ctx.provider(format!(
                "tool_choice.name: Tool '{name}' not found in the tools provided (toolConfig.tools)"
            )));
        }
    }
    Ok(())
}

/// `maxTokens` above the model's output limit (Converse; the catalog knows the limit).
pub(crate) fn check_max_tokens(ctx: &Ctx, sampling: &Sampling) -> Result<(), BedrockError> {
    let limit = ctx.caps().map_or(0, |c| c.max_output_tokens);
    match sampling.max_tokens {
        // Real wording, quoted in vercel/ai#2772 and langgenius/dify#10390.
        Some(n) if limit > 0 && n > limit => Err(invalid(format!(
            "The maximum tokens you requested exceeds the model limit of {limit}. Try again with a maximum tokens value that is lower than {limit}."
        ))),
        _ => Ok(()),
    }
}

fn check_thinking(ctx: &Ctx, prompt: &Prompt, sampling: &Sampling) -> Result<(), BedrockError> {
    let Some(thinking) = prompt.thinking else {
        return Ok(());
    };
    let reasoning = ctx.caps().map_or(Reasoning::Budget, |c| c.reasoning);
    if reasoning == Reasoning::None {
        // Approximation: a model without reasoning has no `thinking` field in its schema, so its
        // provider rejects it as any unknown field (model-errors-extra-inputs.json's wording).
        return Err(ctx.provider("thinking: Extra inputs are not permitted"));
    }
    if reasoning != Reasoning::Budget {
        return Ok(());
    }
    if thinking.budget_tokens < MIN_THINKING_BUDGET {
        // tests/fixtures/errors/thinking-budget-below-1024.json.
        return Err(ctx.provider(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ));
    }
    if let Some(max) = sampling.max_tokens {
        if max <= thinking.budget_tokens {
            // tests/fixtures/errors/thinking-max-tokens-not-greater-than-budget.json.
            return Err(ctx.provider("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"));
        }
    }
    if sampling.temperature.is_some_and(|t| t != 1.0) {
        // tests/fixtures/errors/thinking-temperature-not-1.json.
        return Err(ctx.provider("temperature may only be set to 1 when thinking is enabled."));
    }
    if sampling.top_p.is_some() {
        // tests/fixtures/errors/thinking-top-p-must-be-unset.json.
        return Err(ctx.provider("top_p must be unset when thinking is enabled."));
    }
    if sampling.top_k.is_some() {
        // Approximation: the top_p message (recorded) for top_k.
        return Err(ctx.provider("top_k must be unset when thinking is enabled."));
    }
    if matches!(prompt.tool_choice, ToolChoice::Any | ToolChoice::Tool(_))
        && !prompt.tools.is_empty()
    {
        // tests/fixtures/errors/thinking-with-forced-tool-choice.json.
        return Err(ctx.provider("Thinking may not be enabled when tool_choice forces tool use."));
    }
    Ok(())
}

/// Prompt caching asked of a model that has none.
pub(crate) fn check_caching(ctx: &Ctx, cache_points: usize) -> Result<(), BedrockError> {
    if cache_points == 0 {
        return Ok(());
    }
    match ctx.caps() {
        // Real wording, quoted in cline/cline#2064 and zeroclaw-labs/zeroclaw#7312 (HTTP 400).
        Some(caps) if !caps.prompt_caching => Err(invalid(
            "You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.",
        )),
        _ => Ok(()),
    }
}

/// Anthropic's own check of a Messages body's tool results: a user message after tool calls
/// begins with as many `tool_result` blocks. Its text, as Bedrock passes it through on
/// InvokeModelWithResponseStream (inside the stream, without the Converse prefix:
/// tests/fixtures/errors/stream-validation-exception-tool-result.json).
pub(crate) fn anthropic_tool_results(prompt: &Prompt) -> Option<String> {
    for (m, pair) in prompt.turns.windows(2).enumerate() {
        let calls = pair[0]
            .content
            .iter()
            .filter(|p| matches!(p, Part::ToolUse(_)))
            .count();
        if pair[0].role != Role::Assistant || calls == 0 {
            continue;
        }
        let leading = pair[1]
            .content
            .iter()
            .take_while(|p| matches!(p, Part::ToolResult(_)))
            .count();
        if pair[1].role != Role::User || leading < calls {
            return Some(format!("messages.{}: Did not find {calls} `tool_result` block(s) at the beginning of this message. Messages following `tool_use` blocks must begin with a matching number of `tool_result` blocks.", m + 1));
        }
    }
    None
}
