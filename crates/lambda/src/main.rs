//! The bedrock-stream Lambda function: the handler's `Router` behind our streaming
//! Runtime API client.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bedrock_stream_lambda::init_tracing();
    let router = match bedrock_stream_handler::router_from_env().await {
        Ok(router) => router,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "initialisation failed");
            if let Err(report) = bedrock_stream_lambda::report_init_error(&error).await {
                tracing::error!(error = %format!("{report:#}"), "could not report the init error");
            }
            return Err(error);
        }
    };
    bedrock_stream_lambda::run(router).await
}
