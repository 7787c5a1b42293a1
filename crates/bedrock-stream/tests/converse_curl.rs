//! curl on `POST /converse` against the real `bedrock-stream serve` (in-process local Bedrock,
//! scripted engine), in sse and ndjson, as docs/http-api.md shows it: typed events with their
//! block index, the same answer in every format, a `done` event last.

// Test helpers (not only `#[test]` functions) may fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bedrock-stream");
const STARTUP: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `serve`, killed when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --bedrock local --engine scripted` on a free loopback port and waits (bounded)
/// for its "listening on http://ADDR" line.
fn serve() -> Serve {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--bedrock",
            "local",
            "--engine",
            "scripted",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + STARTUP;
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap();
                    return Serve {
                        child,
                        url: format!("http://{addr}"),
                    };
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not report `listening on` ({e}); stderr:\n{seen}")
            }
        }
    }
}

/// `curl` POSTing `events/converse.json` to `/converse` with `accept`; the body.
fn curl(url: &str, accept: &str) -> String {
    let out = Command::new("curl")
        .current_dir(repo_root())
        .args([
            "--silent",
            "--show-error",
            "--no-buffer",
            "--fail-with-body",
            "--max-time",
            "60",
            "-H",
            &format!("accept: {accept}"),
            "-H",
            "content-type: application/json",
            "--data-binary",
            "@events/converse.json",
            &format!("{url}/converse"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("curl must be installed to run this test");
    let body = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "curl {accept}: {body} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    body
}

/// sse blocks → `{"type": <event>, ...data}`, the ndjson shape.
fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let name = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event line: {block:?}"));
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("no data line: {block:?}"));
            let mut v: Value = serde_json::from_str(data).unwrap();
            v["type"] = Value::String(name.into());
            v
        })
        .collect()
}

fn ndjson_events(body: &str) -> Vec<Value> {
    assert!(body.ends_with('\n'), "{body:?}");
    body.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn answer(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| e["text"].as_str().unwrap())
        .collect()
}

#[test]
fn curl_on_converse_streams_typed_events_in_sse_and_ndjson() {
    let server = serve();
    let text = curl(&server.url, "text/plain");
    assert!(!text.is_empty());
    assert!(
        !text.contains("\"type\""),
        "text is only the answer: {text}"
    );

    let sse = sse_events(&curl(&server.url, "text/event-stream"));
    let ndjson = ndjson_events(&curl(&server.url, "application/x-ndjson"));
    for (name, events) in [("sse", &sse), ("ndjson", &ndjson)] {
        let (done, content) = events.split_last().unwrap();
        assert_eq!(done["type"], "done", "{name}: {done}");
        assert!(done["stop_reason"].is_string(), "{name}: {done}");
        assert!(done["input_tokens"].as_u64().unwrap() > 0, "{name}: {done}");
        assert!(
            done["output_tokens"].as_u64().unwrap() > 0,
            "{name}: {done}"
        );
        assert!(content.len() >= 2, "{name}: {content:?}");
        for e in content {
            assert!(
                e["index"].is_u64(),
                "{name}: every content event has its index: {e}"
            );
        }
        assert!(
            content
                .iter()
                .all(|e| e["type"] == "text" || e["type"] == "block_stop"),
            "{name}: a text answer: {content:?}"
        );
        assert_eq!(answer(content), text, "{name}: the same answer as text");
    }
    // The same events whatever the framing.
    let strip = |v: &Vec<Value>| -> Vec<Value> {
        v.iter().filter(|e| e["type"] != "done").cloned().collect()
    };
    assert_eq!(strip(&sse), strip(&ndjson));
}
