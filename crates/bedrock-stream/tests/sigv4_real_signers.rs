//! `serve --auth sigv4` against real signers, byte for byte: botocore (python3) and
//! `curl --aws-sigv4` sign every query and path case of issue 13 — `+`, `%7E`, `=` in a value,
//! repeated keys, empty values, unreserved and reserved characters, non-ASCII — and each is
//! accepted; the one-to-one cases (`x=%ff` signed, `x=%fe` sent; a reordered or re-encoded
//! query) are refused. Also: duplicate `Authorization`, `x-amz-date`, `Host` (and the other
//! single headers) are 400, a CORS preflight is answered before authentication as a function
//! URL does, and what curl 7.88 signs in ways AWS itself refuses (an unsorted query, an
//! encoded path) is refused here too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{start, Proc};

const KEY: &str = "AKIDREALSIGNERS";
const SECRET: &str = "real/signers+secret0123456789abcdefABCDEF";
const STARTUP: Duration = Duration::from_secs(60);
const BODY: &str = r#"{"bedrockParams":{"modelId":"anthropic.claude-v2"},"modelParams":{"prompt":"hi","max_tokens_to_sample":20}}"#;

fn serve(dir: &Path) -> Proc {
    let creds = dir.join("credentials");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    start(
        &[
            "serve",
            "--bedrock",
            "local",
            "--engine",
            "scripted",
            "--auth",
            "sigv4",
            "--credentials-file",
            creds.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[
            ("AWS_REGION", "us-east-1"),
            ("RUST_LOG", "warn"),
            ("CORS_ORIGINS", "https://app.example"),
        ],
        &[],
        STARTUP,
    )
}

/// Signs each case with botocore's SigV4Auth (the URL as written, query included) and sends it
/// with http.client, which puts the path on the wire exactly as given. `sign` is what is
/// signed, `send` what is sent (the same unless a case tampers).
const BOTOCORE: &str = r#"
import http.client, json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
host, key, secret, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
out = []
for case in json.loads(sys.stdin.read()):
    method = case["method"]
    data = body.encode() if method == "POST" else b""
    req = AWSRequest(method=method, url="http://" + host + case["sign"], data=data,
                     headers={"content-type": "application/json"})
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.putrequest(method, case["send"], skip_host=True, skip_accept_encoding=True)
    conn.putheader("host", host)
    for k, v in req.headers.items():
        conn.putheader(k, v)
    conn.putheader("content-length", str(len(data)))
    conn.endheaders(data)
    r = conn.getresponse()
    out.append({"send": case["send"], "status": r.status, "body": r.read().decode("utf-8", "replace")})
    conn.close()
print(json.dumps(out))
"#;

fn botocore(server: &Proc, cases: &[(&str, &str, &str)]) -> Vec<(String, u16, String)> {
    let host = server.url.trim_start_matches("http://");
    let input: Vec<Value> = cases
        .iter()
        .map(|(m, s, t)| json!({"method": m, "sign": s, "send": t}))
        .collect();
    let mut child = Command::new("python3")
        .args(["-c", BOTOCORE, host, KEY, SECRET, BODY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with botocore is needed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::from(input).to_string().as_bytes())
        .unwrap();
    let out = wait(child, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "botocore script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|r| {
            (
                r["send"].as_str().unwrap().to_string(),
                u16::try_from(r["status"].as_u64().unwrap()).unwrap(),
                r["body"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn wait(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `curl --aws-sigv4` (what it signs is what it sends).
fn curl(server: &Proc, method: &str, path_and_query: &str) -> (u16, String) {
    let url = format!("{}{path_and_query}", server.url);
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "--path-as-is",
        "-X",
        method,
        &url,
        "--aws-sigv4",
        "aws:amz:us-east-1:lambda",
        "--user",
        &format!("{KEY}:{SECRET}"),
        "-H",
        "content-type: application/json",
        "--max-time",
        "30",
        "-w",
        "\n%{http_code}",
    ]);
    if method == "POST" {
        cmd.args(["--data-binary", BODY]);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = wait(cmd.spawn().unwrap(), Duration::from_secs(60));
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = s.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

/// Query cases, each already sorted as SigV4 sorts them (curl 7.88 signs the query unsorted,
/// which AWS refuses too: tested apart below).
const QUERIES: &[&str] = &[
    "format=ndjson&x=a+b",
    "format=ndjson&w=%7E",
    "format=ndjson&w=~",
    "format=ndjson&t=a=b",
    "a=1&a=2&format=ndjson",
    "a=x&a=y&b=&format=ndjson",
    "e=&format=ndjson",
    "format=ndjson&u=-._~AZaz09",
    "format=ndjson&r=%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25%20",
    "format=ndjson&r=/?:@!$'()*,;",
    "%C3%A9=%E1%88%B4&format=ndjson",
    "format=ndjson&x=%ff",
    "format=ndjson&x=%FF",
    "format=ndjson&sp=a%20b",
];

fn assert_streamed(who: &str, case: &str, status: u16, body: &str) {
    assert_eq!(status, 200, "{who} {case}: {body}");
    let last: Value = serde_json::from_str(body.trim_end().lines().last().unwrap_or("null"))
        .unwrap_or(Value::Null);
    assert_eq!(last["type"], "done", "{who} {case}: {body}");
}

fn assert_refused(who: &str, case: &str, status: u16, body: &str) {
    assert_eq!(status, 403, "{who} {case}: {body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["message"], sigv4_verifier::FORBIDDEN_MESSAGE);
}

#[test]
fn botocore_and_curl_signatures_are_accepted_byte_for_byte_and_one_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());

    // botocore: every query case, signed and sent as written.
    let cases: Vec<(&str, String, String)> = QUERIES
        .iter()
        .map(|q| ("POST", format!("/?{q}"), format!("/?{q}")))
        .collect();
    let mut all: Vec<(&str, &str, &str)> = cases
        .iter()
        .map(|(m, s, t)| (*m, s.as_str(), t.as_str()))
        .collect();
    // A name without `=` (botocore signs `f=`, as AWS documents).
    all.push(("POST", "/?f&format=ndjson", "/?f&format=ndjson"));
    // Paths: double encoding as AWS's non-S3 services expect (`%3A` signed as `%253A`).
    all.push((
        "GET",
        "/v1/models/anthropic.claude-v2%3A1",
        "/v1/models/anthropic.claude-v2%3A1",
    ));
    all.push((
        "GET",
        "/v1/models/anthropic.claude-v2:1",
        "/v1/models/anthropic.claude-v2:1",
    ));
    // Unsorted queries: botocore sorts, so they pass.
    all.push(("POST", "/?format=ndjson&b=2&a=1", "/?format=ndjson&b=2&a=1"));
    let n_accepted = all.len();
    // One-to-one: what is sent differs from what was signed.
    let refused: &[(&str, &str, &str)] = &[
        ("POST", "/?format=ndjson&x=%ff", "/?format=ndjson&x=%fe"),
        ("POST", "/?format=ndjson&x=a+b", "/?format=ndjson&x=a%2Bb"),
        ("POST", "/?format=ndjson&x=a+b", "/?format=ndjson&x=a%20b"),
        ("POST", "/?format=ndjson&t=a=b", "/?format=ndjson&t=a%3Db"),
        ("POST", "/?format=ndjson&w=%7E", "/?format=ndjson&w=%7e"),
        ("POST", "/?a=1&format=ndjson", "/?a=2&format=ndjson"),
        ("POST", "/?format=ndjson", "/?format=sse"),
        (
            "GET",
            "/v1/models/anthropic.claude-v2",
            "/v1/models/anthropic.claude-v3",
        ),
    ];
    all.extend_from_slice(refused);
    let results = botocore(&server, &all);
    assert_eq!(results.len(), all.len());
    for (i, (sent, status, body)) in results.iter().enumerate() {
        let method = all[i].0;
        if i < n_accepted {
            if method == "GET" {
                assert_eq!(*status, 200, "botocore GET {sent}: {body}");
                let v: Value = serde_json::from_str(body).unwrap();
                assert_eq!(v["id"], "anthropic.claude-v2:1", "{body}");
            } else {
                assert_streamed("botocore", sent, *status, body);
            }
        } else {
            assert_refused("botocore (tampered)", sent, *status, body);
        }
    }
    // The log says why, and no secret is in it.
    let log = server.stderr();
    assert!(log.contains("signature does not match"), "{log}");
    assert!(!log.contains(SECRET), "{log}");

    // curl: the same query cases, signed as sent.
    for q in QUERIES {
        let (status, body) = curl(&server, "POST", &format!("/?{q}"));
        assert_streamed("curl", q, status, &body);
    }
    let (status, body) = curl(&server, "GET", "/v1/models/anthropic.claude-v2");
    assert_eq!(status, 200, "{body}");

    // What curl 7.88 signs in ways AWS refuses (curl/curl#9717: no sorting; the path not
    // encoded again; a bare name without `=`) is refused here as there.
    for (method, pq) in [
        ("POST", "/?format=ndjson&b=2&a=1"),
        ("GET", "/v1/models/anthropic.claude-v2%3A1"),
        ("POST", "/?f&format=ndjson"),
    ] {
        let (status, body) = curl(&server, method, pq);
        if curl_sorts_and_normalises() {
            assert_ne!(status, 403, "curl {pq}: {body}");
        } else {
            assert_refused("curl 7.88", pq, status, &body);
        }
    }
    // A path that is not normalised is a 400, whoever signed it.
    let (status, body) = curl(&server, "GET", "/v1/../v1/models");
    assert_eq!(status, 400, "{body}");
}

/// curl ≥ 8.0 sorts the query and encodes the path as AWS does (curl/curl#9717).
fn curl_sorts_and_normalises() -> bool {
    let out = Command::new("curl").arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    let major: u32 = v
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    major >= 8
}

/// Headers as the AWS SDK for Rust signs a POST of `body` to `url`.
fn rust_signed(url: &str, body: &[u8], content_sha: bool) -> Vec<(String, String)> {
    support::sdk_signed_headers(url, body, KEY, SECRET, content_sha)
}

/// Sends raw bytes and returns the status and the body (the server closes or answers within
/// the bound).
fn raw(server: &Proc, request: &[u8]) -> (u16, String) {
    let addr = server.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn request_bytes(
    host: &str,
    headers: &[(String, String)],
    body: &str,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut r = format!("POST /?format=ndjson HTTP/1.1\r\nhost: {host}\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in extra {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    r.into_bytes()
}

#[test]
fn duplicate_auth_headers_are_400_and_a_preflight_is_answered_before_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let host = server.url.trim_start_matches("http://").to_string();
    let url = format!("http://{host}/?format=ndjson");

    // The request itself is good.
    let headers = rust_signed(&url, BODY.as_bytes(), true);
    let (status, body) = raw(&server, &request_bytes(&host, &headers, BODY, &[]));
    assert_eq!(status, 200, "{body}");

    let value = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| host.clone())
    };
    for name in [
        "authorization",
        "x-amz-date",
        "host",
        "x-amz-content-sha256",
        "x-amz-security-token",
    ] {
        // A second copy of the same value, then one that differs (two copies of a header the
        // request does not otherwise carry).
        let first = value(name);
        let carried = name == "host" || headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        for second in [first.clone(), "20200101T000000Z".to_string()] {
            let mut extra: Vec<(&str, &str)> = vec![(name, second.as_str())];
            if !carried {
                extra.push((name, first.as_str()));
            }
            let (status, body) = raw(&server, &request_bytes(&host, &headers, BODY, &extra));
            assert_eq!(status, 400, "duplicate {name}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            assert_eq!(v["error"]["type"], "bad_request", "{name}: {body}");
        }
    }

    // CORS preflight: answered (no signature) for an allowed origin, as a function URL does.
    let preflight = format!(
        "OPTIONS / HTTP/1.1\r\nhost: {host}\r\norigin: https://app.example\r\naccess-control-request-method: POST\r\naccess-control-request-headers: authorization, x-amz-date, content-type\r\nconnection: close\r\n\r\n"
    );
    let addr = host.clone();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(preflight.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(
        text.contains("access-control-allow-origin: https://app.example"),
        "{text}"
    );
    // A plain OPTIONS (not a preflight) is not exempt.
    let (status, _) = raw(
        &server,
        format!("OPTIONS / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 403);
}
