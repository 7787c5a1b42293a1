//! `bedrock-stream invoke`: streams a request to a function URL (local or deployed), SigV4-signed
//! when asked, and prints the answer as it arrives.
//!
//! In `text` mode the server is asked for NDJSON and only the text is printed, so the final
//! `done` event (tokens, latency) and a typed `error` event are still seen; a server that answers
//! in plain text anyway (the Node.js seed, say) is printed as is, and its `[bedrock-stream error]`
//! final line is still recognised. In `sse` and `ndjson` modes the raw lines are printed.
//! A short summary goes to stderr; an error (non-2xx, an error event, a cut stream) exits non-zero.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context};
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use bedrock_families::Family;
use bedrock_stream_handler::error::error_chain;
use bedrock_stream_handler::TEXT_ERROR_MARKER;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::cli::{Format, InvokeArgs};

/// The model of a prompt-only request, as in the seed.
pub(crate) const DEFAULT_MODEL_ID: &str = "anthropic.claude-v2";
const SERVICE: &str = "lambda";
const DEFAULT_REGION: &str = "us-east-1";
/// Cap on what is read of an error response.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Cap on one buffered line (SSE/NDJSON parsing); longer lines are printed but not parsed.
const MAX_LINE: usize = 4 * 1024 * 1024;

pub(crate) async fn run_invoke(args: InvokeArgs) -> anyhow::Result<()> {
    let uri: Uri = args
        .url
        .parse()
        .with_context(|| format!("`{}` is not a URL", args.url))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!(
            "`{}`: the URL must start with http:// or https://",
            args.url
        ),
    };
    let host = host_header(&uri)?;
    let body = request_body(&args)?;
    let accept = match args.format {
        Format::Text | Format::Ndjson => "application/x-ndjson",
        Format::Sse => "text/event-stream",
    };
    let mut request = Request::builder()
        .method("POST")
        .uri(uri.clone())
        .header(HOST, host)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, accept)
        .header(
            USER_AGENT,
            concat!("bedrock-stream/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(body.clone())))
        .context("building the request")?;
    if args.sigv4 {
        sign_request(&mut request, &body, args.region.as_deref()).await?;
    }

    let client = http_client(https)?;
    let started = Instant::now();
    let response = client
        .request(request)
        .await
        .map_err(|e| anyhow!("cannot reach {}: {}", args.url, error_chain(&e)))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = response.into_body();

    if !status.is_success() {
        let mut buf = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(d) = frame.data_ref() {
                let room = MAX_ERROR_BODY.saturating_sub(buf.len());
                buf.extend_from_slice(&d[..d.len().min(room)]);
                if buf.len() >= MAX_ERROR_BODY {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim();
        eprintln!("{text}");
        bail!("HTTP {status} from {}", args.url);
    }

    let mode = if content_type.starts_with("application/x-ndjson") {
        if args.format == Format::Text {
            Mode::TextFromNdjson
        } else {
            Mode::RawNdjson
        }
    } else if content_type.starts_with("text/event-stream") {
        Mode::RawSse
    } else {
        Mode::Passthrough
    };
    let mut printer = Printer::new(mode);
    let mut first_byte: Option<Duration> = None;
    let mut stream_error: Option<String> = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    if data.is_empty() {
                        continue;
                    }
                    first_byte.get_or_insert_with(|| started.elapsed());
                    printer.feed(data)?;
                }
            }
            Err(e) => {
                stream_error = Some(error_chain(&e));
                break;
            }
        }
    }
    printer.finish()?;
    let total = started.elapsed();

    if let Some(e) = printer.error.take() {
        eprintln!("{}", printer.summary(first_byte, total));
        bail!("the stream failed after it started: {e}");
    }
    if let Some(e) = stream_error {
        eprintln!("{}", printer.summary(first_byte, total));
        bail!("the connection broke mid-stream: {e}");
    }
    if printer.mode != Mode::Passthrough && printer.done.is_none() {
        eprintln!("{}", printer.summary(first_byte, total));
        bail!("the stream ended without its final `done` event: the answer may be cut short");
    }
    eprintln!("{}", printer.summary(first_byte, total));
    Ok(())
}

/// `host[:port]`, leaving out the scheme's default port as HTTP clients and SigV4 signers do.
fn host_header(uri: &Uri) -> anyhow::Result<HeaderValue> {
    let host = uri.host().ok_or_else(|| anyhow!("the URL has no host"))?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    let value = match uri.port_u16() {
        Some(p) if p != default_port => format!("{host}:{p}"),
        _ => host.to_string(),
    };
    HeaderValue::from_str(&value).context("the URL's host is not a valid Host header")
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .context("reading the request body from stdin")?;
    Ok(buf)
}

/// `-d` as given (JSON, `@FILE`, `-`), or a seed request made from `--prompt`.
fn request_body(args: &InvokeArgs) -> anyhow::Result<Vec<u8>> {
    match (&args.data, &args.prompt) {
        (Some(_), Some(_)) => bail!("give either -d/--data or --prompt, not both"),
        (Some(d), None) if d == "-" || d == "@-" => read_stdin(),
        (Some(d), None) => match d.strip_prefix('@') {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("cannot read the request body from {path}"))
            }
            None => Ok(d.clone().into_bytes()),
        },
        (None, Some(prompt)) => {
            let model_id = args.model_id.as_deref().unwrap_or(DEFAULT_MODEL_ID);
            serde_json::to_vec(&seed_request(model_id, prompt)).context("encoding the request")
        }
        (None, None) => bail!(
            "nothing to send: give a body with -d JSON, -d @FILE or -d - (stdin), or a prompt with --prompt TEXT"
        ),
    }
}

/// The seed contract's request for one prompt, in the model family's own body shape.
pub(crate) fn seed_request(model_id: &str, prompt: &str) -> Value {
    const MAX: u32 = 1024;
    let messages = json!([{"role": "user", "content": prompt}]);
    let model_params = match Family::from_model_id(model_id) {
        Some(Family::AnthropicText) => json!({"prompt": prompt, "max_tokens_to_sample": MAX}),
        Some(Family::AnthropicMessages) => json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": MAX,
            "messages": messages,
        }),
        Some(Family::Titan) => {
            json!({"inputText": prompt, "textGenerationConfig": {"maxTokenCount": MAX}})
        }
        Some(Family::Llama) => json!({
            "prompt": format!("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
            "max_gen_len": MAX,
        }),
        Some(Family::Mistral) => {
            json!({"prompt": format!("<s>[INST] {prompt} [/INST]"), "max_tokens": MAX})
        }
        Some(Family::MistralChat | Family::OpenAiChat) => {
            json!({"messages": messages, "max_tokens": MAX})
        }
        Some(Family::Cohere) => json!({"prompt": prompt, "max_tokens": MAX}),
        Some(Family::CohereChat) => json!({"message": prompt, "max_tokens": MAX}),
        Some(Family::Nova) => json!({
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"max_new_tokens": MAX},
        }),
        Some(Family::OpenAiText) => json!({
            "prompt": format!("<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}><\u{ff5c}User\u{ff5c}>{prompt}<\u{ff5c}Assistant\u{ff5c}>"),
            "max_tokens": MAX,
        }),
        #[allow(unreachable_patterns)]
        _ => json!({"prompt": prompt, "max_tokens": MAX}),
    };
    json!({
        "bedrockParams": {"modelId": model_id, "contentType": "application/json", "accept": "application/json"},
        "modelParams": model_params,
    })
}

/// Signs for service `lambda` with the standard AWS credential chain; the region from
/// `--region`, else the AWS config chain, else us-east-1.
async fn sign_request(
    request: &mut Request<Full<Bytes>>,
    body: &[u8],
    region: Option<&str>,
) -> anyhow::Result<()> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    let conf = loader.load().await;
    let region = region
        .map(str::to_string)
        .or_else(|| conf.region().map(|r| r.to_string()))
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    let provider = conf
        .credentials_provider()
        .ok_or_else(|| anyhow!("--sigv4: no AWS credentials provider is configured"))?;
    let credentials = provider.provide_credentials().await.map_err(|e| {
        anyhow!(
            "--sigv4: no AWS credentials found ({}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
            error_chain(&e)
        )
    })?;
    let identity: Identity = credentials.into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name(SERVICE)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .context("SigV4 signing parameters")?
        .into();
    let uri = request.uri().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .context("preparing the request for SigV4")?;
    let (instructions, _signature) = sign(signable, &params)
        .context("signing the request with SigV4")?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    tracing::debug!(region = %region, service = SERVICE, "request signed with SigV4");
    Ok(())
}

fn http_client(https: bool) -> anyhow::Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = if https {
        builder
            .with_provider_and_native_roots(provider)
            .context("loading the system's root certificates for https")?
    } else {
        let config = rustls::ClientConfig::builder_with_provider(provider.into())
            .with_safe_default_protocol_versions()
            .context("TLS configuration")?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        builder.with_tls_config(config)
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let connector = builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// NDJSON from the server, only the text printed.
    TextFromNdjson,
    /// NDJSON printed as it came; events read for the summary.
    RawNdjson,
    /// SSE printed as it came; events read for the summary.
    RawSse,
    /// Anything else (plain text), printed as it came.
    Passthrough,
}

/// Prints the response as it arrives and keeps what the summary needs.
struct Printer {
    mode: Mode,
    /// The line being received (parsed modes), or the start of it (passthrough).
    line: Vec<u8>,
    line_too_long: bool,
    /// Passthrough: the last complete non-empty line, to spot the text error marker.
    last_line: Vec<u8>,
    sse_event: Option<String>,
    done: Option<Value>,
    /// OpenAI-shaped usage, when the stream carries one.
    usage: Option<Value>,
    error: Option<String>,
    last_printed: Option<u8>,
}

impl Printer {
    fn new(mode: Mode) -> Self {
        Printer {
            mode,
            line: Vec::new(),
            line_too_long: false,
            last_line: Vec::new(),
            sse_event: None,
            done: None,
            usage: None,
            error: None,
            last_printed: None,
        }
    }

    fn print(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .context("writing to stdout")?;
        self.last_printed = bytes.last().copied();
        Ok(())
    }

    fn feed(&mut self, data: &[u8]) -> anyhow::Result<()> {
        if self.mode != Mode::TextFromNdjson {
            self.print(data)?;
        }
        for piece in data.split_inclusive(|b| *b == b'\n') {
            let complete = piece.last() == Some(&b'\n');
            let content = if complete {
                &piece[..piece.len() - 1]
            } else {
                piece
            };
            if self.line.len() + content.len() > MAX_LINE {
                self.line_too_long = true;
                if self.mode == Mode::TextFromNdjson {
                    // Not a line of ours: show it rather than lose it.
                    let pending = std::mem::take(&mut self.line);
                    self.print(&pending)?;
                    self.print(content)?;
                }
            } else if !self.line_too_long {
                self.line.extend_from_slice(content);
            } else if self.mode == Mode::TextFromNdjson {
                self.print(content)?;
            }
            if complete {
                let line = std::mem::take(&mut self.line);
                let too_long = std::mem::replace(&mut self.line_too_long, false);
                if too_long {
                    if self.mode == Mode::TextFromNdjson {
                        self.print(b"\n")?;
                    }
                } else {
                    self.line_done(line)?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if !self.line.is_empty() && !self.line_too_long {
            let line = std::mem::take(&mut self.line);
            self.line_done(line)?;
        }
        if self.mode == Mode::Passthrough {
            let last = String::from_utf8_lossy(&self.last_line);
            if let Some(rest) = last.trim().strip_prefix(TEXT_ERROR_MARKER) {
                self.error = Some(rest.trim().to_string());
            }
        }
        let ends_in_newline = self.last_printed.is_none_or(|b| b == b'\n');
        if !ends_in_newline && std::io::stdout().is_terminal() {
            self.print(b"\n")?;
        }
        Ok(())
    }

    fn line_done(&mut self, line: Vec<u8>) -> anyhow::Result<()> {
        match self.mode {
            Mode::Passthrough => {
                if !line.iter().all(u8::is_ascii_whitespace) {
                    self.last_line = line;
                }
            }
            Mode::RawNdjson => {
                if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                    self.ndjson_event(&v);
                }
            }
            Mode::TextFromNdjson => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    return Ok(());
                }
                match serde_json::from_slice::<Value>(&line) {
                    Ok(v) => match v.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            let text = v.get("text").and_then(Value::as_str).unwrap_or("");
                            self.print(text.as_bytes())?;
                        }
                        Some("raw") => {
                            let mut s = v.get("chunk").cloned().unwrap_or(Value::Null).to_string();
                            s.push('\n');
                            self.print(s.as_bytes())?;
                        }
                        Some(_) => self.ndjson_event(&v),
                        None => {
                            let mut line = line;
                            line.push(b'\n');
                            self.print(&line)?;
                        }
                    },
                    Err(_) => {
                        let mut line = line;
                        line.push(b'\n');
                        self.print(&line)?;
                    }
                }
            }
            Mode::RawSse => {
                let text = String::from_utf8_lossy(&line);
                let text = text.strip_suffix('\r').unwrap_or(&text);
                if text.is_empty() {
                    self.sse_event = None;
                } else if let Some(name) = text.strip_prefix("event:") {
                    self.sse_event = Some(name.trim().to_string());
                } else if let Some(data) = text.strip_prefix("data:") {
                    let data = data.strip_prefix(' ').unwrap_or(data);
                    if let Ok(v) = serde_json::from_str::<Value>(data) {
                        match self.sse_event.as_deref() {
                            Some("done") => self.done = Some(v),
                            Some("error") => self.error = Some(describe_error(&v)),
                            // OpenAI-shaped chunks: an error object, or usage at the end.
                            _ => {
                                if v.get("error").is_some_and(Value::is_object) {
                                    self.error = Some(describe_error(&v));
                                }
                                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                                    self.usage = Some(u.clone());
                                }
                            }
                        }
                    } else if data.trim() == "[DONE]" {
                        self.done.get_or_insert_with(|| json!({}));
                    }
                }
            }
        }
        Ok(())
    }

    fn ndjson_event(&mut self, v: &Value) {
        match v.get("type").and_then(Value::as_str) {
            Some("done") => self.done = Some(v.clone()),
            Some("error") => self.error = Some(describe_error(v)),
            _ => {}
        }
    }

    fn summary(&self, first_byte: Option<Duration>, total: Duration) -> String {
        let mut parts: Vec<String> = Vec::new();
        let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
        if let Some(d) = &self.done {
            if let Some(s) = d.get("stop_reason").and_then(Value::as_str) {
                parts.push(format!("stop {s}"));
            }
            match (num(d, "input_tokens"), num(d, "output_tokens")) {
                (None, None) => {}
                (i, o) => parts.push(format!(
                    "tokens in {}, out {}",
                    i.map_or("?".into(), |n| n.to_string()),
                    o.map_or("?".into(), |n| n.to_string())
                )),
            }
            if let Some(ms) = num(d, "first_byte_ms") {
                parts.push(format!("first byte {ms} ms"));
            }
            if let Some(ms) = num(d, "total_ms") {
                parts.push(format!("total {ms} ms"));
            }
        }
        if let Some(u) = &self.usage {
            if let (Some(i), Some(o)) = (num(u, "prompt_tokens"), num(u, "completion_tokens")) {
                parts.push(format!("tokens in {i}, out {o}"));
            }
        }
        let client = match first_byte {
            Some(fb) => format!(
                "client: first byte {} ms, total {} ms",
                fb.as_millis(),
                total.as_millis()
            ),
            None => format!("client: total {} ms, no body", total.as_millis()),
        };
        if parts.is_empty() {
            format!("-- {client}")
        } else {
            format!("-- {} ({client})", parts.join(", "))
        }
    }
}

/// `type: message` from `{"error":{"type","message"}}` (ours and OpenAI's shape).
fn describe_error(v: &Value) -> String {
    let e = v.get("error").unwrap_or(v);
    let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| e.to_string());
    format!("{kind}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_requests_per_family() {
        let r = seed_request(DEFAULT_MODEL_ID, "hi");
        assert_eq!(r["bedrockParams"]["modelId"], "anthropic.claude-v2");
        assert_eq!(r["modelParams"]["prompt"], "hi");
        assert_eq!(r["modelParams"]["max_tokens_to_sample"], 1024);
        let r = seed_request("amazon.titan-text-express-v1", "hi");
        assert_eq!(r["modelParams"]["inputText"], "hi");
        let r = seed_request("us.amazon.nova-lite-v1:0", "hi");
        assert_eq!(r["modelParams"]["messages"][0]["content"][0]["text"], "hi");
        let r = seed_request("anthropic.claude-3-haiku-20240307-v1:0", "hi");
        assert_eq!(r["modelParams"]["messages"][0]["content"], "hi");
    }

    #[test]
    fn host_headers() {
        let h = |u: &str| host_header(&u.parse().unwrap()).unwrap();
        assert_eq!(h("http://127.0.0.1:3000/"), "127.0.0.1:3000");
        assert_eq!(
            h("https://abc.lambda-url.us-east-1.on.aws/"),
            "abc.lambda-url.us-east-1.on.aws"
        );
        assert_eq!(h("https://x.on.aws:443/"), "x.on.aws");
        assert_eq!(h("http://x:443/"), "x:443");
    }

    #[test]
    fn sse_and_ndjson_events_are_read_across_chunks() {
        let mut p = Printer::new(Mode::RawSse);
        p.line_done(b"event: done".to_vec()).unwrap();
        p.line_done(br#"data: {"output_tokens":3,"total_ms":5}"#.to_vec())
            .unwrap();
        assert_eq!(p.done.as_ref().unwrap()["output_tokens"], 3);
        let s = p.summary(Some(Duration::from_millis(1)), Duration::from_millis(9));
        assert!(
            s.contains("tokens in ?, out 3") && s.contains("total 5 ms"),
            "{s}"
        );

        let mut p = Printer::new(Mode::RawNdjson);
        p.line_done(
            br#"{"type":"error","error":{"type":"model_stream_error","message":"boom"}}"#.to_vec(),
        )
        .unwrap();
        assert_eq!(p.error.as_deref(), Some("model_stream_error: boom"));

        let mut p = Printer::new(Mode::Passthrough);
        p.line_done(b"some text".to_vec()).unwrap();
        p.line_done(b"[bedrock-stream error] throttled: slow down".to_vec())
            .unwrap();
        p.finish().unwrap();
        assert_eq!(p.error.as_deref(), Some("throttled: slow down"));
    }
}
