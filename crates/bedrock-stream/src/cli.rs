//! The command line, as `../PRODUCT.md` fixes it: argument definitions only.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "bedrock-stream",
    version,
    about = "Stream Amazon Bedrock answers: run the function locally, a local Bedrock endpoint, or a signing client"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the function's HTTP handler locally (the same router as in Lambda).
    Serve(ServeArgs),
    /// Run a standalone Bedrock-runtime-compatible endpoint for any AWS SDK.
    LocalBedrock(LocalBedrockArgs),
    /// Stream a request to a function URL (local or deployed), optionally SigV4-signed.
    Invoke(InvokeArgs),
    /// Manage the embedded model.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000", env = "BEDROCK_STREAM_LISTEN")]
    pub listen: SocketAddr,
    /// Where Bedrock is: `local` (in-process local endpoint with the embedded model), `aws`
    /// (real Bedrock, standard credential chain and region), or a Bedrock-runtime URL.
    #[arg(long, default_value = "local")]
    pub bedrock: String,
    /// Engine of the in-process endpoint when `--bedrock local`: model, scripted, or openai=URL.
    #[arg(long, default_value = "model")]
    pub engine: String,
    /// A GGUF model file for the embedded model (default: the fetched SmolLM2).
    #[arg(long, env = "BEDROCK_STREAM_MODEL")]
    pub model: Option<PathBuf>,
    /// Pause between scripted chunks, in milliseconds (`--engine scripted`).
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Request authentication: none, or SigV4 as an AWS_IAM function URL checks it.
    #[arg(long, value_enum, default_value_t = AuthMode::None)]
    pub auth: AuthMode,
    /// AWS shared-credentials file holding the keys `--auth sigv4` accepts.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    None,
    Sigv4,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LocalBedrockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// What writes the text: model (embedded open model), scripted (deterministic, for
    /// tests), or openai=URL (any OpenAI-compatible server such as Ollama or llama.cpp).
    #[arg(long, default_value = "model")]
    pub engine: String,
    /// A GGUF model file for `--engine model` (default: the fetched SmolLM2).
    #[arg(long, env = "BEDROCK_STREAM_MODEL")]
    pub model: Option<PathBuf>,
    /// Pause between the scripted engine's chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Tokens per scripted chunk.
    #[arg(long, default_value_t = 1)]
    pub chunk_tokens: usize,
}

#[derive(Debug, Clone, clap::Args)]
pub struct InvokeArgs {
    /// Function URL (default: the local `serve` address).
    #[arg(default_value = "http://127.0.0.1:3000/")]
    pub url: String,
    /// Request body: JSON, `@FILE`, or `-` for stdin. Without it, PROMPT makes a seed request.
    #[arg(short = 'd', long = "data")]
    pub data: Option<String>,
    /// A prompt, sent as the seed contract's `modelParams.prompt` when no `-d` is given.
    #[arg(long, short = 'p')]
    pub prompt: Option<String>,
    /// Model id for a prompt-only request.
    #[arg(long)]
    pub model_id: Option<String>,
    /// Sign with SigV4 (service `lambda`) using the standard AWS credential chain.
    #[arg(long)]
    pub sigv4: bool,
    /// Region for signing (default: from the AWS config chain, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Output format to ask for.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Sse,
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Fetch the default embedded model into the user cache (checksum-checked).
    Fetch,
    /// Print where the default embedded model is (or would be) stored.
    Path,
}
