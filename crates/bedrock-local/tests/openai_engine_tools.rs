//! The `openai=URL` engine passes tools, tool history and images to an OpenAI-compatible server
//! and streams its `tool_calls` back as Converse tool-use blocks. The upstream is a small axum
//! server this test starts; it records what it was sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole,
    ConverseStreamOutput, DocumentBlock, DocumentFormat, DocumentSource, ImageBlock, ImageFormat,
    ImageSource, Message, StopReason, Tool, ToolChoice, ToolConfiguration, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::Document;
use bedrock_local::engines::openai::OpenAiEngine;
use bedrock_local::LocalBedrock;
use serde_json::{json, Value};
use tokio::net::TcpListener;

mod support;
use support::client;

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let v = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {v}\n\n")
}

/// Answers every request with one streamed tool call, as OpenAI streams it: id, type and name
/// first, then the arguments in pieces, then `finish_reason: tool_calls`.
async fn upstream() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::body::Bytes| {
            let s = Arc::clone(&s);
            async move {
                s.lock()
                    .unwrap()
                    .push(serde_json::from_slice::<Value>(&body).unwrap());
                let call = |args: &str, first: bool| {
                    let mut c = json!({"index": 0, "function": {"arguments": args}});
                    if first {
                        c["id"] = json!("call_abc");
                        c["type"] = json!("function");
                        c["function"]["name"] = json!("get_weather");
                    }
                    chunk(json!({"tool_calls": [c]}), None)
                };
                let body = [
                    chunk(json!({"role": "assistant", "content": ""}), None),
                    call("", true),
                    call("{\"city\":", false),
                    call("\"Paris\"}", false),
                    chunk(json!({}), Some("tool_calls")),
                    "data: [DONE]\n\n".to_string(),
                ]
                .concat();
                ([("content-type", "text/event-stream")], body)
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn tools() -> ToolConfiguration {
    let schema = Document::Object(
        [("type".to_string(), Document::String("object".into()))]
            .into_iter()
            .collect(),
    );
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .input_schema(ToolInputSchema::Json(schema))
                .build()
                .unwrap(),
        ))
        .tool_choice(ToolChoice::Any(AnyToolChoice::builder().build()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn tools_and_images_pass_through_and_tool_calls_stream_back() {
    let (up, seen) = upstream().await;
    let engine = Arc::new(OpenAiEngine::new(&up, Some("upstream-model".into())).unwrap());
    let srv = LocalBedrock::new(engine)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = client(&srv.url());
    // A GIF header is enough for the endpoint's format check (it reads headers only).
    let gif = b"GIF89a\x02\x00\x02\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x02\x00\x02\x00\x00\x02\x02D\x01\x00;".to_vec();
    let history = vec![
        Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(
                "Weather where this photo was taken?".into(),
            ))
            .content(ContentBlock::Image(
                ImageBlock::builder()
                    .format(ImageFormat::Gif)
                    .source(ImageSource::Bytes(Blob::new(gif.clone())))
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap(),
        Message::builder()
            .role(ConversationRole::Assistant)
            .content(ContentBlock::ToolUse(
                ToolUseBlock::builder()
                    .tool_use_id("call_1")
                    .name("get_weather")
                    .input(Document::Object(Default::default()))
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap(),
        Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::ToolResult(
                ToolResultBlock::builder()
                    .tool_use_id("call_1")
                    .content(ToolResultContentBlock::Text("need a city".into()))
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap(),
    ];
    let mut out = c
        .converse_stream()
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .set_messages(Some(history))
        .tool_config(tools())
        .send()
        .await
        .unwrap();
    let (mut start, mut input, mut stop) = (None, String::new(), None);
    while let Some(e) = out.stream.recv().await.unwrap() {
        match e {
            ConverseStreamOutput::ContentBlockStart(s) => {
                if let Some(ContentBlockStart::ToolUse(t)) = s.start {
                    start = Some((s.content_block_index, t.tool_use_id, t.name));
                }
            }
            ConverseStreamOutput::ContentBlockDelta(d) => {
                if let Some(ContentBlockDelta::ToolUse(t)) = d.delta {
                    input.push_str(&t.input);
                }
            }
            ConverseStreamOutput::MessageStop(m) => stop = Some(m.stop_reason),
            _ => {}
        }
    }
    assert_eq!(
        start,
        Some((0, "call_abc".to_string(), "get_weather".to_string()))
    );
    assert_eq!(input, "{\"city\":\"Paris\"}");
    assert_eq!(stop, Some(StopReason::ToolUse));

    // What went upstream: tools, a forced choice, the image as a data URL, the tool history.
    let sent = seen.lock().unwrap()[0].clone();
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(sent["tool_choice"], "required");
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(
        messages[0]["content"][0]["text"],
        "Weather where this photo was taken?"
    );
    assert!(messages[0]["content"][1]["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/gif;base64,R0lGODlh"));
    assert_eq!(messages[1]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        messages[2],
        json!({"role": "tool", "tool_call_id": "call_1", "content": "need a city"})
    );

    // Documents have no OpenAI-compatible form: a clear ValidationException.
    let e = c
        .converse()
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .messages(
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text("read".into()))
                .content(ContentBlock::Document(
                    DocumentBlock::builder()
                        .format(DocumentFormat::Txt)
                        .name("notes")
                        .source(DocumentSource::Bytes(Blob::new(b"hello".to_vec())))
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    assert!(
        aws_sdk_bedrockruntime::error::ProvideErrorMetadata::message(&e)
            .unwrap()
            .contains("cannot pass document content"),
        "{e:?}"
    );
    srv.stop().await.unwrap();
}
