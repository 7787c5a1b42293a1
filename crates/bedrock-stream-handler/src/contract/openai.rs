//! `POST /v1/chat/completions`: OpenAI's chat-completions request, mapped onto a Converse
//! request, plus what the response needs to know (streaming, usage, the tool whose input is a
//! `response_format` answer, at most one tool call).
//!
//! Every member of OpenAI's request is either carried, refused with a 400 that names it, or
//! accepted because it cannot change the answer (`docs/openai-fields.md` has the table). The
//! request and every message, part and tool are typed with `deny_unknown_fields`, so a member
//! this module does not know is a 400 as well: an OpenAI field added after this was written is
//! refused rather than silently dropped. Field names and shapes follow the `openai` Python SDK
//! 3.57.0 (`openai/types/chat/completion_create_params.py` and the message/part/tool param
//! types beside it), which is generated from OpenAI's OpenAPI spec.

use std::collections::HashSet;

use base64::Engine as _;
use bedrock_families::catalog::{self, Reasoning};
use bedrock_families::converse::{
    AudioBlock, Blob, ContentBlock, ConversationRole, ConverseRequest, DocumentBlock,
    DocumentFormat, DocumentSource, Empty, ImageBlock, ImageFormat, InferenceConfiguration,
    MediaSource, Message, ServiceTier, SpecificToolChoice, SystemContentBlock, Tool, ToolChoice,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification,
    ToolUseBlock,
};
use bedrock_families::Family;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::{json, Value};

use super::parse_json;
use crate::error::AppError;

/// What parsing may do besides reading the body.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ParseOptions {
    /// `ALLOW_IMAGE_URLS`: https image URLs are fetched by the handler; otherwise only data URLs.
    pub allow_image_urls: bool,
}

/// A chat-completions request, read: the Converse request to send and how to answer.
#[derive(Debug)]
pub(crate) struct ChatCall {
    pub converse: ConverseRequest,
    pub stream: bool,
    pub include_usage: bool,
    /// The tool whose input is the answer, when `response_format` asked for JSON.
    pub json_tool: Option<String>,
    /// `parallel_tool_calls: false`: answer with the first tool call only.
    pub single_tool_call: bool,
    /// `reasoning_effort`, applied once the model is known ([`ChatCall::apply_reasoning`]).
    pub reasoning_effort: Option<String>,
    /// Image parts given as https URLs: placeholders in `converse` that `image_url` fills in.
    pub remote_images: Vec<RemoteImage>,
}

/// An `image_url` part whose bytes must be fetched: where its placeholder block sits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RemoteImage {
    /// Index into `converse.messages`.
    pub message: usize,
    /// Index into that message's content.
    pub block: usize,
    pub url: String,
    /// The request path of the part, for error messages (`messages[1].content[0].image_url`).
    pub field: String,
}

// ---------------------------------------------------------------------------------------------
// The request, as OpenAI names it
// ---------------------------------------------------------------------------------------------

/// OpenAI's `CompletionCreateParams`, every member named. Members that cannot change the answer
/// are read as `IgnoredAny`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatCompletionRequest {
    model: Option<String>,
    messages: Vec<Value>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Option<Stop>,
    n: Option<i64>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    service_tier: Option<String>,
    // Refused unless they leave the answer as it is.
    logprobs: Option<bool>,
    top_logprobs: Option<i64>,
    logit_bias: Option<serde_json::Map<String, Value>>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    seed: Option<i64>,
    audio: Option<Value>,
    modalities: Option<Vec<String>>,
    verbosity: Option<String>,
    web_search_options: Option<Value>,
    moderation: Option<Value>,
    functions: Option<Value>,
    function_call: Option<Value>,
    // Accepted: they cannot change the answer. Labels for OpenAI's abuse detection and
    // storage, prompt-cache hints, and a predicted output (which only speeds OpenAI up: the
    // answer is the same with or without it). Read so that they are known, never used.
    #[allow(dead_code)]
    user: Option<IgnoredAny>,
    #[allow(dead_code)]
    metadata: Option<IgnoredAny>,
    #[allow(dead_code)]
    store: Option<IgnoredAny>,
    #[allow(dead_code)]
    safety_identifier: Option<IgnoredAny>,
    #[allow(dead_code)]
    prompt_cache_key: Option<IgnoredAny>,
    #[allow(dead_code)]
    prompt_cache_retention: Option<IgnoredAny>,
    #[allow(dead_code)]
    prompt_cache_options: Option<IgnoredAny>,
    #[allow(dead_code)]
    prediction: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamOptions {
    include_usage: Option<bool>,
    /// Padding against length side channels; this server sends none, the answer is the same.
    #[allow(dead_code)]
    include_obfuscation: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// `content` of system, developer and tool messages: a string or text parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Value>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemMessage {
    #[allow(dead_code)]
    role: IgnoredAny,
    content: Content,
    /// A participant label: Converse has none; see [`ignored_name`].
    #[allow(dead_code)]
    name: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserMessage {
    #[allow(dead_code)]
    role: IgnoredAny,
    content: Content,
    #[allow(dead_code)]
    name: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssistantMessage {
    #[allow(dead_code)]
    role: IgnoredAny,
    content: Option<Content>,
    refusal: Option<String>,
    tool_calls: Option<Vec<Value>>,
    function_call: Option<Value>,
    audio: Option<Value>,
    #[allow(dead_code)]
    name: Option<IgnoredAny>,
    /// This server's own reasoning output, sent back by clients that echo the whole message.
    /// Not carried: OpenAI's API takes no reasoning back, providers drop earlier turns'
    /// reasoning, and without its signature Bedrock could not verify it.
    #[allow(dead_code)]
    reasoning_content: Option<IgnoredAny>,
    /// Output-only (URL citations), echoed back by clients like the reasoning.
    #[allow(dead_code)]
    annotations: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolMessage {
    #[allow(dead_code)]
    role: IgnoredAny,
    content: Content,
    tool_call_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionToolCall {
    id: String,
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    function: FunctionCallBody,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionCallBody {
    name: String,
    arguments: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextPart {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    text: String,
    /// An explicit prompt-cache breakpoint: a caching hint, it cannot change the answer.
    #[allow(dead_code)]
    prompt_cache_breakpoint: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefusalPart {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    refusal: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImagePart {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    image_url: ImageUrl,
    #[allow(dead_code)]
    prompt_cache_breakpoint: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageUrl {
    url: String,
    /// `auto`/`low`/`high`/`original`: OpenAI's resizing. Bedrock has no such setting; the
    /// image goes at full resolution (the most `detail` can ask for).
    #[allow(dead_code)]
    detail: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AudioPart {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    input_audio: InputAudio,
    #[allow(dead_code)]
    prompt_cache_breakpoint: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputAudio {
    data: String,
    format: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePart {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    file: FileBody,
    #[allow(dead_code)]
    prompt_cache_breakpoint: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    file_data: Option<String>,
    file_id: Option<String>,
    filename: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionTool {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    function: FunctionDefinition,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionDefinition {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedToolChoice {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    function: NamedFunction,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedFunction {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSchemaFormat {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
    json_schema: JsonSchemaSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSchemaSpec {
    name: String,
    description: Option<String>,
    schema: Option<Value>,
    strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeOnly {
    #[serde(rename = "type")]
    #[allow(dead_code)]
    kind: IgnoredAny,
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn bad(message: impl Into<String>) -> AppError {
    AppError::bad_request(message)
}

/// Deserialises one nested member, naming where it is when it does not fit.
fn typed<T: DeserializeOwned>(value: &Value, at: &str) -> Result<T, AppError> {
    T::deserialize(value).map_err(|e| bad(format!("{at}: {e}")))
}

/// The `type` (or `role`) member of a tagged object.
fn tag<'a>(value: &'a Value, key: &str, at: &str) -> Result<&'a str, AppError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{at}: `{key}` is missing or not a string")))
}

/// Refuses a member that would change the answer and cannot be carried.
fn refuse(field: &str, why: &str) -> AppError {
    bad(format!(
        "`{field}` is not supported: {why}. Remove it (see docs/openai-fields.md)"
    ))
}

/// A `data:` URL, split: its media type and decoded bytes.
pub(crate) struct DataUrl {
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Base64 as clients write it: standard alphabet, padding optional, whitespace tolerated.
fn decode_base64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::{
        general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig,
    };
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT
        .decode(&compact)
        .or_else(|_| general_purpose::URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=')))
}

/// Parses `data:<media type>[;params];base64,<data>` (RFC 2397; only base64 data is accepted,
/// as every OpenAI client sends).
pub(crate) fn parse_data_url(url: &str, at: &str) -> Result<DataUrl, AppError> {
    let rest = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &url[5..])
        .ok_or_else(|| bad(format!("{at}: not a data URL")))?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| bad(format!("{at}: a data URL needs a `,` before its data")))?;
    let mut params = meta.split(';');
    let media_type = params.next().unwrap_or("").trim().to_ascii_lowercase();
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(bad(format!(
            "{at}: the data URL must be base64 (`data:<type>;base64,...`)"
        )));
    }
    let bytes = decode_base64(data).map_err(|e| {
        bad(format!(
            "{at}: the data URL's data is not valid base64: {e}"
        ))
    })?;
    Ok(DataUrl { media_type, bytes })
}

/// The image formats Converse takes (`ImageFormat`), by MIME type.
pub(crate) fn image_format_for_mime(mime: &str) -> Option<ImageFormat> {
    match mime.split(';').next().unwrap_or("").trim() {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::Webp),
        _ => None,
    }
}

/// The image format the bytes are, by their signature (PNG, JPEG, GIF, WebP file headers).
pub(crate) fn sniff_image(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

/// The largest image Bedrock's Converse takes: "Each image's size, height, and width must be no
/// more than 3.75 MB, 8,000 px, and 8,000 px" (Bedrock user guide, Converse API, `ImageBlock`).
pub(crate) const MAX_IMAGE_BYTES: usize = 3_932_160;

/// Checks image bytes against the format their MIME type declares, and Bedrock's size limit.
pub(crate) fn image_block(mime: &str, bytes: Vec<u8>, at: &str) -> Result<ImageBlock, AppError> {
    let declared = image_format_for_mime(mime).ok_or_else(|| {
        bad(format!(
            "{at}: image type `{mime}` is not supported; Bedrock takes image/png, image/jpeg, image/gif and image/webp"
        ))
    })?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(bad(format!(
            "{at}: the image is {} bytes; Bedrock takes images up to 3.75 MB ({MAX_IMAGE_BYTES} bytes)",
            bytes.len()
        )));
    }
    match sniff_image(&bytes) {
        Some(actual) if actual == declared => Ok(ImageBlock {
            format: declared,
            source: MediaSource::Bytes(Blob(bytes)),
            error: None,
        }),
        Some(actual) => Err(bad(format!(
            "{at}: the image is declared `{mime}` but its bytes are {}",
            actual.as_str()
        ))),
        None => Err(bad(format!(
            "{at}: the bytes are not a {} image",
            declared.as_str()
        ))),
    }
}

/// Document formats Converse takes (`DocumentFormat`), by MIME type, then by file extension.
fn document_format(mime: Option<&str>, filename: Option<&str>) -> Option<DocumentFormat> {
    let by_mime = mime.and_then(|m| match m.split(';').next().unwrap_or("").trim() {
        "application/pdf" => Some(DocumentFormat::Pdf),
        "text/csv" => Some(DocumentFormat::Csv),
        "application/msword" => Some(DocumentFormat::Doc),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            Some(DocumentFormat::Docx)
        }
        "application/vnd.ms-excel" => Some(DocumentFormat::Xls),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => {
            Some(DocumentFormat::Xlsx)
        }
        "text/html" => Some(DocumentFormat::Html),
        "text/plain" => Some(DocumentFormat::Txt),
        "text/markdown" | "text/x-markdown" => Some(DocumentFormat::Md),
        _ => None,
    });
    by_mime.or_else(|| {
        let ext = filename?.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "pdf" => DocumentFormat::Pdf,
            "csv" => DocumentFormat::Csv,
            "doc" => DocumentFormat::Doc,
            "docx" => DocumentFormat::Docx,
            "xls" => DocumentFormat::Xls,
            "xlsx" => DocumentFormat::Xlsx,
            "html" | "htm" => DocumentFormat::Html,
            "txt" | "text" => DocumentFormat::Txt,
            "md" | "markdown" => DocumentFormat::Md,
            _ => return None,
        })
    })
}

/// A document name Bedrock accepts, from a file name: Bedrock's `DocumentBlock.name` takes only
/// alphanumerics, single whitespace, hyphens, parentheses and square brackets, 1 to 200
/// characters (botocore `DocumentBlock`, and the errors in the fixtures' FACTS.md). The extension
/// goes (the format says it); other characters become spaces.
fn document_name(filename: Option<&str>, taken: &mut HashSet<String>) -> String {
    let stem = filename
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
        .map(|f| f.rsplit_once('.').map_or(f, |(s, _)| s))
        .unwrap_or("");
    let mapped: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut name: String = mapped.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        name = "document".into();
    }
    let mut name: String = name.chars().take(190).collect();
    name = name.trim_end().to_string();
    let base = name.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) && n < 10_000 {
        name = format!("{base} ({n})");
        n += 1;
    }
    name
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// Converse turns under construction: consecutive blocks of one role share a turn, since
/// Converse requires user and assistant turns to alternate.
#[derive(Default)]
struct Turns {
    messages: Vec<Message>,
    remote_images: Vec<RemoteImage>,
    document_names: HashSet<String>,
    /// Whether any turn carries toolUse or toolResult blocks.
    has_tool_blocks: bool,
}

impl Turns {
    /// Appends a block to the current turn of `role` (a new turn when the role changes), and
    /// says where it went.
    fn push(&mut self, role: ConversationRole, block: ContentBlock) -> (usize, usize) {
        if matches!(
            block,
            ContentBlock::ToolUse(_) | ContentBlock::ToolResult(_)
        ) {
            self.has_tool_blocks = true;
        }
        match self.messages.last_mut() {
            Some(last) if last.role == role => {
                last.content.push(block);
            }
            _ => self.messages.push(Message {
                role,
                content: vec![block],
            }),
        }
        let m = self.messages.len() - 1;
        (m, self.messages[m].content.len() - 1)
    }
}

/// The text of a system, developer or tool message's content (text parts only).
fn text_parts(content: Content, at: &str) -> Result<Vec<String>, AppError> {
    match content {
        Content::Text(t) => Ok(vec![t]),
        Content::Parts(parts) => parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = format!("{at}.content[{i}]");
                match tag(p, "type", &at)? {
                    "text" => Ok(typed::<TextPart>(p, &at)?.text),
                    other => Err(bad(format!(
                        "{at}: content part type `{other}` is not allowed here; this message takes text parts"
                    ))),
                }
            })
            .collect(),
    }
}

/// One user content part → Converse blocks.
fn user_part(
    part: &Value,
    at: &str,
    opts: ParseOptions,
    turns: &mut Turns,
) -> Result<(), AppError> {
    match tag(part, "type", at)? {
        "text" => {
            let p: TextPart = typed(part, at)?;
            turns.push(ConversationRole::User, ContentBlock::Text(p.text));
        }
        "image_url" => {
            let p: ImagePart = typed(part, at)?;
            let field = format!("{at}.image_url.url");
            let url = p.image_url.url.trim();
            if url.len() >= 5 && url[..5].eq_ignore_ascii_case("data:") {
                let data = parse_data_url(url, &field)?;
                let image = image_block(&data.media_type, data.bytes, &field)?;
                turns.push(ConversationRole::User, ContentBlock::Image(image));
            } else if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
                if !opts.allow_image_urls {
                    return Err(bad(format!(
                        "{field}: image URLs are off on this server (ALLOW_IMAGE_URLS); send the image as a data URL (data:image/png;base64,...)"
                    )));
                }
                // A placeholder: `image_url` fetches the bytes and fills it in.
                let (message, block) = turns.push(
                    ConversationRole::User,
                    ContentBlock::Image(ImageBlock {
                        format: ImageFormat::Png,
                        source: MediaSource::Bytes(Blob(Vec::new())),
                        error: None,
                    }),
                );
                turns.remote_images.push(RemoteImage {
                    message,
                    block,
                    url: url.to_string(),
                    field,
                });
            } else if opts.allow_image_urls {
                return Err(bad(format!(
                    "{field}: only https image URLs and data URLs are accepted"
                )));
            } else {
                return Err(bad(format!(
                    "{field}: send the image as a data URL (data:image/png;base64,...); image URLs are off on this server (ALLOW_IMAGE_URLS) and must be https when on"
                )));
            }
        }
        "input_audio" => {
            let p: AudioPart = typed(part, at)?;
            let format = match p.input_audio.format.as_str() {
                f @ ("wav" | "mp3") => f.to_string(),
                other => {
                    return Err(bad(format!(
                        "{at}.input_audio.format: `{other}` is not an OpenAI audio format (wav, mp3)"
                    )))
                }
            };
            let bytes = decode_base64(&p.input_audio.data).map_err(|e| {
                bad(format!(
                    "{at}.input_audio.data is not valid base64: {e}"
                ))
            })?;
            turns.push(
                ConversationRole::User,
                ContentBlock::Audio(AudioBlock {
                    format,
                    source: MediaSource::Bytes(Blob(bytes)),
                    error: None,
                }),
            );
        }
        "file" => {
            let p: FilePart = typed(part, at)?;
            if p.file.file_id.is_some() {
                return Err(bad(format!(
                    "{at}.file.file_id: this server has no Files API; send the file inline as file_data (a data URL) with a filename"
                )));
            }
            let data = p.file.file_data.ok_or_else(|| {
                bad(format!("{at}.file: file_data is missing"))
            })?;
            let field = format!("{at}.file.file_data");
            let (mime, bytes) = if data.len() >= 5 && data[..5].eq_ignore_ascii_case("data:") {
                let d = parse_data_url(&data, &field)?;
                (Some(d.media_type), d.bytes)
            } else {
                let bytes = decode_base64(&data)
                    .map_err(|e| bad(format!("{field} is not valid base64: {e}")))?;
                (None, bytes)
            };
            let filename = p.file.filename.as_deref();
            let format = document_format(mime.as_deref(), filename).ok_or_else(|| {
                bad(format!(
                    "{at}.file: cannot tell the document's format from its type `{}` or filename `{}`; Bedrock takes pdf, csv, doc, docx, xls, xlsx, html, txt and md",
                    mime.as_deref().unwrap_or(""),
                    filename.unwrap_or("")
                ))
            })?;
            let name = document_name(filename, &mut turns.document_names);
            turns.push(
                ConversationRole::User,
                ContentBlock::Document(DocumentBlock {
                    format: Some(format),
                    name,
                    source: DocumentSource::Bytes(Blob(bytes)),
                    context: None,
                    citations: None,
                }),
            );
        }
        other => {
            return Err(bad(format!(
                "{at}: content part type `{other}` is not supported; use text, image_url, input_audio or file"
            )))
        }
    }
    Ok(())
}

fn assistant_message(value: &Value, at: &str, turns: &mut Turns) -> Result<(), AppError> {
    let m: AssistantMessage = typed(value, at)?;
    if m.function_call.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            &format!("{at}.function_call"),
            "the legacy function-calling fields are not carried; send tool_calls",
        ));
    }
    if m.audio.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            &format!("{at}.audio"),
            "it refers to an OpenAI audio response, which Bedrock cannot see",
        ));
    }
    let mut texts = Vec::new();
    match m.content {
        None => {}
        Some(Content::Text(t)) => texts.push(t),
        Some(Content::Parts(parts)) => {
            for (i, p) in parts.iter().enumerate() {
                let pat = format!("{at}.content[{i}]");
                match tag(p, "type", &pat)? {
                    "text" => texts.push(typed::<TextPart>(p, &pat)?.text),
                    "refusal" => texts.push(typed::<RefusalPart>(p, &pat)?.refusal),
                    other => {
                        return Err(bad(format!(
                            "{pat}: content part type `{other}` is not allowed in an assistant message (text, refusal)"
                        )))
                    }
                }
            }
        }
    }
    if let Some(r) = m.refusal {
        texts.push(r);
    }
    let calls = m.tool_calls.unwrap_or_default();
    // A turn needs some content; blank text next to tool calls is noise Bedrock refuses.
    for t in texts {
        if !t.trim().is_empty() || calls.is_empty() {
            turns.push(ConversationRole::Assistant, ContentBlock::Text(t));
        }
    }
    for (j, call) in calls.iter().enumerate() {
        let cat = format!("{at}.tool_calls[{j}]");
        match tag(call, "type", &cat)? {
            "function" => {}
            other => {
                return Err(bad(format!(
                    "{cat}: tool call type `{other}` is not supported (function)"
                )))
            }
        }
        let c: FunctionToolCall = typed(call, &cat)?;
        let input = if c.function.arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str::<Value>(&c.function.arguments).map_err(|e| {
                bad(format!(
                    "{cat}.function.arguments is not valid JSON ({e}); it must be the JSON the model produced"
                ))
            })?
        };
        turns.push(
            ConversationRole::Assistant,
            ContentBlock::ToolUse(ToolUseBlock {
                tool_use_id: c.id,
                name: c.function.name,
                input,
                kind: None,
            }),
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tools and response_format
// ---------------------------------------------------------------------------------------------

/// `tool_choice`, read.
#[derive(Debug, Clone, PartialEq)]
enum Choice {
    None,
    Auto,
    Required,
    Named(String),
}

fn tool_choice(value: &Value) -> Result<Choice, AppError> {
    const AT: &str = "tool_choice";
    match value {
        Value::String(s) => match s.as_str() {
            "none" => Ok(Choice::None),
            "auto" => Ok(Choice::Auto),
            "required" => Ok(Choice::Required),
            other => Err(bad(format!(
                "tool_choice: `{other}` is not one of none, auto, required, or a named function"
            ))),
        },
        Value::Object(_) => match tag(value, "type", AT)? {
            "function" => Ok(Choice::Named(typed::<NamedToolChoice>(value, AT)?.function.name)),
            "allowed_tools" => Err(refuse(
                "tool_choice.allowed_tools",
                "restricting the model to a subset of the tools is not carried; send only those tools",
            )),
            "custom" => Err(refuse(
                "tool_choice (custom)",
                "custom tools are not carried; use function tools",
            )),
            other => Err(bad(format!("tool_choice: unknown type `{other}`"))),
        },
        _ => Err(bad(
            "tool_choice must be none, auto, required, or {\"type\": \"function\", \"function\": {\"name\": ...}}",
        )),
    }
}

fn function_tool(value: &Value, at: &str) -> Result<ToolSpecification, AppError> {
    match tag(value, "type", at)? {
        "function" => {}
        "custom" => {
            return Err(refuse(
                &format!("{at} (custom tool)"),
                "custom (free-form or grammar) tools are not carried; use function tools",
            ))
        }
        other => return Err(bad(format!("{at}: unknown tool type `{other}`"))),
    }
    let t: FunctionTool = typed(value, at)?;
    let f = t.function;
    // OpenAI: "Omitting `parameters` defines a function with an empty parameter list."
    let schema = f
        .parameters
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    if !schema.is_object() {
        return Err(bad(format!(
            "{at}.function.parameters must be a JSON schema object"
        )));
    }
    Ok(ToolSpecification {
        name: f.name,
        description: f.description.filter(|d| !d.trim().is_empty()),
        input_schema: ToolInputSchema::Json(schema),
        // Only `true` is sent: `false` is Bedrock's default, and models without strict tool
        // use refuse the member.
        strict: f.strict.filter(|s| *s),
    })
}

/// The tool that carries a `response_format` answer: its input is the JSON document.
fn answer_tool(value: &Value) -> Result<Option<ToolSpecification>, AppError> {
    const AT: &str = "response_format";
    if value.is_null() {
        return Ok(None);
    }
    match tag(value, "type", AT)? {
        "text" => {
            typed::<TypeOnly>(value, AT)?;
            Ok(None)
        }
        "json_object" => {
            typed::<TypeOnly>(value, AT)?;
            Ok(Some(ToolSpecification {
                name: "json_object".into(),
                description: Some(
                    "Give your whole answer as this tool's input: one JSON object.".into(),
                ),
                input_schema: ToolInputSchema::Json(json!({"type": "object"})),
                strict: None,
            }))
        }
        "json_schema" => {
            let spec = typed::<JsonSchemaFormat>(value, AT)?.json_schema;
            let valid_name = !spec.name.is_empty()
                && spec.name.len() <= 64
                && spec
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(bad(
                    "response_format.json_schema.name must be 1 to 64 of a-z, A-Z, 0-9, _ and -",
                ));
            }
            let schema = spec.schema.unwrap_or_else(|| json!({"type": "object"}));
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(bad(
                    "response_format.json_schema.schema: the root must be {\"type\": \"object\", ...}: the answer travels as a Bedrock tool input, which is a JSON object",
                ));
            }
            let description = spec.description.filter(|d| !d.trim().is_empty()).map_or_else(
                || format!("Give your whole answer as this tool's input (the `{}` response format).", spec.name),
                |d| format!("Give your whole answer as this tool's input. {d}"),
            );
            Ok(Some(ToolSpecification {
                name: spec.name,
                description: Some(description),
                input_schema: ToolInputSchema::Json(schema),
                strict: spec.strict.filter(|s| *s),
            }))
        }
        other => Err(bad(format!(
            "response_format: unknown type `{other}` (text, json_object, json_schema)"
        ))),
    }
}

/// Builds `toolConfig` from `tools`, `tool_choice` and `response_format`.
///
/// - `auto` (or no choice) → no `toolChoice` (Bedrock's default is auto, and some models refuse
///   the member); `required` → `any`; a named function → `tool`.
/// - `none` → no `toolConfig` at all: the model cannot call a tool it is not told about. When
///   the history carries tool calls, Bedrock insists on `toolConfig` and has no "none" choice,
///   so that combination is a 400 rather than a request the model might answer with a call.
/// - `response_format` json → one more tool, the answer tool; the choice forces it when there
///   are no other tools, and becomes `any` (call a tool or give the answer) when there are.
fn tool_config(
    tools: Vec<ToolSpecification>,
    choice: Choice,
    answer: Option<ToolSpecification>,
    history_has_tools: bool,
) -> Result<Option<ToolConfiguration>, AppError> {
    let mut names = HashSet::new();
    for t in &tools {
        if !names.insert(t.name.as_str()) {
            return Err(bad(format!("tools: two tools are named `{}`", t.name)));
        }
    }
    if let Some(a) = &answer {
        if names.contains(a.name.as_str()) {
            return Err(bad(format!(
                "response_format.json_schema.name `{}` is also a tool's name; rename one",
                a.name
            )));
        }
    }
    if let Choice::Named(n) = &choice {
        if !names.contains(n.as_str()) {
            return Err(bad(format!(
                "tool_choice names `{n}`, which is not among the tools"
            )));
        }
    }
    if choice == Choice::Required && tools.is_empty() {
        return Err(bad("tool_choice `required` needs tools"));
    }
    let (tools, choice) = if choice == Choice::None {
        if history_has_tools {
            return Err(bad(
                "tool_choice `none` cannot be honoured when the messages carry tool calls: Bedrock requires the tools to be declared for them and has no `none` choice. Send tool_choice auto, or leave the tool calls out of the history",
            ));
        }
        (Vec::new(), Choice::Auto)
    } else {
        (tools, choice)
    };
    let user_tools = tools.len();
    let mut specs = tools;
    let choice = match answer {
        Some(a) => {
            let name = a.name.clone();
            specs.push(a);
            match choice {
                Choice::Auto | Choice::None if user_tools == 0 => {
                    Some(ToolChoice::Tool(SpecificToolChoice { name }))
                }
                Choice::Auto | Choice::None | Choice::Required => Some(ToolChoice::Any(Empty {})),
                Choice::Named(n) => Some(ToolChoice::Tool(SpecificToolChoice { name: n })),
            }
        }
        None => match choice {
            Choice::Auto | Choice::None => None,
            Choice::Required => Some(ToolChoice::Any(Empty {})),
            Choice::Named(n) => Some(ToolChoice::Tool(SpecificToolChoice { name: n })),
        },
    };
    if specs.is_empty() {
        return Ok(None);
    }
    Ok(Some(ToolConfiguration {
        tools: specs.into_iter().map(Tool::ToolSpec).collect(),
        tool_choice: choice,
    }))
}

// ---------------------------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------------------------

/// Refuses what would change the answer and is not carried.
fn refuse_uncarried(req: &ChatCompletionRequest) -> Result<(), AppError> {
    if let Some(n) = req.n {
        if n != 1 {
            return Err(refuse("n", "Bedrock returns one choice per call; send n=1"));
        }
    }
    if req.logprobs == Some(true) {
        return Err(refuse(
            "logprobs",
            "Bedrock does not return token log probabilities",
        ));
    }
    if req.top_logprobs.is_some_and(|n| n != 0) {
        return Err(refuse(
            "top_logprobs",
            "Bedrock does not return token log probabilities",
        ));
    }
    if req.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(refuse(
            "logit_bias",
            "Bedrock's Converse API has no token biases",
        ));
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        return Err(refuse(
            "presence_penalty",
            "Bedrock's Converse API has no presence penalty",
        ));
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        return Err(refuse(
            "frequency_penalty",
            "Bedrock's Converse API has no frequency penalty",
        ));
    }
    if req.seed.is_some() {
        return Err(refuse(
            "seed",
            "Bedrock cannot sample reproducibly from a seed",
        ));
    }
    if req.audio.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            "audio",
            "Bedrock's Converse API does not answer with audio",
        ));
    }
    if let Some(m) = &req.modalities {
        if m.iter().any(|x| x != "text") {
            return Err(refuse("modalities", "only text output is carried"));
        }
    }
    if let Some(v) = &req.verbosity {
        if v != "medium" {
            return Err(refuse(
                "verbosity",
                "Bedrock has no verbosity setting (medium, the default, is accepted)",
            ));
        }
    }
    if req
        .web_search_options
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        return Err(refuse(
            "web_search_options",
            "there is no web search behind this server",
        ));
    }
    if req.moderation.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(refuse("moderation", "OpenAI moderation is not available; Bedrock guardrails are configured through /converse"));
    }
    if req.functions.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            "functions",
            "the legacy function-calling fields are not carried; send tools",
        ));
    }
    if req.function_call.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            "function_call",
            "the legacy function-calling fields are not carried; send tool_choice",
        ));
    }
    Ok(())
}

/// OpenAI's `service_tier` → Bedrock's `serviceTier`: `flex` and `priority` (and `fast`, which
/// OpenAI serves as priority) exist on both; `auto` and `default` mean Bedrock's default; `scale`
/// (OpenAI's reserved capacity) has no on-demand Bedrock counterpart and is left to the default.
/// The tier changes price and latency, never the answer.
fn service_tier(tier: Option<&str>) -> Result<Option<ServiceTier>, AppError> {
    Ok(match tier {
        None | Some("auto" | "default" | "scale") => None,
        Some("flex") => Some(ServiceTier {
            kind: "flex".into(),
        }),
        Some("priority" | "fast") => Some(ServiceTier {
            kind: "priority".into(),
        }),
        Some(other) => {
            return Err(bad(format!(
                "service_tier: `{other}` is not one of auto, default, flex, scale, priority, fast"
            )))
        }
    })
}

/// Reads a chat-completions body into a Converse request.
pub(crate) fn parse(body: &[u8], opts: ParseOptions) -> Result<ChatCall, AppError> {
    let req: ChatCompletionRequest = parse_json(body).map_err(|e| {
        // serde lists every known field after an unknown one; the name is what matters.
        match e.message.find(", expected one of") {
            Some(cut) if e.message.contains("unknown field") => AppError::bad_request(format!(
                "{}: this server does not carry it (see docs/openai-fields.md)",
                &e.message[..cut]
            )),
            _ => e,
        }
    })?;
    refuse_uncarried(&req)?;

    let mut system = Vec::new();
    let mut turns = Turns::default();
    for (i, m) in req.messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        match tag(m, "role", &at)? {
            "system" | "developer" => {
                let msg: SystemMessage = typed(m, &at)?;
                for t in text_parts(msg.content, &at)? {
                    system.push(SystemContentBlock::Text(t));
                }
            }
            "user" => {
                let msg: UserMessage = typed(m, &at)?;
                match msg.content {
                    Content::Text(t) => {
                        turns.push(ConversationRole::User, ContentBlock::Text(t));
                    }
                    Content::Parts(parts) => {
                        if parts.is_empty() {
                            return Err(bad(format!("{at}.content is empty")));
                        }
                        for (k, p) in parts.iter().enumerate() {
                            user_part(p, &format!("{at}.content[{k}]"), opts, &mut turns)?;
                        }
                    }
                }
            }
            "assistant" => assistant_message(m, &at, &mut turns)?,
            "tool" => {
                let msg: ToolMessage = typed(m, &at)?;
                let text = text_parts(msg.content, &at)?.concat();
                turns.push(
                    ConversationRole::User,
                    ContentBlock::ToolResult(ToolResultBlock {
                        tool_use_id: msg.tool_call_id,
                        content: vec![ToolResultContentBlock::Text(text)],
                        status: None,
                        kind: None,
                    }),
                );
            }
            "function" => {
                return Err(refuse(
                    &format!("{at} (role function)"),
                    "the legacy function-calling messages are not carried; send role tool with tool_call_id",
                ))
            }
            other => {
                return Err(bad(format!(
                    "{at}: unknown role `{other}`: use system, developer, user, assistant or tool"
                )))
            }
        }
    }
    if turns.messages.is_empty() {
        return Err(bad("messages must hold at least one user message"));
    }

    let max_tokens = req.max_completion_tokens.or(req.max_tokens);
    let max_tokens = match max_tokens {
        None => None,
        Some(m) if m < 1 => return Err(bad("max_tokens must be at least 1")),
        Some(m) => Some(i32::try_from(m).unwrap_or(i32::MAX)),
    };
    let stop_sequences = match req.stop {
        None => None,
        Some(Stop::One(s)) => Some(vec![s]),
        Some(Stop::Many(v)) if v.is_empty() => None,
        Some(Stop::Many(v)) => Some(v),
    };

    let tools = req
        .tools
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, t)| function_tool(t, &format!("tools[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let choice = match &req.tool_choice {
        None | Some(Value::Null) => Choice::Auto,
        Some(v) => tool_choice(v)?,
    };
    let answer = match &req.response_format {
        None => None,
        Some(v) => answer_tool(v)?,
    };
    let json_tool = answer.as_ref().map(|a| a.name.clone());
    let tool_config = tool_config(tools, choice, answer, turns.has_tool_blocks)?;

    let stream = req.stream.unwrap_or(false);
    let converse = ConverseRequest {
        model_id: req.model,
        messages: Some(turns.messages),
        system: (!system.is_empty()).then_some(system),
        inference_config: Some(InferenceConfiguration {
            max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            stop_sequences,
        }),
        tool_config,
        service_tier: service_tier(req.service_tier.as_deref())?,
        ..ConverseRequest::default()
    };
    Ok(ChatCall {
        converse,
        stream,
        include_usage: stream
            && req
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        json_tool,
        single_tool_call: req.parallel_tool_calls == Some(false),
        reasoning_effort: req.reasoning_effort,
        remote_images: turns.remote_images,
    })
}

// ---------------------------------------------------------------------------------------------
// reasoning_effort
// ---------------------------------------------------------------------------------------------

/// Anthropic `thinking.budget_tokens` per effort. Anthropic's minimum budget is 1024 (FACTS.md:
/// "budget_tokens < 1024" is refused), so `minimal` and `low` share it; each level above
/// doubles.
fn thinking_budget(effort: &str) -> Option<i32> {
    Some(match effort {
        "minimal" | "low" => 1024,
        "medium" => 4096,
        "high" => 8192,
        "xhigh" => 16384,
        "max" => 32768,
        _ => return None,
    })
}

/// Room for the answer itself when a reasoning budget is set and the caller gave no max_tokens
/// (Anthropic requires `max_tokens` > `budget_tokens`).
const ANSWER_ROOM: i32 = 4096;

/// How a model takes a reasoning effort: the catalog first, then the family for ids the catalog
/// does not know (Anthropic Messages models reason with a budget; gpt-oss and Nova 2 with an
/// effort level).
fn reasoning_of(model_id: &str) -> Option<(Reasoning, Option<Family>)> {
    if let Some(m) = catalog::lookup(model_id) {
        return Some((m.capabilities.reasoning, Some(m.family)));
    }
    let family = Family::from_model_id(model_id)?;
    match family {
        Family::AnthropicMessages => Some((Reasoning::Budget, Some(family))),
        Family::OpenAiChat if model_id.contains("gpt-oss") => {
            Some((Reasoning::Effort, Some(family)))
        }
        Family::Nova => Some((Reasoning::Effort, Some(family))),
        _ => None,
    }
}

impl ChatCall {
    /// Whether the tool choice forces a tool call (`any` or a named tool).
    fn forces_tool(&self) -> bool {
        matches!(
            self.converse
                .tool_config
                .as_ref()
                .and_then(|t| t.tool_choice.as_ref()),
            Some(ToolChoice::Any(_) | ToolChoice::Tool(_))
        )
    }

    /// Writes `reasoning_effort` into the model family's own reasoning field
    /// (`additionalModelRequestFields`), or refuses it for a model that cannot take it.
    ///
    /// - Anthropic (budget): `thinking: {type: enabled, budget_tokens}`, the budget by effort
    ///   ([`thinking_budget`]); max_tokens must exceed it.
    /// - gpt-oss: `reasoning_effort: low|medium|high` (OpenAI's open-weight models take the
    ///   same levels).
    /// - Nova 2: `reasoningConfig: {type: enabled, maxReasoningEffort: low|medium|high}`.
    /// - Models that always reason (DeepSeek R1) or never do: a 400, except `none` on a model
    ///   that does not reason unasked.
    ///
    /// `output_cap` is `MAX_OUTPUT_TOKENS`, which lowers max_tokens later: it too must leave
    /// room above a reasoning budget.
    pub(crate) fn apply_reasoning(
        &mut self,
        model_id: &str,
        output_cap: Option<u64>,
    ) -> Result<(), AppError> {
        let Some(effort) = self.reasoning_effort.clone() else {
            return Ok(());
        };
        const LEVELS: [&str; 7] = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];
        if !LEVELS.contains(&effort.as_str()) {
            return Err(bad(format!(
                "reasoning_effort: `{effort}` is not one of none, minimal, low, medium, high, xhigh, max"
            )));
        }
        let kind = reasoning_of(model_id);
        let fields = match kind {
            Some((Reasoning::Budget, _)) => {
                if effort == "none" {
                    return Ok(());
                }
                if self.forces_tool() {
                    return Err(bad(format!(
                        "reasoning_effort cannot be combined with tool_choice required, a named tool or response_format on `{model_id}`: Anthropic refuses thinking when the tool choice forces tool use"
                    )));
                }
                let budget = thinking_budget(&effort).unwrap_or(1024);
                if let Some(cap) = output_cap.filter(|c| *c <= u64::try_from(budget).unwrap_or(0)) {
                    return Err(bad(format!(
                        "reasoning_effort `{effort}` asks for a reasoning budget of {budget} tokens, but this server caps output at {cap} tokens (MAX_OUTPUT_TOKENS); lower reasoning_effort"
                    )));
                }
                let cfg = self.converse.inference_config.get_or_insert_with(Default::default);
                match cfg.max_tokens {
                    Some(m) if m <= budget => {
                        return Err(bad(format!(
                            "max_tokens ({m}) must be greater than the reasoning budget of reasoning_effort `{effort}` ({budget} tokens); raise max_tokens or lower reasoning_effort"
                        )))
                    }
                    Some(_) => {}
                    None => cfg.max_tokens = Some(budget + ANSWER_ROOM),
                }
                json!({"thinking": {"type": "enabled", "budget_tokens": budget}})
            }
            Some((Reasoning::Effort, family)) => {
                if !["low", "medium", "high"].contains(&effort.as_str()) {
                    return Err(bad(format!(
                        "reasoning_effort: `{model_id}` takes low, medium or high, not `{effort}`"
                    )));
                }
                match family {
                    Some(Family::OpenAiChat) => json!({"reasoning_effort": effort}),
                    Some(Family::Nova) => json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}}),
                    _ => {
                        return Err(bad(format!(
                            "reasoning_effort: this server does not know how `{model_id}` takes an effort level"
                        )))
                    }
                }
            }
            Some((Reasoning::Always, _)) => {
                return Err(bad(format!(
                    "reasoning_effort: `{model_id}` always reasons and has no effort setting; remove reasoning_effort"
                )))
            }
            Some((Reasoning::None, _)) | None => {
                if effort == "none" {
                    return Ok(());
                }
                return Err(bad(format!(
                    "reasoning_effort: `{model_id}` is not a reasoning model (per the model catalog); remove reasoning_effort"
                )));
            }
        };
        self.converse.additional_model_request_fields = Some(fields);
        Ok(())
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
