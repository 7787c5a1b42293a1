//! Tools, images, documents, reasoning and prompt caching through the local endpoint with the
//! real Rust AWS SDK (ConverseStream, Converse, InvokeModelWithResponseStream), and every
//! validation error Bedrock gives for them, with its exact message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ContentBlockDelta, ContentBlockStart,
    ConversationRole, ConverseStreamOutput, DocumentBlock, DocumentFormat, DocumentSource,
    ImageBlock, ImageFormat, ImageSource, InferenceConfiguration, Message, ReasoningContentBlock,
    ReasoningContentBlockDelta, ResponseStream, SpecificToolChoice, StopReason, SystemContentBlock,
    Tool, ToolChoice, ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock,
    ToolSpecification, ToolUseBlock,
};
use bedrock_local::{LocalBedrock, RunningServer, ScriptedConfig, ScriptedEngine};
use serde_json::{json, Value};

mod support;
use support::{client, doc, json_of, png};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const SONNET4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

async fn server() -> RunningServer {
    let engine = Arc::new(ScriptedEngine::new(ScriptedConfig::default()));
    LocalBedrock::new(engine)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

// --- JSON <-> SDK documents -------------------------------------------------------------------

// --- Real image bytes ---------------------------------------------------------------------------

/// The header of a baseline JPEG of 64×48 (SOI, JFIF APP0, SOF0, EOI): what format sniffers read.
fn jpeg_64x48() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    v.extend_from_slice(b"JFIF\0");
    v.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]);
    v.extend_from_slice(&[
        0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x30, 0x00, 0x40, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11,
        0x01, 0x03, 0x11, 0x01,
    ]);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

// --- Helpers ---------------------------------------------------------------------------------

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "hourly": {"type": "boolean"},
            "coords": {"type": "object", "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}, "lon": {"type": "number"}}, "required": ["lat", "lon"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
            "note": {"type": ["string", "null"]}
        },
        "required": ["city", "unit", "coords"],
        "additionalProperties": false
    })
}

fn tool_config(choice: Option<ToolChoice>) -> ToolConfiguration {
    let spec = |name: &str, schema: Value| {
        Tool::ToolSpec(
            ToolSpecification::builder()
                .name(name)
                .description("a tool")
                .input_schema(ToolInputSchema::Json(doc(&schema)))
                .build()
                .unwrap(),
        )
    };
    ToolConfiguration::builder()
        .tools(spec("get_weather", weather_schema()))
        .tools(spec(
            "get_time",
            json!({"type": "object", "properties": {"zone": {"type": "string"}}}),
        ))
        .set_tool_choice(choice)
        .build()
        .unwrap()
}

fn user(blocks: Vec<ContentBlock>) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .set_content(Some(blocks))
        .build()
        .unwrap()
}

fn text(t: &str) -> ContentBlock {
    ContentBlock::Text(t.to_string())
}

/// Everything a ConverseStream call sent, in order, as (event name, block index) plus the pieces.
#[derive(Default, Debug)]
struct Streamed {
    kinds: Vec<(String, Option<i32>)>,
    tool_starts: Vec<(i32, String, String)>,
    tool_input: Vec<(i32, String)>,
    text: Vec<(i32, String)>,
    reasoning: Vec<(i32, String)>,
    signatures: Vec<(i32, String)>,
    stop: Option<StopReason>,
    usage: Option<aws_sdk_bedrockruntime::types::TokenUsage>,
}

impl Streamed {
    fn text_of(&self, index: i32) -> String {
        self.text
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, t)| t.as_str())
            .collect()
    }
    fn input_of(&self, index: i32) -> String {
        self.tool_input
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, t)| t.as_str())
            .collect()
    }
}

async fn stream(
    req: aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder,
) -> Streamed {
    let mut out = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{:?}", e.into_service_error()));
    let mut s = Streamed::default();
    while let Some(event) = out.stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::MessageStart(_) => s.kinds.push(("messageStart".into(), None)),
            ConverseStreamOutput::ContentBlockStart(e) => {
                s.kinds
                    .push(("contentBlockStart".into(), Some(e.content_block_index)));
                if let Some(ContentBlockStart::ToolUse(t)) = e.start {
                    s.tool_starts
                        .push((e.content_block_index, t.tool_use_id, t.name));
                }
            }
            ConverseStreamOutput::ContentBlockDelta(e) => {
                let i = e.content_block_index;
                s.kinds.push(("contentBlockDelta".into(), Some(i)));
                match e.delta {
                    Some(ContentBlockDelta::Text(t)) => s.text.push((i, t)),
                    Some(ContentBlockDelta::ToolUse(t)) => s.tool_input.push((i, t.input)),
                    Some(ContentBlockDelta::ReasoningContent(
                        ReasoningContentBlockDelta::Text(t),
                    )) => s.reasoning.push((i, t)),
                    Some(ContentBlockDelta::ReasoningContent(
                        ReasoningContentBlockDelta::Signature(t),
                    )) => s.signatures.push((i, t)),
                    other => panic!("unexpected delta {other:?}"),
                }
            }
            ConverseStreamOutput::ContentBlockStop(e) => s
                .kinds
                .push(("contentBlockStop".into(), Some(e.content_block_index))),
            ConverseStreamOutput::MessageStop(e) => {
                s.kinds.push(("messageStop".into(), None));
                s.stop = Some(e.stop_reason);
            }
            ConverseStreamOutput::Metadata(e) => {
                s.kinds.push(("metadata".into(), None));
                s.usage = e.usage;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    s
}

fn assert_valid(schema: &Value, value: &Value) {
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{value} does not validate: {errors:?}");
}

// --- Tool use -------------------------------------------------------------------------------

#[tokio::test]
async fn converse_stream_tool_round_trip() {
    let srv = server().await;
    let c = client(&srv.url());
    let question = user(vec![text("What is the weather in Paris? Use get_weather.")]);

    // 1. A forced tool call: one toolUse block, input streamed in fragments, stop tool_use.
    let s = stream(
        c.converse_stream()
            .model_id(HAIKU)
            .messages(question.clone())
            .tool_config(tool_config(Some(ToolChoice::Any(
                aws_sdk_bedrockruntime::types::AnyToolChoice::builder().build(),
            )))),
    )
    .await;
    assert_eq!(s.stop, Some(StopReason::ToolUse));
    assert_eq!(s.tool_starts.len(), 1, "{s:?}");
    let (index, id, name) = s.tool_starts[0].clone();
    assert_eq!((index, name.as_str()), (0, "get_weather"));
    assert!(
        id.starts_with("tooluse_") && id.len() == "tooluse_".len() + 22,
        "{id}"
    );
    // FACTS.md §5: contentBlockStart only for the tool block, first input fragment "".
    assert_eq!(s.kinds[0].0, "messageStart");
    assert_eq!(s.kinds[1], ("contentBlockStart".to_string(), Some(0)));
    let fragments: Vec<&str> = s.tool_input.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(fragments[0], "");
    assert!(fragments.len() >= 4, "several fragments: {fragments:?}");
    let input: Value = serde_json::from_str(&s.input_of(0)).unwrap();
    assert_valid(&weather_schema(), &input);
    assert!(s.text.is_empty(), "a forced call writes no text");
    let kinds: Vec<&str> = s.kinds.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        &kinds[kinds.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    let usage = s.usage.unwrap();
    assert_eq!(usage.output_tokens, (fragments.len() - 1) as i32);
    assert!(usage.input_tokens > 10, "tool definitions count: {usage:?}");

    // 2. The tool's result goes back; the answer quotes it.
    let assistant = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::ToolUse(
            ToolUseBlock::builder()
                .tool_use_id(&id)
                .name(&name)
                .input(doc(&input))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let result = user(vec![ContentBlock::ToolResult(
        ToolResultBlock::builder()
            .tool_use_id(&id)
            .content(ToolResultContentBlock::Json(doc(&json!({"temp": 21}))))
            .content(ToolResultContentBlock::Text("sunny".into()))
            .build()
            .unwrap(),
    )]);
    let s = stream(
        c.converse_stream()
            .model_id(HAIKU)
            .messages(question.clone())
            .messages(assistant.clone())
            .messages(result.clone())
            .tool_config(tool_config(None)),
    )
    .await;
    assert_eq!(s.stop, Some(StopReason::EndTurn));
    assert!(s.tool_starts.is_empty());
    assert_eq!(
        s.text_of(0),
        "The tool get_weather returned: {\"temp\":21} sunny."
    );

    // 3. `auto` with the tool named: a short text block first, then the call at index 1.
    let s = stream(
        c.converse_stream()
            .model_id(HAIKU)
            .messages(question.clone())
            .tool_config(tool_config(None)),
    )
    .await;
    assert_eq!(s.text_of(0), "Calling get_weather.");
    assert_eq!(s.tool_starts[0].0, 1);
    assert_eq!(
        s.kinds.iter().filter(|k| k.0 == "contentBlockStop").count(),
        2
    );
    assert_eq!(s.stop, Some(StopReason::ToolUse));

    // 4. `tool` names the tool to call, whatever the text says.
    let s = stream(
        c.converse_stream()
            .model_id(HAIKU)
            .messages(question.clone())
            .tool_config(tool_config(Some(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name("get_time")
                    .build()
                    .unwrap(),
            )))),
    )
    .await;
    assert_eq!(s.tool_starts[0].2, "get_time");

    // 5. Converse (not streamed) returns the call with its input parsed.
    let out = c
        .converse()
        .model_id(HAIKU)
        .messages(question)
        .tool_config(tool_config(Some(ToolChoice::Any(
            aws_sdk_bedrockruntime::types::AnyToolChoice::builder().build(),
        ))))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::ToolUse);
    let msg = out.output.unwrap().as_message().unwrap().clone();
    let ContentBlock::ToolUse(call) = &msg.content[0] else {
        panic!("{msg:?}")
    };
    assert_eq!(call.name, "get_weather");
    assert_eq!(json_of(&call.input), input, "the same deterministic input");
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn invoke_model_stream_carries_tool_calls_in_the_family_shape() {
    let srv = server().await;
    let c = client(&srv.url());
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 300,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"name": "get_weather", "description": "d", "input_schema": weather_schema()}],
        "tool_choice": {"type": "any"}
    });
    let mut out = c
        .invoke_model_with_response_stream()
        .model_id(HAIKU)
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(ResponseStream::Chunk(p)) = out.body.recv().await.unwrap() {
        chunks.push(serde_json::from_slice::<Value>(p.bytes().unwrap().as_ref()).unwrap());
    }
    let start = chunks
        .iter()
        .find(|c| c["type"] == "content_block_start" && c["content_block"]["type"] == "tool_use")
        .unwrap_or_else(|| panic!("{chunks:#?}"));
    assert_eq!(start["content_block"]["name"], "get_weather");
    let input: String = chunks
        .iter()
        .filter(|c| c["delta"]["type"] == "input_json_delta")
        .map(|c| c["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_valid(&weather_schema(), &serde_json::from_str(&input).unwrap());
    let stop = chunks
        .iter()
        .find(|c| c["type"] == "message_delta")
        .unwrap();
    assert_eq!(stop["delta"]["stop_reason"], "tool_use");
    srv.stop().await.unwrap();
}

// --- Images and documents ------------------------------------------------------------------

#[tokio::test]
async fn images_and_documents_arrive_intact() {
    let srv = server().await;
    let c = client(&srv.url());
    let image = ContentBlock::Image(
        ImageBlock::builder()
            .format(ImageFormat::Png)
            .source(ImageSource::Bytes(Blob::new(png(64, 48))))
            .build()
            .unwrap(),
    );
    let notes = "Quarterly numbers went up by ten percent.";
    let document = ContentBlock::Document(
        DocumentBlock::builder()
            .format(DocumentFormat::Txt)
            .name("notes")
            .source(DocumentSource::Bytes(Blob::new(notes.as_bytes())))
            .build()
            .unwrap(),
    );
    let question = "What is in these?";
    let s = stream(c.converse_stream().model_id(HAIKU).messages(user(vec![
        text(question),
        image.clone(),
        document,
    ])))
    .await;
    let answer = s.text_of(0);
    assert!(
        answer.starts_with(&format!(
            "Scripted answer to: {question} [image 1: png 64x48] [document notes: {} bytes]",
            notes.len()
        )),
        "{answer}"
    );
    // Words of the text + 64×48/750 image tokens + the document's words.
    let usage = s.usage.unwrap();
    assert_eq!(
        usage.input_tokens as usize,
        question.split_whitespace().count() + 64 * 48 / 750 + notes.split_whitespace().count()
    );

    // Bytes that are not the declared format, as Anthropic's provider says it (Approximation).
    let wrong = ContentBlock::Image(
        ImageBlock::builder()
            .format(ImageFormat::Png)
            .source(ImageSource::Bytes(Blob::new(jpeg_64x48())))
            .build()
            .unwrap(),
    );
    let e = c
        .converse()
        .model_id(HAIKU)
        .messages(user(vec![text("look"), wrong]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception());
    assert_eq!(
        e.message(),
        Some("The model returned the following errors: messages.0.content.1.image.source.bytes: The image was specified using the image/png media type, but the image appears to be a image/jpeg image")
    );
    // A model without vision: Bedrock's own message.
    let e = c
        .converse()
        .model_id("amazon.nova-micro-v1:0")
        .messages(user(vec![text("look"), image]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        e.message(),
        Some("This model doesn't support the image field for user messages. Remove image and try again.")
    );
    srv.stop().await.unwrap();
}

// --- Reasoning ----------------------------------------------------------------------------

#[tokio::test]
async fn reasoning_streams_before_the_answer_with_a_signature() {
    let srv = server().await;
    let c = client(&srv.url());
    let thinking = doc(&json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}));
    let q = user(vec![text("Why is the sky blue?")]);
    let s = stream(
        c.converse_stream()
            .model_id(SONNET4)
            .messages(q.clone())
            .inference_config(InferenceConfiguration::builder().max_tokens(4096).build())
            .additional_model_request_fields(thinking.clone()),
    )
    .await;
    let reasoning: String = s.reasoning.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        reasoning.starts_with("Thinking about: Why is the sky blue?"),
        "{reasoning}"
    );
    assert!(s.reasoning.iter().all(|(i, _)| *i == 0));
    // FACTS.md §5: the reasoning text ends with "", then one signature, then the block stops.
    assert_eq!(s.reasoning.last().unwrap().1, "");
    assert_eq!(s.signatures.len(), 1);
    assert_eq!(s.signatures[0].0, 0);
    assert!(s
        .text_of(1)
        .starts_with("Scripted answer to: Why is the sky blue?"));
    let stops: Vec<i32> = s
        .kinds
        .iter()
        .filter(|k| k.0 == "contentBlockStop")
        .map(|k| k.1.unwrap())
        .collect();
    assert_eq!(stops, [0, 1]);
    assert!(
        !s.kinds.iter().any(|k| k.0 == "contentBlockStart"),
        "no start for reasoning or text"
    );

    let out = c
        .converse()
        .model_id(SONNET4)
        .messages(q)
        .inference_config(InferenceConfiguration::builder().max_tokens(4096).build())
        .additional_model_request_fields(thinking)
        .send()
        .await
        .unwrap();
    let msg = out.output.unwrap().as_message().unwrap().clone();
    let ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) = &msg.content[0]
    else {
        panic!("{msg:?}")
    };
    assert_eq!(r.text, reasoning);
    assert_eq!(r.signature.as_deref(), Some(s.signatures[0].1.as_str()));
    assert!(matches!(&msg.content[1], ContentBlock::Text(t) if t.starts_with("Scripted answer")));
    srv.stop().await.unwrap();
}

// --- Prompt caching -----------------------------------------------------------------------

#[tokio::test]
async fn cache_points_write_then_read() {
    let srv = server().await;
    let c = client(&srv.url());
    let system = "You answer questions about the weather. ".repeat(50);
    let call = || {
        c.converse()
            .model_id(SONNET4)
            .system(SystemContentBlock::Text(system.clone()))
            .system(SystemContentBlock::CachePoint(
                CachePointBlock::builder()
                    .r#type(CachePointType::Default)
                    .build()
                    .unwrap(),
            ))
            .messages(user(vec![text("Will it rain?")]))
    };
    let first = call().send().await.unwrap().usage.unwrap();
    let cached = system.split_whitespace().count() as i32;
    assert_eq!(first.cache_write_input_tokens, Some(cached));
    assert_eq!(first.cache_read_input_tokens, Some(0));
    assert_eq!(first.input_tokens, 3, "only the uncached tokens");
    assert_eq!(
        first.total_tokens,
        first.input_tokens + first.output_tokens + cached
    );
    let second = call().send().await.unwrap().usage.unwrap();
    assert_eq!(second.cache_read_input_tokens, Some(cached));
    assert_eq!(second.cache_write_input_tokens, Some(0));
    // A model without prompt caching: Bedrock's words (quoted in cline/cline#2064).
    let e = c
        .converse()
        .model_id(HAIKU)
        .system(SystemContentBlock::Text(system.clone()))
        .system(SystemContentBlock::CachePoint(
            CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()
                .unwrap(),
        ))
        .messages(user(vec![text("Will it rain?")]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        e.message(),
        Some("You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.")
    );
    srv.stop().await.unwrap();
}

// --- Model ids ----------------------------------------------------------------------------

#[tokio::test]
async fn model_ids_are_checked_as_bedrock_checks_them() {
    let srv = server().await;
    let c = client(&srv.url());
    let hi = user(vec![text("hi")]);
    let err = |r: Result<_, aws_sdk_bedrockruntime::error::SdkError<_, _>>| {
        let e: aws_sdk_bedrockruntime::operation::converse::ConverseError =
            r.unwrap_err().into_service_error();
        assert!(e.is_validation_exception(), "{e:?}");
        e.message().unwrap().to_string()
    };
    // The SDK percent-encodes the id: `../../admin` arrives as one path segment.
    let m = err(c
        .converse()
        .model_id("../../admin")
        .messages(hi.clone())
        .send()
        .await);
    assert!(
        m.starts_with("1 validation error detected: Value '../../admin' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:"),
        "{m}"
    );
    assert_eq!(
        err(c
            .converse()
            .model_id("us.does-not-exist-model-v1:0")
            .messages(hi.clone())
            .send()
            .await),
        "The provided model identifier is invalid."
    );
    assert_eq!(
        err(c.converse().model_id("anthropic.claude-sonnet-4-20250514-v1:0").messages(hi.clone()).send().await),
        "Invocation of model ID anthropic.claude-sonnet-4-20250514-v1:0 with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
    );
    // Legacy models still answer; application inference profiles are accepted.
    for ok in [
        "anthropic.claude-v2",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def",
    ] {
        let out = c.converse().model_id(ok).messages(hi.clone()).send().await;
        assert!(out.is_ok(), "{ok}: {out:?}");
    }
    srv.stop().await.unwrap();
}

// --- Every validation error, exactly ----------------------------------------------------

/// Posts a Converse (or ConverseStream) body as the SDKs put it on the wire and returns the
/// status, the error type header and the message.
async fn post(url: &str, model: &str, op: &str, body: &Value) -> (u16, String, String) {
    let model = model.replace(':', "%3A").replace('/', "%2F");
    let r = reqwest::Client::new()
        .post(format!("{url}/model/{model}/{op}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().split(':').next().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        kind,
        body["message"].as_str().unwrap_or("").to_string(),
    )
}

fn msg(role: &str, content: Value) -> Value {
    json!({"role": role, "content": content})
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn every_validation_error_has_bedrocks_message() {
    let srv = server().await;
    let url = srv.url();
    let hi = || msg("user", json!([{"text": "hi"}]));
    let tools = || json!({"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": weather_schema()}}}]});
    let call = |id: &str| json!({"toolUse": {"toolUseId": id, "name": "get_weather", "input": {"city": "Paris"}}});
    let result = |id: &str| json!({"toolResult": {"toolUseId": id, "content": [{"text": "21C"}]}});
    let thinking = |budget: u64| json!({"thinking": {"type": "enabled", "budget_tokens": budget}});
    let big = vec![0u8; 3_932_161];
    let mut big_png = png(8, 8);
    big_png.extend_from_slice(&big);

    // (model, operation, body, exact message)
    let cases: Vec<(&str, &str, Value, String)> = vec![
        (HAIKU, "converse", json!({"messages": [msg("assistant", json!([{"text": "hi"}]))]}),
         "A conversation must start with a user message. Try again with a conversation that starts with a user message.".into()),
        (HAIKU, "converse", json!({"messages": [hi(), hi()]}),
         "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([]))]}),
         "The content field in the Message object at messages.1 is empty. Add a ContentBlock object to the content field and try again.".into()),
        (HAIKU, "converse", json!({"messages": [msg("user", json!([{"text": "  "}]))]}),
         "The text field in the ContentBlock object at messages.0.content.0 is blank. Add text to the text field, and try again.".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([call("t1")])), msg("user", json!([result("t1")]))]}),
         "The toolConfig field must be defined when using toolUse and toolResult content blocks.".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([call("t1")])), msg("user", json!([result("t1"), result("t2")]))], "toolConfig": tools()}),
         "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn.".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([call("t1"), call("t2")])), msg("user", json!([result("t1")]))], "toolConfig": tools()}),
         "Expected toolResult blocks at messages.2.content for the following Ids: t2".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([call("t1")])), msg("user", json!([result("zz")]))], "toolConfig": tools()}),
         "Expected toolResult blocks at messages.2.content for the following Ids: t1".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([call("tooluseAc"), call("tooluseAc")])), msg("user", json!([result("tooluseAc")]))], "toolConfig": tools()}),
         "The toolUse blocks at messages.1.content contain duplicate Ids: tooluseAc".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([call("t1")])), msg("user", json!([{"toolResult": {"toolUseId": "t1", "content": [], "status": "error"}}]))], "toolConfig": tools()}),
         "The content field at messages.2.content.0.toolResult cannot be empty when status value is error.".into()),
        ("us.meta.llama3-1-8b-instruct-v1:0", "converse", json!({"messages": [hi(), msg("assistant", json!([call("t1")])), msg("user", json!([result("t1"), {"text": "and?"}]))], "toolConfig": tools()}),
         "messages.2.content: Conversation blocks and tool result blocks cannot be provided in the same turn.".into()),
        (HAIKU, "converse", json!({"messages": [hi()], "toolConfig": {"tools": []}}),
         "1 validation error detected: Value at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([{"text": "ok"}, {"toolUse": {"toolUseId": "t1", "name": "get weather", "input": {}}}])), msg("user", json!([result("t1")]))], "toolConfig": tools()}),
         "1 validation error detected: Value at 'messages.2.member.content.2.member.toolUse.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+".into()),
        ("amazon.titan-text-express-v1", "converse", json!({"messages": [hi()], "toolConfig": tools()}),
         "This model doesn't support tool use.".into()),
        ("us.meta.llama3-1-8b-instruct-v1:0", "converse-stream", json!({"messages": [hi()], "toolConfig": tools()}),
         "This model doesn't support tool use in streaming mode.".into()),
        ("us.meta.llama3-1-8b-instruct-v1:0", "converse", json!({"messages": [hi()], "toolConfig": {"tools": tools()["tools"], "toolChoice": {"any": {}}}}),
         "This model doesn't support the toolConfig.toolChoice.any field. Remove toolConfig.toolChoice.any and try again.".into()),
        ("us.meta.llama3-1-8b-instruct-v1:0", "converse", json!({"messages": [hi()], "toolConfig": {"tools": tools()["tools"], "toolChoice": {"tool": {"name": "get_weather"}}}}),
         "This model doesn't support the toolConfig.toolChoice.tool field. Remove toolConfig.toolChoice.tool and try again.".into()),
        (HAIKU, "converse", json!({"messages": [hi()], "toolConfig": {"tools": tools()["tools"], "toolChoice": {"tool": {"name": "nope"}}}}),
         "The model returned the following errors: tool_choice.name: Tool 'nope' not found in the tools provided (toolConfig.tools)".into()),
        ("amazon.nova-micro-v1:0", "converse", json!({"messages": [msg("user", json!([{"text": "see"}, {"image": {"format": "png", "source": {"bytes": b64(&png(4, 4))}}}]))]}),
         "This model doesn't support the image field for user messages. Remove image and try again.".into()),
        (HAIKU, "converse", json!({"messages": [msg("user", json!([{"text": "see"}, {"text": "this"}, {"image": {"format": "png", "source": {"bytes": b64(&big_png)}}}]))]}),
         format!("The model returned the following errors: messages.0.content.2.image.source.bytes: image exceeds 5 MB maximum: {} bytes > 5242880 bytes", big_png.len().div_ceil(3) * 4)),
        (HAIKU, "converse", json!({"messages": [msg("user", json!([{"text": "see"}, {"image": {"format": "png", "source": {"bytes": b64(b"definitely not an image")}}}]))]}),
         "The model returned the following errors: messages.0.content.1.image.source.bytes: Could not process image".into()),
        (HAIKU, "converse", json!({"messages": [msg("user", json!([{"text": "read"}, {"document": {"format": "txt", "name": "John's report", "source": {"bytes": b64(b"hello")}}}]))]}),
         "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character. Check that the file name conforms to these restrictions and retry your request.".into()),
        (HAIKU, "converse", json!({"messages": [hi(), msg("assistant", json!([{"text": "ok"}])), msg("user", json!([{"text": "read"}, {"text": "this"}, {"document": {"format": "txt", "name": "a".repeat(201), "source": {"bytes": b64(b"hello")}}}]))]}),
         "1 validation error detected: Value at 'messages.3.member.content.3.member.document.name' failed to satisfy constraint: Member must have length less than or equal to 200".into()),
        (HAIKU, "converse", json!({"messages": [msg("user", json!([{"text": "read"}, {"document": {"format": "pdf", "name": "report", "source": {"bytes": b64(b"plain text")}}}]))]}),
         "The model returned the following errors: messages.0.content.1.document.source.bytes: The document report is not a valid pdf file".into()),
        (HAIKU, "converse", json!({"messages": [msg("user", json!([{"text": "hi"}, {"reasoningContent": {"reasoningText": {"text": "hmm"}}}]))]}),
         "User messages cannot contain reasoning content. Please remove the reasoning content and try again.".into()),
        (HAIKU, "converse", json!({"messages": [hi()], "additionalModelRequestFields": thinking(2048), "inferenceConfig": {"maxTokens": 4000}}),
         "The model returned the following errors: thinking: Extra inputs are not permitted".into()),
        (SONNET4, "converse", json!({"messages": [hi()], "additionalModelRequestFields": thinking(1000)}),
         "The model returned the following errors: thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".into()),
        (SONNET4, "converse", json!({"messages": [hi()], "additionalModelRequestFields": thinking(2048), "inferenceConfig": {"maxTokens": 2048}}),
         "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size".into()),
        (SONNET4, "converse", json!({"messages": [hi()], "additionalModelRequestFields": thinking(2048), "inferenceConfig": {"maxTokens": 4000, "temperature": 0.5}}),
         "The model returned the following errors: temperature may only be set to 1 when thinking is enabled.".into()),
        (SONNET4, "converse", json!({"messages": [hi()], "additionalModelRequestFields": thinking(2048), "inferenceConfig": {"maxTokens": 4000, "topP": 0.9}}),
         "The model returned the following errors: top_p must be unset when thinking is enabled.".into()),
        (SONNET4, "converse", json!({"messages": [hi()], "additionalModelRequestFields": thinking(2048), "inferenceConfig": {"maxTokens": 4000}, "toolConfig": {"tools": tools()["tools"], "toolChoice": {"any": {}}}}),
         "The model returned the following errors: Thinking may not be enabled when tool_choice forces tool use.".into()),
        (SONNET4, "converse", json!({"messages": [hi()], "additionalModelRequestFields": {"reasoningConfig": {"type": "enabled"}}}),
         "The model returned the following errors: reasoningConfig: Extra inputs are not permitted".into()),
        (HAIKU, "converse", json!({"messages": [hi()], "inferenceConfig": {"maxTokens": 5000}}),
         "The maximum tokens you requested exceeds the model limit of 4096. Try again with a maximum tokens value that is lower than 4096.".into()),
        (HAIKU, "converse", json!({"messages": [hi()], "inferenceConfig": {"temperature": 1.5}}),
         "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1".into()),
        (SONNET4, "converse", json!({"messages": [msg("user", json!([{"cachePoint": {"type": "default"}}, {"text": "hi"}]))]}),
         "There is nothing available to cache. Please remove the invalid cache point and try again.".into()),
        ("acme.unknown-model-v1", "converse-stream", json!({"messages": [hi()]}),
         "The provided model identifier is invalid.".into()),
    ];
    let mut failures = Vec::new();
    for (model, op, body, want) in &cases {
        let (status, kind, got) = post(&url, model, op, body).await;
        if (status, kind.as_str(), got.as_str()) != (400, "ValidationException", want.as_str()) {
            failures.push(format!("{model} {op} {body}\n   want 400 ValidationException {want}\n   got  {status} {kind} {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn invoke_model_bodies_get_the_same_checks_without_the_prefix() {
    let srv = server().await;
    let url = srv.url();
    let anthropic = |extra: Value| {
        let mut b = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4000,
                           "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases = [
        (SONNET4, anthropic(json!({"thinking": {"type": "enabled", "budget_tokens": 1000}})),
         "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
        (SONNET4, anthropic(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}, "temperature": 0.2})),
         "temperature may only be set to 1 when thinking is enabled."),
        ("amazon.nova-micro-v1:0", json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [
            {"text": "see"}, {"image": {"format": "png", "source": {"bytes": b64(&png(4, 4))}}}]}]}),
         "This model doesn't support the image field for user messages. Remove image and try again."),
    ];
    for (model, body, want) in cases {
        let (status, kind, got) = post(&url, model, "invoke-with-response-stream", &body).await;
        assert_eq!(
            (status, kind.as_str(), got.as_str()),
            (400, "ValidationException", want),
            "{body}"
        );
    }
    srv.stop().await.unwrap();
}

/// `{"$bytes": {...}}` markers of tests/clients/validation-cases.json, as base64 (the wire form).
fn materialize(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(spec) = o.get("$bytes") {
                let bytes = if let Some(wh) = spec.get("png") {
                    png(
                        wh[0].as_u64().unwrap() as u32,
                        wh[1].as_u64().unwrap() as u32,
                    )
                } else if let Some(n) = spec.get("fill") {
                    vec![0u8; n.as_u64().unwrap() as usize]
                } else {
                    spec["utf8"].as_str().unwrap().as_bytes().to_vec()
                };
                return json!(b64(&bytes));
            }
            Value::Object(o.iter().map(|(k, v)| (k.clone(), materialize(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(materialize).collect()),
        other => other.clone(),
    }
}

/// The table the boto3 and JS SDK suites run, checked here first.
#[tokio::test]
async fn the_shared_validation_table_holds() {
    let table: Value =
        serde_json::from_str(include_str!("../../../tests/clients/validation-cases.json")).unwrap();
    let srv = server().await;
    let url = srv.url();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in cases {
        let op = match case["operation"].as_str().unwrap() {
            "converse" => "converse",
            "converse_stream" => "converse-stream",
            other => panic!("{other}"),
        };
        let model = case["modelId"].as_str().unwrap();
        let want = case["message"].as_str().unwrap();
        let (status, kind, got) = post(&url, model, op, &materialize(&case["request"])).await;
        if (status, kind.as_str(), got.as_str()) != (400, "ValidationException", want) {
            failures.push(format!(
                "{}: want {want}\n   got {status} {kind} {got}",
                case["name"]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    srv.stop().await.unwrap();
}

/// Anthropic's own tool_result check arrives inside the InvokeModelWithResponseStream stream, as
/// in tests/fixtures/errors/stream-validation-exception-tool-result.json.
#[tokio::test]
async fn anthropic_tool_result_order_is_an_in_stream_validation_exception() {
    let srv = server().await;
    let c = client(&srv.url());
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 300,
        "tools": [{"name": "get_weather", "input_schema": weather_schema()}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [{"type": "text", "text": "well?"}]}
        ]
    });
    let mut out = c
        .invoke_model_with_response_stream()
        .model_id(HAIKU)
        .body(Blob::new(serde_json::to_vec(&body).unwrap()))
        .send()
        .await
        .expect("the stream opens");
    let err = out.body.recv().await.unwrap_err().into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some("messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message. Messages following `tool_use` blocks must begin with a matching number of `tool_result` blocks.")
    );
    srv.stop().await.unwrap();
}
