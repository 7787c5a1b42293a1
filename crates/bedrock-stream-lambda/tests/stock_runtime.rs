//! The stock `lambda_http::run_with_streaming_response` against the same emulator, for the
//! record: what our client fixes. Not part of the normal suite (it needs `lambda_http`):
//!
//! ```sh
//! cargo test -p bedrock-stream-lambda --features stock-compare --test stock_runtime -- --nocapture
//! ```
//!
//! It asserts nothing about the stock runtime's timing (that is its maintainers' business); it
//! prints the same numbers `runtime_api.rs` checks for ours.
#![cfg(feature = "stock-compare")]

mod support;

use std::time::Duration;

use support::emulator::{pieces, Emulator};
use support::router::{router, Sends};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_streaming_runtime_numbers() {
    let mut emulator = Emulator::start().await;
    // lambda_runtime reads its configuration from the process environment.
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api());
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "stock");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    let sends = Sends::default();
    let app = router(sends.clone());
    let function = tokio::spawn(async move {
        let _ = lambda_http::run_with_streaming_response(app).await;
    });

    for (id, query) in [
        ("stock-30", "n=20&gap_ms=30&first_ms=5"),
        ("stock-30-now", "n=20&gap_ms=30"),
        ("stock-burst", "n=20&gap_ms=2&first_ms=5"),
    ] {
        emulator.push_url_event(id, "GET", &format!("/stream?{query}"), None);
        let record = emulator.response().await;
        let sent = sends.take();
        let parsed = record.parse();
        let latencies: Vec<f64> = parsed
            .chunks
            .iter()
            .zip(&sent)
            .map(|(c, s)| ms(c.at.duration_since(*s)))
            .collect();
        let separator_frame = record
            .frames
            .iter()
            .position(|f| f.at == parsed.separator_at)
            .unwrap_or_default();
        let separator_after_prelude = ms(parsed.separator_at.duration_since(record.frames[0].at));
        eprintln!(
            "stock {query}: separator {separator_after_prelude:.1} ms after the prelude (frame {separator_frame}), \
             first chunk {:.1} ms after it was written, pieces {}/{} (1 ms clustering), \
             latency max {:.1} ms, mean {:.1} ms",
            latencies.first().copied().unwrap_or_default(),
            pieces(&parsed.chunks, Duration::from_millis(1)).len(),
            sent.len(),
            latencies.iter().cloned().fold(0.0, f64::max),
            latencies.iter().sum::<f64>() / latencies.len().max(1) as f64,
        );
    }

    emulator.push_url_event("stock-fail", "GET", "/fail", None);
    let record = emulator.response().await;
    let body = record.body_text();
    eprintln!(
        "stock /fail: trailers {:?}; error text in the body: {}",
        record
            .trailers
            .as_ref()
            .map(|(_, t)| t.keys().map(|k| k.to_string()).collect::<Vec<_>>()),
        body.contains("Lambda-Runtime-Function-Error-Type")
    );
    function.abort();
}
