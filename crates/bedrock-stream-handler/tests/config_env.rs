//! `Config::from_env`: every variable the README lists, its default, a good value and malformed
//! values, which must be errors that name the variable. The environment is process-global, so
//! this file is its own test binary and its one test owns the environment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bedrock_stream_handler::Config;

const VARS: &[&str] = &[
    "BEDROCK_ENDPOINT_URL",
    "ALLOWED_MODELS",
    "MAX_OUTPUT_TOKENS",
    "MAX_BODY_BYTES",
    "DEFAULT_MODEL_ID",
    "LOG_PROMPTS",
    "IDLE_TIMEOUT_SECS",
    "REQUEST_TIMEOUT_SECS",
    "MAX_CONCURRENT_STREAMS",
    "CORS_ORIGINS",
];

fn clear() {
    for v in VARS {
        std::env::remove_var(v);
    }
}

/// `from_env` with exactly `vars` set.
fn with(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
    clear();
    for (k, v) in vars {
        assert!(VARS.contains(k), "{k} is not a configuration variable");
        std::env::set_var(k, v);
    }
    let r = Config::from_env();
    clear();
    r
}

fn err(vars: &[(&str, &str)]) -> String {
    match with(vars) {
        Ok(c) => panic!("{vars:?} was accepted: {c:?}"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn every_variable_its_default_its_value_and_its_errors() {
    // Nothing set: the README's defaults.
    let d = with(&[]).unwrap();
    assert_eq!(d.endpoint_url, None);
    assert_eq!(d.allowed_models, vec!["*".to_string()]);
    assert_eq!(d.max_output_tokens, None);
    assert_eq!(d.max_body_bytes, 1_048_576);
    assert_eq!(d.default_model_id, None);
    assert!(!d.log_prompts);
    assert_eq!(d.idle_timeout, Duration::from_secs(60));
    assert_eq!(d.request_timeout, Duration::from_secs(900));
    assert_eq!(d.max_concurrent_streams, 2048);
    assert!(d.cors_origins.is_empty());
    assert!(d.model_allowed("anything.at-all"));

    // Every variable set at once.
    let c = with(&[
        ("BEDROCK_ENDPOINT_URL", "http://127.0.0.1:8090"),
        ("ALLOWED_MODELS", " anthropic.* , us.anthropic.*,,"),
        ("MAX_OUTPUT_TOKENS", "2048"),
        ("MAX_BODY_BYTES", " 65536 "),
        ("DEFAULT_MODEL_ID", "us.amazon.nova-lite-v1:0"),
        ("LOG_PROMPTS", "TRUE"),
        ("IDLE_TIMEOUT_SECS", "5"),
        ("REQUEST_TIMEOUT_SECS", "290"),
        ("MAX_CONCURRENT_STREAMS", "16"),
        ("CORS_ORIGINS", "https://a.example, https://b.example"),
    ])
    .unwrap();
    assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:8090"));
    assert_eq!(c.allowed_models, vec!["anthropic.*", "us.anthropic.*"]);
    assert!(c.model_allowed("anthropic.claude-v2"));
    assert!(c.model_allowed("us.anthropic.claude-3-haiku-20240307-v1:0"));
    assert!(!c.model_allowed("meta.llama3-8b-instruct-v1:0"));
    assert_eq!(c.max_output_tokens, Some(2048));
    assert_eq!(c.max_body_bytes, 65536);
    assert_eq!(
        c.default_model_id.as_deref(),
        Some("us.amazon.nova-lite-v1:0")
    );
    assert!(c.log_prompts);
    assert_eq!(c.idle_timeout, Duration::from_secs(5));
    assert_eq!(c.request_timeout, Duration::from_secs(290));
    assert_eq!(c.max_concurrent_streams, 16);
    assert_eq!(
        c.cors_origins,
        vec!["https://a.example", "https://b.example"]
    );

    // Empty and blank values mean "not set".
    let blank = with(&[
        ("BEDROCK_ENDPOINT_URL", ""),
        ("ALLOWED_MODELS", "  "),
        ("MAX_OUTPUT_TOKENS", ""),
        ("LOG_PROMPTS", " "),
        ("DEFAULT_MODEL_ID", ""),
    ])
    .unwrap();
    assert_eq!(blank.endpoint_url, None);
    assert_eq!(blank.allowed_models, vec!["*".to_string()]);
    assert_eq!(blank.max_output_tokens, None);
    assert!(!blank.log_prompts);
    assert_eq!(blank.default_model_id, None);

    // LOG_PROMPTS spellings.
    for (v, on) in [
        ("1", true),
        ("yes", true),
        ("On", true),
        ("true", true),
        ("0", false),
        ("no", false),
        ("OFF", false),
        ("false", false),
    ] {
        assert_eq!(with(&[("LOG_PROMPTS", v)]).unwrap().log_prompts, on, "{v}");
    }

    // Zero limits: raised to the smallest useful value, or refused where zero makes no sense.
    let z = with(&[
        ("IDLE_TIMEOUT_SECS", "0"),
        ("REQUEST_TIMEOUT_SECS", "0"),
        ("MAX_CONCURRENT_STREAMS", "0"),
    ])
    .unwrap();
    assert_eq!(z.idle_timeout, Duration::from_secs(1));
    assert_eq!(z.request_timeout, Duration::from_secs(1));
    assert_eq!(z.max_concurrent_streams, 1);
    let e = err(&[("MAX_OUTPUT_TOKENS", "0")]);
    assert!(e.contains("MAX_OUTPUT_TOKENS"), "{e}");

    // Malformed values: an error that names the variable (and shows the value).
    for (var, value) in [
        ("MAX_OUTPUT_TOKENS", "lots"),
        ("MAX_OUTPUT_TOKENS", "-5"),
        ("MAX_OUTPUT_TOKENS", "1.5"),
        ("MAX_BODY_BYTES", "1MB"),
        ("MAX_BODY_BYTES", "-1"),
        ("IDLE_TIMEOUT_SECS", "60s"),
        ("IDLE_TIMEOUT_SECS", "99999999999999999999999"),
        ("REQUEST_TIMEOUT_SECS", "fifteen"),
        ("MAX_CONCURRENT_STREAMS", "1e3"),
        ("LOG_PROMPTS", "maybe"),
        ("LOG_PROMPTS", "2"),
    ] {
        let e = err(&[(var, value)]);
        assert!(e.contains(var), "{var}={value}: {e}");
        assert!(
            e.contains(value),
            "{var}={value}: the value is not shown: {e}"
        );
    }
    // BEDROCK_ENDPOINT_URL must be something the SDK can send to: refused at start, not on
    // every request (where the SDK's error would print the request, prompt and all).
    for value in [
        "not a url",
        "127.0.0.1:8090",
        "ftp://example.com",
        "http://",
        "bedrock-runtime.us-east-1.amazonaws.com",
    ] {
        let e = err(&[("BEDROCK_ENDPOINT_URL", value)]);
        assert!(e.contains("BEDROCK_ENDPOINT_URL"), "{value}: {e}");
        assert!(e.contains(value), "{value}: {e}");
    }
    for value in [
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        "http://localhost:8090/",
        "http://[::1]:8090",
    ] {
        let c = with(&[("BEDROCK_ENDPOINT_URL", value)]).unwrap();
        assert_eq!(c.endpoint_url.as_deref(), Some(value));
    }

    // One bad variable among good ones is still named.
    let e = err(&[
        ("ALLOWED_MODELS", "anthropic.*"),
        ("MAX_BODY_BYTES", "1024"),
        ("REQUEST_TIMEOUT_SECS", "ten"),
    ]);
    assert!(e.contains("REQUEST_TIMEOUT_SECS"), "{e}");
    assert!(!e.contains("MAX_BODY_BYTES"), "{e}");
}
