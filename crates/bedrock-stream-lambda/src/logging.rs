//! Log setup for the function: plain text or, with `AWS_LAMBDA_LOG_FORMAT=JSON`, one JSON object
//! a line, as CloudWatch expects; never ANSI colours.

use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber.
///
/// The filter comes from `RUST_LOG`, else from `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging
/// controls), else `info`. Text lines carry no timestamp: CloudWatch stamps each line itself.
pub fn init_tracing() {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|level| level.to_ascii_lowercase())
        })
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .map(|format| format.eq_ignore_ascii_case("json"))
        .unwrap_or(false);

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    // A second init (tests, embedding) keeps the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.without_time().try_init()
    };
}
