//! Tools and structured output answered by the embedded model (the `model` engine, constrained
//! decoding) behind the local endpoint, through the real Rust AWS SDK: ConverseStream with a
//! toolConfig and toolChoice `any` streams a toolUse whose input validates against the tool's
//! schema (stop reason `tool_use`); the toolResult turn gets a text answer; Converse with a
//! named tool and with an `outputConfig` JSON schema; and what the model cannot serve is a 400
//! naming it. Greedy sampling, short budgets: CI has 2 cores.
//!
//! The model file comes from `fetch::resolve_model(None, false)` (see model_engine.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole,
    ConverseStreamOutput, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration,
    JsonSchemaDefinition, Message, OutputConfig, OutputFormat, OutputFormatStructure,
    OutputFormatType, SpecificToolChoice, StopReason, Tool, ToolChoice, ToolConfiguration,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_sdk_bedrockruntime::Client;
use bedrock_local::engines::model::ModelEngine;
use bedrock_local::{LocalBedrock, RunningServer};
use bedrock_local_model::{fetch, EmbeddedModel};
use serde_json::{json, Value};

mod support;
use support::{client, doc, json_of, png};

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";

async fn endpoint() -> RunningServer {
    let model = tokio::task::spawn_blocking(|| {
        let path = fetch::resolve_model(None, false).expect("the default model");
        EmbeddedModel::load(&path).expect("loading the default model")
    })
    .await
    .unwrap();
    let engine = ModelEngine::new(model, 1, 4).unwrap();
    LocalBedrock::new(Arc::new(engine))
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn weather_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
        },
        "required": ["city"],
        "additionalProperties": false
    })
}

fn tools(choice: ToolChoice, schema: &Value) -> ToolConfiguration {
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(
            ToolSpecification::builder()
                .name("get_weather")
                .description("Get the current weather in a city.")
                .input_schema(ToolInputSchema::Json(doc(schema)))
                .build()
                .unwrap(),
        ))
        .tool_choice(choice)
        .build()
        .unwrap()
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

fn greedy(max: i32) -> InferenceConfiguration {
    InferenceConfiguration::builder()
        .max_tokens(max)
        .temperature(0.0)
        .build()
}

fn valid(schema: &Value, v: &Value) -> bool {
    jsonschema::validator_for(schema).unwrap().is_valid(v)
}

/// What one ConverseStream answer carried.
#[derive(Debug, Default)]
struct Streamed {
    text: String,
    tool: Option<(String, String)>,
    input: String,
    fragments: usize,
    stop: Option<StopReason>,
    output_tokens: i32,
}

async fn stream(
    c: &Client,
    messages: Vec<Message>,
    config: Option<ToolConfiguration>,
    max: i32,
) -> Streamed {
    let mut out = c
        .converse_stream()
        .model_id(HAIKU)
        .set_messages(Some(messages))
        .set_tool_config(config)
        .inference_config(greedy(max))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut s = Streamed::default();
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match ev {
            ConverseStreamOutput::ContentBlockStart(b) => {
                if let Some(ContentBlockStart::ToolUse(t)) = b.start() {
                    assert!(s.tool.is_none(), "a second tool call");
                    s.tool = Some((t.tool_use_id().to_string(), t.name().to_string()));
                }
            }
            ConverseStreamOutput::ContentBlockDelta(d) => match d.delta().unwrap() {
                ContentBlockDelta::Text(t) => {
                    assert!(s.tool.is_none(), "text after the tool call");
                    s.text.push_str(t);
                }
                ContentBlockDelta::ToolUse(t) => {
                    assert!(s.tool.is_some(), "tool input before its toolUse start");
                    s.input.push_str(t.input());
                    s.fragments += 1;
                }
                other => panic!("unexpected delta {other:?}"),
            },
            ConverseStreamOutput::MessageStop(m) => s.stop = Some(m.stop_reason().clone()),
            ConverseStreamOutput::Metadata(m) => {
                s.output_tokens = m.usage().unwrap().output_tokens();
            }
            _ => {}
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_tool_call_then_the_answer_to_its_result() {
    let srv = endpoint().await;
    let c = client(&srv.url());
    let schema = weather_schema();
    let question = user("What is the weather like in Paris right now?");

    // --- toolChoice any: a call, its input streamed in fragments, valid for the schema.
    let any = ToolChoice::Any(AnyToolChoice::builder().build());
    let first = stream(&c, vec![question.clone()], Some(tools(any, &schema)), 60).await;
    eprintln!("first turn: {first:?}");
    assert_eq!(first.stop, Some(StopReason::ToolUse), "{first:?}");
    assert!(first.text.is_empty(), "{first:?}");
    let (id, name) = first.tool.clone().expect("a toolUse block");
    assert_eq!(name, "get_weather");
    assert!(id.starts_with("tooluse_") && id.len() == 30, "{id}");
    assert!(first.fragments >= 2, "{first:?}");
    let input: Value = serde_json::from_str(&first.input).expect("the input is JSON");
    assert!(valid(&schema, &input), "{input}");
    assert!((1..=60).contains(&first.output_tokens), "{first:?}");

    // --- The result goes back (toolChoice auto): the answer is text that uses it.
    let call = Message::builder()
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
    let result = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id(&id)
                .content(ToolResultContentBlock::Json(doc(
                    &json!({"temperature_c": 21, "sky": "sunny"}),
                )))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let auto = ToolChoice::Auto(aws_sdk_bedrockruntime::types::AutoToolChoice::builder().build());
    let second = stream(
        &c,
        vec![question, call, result],
        Some(tools(auto, &schema)),
        60,
    )
    .await;
    eprintln!("second turn: {second:?}");
    assert!(second.tool.is_none(), "{second:?}");
    assert!(
        matches!(
            second.stop,
            Some(StopReason::EndTurn) | Some(StopReason::MaxTokens)
        ),
        "{second:?}"
    );
    let answer = second.text.to_lowercase();
    assert!(
        answer.contains("21") || answer.contains("sunny"),
        "the answer does not use the result: {answer}"
    );

    // --- Converse with a named tool: the whole call in the output message.
    let named = ToolChoice::Tool(
        SpecificToolChoice::builder()
            .name("get_weather")
            .build()
            .unwrap(),
    );
    let out = c
        .converse()
        .model_id(HAIKU)
        .messages(user("Is it raining in Lisbon?"))
        .tool_config(tools(named, &schema))
        .inference_config(greedy(60))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let msg = out.output().unwrap().as_message().unwrap();
    let ContentBlock::ToolUse(t) = &msg.content()[0] else {
        panic!("{msg:?}")
    };
    assert_eq!(t.name(), "get_weather");
    let input = json_of(t.input());
    assert!(valid(&schema, &input), "{input}");

    let a = srv.server.activity();
    assert_eq!((a.completed, a.failed), (3, 0), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_output_and_what_the_model_cannot_serve() {
    let srv = endpoint().await;
    let c = client(&srv.url());

    // --- outputConfig: the text answer is a JSON document valid for the schema.
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 40},
            "age": {"type": "integer", "minimum": 0, "maximum": 120}
        },
        "required": ["name", "age"],
        "additionalProperties": false
    });
    let format = OutputFormat::builder()
        .r#type(OutputFormatType::JsonSchema)
        .structure(OutputFormatStructure::JsonSchema(
            JsonSchemaDefinition::builder()
                .schema(schema.to_string())
                .name("person")
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let out = c
        .converse()
        .model_id(HAIKU)
        .messages(user("Invent a person and describe them."))
        .output_config(OutputConfig::builder().text_format(format).build())
        .inference_config(greedy(60))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    let msg = out.output().unwrap().as_message().unwrap();
    let ContentBlock::Text(text) = &msg.content()[0] else {
        panic!("{msg:?}")
    };
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(valid(&schema, &v), "{v}");
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);

    // --- A schema keyword outside the supported subset: a 400 naming it, before generating.
    let unsupported =
        json!({"type": "object", "properties": {"days": {"type": "integer", "multipleOf": 7}}});
    let any = ToolChoice::Any(AnyToolChoice::builder().build());
    let e = c
        .converse()
        .model_id(HAIKU)
        .messages(user("Weather in Oslo?"))
        .tool_config(tools(any, &unsupported))
        .send()
        .await
        .expect_err("an unsupported schema keyword was accepted");
    let status = e.raw_response().map(|r| r.status().as_u16());
    let e = e.into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    assert_eq!(status, Some(400));
    let m = e.message().unwrap_or_default();
    assert!(m.contains("multipleOf") && m.contains("get_weather"), "{m}");

    // --- An image: the model cannot see it.
    let png = png(8, 8);
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("What is this?".into()))
        .content(ContentBlock::Image(
            ImageBlock::builder()
                .format(ImageFormat::Png)
                .source(ImageSource::Bytes(png.into()))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let e = c
        .converse()
        .model_id(HAIKU)
        .messages(msg)
        .send()
        .await
        .expect_err("an image was accepted")
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    let m = e.message().unwrap_or_default();
    assert!(m.contains("image"), "{m}");
    let a = srv.server.activity();
    assert_eq!((a.completed, a.failed), (1, 0), "{a:?}");
}
