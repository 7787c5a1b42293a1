//! Cold start and memory of a Lambda function, through a Lambda Runtime API emulator of our own:
//! `bedrock-stream-lambda` vs the seed's logic in Node.js 20 (AWS SDK v3 under the npm Runtime
//! Interface Client) vs a Python boto3 handler (under the PyPI Runtime Interface Client).
//!
//! For each start: spawn the function process with `AWS_LAMBDA_RUNTIME_API` pointing at the
//! emulator, which hands it one function-URL event (the seed request) on its first
//! `GET /runtime/invocation/next`. Timed from just before the spawn: the first `next` (init
//! done), the first body byte of the answer at the emulator (after the streaming prelude, i.e.
//! what a function-URL client would see first) and the end of the answer. Then `warm` more
//! invocations on the same process, each timed from handing out the event. The process's peak
//! RSS (VmHWM) is read once it waits for the next event after the last one, then it is killed.
//! Every answer's text is compared with what the scripted engine sends.
//!
//! Everything is on 127.0.0.1; every wait is bounded.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

use crate::cases::{self, Case};
use crate::procs::{self, Memory};
use crate::report::Size;
use crate::stats::{ms, Spread};

/// A function runtime under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Runtime {
    /// `bedrock-stream-lambda` (this project's release binary).
    Rust,
    /// The seed's handler: Node.js + `@aws-sdk/client-bedrock-runtime` + `aws-lambda-ric`.
    Node,
    /// boto3 + `awslambdaric` (buffered: Python has no response streaming).
    Python,
}

impl Runtime {
    pub const ALL: [Runtime; 3] = [Runtime::Rust, Runtime::Node, Runtime::Python];

    pub fn label(self) -> &'static str {
        match self {
            Runtime::Rust => "bedrock-stream-lambda (Rust)",
            Runtime::Node => "seed handler, Node.js + AWS SDK v3",
            Runtime::Python => "boto3 handler, Python",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ColdStartConfig {
    /// Fresh processes per runtime (alternating between runtimes).
    pub starts: usize,
    /// Warm invocations after the cold one, per process.
    pub warm: usize,
    /// Tokens (one chunk each) in every answer.
    pub words: u32,
    /// The endpoint's pause between chunks.
    pub chunk_delay_ms: u64,
    /// Limit for one invocation.
    pub invoke_timeout: Duration,
}

impl ColdStartConfig {
    pub fn for_size(size: Size) -> ColdStartConfig {
        let quick = size == Size::Quick;
        ColdStartConfig {
            starts: if quick { 2 } else { 15 },
            warm: if quick { 3 } else { 20 },
            words: 20,
            chunk_delay_ms: 0,
            invoke_timeout: Duration::from_secs(30),
        }
    }
}

/// One process: its cold invocation, its warm ones, its memory.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Start {
    /// Spawn → the first `GET …/invocation/next` (runtime and handler initialised).
    pub init_ms: f64,
    /// Spawn → first body byte of the answer (after the streaming prelude).
    pub first_byte_ms: f64,
    /// Spawn → the answer's end.
    pub complete_ms: f64,
    /// Warm invocations: event handed out → first body byte.
    pub warm_first_byte_ms: Vec<f64>,
    /// Warm invocations: event handed out → end.
    pub warm_complete_ms: Vec<f64>,
    /// Body frames in the cold answer after the prelude (1 when buffered).
    pub frames: usize,
    /// Peak RSS (VmHWM) after all invocations, KiB.
    pub hwm_kib: u64,
    /// RSS after all invocations, KiB.
    pub rss_kib: u64,
    /// Answers whose text differed from the expected one, or that failed.
    pub bad_answers: usize,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuntimeResult {
    pub runtime: Runtime,
    /// The command and versions, as run.
    pub what: String,
    /// Why it did not run, when it did not.
    pub skipped: Option<String>,
    pub starts: Vec<Start>,
    /// The first error seen, if any.
    pub error: Option<String>,
}

impl RuntimeResult {
    fn values(&self, f: impl Fn(&Start) -> f64) -> Vec<f64> {
        self.starts.iter().map(f).collect()
    }
    pub fn first_byte(&self) -> Spread {
        Spread::of(&self.values(|s| s.first_byte_ms))
    }
    pub fn init(&self) -> Spread {
        Spread::of(&self.values(|s| s.init_ms))
    }
    pub fn complete(&self) -> Spread {
        Spread::of(&self.values(|s| s.complete_ms))
    }
    pub fn hwm_mib(&self) -> Spread {
        Spread::of(&self.values(|s| s.hwm_kib as f64 / 1024.0))
    }
    /// Every warm invocation's first byte, ms, over all processes.
    fn warm_first_bytes(&self) -> Vec<f64> {
        self.starts
            .iter()
            .flat_map(|s| s.warm_first_byte_ms.iter().copied())
            .collect()
    }
    pub fn warm_first_byte(&self) -> Spread {
        Spread::of(&self.warm_first_bytes())
    }
    pub fn warm_p50_first_byte(&self) -> f64 {
        crate::stats::Dist::of(&self.warm_first_bytes()).p50
    }
    pub fn bad_answers(&self) -> usize {
        self.starts.iter().map(|s| s.bad_answers).sum()
    }
    pub fn ran(&self) -> bool {
        self.skipped.is_none() && !self.starts.is_empty()
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ColdStartReport {
    pub config: ColdStartConfig,
    pub runtimes: Vec<RuntimeResult>,
    /// The same request straight to the endpoint through the Rust SDK (first text chunk), ms:
    /// what a warm invocation's first byte is compared with.
    pub direct_first_byte_ms: Vec<f64>,
    /// 1-minute load average before and after.
    pub load_before: String,
    pub load_after: String,
}

impl ColdStartReport {
    pub fn get(&self, rt: Runtime) -> Option<&RuntimeResult> {
        self.runtimes.iter().find(|r| r.runtime == rt && r.ran())
    }

    /// Node's median cold first byte over ours.
    pub fn speedup_vs(&self, rt: Runtime) -> Option<f64> {
        let ours = self.get(Runtime::Rust)?.first_byte().median;
        let theirs = self.get(rt)?.first_byte().median;
        (ours > 0.0).then(|| theirs / ours)
    }

    pub fn bad_answers(&self) -> usize {
        self.runtimes.iter().map(RuntimeResult::bad_answers).sum()
    }

    pub fn summary(&self) -> String {
        let mut s = String::new();
        for r in &self.runtimes {
            if let Some(why) = &r.skipped {
                s.push_str(&format!("{}: skipped ({why})\n", r.runtime.label()));
                continue;
            }
            s.push_str(&format!(
                "{}: cold first byte {} ms, init {} ms, warm first byte {} ms, peak RSS {} MiB, bad answers {}\n",
                r.runtime.label(),
                r.first_byte().fmt(1),
                r.init().fmt(1),
                r.warm_first_byte().fmt(2),
                r.hwm_mib().fmt(1),
                r.bad_answers()
            ));
        }
        if let Some(x) = self.speedup_vs(Runtime::Node) {
            s.push_str(&format!(
                "cold first byte: Rust {x:.1}× faster than Node.js\n"
            ));
        }
        s
    }
}

/// Where the peers are and what to run for each runtime.
struct Launch {
    program: PathBuf,
    args: Vec<String>,
    dir: PathBuf,
    env: Vec<(String, String)>,
    what: String,
}

fn version_of(program: &Path, arg: &str) -> String {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if s.is_empty() {
                s = String::from_utf8_lossy(&o.stderr).trim().to_string();
            }
            s
        })
        .unwrap_or_default()
}

fn npm_version(node_modules: &Path, package: &str) -> String {
    std::fs::read(node_modules.join(package).join("package.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn pip_version(venv: &Path, package: &str) -> String {
    let Ok(dirs) = std::fs::read_dir(venv.join("lib")) else {
        return "?".into();
    };
    for py in dirs.flatten() {
        let Ok(entries) = std::fs::read_dir(py.path().join("site-packages")) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(rest) = name.strip_prefix(&format!("{package}-")) {
                if let Some(v) = rest.strip_suffix(".dist-info") {
                    return v.to_string();
                }
            }
        }
    }
    "?".into()
}

/// The lambda binary next to `bin` (target/release/bedrock-stream → bedrock-stream-lambda), as
/// an absolute path (the function runs in its own working directory).
pub fn lambda_bin(bin: &Path) -> PathBuf {
    let path = bin.with_file_name("bedrock-stream-lambda");
    path.canonicalize().unwrap_or(path)
}

fn launch(rt: Runtime, bin: &Path, peers: &Path) -> Result<Launch, String> {
    match rt {
        Runtime::Rust => {
            let program = lambda_bin(bin);
            if !program.is_file() {
                return Err(format!(
                    "{} is missing (cargo build --release -p bedrock-stream-lambda)",
                    program.display()
                ));
            }
            let size = std::fs::metadata(&program).map(|m| m.len()).unwrap_or(0);
            Ok(Launch {
                what: format!(
                    "`{}` ({:.1} MiB, x86_64 release build; in Lambda it is `bootstrap` on provided.al2023), `RUST_LOG=info`",
                    program.display(),
                    size as f64 / 1048576.0
                ),
                dir: program.parent().map(Path::to_path_buf).unwrap_or_default(),
                program,
                args: vec![],
                env: vec![("RUST_LOG".into(), "info".into())],
            })
        }
        Runtime::Node => {
            let dir = peers.join("node");
            let ric = dir.join("node_modules/aws-lambda-ric/bin/index.mjs");
            if !ric.is_file() || !dir.join("index.mjs").is_file() {
                return Err(format!(
                    "{} is missing (run crates/bench/peers/setup.sh)",
                    ric.display()
                ));
            }
            let node = PathBuf::from("node");
            let modules = dir.join("node_modules");
            Ok(Launch {
                what: format!(
                    "`node aws-lambda-ric index.handler`: Node.js {}, aws-lambda-ric {}, @aws-sdk/client-bedrock-runtime {} (crates/bench/peers/node/index.mjs)",
                    version_of(&node, "--version"),
                    npm_version(&modules, "aws-lambda-ric"),
                    npm_version(&modules, "@aws-sdk/client-bedrock-runtime"),
                ),
                program: node,
                args: vec![ric.to_string_lossy().into_owned(), "index.handler".into()],
                env: vec![("NODE_ENV".into(), "production".into())],
                dir,
            })
        }
        Runtime::Python => {
            let venv = peers.join("python");
            let python = venv.join("bin/python");
            if !python.is_file() || !venv.join("handler.py").is_file() {
                return Err(format!(
                    "{} is missing (run crates/bench/peers/setup.sh)",
                    python.display()
                ));
            }
            Ok(Launch {
                what: format!(
                    "`python -m awslambdaric handler.handler`: {}, awslambdaric {}, boto3 {} (crates/bench/peers/python/handler.py; buffered, as Python Lambda functions are)",
                    version_of(&python, "--version"),
                    pip_version(&venv, "awslambdaric"),
                    pip_version(&venv, "boto3"),
                ),
                program: python,
                args: vec![
                    "-m".into(),
                    "awslambdaric".into(),
                    "handler.handler".into(),
                ],
                env: vec![
                    ("PYTHONPATH".into(), venv.to_string_lossy().into_owned()),
                    ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
                ],
                dir: venv,
            })
        }
    }
}

/// What the emulator saw of one invocation.
#[derive(Debug)]
struct Answer {
    id: String,
    /// First body byte after the prelude.
    first: Option<Instant>,
    end: Instant,
    frames: usize,
    text: Result<String, String>,
}

struct Emulator {
    events: Mutex<mpsc::Receiver<(String, Bytes)>>,
    answers: mpsc::Sender<Answer>,
    nexts: mpsc::Sender<Instant>,
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}

/// The streaming prelude's end: 8 NUL bytes after the JSON head.
const DELIMITER: [u8; 8] = [0; 8];

async fn serve_request(emu: Arc<Emulator>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if path.ends_with("/invocation/next") {
        let _ = emu.nexts.send(Instant::now()).await;
        // Waits for the benchmark to hand out the next event; the process is killed while
        // waiting after its last one.
        let next = emu.events.lock().await.recv().await;
        return match next {
            Some((id, event)) => {
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() + 300_000)
                    .unwrap_or(0);
                let mut r = Response::new(Full::new(event));
                let h = r.headers_mut();
                let mut set = |k: &'static str, v: String| {
                    if let Ok(v) = http::HeaderValue::from_str(&v) {
                        h.insert(k, v);
                    }
                };
                set("lambda-runtime-aws-request-id", id);
                set("lambda-runtime-deadline-ms", deadline.to_string());
                set(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
                );
                set(
                    "lambda-runtime-trace-id",
                    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"
                        .into(),
                );
                set("content-type", "application/json".into());
                r
            }
            None => reply(StatusCode::GONE, "no more events"),
        };
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /2018-06-01/runtime/invocation/{id}/response | /error
    if parts.len() == 5 && parts[2] == "invocation" {
        let id = parts[3].to_string();
        if parts[4] == "error" {
            return failed(&emu, id, "the function reported an error", req).await;
        }
        let streaming = req
            .headers()
            .get("lambda-runtime-function-response-mode")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
        let has_prelude = req.headers().get("content-type").is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/vnd.awslambda.http-integration-response")
        });
        let mut body = req.into_body();
        let mut buf: Vec<u8> = Vec::new();
        let mut body_start: Option<usize> = if has_prelude { None } else { Some(0) };
        let mut first = None;
        let mut frames = 0;
        let mut error = None;
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    error = Some(format!("reading the response: {e}"));
                    break;
                }
            };
            if let Some(trailers) = frame.trailers_ref() {
                if let Some(kind) = trailers.get("lambda-runtime-function-error-type") {
                    error = Some(format!(
                        "error trailer: {}",
                        String::from_utf8_lossy(kind.as_bytes())
                    ));
                }
            }
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            buf.extend_from_slice(&data);
            if body_start.is_none() {
                if let Some(pos) = buf.windows(8).position(|w| w == DELIMITER) {
                    body_start = Some(pos + 8);
                }
            }
            if let Some(start) = body_start {
                if buf.len() > start {
                    frames += 1;
                    first.get_or_insert_with(Instant::now);
                }
            }
        }
        let end = Instant::now();
        let text = match (error, body_start) {
            (Some(e), _) => Err(e),
            (None, None) => Err("no end of the streaming prelude".into()),
            (None, Some(start)) if streaming => {
                Ok(String::from_utf8_lossy(&buf[start..]).into_owned())
            }
            // A buffered function-URL answer: {"statusCode": 200, "body": "…"}.
            (None, Some(_)) => match serde_json::from_slice::<Value>(&buf) {
                Ok(v) if v["statusCode"] == 200 => {
                    Ok(v["body"].as_str().unwrap_or_default().to_string())
                }
                Ok(v) => Err(format!("answer {v}")),
                Err(e) => Err(format!("not JSON: {e}")),
            },
        };
        let _ = emu
            .answers
            .send(Answer {
                id,
                first,
                end,
                frames,
                text,
            })
            .await;
        return reply(StatusCode::ACCEPTED, "");
    }
    if path.ends_with("/init/error") {
        return failed(&emu, String::new(), "init error", req).await;
    }
    reply(StatusCode::NOT_FOUND, "not found")
}

/// Records a reported error (`…/error`, `/init/error`) as a failed answer.
async fn failed(
    emu: &Emulator,
    id: String,
    what: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let detail = body
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let _ = emu
        .answers
        .send(Answer {
            id,
            first: None,
            end: Instant::now(),
            frames: 0,
            text: Err(format!("{what}: {detail}")),
        })
        .await;
    reply(StatusCode::ACCEPTED, "")
}

/// A function-URL event (payload 2.0) carrying `body`.
fn event(body: &Bytes, request_id: &str) -> Bytes {
    let v = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "host": "bench.lambda-url.us-east-1.on.aws",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "bench",
            "domainName": "bench.lambda-url.us-east-1.on.aws",
            "domainPrefix": "bench",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "26/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64,
        },
        "body": String::from_utf8_lossy(body),
        "isBase64Encoded": false,
    });
    Bytes::from(v.to_string())
}

/// Starts one process of `launch` against a fresh emulator and runs `1 + warm` invocations.
async fn one_start(
    launch: &Launch,
    endpoint: &str,
    cases: &[Case],
    cfg: &ColdStartConfig,
) -> anyhow::Result<Start> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (event_tx, event_rx) = mpsc::channel(1);
    let (answer_tx, mut answer_rx) = mpsc::channel(4);
    let (next_tx, mut next_rx) = mpsc::channel(64);
    let emu = Arc::new(Emulator {
        events: Mutex::new(event_rx),
        answers: answer_tx,
        nexts: next_tx,
    });
    let server = tokio::spawn(async move {
        // Bounded by the process: the accept loop ends when this task is aborted below.
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let _ = stream.set_nodelay(true);
            let emu = Arc::clone(&emu);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let emu = Arc::clone(&emu);
                    async move { Ok::<_, Infallible>(serve_request(emu, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let result = async {
        let log = std::env::temp_dir().join(format!(
            "bedrock-bench-{}-coldstart-{port}.log",
            std::process::id()
        ));
        let file = std::fs::File::create(&log)?;
        let mut cmd = tokio::process::Command::new(&launch.program);
        cmd.args(&launch.args)
            .current_dir(&launch.dir)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true);
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        let task_root = launch.dir.to_string_lossy().into_owned();
        for (k, v) in [
            ("PATH", path.as_str()),
            ("AWS_LAMBDA_RUNTIME_API", &format!("127.0.0.1:{port}")),
            ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
            ("LAMBDA_TASK_ROOT", task_root.as_str()),
            ("_HANDLER", "index.handler"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ("AWS_SESSION_TOKEN", "bench-token"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("BEDROCK_ENDPOINT_URL", endpoint),
            ("TZ", ":UTC"),
        ] {
            cmd.env(k, v);
        }
        for (k, v) in &launch.env {
            cmd.env(k, v);
        }
        let case = &cases[0];
        event_tx
            .send(("cold-0".to_string(), event(&case.seed_body, "cold-0")))
            .await
            .context("queueing the cold event")?;
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", launch.program.display()))?;
        let pid = child.id().unwrap_or(0);
        let limit = cfg.invoke_timeout;
        let first_next = tokio::select! {
            n = tokio::time::timeout(limit, next_rx.recv()) => n,
            status = child.wait() => bail!("the function exited ({status:?}) before its first next:\n{}", procs::log_tail(&log)),
        };
        let init = match first_next {
            Ok(Some(t)) => t - t0,
            _ => bail!("no first next within {limit:?}:\n{}", procs::log_tail(&log)),
        };
        let mut start = Start {
            init_ms: ms(init),
            ..Default::default()
        };
        let mut handed_out = t0;
        for i in 0..=cfg.warm {
            if i > 0 {
                let case = &cases[i % cases.len()];
                let id = format!("warm-{i}");
                let ev = event(&case.seed_body, &id);
                // Waits until the function asks for the next event, so the timing starts when
                // the function can take it (as in Lambda, where the event waits for `next`).
                match tokio::time::timeout(limit, next_rx.recv()).await {
                    Ok(Some(_)) => {}
                    _ => bail!("the function did not ask for event {i}:\n{}", procs::log_tail(&log)),
                }
                handed_out = Instant::now();
                event_tx.send((id, ev)).await.context("queueing an event")?;
            }
            let answer = match tokio::time::timeout(limit, answer_rx.recv()).await {
                Ok(Some(a)) => a,
                _ => bail!("no answer to invocation {i} within {limit:?}:\n{}", procs::log_tail(&log)),
            };
            let expected = &cases[i % cases.len()].expected;
            let good = matches!(&answer.text, Ok(t) if t == expected);
            if !good {
                start.bad_answers += 1;
                if let Err(e) = &answer.text {
                    eprintln!("coldstart: {} invocation {}: {e}", launch.what, answer.id);
                } else {
                    eprintln!(
                        "coldstart: invocation {} answered text different from the expected",
                        answer.id
                    );
                }
            }
            let first = answer.first.unwrap_or(answer.end);
            if i == 0 {
                start.first_byte_ms = ms(first - t0);
                start.complete_ms = ms(answer.end - t0);
                start.frames = answer.frames;
            } else {
                start.warm_first_byte_ms.push(ms(first - handed_out));
                start.warm_complete_ms.push(ms(answer.end - handed_out));
            }
        }
        // The function asks for the next event once it is done with the last one.
        let _ = tokio::time::timeout(limit, next_rx.recv()).await;
        if let Some(m) = Memory::of(pid) {
            start.hwm_kib = m.hwm_kib;
            start.rss_kib = m.rss_kib;
        }
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        let _ = std::fs::remove_file(&log);
        Ok(start)
    }
    .await;
    server.abort();
    result
}

/// Runs every runtime `cfg.starts` times, alternating, against one local endpoint.
pub async fn run(bin: &Path, cfg: &ColdStartConfig) -> anyhow::Result<ColdStartReport> {
    let peers = procs::peers_dir();
    let load_before = crate::report::loadavg();
    let endpoint = procs::local_bedrock(bin, cfg.chunk_delay_ms, 1).await?;
    let cases = cases::cases(cfg.warm + 1, 7, cfg.words)?;
    let mut launches = Vec::new();
    let mut runtimes = Vec::new();
    for rt in Runtime::ALL {
        match launch(rt, bin, &peers) {
            Ok(l) => {
                runtimes.push(RuntimeResult {
                    runtime: rt,
                    what: l.what.clone(),
                    skipped: None,
                    starts: vec![],
                    error: None,
                });
                launches.push(Some(l));
            }
            Err(why) => {
                runtimes.push(RuntimeResult {
                    runtime: rt,
                    what: String::new(),
                    skipped: Some(why),
                    starts: vec![],
                    error: None,
                });
                launches.push(None);
            }
        }
    }
    // One start of each before measuring, so every runtime's files are in the page cache.
    for l in launches.iter().flatten() {
        let _ = one_start(
            l,
            &endpoint.url,
            &cases,
            &ColdStartConfig {
                warm: 0,
                ..cfg.clone()
            },
        )
        .await;
    }
    for round in 0..cfg.starts {
        for (i, l) in launches.iter().enumerate() {
            let Some(l) = l else { continue };
            match one_start(l, &endpoint.url, &cases, cfg).await {
                Ok(s) => runtimes[i].starts.push(s),
                Err(e) => {
                    eprintln!(
                        "coldstart: {} round {round}: {e:#}",
                        runtimes[i].runtime.label()
                    );
                    runtimes[i].error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    let sdk = crate::client::sdk_client(&endpoint.url);
    let mut direct = Vec::new();
    for case in cases.iter().cycle().take(cfg.starts * cfg.warm.max(1)) {
        let r = tokio::time::timeout(cfg.invoke_timeout, crate::latency::direct(&sdk, case)).await;
        if let Ok(Ok((first, _, _, _))) = r {
            direct.push(ms(first));
        }
    }
    for r in &mut runtimes {
        if r.skipped.is_none() && r.starts.is_empty() {
            r.skipped = Some(
                r.error
                    .clone()
                    .unwrap_or_else(|| "no start succeeded".into()),
            );
        }
    }
    Ok(ColdStartReport {
        config: cfg.clone(),
        runtimes,
        direct_first_byte_ms: direct,
        load_before,
        load_after: crate::report::loadavg(),
    })
}

/// The goals rows: (goal, measured, met, conditions).
pub fn goals(r: &ColdStartReport) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    let met = |ok: bool| if ok { "**met**" } else { "**not met**" }.to_string();
    match (r.get(Runtime::Rust), r.get(Runtime::Node), r.speedup_vs(Runtime::Node)) {
        (Some(ours), Some(node), Some(x)) => rows.push([
            "cold start (process start → first streamed byte) ≥ 15× faster than the seed's Node.js handler".into(),
            format!(
                "{x:.1}× ({} ms vs {} ms)",
                ours.first_byte().fmt(1),
                node.first_byte().fmt(1)
            ),
            met(x >= 15.0),
            "Runtime API emulator on loopback; median [min–max] of fresh processes".into(),
        ]),
        _ => rows.push([
            "cold start ≥ 15× faster than the seed's Node.js handler".into(),
            "not measured (a runtime did not run; see Cold start)".into(),
            "**not met**".into(),
            String::new(),
        ]),
    }
    if let Some(ours) = r.get(Runtime::Rust) {
        let peak = ours.hwm_mib();
        rows.push([
            "Lambda binary peak RSS ≤ 16 MiB for one stream".into(),
            format!(
                "{} MiB (VmHWM after the cold and {} warm invocations)",
                peak.fmt(1),
                r.config.warm
            ),
            met(peak.max <= 16.0),
            String::new(),
        ]);
    }
    rows
}

/// The `## Cold start` section.
pub fn markdown(r: &ColdStartReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let c = &r.config;
    let _ = writeln!(s, "## Cold start and memory of the Lambda function\n");
    let _ = writeln!(
        s,
        "`bench coldstart`: each function runs as a fresh process under a Lambda Runtime API emulator \
         (`crates/bench/src/coldstart.rs`, HTTP/1.1 on 127.0.0.1) that hands it one function-URL event \
         with the seed request (Claude v2, {} tokens, one per chunk, from the scripted local endpoint \
         with {} ms between chunks). **Cold first byte** is the spawn of the process → the first byte of \
         the answer's body at the emulator (after the function-URL streaming prelude: what a client would \
         see first); **init** is spawn → its first `GET …/invocation/next`. Then {} warm invocations on the \
         same process, each timed from the moment the event is handed out. **Peak RSS** is the kernel's \
         VmHWM once the function waits for its next event. {} fresh processes per runtime, alternating, \
         after one unmeasured start each (files in the page cache, as on a warm Lambda host; a real \
         Lambda cold start adds the sandbox and code download, the same for every runtime). Every \
         answer is compared with the expected text. Load average {} before, {} after.\n",
        c.words, c.chunk_delay_ms, c.warm, c.starts, r.load_before, r.load_after
    );
    let _ = writeln!(
        s,
        "| function | cold first byte, ms | init, ms | cold answer complete, ms | warm first byte, ms | peak RSS (VmHWM), MiB | body frames (cold) | wrong answers |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    for rt in &r.runtimes {
        if let Some(why) = &rt.skipped {
            let _ = writeln!(
                s,
                "| {} | skipped: {} | | | | | | |",
                rt.runtime.label(),
                why.lines().next().unwrap_or_default()
            );
            continue;
        }
        let frames = Spread::of(&rt.values(|s| s.frames as f64));
        let _ = writeln!(
            s,
            "| {} | **{}** | {} | {} | {} | **{}** | {} | {} |",
            rt.runtime.label(),
            rt.first_byte().fmt(1),
            rt.init().fmt(1),
            rt.complete().fmt(1),
            rt.warm_first_byte().fmt(2),
            rt.hwm_mib().fmt(1),
            frames.fmt(0),
            rt.bad_answers()
        );
    }
    let _ = writeln!(s);
    for (label, rt) in [("Node.js", Runtime::Node), ("Python", Runtime::Python)] {
        if let Some(x) = r.speedup_vs(rt) {
            let _ = writeln!(
                s,
                "Cold first byte: `bedrock-stream-lambda` is **{x:.1}×** faster than the {label} function (medians).\n"
            );
        }
    }
    let direct = crate::stats::Dist::of(&r.direct_first_byte_ms);
    if let Some(ours) = r.get(Runtime::Rust) {
        let _ = writeln!(
            s,
            "Added by the Lambda binary on a warm invocation: first byte p50 {:.2} ms through the emulator \
             vs p50 {:.2} ms for the same request straight to the endpoint through the Rust SDK, so \
             {:.2} ms added (the emulator's own HTTP hops included).\n",
            ours.warm_p50_first_byte(),
            direct.p50,
            ours.warm_p50_first_byte() - direct.p50
        );
    }
    let _ = writeln!(s, "What ran:\n");
    for rt in &r.runtimes {
        if rt.skipped.is_none() {
            let _ = writeln!(s, "- {}: {}", rt.runtime.label(), rt.what);
        }
    }
    let _ = writeln!(
        s,
        "\nThe Node.js function is the seed's logic (`awslambda.streamifyResponse`, \
         `InvokeModelWithResponseStreamCommand`, one `write` per chunk) written for this benchmark; \
         in Lambda's managed nodejs20.x runtime the SDK and the runtime client come with the runtime, \
         here they come from npm, so the module loading is the same work. The Python function cannot \
         stream (Python Lambda functions return one response), so its first byte is its last.\n"
    );
    s
}

/// The cold-start plot: first byte and peak RSS per runtime.
pub fn svg(r: &ColdStartReport) -> String {
    use crate::svg::{Bar, Panel};
    let colors = ["#1f77b4", "#d62728", "#2ca02c"];
    let bar = |rt: &RuntimeResult, i: usize, s: Spread| Bar {
        label: rt.runtime.label().to_string(),
        color: colors[i % colors.len()],
        median: if rt.ran() { s.median } else { f64::NAN },
        min: s.min,
        max: s.max,
    };
    let panel = |title: &str, unit: &str, f: &dyn Fn(&RuntimeResult) -> Spread| Panel {
        title: title.into(),
        unit: unit.into(),
        bars: r
            .runtimes
            .iter()
            .enumerate()
            .map(|(i, rt)| bar(rt, i, f(rt)))
            .collect(),
    };
    crate::svg::bars(
        "Lambda function: cold start and memory (median, min–max whisker)",
        &[
            panel("process start → first streamed byte", "ms", &|rt| {
                rt.first_byte()
            }),
            panel("peak RSS (VmHWM)", "MiB", &|rt| rt.hwm_mib()),
        ],
    )
}
