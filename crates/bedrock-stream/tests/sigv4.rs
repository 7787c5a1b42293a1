//! `serve --auth sigv4` and `invoke`, end to end through the real binary: curl's and invoke's
//! signatures get through; wrong secrets, unknown keys, tampered bodies, wrong scopes, expired
//! dates and unsigned requests get the same 403, and the server's log says which. Also `invoke` in every
//! format against `serve --auth none`, its exit code on a 4xx, and a mid-stream error.

// Test helpers (not only `#[test]` functions) may fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::Value;

mod support;
use support::{repo_root, Proc, BIN};

const KEY: &str = "AKIDBEDROCKSTREAMTEST";
const SECRET: &str = "k3y/for+tests/only0123456789abcdefABCDEF";
const TEMP_KEY: &str = "ASIABEDROCKSTREAMTEMP";
const TEMP_SECRET: &str = "temporary/secret+value";
const TEMP_TOKEN: &str = "FwoGZXIvYXdzEBYaDTESTSESSIONTOKEN/x+y==";
const STARTUP: Duration = Duration::from_secs(60);
const RUN: Duration = Duration::from_secs(60);

fn event_json() -> Vec<u8> {
    std::fs::read(repo_root().join("events/event.json")).unwrap()
}

/// Starts the binary with `RUST_LOG=warn` and waits (bounded) for its "listening on" line.
fn start(args: &[&str], envs: &[(&str, &str)]) -> Proc {
    let envs: Vec<(&str, &str)> = [("RUST_LOG", "warn")]
        .into_iter()
        .chain(envs.iter().copied())
        .collect();
    support::start(args, &envs, &[], STARTUP)
}

fn credentials_file(dir: &Path) -> PathBuf {
    let path = dir.join("credentials");
    std::fs::write(
        &path,
        format!(
            "# keys serve --auth sigv4 accepts\n[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n\n[temp]\naws_access_key_id = {TEMP_KEY}\naws_secret_access_key = {TEMP_SECRET}\naws_session_token = {TEMP_TOKEN}\n"
        ),
    )
    .unwrap();
    path
}

/// `serve --bedrock local --engine scripted --auth sigv4` on a free loopback port.
fn serve_sigv4(dir: &Path) -> Proc {
    let creds = credentials_file(dir);
    let p = start(
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
        &[("AWS_REGION", "us-east-1")],
    );
    assert!(
        p.stderr()
            .contains("SigV4 auth on (service lambda, region us-east-1, 2 keys)"),
        "{}",
        p.stderr()
    );
    p
}

fn serve_open(bedrock: &str) -> Proc {
    start(
        &[
            "serve",
            "--bedrock",
            bedrock,
            "--engine",
            "scripted",
            "--listen",
            "127.0.0.1:0",
        ],
        &[("AWS_REGION", "us-east-1")],
    )
}

/// Runs a command to completion, bounded by `RUN`.
fn run(cmd: Command) -> Output {
    run_with_stdin(cmd, Stdio::null())
}

fn run_with_stdin(mut cmd: Command, stdin: Stdio) -> Output {
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + RUN;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {RUN:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// `bedrock-stream invoke ARGS`, run from the repository root with an isolated AWS environment.
fn invoke(args: &[&str], envs: &[(&str, &str)], dir: &Path) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("invoke")
        .args(args)
        .current_dir(repo_root())
        .env("RUST_LOG", "warn")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_REGION", "us-east-1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(cmd)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A request as a client signs it with aws-sigv4.
struct Signed {
    key: &'static str,
    secret: &'static str,
    token: Option<&'static str>,
    region: &'static str,
    service: &'static str,
    time: SystemTime,
    /// Send `x-amz-content-sha256` (the signed body's hash).
    content_sha: bool,
}

impl Default for Signed {
    fn default() -> Self {
        Signed {
            key: KEY,
            secret: SECRET,
            token: None,
            region: "us-east-1",
            service: "lambda",
            time: SystemTime::now(),
            content_sha: false,
        }
    }
}

impl Signed {
    /// The headers to send for a POST of `body` to `url`.
    fn headers(&self, url: &str, body: &[u8]) -> Vec<(String, String)> {
        let identity: Identity = Credentials::new(
            self.key,
            self.secret,
            self.token.map(str::to_string),
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        if self.content_sha {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let base = [("content-type", "application/json")];
        let req =
            SignableRequest::new("POST", url, base.iter().copied(), SignableBody::Bytes(body))
                .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut out: Vec<(String, String)> = base
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        out.extend(
            instructions
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        out
    }
}

async fn post(url: &str, headers: &[(String, String)], body: Vec<u8>) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut req = client.post(url).body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = tokio::time::timeout(RUN, req.send())
        .await
        .expect("request timed out")
        .unwrap();
    let status = resp.status().as_u16();
    let body = tokio::time::timeout(RUN, resp.text())
        .await
        .expect("body timed out")
        .unwrap();
    (status, body)
}

/// Every refused signature gets the same 403; the reason is in the server's log only.
fn assert_unauthorized(case: &str, status: u16, body: &str, server: &Proc, says: &str) {
    assert_eq!(status, 403, "{case}: {body}");
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {body}"));
    assert_eq!(v["error"]["type"], "unauthorized", "{case}: {body}");
    assert_eq!(
        v["error"]["message"],
        sigv4_verifier::FORBIDDEN_MESSAGE,
        "{case}: {body}"
    );
    assert_eq!(v["error"].as_object().unwrap().len(), 2, "{case}: {body}");
    // The log line may lag the response by a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stderr().contains(says) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.stderr().contains(says),
        "{case}: the log does not say `{says}`:\n{}",
        server.stderr()
    );
}

#[test]
fn curl_aws_sigv4_gets_through_and_a_wrong_secret_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_sigv4(dir.path());
    let url = server.url.clone();
    let curl = |user: &str| {
        let mut cmd = Command::new("curl");
        cmd.current_dir(repo_root()).args([
            "-s",
            "-XPOST",
            "-d",
            "@events/event.json",
            &url,
            "--aws-sigv4",
            "aws:amz:us-east-1:lambda",
            "--user",
            user,
            "--max-time",
            "30",
            "-w",
            "\n%{http_code}",
        ]);
        let out = run(cmd);
        assert!(out.status.success(), "curl failed: {}", text(&out.stderr));
        let s = text(&out.stdout);
        let (body, code) = s.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    // The seed's own test command.
    let (code, body) = curl(&format!("{KEY}:{SECRET}"));
    assert_eq!(code, "200", "{body}");
    assert!(
        body.starts_with("Scripted answer to: Explain serverless to a 5th grader."),
        "{body}"
    );
    assert!(!body.contains("[bedrock-stream error]"), "{body}");

    let (code, body) = curl(&format!("{KEY}:not-the-secret"));
    assert_unauthorized(
        "curl, wrong secret",
        code.parse().unwrap(),
        &body,
        &server,
        "signature does not match",
    );
    // Neither the secret nor the signature is logged.
    let log = server.stderr();
    assert!(log.contains("SigV4 authentication failed"), "{log}");
    assert!(
        !log.contains(SECRET) && !log.contains("not-the-secret"),
        "{log}"
    );
    assert!(!log.contains("Signature="), "{log}");
}

#[test]
fn invoke_sigv4_gets_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_sigv4(dir.path());
    let url = server.url.clone();
    let out = invoke(
        &["--sigv4", &url, "-d", "@events/event.json"],
        &[
            ("AWS_ACCESS_KEY_ID", KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
        dir.path(),
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.starts_with("Scripted answer to: Explain serverless to a 5th grader."),
        "{stdout}"
    );
    assert!(
        !stdout.contains("\"type\""),
        "text mode printed events: {stdout}"
    );
    assert!(stderr.contains("tokens in 6, out"), "{stderr}");
    assert!(
        stderr.contains("first byte") && stderr.contains("total"),
        "{stderr}"
    );

    // Temporary keys sign with their session token.
    let out = invoke(
        &["--sigv4", &url, "--prompt", "hello", "--format", "ndjson"],
        &[
            ("AWS_ACCESS_KEY_ID", TEMP_KEY),
            ("AWS_SECRET_ACCESS_KEY", TEMP_SECRET),
            ("AWS_SESSION_TOKEN", TEMP_TOKEN),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"type\":\"done\""));

    // Signed for another region: refused, with the reason on stderr and a non-zero exit.
    let out = invoke(
        &["--sigv4", "--region", "eu-west-1", &url, "-p", "hi"],
        &[
            ("AWS_ACCESS_KEY_ID", KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(sigv4_verifier::FORBIDDEN_MESSAGE) && stderr.contains("403"),
        "{stderr}"
    );
    assert!(
        server
            .stderr()
            .contains("credential scope region eu-west-1 is not us-east-1"),
        "{}",
        server.stderr()
    );

    // Without --sigv4: refused the same way; the log says why.
    let out = invoke(&[&url, "-p", "hi"], &[], dir.path());
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(sigv4_verifier::FORBIDDEN_MESSAGE));
    assert!(server.stderr().contains("no Authorization header"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_get_the_same_403_and_the_log_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_sigv4(dir.path());
    let url = format!("{}/", server.url.clone());
    let body = event_json();
    let now = SystemTime::now();

    // A good one first, so that the failures below fail for their own reason.
    let (status, answer) = post(&url, &Signed::default().headers(&url, &body), body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.starts_with("Scripted answer"), "{answer}");
    let temp = Signed {
        key: TEMP_KEY,
        secret: TEMP_SECRET,
        token: Some(TEMP_TOKEN),
        ..Default::default()
    };
    let (status, answer) = post(&url, &temp.headers(&url, &body), body.clone()).await;
    assert_eq!(status, 200, "temporary key: {answer}");

    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'5').unwrap();
    tampered[at] = b'9';

    // (case, headers, body sent, what the message must say)
    type Case = (&'static str, Vec<(String, String)>, Vec<u8>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "wrong secret",
            Signed {
                secret: "wrong-secret",
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "signature does not match",
        ),
        (
            "unknown key",
            Signed {
                key: "AKIDNOTINTHEFILE",
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "unknown access key AKIDNOTINTHEFILE",
        ),
        (
            "tampered body",
            Signed::default().headers(&url, &body),
            tampered.clone(),
            "changed after signing",
        ),
        (
            "tampered body, with x-amz-content-sha256",
            Signed {
                content_sha: true,
                ..Default::default()
            }
            .headers(&url, &body),
            tampered.clone(),
            "x-amz-content-sha256 does not match the SHA-256 of the body",
        ),
        (
            "wrong region",
            Signed {
                region: "eu-west-1",
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "credential scope region eu-west-1 is not us-east-1",
        ),
        (
            "wrong service",
            Signed {
                service: "execute-api",
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "credential scope service execute-api is not lambda",
        ),
        (
            "expired date (signed 10 minutes ago: a late replay)",
            Signed {
                time: now - Duration::from_secs(600),
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "request expired",
        ),
        (
            "date 10 minutes in the future",
            Signed {
                time: now + Duration::from_secs(600),
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "in the future",
        ),
        (
            "temporary key without its session token",
            Signed {
                key: TEMP_KEY,
                secret: TEMP_SECRET,
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "is temporary and the request has no x-amz-security-token",
        ),
        (
            "temporary key with another session token",
            Signed {
                key: TEMP_KEY,
                secret: TEMP_SECRET,
                token: Some("another-token"),
                ..Default::default()
            }
            .headers(&url, &body),
            body.clone(),
            "is not the session token",
        ),
        (
            "unsigned",
            vec![("content-type".into(), "application/json".into())],
            body.clone(),
            "no Authorization header",
        ),
    ];
    for (case, headers, sent, says) in cases {
        let (status, answer) = post(&url, &headers, sent).await;
        assert_unauthorized(case, status, &answer, &server, says);
    }
    // Neither secrets, session tokens nor signatures reach the log.
    let log = server.stderr();
    assert!(
        !log.contains(SECRET) && !log.contains(TEMP_SECRET) && !log.contains(TEMP_TOKEN),
        "{log}"
    );
    assert!(!log.contains("Signature="), "{log}");

    // Other routes are guarded too, and a signed query cannot be changed.
    let (status, answer) = post(
        &format!("{}/converse", server.url.clone()),
        &[],
        b"{}".to_vec(),
    )
    .await;
    assert_unauthorized(
        "unsigned /converse",
        status,
        &answer,
        &server,
        "no Authorization header",
    );
    let signed_for = format!("{url}?format=ndjson");
    let headers = Signed::default().headers(&signed_for, &body);
    let (status, answer) = post(&signed_for, &headers, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"type\":\"done\""), "{answer}");
    let (status, answer) = post(&format!("{url}?format=sse"), &headers, body.clone()).await;
    assert_unauthorized(
        "changed query",
        status,
        &answer,
        &server,
        "signature does not match",
    );
}

#[test]
fn serve_sigv4_needs_a_credentials_file() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--bedrock",
        "local",
        "--engine",
        "scripted",
        "--auth",
        "sigv4",
        "--listen",
        "127.0.0.1:0",
    ]);
    let out = run(cmd);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--credentials-file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn invoke_in_every_format_and_a_4xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_open("local");
    let url = server.url.clone();

    let out = invoke(&[&url, "-d", "@events/event.json"], &[], dir.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("Scripted answer to: Explain serverless"),
        "{stdout}"
    );
    assert!(!stdout.contains('{'), "{stdout}");
    assert!(
        stderr.contains("stop ") && stderr.contains("tokens in 6"),
        "{stderr}"
    );

    let out = invoke(
        &[&url, "-d", "@events/event.json", "--format", "sse"],
        &[],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.starts_with("event: text\ndata: {\"index\":0,\"text\":\"Scripted\"}\n\n"),
        "{stdout}"
    );
    assert!(stdout.contains("event: done\ndata: {"), "{stdout}");
    assert!(text(&out.stderr).contains("tokens in 6"));

    let out = invoke(
        &[&url, "-d", "@events/event.json", "--format", "ndjson"],
        &[],
        dir.path(),
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "text");
    assert_eq!(lines.last().unwrap()["type"], "done");
    assert!(text(&out.stderr).contains("tokens in 6"));

    // A prompt alone makes a seed request (anthropic.claude-v2); the body may come from stdin.
    let out = invoke(&[&url, "--prompt", "Why is the sky blue?"], &[], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Scripted answer to: Why is the sky blue?"));
    let mut cmd = Command::new(BIN);
    cmd.args(["invoke", &url, "-d", "-"])
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let stdin = std::fs::File::open(repo_root().join("events/event.json")).unwrap();
    let out = run_with_stdin(cmd, Stdio::from(stdin));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Scripted answer"));

    // A 4xx: the JSON error on stderr, a non-zero exit, nothing on stdout.
    let out = invoke(&[&url, "-d", r#"{"modelParams":"#], &[], dir.path());
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(r#""type":"bad_request""#), "{stderr}");
    assert!(stderr.contains("HTTP 400"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn invoke_reports_a_mid_stream_error() {
    let dir = tempfile::tempdir().unwrap();
    let bedrock = start(
        &[
            "local-bedrock",
            "--engine",
            "scripted",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let server = serve_open(&bedrock.url.clone());
    let url = server.url.clone();
    let inject = |kind: &str| {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-s",
            "--max-time",
            "30",
            "-XPOST",
            &format!("{}/_emulator/faults", bedrock.url.clone()),
            "-d",
            &format!(r#"{{"kind":"{kind}","count":1}}"#),
        ]);
        let out = run(cmd);
        assert!(
            text(&out.stdout).contains("pending"),
            "{}",
            text(&out.stdout)
        );
    };

    inject("midstream");
    let out = invoke(&[&url, "-d", "@events/event.json"], &[], dir.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success(),
        "a mid-stream error must fail: {stderr}"
    );
    assert!(
        stdout.starts_with("Scripted"),
        "the partial text is printed: {stdout}"
    );
    assert!(
        stderr.contains("the stream failed after it started: model_stream_error"),
        "{stderr}"
    );

    for format in ["sse", "ndjson"] {
        inject("midstream");
        let out = invoke(
            &[&url, "-d", "@events/event.json", "--format", format],
            &[],
            dir.path(),
        );
        assert!(!out.status.success(), "{format}");
        assert!(text(&out.stdout).contains("model_stream_error"), "{format}");
        assert!(
            text(&out.stderr).contains("the stream failed after it started"),
            "{format}: {}",
            text(&out.stderr)
        );
    }

    // And the next request, without a fault, succeeds.
    let out = invoke(&[&url, "-d", "@events/event.json"], &[], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
}
