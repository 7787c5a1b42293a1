//! Through the real binary: a transport failure (nothing listens at the Bedrock endpoint) reaches
//! the caller as our own `network_error` message with a request id; the original error chain,
//! which names the address, is in the log under that id, and the prompt is in neither.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::Value;
use support::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transport_error_is_withheld_and_logged_under_its_id() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bedrock = format!("http://127.0.0.1:{port}");
    let server = start(
        &["serve", "--bedrock", &bedrock, "--listen", "127.0.0.1:0"],
        &[
            ("AWS_REGION", "us-east-1"),
            ("RUST_LOG", "warn"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
        &[],
        Duration::from_secs(60),
    );
    let secret = "quince-5521-nightjar";
    let body = format!(
        r#"{{"bedrockParams":{{"modelId":"meta.llama3-8b-instruct-v1:0"}},"modelParams":{{"prompt":"{secret}","max_gen_len":5}}}}"#
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/", server.url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let text = resp.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["type"], "network_error", "{text}");
    let id = v["error"]["request_id"].as_str().unwrap().to_string();
    for leak in ["127.0.0.1", &port.to_string(), "refused", secret] {
        assert!(!text.contains(leak), "`{leak}` leaked: {text}");
    }
    // The log has the original under the same id.
    server.logged(&id, Duration::from_secs(5));
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(&id) && l.contains("withheld"))
        .unwrap_or_else(|| panic!("no log line for {id}:\n{log}"));
    assert!(line.contains("network_error"), "{line}");
    assert!(
        line.contains(&port.to_string()) || line.to_lowercase().contains("refused"),
        "the original cause is not logged: {line}"
    );
    assert!(!log.contains(secret), "the prompt is in the log:\n{log}");
}
