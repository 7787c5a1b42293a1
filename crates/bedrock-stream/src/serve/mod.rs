//! `serve`: the handler's router behind an HTTP server that bounds what slow, idle and
//! unauthenticated clients can hold (see `server`, `intake`, `watch`).

pub(crate) mod intake;
pub(crate) mod server;
pub(crate) mod watch;

use std::future::Future;

use bedrock_stream_handler::body::end_streams_cleanly;
use bedrock_stream_handler::Config;
use sigv4_verifier::Verifier;
use tokio::net::TcpListener;

/// File descriptors kept for everything but client connections (the Bedrock client's, logs…).
const SPARE_FDS: u64 = 64;

/// Serves `router` with `config`'s limits until `shutdown` resolves.
pub(crate) async fn run(
    listener: TcpListener,
    router: axum::Router,
    config: &Config,
    verifier: Option<Verifier>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let max_connections = connection_cap(config.max_connections);
    let intake = intake::Intake::new(
        verifier,
        config.max_body_bytes,
        config.body_read_timeout,
        config.max_unauthenticated_bytes,
    );
    let idle = config.idle_timeout;
    let app = end_streams_cleanly(intake::layer(router, intake))
        .layer(axum::middleware::from_fn_with_state(idle, watch::watch));
    let limits = server::Limits {
        max_connections,
        header_read_timeout: config.header_read_timeout,
        write_stall: idle,
    };
    server::serve(listener, app, limits, shutdown).await?;
    Ok(())
}

/// `MAX_CONNECTIONS`, within what the process may open: the soft file-descriptor limit is
/// raised to the hard one first.
fn connection_cap(wanted: usize) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let fit = usize::try_from(limit.saturating_sub(SPARE_FDS).max(1)).unwrap_or(usize::MAX);
    if wanted > fit {
        tracing::warn!(
            max_connections = wanted,
            file_descriptor_limit = limit,
            "MAX_CONNECTIONS is above what the file-descriptor limit allows; serving at most {fit}"
        );
        fit
    } else {
        wanted
    }
}
