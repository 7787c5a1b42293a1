//! The scripted engine: deterministic text derived from the prompt, paced in configurable
//! chunks, so tests can prove streaming and compare bytes exactly.

use std::time::Duration;

use bedrock_families::{Prompt, Sampling, StopReason, Usage};
use tokio::sync::mpsc;

use crate::engine::{Engine, EngineError, EngineEvent, GenerationRequest};

/// How the scripted engine paces its output.
#[derive(Debug, Clone)]
pub struct ScriptedConfig {
    /// Pause before each chunk after the first.
    pub chunk_delay: Duration,
    /// Tokens (words) per text chunk.
    pub tokens_per_chunk: usize,
    /// Output length limit when the request sets none.
    pub default_max_tokens: u32,
}

impl Default for ScriptedConfig {
    fn default() -> Self {
        ScriptedConfig {
            chunk_delay: Duration::ZERO,
            tokens_per_chunk: 1,
            default_max_tokens: 256,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScriptedEngine {
    pub config: ScriptedConfig,
}

/// The full answer the scripted engine gives to a prompt: its tokens and why it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub tokens: Vec<String>,
    pub stop: StopReason,
    pub input_tokens: u32,
}

impl Script {
    pub fn text(&self) -> String {
        self.tokens.concat()
    }
}

const VOCABULARY: [&str; 32] = [
    "streaming",
    "serverless",
    "lambda",
    "bedrock",
    "token",
    "chunk",
    "answer",
    "cloud",
    "fast",
    "small",
    "rust",
    "model",
    "function",
    "request",
    "response",
    "event",
    "café",
    "naïve",
    "über",
    "日本語",
    "✓",
    "🚀",
    "latency",
    "memory",
    "byte",
    "frame",
    "header",
    "prompt",
    "stream",
    "text",
    "quick",
    "honest",
];

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// Counts tokens the way the scripted engine does: whitespace-separated words.
pub fn count_tokens(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

impl ScriptedEngine {
    pub fn new(config: ScriptedConfig) -> Self {
        ScriptedEngine { config }
    }

    /// The answer this engine writes for a prompt, computed up front: the same request always
    /// gets the same bytes, which is what load tests compare against.
    pub fn script(&self, prompt: &Prompt, sampling: &Sampling) -> Script {
        let flat = prompt.flatten();
        let input_tokens = count_tokens(&flat);
        let last_user = prompt
            .turns
            .iter()
            .rev()
            .find(|t| t.role == bedrock_families::Role::User)
            .map(|t| t.text())
            .unwrap_or_default();
        let echo: Vec<&str> = last_user.split_whitespace().take(6).collect();
        let mut words: Vec<String> = vec!["Scripted".into(), "answer".into(), "to:".into()];
        words.extend(echo.iter().map(|w| w.to_string()));
        let mut seed = fnv1a(&flat) | 1;
        let natural = 24 + (seed % 40) as usize;
        while words.len() < natural {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            words.push(VOCABULARY[(seed % VOCABULARY.len() as u64) as usize].to_string());
        }
        if let Some(last) = words.last_mut() {
            last.push('.');
        }
        let mut tokens: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 { w.clone() } else { format!(" {w}") })
            .collect();
        let mut stop = StopReason::EndTurn;
        let max = sampling
            .max_tokens
            .unwrap_or(self.config.default_max_tokens) as usize;
        if tokens.len() > max {
            tokens.truncate(max);
            stop = StopReason::MaxTokens;
        }
        // Stop sequences: cut the text before the earliest occurrence.
        let text: String = tokens.concat();
        if let Some((pos, seq)) = sampling
            .stop_sequences
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()).map(|p| (p, s.clone())))
            .min_by_key(|(p, _)| *p)
        {
            let mut kept = Vec::new();
            let mut at = 0;
            for t in tokens {
                if at + t.len() <= pos {
                    at += t.len();
                    kept.push(t);
                } else {
                    let part = &t[..pos - at];
                    if !part.is_empty() {
                        kept.push(part.to_string());
                    }
                    break;
                }
            }
            tokens = kept;
            stop = StopReason::StopSequence(seq);
        }
        Script {
            tokens,
            stop,
            input_tokens,
        }
    }
}

impl Engine for ScriptedEngine {
    fn describe(&self) -> String {
        format!(
            "scripted engine (deterministic text, {} token(s) per chunk, {} ms between chunks)",
            self.config.tokens_per_chunk,
            self.config.chunk_delay.as_millis()
        )
    }

    fn generate(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<EngineEvent>, EngineError> {
        let script = self.script(&request.prompt, &request.sampling);
        let delay = self.config.chunk_delay;
        let per_chunk = self.config.tokens_per_chunk.max(1);
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let input_tokens = script.input_tokens;
            if tx
                .send(EngineEvent::Started { input_tokens })
                .await
                .is_err()
            {
                return;
            }
            let output_tokens = u32::try_from(script.tokens.len()).unwrap_or(u32::MAX);
            for (i, group) in script.tokens.chunks(per_chunk).enumerate() {
                if i > 0 && !delay.is_zero() {
                    tokio::select! {
                        _ = tx.closed() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                let event = EngineEvent::Text {
                    text: group.concat(),
                    tokens: u32::try_from(group.len()).unwrap_or(u32::MAX),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
            let usage = Usage {
                input_tokens,
                output_tokens,
                ..Usage::default()
            };
            let _ = tx
                .send(EngineEvent::Finished {
                    stop: script.stop,
                    usage,
                })
                .await;
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_deterministic_and_honours_limits() {
        let e = ScriptedEngine::default();
        let p = Prompt::user("Explain serverless to a 5th grader.");
        let s = Sampling::default();
        let a = e.script(&p, &s);
        assert_eq!(a, e.script(&p, &s));
        assert!(a
            .text()
            .starts_with("Scripted answer to: Explain serverless"));
        assert_eq!(a.stop, StopReason::EndTurn);
        let short = e.script(
            &p,
            &Sampling {
                max_tokens: Some(5),
                ..Default::default()
            },
        );
        assert_eq!(short.tokens.len(), 5);
        assert_eq!(short.stop, StopReason::MaxTokens);
        let stopped = e.script(
            &p,
            &Sampling {
                stop_sequences: vec!["serverless".into()],
                ..Default::default()
            },
        );
        assert_eq!(stopped.text(), "Scripted answer to: Explain ");
        assert_eq!(stopped.stop, StopReason::StopSequence("serverless".into()));
        assert_ne!(e.script(&Prompt::user("other"), &s).text(), a.text());
    }
}
