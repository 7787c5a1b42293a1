//! Cold start and memory of a Lambda function under the Lambda Runtime API emulator
//! (`crates/lambda-emulator`): `bedrock-stream-lambda` vs the seed's logic in Node.js 20 (AWS SDK
//! v3 under the npm Runtime Interface Client) vs a Python boto3 handler (under the PyPI one).
//!
//! For each start: spawn the function process with `AWS_LAMBDA_RUNTIME_API` pointing at a fresh
//! emulator, which hands it one function-URL event (the seed request) on its first
//! `GET …/invocation/next`. Timed from just before the spawn: the first `next` (init done), the
//! first body byte of the answer at the emulator (after the streaming prelude, i.e. what a
//! function-URL client would see first) and the end of the answer. Then `warm` more invocations
//! on the same process, each timed from handing out the event. The process's peak RSS (VmHWM)
//! is read once it waits for the next event after the last one, then it is killed. Every
//! answer's text is compared with what the scripted engine sends.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use lambda_emulator::{Emulator, Report};

use super::cases::{self, Case, MODEL_ID};
use super::Size;
use crate::harness::system::{self, Memory};
use crate::harness::{bedrock_stream, client, log_path, log_tail, node, peers_dir, python, Launch};
use crate::stats::{ms, Dist, Spread};

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
        ColdStartConfig {
            starts: size.pick(2, 15),
            warm: size.pick(3, 20),
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
    /// Body frames in the cold answer after the prelude (1 when buffered).
    pub frames: usize,
    /// Peak RSS (VmHWM) after all invocations, KiB.
    pub hwm_kib: u64,
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
    /// `f` over the starts: median [min–max].
    pub fn spread(&self, f: impl Fn(&Start) -> f64) -> Spread {
        Spread::of(&self.starts.iter().map(f).collect::<Vec<_>>())
    }
    pub fn first_byte(&self) -> Spread {
        self.spread(|s| s.first_byte_ms)
    }
    pub fn hwm_mib(&self) -> Spread {
        self.spread(|s| s.hwm_kib as f64 / 1024.0)
    }
    /// Every warm invocation's first byte, ms, over all processes.
    pub fn warm_first_bytes(&self) -> Vec<f64> {
        self.starts
            .iter()
            .flat_map(|s| s.warm_first_byte_ms.iter().copied())
            .collect()
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
    /// Load averages before and after.
    pub load_before: String,
    pub load_after: String,
}

impl ColdStartReport {
    pub fn get(&self, rt: Runtime) -> Option<&RuntimeResult> {
        self.runtimes.iter().find(|r| r.runtime == rt && r.ran())
    }

    /// `rt`'s median cold first byte over ours.
    pub fn speedup_vs(&self, rt: Runtime) -> Option<f64> {
        let ours = self.get(Runtime::Rust)?.first_byte().median;
        let theirs = self.get(rt)?.first_byte().median;
        (ours > 0.0).then(|| theirs / ours)
    }

    pub fn bad_answers(&self) -> usize {
        self.runtimes.iter().map(RuntimeResult::bad_answers).sum()
    }

    /// Our binary ran and every answer was right.
    pub fn passed(&self) -> bool {
        self.bad_answers() == 0 && self.get(Runtime::Rust).is_some()
    }
}

/// What the emulator saw of one invocation: first body byte after the prelude, end, body frames
/// after the prelude, the answer's text or what went wrong.
struct Answer {
    first: Option<Instant>,
    end: Instant,
    frames: usize,
    text: Result<String, String>,
}

fn answer(report: Report) -> Answer {
    let failed = |why: String| Answer {
        first: None,
        end: Instant::now(),
        frames: 0,
        text: Err(why),
    };
    let rec = match report {
        Report::Response(rec) => rec,
        Report::Error(e) => return failed(format!("the function reported an error: {}", e.body)),
        Report::InitError(e) => return failed(format!("init error: {}", e.body)),
    };
    let body: Vec<_> = if rec.has_prelude() {
        rec.split().map(|p| p.chunks).unwrap_or_default()
    } else {
        rec.frames.clone()
    };
    let body: Vec<_> = body.into_iter().filter(|c| !c.bytes.is_empty()).collect();
    let text: Vec<u8> = body.iter().flat_map(|c| c.bytes.iter().copied()).collect();
    let trailer = rec
        .trailers
        .as_ref()
        .and_then(|(_, t)| t.get("lambda-runtime-function-error-type"));
    let text = if let Some(e) = &rec.body_error {
        Err(e.clone())
    } else if let Some(kind) = trailer {
        Err(format!(
            "error trailer: {}",
            String::from_utf8_lossy(kind.as_bytes())
        ))
    } else if rec.has_prelude() && rec.split().is_none() {
        Err("no end of the streaming prelude".into())
    } else if rec.streaming() {
        Ok(String::from_utf8_lossy(&text).into_owned())
    } else {
        // A buffered function-URL answer: {"statusCode": 200, "body": "…"}.
        match serde_json::from_slice::<serde_json::Value>(&text) {
            Ok(v) if v["statusCode"] == 200 => {
                Ok(v["body"].as_str().unwrap_or_default().to_string())
            }
            Ok(v) => Err(format!("answer {v}")),
            Err(e) => Err(format!("not JSON: {e}")),
        }
    };
    Answer {
        first: body.first().map(|c| c.at),
        end: rec.ended,
        frames: body.len(),
        text,
    }
}

/// The function's environment, as Lambda sets it (dummy credentials; the SDK's endpoint is the
/// local one), before the runtime's own variables.
fn lambda_env(launch: &Launch, runtime_api: &str, endpoint: &str) -> Vec<(String, String)> {
    let task_root = launch
        .dir
        .as_deref()
        .unwrap_or(Path::new("."))
        .to_string_lossy()
        .into_owned();
    let env = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("LAMBDA_TASK_ROOT", &task_root),
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
    ];
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    env.chain(launch.env.iter().cloned()).collect()
}

/// Starts one process of `launch` against a fresh emulator and runs `1 + warm` invocations.
async fn one_start(
    launch: &Launch,
    endpoint: &str,
    cases: &[Case],
    cfg: &ColdStartConfig,
) -> anyhow::Result<Start> {
    let mut emu = Emulator::bind().await?;
    let function = Launch {
        clear_env: true,
        env: lambda_env(launch, &emu.runtime_api(), endpoint),
        ..launch.clone()
    };
    let log = log_path("coldstart");
    let mut cmd = function.command(&log)?;
    let case = |i: usize| &cases[i % cases.len()];
    let event = |emu: &Emulator, i: usize, id: &str| {
        emu.push_url_event(
            id,
            "POST",
            "/",
            Some(&String::from_utf8_lossy(&case(i).seed_body)),
        );
    };
    event(&emu, 0, "cold-0");
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", launch.program.display()))?;
    let limit = cfg.invoke_timeout;
    let first_next = tokio::select! {
        n = emu.next_poll(limit) => n,
        status = child.wait() => bail!("the function exited ({status:?}) before its first next:\n{}", log_tail(&log)),
    };
    let Some(init) = first_next else {
        bail!("no first next within {limit:?}:\n{}", log_tail(&log))
    };
    let mut start = Start {
        init_ms: ms(init - t0),
        ..Default::default()
    };
    let mut handed_out = t0;
    for i in 0..=cfg.warm {
        if i > 0 {
            // Waits until the function asks for the next event, so the timing starts when the
            // function can take it (as in Lambda, where the event waits for `next`).
            if emu.next_poll(limit).await.is_none() {
                bail!(
                    "the function did not ask for event {i}:\n{}",
                    log_tail(&log)
                );
            }
            handed_out = Instant::now();
            event(&emu, i, &format!("warm-{i}"));
        }
        let Some(report) = emu.next_report(limit).await else {
            bail!(
                "no answer to invocation {i} within {limit:?}:\n{}",
                log_tail(&log)
            )
        };
        let a = answer(report);
        let bad = match &a.text {
            Ok(t) if *t == case(i).expected => None,
            Ok(_) => Some("answered text different from the expected".to_string()),
            Err(e) => Some(e.clone()),
        };
        if let Some(why) = bad {
            start.bad_answers += 1;
            eprintln!("coldstart: {} invocation {i}: {why}", launch.what);
        }
        let first = a.first.unwrap_or(a.end);
        if i == 0 {
            (start.first_byte_ms, start.complete_ms, start.frames) =
                (ms(first - t0), ms(a.end - t0), a.frames);
        } else {
            start.warm_first_byte_ms.push(ms(first - handed_out));
        }
    }
    // The function asks for the next event once it is done with the last one.
    let _ = emu.next_poll(limit).await;
    if let Some(m) = child.id().and_then(Memory::of) {
        start.hwm_kib = m.hwm_kib;
    }
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let _ = std::fs::remove_file(&log);
    Ok(start)
}

/// Runs every runtime `cfg.starts` times, alternating, against one local endpoint.
pub async fn run(bin: &Path, cfg: &ColdStartConfig) -> anyhow::Result<ColdStartReport> {
    let peers = peers_dir();
    let load_before = system::loadavg();
    let endpoint = bedrock_stream::local_bedrock(bin, cfg.chunk_delay_ms).await?;
    let cases = cases::cases(cfg.warm + 1, 7, cfg.words)?;
    let launches: Vec<Result<Launch, String>> = vec![
        bedrock_stream::lambda_function(bin),
        node::lambda_function(&peers),
        python::lambda_function(&peers),
    ];
    let mut runtimes: Vec<RuntimeResult> = Runtime::ALL
        .iter()
        .zip(&launches)
        .map(|(rt, l)| RuntimeResult {
            runtime: *rt,
            what: l.as_ref().map(|l| l.what.clone()).unwrap_or_default(),
            skipped: l.as_ref().err().cloned(),
            starts: vec![],
            error: None,
        })
        .collect();
    // One start of each before measuring, so every runtime's files are in the page cache.
    let unmeasured = ColdStartConfig {
        warm: 0,
        ..cfg.clone()
    };
    for l in launches.iter().flatten() {
        let _ = one_start(l, &endpoint.url, &cases, &unmeasured).await;
    }
    for round in 0..cfg.starts {
        for (r, l) in runtimes.iter_mut().zip(&launches) {
            let Ok(l) = l else { continue };
            match one_start(l, &endpoint.url, &cases, cfg).await {
                Ok(s) => r.starts.push(s),
                Err(e) => {
                    eprintln!("coldstart: {} round {round}: {e:#}", r.runtime.label());
                    r.error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    let sdk = client::sdk_client(&endpoint.url);
    let mut direct = Vec::new();
    for case in cases.iter().cycle().take(cfg.starts * cfg.warm.max(1)) {
        let call = client::invoke_stream(&sdk, MODEL_ID, &case.model_body);
        if let Ok(Ok(d)) = tokio::time::timeout(cfg.invoke_timeout, call).await {
            direct.push(ms(d.first));
        }
    }
    endpoint.stop().await;
    for r in runtimes
        .iter_mut()
        .filter(|r| r.skipped.is_none() && r.starts.is_empty())
    {
        r.skipped = Some(
            r.error
                .clone()
                .unwrap_or_else(|| "no start succeeded".into()),
        );
    }
    Ok(ColdStartReport {
        config: cfg.clone(),
        runtimes,
        direct_first_byte_ms: direct,
        load_before,
        load_after: system::loadavg(),
    })
}

/// Median of every warm invocation's first byte, ms.
pub fn warm_p50(r: &RuntimeResult) -> f64 {
    Dist::of(&r.warm_first_bytes()).p50
}
