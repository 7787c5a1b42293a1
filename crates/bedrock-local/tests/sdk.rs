//! The local endpoint through the real Rust AWS SDK: every family, Converse, non-streaming
//! calls, every exception kind as the SDK's typed error, streaming proven by timing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message,
    ResponseStream,
};
use aws_sdk_bedrockruntime::Client;
use bedrock_families::{Family, Prompt, Sampling, ALL_FAMILIES};
use bedrock_local::{
    Fault, FaultKind, LocalBedrock, RunningServer, ScriptedConfig, ScriptedEngine,
};
use serde_json::{json, Value};

mod support;
use support::client;

async fn server(config: ScriptedConfig) -> RunningServer {
    let engine = Arc::new(ScriptedEngine::new(config));
    LocalBedrock::new(engine)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn model_for(f: Family) -> &'static str {
    match f {
        Family::AnthropicText => "anthropic.claude-v2",
        Family::AnthropicMessages => "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        Family::Titan => "amazon.titan-text-express-v1",
        Family::Llama => "meta.llama3-8b-instruct-v1:0",
        Family::Mistral => "mistral.mistral-7b-instruct-v0:2",
        Family::MistralChat => "mistral.mistral-large-2407-v1:0",
        Family::Cohere => "cohere.command-text-v14",
        Family::CohereChat => "cohere.command-r-v1:0",
        Family::Nova => "eu.amazon.nova-lite-v1:0",
        Family::OpenAiChat => "ai21.jamba-1-5-mini-v1:0",
        Family::OpenAiText => "us.deepseek.r1-v1:0",
    }
}

const QUESTION: &str = "Explain serverless to a 5th grader.";

fn body_for(f: Family) -> Value {
    match f {
        Family::AnthropicText => {
            json!({"prompt": format!("\n\nHuman: {QUESTION}\n\nAssistant:"), "max_tokens_to_sample": 300})
        }
        Family::AnthropicMessages => {
            json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 300,
            "messages": [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]})
        }
        Family::Titan => {
            json!({"inputText": QUESTION, "textGenerationConfig": {"maxTokenCount": 300}})
        }
        Family::Llama => {
            json!({"prompt": format!("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"), "max_gen_len": 300})
        }
        Family::Mistral => {
            json!({"prompt": format!("<s>[INST] {QUESTION} [/INST]"), "max_tokens": 300})
        }
        Family::MistralChat | Family::OpenAiChat => {
            json!({"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 300})
        }
        Family::Cohere => json!({"prompt": QUESTION, "max_tokens": 300}),
        Family::CohereChat => json!({"message": QUESTION, "max_tokens": 300}),
        Family::Nova => {
            json!({"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": QUESTION}]}],
            "inferenceConfig": {"max_new_tokens": 300}})
        }
        Family::OpenAiText => json!({"prompt": QUESTION, "max_tokens": 300}),
    }
}

fn expected_text() -> String {
    ScriptedEngine::default()
        .script(
            &Prompt::user(QUESTION),
            &Sampling {
                max_tokens: Some(300),
                ..Default::default()
            },
        )
        .text()
}

/// Streams one InvokeModelWithResponseStream call and decodes every chunk with the family table.
async fn stream_text(
    client: &Client,
    model: &str,
    body: &Value,
) -> (String, Vec<Value>, Vec<Instant>) {
    let mut out = client
        .invoke_model_with_response_stream()
        .model_id(model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(serde_json::to_vec(body).unwrap()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{model}: {e:?}"));
    assert_eq!(out.content_type(), "application/json");
    let mut chunks = Vec::new();
    let mut times = Vec::new();
    while let Some(event) = out.body.recv().await.unwrap() {
        match event {
            ResponseStream::Chunk(part) => {
                times.push(Instant::now());
                chunks
                    .push(serde_json::from_slice::<Value>(part.bytes().unwrap().as_ref()).unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let family = Family::for_request(model, body).unwrap();
    let text: String = chunks
        .iter()
        .filter_map(|c| family.decode_chunk(c).text)
        .collect();
    (text, chunks, times)
}

#[tokio::test]
async fn every_family_streams_through_the_rust_sdk() {
    let srv = server(ScriptedConfig::default()).await;
    let c = client(&srv.url());
    let expected = expected_text();
    for f in ALL_FAMILIES {
        let model = model_for(f);
        let body = body_for(f);
        assert_eq!(Family::for_request(model, &body), Some(f));
        let (text, chunks, _) = stream_text(&c, model, &body).await;
        assert_eq!(text, expected, "{f:?}");
        assert!(chunks.len() >= 10, "{f:?}: {} chunks", chunks.len());
        let last = chunks.last().unwrap();
        let m = &last["amazon-bedrock-invocationMetrics"];
        assert_eq!(
            m["outputTokenCount"].as_u64(),
            Some(expected.split_whitespace().count() as u64),
            "{f:?}"
        );
        assert_eq!(
            m["inputTokenCount"].as_u64(),
            Some(QUESTION.split_whitespace().count() as u64),
            "{f:?}"
        );
        assert!(
            m["invocationLatency"].is_u64() && m["firstByteLatency"].is_u64(),
            "{f:?}"
        );
        // Shape sniffing agrees with the id-derived family (Mistral chat reads as OpenAI-shaped).
        let sniffed = chunks.iter().find_map(Family::from_chunk).unwrap();
        let want = if f == Family::MistralChat {
            Family::OpenAiChat
        } else {
            f
        };
        assert_eq!(sniffed, want, "{f:?}");
        // Non-streaming InvokeModel in the same family.
        let out = c
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .body(Blob::new(serde_json::to_vec(&body).unwrap()))
            .send()
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
        assert_eq!(
            f.decode_response(&v).text.as_deref(),
            Some(expected.as_str()),
            "{f:?} {v}"
        );
    }
}

#[tokio::test]
async fn model_ids_in_every_form_are_accepted() {
    let srv = server(ScriptedConfig::default()).await;
    let c = client(&srv.url());
    let body = body_for(Family::AnthropicMessages);
    for id in [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "apac.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123def",
    ] {
        let (text, _, _) = stream_text(&c, id, &body).await;
        assert_eq!(text, expected_text(), "{id}");
    }
}

#[tokio::test]
async fn converse_stream_and_converse() {
    let srv = server(ScriptedConfig::default()).await;
    let c = client(&srv.url());
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(QUESTION.into()))
        .build()
        .unwrap();
    let mut out = c
        .converse_stream()
        .model_id("us.amazon.nova-pro-v1:0")
        .messages(msg.clone())
        .inference_config(InferenceConfiguration::builder().max_tokens(300).build())
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let mut kinds = Vec::new();
    let mut usage = None;
    while let Some(ev) = out.stream.recv().await.unwrap() {
        match &ev {
            ConverseStreamOutput::MessageStart(_) => kinds.push("start"),
            ConverseStreamOutput::ContentBlockDelta(d) => {
                kinds.push("delta");
                text.push_str(d.delta().unwrap().as_text().unwrap());
            }
            ConverseStreamOutput::ContentBlockStop(_) => kinds.push("blockstop"),
            ConverseStreamOutput::MessageStop(s) => {
                kinds.push("stop");
                assert_eq!(s.stop_reason().as_str(), "end_turn");
            }
            ConverseStreamOutput::Metadata(m) => {
                kinds.push("metadata");
                usage = m.usage().cloned();
                assert!(m.metrics().is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(text, expected_text());
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(
        &kinds[kinds.len() - 3..],
        &["blockstop", "stop", "metadata"]
    );
    let usage = usage.unwrap();
    assert_eq!(
        usage.output_tokens() as usize,
        text.split_whitespace().count()
    );

    let out = c
        .converse()
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .messages(msg)
        .system(aws_sdk_bedrockruntime::types::SystemContentBlock::Text(
            "Be brief.".into(),
        ))
        .inference_config(InferenceConfiguration::builder().max_tokens(4).build())
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason().as_str(), "max_tokens");
    assert_eq!(out.usage().unwrap().output_tokens(), 4);
    let m = out.output().unwrap().as_message().unwrap();
    assert!(m.content()[0]
        .as_text()
        .unwrap()
        .starts_with("Scripted answer to"));
}

#[tokio::test]
async fn bad_requests_get_bedrock_errors() {
    let srv = server(ScriptedConfig::default()).await;
    let c = client(&srv.url());
    let send = |model: &'static str, body: Vec<u8>| {
        let c = c.clone();
        async move {
            c.invoke_model_with_response_stream()
                .model_id(model)
                .content_type("application/json")
                .body(Blob::new(body))
                .send()
                .await
                .unwrap_err()
        }
    };
    let e = send("anthropic.claude-v2", b"{not json".to_vec())
        .await
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    let e = send(
        "anthropic.claude-v2",
        br#"{"prompt":"\n\nHuman: hi\n\nAssistant:"}"#.to_vec(),
    )
    .await
    .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    assert!(e.message().unwrap().contains("max_tokens_to_sample"));
    let e = send(
        "anthropic.claude-v2",
        br#"{"prompt":"hi","max_tokens_to_sample":5}"#.to_vec(),
    )
    .await
    .into_service_error();
    assert!(
        e.is_validation_exception() && e.message().unwrap().contains("Human:"),
        "{e:?}"
    );
    // Bedrock answers a well-formed id it does not know with a ValidationException
    // (crates/bedrock-families/tests/fixtures/errors/invalid-model-identifier-invoke-stream.json).
    let e = send("acme.unknown-model-v1", br#"{"prompt":"hi"}"#.to_vec())
        .await
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
    assert_eq!(
        e.message(),
        Some("The provided model identifier is invalid.")
    );
    let e = c
        .converse_stream()
        .model_id("anthropic.claude-3-haiku-20240307-v1:0")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");
}

#[tokio::test]
async fn every_pre_stream_fault_is_the_sdks_typed_error() {
    let srv = server(ScriptedConfig::default()).await;
    let c = client(&srv.url());
    let body = serde_json::to_vec(&body_for(Family::AnthropicText)).unwrap();
    for kind in [
        FaultKind::Throttle,
        FaultKind::Validation,
        FaultKind::Internal,
        FaultKind::ModelTimeout,
        FaultKind::ServiceUnavailable,
        FaultKind::ModelNotReady,
        FaultKind::AccessDenied,
        FaultKind::ModelError,
    ] {
        srv.server.inject(Fault {
            kind,
            count: 1,
            exception: None,
            after: None,
        });
        let e = c
            .invoke_model_with_response_stream()
            .model_id("anthropic.claude-v2")
            .body(Blob::new(body.clone()))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        let ok = match kind {
            FaultKind::Throttle => e.is_throttling_exception(),
            FaultKind::Validation => e.is_validation_exception(),
            FaultKind::Internal => e.is_internal_server_exception(),
            FaultKind::ModelTimeout => e.is_model_timeout_exception(),
            FaultKind::ServiceUnavailable => e.is_service_unavailable_exception(),
            FaultKind::ModelNotReady => e.is_model_not_ready_exception(),
            FaultKind::AccessDenied => e.is_access_denied_exception(),
            FaultKind::ModelError => e.is_model_error_exception(),
            _ => unreachable!(),
        };
        assert!(ok, "{kind:?} → {e:?}");
    }
    // Converse gets them too, and the next call is healthy again.
    srv.server.inject(Fault {
        kind: FaultKind::Throttle,
        count: 1,
        exception: None,
        after: None,
    });
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hi".into()))
        .build()
        .unwrap();
    let e = c
        .converse_stream()
        .model_id("amazon.nova-micro-v1:0")
        .messages(msg.clone())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_throttling_exception(), "{e:?}");
    assert!(c
        .converse_stream()
        .model_id("amazon.nova-micro-v1:0")
        .messages(msg)
        .send()
        .await
        .is_ok());
}

#[tokio::test]
async fn every_in_stream_exception_is_the_sdks_typed_error() {
    let srv = server(ScriptedConfig::default()).await;
    let c = client(&srv.url());
    let body = serde_json::to_vec(&body_for(Family::Llama)).unwrap();
    for exception in [
        "internalServerException",
        "modelStreamErrorException",
        "throttlingException",
        "modelTimeoutException",
        "serviceUnavailableException",
        "validationException",
    ] {
        srv.server.inject(Fault {
            kind: FaultKind::Midstream,
            count: 1,
            exception: Some(exception.into()),
            after: Some(3),
        });
        let mut out = c
            .invoke_model_with_response_stream()
            .model_id("meta.llama3-8b-instruct-v1:0")
            .body(Blob::new(body.clone()))
            .send()
            .await
            .unwrap();
        let mut chunks = 0;
        let err = loop {
            match out.body.recv().await {
                Ok(Some(_)) => chunks += 1,
                Ok(None) => panic!("{exception}: stream ended without the exception"),
                Err(e) => break e.into_service_error(),
            }
        };
        assert_eq!(chunks, 3, "{exception}");
        let ok = match exception {
            "internalServerException" => err.is_internal_server_exception(),
            "modelStreamErrorException" => err.is_model_stream_error_exception(),
            "throttlingException" => err.is_throttling_exception(),
            "modelTimeoutException" => err.is_model_timeout_exception(),
            "serviceUnavailableException" => err.is_service_unavailable_exception(),
            _ => err.is_validation_exception(),
        };
        assert!(ok, "{exception} → {err:?}");
    }
    // ConverseStream carries them as typed errors too.
    srv.server.inject(Fault {
        kind: FaultKind::Midstream,
        count: 1,
        exception: Some("throttlingException".into()),
        after: Some(2),
    });
    let msg = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("hi".into()))
        .build()
        .unwrap();
    let mut out = c
        .converse_stream()
        .model_id("amazon.nova-micro-v1:0")
        .messages(msg)
        .send()
        .await
        .unwrap();
    let err = loop {
        match out.stream.recv().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("no exception"),
            Err(e) => break e.into_service_error(),
        }
    };
    assert!(err.is_throttling_exception(), "{err:?}");
}

#[tokio::test]
async fn corrupted_and_truncated_streams_are_errors_not_panics() {
    let srv = server(ScriptedConfig::default()).await;
    let c = client(&srv.url());
    let body = serde_json::to_vec(&body_for(Family::Titan)).unwrap();
    for kind in [FaultKind::BadCrc, FaultKind::Truncate] {
        srv.server.inject(Fault {
            kind,
            count: 1,
            exception: None,
            after: Some(2),
        });
        let mut out = c
            .invoke_model_with_response_stream()
            .model_id("amazon.titan-text-express-v1")
            .body(Blob::new(body.clone()))
            .send()
            .await
            .unwrap();
        let mut got = 0;
        let result = loop {
            match out.body.recv().await {
                Ok(Some(_)) => got += 1,
                other => break other,
            }
        };
        assert_eq!(got, 2, "{kind:?}");
        assert!(
            result.is_err(),
            "{kind:?} must surface as an error, got {result:?}"
        );
    }
}

#[tokio::test]
async fn chunks_arrive_spread_in_time() {
    let srv = server(ScriptedConfig {
        chunk_delay: Duration::from_millis(40),
        ..Default::default()
    })
    .await;
    let c = client(&srv.url());
    let body = json!({"prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 10});
    let (_, chunks, times) = stream_text(&c, "anthropic.claude-v2", &body).await;
    assert_eq!(chunks.len(), 11, "10 text chunks and the final one");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Each of the 9 paced gaps is close to 40 ms: nothing was buffered and released at once.
    let paced = gaps
        .iter()
        .filter(|g| **g >= Duration::from_millis(25))
        .count();
    assert!(paced >= 8, "gaps: {gaps:?}");
    assert!(times.last().unwrap().duration_since(times[0]) >= Duration::from_millis(300));
}

#[tokio::test]
async fn an_abandoned_stream_stops_its_generation() {
    let srv = server(ScriptedConfig {
        chunk_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let c = client(&srv.url());
    let body = serde_json::to_vec(&body_for(Family::AnthropicText)).unwrap();
    let mut out = c
        .invoke_model_with_response_stream()
        .model_id("anthropic.claude-v2")
        .body(Blob::new(body))
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        out.body.recv().await.unwrap().unwrap();
    }
    drop(out);
    let deadline = Instant::now() + Duration::from_secs(2);
    while srv.server.activity().cancelled == 0 {
        assert!(
            Instant::now() < deadline,
            "generation was not cancelled: {:?}",
            srv.server.activity()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(srv.server.activity().completed, 0);
}

#[tokio::test]
async fn h2c_prior_knowledge_and_http1_on_one_port() {
    let srv = server(ScriptedConfig::default()).await;
    let body = serde_json::to_vec(&body_for(Family::AnthropicText)).unwrap();
    for h2 in [true, false] {
        let builder = reqwest::Client::builder();
        let http = if h2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        }
        .build()
        .unwrap();
        let r = http
            .post(format!(
                "{}/model/anthropic.claude-v2/invoke-with-response-stream",
                srv.url()
            ))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.version(),
            if h2 {
                reqwest::Version::HTTP_2
            } else {
                reqwest::Version::HTTP_11
            }
        );
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.amazon.eventstream"
        );
        assert!(r.headers().contains_key("x-amzn-requestid"));
        assert!(r.bytes().await.unwrap().len() > 100);
    }
}
