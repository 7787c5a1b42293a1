//! Our Runtime API client against the emulator: prelude, separator, chunk timing, trailers,
//! errors and the invocation loop.

mod support;

use std::time::Duration;

use base64::Engine as _;
use support::emulator::{pieces, Emulator, QueuedEvent, Report};
use support::jitter::Probe;
use support::router::{router, Sends, ERROR_LINE};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn start() -> (Emulator, Sends, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let emulator = Emulator::start().await;
    let sends = Sends::default();
    let api = emulator.runtime_api();
    let app = router(sends.clone());
    let function = tokio::spawn(async move { bedrock_stream_lambda::run_on(&api, app).await });
    (emulator, sends, function)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_prelude_separator_and_each_chunk_at_once() {
    let (mut emulator, sends, function) = start().await;
    // Bounds below are "what a quiet machine needs" plus how late this machine woke threads up
    // during this very run: a busy CI box widens them, Nagle's ~40 ms stays visible.
    let probe = Probe::start();
    // The first chunk 5 ms after the prelude: the prelude is still unacknowledged then, which is
    // when Nagle holds a small write back until the peer's delayed ACK.
    emulator.push_url_event(
        "req-stream",
        "GET",
        "/stream?n=20&gap_ms=30&first_ms=5",
        None,
    );
    let record = emulator.response().await;
    let late = probe.finish();
    let slack = late.max;
    let sent = sends.take();
    assert_eq!(sent.len(), 20);

    assert_eq!(record.request_id, "req-stream");
    let h = &record.headers;
    assert_eq!(h["lambda-runtime-function-response-mode"], "streaming");
    assert_eq!(h["transfer-encoding"], "chunked");
    assert_eq!(
        h["content-type"],
        "application/vnd.awslambda.http-integration-response"
    );
    let trailer: Vec<_> = h
        .get_all("trailer")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(
        trailer
            .iter()
            .any(|t| t.contains("lambda-runtime-function-error-type")),
        "{trailer:?}"
    );
    assert!(
        trailer
            .iter()
            .any(|t| t.contains("lambda-runtime-function-error-body")),
        "{trailer:?}"
    );

    // The prelude and the separator are separate chunks (`cargo lambda watch` reads them as
    // two frames) that leave together, before the first body chunk.
    serde_json::from_slice::<serde_json::Value>(&record.frames[0].bytes).unwrap();
    assert_eq!(&record.frames[1].bytes[..], &[0u8; 8]);
    let separator_after_prelude = ms(record.frames[1].at.duration_since(record.frames[0].at));
    assert!(
        separator_after_prelude < 5.0 + slack,
        "separator {separator_after_prelude} ms after the prelude ({late:?})"
    );

    let parsed = record.parse();
    assert_eq!(parsed.prelude["statusCode"], 200);
    assert_eq!(
        parsed.prelude["headers"]["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(parsed.prelude["headers"]["x-accel-buffering"], "no");
    assert_eq!(parsed.prelude["cookies"], serde_json::json!([]));

    // Every chunk the router wrote arrives as its own piece, right away.
    let texts: Vec<String> = parsed
        .chunks
        .iter()
        .map(|c| String::from_utf8(c.bytes.to_vec()).unwrap())
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("chunk {i:02}\n")).collect();
    assert_eq!(texts, expected);
    let latencies: Vec<f64> = parsed
        .chunks
        .iter()
        .zip(&sent)
        .map(|(c, s)| ms(c.at.duration_since(*s)))
        .collect();
    let gaps: Vec<f64> = parsed
        .chunks
        .windows(2)
        .map(|w| ms(w[1].at.duration_since(w[0].at)))
        .collect();
    let merged = pieces(&parsed.chunks, Duration::from_millis(5));
    let first_after_separator = ms(parsed.chunks[0].at.duration_since(parsed.separator_at));
    let first_after_handed_out = ms(parsed.chunks[0].at.duration_since(record.handed_out));
    eprintln!(
        "ours: prelude→separator {separator_after_prelude:.2} ms, separator→first chunk \
         {first_after_separator:.2} ms (written 5 ms after), event→first chunk {first_after_handed_out:.2} ms, pieces {}/20, latency max {:.2} ms, gaps min {:.1} max {:.1} ms; \
         thread wake-up lateness meanwhile: median {:.2}, p99 {:.2}, max {:.2} ms ({} samples)",
        merged.len(),
        latencies.iter().cloned().fold(0.0, f64::max),
        gaps.iter().cloned().fold(f64::MAX, f64::min),
        gaps.iter().cloned().fold(0.0, f64::max),
        late.median,
        late.p99,
        late.max,
        late.samples,
    );
    assert!(parsed.separator_at <= parsed.chunks[0].at);
    // The first chunk is written 5 ms after the prelude; held back by Nagle it would wait for
    // the delayed ACK (~40 ms).
    assert!(
        first_after_separator < 25.0 + slack,
        "first chunk {first_after_separator} ms after the separator ({late:?})"
    );
    // Each chunk leaves when written: a held-back one waits for an ACK (tens of ms).
    assert!(
        latencies.iter().all(|l| *l < 20.0 + slack),
        "a chunk waited before leaving (Nagle?): {latencies:?} ({late:?})"
    );
    // Streamed, not collected: the chunks arrive 30 ms apart as written. Two chunks can only
    // merge if one of them was delayed by 25 ms or more, which the lateness must account for.
    let mut sorted = gaps.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = sorted[sorted.len() / 2];
    assert!(
        (25.0..45.0 + late.p99).contains(&median),
        "median gap {median} ms: {gaps:?} ({late:?})"
    );
    if slack < 20.0 {
        assert_eq!(merged.len(), 20, "chunks merged: {merged:?} ({late:?})");
        assert!(
            sorted[0] > 10.0 - slack / 2.0,
            "two chunks arrived together: {gaps:?} ({late:?})"
        );
    } else {
        // A very busy machine: a stall may have bunched one or two chunks; most still
        // arrived on their own.
        assert!(merged.len() >= 17, "chunks merged: {merged:?} ({late:?})");
    }
    assert!(record.trailers.is_none(), "no trailers on success");
    function.abort();
}

/// Chunks 2 ms apart: with Nagle each waits for the previous one's delayed ACK (~40 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_small_chunks_is_not_held_back() {
    let (mut emulator, sends, function) = start().await;
    let probe = Probe::start();
    emulator.push_url_event("req-burst", "GET", "/stream?n=20&gap_ms=2&first_ms=5", None);
    let record = emulator.response().await;
    let late = probe.finish();
    let sent = sends.take();
    let parsed = record.parse();
    assert_eq!(parsed.chunks.len(), 20);
    let latencies: Vec<f64> = parsed
        .chunks
        .iter()
        .zip(&sent)
        .map(|(c, s)| ms(c.at.duration_since(*s)))
        .collect();
    eprintln!(
        "ours, burst: latency max {:.2} ms; thread wake-up lateness meanwhile {late:?}",
        latencies.iter().cloned().fold(0.0, f64::max)
    );
    // With Nagle, every small chunk after the first waits for the previous one's ACK: all of
    // them late by up to ~40 ms, whatever the machine's load.
    assert!(
        latencies.iter().all(|l| *l < 20.0 + late.max),
        "chunks waited before leaving (Nagle?): {latencies:?} ({late:?})"
    );
    let mut sorted = latencies.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert!(
        sorted[sorted.len() / 2] < 5.0 + late.p99,
        "the typical chunk waited: {latencies:?} ({late:?})"
    );
    function.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mid_stream_error_arrives_as_real_trailers_after_the_body() {
    let (mut emulator, _sends, function) = start().await;
    emulator.push_url_event("req-fail", "GET", "/fail", None);
    let record = emulator.response().await;

    let body = record.body_text();
    assert_eq!(body, format!("line 0\nline 1\nline 2\n{ERROR_LINE}"));
    assert!(
        !body.contains("Lambda-Runtime-Function-Error"),
        "error text leaked into the body"
    );

    let (trailers_at, trailers) = record.trailers.clone().expect("no trailers");
    assert!(record.frames.iter().all(|f| f.at <= trailers_at));
    assert_eq!(
        trailers["lambda-runtime-function-error-type"],
        "Runtime.StreamError"
    );
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(trailers["lambda-runtime-function-error-body"].as_bytes())
        .unwrap();
    let error: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(error["errorType"], "Runtime.StreamError");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap()
            .contains("upstream broke"),
        "{error}"
    );

    // On the wire: announced in the head, then the last chunk and the trailer fields.
    let wire = String::from_utf8_lossy(&emulator.wire()).into_owned();
    assert!(
        wire.contains(
            "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
        ),
        "{wire}"
    );
    assert!(
        wire.contains(
            "\r\n0\r\nLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n\
             Lambda-Runtime-Function-Error-Body: "
        ),
        "{wire}"
    );
    function.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converts_the_event_and_the_response_head() {
    let (mut emulator, _sends, function) = start().await;
    let mut event = support::emulator::url_event("POST", "/echo?a=1&b=two", Some("{\"hi\":1}"));
    event["cookies"] = serde_json::json!(["s=1", "t=2"]);
    event["headers"]["x-forwarded-for"] = "198.51.100.7".into();
    emulator.push(QueuedEvent {
        request_id: "req-echo".into(),
        body: event.to_string().into_bytes(),
        trace_id: Some("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".into()),
    });
    let record = emulator.response().await;
    let parsed = record.parse();
    assert_eq!(parsed.prelude["statusCode"], 201);
    assert_eq!(
        parsed.prelude["headers"]["content-type"],
        "application/json"
    );
    assert_eq!(parsed.prelude["headers"]["x-test"], "yes");
    assert!(parsed.prelude["headers"].get("set-cookie").is_none());
    assert_eq!(
        parsed.prelude["cookies"],
        serde_json::json!(["a=1; Path=/", "b=2; Secure"])
    );

    let echo: serde_json::Value = serde_json::from_str(&record.body_text()).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/echo?a=1&b=two");
    assert_eq!(echo["body"], "{\"hi\":1}");
    assert_eq!(echo["headers"]["cookie"], "s=1; t=2");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(
        echo["headers"]["x-amzn-trace-id"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    );
    assert_eq!(echo["aws_request_id"], "req-echo");
    assert!(echo["deadline_ms"].as_u64().unwrap() > 0);
    assert_eq!(echo["peer"], "198.51.100.7");
    function.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_goes_to_error_and_the_loop_goes_on_on_one_connection() {
    let (mut emulator, _sends, function) = start().await;

    emulator.push(QueuedEvent {
        request_id: "req-bad".into(),
        body: br#"{"detail-type":"Scheduled Event","source":"aws.events"}"#.to_vec(),
        trace_id: None,
    });
    match emulator.report().await {
        Report::Error(error) => {
            assert_eq!(error.path, "/2018-06-01/runtime/invocation/req-bad/error");
            assert_eq!(
                error.headers["lambda-runtime-function-error-type"],
                "Runtime.InvalidEvent"
            );
            assert_eq!(error.body["errorType"], "Runtime.InvalidEvent");
            assert!(error.body["errorMessage"]
                .as_str()
                .unwrap()
                .contains("function URL"));
        }
        other => panic!("expected /error, got {other:?}"),
    }

    // Nothing to hand out (204): the function polls again, reporting nothing.
    emulator.push(QueuedEvent {
        request_id: String::new(),
        body: Vec::new(),
        trace_id: None,
    });

    for (i, path) in [
        "/stream?n=3&gap_ms=1",
        "/fail",
        "/echo",
        "/stream?n=2&gap_ms=0",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("req-{i}");
        emulator.push_url_event(&id, "GET", path, None);
        let record = emulator.response().await;
        assert_eq!(record.request_id, id);
        assert!(!record.body_text().is_empty());
    }
    // After the last response the function polls again, on the same connection.
    tokio::time::timeout(Duration::from_secs(5), async {
        while emulator.polls().len() < 7 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("no seventh poll");
    assert_eq!(
        emulator.connections(),
        1,
        "the connection was not kept alive"
    );
    assert!(!function.is_finished());
    function.abort();
}

#[tokio::test]
async fn init_errors_go_to_init_error() {
    let mut emulator = Emulator::start().await;
    let error =
        anyhow::anyhow!("BEDROCK_ENDPOINT_URL is not a URL").context("loading configuration");
    bedrock_stream_lambda::report_init_error_on(&emulator.runtime_api(), &error)
        .await
        .unwrap();
    match emulator.report().await {
        Report::InitError(error) => {
            assert_eq!(error.path, "/2018-06-01/runtime/init/error");
            assert_eq!(
                error.headers["lambda-runtime-function-error-type"],
                "Runtime.InitError"
            );
            assert_eq!(error.body["errorType"], "Runtime.InitError");
            assert_eq!(
                error.body["errorMessage"],
                "loading configuration: BEDROCK_ENDPOINT_URL is not a URL"
            );
        }
        other => panic!("expected /init/error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_runtime_api_ends_the_loop_with_an_error() {
    // Bind and drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = router(Sends::default());
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        bedrock_stream_lambda::run_on(&format!("127.0.0.1:{port}"), app),
    )
    .await
    .expect("run_on hung");
    assert!(result.is_err());
}
