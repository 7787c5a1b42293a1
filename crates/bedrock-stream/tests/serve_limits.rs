//! `serve` against slow, idle and greedy clients, through the real binary and raw sockets:
//! a connection that sends nothing, a head sent a byte at a time, a body that stalls, an idle
//! keep-alive connection, one connection too many, unauthenticated bodies past their budget,
//! a signature checked before the body, and an HTTP/2 client that stops reading its stream
//! (dropped, and its stream's place freed, so its Bedrock call is gone too).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{start, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "AKIDLIMITS";
const SECRET: &str = "limits/secret+0123456789abcdef";
const STARTUP: Duration = Duration::from_secs(60);

fn serve(extra_args: &[&str], envs: &[(&str, &str)]) -> Proc {
    let mut args = vec![
        "serve",
        "--bedrock",
        "local",
        "--engine",
        "scripted",
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra_args);
    let mut all = vec![("AWS_REGION", "us-east-1"), ("RUST_LOG", "warn")];
    all.extend_from_slice(envs);
    start(&args, &all, &[], STARTUP)
}

fn credentials(dir: &Path) -> String {
    let path = dir.join("credentials");
    std::fs::write(
        &path,
        format!("[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn addr(p: &Proc) -> String {
    p.url.trim_start_matches("http://").to_string()
}

/// Reads until the peer closes (or `limit`), returning what came and when it closed.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Option<Duration>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, Some(started.elapsed())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, None),
        }
    }
}

fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn json_body(response: &[u8]) -> Value {
    let text = String::from_utf8_lossy(response);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off() {
    let server = serve(
        &[],
        &[
            ("HEADER_READ_TIMEOUT_SECS", "1"),
            ("BODY_READ_TIMEOUT_SECS", "1"),
        ],
    );
    let a = addr(&server);

    // A connection that sends nothing (nor an HTTP/2 preface).
    let mut idle = TcpStream::connect(&a).await.unwrap();
    // A head sent a byte every 200 ms.
    let mut trickle = TcpStream::connect(&a).await.unwrap();
    let trickler = tokio::spawn(async move {
        let head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n";
        for b in head.iter().cycle().take(200) {
            if trickle.write_all(&[*b]).await.is_err() {
                return Some(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    });
    // A body that stops half way.
    let mut slow_body = TcpStream::connect(&a).await.unwrap();
    slow_body
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"modelParams\":")
        .await
        .unwrap();
    // HTTP/2 preface, then nothing.
    let mut h2 = TcpStream::connect(&a).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();

    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(6)).await;
    let closed = closed.expect("an idle connection was kept past the header timeout");
    assert!(closed < Duration::from_secs(4), "{closed:?}");

    let (response, closed) = read_until_closed(&mut slow_body, Duration::from_secs(6)).await;
    assert!(closed.is_some(), "a stalled body was kept");
    assert_eq!(
        status_of(&response),
        408,
        "{}",
        String::from_utf8_lossy(&response)
    );
    assert_eq!(json_body(&response)["error"]["type"], "request_timeout");

    let (_, closed) = read_until_closed(&mut h2, Duration::from_secs(6)).await;
    assert!(
        closed.is_some(),
        "an HTTP/2 connection without settings was kept"
    );

    let cut = tokio::time::timeout(Duration::from_secs(10), trickler)
        .await
        .expect("the trickling head was never cut off")
        .unwrap();
    assert_eq!(cut, Some(()), "the trickling head was never cut off");

    // A keep-alive connection left idle after a request is closed too.
    let mut ka = TcpStream::connect(&a).await.unwrap();
    ka.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut ka, Duration::from_secs(6)).await;
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
    assert!(closed.is_some(), "an idle keep-alive connection was kept");

    // And the server still answers.
    let mut ok = TcpStream::connect(&a).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut ok, Duration::from_secs(6)).await;
    assert_eq!(status_of(&response), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_past_the_cap_gets_503() {
    let server = serve(
        &[],
        &[("MAX_CONNECTIONS", "4"), ("HEADER_READ_TIMEOUT_SECS", "30")],
    );
    let a = addr(&server);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&a).await.unwrap());
    }
    // Let the server take them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(&a).await.unwrap();
    let (response, closed) = read_until_closed(&mut extra, Duration::from_secs(5)).await;
    assert!(closed.is_some());
    assert_eq!(
        status_of(&response),
        503,
        "{}",
        String::from_utf8_lossy(&response)
    );
    assert_eq!(json_body(&response)["error"]["type"], "server_busy");
    assert!(String::from_utf8_lossy(&response).contains("retry-after: 1"));

    // A place freed is a place taken.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ok = TcpStream::connect(&a).await.unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (response, _) = read_until_closed(&mut ok, Duration::from_secs(5)).await;
    assert_eq!(
        status_of(&response),
        200,
        "{}",
        String::from_utf8_lossy(&response)
    );
}

/// Headers as the AWS SDK for Rust signs a POST of `body` to `url`, as header lines.
fn signed(url: &str, body: &[u8], secret: &str, content_sha: bool) -> String {
    support::sdk_signed_headers(url, body, KEY, secret, content_sha)
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_bytes_are_bounded_and_a_declared_hash_is_checked_first() {
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials(dir.path());
    let server = serve(
        &["--auth", "sigv4", "--credentials-file", &creds],
        &[
            ("MAX_BODY_BYTES", "65536"),
            ("MAX_UNAUTHENTICATED_BYTES", "131072"),
            ("BODY_READ_TIMEOUT_SECS", "20"),
        ],
    );
    let a = addr(&server);
    let url = format!("{}/?format=ndjson", server.url);
    let big = vec![b' '; 65536];

    // Two known-key uploads whose signature needs the whole body hold the whole budget…
    let head = |headers: &str, len: usize| {
        format!(
            "POST /?format=ndjson HTTP/1.1\r\nhost: {a}\r\n{headers}content-length: {len}\r\n\r\n"
        )
    };
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(&a).await.unwrap();
        s.write_all(head(&signed(&url, &big, "not-the-secret", false), big.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(&big[..1000]).await.unwrap();
        holders.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …so a third is refused at once, before its body.
    let mut third = TcpStream::connect(&a).await.unwrap();
    third
        .write_all(head(&signed(&url, &big, "not-the-secret", false), big.len()).as_bytes())
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert!(closed.is_some());
    assert_eq!(
        status_of(&response),
        503,
        "{}",
        String::from_utf8_lossy(&response)
    );
    assert_eq!(json_body(&response)["error"]["type"], "server_busy");

    // A signature over x-amz-content-sha256 is checked before the body: a bad one is refused
    // without a byte of body sent…
    let mut bad = TcpStream::connect(&a).await.unwrap();
    bad.write_all(head(&signed(&url, &big, "not-the-secret", true), big.len()).as_bytes())
        .await
        .unwrap();
    let (response, closed) = read_until_closed(&mut bad, Duration::from_secs(5)).await;
    assert!(closed.is_some());
    assert_eq!(
        status_of(&response),
        403,
        "{}",
        String::from_utf8_lossy(&response)
    );

    // …and a good one is served while the budget is full (it is authenticated).
    let body = br#"{"bedrockParams":{"modelId":"anthropic.claude-v2"},"modelParams":{"prompt":"hi","max_tokens_to_sample":10}}"#;
    let mut good = TcpStream::connect(&a).await.unwrap();
    good.write_all(
        head(&signed(&url, body, SECRET, true), body.len())
            .replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    good.write_all(body).await.unwrap();
    let (response, _) = read_until_closed(&mut good, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&response);
    assert_eq!(status_of(&response), 200, "{text}");
    assert!(text.contains("\"type\":\"done\""), "{text}");

    // Its body changed after signing: refused once the body is in.
    let mut tampered = TcpStream::connect(&a).await.unwrap();
    tampered
        .write_all(
            head(&signed(&url, body, SECRET, true), body.len())
                .replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut changed = body.to_vec();
    changed[20] = b'X';
    tampered.write_all(&changed).await.unwrap();
    let (response, _) = read_until_closed(&mut tampered, Duration::from_secs(20)).await;
    assert_eq!(status_of(&response), 403);
    assert!(server.logged(
        "x-amz-content-sha256 does not match the SHA-256 of the body",
        Duration::from_secs(5)
    ));

    // The holders, once their bodies are in, get their 403; the budget is free again.
    for mut s in holders {
        s.write_all(&big[1000..]).await.unwrap();
        let (response, _) = read_until_closed(&mut s, Duration::from_secs(10)).await;
        assert_eq!(status_of(&response), 403);
    }
    let mut again = TcpStream::connect(&a).await.unwrap();
    again
        .write_all(
            head(&signed(&url, &big, SECRET, false), big.len())
                .replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    again.write_all(&big).await.unwrap();
    let (response, _) = read_until_closed(&mut again, Duration::from_secs(20)).await;
    // Authenticated, then refused by the handler for what the body says (spaces: no JSON).
    assert_eq!(
        status_of(&response),
        400,
        "{}",
        String::from_utf8_lossy(&response)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_its_stream_freed() {
    let server = serve(
        &["--chunk-delay-ms", "300"],
        &[("IDLE_TIMEOUT_SECS", "1"), ("MAX_CONCURRENT_STREAMS", "1")],
    );
    let a = addr(&server);
    // HTTP/2 with a 16-byte stream window: the client reads nothing, so the window never
    // opens again and the server cannot send more than 16 bytes.
    let tcp = TcpStream::connect(&a).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(16)
            .handshake::<_, String>(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    let conn_task = tokio::spawn(conn);
    let request = http::Request::post(format!("http://{a}/?format=ndjson"))
        .header("content-type", "application/json")
        .body(r#"{"bedrockParams":{"modelId":"anthropic.claude-v2"},"modelParams":{"prompt":"Explain serverless to a 5th grader.","max_tokens_to_sample":300}}"#.to_string())
        .unwrap();
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.headers());
    // Holding the response without reading it.
    let _unread = response;

    // While it is held, the stream's place is taken…
    let client = reqwest::Client::new();
    let busy = client
        .post(format!("{}/", server.url))
        .body(r#"{"bedrockParams":{"modelId":"anthropic.claude-v2"},"modelParams":{"prompt":"hi","max_tokens_to_sample":5}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 429, "{}", busy.text().await.unwrap());

    // …until the idle timeout drops the stalled stream (the scripted answer alone would take
    // ~10 s at 300 ms a word).
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut freed = None;
    while Instant::now() < deadline {
        let r = client
            .post(format!("{}/", server.url))
            .body(r#"{"bedrockParams":{"modelId":"anthropic.claude-v2"},"modelParams":{"prompt":"hi","max_tokens_to_sample":1}}"#)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            freed = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let freed = freed.expect("the stalled stream kept its place");
    assert!(freed < Duration::from_secs(6), "{freed:?}");
    assert!(
        server.logged("stopped reading", Duration::from_secs(5)),
        "{}",
        server.stderr()
    );
    conn_task.abort();
}
