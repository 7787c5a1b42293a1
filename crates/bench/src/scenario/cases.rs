//! The requests the benchmarks send and the exact text the scripted engine answers each with.
//!
//! Every stream gets its own prompt, so every stream's text differs; the expected text is
//! computed the way the handler and the local endpoint compute it: the handler wraps a bare
//! Claude text prompt in turn markers, the endpoint parses the body with the family's parser,
//! and the scripted engine's `script` is the text it streams. Two shapes: the seed contract
//! (`POST /`, [`Case`]) and OpenAI chat completions (the gateways, [`ChatCase`]).

use anyhow::Context;
use bedrock_families::{wrap_text_prompt, Family, Prompt, Sampling};
use bedrock_local::ScriptedEngine;
use bytes::Bytes;
use serde_json::{json, Value};

/// The seed's model: Claude v2, text completions.
pub const MODEL_ID: &str = "anthropic.claude-v2";

/// One request and its expected answer.
#[derive(Debug, Clone)]
pub struct Case {
    /// The body for `POST /` (the seed contract).
    pub seed_body: Bytes,
    /// The model body exactly as the handler sends it to Bedrock (prompt wrapped).
    pub model_body: Bytes,
    /// The text the scripted engine streams for it.
    pub expected: String,
    /// How many tokens (scripted words) that text has.
    pub tokens: usize,
}

/// Stream `i`'s prompt: different for every `i` (and every `variant`).
pub fn prompt(i: usize, variant: u64) -> String {
    format!("Stream {i}.{variant}: explain serverless streaming to a 5th grader, please.")
}

/// The seed request for stream `i`, asking for `words` tokens.
pub fn case(i: usize, variant: u64, words: u32) -> anyhow::Result<Case> {
    let params = json!({
        "prompt": prompt(i, variant),
        "max_tokens_to_sample": words,
        "temperature": 0.5,
    });
    let seed = json!({
        "bedrockParams": {"modelId": MODEL_ID, "contentType": "application/json", "accept": "*/*"},
        "modelParams": params,
    });
    let mut model = params;
    let family = Family::for_request(MODEL_ID, &model).context("no family for the seed model")?;
    if family == Family::AnthropicText {
        if let Some(Value::String(p)) = model.get("prompt") {
            let wrapped = wrap_text_prompt(p).into_owned();
            model["prompt"] = Value::String(wrapped);
        }
    }
    let (p, sampling) = family
        .parse_request(&model)
        .map_err(|e| anyhow::anyhow!("the seed body does not parse: {e:?}"))?;
    let script = ScriptedEngine::default().script(&p, &sampling);
    Ok(Case {
        seed_body: Bytes::from(serde_json::to_vec(&seed)?),
        model_body: Bytes::from(serde_json::to_vec(&model)?),
        expected: script.text(),
        tokens: script.tokens.len(),
    })
}

/// Cases `0..n`.
pub fn cases(n: usize, variant: u64, words: u32) -> anyhow::Result<Vec<Case>> {
    (0..n).map(|i| case(i, variant, words)).collect()
}

/// One OpenAI-style question: its prompt, the body for a gateway, and the scripted engine's
/// answer for a Converse request with that one user message.
#[derive(Debug, Clone)]
pub struct ChatCase {
    pub prompt: String,
    pub body: Bytes,
    pub expected: String,
    pub tokens: usize,
}

/// The expected text (and its tokens) for a Converse request with one user message and
/// `maxTokens` = `words`, as the local endpoint's scripted engine writes it.
pub fn expected_chat_text(prompt: &str, words: u32) -> (String, usize) {
    let sampling = Sampling {
        max_tokens: Some(words),
        ..Default::default()
    };
    let script = ScriptedEngine::default().script(&Prompt::user(prompt), &sampling);
    (script.text(), script.tokens.len())
}

/// Chat cases `0..n` for `model`: `POST /v1/chat/completions` bodies with `stream: true`.
pub fn chat_cases(
    n: usize,
    variant: u64,
    words: u32,
    model: &str,
) -> anyhow::Result<Vec<ChatCase>> {
    (0..n)
        .map(|i| {
            let prompt = prompt(i, variant);
            let (expected, tokens) = expected_chat_text(&prompt, words);
            let body = json!({
                "model": model,
                "stream": true,
                "max_tokens": words,
                "messages": [{"role": "user", "content": prompt}],
            });
            Ok(ChatCase {
                body: Bytes::from(serde_json::to_vec(&body)?),
                prompt,
                expected,
                tokens,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_differ_per_stream_and_honour_the_length() {
        let a = case(1, 0, 20).unwrap();
        let b = case(2, 0, 20).unwrap();
        assert_ne!(a.expected, b.expected);
        assert_eq!(a.tokens, 20);
        assert!(a.expected.starts_with("Scripted answer to: Stream 1.0:"));
        let seed: Value = serde_json::from_slice(&a.seed_body).unwrap();
        assert_eq!(seed["modelParams"]["max_tokens_to_sample"], 20);
        let model: Value = serde_json::from_slice(&a.model_body).unwrap();
        assert!(model["prompt"].as_str().unwrap().starts_with("\n\nHuman:"));
        let chat = &chat_cases(2, 0, 20, "m").unwrap()[1];
        assert_eq!(chat.tokens, 20);
        assert!(
            chat.expected.starts_with("Scripted answer to: Stream 1.0:"),
            "{}",
            chat.expected
        );
        let body: Value = serde_json::from_slice(&chat.body).unwrap();
        assert_eq!(
            (body["stream"].as_bool(), body["max_tokens"].as_u64()),
            (Some(true), Some(20))
        );
    }
}
