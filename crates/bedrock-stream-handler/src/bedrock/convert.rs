//! Converse requests and responses between Bedrock's JSON shapes
//! ([`bedrock_families::converse`]) and `aws-sdk-bedrockruntime`'s types.
//!
//! Request direction (JSON → SDK): every member of [`cv::ConverseRequest`] is carried; the few
//! the Rust SDK cannot send as given are refused with a 400 naming the member (never dropped).
//! Response direction (SDK → JSON): content blocks and the values around them in Bedrock's own
//! JSON, member names as botocore's `bedrock-runtime` 2023-09-30 `service-2.json` spells them.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::{Document, Number};
use base64::Engine as _;
use bedrock_families::converse as cv;
use serde_json::{json, Map, Value};

use crate::error::AppError;

/// Every member of a Converse request, as the SDK's builders take them.
#[derive(Default)]
pub(crate) struct Parts {
    pub messages: Option<Vec<sdk::Message>>,
    pub system: Option<Vec<sdk::SystemContentBlock>>,
    pub inference_config: Option<sdk::InferenceConfiguration>,
    pub tool_config: Option<sdk::ToolConfiguration>,
    pub guardrail_config: Option<sdk::GuardrailConfiguration>,
    pub guardrail_stream_config: Option<sdk::GuardrailStreamConfiguration>,
    pub additional_model_request_fields: Option<Document>,
    pub prompt_variables: Option<HashMap<String, sdk::PromptVariableValues>>,
    pub additional_model_response_field_paths: Option<Vec<String>>,
    pub request_metadata: Option<HashMap<String, String>>,
    pub performance_config: Option<sdk::PerformanceConfiguration>,
    pub service_tier: Option<sdk::ServiceTier>,
    pub output_config: Option<sdk::OutputConfig>,
}

/// A 400 that names the member at `path` (`messages.0.content.2.image`).
fn refuse(path: &str, why: impl std::fmt::Display) -> AppError {
    AppError::bad_request(format!("{path}: {why}"))
}

/// serde_json → Smithy `Document`.
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

/// Smithy `Document` → serde_json.
pub(crate) fn from_document(d: &Document) -> Value {
    match d {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(a) => Value::Array(a.iter().map(from_document).collect()),
        Document::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), from_document(v)))
                .collect(),
        ),
    }
}

/// The wire name of one of our string enums (`png`, `three_gp`): what serde writes for it.
fn wire_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

fn blob(b: &cv::Blob) -> Blob {
    Blob::new(b.0.clone())
}

// ---------------------------------------------------------------------------------------------
// Request direction: JSON shapes → SDK
// ---------------------------------------------------------------------------------------------

fn role(r: cv::ConversationRole) -> sdk::ConversationRole {
    match r {
        cv::ConversationRole::User => sdk::ConversationRole::User,
        cv::ConversationRole::Assistant => sdk::ConversationRole::Assistant,
    }
}

fn s3_location(l: &cv::S3Location, path: &str) -> Result<sdk::S3Location, AppError> {
    sdk::S3Location::builder()
        .uri(&l.uri)
        .set_bucket_owner(l.bucket_owner.clone())
        .build()
        .map_err(|e| refuse(&format!("{path}.s3Location"), e))
}

fn error_block(e: &cv::ErrorBlock) -> sdk::ErrorBlock {
    sdk::ErrorBlock::builder()
        .set_message(e.message.clone())
        .build()
}

fn image_source(s: &cv::MediaSource, path: &str) -> Result<sdk::ImageSource, AppError> {
    Ok(match s {
        cv::MediaSource::Bytes(b) => sdk::ImageSource::Bytes(blob(b)),
        cv::MediaSource::S3Location(l) => sdk::ImageSource::S3Location(s3_location(l, path)?),
    })
}

fn image(b: &cv::ImageBlock, path: &str) -> Result<sdk::ImageBlock, AppError> {
    sdk::ImageBlock::builder()
        .format(sdk::ImageFormat::from(b.format.as_str()))
        .source(image_source(&b.source, &format!("{path}.source"))?)
        .set_error(b.error.as_ref().map(error_block))
        .build()
        .map_err(|e| refuse(path, e))
}

fn citations_config(c: &cv::CitationsConfig, path: &str) -> Result<sdk::CitationsConfig, AppError> {
    sdk::CitationsConfig::builder()
        .enabled(c.enabled)
        .build()
        .map_err(|e| refuse(&format!("{path}.citations"), e))
}

fn document(d: &cv::DocumentBlock, path: &str) -> Result<sdk::DocumentBlock, AppError> {
    let spath = format!("{path}.source");
    let source = match &d.source {
        cv::DocumentSource::Bytes(b) => sdk::DocumentSource::Bytes(blob(b)),
        cv::DocumentSource::S3Location(l) => {
            sdk::DocumentSource::S3Location(s3_location(l, &spath)?)
        }
        cv::DocumentSource::Text(t) => sdk::DocumentSource::Text(t.clone()),
        cv::DocumentSource::Content(c) => sdk::DocumentSource::Content(
            c.iter()
                .map(|t| sdk::DocumentContentBlock::Text(t.text.clone()))
                .collect(),
        ),
    };
    // The Rust SDK always writes `format`, `txt` when unset (its `DocumentBlockBuilder::build`).
    // That is right for text sources; for bytes or an S3 object it would tell Bedrock a PDF is
    // text, so the caller has to say.
    let format = match (&d.format, &d.source) {
        (Some(f), _) => f.as_str(),
        (None, cv::DocumentSource::Text(_) | cv::DocumentSource::Content(_)) => "txt",
        (None, _) => {
            return Err(refuse(
                &format!("{path}.format"),
                "is required for a document given as bytes or s3Location (pdf, csv, doc, docx, xls, xlsx, html, txt or md)",
            ))
        }
    };
    sdk::DocumentBlock::builder()
        .format(sdk::DocumentFormat::from(format))
        .name(&d.name)
        .source(source)
        .set_context(d.context.clone())
        .set_citations(
            d.citations
                .as_ref()
                .map(|c| citations_config(c, path))
                .transpose()?,
        )
        .build()
        .map_err(|e| refuse(path, e))
}

fn video(v: &cv::VideoBlock, path: &str) -> Result<sdk::VideoBlock, AppError> {
    let spath = format!("{path}.source");
    let source = match &v.source {
        cv::MediaSource::Bytes(b) => sdk::VideoSource::Bytes(blob(b)),
        cv::MediaSource::S3Location(l) => sdk::VideoSource::S3Location(s3_location(l, &spath)?),
    };
    sdk::VideoBlock::builder()
        .format(sdk::VideoFormat::from(wire_name(&v.format).as_str()))
        .source(source)
        .build()
        .map_err(|e| refuse(path, e))
}

fn audio(a: &cv::AudioBlock, path: &str) -> Result<sdk::AudioBlock, AppError> {
    let spath = format!("{path}.source");
    let source = match &a.source {
        cv::MediaSource::Bytes(b) => sdk::AudioSource::Bytes(blob(b)),
        cv::MediaSource::S3Location(l) => sdk::AudioSource::S3Location(s3_location(l, &spath)?),
    };
    sdk::AudioBlock::builder()
        .format(sdk::AudioFormat::from(a.format.as_str()))
        .source(source)
        .set_error(a.error.as_ref().map(error_block))
        .build()
        .map_err(|e| refuse(path, e))
}

fn tool_use(t: &cv::ToolUseBlock, path: &str) -> Result<sdk::ToolUseBlock, AppError> {
    sdk::ToolUseBlock::builder()
        .tool_use_id(&t.tool_use_id)
        .name(&t.name)
        .input(to_document(&t.input))
        .set_type(t.kind.as_deref().map(sdk::ToolUseType::from))
        .build()
        .map_err(|e| refuse(path, e))
}

fn search_result(
    s: &cv::SearchResultBlock,
    path: &str,
) -> Result<sdk::SearchResultBlock, AppError> {
    let content = s
        .content
        .iter()
        .enumerate()
        .map(|(i, c)| {
            sdk::SearchResultContentBlock::builder()
                .text(&c.text)
                .build()
                .map_err(|e| refuse(&format!("{path}.content.{i}"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    sdk::SearchResultBlock::builder()
        .source(&s.source)
        .title(&s.title)
        .set_content(Some(content))
        .set_citations(
            s.citations
                .as_ref()
                .map(|c| citations_config(c, path))
                .transpose()?,
        )
        .build()
        .map_err(|e| refuse(path, e))
}

fn tool_result(t: &cv::ToolResultBlock, path: &str) -> Result<sdk::ToolResultBlock, AppError> {
    let mut content = Vec::with_capacity(t.content.len());
    for (i, c) in t.content.iter().enumerate() {
        let p = format!("{path}.content.{i}");
        content.push(match c {
            cv::ToolResultContentBlock::Json(v) => {
                sdk::ToolResultContentBlock::Json(to_document(v))
            }
            cv::ToolResultContentBlock::Text(s) => sdk::ToolResultContentBlock::Text(s.clone()),
            cv::ToolResultContentBlock::Image(b) => {
                sdk::ToolResultContentBlock::Image(image(b, &format!("{p}.image"))?)
            }
            cv::ToolResultContentBlock::Document(d) => {
                sdk::ToolResultContentBlock::Document(document(d, &format!("{p}.document"))?)
            }
            cv::ToolResultContentBlock::Video(v) => {
                sdk::ToolResultContentBlock::Video(video(v, &format!("{p}.video"))?)
            }
            cv::ToolResultContentBlock::SearchResult(s) => {
                sdk::ToolResultContentBlock::SearchResult(search_result(
                    s,
                    &format!("{p}.searchResult"),
                )?)
            }
        });
    }
    sdk::ToolResultBlock::builder()
        .tool_use_id(&t.tool_use_id)
        .set_content(Some(content))
        .set_status(
            t.status
                .map(|s| sdk::ToolResultStatus::from(wire_name(&s).as_str())),
        )
        .set_type(t.kind.clone())
        .build()
        .map_err(|e| refuse(path, e))
}

fn guard_content(
    g: &cv::GuardrailConverseContentBlock,
    path: &str,
) -> Result<sdk::GuardrailConverseContentBlock, AppError> {
    Ok(match g {
        cv::GuardrailConverseContentBlock::Text(t) => sdk::GuardrailConverseContentBlock::Text(
            sdk::GuardrailConverseTextBlock::builder()
                .text(&t.text)
                .set_qualifiers(t.qualifiers.as_ref().map(|q| {
                    q.iter()
                        .map(|s| sdk::GuardrailConverseContentQualifier::from(s.as_str()))
                        .collect()
                }))
                .build()
                .map_err(|e| refuse(&format!("{path}.text"), e))?,
        ),
        cv::GuardrailConverseContentBlock::Image(i) => {
            let cv::GuardrailImageSource::Bytes(b) = &i.source;
            sdk::GuardrailConverseContentBlock::Image(
                sdk::GuardrailConverseImageBlock::builder()
                    .format(sdk::GuardrailConverseImageFormat::from(i.format.as_str()))
                    .source(sdk::GuardrailConverseImageSource::Bytes(blob(b)))
                    .build()
                    .map_err(|e| refuse(&format!("{path}.image"), e))?,
            )
        }
    })
}

fn cache_point(c: &cv::CachePointBlock, path: &str) -> Result<sdk::CachePointBlock, AppError> {
    sdk::CachePointBlock::builder()
        .r#type(sdk::CachePointType::from(c.kind.as_str()))
        .set_ttl(c.ttl.as_deref().map(sdk::CacheTtl::from))
        .build()
        .map_err(|e| refuse(path, e))
}

fn reasoning(
    r: &cv::ReasoningContentBlock,
    path: &str,
) -> Result<sdk::ReasoningContentBlock, AppError> {
    Ok(match r {
        cv::ReasoningContentBlock::ReasoningText(t) => sdk::ReasoningContentBlock::ReasoningText(
            sdk::ReasoningTextBlock::builder()
                .text(&t.text)
                .set_signature(t.signature.clone())
                .build()
                .map_err(|e| refuse(&format!("{path}.reasoningText"), e))?,
        ),
        cv::ReasoningContentBlock::RedactedContent(b) => {
            sdk::ReasoningContentBlock::RedactedContent(blob(b))
        }
    })
}

fn span<T>(
    s: &cv::SpanLocation,
    build: impl FnOnce(Option<i32>, Option<i32>, Option<i32>) -> T,
) -> T {
    build(s.document_index, s.start, s.end)
}

fn citation_location(l: &cv::CitationLocation) -> sdk::CitationLocation {
    match l {
        cv::CitationLocation::Web(w) => sdk::CitationLocation::Web(
            sdk::WebLocation::builder()
                .set_url(w.url.clone())
                .set_domain(w.domain.clone())
                .build(),
        ),
        cv::CitationLocation::DocumentChar(s) => span(s, |d, a, b| {
            sdk::CitationLocation::DocumentChar(
                sdk::DocumentCharLocation::builder()
                    .set_document_index(d)
                    .set_start(a)
                    .set_end(b)
                    .build(),
            )
        }),
        cv::CitationLocation::DocumentPage(s) => span(s, |d, a, b| {
            sdk::CitationLocation::DocumentPage(
                sdk::DocumentPageLocation::builder()
                    .set_document_index(d)
                    .set_start(a)
                    .set_end(b)
                    .build(),
            )
        }),
        cv::CitationLocation::DocumentChunk(s) => span(s, |d, a, b| {
            sdk::CitationLocation::DocumentChunk(
                sdk::DocumentChunkLocation::builder()
                    .set_document_index(d)
                    .set_start(a)
                    .set_end(b)
                    .build(),
            )
        }),
        cv::CitationLocation::SearchResultLocation(s) => {
            sdk::CitationLocation::SearchResultLocation(
                sdk::SearchResultLocation::builder()
                    .set_search_result_index(s.search_result_index)
                    .set_start(s.start)
                    .set_end(s.end)
                    .build(),
            )
        }
    }
}

fn citations_content(c: &cv::CitationsContentBlock) -> sdk::CitationsContentBlock {
    sdk::CitationsContentBlock::builder()
        .set_content(c.content.as_ref().map(|v| {
            v.iter()
                .map(|t| sdk::CitationGeneratedContent::Text(t.text.clone()))
                .collect()
        }))
        .set_citations(c.citations.as_ref().map(|v| {
            v.iter()
                .map(|c| {
                    sdk::Citation::builder()
                        .set_title(c.title.clone())
                        .set_source(c.source.clone())
                        .set_source_content(c.source_content.as_ref().map(|s| {
                            s.iter()
                                .map(|t| sdk::CitationSourceContent::Text(t.text.clone()))
                                .collect()
                        }))
                        .set_location(c.location.as_ref().map(citation_location))
                        .build()
                })
                .collect()
        }))
        .build()
}

/// One content block of a message, at `path` (`messages.0.content.1`).
pub(crate) fn content_block(
    b: &cv::ContentBlock,
    path: &str,
) -> Result<sdk::ContentBlock, AppError> {
    let p = format!("{path}.{}", b.member_name());
    Ok(match b {
        cv::ContentBlock::Text(t) => sdk::ContentBlock::Text(t.clone()),
        cv::ContentBlock::Image(i) => sdk::ContentBlock::Image(image(i, &p)?),
        cv::ContentBlock::Document(d) => sdk::ContentBlock::Document(document(d, &p)?),
        cv::ContentBlock::Video(v) => sdk::ContentBlock::Video(video(v, &p)?),
        cv::ContentBlock::Audio(a) => sdk::ContentBlock::Audio(audio(a, &p)?),
        cv::ContentBlock::ToolUse(t) => sdk::ContentBlock::ToolUse(tool_use(t, &p)?),
        cv::ContentBlock::ToolResult(t) => sdk::ContentBlock::ToolResult(tool_result(t, &p)?),
        cv::ContentBlock::GuardContent(g) => sdk::ContentBlock::GuardContent(guard_content(g, &p)?),
        cv::ContentBlock::CachePoint(c) => sdk::ContentBlock::CachePoint(cache_point(c, &p)?),
        cv::ContentBlock::ReasoningContent(r) => {
            sdk::ContentBlock::ReasoningContent(reasoning(r, &p)?)
        }
        cv::ContentBlock::CitationsContent(c) => {
            sdk::ContentBlock::CitationsContent(citations_content(c))
        }
        cv::ContentBlock::SearchResult(s) => sdk::ContentBlock::SearchResult(search_result(s, &p)?),
    })
}

fn system_block(
    b: &cv::SystemContentBlock,
    path: &str,
) -> Result<sdk::SystemContentBlock, AppError> {
    Ok(match b {
        cv::SystemContentBlock::Text(t) => sdk::SystemContentBlock::Text(t.clone()),
        cv::SystemContentBlock::GuardContent(g) => sdk::SystemContentBlock::GuardContent(
            guard_content(g, &format!("{path}.guardContent"))?,
        ),
        cv::SystemContentBlock::CachePoint(c) => {
            sdk::SystemContentBlock::CachePoint(cache_point(c, &format!("{path}.cachePoint"))?)
        }
    })
}

fn tool_config(t: &cv::ToolConfiguration) -> Result<sdk::ToolConfiguration, AppError> {
    let mut tools = Vec::with_capacity(t.tools.len());
    for (i, tool) in t.tools.iter().enumerate() {
        let path = format!("toolConfig.tools.{i}");
        tools.push(match tool {
            cv::Tool::ToolSpec(s) => {
                let cv::ToolInputSchema::Json(schema) = &s.input_schema;
                sdk::Tool::ToolSpec(
                    sdk::ToolSpecification::builder()
                        .name(&s.name)
                        .set_description(s.description.clone())
                        .input_schema(sdk::ToolInputSchema::Json(to_document(schema)))
                        .set_strict(s.strict)
                        .build()
                        .map_err(|e| refuse(&format!("{path}.toolSpec"), e))?,
                )
            }
            cv::Tool::SystemTool(s) => sdk::Tool::SystemTool(
                sdk::SystemTool::builder()
                    .name(&s.name)
                    .build()
                    .map_err(|e| refuse(&format!("{path}.systemTool"), e))?,
            ),
            cv::Tool::CachePoint(c) => {
                sdk::Tool::CachePoint(cache_point(c, &format!("{path}.cachePoint"))?)
            }
        });
    }
    let choice = match &t.tool_choice {
        None => None,
        Some(cv::ToolChoice::Auto(_)) => Some(sdk::ToolChoice::Auto(
            sdk::AutoToolChoice::builder().build(),
        )),
        Some(cv::ToolChoice::Any(_)) => {
            Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build()))
        }
        Some(cv::ToolChoice::Tool(s)) => Some(sdk::ToolChoice::Tool(
            sdk::SpecificToolChoice::builder()
                .name(&s.name)
                .build()
                .map_err(|e| refuse("toolConfig.toolChoice.tool", e))?,
        )),
    };
    sdk::ToolConfiguration::builder()
        .set_tools(Some(tools))
        .set_tool_choice(choice)
        .build()
        .map_err(|e| refuse("toolConfig", e))
}

fn output_config(o: &cv::OutputConfig) -> Result<sdk::OutputConfig, AppError> {
    let text_format = match &o.text_format {
        None => None,
        Some(f) => {
            let cv::OutputFormatStructure::JsonSchema(s) = &f.structure;
            let structure = sdk::OutputFormatStructure::JsonSchema(
                sdk::JsonSchemaDefinition::builder()
                    .schema(&s.schema)
                    .set_name(s.name.clone())
                    .set_description(s.description.clone())
                    .build()
                    .map_err(|e| refuse("outputConfig.textFormat.structure.jsonSchema", e))?,
            );
            Some(
                sdk::OutputFormat::builder()
                    .r#type(sdk::OutputFormatType::from(f.kind.as_str()))
                    .structure(structure)
                    .build()
                    .map_err(|e| refuse("outputConfig.textFormat", e))?,
            )
        }
    };
    Ok(sdk::OutputConfig::builder()
        .set_text_format(text_format)
        .build())
}

/// `guardrailConfig` as both SDK shapes (Converse and ConverseStream).
fn guardrail(
    g: &cv::GuardrailConfiguration,
) -> Result<
    (
        sdk::GuardrailConfiguration,
        sdk::GuardrailStreamConfiguration,
    ),
    AppError,
> {
    // The Rust SDK always writes `guardrailIdentifier` and `guardrailVersion` (empty strings when
    // unset, see `GuardrailConfigurationBuilder::build`), so it cannot send a guardrailConfig
    // without them; say so instead of sending "".
    let (Some(id), Some(version)) = (&g.guardrail_identifier, &g.guardrail_version) else {
        return Err(AppError::bad_request(
            "guardrailConfig: guardrailIdentifier and guardrailVersion are both required here (the AWS SDK for Rust cannot send a guardrailConfig without them)",
        ));
    };
    let trace = g.trace.as_deref().map(sdk::GuardrailTrace::from);
    let plain = sdk::GuardrailConfiguration::builder()
        .guardrail_identifier(id)
        .guardrail_version(version)
        .set_trace(trace.clone())
        .build();
    let stream = sdk::GuardrailStreamConfiguration::builder()
        .guardrail_identifier(id)
        .guardrail_version(version)
        .set_trace(trace)
        .set_stream_processing_mode(
            g.stream_processing_mode
                .as_deref()
                .map(sdk::GuardrailStreamProcessingMode::from),
        )
        .build();
    Ok((plain, stream))
}

/// A Converse request's members as SDK values.
pub(crate) fn request(req: &cv::ConverseRequest) -> Result<Parts, AppError> {
    let mut parts = Parts::default();
    if let Some(messages) = &req.messages {
        let mut out = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let content = m
                .content
                .iter()
                .enumerate()
                .map(|(j, b)| content_block(b, &format!("messages.{i}.content.{j}")))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(
                sdk::Message::builder()
                    .role(role(m.role))
                    .set_content(Some(content))
                    .build()
                    .map_err(|e| refuse(&format!("messages.{i}"), e))?,
            );
        }
        parts.messages = Some(out);
    }
    if let Some(system) = &req.system {
        parts.system = Some(
            system
                .iter()
                .enumerate()
                .map(|(i, b)| system_block(b, &format!("system.{i}")))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    if let Some(c) = &req.inference_config {
        parts.inference_config = Some(
            sdk::InferenceConfiguration::builder()
                .set_max_tokens(c.max_tokens)
                .set_temperature(c.temperature)
                .set_top_p(c.top_p)
                .set_stop_sequences(c.stop_sequences.clone())
                .build(),
        );
    }
    parts.tool_config = req.tool_config.as_ref().map(tool_config).transpose()?;
    parts.output_config = req.output_config.as_ref().map(output_config).transpose()?;
    if let Some(g) = &req.guardrail_config {
        let (plain, stream) = guardrail(g)?;
        parts.guardrail_config = Some(plain);
        parts.guardrail_stream_config = Some(stream);
    }
    parts.additional_model_request_fields = req
        .additional_model_request_fields
        .as_ref()
        .map(to_document);
    if let Some(vars) = &req.prompt_variables {
        parts.prompt_variables = Some(
            vars.iter()
                .map(|(k, cv::PromptVariableValues::Text(t))| {
                    (k.clone(), sdk::PromptVariableValues::Text(t.clone()))
                })
                .collect(),
        );
    }
    parts.additional_model_response_field_paths = req.additional_model_response_field_paths.clone();
    parts.request_metadata = req
        .request_metadata
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    if let Some(p) = &req.performance_config {
        parts.performance_config = Some(
            sdk::PerformanceConfiguration::builder()
                .set_latency(
                    p.latency
                        .as_deref()
                        .map(sdk::PerformanceConfigLatency::from),
                )
                .build(),
        );
    }
    if let Some(t) = &req.service_tier {
        parts.service_tier = Some(
            sdk::ServiceTier::builder()
                .r#type(sdk::ServiceTierType::from(t.kind.as_str()))
                .build()
                .map_err(|e| refuse("serviceTier", e))?,
        );
    }
    Ok(parts)
}

// ---------------------------------------------------------------------------------------------
// Response direction: SDK → Bedrock's JSON
// ---------------------------------------------------------------------------------------------

/// A JSON object from members, leaving out the absent ones (as Bedrock's JSON does).
pub(crate) fn object<const N: usize>(members: [(&str, Option<Value>); N]) -> Value {
    let mut m = Map::new();
    for (k, v) in members {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    Value::Object(m)
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn blob_json(b: &Blob) -> Value {
    Value::String(b64(b.as_ref()))
}

fn str_json(s: &str) -> Value {
    Value::String(s.to_string())
}

fn opt_str(s: &Option<String>) -> Option<Value> {
    s.as_deref().map(str_json)
}

/// An SDK union member the SDK did not recognise (newer than this SDK): its content is lost
/// before it reaches us; name it rather than leave a hole.
fn unknown(what: &str) -> Value {
    tracing::warn!(what, "Bedrock sent a member this SDK version does not know");
    json!({ "unknown": what })
}

fn s3_json(l: &sdk::S3Location) -> Value {
    object([
        ("uri", Some(str_json(&l.uri))),
        ("bucketOwner", opt_str(&l.bucket_owner)),
    ])
}

fn error_json(e: &sdk::ErrorBlock) -> Value {
    object([("message", opt_str(&e.message))])
}

pub(crate) fn image_source_json(s: &sdk::ImageSource) -> Value {
    match s {
        sdk::ImageSource::Bytes(b) => json!({"bytes": blob_json(b)}),
        sdk::ImageSource::S3Location(l) => json!({"s3Location": s3_json(l)}),
        _ => unknown("ImageSource"),
    }
}

fn image_json(i: &sdk::ImageBlock) -> Value {
    object([
        ("format", Some(str_json(i.format.as_str()))),
        ("source", i.source.as_ref().map(image_source_json)),
        ("error", i.error.as_ref().map(error_json)),
    ])
}

fn citations_config_json(c: &sdk::CitationsConfig) -> Value {
    json!({"enabled": c.enabled})
}

fn document_json(d: &sdk::DocumentBlock) -> Value {
    let source = d.source.as_ref().map(|s| match s {
        sdk::DocumentSource::Bytes(b) => json!({"bytes": blob_json(b)}),
        sdk::DocumentSource::S3Location(l) => json!({"s3Location": s3_json(l)}),
        sdk::DocumentSource::Text(t) => json!({"text": t}),
        sdk::DocumentSource::Content(c) => json!({"content": c
            .iter()
            .map(|b| match b {
                sdk::DocumentContentBlock::Text(t) => json!({"text": t}),
                _ => unknown("DocumentContentBlock"),
            })
            .collect::<Vec<_>>()}),
        _ => unknown("DocumentSource"),
    });
    object([
        ("format", Some(str_json(d.format.as_str()))),
        ("name", Some(str_json(&d.name))),
        ("source", source),
        ("context", opt_str(&d.context)),
        ("citations", d.citations.as_ref().map(citations_config_json)),
    ])
}

fn video_json(v: &sdk::VideoBlock) -> Value {
    let source = v.source.as_ref().map(|s| match s {
        sdk::VideoSource::Bytes(b) => json!({"bytes": blob_json(b)}),
        sdk::VideoSource::S3Location(l) => json!({"s3Location": s3_json(l)}),
        _ => unknown("VideoSource"),
    });
    object([
        ("format", Some(str_json(v.format.as_str()))),
        ("source", source),
    ])
}

fn audio_json(a: &sdk::AudioBlock) -> Value {
    let source = a.source.as_ref().map(|s| match s {
        sdk::AudioSource::Bytes(b) => json!({"bytes": blob_json(b)}),
        sdk::AudioSource::S3Location(l) => json!({"s3Location": s3_json(l)}),
        _ => unknown("AudioSource"),
    });
    object([
        ("format", Some(str_json(a.format.as_str()))),
        ("source", source),
        ("error", a.error.as_ref().map(error_json)),
    ])
}

fn tool_use_json(t: &sdk::ToolUseBlock) -> Value {
    object([
        ("toolUseId", Some(str_json(&t.tool_use_id))),
        ("name", Some(str_json(&t.name))),
        ("input", Some(from_document(&t.input))),
        ("type", t.r#type.as_ref().map(|k| str_json(k.as_str()))),
    ])
}

fn search_result_json(s: &sdk::SearchResultBlock) -> Value {
    object([
        ("source", Some(str_json(&s.source))),
        ("title", Some(str_json(&s.title))),
        (
            "content",
            Some(Value::Array(
                s.content.iter().map(|c| json!({"text": c.text})).collect(),
            )),
        ),
        ("citations", s.citations.as_ref().map(citations_config_json)),
    ])
}

fn tool_result_json(t: &sdk::ToolResultBlock) -> Value {
    let content: Vec<Value> = t
        .content
        .iter()
        .map(|c| match c {
            sdk::ToolResultContentBlock::Json(d) => json!({"json": from_document(d)}),
            sdk::ToolResultContentBlock::Text(s) => json!({"text": s}),
            sdk::ToolResultContentBlock::Image(i) => json!({"image": image_json(i)}),
            sdk::ToolResultContentBlock::Document(d) => json!({"document": document_json(d)}),
            sdk::ToolResultContentBlock::Video(v) => json!({"video": video_json(v)}),
            sdk::ToolResultContentBlock::SearchResult(s) => {
                json!({"searchResult": search_result_json(s)})
            }
            _ => unknown("ToolResultContentBlock"),
        })
        .collect();
    object([
        ("toolUseId", Some(str_json(&t.tool_use_id))),
        ("content", Some(Value::Array(content))),
        ("status", t.status.as_ref().map(|s| str_json(s.as_str()))),
        ("type", opt_str(&t.r#type)),
    ])
}

fn guard_content_json(g: &sdk::GuardrailConverseContentBlock) -> Value {
    match g {
        sdk::GuardrailConverseContentBlock::Text(t) => json!({"text": object([
            ("text", Some(str_json(&t.text))),
            ("qualifiers", t.qualifiers.as_ref().map(|q| {
                Value::Array(q.iter().map(|x| str_json(x.as_str())).collect())
            })),
        ])}),
        sdk::GuardrailConverseContentBlock::Image(i) => json!({"image": object([
            ("format", Some(str_json(i.format.as_str()))),
            ("source", i.source.as_ref().map(|s| match s {
                sdk::GuardrailConverseImageSource::Bytes(b) => json!({"bytes": blob_json(b)}),
                _ => unknown("GuardrailConverseImageSource"),
            })),
        ])}),
        _ => unknown("GuardrailConverseContentBlock"),
    }
}

fn cache_point_json(c: &sdk::CachePointBlock) -> Value {
    object([
        ("type", Some(str_json(c.r#type.as_str()))),
        ("ttl", c.ttl.as_ref().map(|t| str_json(t.as_str()))),
    ])
}

fn reasoning_json(r: &sdk::ReasoningContentBlock) -> Value {
    match r {
        sdk::ReasoningContentBlock::ReasoningText(t) => json!({"reasoningText": object([
            ("text", Some(str_json(&t.text))),
            ("signature", opt_str(&t.signature)),
        ])}),
        sdk::ReasoningContentBlock::RedactedContent(b) => json!({"redactedContent": blob_json(b)}),
        _ => unknown("ReasoningContentBlock"),
    }
}

fn span_json(d: Option<i32>, start: Option<i32>, end: Option<i32>) -> Value {
    object([
        ("documentIndex", d.map(Value::from)),
        ("start", start.map(Value::from)),
        ("end", end.map(Value::from)),
    ])
}

pub(crate) fn citation_location_json(l: &sdk::CitationLocation) -> Value {
    match l {
        sdk::CitationLocation::Web(w) => json!({"web": object([
            ("url", opt_str(&w.url)),
            ("domain", opt_str(&w.domain)),
        ])}),
        sdk::CitationLocation::DocumentChar(s) => {
            json!({"documentChar": span_json(s.document_index, s.start, s.end)})
        }
        sdk::CitationLocation::DocumentPage(s) => {
            json!({"documentPage": span_json(s.document_index, s.start, s.end)})
        }
        sdk::CitationLocation::DocumentChunk(s) => {
            json!({"documentChunk": span_json(s.document_index, s.start, s.end)})
        }
        sdk::CitationLocation::SearchResultLocation(s) => json!({"searchResultLocation": object([
            ("searchResultIndex", s.search_result_index.map(Value::from)),
            ("start", s.start.map(Value::from)),
            ("end", s.end.map(Value::from)),
        ])}),
        _ => unknown("CitationLocation"),
    }
}

fn citations_content_json(c: &sdk::CitationsContentBlock) -> Value {
    let content = c.content.as_ref().map(|v| {
        Value::Array(
            v.iter()
                .map(|g| match g {
                    sdk::CitationGeneratedContent::Text(t) => json!({"text": t}),
                    _ => unknown("CitationGeneratedContent"),
                })
                .collect(),
        )
    });
    let citations = c.citations.as_ref().map(|v| {
        Value::Array(
            v.iter()
                .map(|c| {
                    object([
                        ("title", opt_str(&c.title)),
                        ("source", opt_str(&c.source)),
                        (
                            "sourceContent",
                            c.source_content.as_ref().map(|s| {
                                Value::Array(
                                    s.iter()
                                        .map(|x| match x {
                                            sdk::CitationSourceContent::Text(t) => {
                                                json!({"text": t})
                                            }
                                            _ => unknown("CitationSourceContent"),
                                        })
                                        .collect(),
                                )
                            }),
                        ),
                        ("location", c.location.as_ref().map(citation_location_json)),
                    ])
                })
                .collect(),
        )
    });
    object([("content", content), ("citations", citations)])
}

fn tool_reference_json(t: Option<&sdk::ToolReference>) -> Value {
    object([(
        "tool",
        t.map(|t| {
            object([
                ("type", opt_str(&t.r#type)),
                ("name", opt_str(&t.name)),
                ("serverName", opt_str(&t.server_name)),
            ])
        }),
    )])
}

/// One content block in Bedrock's JSON (`{"toolUse": {...}}`).
pub(crate) fn content_block_json(b: &sdk::ContentBlock) -> Value {
    match b {
        sdk::ContentBlock::Text(t) => json!({"text": t}),
        sdk::ContentBlock::Image(i) => json!({"image": image_json(i)}),
        sdk::ContentBlock::Document(d) => json!({"document": document_json(d)}),
        sdk::ContentBlock::Video(v) => json!({"video": video_json(v)}),
        sdk::ContentBlock::Audio(a) => json!({"audio": audio_json(a)}),
        sdk::ContentBlock::ToolUse(t) => json!({"toolUse": tool_use_json(t)}),
        sdk::ContentBlock::ToolResult(t) => json!({"toolResult": tool_result_json(t)}),
        sdk::ContentBlock::GuardContent(g) => json!({"guardContent": guard_content_json(g)}),
        sdk::ContentBlock::CachePoint(c) => json!({"cachePoint": cache_point_json(c)}),
        sdk::ContentBlock::ReasoningContent(r) => json!({"reasoningContent": reasoning_json(r)}),
        sdk::ContentBlock::CitationsContent(c) => {
            json!({"citationsContent": citations_content_json(c)})
        }
        sdk::ContentBlock::SearchResult(s) => json!({"searchResult": search_result_json(s)}),
        // Newer than botocore's model; named as the SDK names them.
        sdk::ContentBlock::ToolAddition(t) => {
            json!({"toolAddition": tool_reference_json(t.tool.as_ref())})
        }
        sdk::ContentBlock::ToolRemoval(t) => {
            json!({"toolRemoval": tool_reference_json(t.tool.as_ref())})
        }
        _ => unknown("ContentBlock"),
    }
}

/// A message in Bedrock's JSON.
pub(crate) fn message_json(m: &sdk::Message) -> Value {
    json!({
        "role": m.role.as_str(),
        "content": m.content.iter().map(content_block_json).collect::<Vec<_>>(),
    })
}

/// `TokenUsage` in Bedrock's JSON.
pub(crate) fn usage_json(u: &sdk::TokenUsage) -> Value {
    object([
        ("inputTokens", Some(Value::from(u.input_tokens))),
        ("outputTokens", Some(Value::from(u.output_tokens))),
        ("totalTokens", Some(Value::from(u.total_tokens))),
        (
            "cacheReadInputTokens",
            u.cache_read_input_tokens.map(Value::from),
        ),
        (
            "cacheWriteInputTokens",
            u.cache_write_input_tokens.map(Value::from),
        ),
        (
            "cacheDetails",
            u.cache_details.as_ref().map(|d| {
                Value::Array(
                    d.iter()
                        .map(|c| json!({"ttl": c.ttl.as_str(), "inputTokens": c.input_tokens}))
                        .collect(),
                )
            }),
        ),
    ])
}

pub(crate) fn performance_config_json(p: &sdk::PerformanceConfiguration) -> Value {
    json!({"latency": p.latency.as_str()})
}

pub(crate) fn service_tier_json(s: &sdk::ServiceTier) -> Value {
    json!({"type": s.r#type.as_str()})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// JSON → our shape → SDK block → JSON again.
    fn round_trip(block: Value) -> (sdk::ContentBlock, Value) {
        let parsed: cv::ContentBlock = serde_json::from_value(block).unwrap();
        let sdk = content_block(&parsed, "messages.0.content.0").unwrap();
        let back = content_block_json(&sdk);
        (sdk, back)
    }

    fn refused(block: Value) -> String {
        let parsed: cv::ContentBlock = serde_json::from_value(block).unwrap();
        content_block(&parsed, "messages.0.content.0")
            .unwrap_err()
            .message
    }

    const PNG_B64: &str = "iVBORw0KGgo=";

    #[test]
    fn text() {
        let j = json!({"text": "hello"});
        let (sdk, back) = round_trip(j.clone());
        assert_eq!(sdk.as_text().unwrap(), "hello");
        assert_eq!(back, j);
    }

    #[test]
    fn image_bytes_and_s3() {
        let j = json!({"image": {"format": "png", "source": {"bytes": PNG_B64}}});
        let (sdk, back) = round_trip(j.clone());
        let img = sdk.as_image().unwrap();
        assert_eq!(img.format, sdk::ImageFormat::Png);
        let sdk::ImageSource::Bytes(b) = img.source.as_ref().unwrap() else {
            panic!("not bytes")
        };
        assert_eq!(b.as_ref(), b"\x89PNG\r\n\x1a\n");
        assert_eq!(back, j);

        let j = json!({"image": {"format": "webp", "source": {"s3Location": {
            "uri": "s3://bucket/cat.webp", "bucketOwner": "111122223333"}}}});
        let (sdk, back) = round_trip(j.clone());
        let img = sdk.as_image().unwrap();
        assert_eq!(img.format, sdk::ImageFormat::Webp);
        let sdk::ImageSource::S3Location(l) = img.source.as_ref().unwrap() else {
            panic!("not s3")
        };
        assert_eq!(l.uri, "s3://bucket/cat.webp");
        assert_eq!(l.bucket_owner.as_deref(), Some("111122223333"));
        assert_eq!(back, j);
    }

    #[test]
    fn document_every_source_with_context_and_citations() {
        for source in [
            json!({"bytes": "JVBERi0xLjQ="}),
            json!({"s3Location": {"uri": "s3://b/report.pdf"}}),
            json!({"text": "plain words"}),
            json!({"content": [{"text": "one"}, {"text": "two"}]}),
        ] {
            let j = json!({"document": {"format": "pdf", "name": "report", "source": source,
                "context": "the Q3 report", "citations": {"enabled": true}}});
            let (sdk, back) = round_trip(j.clone());
            let d = sdk.as_document().unwrap();
            assert_eq!(d.format, sdk::DocumentFormat::Pdf);
            assert_eq!(d.name, "report");
            assert_eq!(d.context.as_deref(), Some("the Q3 report"));
            assert!(d.citations.as_ref().unwrap().enabled);
            assert_eq!(back, j);
        }
        // Text sources without a format are text; the SDK writes `txt`, which is what they are.
        let (sdk, _) = round_trip(json!({"document": {"name": "notes", "source": {"text": "hi"}}}));
        assert_eq!(sdk.as_document().unwrap().format, sdk::DocumentFormat::Txt);
        // Bytes without a format would go out as `txt`: refused, naming the member.
        let msg = refused(json!({"document": {"name": "r", "source": {"bytes": "JVBERi0="}}}));
        assert!(
            msg.starts_with("messages.0.content.0.document.format: is required"),
            "{msg}"
        );
    }

    #[test]
    fn video_and_audio() {
        let j = json!({"video": {"format": "three_gp", "source": {"bytes": "AAAA"}}});
        let (sdk, back) = round_trip(j.clone());
        assert_eq!(sdk.as_video().unwrap().format, sdk::VideoFormat::ThreeGp);
        assert_eq!(back, j);
        let j =
            json!({"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/v.mp4"}}}});
        assert_eq!(round_trip(j.clone()).1, j);

        let j = json!({"audio": {"format": "mp3", "source": {"bytes": "SUQz"}}});
        let (sdk, back) = round_trip(j.clone());
        let a = sdk.as_audio().unwrap();
        assert_eq!(a.format, sdk::AudioFormat::Mp3);
        assert!(matches!(a.source, Some(sdk::AudioSource::Bytes(ref b)) if b.as_ref() == b"ID3"));
        assert_eq!(back, j);
    }

    #[test]
    fn tool_use_with_document_input_and_type() {
        let j = json!({"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather",
            "input": {"city": "Paris", "days": 3, "hourly": false, "temp": -1.5,
                      "tags": ["a", null]},
            "type": "server_tool_use"}});
        let (sdk, back) = round_trip(j.clone());
        let t = sdk.as_tool_use().unwrap();
        assert_eq!(t.tool_use_id, "tooluse_1");
        assert_eq!(t.name, "get_weather");
        assert_eq!(t.r#type, Some(sdk::ToolUseType::ServerToolUse));
        let Document::Object(o) = &t.input else {
            panic!("input is not an object")
        };
        assert_eq!(o["city"], Document::String("Paris".into()));
        assert_eq!(o["days"], Document::Number(Number::PosInt(3)));
        assert_eq!(o["temp"], Document::Number(Number::Float(-1.5)));
        assert_eq!(back, j);
    }

    #[test]
    fn tool_result_every_content_kind() {
        let j = json!({"toolResult": {"toolUseId": "tooluse_1", "status": "error", "type": "custom",
        "content": [
            {"json": {"temp": 21}},
            {"text": "sunny"},
            {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}},
            {"document": {"format": "csv", "name": "data", "source": {"text": "a,b"}}},
            {"video": {"format": "mov", "source": {"s3Location": {"uri": "s3://b/v.mov"}}}},
            {"searchResult": {"source": "https://example.com", "title": "Example",
                "content": [{"text": "snippet"}], "citations": {"enabled": false}}}
        ]}});
        let (sdk, back) = round_trip(j.clone());
        let t = sdk.as_tool_result().unwrap();
        assert_eq!(t.status, Some(sdk::ToolResultStatus::Error));
        assert_eq!(t.r#type.as_deref(), Some("custom"));
        assert_eq!(t.content.len(), 6);
        assert!(
            matches!(&t.content[0], sdk::ToolResultContentBlock::Json(Document::Object(o))
            if o["temp"] == Document::Number(Number::PosInt(21)))
        );
        assert!(
            matches!(&t.content[5], sdk::ToolResultContentBlock::SearchResult(s)
            if s.title == "Example" && s.content[0].text == "snippet")
        );
        assert_eq!(back, j);
    }

    #[test]
    fn guard_content_text_with_qualifiers_and_image() {
        let j = json!({"guardContent": {"text": {"text": "is this safe?",
            "qualifiers": ["grounding_source", "query", "guard_content"]}}});
        let (sdk, back) = round_trip(j.clone());
        let sdk::GuardrailConverseContentBlock::Text(t) = sdk.as_guard_content().unwrap() else {
            panic!("not text")
        };
        assert_eq!(
            t.qualifiers.as_deref().unwrap(),
            [
                sdk::GuardrailConverseContentQualifier::GroundingSource,
                sdk::GuardrailConverseContentQualifier::Query,
                sdk::GuardrailConverseContentQualifier::GuardContent
            ]
        );
        assert_eq!(back, j);
        let j = json!({"guardContent": {"image": {"format": "png", "source": {"bytes": PNG_B64}}}});
        let (sdk, back) = round_trip(j.clone());
        assert!(matches!(sdk.as_guard_content().unwrap(),
            sdk::GuardrailConverseContentBlock::Image(i)
                if i.format == sdk::GuardrailConverseImageFormat::Png));
        assert_eq!(back, j);
    }

    #[test]
    fn cache_point_with_ttl() {
        let j = json!({"cachePoint": {"type": "default", "ttl": "1h"}});
        let (sdk, back) = round_trip(j.clone());
        let c = sdk.as_cache_point().unwrap();
        assert_eq!(c.r#type, sdk::CachePointType::Default);
        assert_eq!(c.ttl, Some(sdk::CacheTtl::OneHour));
        assert_eq!(back, j);
        let j = json!({"cachePoint": {"type": "default"}});
        assert_eq!(round_trip(j.clone()).1, j);
    }

    #[test]
    fn reasoning_text_with_signature_and_redacted() {
        let j =
            json!({"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig=="}}});
        let (sdk, back) = round_trip(j.clone());
        let sdk::ReasoningContentBlock::ReasoningText(t) = sdk.as_reasoning_content().unwrap()
        else {
            panic!("not reasoning text")
        };
        assert_eq!(
            (t.text.as_str(), t.signature.as_deref()),
            ("hmm", Some("sig=="))
        );
        assert_eq!(back, j);
        // Real redacted content (converse/claude37-sonnet-redacted-reasoning.json starts so).
        let j = json!({"reasoningContent": {"redactedContent": "RXRNRkNrZ0lDeEFC"}});
        let (sdk, back) = round_trip(j.clone());
        assert!(matches!(sdk.as_reasoning_content().unwrap(),
            sdk::ReasoningContentBlock::RedactedContent(b) if b.as_ref() == b"EtMFCkgICxAB"));
        assert_eq!(back, j);
    }

    #[test]
    fn citations_content_every_location() {
        let j = json!({"citationsContent": {
        "content": [{"text": "Paris is the capital."}],
        "citations": [
            {"title": "doc", "source": "s", "sourceContent": [{"text": "Paris"}],
             "location": {"documentChar": {"documentIndex": 0, "start": 3, "end": 9}}},
            {"location": {"documentPage": {"documentIndex": 1, "start": 2, "end": 2}}},
            {"location": {"documentChunk": {"documentIndex": 2, "start": 0, "end": 1}}},
            {"location": {"searchResultLocation": {"searchResultIndex": 0, "start": 0, "end": 4}}},
            {"location": {"web": {"url": "https://example.com", "domain": "example.com"}}}
        ]}});
        let (sdk, back) = round_trip(j.clone());
        let c = sdk.as_citations_content().unwrap();
        let cites = c.citations.as_ref().unwrap();
        assert_eq!(cites.len(), 5);
        assert!(
            matches!(cites[0].location, Some(sdk::CitationLocation::DocumentChar(ref l))
            if l.start == Some(3) && l.end == Some(9))
        );
        assert_eq!(back, j);
    }

    #[test]
    fn search_result() {
        let j = json!({"searchResult": {"source": "kb://1", "title": "T",
            "content": [{"text": "a"}, {"text": "b"}], "citations": {"enabled": true}}});
        let (sdk, back) = round_trip(j.clone());
        assert_eq!(sdk.as_search_result().unwrap().content.len(), 2);
        assert_eq!(back, j);
    }

    fn parts(j: Value) -> Result<Parts, AppError> {
        request(&serde_json::from_value(j).unwrap())
    }

    #[test]
    fn system_blocks() {
        let p = parts(json!({"system": [
            {"text": "be brief"},
            {"guardContent": {"text": {"text": "policy", "qualifiers": ["guard_content"]}}},
            {"cachePoint": {"type": "default", "ttl": "5m"}}
        ]}))
        .unwrap();
        let s = p.system.unwrap();
        assert_eq!(s[0].as_text().unwrap(), "be brief");
        assert!(matches!(s[1].as_guard_content().unwrap(),
            sdk::GuardrailConverseContentBlock::Text(t) if t.text == "policy"));
        assert_eq!(
            s[2].as_cache_point().unwrap().ttl,
            Some(sdk::CacheTtl::FiveMinutes)
        );
    }

    #[test]
    fn tool_config_every_tool_and_choice() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]});
        for (choice, want) in [
            (json!({"auto": {}}), "auto"),
            (json!({"any": {}}), "any"),
            (json!({"tool": {"name": "get_weather"}}), "tool"),
        ] {
            let p = parts(json!({"toolConfig": {
                "tools": [
                    {"toolSpec": {"name": "get_weather", "description": "weather",
                                  "inputSchema": {"json": schema}, "strict": true}},
                    {"systemTool": {"name": "nova_grounding"}},
                    {"cachePoint": {"type": "default"}}
                ],
                "toolChoice": choice}}))
            .unwrap();
            let t = p.tool_config.unwrap();
            let spec = t.tools[0].as_tool_spec().unwrap();
            assert_eq!(spec.name, "get_weather");
            assert_eq!(spec.description.as_deref(), Some("weather"));
            assert_eq!(spec.strict, Some(true));
            let Some(sdk::ToolInputSchema::Json(d)) = &spec.input_schema else {
                panic!("no schema")
            };
            assert_eq!(from_document(d), schema);
            assert_eq!(t.tools[1].as_system_tool().unwrap().name, "nova_grounding");
            assert!(t.tools[2].is_cache_point());
            let got = match t.tool_choice.unwrap() {
                sdk::ToolChoice::Auto(_) => "auto",
                sdk::ToolChoice::Any(_) => "any",
                sdk::ToolChoice::Tool(s) if s.name == "get_weather" => "tool",
                other => panic!("{other:?}"),
            };
            assert_eq!(got, want);
        }
    }

    #[test]
    fn output_config_json_schema() {
        let p = parts(
            json!({"outputConfig": {"textFormat": {"type": "json_schema",
            "structure": {"jsonSchema": {"schema": "{\"type\":\"object\"}", "name": "answer",
                                         "description": "the answer"}}}}}),
        )
        .unwrap();
        let f = p.output_config.unwrap().text_format.unwrap();
        assert_eq!(f.r#type, sdk::OutputFormatType::JsonSchema);
        let Some(sdk::OutputFormatStructure::JsonSchema(s)) = f.structure else {
            panic!("no structure")
        };
        assert_eq!(s.schema, "{\"type\":\"object\"}");
        assert_eq!(s.name.as_deref(), Some("answer"));
        assert_eq!(s.description.as_deref(), Some("the answer"));
    }

    #[test]
    fn everything_else() {
        let p = parts(json!({
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"maxTokens": 10, "temperature": 0.5, "topP": 0.9,
                                "stopSequences": ["END"]},
            "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "2",
                                "trace": "enabled_full", "streamProcessingMode": "async"},
            "additionalModelRequestFields": {"top_k": 5},
            "promptVariables": {"city": {"text": "Paris"}},
            "additionalModelResponseFieldPaths": ["/stop_sequence"],
            "requestMetadata": {"team": "a"},
            "performanceConfig": {"latency": "optimized"},
            "serviceTier": {"type": "flex"}
        }))
        .unwrap();
        let m = p.messages.unwrap();
        assert_eq!(m[0].role, sdk::ConversationRole::User);
        let c = p.inference_config.unwrap();
        assert_eq!(c.max_tokens, Some(10));
        assert_eq!(c.top_p, Some(0.9));
        assert_eq!(c.stop_sequences.unwrap(), ["END"]);
        let g = p.guardrail_stream_config.unwrap();
        assert_eq!(g.guardrail_identifier, "gr-1");
        assert_eq!(g.trace, sdk::GuardrailTrace::EnabledFull);
        assert_eq!(
            g.stream_processing_mode,
            sdk::GuardrailStreamProcessingMode::Async
        );
        assert_eq!(p.guardrail_config.unwrap().guardrail_version, "2");
        assert_eq!(
            from_document(&p.additional_model_request_fields.unwrap()),
            json!({"top_k": 5})
        );
        assert_eq!(
            p.prompt_variables.unwrap()["city"],
            sdk::PromptVariableValues::Text("Paris".into())
        );
        assert_eq!(
            p.additional_model_response_field_paths.unwrap(),
            ["/stop_sequence"]
        );
        assert_eq!(p.request_metadata.unwrap()["team"], "a");
        assert_eq!(
            p.performance_config.unwrap().latency,
            sdk::PerformanceConfigLatency::Optimized
        );
        assert_eq!(p.service_tier.unwrap().r#type, sdk::ServiceTierType::Flex);
    }

    #[test]
    fn what_the_sdk_cannot_carry_is_named() {
        let e = parts(json!({"guardrailConfig": {"trace": "enabled"}}))
            .err()
            .unwrap();
        assert!(
            e.message
                .starts_with("guardrailConfig: guardrailIdentifier"),
            "{}",
            e.message
        );
        let e = parts(json!({"messages": [{"role": "user", "content": [
            {"text": "x"},
            {"toolResult": {"toolUseId": "t", "content": [
                {"document": {"name": "d", "source": {"s3Location": {"uri": "s3://b/d"}}}}]}}
        ]}]}))
        .err()
        .unwrap();
        assert_eq!(
            e.message.split(':').next().unwrap(),
            "messages.0.content.1.toolResult.content.0.document.format"
        );
    }
}
