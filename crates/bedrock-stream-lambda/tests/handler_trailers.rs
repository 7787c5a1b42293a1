//! The real handler's router (not the test router of `support/router.rs`) behind our Runtime API
//! client, in front of the local Bedrock endpoint (scripted engine, real AWS SDK in between), as
//! the Lambda function runs it: a stream that fails after its first byte reaches the Runtime API
//! emulator as the marked error line in the body *and* as the `Lambda-Runtime-Function-Error-*`
//! trailers; a stream that succeeds has none; an error before the first byte is a status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use base64::Engine as _;
use bedrock_local::{
    Fault, FaultKind, LocalBedrock, RunningServer, ScriptedConfig, ScriptedEngine,
};
use bedrock_stream_handler::{router, App, Config};
use support::emulator::{url_event, Emulator, QueuedEvent, StreamRecord};

const TITAN: &str = r#"{"bedrockParams":{"modelId":"amazon.titan-text-express-v1"},"modelParams":{"inputText":"Explain serverless to a 5th grader.","textGenerationConfig":{"maxTokenCount":30}}}"#;

struct Function {
    emulator: Emulator,
    bedrock: RunningServer,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Function {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn function(config: Config) -> Function {
    function_with(
        config,
        Duration::from_millis(5),
        bedrock_stream_lambda::DEFAULT_DEADLINE_MARGIN,
    )
    .await
}

async fn function_with(config: Config, chunk_delay: Duration, margin: Duration) -> Function {
    let engine = Arc::new(ScriptedEngine::new(ScriptedConfig {
        chunk_delay,
        ..Default::default()
    }));
    let bedrock = LocalBedrock::new(engine)
        .spawn("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let sdk = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(bedrock.url())
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    // Exactly what the Lambda binary serves: the handler's router, no local-server body adapter.
    let app = router(App::new(
        aws_sdk_bedrockruntime::Client::from_conf(sdk),
        config,
    ));
    let emulator = Emulator::start().await;
    let api = emulator.runtime_api();
    let task =
        tokio::spawn(async move { bedrock_stream_lambda::run_on_with(&api, app, margin).await });
    Function {
        emulator,
        bedrock,
        task,
    }
}

fn push(f: &Function, id: &str, body: &str, accept: Option<&str>) {
    let mut event = url_event("POST", "/", Some(body));
    if let Some(a) = accept {
        event["headers"]["accept"] = a.into();
    }
    f.emulator.push(QueuedEvent {
        request_id: id.into(),
        body: event.to_string().into_bytes(),
        trace_id: None,
    });
}

fn midstream(after: u32) -> Fault {
    Fault {
        kind: FaultKind::Midstream,
        count: 1,
        exception: None,
        after: Some(after),
    }
}

/// The error trailers' type and decoded message.
fn trailers(record: &StreamRecord) -> (String, serde_json::Value) {
    let (at, map) = record
        .trailers
        .clone()
        .unwrap_or_else(|| panic!("no trailers; body: {}", record.body_text()));
    assert!(
        record.frames.iter().all(|f| f.at <= at),
        "trailers before data"
    );
    let ty = map["lambda-runtime-function-error-type"]
        .to_str()
        .unwrap()
        .to_string();
    let body = base64::engine::general_purpose::STANDARD
        .decode(map["lambda-runtime-function-error-body"].as_bytes())
        .unwrap();
    (ty, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mid_stream_bedrock_error_becomes_the_marked_line_and_the_error_trailers() {
    let mut f = function(Config::default()).await;

    // Success first: every word, `done`, and no trailers.
    push(&f, "req-ok", TITAN, Some("application/x-ndjson"));
    let ok = f.emulator.response().await;
    assert_eq!(ok.parse().prelude["statusCode"], 200);
    let body = ok.body_text();
    let last: serde_json::Value =
        serde_json::from_str(body.trim_end().lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "done", "{body}");
    assert_eq!(last["output_tokens"], 30, "{body}");
    assert!(ok.trailers.is_none(), "trailers on a good stream");

    // Text: the words so far, the marked line, then the trailers.
    f.bedrock.server.inject(midstream(6));
    push(&f, "req-text", TITAN, None);
    let rec = f.emulator.response().await;
    assert_eq!(rec.request_id, "req-text");
    let parsed = rec.parse();
    assert_eq!(parsed.prelude["statusCode"], 200);
    assert_eq!(
        parsed.prelude["headers"]["content-type"],
        "text/plain; charset=utf-8"
    );
    let body = rec.body_text();
    assert!(
        body.starts_with("Scripted answer to: Explain"),
        "the text before the error was lost: {body:?}"
    );
    let marker = body.find("\n[bedrock-stream error] model_stream_error: ");
    assert!(marker.is_some(), "{body:?}");
    assert!(!body.contains("Lambda-Runtime-Function-Error"), "{body}");
    let (ty, doc) = trailers(&rec);
    assert_eq!(ty, "Runtime.StreamError");
    assert_eq!(doc["errorType"], "Runtime.StreamError");
    let message = doc["errorMessage"].as_str().unwrap();
    assert!(message.contains("injected by local-bedrock"), "{doc}");

    // NDJSON: the typed error event is the last line, and the trailers follow it.
    f.bedrock.server.inject(Fault {
        exception: Some("throttlingException".into()),
        ..midstream(4)
    });
    push(&f, "req-ndjson", TITAN, Some("application/x-ndjson"));
    let rec = f.emulator.response().await;
    let body = rec.body_text();
    let last: serde_json::Value =
        serde_json::from_str(body.trim_end().lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "error", "{body}");
    assert_eq!(last["error"]["type"], "throttled", "{body}");
    assert!(!body.contains("\"type\":\"done\""), "{body}");
    let (ty, doc) = trailers(&rec);
    assert_eq!(ty, "Runtime.StreamError");
    assert!(
        doc["errorMessage"].as_str().unwrap().contains("injected"),
        "{doc}"
    );

    // A cut Bedrock stream (half a frame, then the connection breaks) also ends in trailers.
    f.bedrock.server.inject(Fault {
        kind: FaultKind::Truncate,
        count: 1,
        exception: None,
        after: Some(4),
    });
    push(&f, "req-cut", TITAN, None);
    let rec = f.emulator.response().await;
    assert!(rec.body_text().contains("\n[bedrock-stream error] "));
    assert_eq!(trailers(&rec).0, "Runtime.StreamError");

    // Before the first byte: a status and a JSON body, no trailers.
    f.bedrock.server.inject(Fault {
        kind: FaultKind::Throttle,
        count: 1,
        exception: None,
        after: None,
    });
    push(&f, "req-429", TITAN, None);
    let rec = f.emulator.response().await;
    let parsed = rec.parse();
    assert_eq!(parsed.prelude["statusCode"], 429);
    assert_eq!(parsed.prelude["headers"]["retry-after"], "1");
    let v: serde_json::Value = serde_json::from_str(&rec.body_text()).unwrap();
    assert_eq!(v["error"]["type"], "throttled");
    assert!(rec.trailers.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_bedrock_stream_ends_in_idle_timeout_trailers() {
    let mut f = function(Config {
        idle_timeout: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    f.bedrock.server.inject(Fault {
        kind: FaultKind::Stall,
        count: 1,
        exception: None,
        after: Some(4),
    });
    push(&f, "req-stall", TITAN, Some("text/event-stream"));
    let rec = f.emulator.response().await;
    let body = rec.body_text();
    assert!(body.starts_with("event: text\n"), "{body}");
    let last = body.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{body}");
    assert!(last.contains("idle_timeout"), "{last}");
    let (ty, doc) = trailers(&rec);
    assert_eq!(ty, "Runtime.StreamError");
    assert!(
        doc["errorMessage"]
            .as_str()
            .unwrap()
            .contains("sent nothing"),
        "{doc}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_ends_with_its_marked_error_before_the_invocation_deadline() {
    // 30 words at 200 ms each would take 6 s; the invocation has 3 s, less a 2 s margin.
    let mut f = function_with(
        Config::default(),
        Duration::from_millis(200),
        Duration::from_secs(2),
    )
    .await;
    f.emulator.set_deadline_in(Duration::from_secs(3));
    let started = std::time::Instant::now();
    push(&f, "req-deadline", TITAN, None);
    let rec = f.emulator.response().await;
    let took = started.elapsed();
    let body = rec.body_text();
    assert!(
        body.starts_with("Scripted answer to: Explain"),
        "the text before the deadline was lost: {body:?}"
    );
    assert!(
        body.contains("\n[bedrock-stream error] upstream_timeout: "),
        "{body:?}"
    );
    let (ty, _) = trailers(&rec);
    assert_eq!(ty, "Runtime.StreamError");
    // Cut at the request's deadline (about 1 s), well before the invocation's (3 s).
    assert!(took < Duration::from_millis(2500), "{took:?}");

    // With time enough, the same request completes.
    f.emulator.set_deadline_in(Duration::from_secs(60));
    push(&f, "req-roomy", TITAN, Some("application/x-ndjson"));
    let rec = f.emulator.response().await;
    let body = rec.body_text();
    let last: serde_json::Value =
        serde_json::from_str(body.trim_end().lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "done", "{body}");
    assert!(rec.trailers.is_none());
}
