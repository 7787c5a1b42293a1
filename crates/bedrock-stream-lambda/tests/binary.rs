//! The real `bedrock-stream-lambda` executable against the emulator: cold start (process start
//! to first poll and to first response byte), the handler's `/healthz`, and JSON logs.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::emulator::Emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_binary_serves_healthz_and_logs_json() {
    let mut emulator = Emulator::start().await;
    emulator.push_url_event("req-health", "GET", "/healthz", None);

    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bedrock-stream-lambda"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bedrock-stream-lambda")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("RUST_LOG", "bedrock_stream_lambda=debug")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("BEDROCK_ENDPOINT_URL", "http://127.0.0.1:9")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let record = emulator.response().await;
    let parsed = record.parse();
    let first_poll = emulator.polls()[0].duration_since(spawned);
    let first_byte = parsed.chunks[0].at.duration_since(spawned);
    eprintln!(
        "binary: process start → first /next {:.1} ms, → first response byte {:.1} ms",
        first_poll.as_secs_f64() * 1000.0,
        first_byte.as_secs_f64() * 1000.0
    );
    assert_eq!(parsed.prelude["statusCode"], 200);
    assert_eq!(record.body_text(), "ok");
    // Generous: a debug build on a busy CI machine; the number printed above is what matters.
    assert!(first_byte < Duration::from_secs(5));

    // Wait for the next poll, so the invocation's log line is written, then stop it.
    tokio::time::timeout(Duration::from_secs(5), async {
        while emulator.polls().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !lines.is_empty(),
        "no logs; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
    assert!(
        stdout.contains("req-health"),
        "no request id in the logs: {stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "ANSI escapes in the logs");
}
