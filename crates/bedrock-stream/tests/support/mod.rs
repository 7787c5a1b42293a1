//! The real `bedrock-stream` binary as a child process: started on a free loopback port, its
//! address read from its banner, its stderr (the logs) collected as it comes, killed when
//! dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bedrock-stream");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Proc {
    child: Child,
    /// `http://127.0.0.1:PORT` of the command itself.
    pub url: String,
    /// `serve --bedrock local`: the in-process local Bedrock endpoint's URL, from the banner.
    pub bedrock_url: Option<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether stderr says `needle` within `limit`: a log line may reach the pipe a moment after
    /// the response it explains reached the client.
    pub fn logged(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.stderr().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id (to read its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process and returns all of its stderr.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader thread sees EOF right after the exit; give it a moment to store the rest.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.stderr) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stderr()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `bedrock-stream ARGS` with `envs` (and `removed` env vars taken away), and waits,
/// bounded by `startup`, for its "listening on http://ADDR" line.
pub fn start(args: &[&str], envs: &[(&str, &str)], removed: &[&str], startup: Duration) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for k in removed {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let collected = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<String>();
    let sink = Arc::clone(&collected);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + startup;
    let mut bedrock_url = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("local Bedrock endpoint at ").nth(1) {
                    bedrock_url = rest
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .next()
                        .map(str::to_string);
                }
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap().to_string();
                    return Proc {
                        child,
                        url: format!("http://{addr}"),
                        bedrock_url,
                        stderr: collected,
                    };
                }
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{args:?} did not report `listening on` within {startup:?} ({e}); stderr:\n{}",
                    collected.lock().unwrap()
                )
            }
        }
    }
}

/// The headers the AWS SDK for Rust signs a JSON POST of `body` to `url` with (service `lambda`,
/// us-east-1, now): `content-type` first, then the signature's own. With `content_sha`, the body
/// hash goes in `x-amz-content-sha256` too.
pub fn sdk_signed_headers(
    url: &str,
    body: &[u8],
    key: &str,
    secret: &str,
    content_sha: bool,
) -> Vec<(String, String)> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
    };
    use aws_sigv4::sign::v4::SigningParams;
    use aws_smithy_runtime_api::client::identity::Identity;

    let identity: Identity = Credentials::new(key, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if content_sha {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let base = [("content-type", "application/json")];
    let req =
        SignableRequest::new("POST", url, base.iter().copied(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    base.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(
            instructions
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .collect()
}
