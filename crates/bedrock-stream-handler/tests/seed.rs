//! `POST /` (the seed contract) end to end: handler → real SDK → local Bedrock endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use bedrock_families::{wrap_text_prompt, Family};
use bedrock_local::{Fault, FaultKind, ScriptedConfig, ScriptedEngine};
use bedrock_stream_handler::Config;
use common::*;
use serde_json::{json, Value};

fn read_event(name: &str) -> Value {
    let path = repo_root().join("events").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The text the scripted engine writes for a seed event (after the handler's prompt fix).
fn expected_for(event: &Value, cap: Option<u64>) -> String {
    let model = event["bedrockParams"]["modelId"].as_str().unwrap();
    let mut params = event["modelParams"].clone();
    let family = Family::for_request(model, &params).unwrap();
    if family == Family::AnthropicText {
        let p = params["prompt"].as_str().unwrap().to_string();
        params["prompt"] = Value::String(wrap_text_prompt(&p).into_owned());
    }
    if let Some(c) = cap {
        family.cap_max_tokens(&mut params, c).unwrap();
    }
    let (prompt, sampling) = family.parse_request(&params).unwrap();
    ScriptedEngine::default().script(&prompt, &sampling).text()
}

fn event_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("event") && n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_seed_event_streams_in_chunks_spread_in_time() {
    let h = harness(
        ScriptedConfig {
            chunk_delay: Duration::from_millis(30),
            ..Default::default()
        },
        Config::default(),
    )
    .await;
    let event = read_event("event.json");
    let (status, text, pieces, headers) = post(&h.url, event.to_string(), None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    // The bare prompt was wrapped (the endpoint refuses a Claude v2 prompt without markers).
    assert_eq!(text, expected_for(&event, None));
    assert!(pieces.len() >= 20, "only {} pieces", pieces.len());
    let gaps: Vec<Duration> = pieces.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let paced = gaps
        .iter()
        .filter(|g| **g >= Duration::from_millis(15))
        .count();
    assert!(paced >= pieces.len() / 2, "chunks were bunched: {gaps:?}");
}

#[tokio::test]
async fn every_family_event_streams_its_text() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let files = event_files();
    assert!(files.len() >= 12, "{files:?}");
    for name in files {
        let event = read_event(&name);
        let (status, text, _, _) = post(&h.url, event.to_string(), None).await;
        assert_eq!(status, 200, "{name}: {text}");
        assert_eq!(text, expected_for(&event, None), "{name}");
    }
}

#[tokio::test]
async fn max_output_tokens_caps_every_family_and_fills_in_missing_fields() {
    let config = Config {
        max_output_tokens: Some(5),
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    for name in event_files() {
        let event = read_event(&name);
        let (status, text, _, _) = post(&h.url, event.to_string(), None).await;
        assert_eq!(status, 200, "{name}: {text}");
        assert_eq!(text, expected_for(&event, Some(5)), "{name}");
        assert_eq!(text.split_whitespace().count(), 5, "{name}: {text}");
    }
    // Claude v2 requires max_tokens_to_sample; the cap supplies it.
    let body = json!({"bedrockParams": {"modelId": "anthropic.claude-v2"}, "modelParams": {"prompt": "hi"}});
    let (status, text, _, _) = post(&h.url, body.to_string(), None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(text.split_whitespace().count(), 5);
}

#[tokio::test]
async fn limits_and_bad_input_get_json_errors() {
    let config = Config {
        allowed_models: vec!["amazon.*".into(), "*.meta.llama3*".into()],
        max_body_bytes: 600,
        default_model_id: Some("us.meta.llama3-1-8b-instruct-v1:0".into()),
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            read_event("event.json").to_string().into_bytes(),
            403,
            "model_not_allowed",
        ),
        (vec![b'x'; 700], 413, "payload_too_large"),
        (Vec::new(), 400, "bad_request"),
        (b"{\"bedrockParams\": ".to_vec(), 400, "bad_request"),
        (vec![0xff, 0xfe, b'{', b'}'], 400, "bad_request"),
        (br#"{"modelParams": "text"}"#.to_vec(), 400, "bad_request"),
        (
            br#"{"modelParams": {}, "extra": 1}"#.to_vec(),
            400,
            "bad_request",
        ),
        (
            br#"{"bedrockParams": {"modelID": "x"}, "modelParams": {}}"#.to_vec(),
            400,
            "bad_request",
        ),
        (br#"[1, 2]"#.to_vec(), 400, "bad_request"),
    ];
    for (body, status, kind) in cases {
        let (s, text, _, headers) = post(&h.url, body.clone(), None).await;
        assert_eq!(s, status, "{}: {text}", String::from_utf8_lossy(&body));
        assert_eq!(headers["content-type"], "application/json");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["type"], kind, "{text}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 5);
    }
    // DEFAULT_MODEL_ID fills in a missing model id.
    let body = json!({"modelParams": {"prompt": "hi", "max_gen_len": 3}});
    let (s, text, _, _) = post(&h.url, body.to_string(), None).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(text.split_whitespace().count(), 3);
    // Routes and methods.
    let r = reqwest::get(format!("{}/nope", h.url)).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["type"],
        "not_found"
    );
    let r = reqwest::Client::new().delete(&h.url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        reqwest::get(format!("{}/healthz", h.url))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn errors_before_the_first_byte_map_to_statuses() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let event = read_event("event-llama.json").to_string();
    let table = [
        (FaultKind::Throttle, 429, "throttled"),
        (FaultKind::Validation, 400, "validation_error"),
        (FaultKind::Internal, 502, "bedrock_internal_error"),
        (FaultKind::ModelTimeout, 504, "model_timeout"),
        (FaultKind::ServiceUnavailable, 503, "service_unavailable"),
        (FaultKind::ModelNotReady, 503, "model_not_ready"),
        (FaultKind::AccessDenied, 403, "access_denied"),
        (FaultKind::ModelError, 502, "model_error"),
    ];
    for (kind, status, ty) in table {
        h.bedrock.server.inject(Fault {
            kind,
            count: 1,
            exception: None,
            after: None,
        });
        let (s, text, _, headers) = post(&h.url, event.clone(), None).await;
        assert_eq!(s, status, "{kind:?}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["type"], ty, "{kind:?}");
        let message = v["error"]["message"].as_str().unwrap();
        if matches!(kind, FaultKind::AccessDenied) {
            // Withheld (real ones name roles and accounts): ours, with the id it was logged under.
            let id = v["error"]["request_id"].as_str().unwrap();
            assert!(message.contains(id), "{text}");
        } else {
            assert!(message.contains("injected"), "{text}");
        }
        if status == 429 || status == 503 {
            assert!(headers.contains_key("retry-after"), "{kind:?}");
        }
    }
    // An exception that arrives before any text is still a status, not a 200.
    h.bedrock.server.inject(Fault {
        kind: FaultKind::Midstream,
        count: 1,
        exception: Some("throttlingException".into()),
        after: Some(0),
    });
    let (s, text, _, _) = post(&h.url, event.clone(), None).await;
    assert_eq!(s, 429, "{text}");
    // Unknown model.
    let body =
        json!({"bedrockParams": {"modelId": "acme.nothing-v1"}, "modelParams": {"prompt": "x"}});
    let (s, text, _, _) = post(&h.url, body.to_string(), None).await;
    assert_eq!(s, 404, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "model_not_found"
    );
}

#[tokio::test]
async fn an_unreachable_bedrock_is_a_network_error() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (url, _task) = serve_handler(
        sdk_client(&format!("http://127.0.0.1:{port}")),
        Config::default(),
    )
    .await;
    let (s, text, _, _) = post(&url, read_event("event.json").to_string(), None).await;
    assert_eq!(s, 502, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "network_error"
    );
}

#[tokio::test]
async fn errors_after_the_first_byte_are_never_silent() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let event = read_event("event-titan.json").to_string();
    let expected = expected_for(&read_event("event-titan.json"), None);
    for (accept, check) in [
        (None, "text"),
        (Some("text/event-stream"), "sse"),
        (Some("application/x-ndjson"), "ndjson"),
    ] {
        h.bedrock.server.inject(Fault {
            kind: FaultKind::Midstream,
            count: 1,
            exception: None,
            after: Some(4),
        });
        let (s, body, _, _) = post(&h.url, event.clone(), accept).await;
        assert_eq!(s, 200);
        match check {
            "text" => {
                let (partial, last) = body
                    .rsplit_once('\n')
                    .map(|(a, _)| a.rsplit_once('\n').unwrap())
                    .unwrap();
                assert!(
                    expected.starts_with(partial),
                    "partial text is a prefix: {partial:?}"
                );
                assert!(
                    last.starts_with("[bedrock-stream error] model_stream_error: "),
                    "{last:?}"
                );
            }
            "sse" => {
                assert!(body.trim_end().ends_with('}'), "{body}");
                let last = body.trim_end().rsplit("\n\n").next().unwrap();
                assert!(last.starts_with("event: error\ndata: "), "{last}");
                assert!(!body.contains("event: done"));
            }
            _ => {
                let last: Value =
                    serde_json::from_str(body.trim_end().lines().last().unwrap()).unwrap();
                assert_eq!(last["type"], "error");
                assert_eq!(last["error"]["type"], "model_stream_error");
            }
        }
    }
    // Corrupt frames and cut streams end with a marked line too.
    for kind in [FaultKind::BadCrc, FaultKind::Truncate] {
        h.bedrock.server.inject(Fault {
            kind,
            count: 1,
            exception: None,
            after: Some(3),
        });
        let (s, body, _, _) = post(&h.url, event.clone(), None).await;
        assert_eq!(s, 200);
        assert!(
            body.contains("\n[bedrock-stream error] "),
            "{kind:?}: {body}"
        );
    }
}

#[tokio::test]
async fn a_stalled_model_hits_the_idle_timeout() {
    let config = Config {
        idle_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    h.bedrock.server.inject(Fault {
        kind: FaultKind::Stall,
        count: 1,
        exception: None,
        after: Some(3),
    });
    let t = Instant::now();
    let (s, body, _, _) = post(
        &h.url,
        read_event("event-llama.json").to_string(),
        Some("application/x-ndjson"),
    )
    .await;
    assert_eq!(s, 200);
    let elapsed = t.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let last: Value = serde_json::from_str(body.trim_end().lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "idle_timeout", "{body}");
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_bedrock_call_within_100ms() {
    let h = harness(
        ScriptedConfig {
            chunk_delay: Duration::from_millis(10),
            ..Default::default()
        },
        Config::default(),
    )
    .await;
    let resp = reqwest::Client::new()
        .post(&h.url)
        .body(read_event("event.json").to_string())
        .send()
        .await
        .unwrap();
    let probe = LatenessProbe::start();
    let mut stream = resp.bytes_stream();
    use futures::StreamExt;
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    let left = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(2);
    let snap = loop {
        let snap = h.bedrock.server.activity();
        if snap.cancelled > 0 {
            break snap;
        }
        assert!(
            Instant::now() < deadline,
            "the Bedrock call was not dropped: {snap:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let delay_ms = snap.last_cancelled_unix_micros.saturating_sub(left) as f64 / 1000.0;
    // 100 ms on a quiet machine, plus however late this machine ran threads meanwhile.
    let late_ms = probe.max_ms();
    assert!(
        delay_ms < 100.0 + late_ms,
        "cancelled {delay_ms} ms after the client left (threads ran up to {late_ms:.1} ms late)"
    );
    assert_eq!(snap.completed, 0);
}

#[tokio::test]
async fn converse_streams_typed_events() {
    let h = harness(ScriptedConfig::default(), Config::default()).await;
    let body = std::fs::read(repo_root().join("events/converse.json")).unwrap();
    let (s, text, _, headers) = post(
        &format!("{}/converse?format=ndjson", h.url),
        body.clone(),
        None,
    )
    .await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let words: String = lines
        .iter()
        .filter(|l| l["type"] == "text")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert!(words.starts_with("Scripted answer to: Explain serverless"));
    let done = lines.last().unwrap();
    assert_eq!(done["type"], "done");
    assert_eq!(done["stop_reason"], "end_turn");
    assert_eq!(
        done["output_tokens"].as_u64().unwrap() as usize,
        words.split_whitespace().count()
    );
    let (s, plain, _, _) = post(&format!("{}/converse", h.url), body, None).await;
    assert_eq!(s, 200);
    assert_eq!(plain, words);
}

#[tokio::test]
async fn hostile_and_odd_input_never_breaks_the_server() {
    let config = Config {
        max_body_bytes: 64 * 1024,
        ..Config::default()
    };
    let h = harness(ScriptedConfig::default(), config).await;
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let deep_obj = format!(
        r#"{{"bedrockParams":{{"modelId":"meta.llama3-8b-instruct-v1:0"}},"modelParams":{}}}"#,
        "{\"a\":".repeat(200) + "1" + &"}".repeat(200)
    );
    let huge = json!({"bedrockParams": {"modelId": "meta.llama3-8b-instruct-v1:0"},
                      "modelParams": {"prompt": "x".repeat(60_000), "max_gen_len": 3}})
    .to_string();
    let cases: Vec<(String, Vec<u16>)> = vec![
        (deep, vec![400]),
        (deep_obj, vec![200, 400]),
        (huge, vec![200]),
        (r#"{"bedrockParams":{"modelId":5},"modelParams":{}}"#.into(), vec![400]),
        (r#"{"bedrockParams":{"modelId":"meta.llama3-8b-instruct-v1:0"},"modelParams":{"prompt":7,"max_gen_len":3}}"#.into(), vec![400]),
        (r#"{"bedrockParams":{"modelId":"meta.llama3-8b-instruct-v1:0"},"modelParams":{"prompt":"hi","max_gen_len":"many"}}"#.into(), vec![400]),
        (r#"{"bedrockParams":{"modelId":""},"modelParams":{}}"#.into(), vec![400]),
        ("null".into(), vec![400]),
        ("\"just a string\"".into(), vec![400]),
    ];
    for (body, allowed) in cases {
        let (s, text, _, _) = post(&h.url, body.clone(), None).await;
        assert!(
            allowed.contains(&s),
            "{}…: {s} {}",
            &body[..body.len().min(60)],
            &text[..text.len().min(200)]
        );
        if s != 200 {
            assert!(serde_json::from_str::<Value>(&text).unwrap()["error"]["type"].is_string());
        }
    }
    // Unicode at the edges of the prompt comes back intact, whatever chunking did to the bytes.
    for prompt in [
        "日本語のテキスト 🚀🚀 café",
        "عربى مرحبا",
        "a\u{200d}b \u{feff}c",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 👩‍👩‍👧‍👦",
    ] {
        let body = json!({"bedrockParams": {"modelId": "amazon.titan-text-express-v1"},
                          "modelParams": {"inputText": prompt}});
        let (s, text, _, _) = post(&h.url, body.to_string(), None).await;
        assert_eq!(s, 200);
        let words: Vec<&str> = prompt.split_whitespace().take(6).collect();
        assert!(
            text.starts_with(&format!("Scripted answer to: {}", words.join(" "))),
            "{text}"
        );
    }
    // Random bytes: always a JSON 4xx, never a 5xx or a dropped connection; the server keeps serving.
    let mut seed = 0x9e3779b97f4a7c15u64;
    for i in 0..200 {
        let len = (i * 7) % 300;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let (s, _, _, _) = post(&h.url, bytes, None).await;
        assert!((400..500).contains(&s), "random body {i}: {s}");
    }
    let (s, _, _, _) = post(&h.url, read_event("event.json").to_string(), None).await;
    assert_eq!(s, 200);
}
