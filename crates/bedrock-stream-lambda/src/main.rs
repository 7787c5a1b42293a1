//! The bedrock-stream Lambda function: the handler's `Router` behind our streaming
//! Runtime API client.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bedrock_stream_lambda::init_tracing();
    let setup = async {
        let config = bedrock_stream_handler::Config::from_env()?;
        let margin = config.deadline_margin;
        let client = bedrock_stream_handler::bedrock_client(&config).await;
        anyhow::Ok((
            bedrock_stream_handler::router(bedrock_stream_handler::App::new(client, config)),
            margin,
        ))
    };
    let (router, margin) = match setup.await {
        Ok(ready) => ready,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "initialisation failed");
            if let Err(report) = bedrock_stream_lambda::report_init_error(&error).await {
                tracing::error!(error = %format!("{report:#}"), "could not report the init error");
            }
            return Err(error);
        }
    };
    bedrock_stream_lambda::run(router, margin).await
}
