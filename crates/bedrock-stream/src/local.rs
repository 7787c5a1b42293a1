//! `local-bedrock` and `serve`.

use std::net::SocketAddr;

use anyhow::Context;
use aws_sdk_bedrockruntime::config::{Credentials, Region};
use bedrock_local::LocalBedrock;
use bedrock_stream_handler::{router, App, Config};
use sigv4_verifier::Verifier;
use tokio::net::TcpListener;

use crate::cli::{AuthMode, LocalBedrockArgs, ServeArgs};
use crate::engines::{self, EngineChoice};

pub(crate) async fn run_local_bedrock(args: LocalBedrockArgs) -> anyhow::Result<()> {
    let engine = engines::build(&EngineChoice {
        engine: args.engine.clone(),
        model: args.model.clone(),
        chunk_delay_ms: args.chunk_delay_ms,
        chunk_tokens: args.chunk_tokens,
    })
    .await?;
    let server = LocalBedrock::new(engine);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "local-bedrock listening on http://{addr} ({}); point an AWS SDK at it with endpoint_url=http://{addr}",
        server.describe()
    );
    server
        .serve(listener, crate::shutdown_signal())
        .await
        .context("serving")?;
    eprintln!("local-bedrock stopped");
    Ok(())
}

/// An SDK client for a local or custom endpoint. It does not walk the AWS credential and region
/// chain (no IMDS probes): region from `AWS_REGION`/`AWS_DEFAULT_REGION` or us-east-1, keys from
/// the environment or harmless placeholders (a local endpoint checks no signature).
fn client_for_endpoint(url: &str) -> aws_sdk_bedrockruntime::Client {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let credentials = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(k), Some(s)) => Credentials::new(k, s, env("AWS_SESSION_TOKEN"), None, "environment"),
        _ => Credentials::new(
            "AKIDLOCALBEDROCK",
            "local-bedrock-needs-no-secret",
            None,
            None,
            "bedrock-stream-local",
        ),
    };
    // AWS_MAX_ATTEMPTS as the AWS config chain reads it (the SDK default is 3).
    let attempts = env("AWS_MAX_ATTEMPTS")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(3)
        .max(1);
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
        .retry_config(
            aws_sdk_bedrockruntime::config::retry::RetryConfig::standard()
                .with_max_attempts(attempts),
        )
        .region(Region::new(region))
        .endpoint_url(url)
        .credentials_provider(credentials)
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

pub(crate) async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::from_env().context("reading configuration from the environment")?;
    // Keeps the in-process local endpoint alive for as long as we serve.
    let mut _local = None;
    let bedrock_desc;
    let client = match args.bedrock.as_str() {
        "local" => {
            let engine = engines::build(&EngineChoice {
                engine: args.engine.clone(),
                model: args.model.clone(),
                chunk_delay_ms: args.chunk_delay_ms,
                chunk_tokens: 1,
            })
            .await?;
            let server = LocalBedrock::new(engine);
            let desc = server.describe();
            let running = server
                .spawn("127.0.0.1:0".parse()?)
                .await
                .context("starting the in-process local Bedrock endpoint")?;
            let url = running.url();
            bedrock_desc = format!("local Bedrock endpoint at {url}, {desc}");
            config.endpoint_url = Some(url.clone());
            _local = Some(running);
            client_for_endpoint(&url)
        }
        "aws" => {
            bedrock_desc = "Amazon Bedrock (AWS credential chain and region)".to_string();
            bedrock_stream_handler::bedrock_client(&config).await
        }
        url if bedrock_stream_handler::config::is_http_url(url) => {
            bedrock_desc = format!("Bedrock-runtime endpoint at {url}");
            config.endpoint_url = Some(url.to_string());
            client_for_endpoint(url)
        }
        other => anyhow::bail!("--bedrock {other}: use local, aws, or an http(s):// URL"),
    };
    let sigv4 = if args.auth == AuthMode::Sigv4 {
        let file = args.credentials_file.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "--auth sigv4 needs --credentials-file F: an AWS shared-credentials file with the keys to accept"
            )
        })?;
        let region = std::env::var("AWS_REGION")
            .ok()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| "us-east-1".to_string());
        let verifier = Verifier::from_credentials_file(file, &region).await?;
        eprintln!(
            "SigV4 auth on (service {}, region {}, {} keys)",
            verifier.service(),
            verifier.region(),
            verifier.key_count()
        );
        Some(verifier)
    } else {
        None
    };
    if sigv4.is_none() && !is_loopback(&args.listen) {
        eprintln!(
            "WARNING: serving on {} with --auth none: anyone who can reach this address can spend your Bedrock tokens.",
            args.listen
        );
    }
    let limits = config.clone();
    let app = router(App::new(client, config));
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!("bedrock-stream serve listening on http://{addr} ({bedrock_desc})");
    eprintln!("try: curl -s -XPOST -d @events/event.json http://{addr} --no-buffer");
    crate::serve::run(listener, app, &limits, sigv4, crate::shutdown_signal())
        .await
        .context("serving")?;
    eprintln!("bedrock-stream serve stopped");
    Ok(())
}
