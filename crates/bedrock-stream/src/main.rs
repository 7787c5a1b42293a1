//! `bedrock-stream`: serve, local-bedrock, invoke and model.

mod cli;
mod engines;
mod invoke;
mod local;
mod serve;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    let result = match cli.command {
        cli::Command::LocalBedrock(args) => local::run_local_bedrock(args).await,
        cli::Command::Serve(args) => local::run_serve(args).await,
        cli::Command::Invoke(args) => invoke::run_invoke(args).await,
        cli::Command::Model { command } => model_command(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bedrock-stream: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn model_command(command: cli::ModelCommand) -> anyhow::Result<()> {
    match command {
        cli::ModelCommand::Path => {
            println!(
                "{}",
                bedrock_local_model::fetch::default_model_path().display()
            );
            Ok(())
        }
        cli::ModelCommand::Fetch => {
            let path =
                tokio::task::spawn_blocking(|| bedrock_local_model::fetch::fetch_default(true))
                    .await??;
            println!("{}", path.display());
            Ok(())
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
