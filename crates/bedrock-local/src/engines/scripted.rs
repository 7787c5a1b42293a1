//! The scripted engine: a deterministic answer derived from the request, paced in configurable
//! chunks, so tests can prove streaming and compare bytes exactly. It answers as a model would
//! for what the request asks:
//!
//! - **Text**: "Scripted answer to: " + the first six words of the last user message, then words
//!   picked by a xorshift seeded with FNV-1a of the flattened prompt (tests recompute it).
//!   Images and documents of the last user message are acknowledged right after the echo
//!   (`[image 1: png 64x48]`, `[document notes: 1234 bytes]`), so a test can see that they
//!   arrived intact; they count toward the input tokens (an image as width × height / 750,
//!   Anthropic's documented estimate; a text document by its words, a binary one as bytes / 4).
//! - **Tool calls** (the rule): with `toolChoice` `tool` it calls that tool; with `any` it calls
//!   the tool the last user text names, else the first tool; with `auto` it calls the tool the
//!   last user text names, else the first tool when the conversation has no tool result yet —
//!   and answers in text when the last user message carries tool results. The input is a value
//!   made from the tool's JSON schema ([`super::schema_value`]), streamed in several fragments;
//!   the stop reason is `tool_use`. With `auto` a short text block ("Calling NAME.") comes first.
//! - **After tool results**: text that quotes each result (`The tool NAME returned: …`).
//! - **Reasoning**: with thinking asked of a reasoning model it streams reasoning text first, then — for models that sign it (budget-style
//!   thinking) — a signature, then the answer.
//! - **Structured output** (`outputConfig.textFormat`): the answer text is JSON made from the
//!   schema.
//! - **Prompt caching**: each `cachePoint` prefix is remembered; the first request that reaches
//!   it reports its tokens as `cacheWriteInputTokens`, later ones as `cacheReadInputTokens`, and
//!   `inputTokens` counts the rest (Bedrock's split). Unlike Bedrock there is no minimum prefix
//!   length.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_families::catalog::{self, Reasoning};
use bedrock_families::{Part, Prompt, Role, Sampling, Source, StopReason, ToolChoice, Usage};
use serde_json::Value;
use tokio::sync::mpsc;

use super::schema_value;
use crate::engine::{CachePoint, Engine, EngineError, EngineEvent, GenerationRequest};
use crate::media;

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

/// Prompt-cache prefixes seen so far (bounded: forgotten wholesale past this many).
const CACHE_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct ScriptedEngine {
    pub config: ScriptedConfig,
    cache: Arc<Mutex<HashSet<u64>>>,
}

/// The text answer the scripted engine gives to a prompt: its tokens and why it stopped.
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

/// A tool call the scripted engine makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCall {
    pub id: String,
    pub name: String,
    pub input: Value,
    /// The input's JSON in the pieces it is streamed in (they concatenate to `input`).
    pub fragments: Vec<String>,
}

/// The whole answer to one request, computed up front.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Prompt tokens, before the cache split.
    pub input_tokens: u32,
    pub reasoning: Vec<String>,
    pub signature: Option<String>,
    pub text: Vec<String>,
    pub tool_call: Option<PlannedCall>,
    pub stop: StopReason,
}

impl Plan {
    pub fn text(&self) -> String {
        self.text.concat()
    }

    pub fn output_tokens(&self) -> u32 {
        let n = self.reasoning.len()
            + self.text.len()
            + self.tool_call.as_ref().map_or(0, |c| c.fragments.len());
        u32::try_from(n).unwrap_or(u32::MAX)
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

/// FNV-1a of a string, as a seed and for ids.
fn hash_str(s: &str) -> u64 {
    fnv1a(s)
}

fn words_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// Base-62 characters from a hash, for ids.
fn id_chars(mut h: u64, n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(n);
    for _ in 0..n {
        if h == 0 {
            h = 0x9E37_79B9_7F4A_7C15;
        }
        out.push(char::from(ALPHABET[(h % 62) as usize]));
        h /= 62;
        h = h.wrapping_mul(0x100000001b3) ^ 0x5bd1_e995;
    }
    out
}

/// Splits a string into about `pieces` parts at character boundaries.
fn fragments(s: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let size = chars.len().div_ceil(pieces.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// Tokens a part of the prompt costs (text parts are counted by `Prompt::flatten`).
fn part_tokens(part: &Part) -> u32 {
    match part {
        Part::Text(_) => 0,
        Part::Image(m) => match &m.source {
            Source::Bytes(b) => media::sniff_image(b)
                .map(|i| u32::try_from((i.width * i.height / 750).max(1)).unwrap_or(u32::MAX))
                .unwrap_or(1),
            _ => 1,
        },
        Part::Document(d) => match &d.source {
            Source::Text(t) => count_tokens(t),
            Source::Bytes(b) => match std::str::from_utf8(b) {
                Ok(t)
                    if d.format
                        .as_deref()
                        .is_none_or(|f| matches!(f, "txt" | "md" | "csv" | "html")) =>
                {
                    count_tokens(t)
                }
                _ => u32::try_from(b.len().div_ceil(4)).unwrap_or(u32::MAX),
            },
            Source::S3(_) => 1,
        },
        // Approximation: a short video as a fixed cost.
        Part::Video(_) => 1000,
        Part::ToolUse(c) => 1 + count_tokens(&c.name) + count_tokens(&c.input.to_string()),
        Part::ToolResult(r) => {
            1 + r
                .content
                .iter()
                .map(|p| match p {
                    Part::Text(t) => count_tokens(t),
                    Part::Json(v) => count_tokens(&v.to_string()),
                    other => part_tokens(other),
                })
                .sum::<u32>()
        }
        Part::Json(v) => count_tokens(&v.to_string()),
        Part::Reasoning(bedrock_families::Reasoning::Text { text, .. }) => count_tokens(text),
        Part::Reasoning(bedrock_families::Reasoning::Redacted(b)) => {
            u32::try_from(b.len().div_ceil(4)).unwrap_or(u32::MAX)
        }
    }
}

fn tools_tokens(prompt: &Prompt, count: usize) -> u32 {
    prompt
        .tools
        .iter()
        .take(count)
        .map(|t| {
            count_tokens(&t.name)
                + t.description.as_deref().map_or(0, count_tokens)
                + count_tokens(&t.input_schema.to_string())
        })
        .sum()
}

/// Every prompt token: system, text, tools and the other parts.
fn prompt_tokens(prompt: &Prompt) -> u32 {
    let parts: u32 = prompt
        .turns
        .iter()
        .flat_map(|t| t.content.iter())
        .map(part_tokens)
        .sum();
    count_tokens(&prompt.flatten())
        .saturating_add(parts)
        .saturating_add(tools_tokens(prompt, prompt.tools.len()))
}

/// The cached prefix up to a checkpoint: its identity and its tokens.
fn prefix(model_id: &str, prompt: &Prompt, point: &CachePoint) -> (u64, u32) {
    let mut key = format!("{model_id}\u{0}");
    let mut tokens;
    let (tools, system_chars, turns, parts) = match *point {
        CachePoint::Tools { count } => (count, 0, 0, 0),
        CachePoint::System { chars } => (prompt.tools.len(), chars, 0, 0),
        CachePoint::Message { turn, parts } => (prompt.tools.len(), usize::MAX, turn, parts),
    };
    key.push_str(&format!(
        "{:?}",
        &prompt.tools[..tools.min(prompt.tools.len())]
    ));
    tokens = tools_tokens(prompt, tools);
    if let Some(system) = &prompt.system {
        let cut = system
            .get(..system_chars.min(system.len()))
            .unwrap_or(system.as_str());
        key.push_str(cut);
        tokens = tokens.saturating_add(count_tokens(cut));
    }
    if let CachePoint::Message { .. } = point {
        for (i, turn) in prompt.turns.iter().enumerate().take(turns + 1) {
            let take = if i == turns { parts } else { usize::MAX };
            for part in turn.content.iter().take(take) {
                key.push_str(&format!("{:?}{part:?}", turn.role));
                tokens = tokens.saturating_add(match part {
                    Part::Text(t) => count_tokens(t),
                    other => part_tokens(other),
                });
            }
        }
    }
    (hash_str(&key), tokens)
}

impl ScriptedEngine {
    pub fn new(config: ScriptedConfig) -> Self {
        ScriptedEngine {
            config,
            cache: Arc::default(),
        }
    }

    /// The text answer this engine writes for a plain prompt, computed up front: the same
    /// request always gets the same bytes, which is what load tests compare against.
    pub fn script(&self, prompt: &Prompt, sampling: &Sampling) -> Script {
        let plan = self.plan(&GenerationRequest::new(
            "",
            prompt.clone(),
            sampling.clone(),
        ));
        Script {
            tokens: plan.text,
            stop: plan.stop,
            input_tokens: plan.input_tokens,
        }
    }

    /// The whole answer to a request (without the cache split, which depends on what came
    /// before).
    pub fn plan(&self, request: &GenerationRequest) -> Plan {
        let prompt = &request.prompt;
        let sampling = &request.sampling;
        let flat = prompt.flatten();
        let input_tokens = prompt_tokens(prompt);
        let last_user = prompt.turns.iter().rev().find(|t| t.role == Role::User);
        let last_user_text = last_user.map(|t| t.text()).unwrap_or_default();
        let mut budget = sampling
            .max_tokens
            .unwrap_or(self.config.default_max_tokens) as usize;
        let mut stop = StopReason::EndTurn;

        // Reasoning first.
        let reasoning_kind = catalog::lookup(&request.model_id)
            .map(|m| m.capabilities.reasoning)
            .unwrap_or(if prompt.thinking.is_some() {
                Reasoning::Budget
            } else {
                Reasoning::None
            });
        // Models that always reason (DeepSeek R1) reason here only when asked too: their
        // requests cannot ask, and every family's text answer stays the documented one.
        let reasons = reasoning_kind != Reasoning::None && prompt.thinking.is_some();
        let mut reasoning = Vec::new();
        let mut signature = None;
        if reasons {
            let mut r = vec!["Thinking".to_string(), " about:".to_string()];
            r.extend(words_of(&last_user_text).into_iter().take(6).map(|w| {
                if w.starts_with(' ') {
                    w
                } else {
                    format!(" {w}")
                }
            }));
            r.push(" Let".into());
            r.push(" me".into());
            r.push(" answer.".into());
            let cap = prompt
                .thinking
                .map_or(usize::MAX, |t| t.budget_tokens as usize);
            r.truncate(cap);
            if r.len() > budget {
                r.truncate(budget);
                stop = StopReason::MaxTokens;
            }
            budget -= r.len();
            if reasoning_kind == Reasoning::Budget {
                signature = Some(format!(
                    "EqQBCkgIARABGAIiQL{}",
                    id_chars(hash_str(&format!("sig{flat}")), 40)
                ));
            }
            reasoning = r;
        }

        // Then a tool call, or text.
        let tool = if stop == StopReason::EndTurn {
            pick_tool(prompt, &last_user_text)
        } else {
            None
        };
        let mut text: Vec<String> = Vec::new();
        let mut tool_call = None;
        if let Some(spec) = tool {
            if prompt.tool_choice == ToolChoice::Auto {
                text = vec!["Calling".into(), format!(" {}.", spec.name)];
            }
            let input = schema_value::value_for(&spec.input_schema, &last_user_text);
            let json = input.to_string();
            let turns = prompt.turns.len();
            let id = format!(
                "tooluse_{}",
                id_chars(
                    hash_str(&format!("{flat}\u{0}{}\u{0}{turns}", spec.name)),
                    22
                )
            );
            tool_call = Some(PlannedCall {
                id,
                name: spec.name.clone(),
                input,
                fragments: fragments(&json, 4),
            });
        } else if let Some(schema) = &prompt.output_schema {
            let json = schema_value::value_for(schema, &last_user_text).to_string();
            text = fragments(&json, 4);
        } else if let Some(user) =
            last_user.filter(|t| t.content.iter().any(|p| matches!(p, Part::ToolResult(_))))
        {
            text = words_of(&quote_results(prompt, user));
        } else {
            text = scripted_words(&flat, &last_user_text, last_user);
        }

        // Limits: max tokens over text and tool input, then stop sequences over text.
        let text_fits = text.len() <= budget;
        if !text_fits {
            text.truncate(budget);
            stop = StopReason::MaxTokens;
            tool_call = None;
        } else {
            budget -= text.len();
            if let Some(call) = &mut tool_call {
                if call.fragments.len() > budget {
                    call.fragments.truncate(budget);
                    stop = StopReason::MaxTokens;
                } else if stop == StopReason::EndTurn {
                    stop = StopReason::ToolUse;
                }
            }
        }
        if tool_call.is_none() {
            if let Some((kept, seq)) = cut_at_stop_sequence(&text, &sampling.stop_sequences) {
                text = kept;
                stop = StopReason::StopSequence(seq);
            }
        }
        Plan {
            input_tokens,
            reasoning,
            signature,
            text,
            tool_call,
            stop,
        }
    }

    /// Splits the prompt tokens into uncached, cache-read and cache-write, and remembers the
    /// prefixes this request wrote.
    fn cache_split(&self, request: &GenerationRequest, total: u32) -> (u32, u32, u32) {
        if request.cache_points.is_empty() {
            return (total, 0, 0);
        }
        let prefixes: Vec<(u64, u32)> = request
            .cache_points
            .iter()
            .map(|p| prefix(&request.model_id, &request.prompt, p))
            .collect();
        let Ok(mut seen) = self.cache.lock() else {
            return (total, 0, 0);
        };
        let read = prefixes
            .iter()
            .filter(|(k, _)| seen.contains(k))
            .map(|(_, t)| *t)
            .max()
            .unwrap_or(0);
        let longest = prefixes.iter().map(|(_, t)| *t).max().unwrap_or(0);
        let write = longest.saturating_sub(read);
        if seen.len() + prefixes.len() > CACHE_ENTRIES {
            seen.clear();
        }
        seen.extend(prefixes.iter().map(|(k, _)| *k));
        let read = read.min(total);
        let write = write.min(total - read);
        (total - read - write, read, write)
    }
}

/// The tool to call, by the rule in the module docs.
fn pick_tool<'p>(
    prompt: &'p Prompt,
    last_user_text: &str,
) -> Option<&'p bedrock_families::ToolSpec> {
    if prompt.tools.is_empty() {
        return None;
    }
    let named = || {
        prompt
            .tools
            .iter()
            .filter_map(|t| last_user_text.find(t.name.as_str()).map(|at| (at, t)))
            .min_by_key(|(at, _)| *at)
            .map(|(_, t)| t)
    };
    let last_has_results = prompt.turns.last().is_some_and(|t| {
        t.role == Role::User && t.content.iter().any(|p| matches!(p, Part::ToolResult(_)))
    });
    let any_results = prompt
        .turns
        .iter()
        .any(|t| t.content.iter().any(|p| matches!(p, Part::ToolResult(_))));
    match &prompt.tool_choice {
        ToolChoice::None => None,
        ToolChoice::Tool(name) => prompt.tools.iter().find(|t| &t.name == name),
        ToolChoice::Any => named().or_else(|| prompt.tools.first()),
        ToolChoice::Auto if last_has_results => None,
        ToolChoice::Auto => named().or_else(|| {
            if any_results {
                None
            } else {
                prompt.tools.first()
            }
        }),
    }
}

/// "The tool NAME returned: …" for each result of the last user message.
fn quote_results(prompt: &Prompt, user: &bedrock_families::Turn) -> String {
    let name_of = |id: &str| {
        prompt
            .turns
            .iter()
            .flat_map(|t| t.content.iter())
            .find_map(|p| match p {
                Part::ToolUse(c) if c.id == id => Some(c.name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| id.to_string())
    };
    let mut out = Vec::new();
    for part in &user.content {
        if let Part::ToolResult(r) = part {
            let content: Vec<String> = r
                .content
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.clone(),
                    Part::Json(v) => v.to_string(),
                    Part::Image(m) => format!("[image {}]", m.format),
                    Part::Document(d) => format!("[document {}]", d.name),
                    _ => String::new(),
                })
                .collect();
            let verb = if r.is_error { "failed" } else { "returned" };
            out.push(format!(
                "The tool {} {verb}: {}",
                name_of(&r.tool_use_id),
                content.join(" ")
            ));
        }
    }
    let text = user.text();
    if !text.trim().is_empty() {
        out.push(format!("You said: {}", text.trim()));
    }
    format!("{}.", out.join("; "))
}

/// The acknowledgement of a user message's images and documents.
fn attachments(turn: &bedrock_families::Turn) -> Vec<String> {
    let mut out = Vec::new();
    let mut images = 0;
    for part in &turn.content {
        match part {
            Part::Image(m) => {
                images += 1;
                let what = match &m.source {
                    Source::Bytes(b) => media::sniff_image(b)
                        .map(|i| format!("{} {}x{}", i.format, i.width, i.height))
                        .unwrap_or_else(|| format!("{} unreadable", m.format)),
                    _ => format!("{} elsewhere", m.format),
                };
                out.push(format!("[image {images}: {what}]"));
            }
            Part::Document(d) => {
                let len = match &d.source {
                    Source::Bytes(b) => b.len(),
                    Source::Text(t) => t.len(),
                    Source::S3(_) => 0,
                };
                out.push(format!("[document {}: {len} bytes]", d.name));
            }
            _ => {}
        }
    }
    out
}

/// The plain scripted answer: the echo, the attachments, then seeded words.
fn scripted_words(
    flat: &str,
    last_user_text: &str,
    last_user: Option<&bedrock_families::Turn>,
) -> Vec<String> {
    let echo: Vec<&str> = last_user_text.split_whitespace().take(6).collect();
    let mut words: Vec<String> = vec!["Scripted".into(), "answer".into(), "to:".into()];
    words.extend(echo.iter().map(|w| w.to_string()));
    if let Some(turn) = last_user {
        for a in attachments(turn) {
            words.extend(a.split_whitespace().map(str::to_string));
        }
    }
    let mut seed = fnv1a(flat) | 1;
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
    words
        .iter()
        .enumerate()
        .map(|(i, w)| if i == 0 { w.clone() } else { format!(" {w}") })
        .collect()
}

/// Cuts tokens before the earliest stop sequence; `None` when none occurs.
fn cut_at_stop_sequence(tokens: &[String], stops: &[String]) -> Option<(Vec<String>, String)> {
    let text: String = tokens.concat();
    let (pos, seq) = stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|p| (p, s.clone())))
        .min_by_key(|(p, _)| *p)?;
    let mut kept = Vec::new();
    let mut at = 0;
    for t in tokens {
        if at + t.len() <= pos {
            at += t.len();
            kept.push(t.clone());
        } else {
            let part = &t[..pos - at];
            if !part.is_empty() {
                kept.push(part.to_string());
            }
            break;
        }
    }
    Some((kept, seq))
}

impl Engine for ScriptedEngine {
    fn describe(&self) -> String {
        format!(
            "scripted engine (deterministic answers, {} token(s) per chunk, {} ms between chunks)",
            self.config.tokens_per_chunk,
            self.config.chunk_delay.as_millis()
        )
    }

    fn generate(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::Receiver<EngineEvent>, EngineError> {
        let plan = self.plan(&request);
        let (input_tokens, cache_read, cache_write) = self.cache_split(&request, plan.input_tokens);
        let delay = self.config.chunk_delay;
        let per_chunk = self.config.tokens_per_chunk.max(1);
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let output_tokens = plan.output_tokens();
            let mut events = vec![EngineEvent::Started { input_tokens }];
            for group in plan.reasoning.chunks(per_chunk) {
                events.push(EngineEvent::Reasoning {
                    text: group.concat(),
                    tokens: u32::try_from(group.len()).unwrap_or(u32::MAX),
                });
            }
            if let Some(signature) = plan.signature {
                if !plan.reasoning.is_empty() {
                    events.push(EngineEvent::ReasoningSignature { signature });
                }
            }
            for group in plan.text.chunks(per_chunk) {
                events.push(EngineEvent::Text {
                    text: group.concat(),
                    tokens: u32::try_from(group.len()).unwrap_or(u32::MAX),
                });
            }
            if let Some(call) = plan.tool_call {
                events.push(EngineEvent::ToolUse {
                    id: call.id,
                    name: call.name,
                });
                for f in call.fragments {
                    events.push(EngineEvent::ToolInput { json: f, tokens: 1 });
                }
            }
            events.push(EngineEvent::Finished {
                stop: plan.stop,
                usage: Usage {
                    input_tokens,
                    output_tokens,
                    cache_read_input_tokens: cache_read,
                    cache_write_input_tokens: cache_write,
                },
            });
            let mut content_sent = 0usize;
            for event in events {
                let paced = matches!(
                    event,
                    EngineEvent::Text { .. }
                        | EngineEvent::Reasoning { .. }
                        | EngineEvent::ToolInput { .. }
                );
                if paced {
                    if content_sent > 0 && !delay.is_zero() {
                        tokio::select! {
                            _ = tx.closed() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                    content_sent += 1;
                }
                if tx.send(event).await.is_err() {
                    return;
                }
            }
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

    fn with_tools(choice: ToolChoice, turns: Vec<bedrock_families::Turn>) -> Prompt {
        let schema = serde_json::json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]});
        Prompt {
            turns,
            tools: vec![
                bedrock_families::ToolSpec {
                    name: "search".into(),
                    description: None,
                    input_schema: schema.clone(),
                },
                bedrock_families::ToolSpec {
                    name: "lookup".into(),
                    description: None,
                    input_schema: schema,
                },
            ],
            tool_choice: choice,
            ..Prompt::default()
        }
    }

    fn plan(p: Prompt, max_tokens: Option<u32>) -> Plan {
        ScriptedEngine::default().plan(&GenerationRequest::new(
            "anthropic.claude-3-haiku-20240307-v1:0",
            p,
            Sampling {
                max_tokens,
                ..Default::default()
            },
        ))
    }

    #[test]
    fn the_tool_rule() {
        use bedrock_families::{ToolCall, ToolResult, Turn};
        let ask = |t: &str| vec![Turn::new(Role::User, t)];
        let name = |p: &Plan| p.tool_call.as_ref().map(|c| c.name.clone());
        // any: the named tool, else the first.
        assert_eq!(
            name(&plan(
                with_tools(ToolChoice::Any, ask("please lookup x")),
                None
            ))
            .as_deref(),
            Some("lookup")
        );
        assert_eq!(
            name(&plan(with_tools(ToolChoice::Any, ask("hello")), None)).as_deref(),
            Some("search")
        );
        // tool: that one.
        assert_eq!(
            name(&plan(
                with_tools(ToolChoice::Tool("lookup".into()), ask("search")),
                None
            ))
            .as_deref(),
            Some("lookup")
        );
        // none: never.
        assert_eq!(
            name(&plan(with_tools(ToolChoice::None, ask("search")), None)),
            None
        );
        // auto: a call with a lead-in text, stop tool_use.
        let p = plan(with_tools(ToolChoice::Auto, ask("hello")), None);
        assert_eq!(name(&p).as_deref(), Some("search"));
        assert_eq!(p.text(), "Calling search.");
        assert_eq!(p.stop, StopReason::ToolUse);
        let call = p.tool_call.unwrap();
        assert_eq!(call.fragments.concat(), call.input.to_string());
        assert!(call.fragments.len() >= 3);
        // auto after a result: text quoting it.
        let history = vec![
            Turn::new(Role::User, "hello"),
            Turn {
                role: Role::Assistant,
                content: vec![Part::ToolUse(ToolCall {
                    id: "t1".into(),
                    name: "search".into(),
                    input: serde_json::json!({"q": "x"}),
                })],
            },
            Turn {
                role: Role::User,
                content: vec![Part::ToolResult(ToolResult {
                    tool_use_id: "t1".into(),
                    is_error: true,
                    content: vec![Part::Text("timeout".into())],
                })],
            },
        ];
        let p = plan(with_tools(ToolChoice::Auto, history), None);
        assert!(p.tool_call.is_none());
        assert_eq!(p.text(), "The tool search failed: timeout.");
        assert_eq!(p.stop, StopReason::EndTurn);
        // max_tokens inside the input: cut, stop max_tokens.
        let p = plan(with_tools(ToolChoice::Any, ask("hello")), Some(2));
        assert_eq!(p.stop, StopReason::MaxTokens);
        assert_eq!(p.tool_call.unwrap().fragments.len(), 2);
    }

    #[test]
    fn cache_points_write_once_then_read() {
        let e = ScriptedEngine::default();
        let mut p = Prompt::user("question");
        p.system = Some("one two three four".into());
        let mut req = GenerationRequest::new("m", p, Sampling::default());
        req.cache_points = vec![CachePoint::System { chars: 18 }];
        let total = e.plan(&req).input_tokens;
        assert_eq!(e.cache_split(&req, total), (1, 0, 4));
        assert_eq!(e.cache_split(&req, total), (1, 4, 0));
        // A longer prefix that extends the cached one: read the old part, write the rest.
        req.cache_points
            .push(CachePoint::Message { turn: 0, parts: 1 });
        assert_eq!(e.cache_split(&req, total), (0, 4, 1));
    }
}
