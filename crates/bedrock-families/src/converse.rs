//! The Converse API's JSON shapes, named and nested exactly as Bedrock's service model
//! (`bedrock-runtime` 2023-09-30) names them, in both directions: requests (what `/converse`
//! accepts and what the SDK puts on the wire) and responses (Converse bodies and ConverseStream
//! event payloads). Blobs travel as base64 strings, as in Bedrock's own JSON.
//!
//! Every request struct refuses unknown members, and every union (`ContentBlock`, `ToolChoice`,
//! …) is an externally tagged enum, so a misspelt or unsupported member is an error naming it
//! rather than something silently dropped. Response structs accept members they do not know
//! (real Bedrock bodies carry extras such as `cacheReadInputTokenCount` and `serverToolUsage`). The handler maps these onto `aws-sdk-bedrockruntime` types; the
//! local endpoint reads what the SDK sent with them and validates it as Bedrock does.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Bytes that travel as a base64 string.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map(Blob)
            .map_err(|e| serde::de::Error::custom(format!("bytes must be base64: {e}")))
    }
}

/// An empty structure (`{}`), as in `toolChoice: {"auto": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// `Converse` / `ConverseStream` request. `modelId` is in the URL on the wire; `/converse`
/// takes it in the body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConverseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Vec<SystemContentBlock>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_config: Option<GuardrailConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_variables: Option<BTreeMap<String, PromptVariableValues>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_field_paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_metadata: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: ConversationRole,
    pub content: Vec<ContentBlock>,
}

/// One block of a message (a union: exactly one member).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(ImageBlock),
    Document(DocumentBlock),
    Video(VideoBlock),
    Audio(AudioBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    GuardContent(GuardrailConverseContentBlock),
    CachePoint(CachePointBlock),
    ReasoningContent(ReasoningContentBlock),
    CitationsContent(CitationsContentBlock),
    SearchResult(SearchResultBlock),
}

impl ContentBlock {
    /// The member name, as Bedrock's messages use it (`toolResult`).
    pub fn member_name(&self) -> &'static str {
        match self {
            ContentBlock::Text(_) => "text",
            ContentBlock::Image(_) => "image",
            ContentBlock::Document(_) => "document",
            ContentBlock::Video(_) => "video",
            ContentBlock::Audio(_) => "audio",
            ContentBlock::ToolUse(_) => "toolUse",
            ContentBlock::ToolResult(_) => "toolResult",
            ContentBlock::GuardContent(_) => "guardContent",
            ContentBlock::CachePoint(_) => "cachePoint",
            ContentBlock::ReasoningContent(_) => "reasoningContent",
            ContentBlock::CitationsContent(_) => "citationsContent",
            ContentBlock::SearchResult(_) => "searchResult",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SystemContentBlock {
    Text(String),
    GuardContent(GuardrailConverseContentBlock),
    CachePoint(CachePointBlock),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageBlock {
    pub format: ImageFormat,
    pub source: MediaSource,
    /// Output only (an image the model failed to produce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBlock>,
}

/// `ImageSource`, `VideoSource`, `AudioSource`: bytes or an S3 object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    Bytes(Blob),
    S3Location(S3Location),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Location {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

impl DocumentFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentFormat::Pdf => "pdf",
            DocumentFormat::Csv => "csv",
            DocumentFormat::Doc => "doc",
            DocumentFormat::Docx => "docx",
            DocumentFormat::Xls => "xls",
            DocumentFormat::Xlsx => "xlsx",
            DocumentFormat::Html => "html",
            DocumentFormat::Txt => "txt",
            DocumentFormat::Md => "md",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DocumentFormat>,
    pub name: String,
    pub source: DocumentSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<CitationsConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DocumentSource {
    Bytes(Blob),
    S3Location(S3Location),
    Text(String),
    Content(Vec<TextOnly>),
}

/// A structure with one `text` member (`DocumentContentBlock`, `CitationGeneratedContent`,
/// `CitationSourceContent`, `SearchResultContentBlock`, `PromptVariableValues`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextOnly {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitationsConfig {
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoFormat {
    Mkv,
    Mov,
    Mp4,
    Webm,
    Flv,
    Mpeg,
    Mpg,
    Wmv,
    #[serde(rename = "three_gp")]
    ThreeGp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoBlock {
    pub format: VideoFormat,
    pub source: MediaSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioBlock {
    /// `mp3`, `wav`, `flac`, … (kept as a string: the list grows).
    pub format: String,
    pub source: MediaSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBlock>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolResultStatus {
    Success,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContentBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolResultStatus>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContentBlock {
    Json(Value),
    Text(String),
    Image(ImageBlock),
    Document(DocumentBlock),
    Video(VideoBlock),
    SearchResult(SearchResultBlock),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GuardrailConverseContentBlock {
    Text(GuardrailConverseTextBlock),
    Image(GuardrailConverseImageBlock),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailConverseTextBlock {
    pub text: String,
    /// `grounding_source`, `query`, `guard_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifiers: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailConverseImageBlock {
    /// `png` or `jpeg`.
    pub format: String,
    pub source: GuardrailImageSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GuardrailImageSource {
    Bytes(Blob),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePointBlock {
    /// Always `default`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `5m` or `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningContentBlock {
    ReasoningText(ReasoningTextBlock),
    RedactedContent(Blob),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasoningTextBlock {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CitationsContentBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<TextOnly>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<Citation>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Citation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_content: Option<Vec<TextOnly>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<CitationLocation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CitationLocation {
    Web(WebLocation),
    DocumentChar(SpanLocation),
    DocumentPage(SpanLocation),
    DocumentChunk(SpanLocation),
    SearchResultLocation(SearchResultLocation),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `DocumentCharLocation`, `DocumentPageLocation`, `DocumentChunkLocation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpanLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_index: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchResultLocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_result_index: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchResultBlock {
    pub source: String,
    pub title: String,
    pub content: Vec<TextOnly>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<CitationsConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InferenceConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolConfiguration {
    pub tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Tool {
    ToolSpec(ToolSpecification),
    SystemTool(SystemTool),
    CachePoint(CachePointBlock),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolSpecification {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: ToolInputSchema,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolInputSchema {
    Json(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemTool {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    Auto(Empty),
    Any(Empty),
    Tool(SpecificToolChoice),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecificToolChoice {
    pub name: String,
}

/// `GuardrailConfiguration` and, with `streamProcessingMode`, `GuardrailStreamConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GuardrailConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail_version: Option<String>,
    /// `enabled`, `disabled`, `enabled_full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// ConverseStream only: `sync` or `async`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_processing_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PromptVariableValues {
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceConfiguration {
    /// `standard` or `optimized`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTier {
    /// `priority`, `default`, `flex`, `reserved`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<OutputFormat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputFormat {
    /// Always `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    pub structure: OutputFormatStructure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutputFormatStructure {
    JsonSchema(JsonSchemaDefinition),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaDefinition {
    /// The JSON schema, as a string.
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// The `Converse` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    pub output: ConverseOutput,
    pub stop_reason: String,
    pub usage: TokenUsage,
    pub metrics: ConverseMetrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
    /// `ConverseTrace` (guardrail assessments, prompt router), passed on as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConverseOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    pub input_tokens: i32,
    pub output_tokens: i32,
    pub total_tokens: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_details: Option<Vec<CacheDetail>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheDetail {
    pub ttl: String,
    pub input_tokens: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseMetrics {
    pub latency_ms: i64,
}

/// One ConverseStream event: the event type (the `:event-type` header) and its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConverseStreamEvent {
    MessageStart(MessageStartEvent),
    ContentBlockStart(ContentBlockStartEvent),
    ContentBlockDelta(ContentBlockDeltaEvent),
    ContentBlockStop(ContentBlockStopEvent),
    MessageStop(MessageStopEvent),
    Metadata(ConverseStreamMetadataEvent),
}

impl ConverseStreamEvent {
    /// The `:event-type` header value.
    pub fn event_type(&self) -> &'static str {
        match self {
            ConverseStreamEvent::MessageStart(_) => "messageStart",
            ConverseStreamEvent::ContentBlockStart(_) => "contentBlockStart",
            ConverseStreamEvent::ContentBlockDelta(_) => "contentBlockDelta",
            ConverseStreamEvent::ContentBlockStop(_) => "contentBlockStop",
            ConverseStreamEvent::MessageStop(_) => "messageStop",
            ConverseStreamEvent::Metadata(_) => "metadata",
        }
    }

    /// The event's payload (what follows the event-type header on the wire).
    pub fn payload(&self) -> Value {
        let v = match self {
            ConverseStreamEvent::MessageStart(e) => serde_json::to_value(e),
            ConverseStreamEvent::ContentBlockStart(e) => serde_json::to_value(e),
            ConverseStreamEvent::ContentBlockDelta(e) => serde_json::to_value(e),
            ConverseStreamEvent::ContentBlockStop(e) => serde_json::to_value(e),
            ConverseStreamEvent::MessageStop(e) => serde_json::to_value(e),
            ConverseStreamEvent::Metadata(e) => serde_json::to_value(e),
        };
        v.unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageStartEvent {
    pub role: ConversationRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStartEvent {
    pub start: ContentBlockStart,
    pub content_block_index: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlockStart {
    ToolUse(ToolUseBlockStart),
    ToolResult(ToolResultBlockStart),
    Image(ImageBlockStart),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlockStart {
    pub tool_use_id: String,
    pub name: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlockStart {
    pub tool_use_id: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolResultStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageBlockStart {
    pub format: ImageFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent {
    pub delta: ContentBlockDelta,
    pub content_block_index: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlockDelta {
    Text(String),
    ToolUse(ToolUseBlockDelta),
    /// `ToolResultBlocksDelta`: pieces of a server-side tool's result.
    ToolResult(Vec<Value>),
    ReasoningContent(ReasoningContentBlockDelta),
    Citation(Value),
    Image(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUseBlockDelta {
    pub input: String,
}

/// A union: text, signature or redacted content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningContentBlockDelta {
    Text(String),
    RedactedContent(Blob),
    Signature(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStopEvent {
    pub content_block_index: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStopEvent {
    pub stop_reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_response_fields: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseStreamMetadataEvent {
    pub usage: TokenUsage,
    pub metrics: ConverseMetrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_config: Option<PerformanceConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_request_round_trips() {
        let body = json!({
            "modelId": "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "system": [{"text": "be brief"}, {"cachePoint": {"type": "default"}}],
            "messages": [
                {"role": "user", "content": [
                    {"text": "what is in this picture?"},
                    {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}},
                    {"document": {"format": "txt", "name": "notes", "source": {"text": "hello"}}}
                ]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "t1", "status": "success",
                                    "content": [{"json": {"temp": 21}}, {"text": "sunny"}]}}
                ]}
            ],
            "toolConfig": {
                "tools": [{"toolSpec": {"name": "weather", "description": "d",
                                        "inputSchema": {"json": {"type": "object"}}}},
                          {"cachePoint": {"type": "default"}}],
                "toolChoice": {"any": {}}
            },
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.5, "stopSequences": ["x"]},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            "additionalModelResponseFieldPaths": ["/stop_sequence"],
            "requestMetadata": {"team": "a"},
            "performanceConfig": {"latency": "optimized"},
            "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1", "trace": "enabled"}
        });
        let req: ConverseRequest = serde_json::from_value(body.clone()).unwrap();
        let messages = req.messages.as_ref().unwrap();
        assert!(matches!(
            &messages[0].content[1],
            ContentBlock::Image(ImageBlock { format: ImageFormat::Png, source: MediaSource::Bytes(b), .. })
                if b.0.starts_with(b"\x89PNG")
        ));
        assert_eq!(serde_json::to_value(&req).unwrap(), body);
    }

    #[test]
    fn unknown_members_are_named() {
        let err = serde_json::from_value::<ConverseRequest>(json!({"messagez": []}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("messagez"), "{err}");
        let err = serde_json::from_value::<Message>(
            json!({"role": "user", "content": [{"picture": {}}]}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("picture"), "{err}");
        let err = serde_json::from_value::<ContentBlock>(
            json!({"image": {"format": "png", "source": {"bytes": "%%%"}}}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("base64"), "{err}");
    }

    #[test]
    fn stream_events_name_their_type() {
        let e: ConverseStreamEvent = serde_json::from_value(json!({"contentBlockDelta": {
            "contentBlockIndex": 1, "delta": {"reasoningContent": {"signature": "abc"}}}}))
        .unwrap();
        assert_eq!(e.event_type(), "contentBlockDelta");
        assert_eq!(
            e.payload(),
            json!({"contentBlockIndex": 1, "delta": {"reasoningContent": {"signature": "abc"}}})
        );
    }
}
