//! "Logs never carry prompt text": the real `serve` binary's logs (stderr, at its default
//! level) after real requests on every route. With `LOG_PROMPTS` off, neither the prompt nor the
//! answer appears, while the per-request line (request id, model, tokens, latency) does; with
//! `LOG_PROMPTS` on, the prompt does appear.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::start;

/// A word that appears nowhere but in the prompts (the scripted engine echoes it in the answer).
const SECRET_WORD: &str = "quokka7731zebrafinch";
const PROMPT: &str = "Describe the quokka7731zebrafinch habitat for my diary";

struct Answers {
    /// Every response body, concatenated text only.
    texts: Vec<String>,
}

async fn exercise(url: &str) -> Answers {
    let http = reqwest::Client::new();
    let seed = json!({"bedrockParams": {"modelId": "meta.llama3-8b-instruct-v1:0"},
                      "modelParams": {"prompt": PROMPT, "max_gen_len": 12}});
    let converse = json!({"modelId": "us.amazon.nova-lite-v1:0",
                          "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
                          "inferenceConfig": {"maxTokens": 12}});
    let openai = |stream: bool| {
        json!({"model": "us.amazon.nova-lite-v1:0", "stream": stream, "max_tokens": 12,
               "messages": [{"role": "system", "content": "Be brief."},
                            {"role": "user", "content": PROMPT}]})
    };
    let requests: Vec<(String, Value, Option<&str>)> = vec![
        (format!("{url}/"), seed.clone(), None),
        (format!("{url}/"), seed, Some("application/x-ndjson")),
        (format!("{url}/converse"), converse.clone(), None),
        (
            format!("{url}/converse"),
            converse,
            Some("application/json"),
        ),
        (format!("{url}/v1/chat/completions"), openai(true), None),
        (format!("{url}/v1/chat/completions"), openai(false), None),
    ];
    let mut texts = Vec::new();
    for (u, body, accept) in requests {
        let mut req = http.post(&u).body(body.to_string());
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = tokio::time::timeout(Duration::from_secs(30), req.send())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status(), 200, "{u}");
        let text = r.text().await.unwrap();
        // The answer echoes the prompt: proof that the secret really went through.
        assert!(text.contains(SECRET_WORD), "{u}: {text}");
        texts.push(text);
    }
    Answers { texts }
}

fn serve(log_prompts: Option<&str>, rust_log: Option<&str>) -> support::Proc {
    let mut envs = vec![("AWS_MAX_ATTEMPTS", "1")];
    if let Some(v) = log_prompts {
        envs.push(("LOG_PROMPTS", v));
    }
    if let Some(v) = rust_log {
        envs.push(("RUST_LOG", v));
    }
    start(
        &["serve", "--engine", "scripted", "--listen", "127.0.0.1:0"],
        &envs,
        &["LOG_PROMPTS", "RUST_LOG"],
        Duration::from_secs(60),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_prompt_or_answer_text_unless_log_prompts_is_on() {
    // Default level, LOG_PROMPTS unset (off), and explicitly off at debug level.
    for (log_prompts, rust_log) in [(None, None), (Some("false"), Some("debug"))] {
        let p = serve(log_prompts, rust_log);
        let answers = exercise(&p.url).await;
        let logs = p.stop();
        let what = format!("LOG_PROMPTS={log_prompts:?} RUST_LOG={rust_log:?}");
        // The logs say something about every request: this test is not passing on silence.
        let finished = logs.matches("stream finished").count();
        assert!(finished >= 5, "{what}: {finished} request lines:\n{logs}");
        assert!(
            logs.contains("meta.llama3-8b-instruct-v1:0"),
            "{what}:\n{logs}"
        );
        assert!(logs.contains("output_tokens"), "{what}:\n{logs}");
        assert!(
            !logs.contains(SECRET_WORD),
            "{what}: the prompt or answer is in the logs:\n{logs}"
        );
        assert!(!logs.contains("habitat for my diary"), "{what}:\n{logs}");
        for text in &answers.texts {
            for line in text.lines().filter(|l| l.len() > 20) {
                assert!(!logs.contains(line), "{what}: answer text logged: {line}");
            }
        }
    }

    // LOG_PROMPTS on: every request's prompt is logged, on every route.
    let p = serve(Some("true"), None);
    exercise(&p.url).await;
    let logs = p.stop();
    let prompts = logs
        .lines()
        .filter(|l| l.contains(SECRET_WORD) && l.contains("prompt"))
        .count();
    assert!(
        prompts >= 6,
        "LOG_PROMPTS=true: {prompts} of 6 prompts in the logs:\n{logs}"
    );
}

#[test]
fn serve_refuses_a_bedrock_endpoint_it_cannot_use() {
    // At start, naming what is wrong, rather than failing every request later.
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(support::BIN);
        cmd.args(args)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REGION", "us-east-1")
            .env_remove("BEDROCK_ENDPOINT_URL")
            .stdin(std::process::Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = run(
        &["serve", "--bedrock", "aws", "--listen", "127.0.0.1:0"],
        &[("BEDROCK_ENDPOINT_URL", "not a url")],
    );
    assert!(!ok, "{err}");
    assert!(err.contains("BEDROCK_ENDPOINT_URL=\"not a url\""), "{err}");
    let (ok, err) = run(
        &[
            "serve",
            "--bedrock",
            "http://bad host:1",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(!ok, "{err}");
    assert!(err.contains("--bedrock http://bad host:1"), "{err}");
}
