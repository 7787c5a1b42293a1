//! Checking an OpenAI chat-completions answer (`text/event-stream`): the `data:` events parsed,
//! the `delta.content` strings joined and compared with the expected text, `data: [DONE]` at
//! the end.

use std::borrow::Cow;

use serde::Deserialize;

use super::load::Ending;

#[derive(Deserialize)]
struct ChunkMsg<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChoiceMsg<'a>>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceMsg<'a> {
    #[serde(default, borrow)]
    delta: Option<DeltaMsg<'a>>,
}

#[derive(Deserialize)]
struct DeltaMsg<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
}

/// What the client made of an SSE answer.
#[derive(Debug, Clone)]
pub struct Checked {
    pub ending: Ending,
    /// Content events.
    pub chunks: usize,
    /// Body bytes up to the end of the first content event.
    pub first_content_at: Option<usize>,
}

/// Parses an OpenAI chat-completions SSE body: joins the `delta.content` strings, counts the
/// content events, requires `data: [DONE]` at the end, compares with `expected`.
pub fn check_sse(status: u16, body: &[u8], expected: &str) -> Checked {
    let mut text = String::with_capacity(expected.len());
    let mut chunks = 0;
    let mut first = None;
    let mut done = false;
    let mut error = None;
    let mut at = 0;
    if status != 200 {
        return Checked {
            ending: Ending::Failed(
                "http",
                format!(
                    "status {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                ),
            ),
            chunks,
            first_content_at: first,
        };
    }
    let mut rest = body;
    while !rest.is_empty() {
        let (event, len) = match rest.windows(2).position(|w| w == b"\n\n") {
            Some(p) => (&rest[..p], p + 2),
            None => (rest, rest.len()),
        };
        rest = &rest[len..];
        at += len;
        for line in event.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(data) = line.strip_prefix(b"data:") else {
                continue;
            };
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data == b"[DONE]" {
                done = true;
                continue;
            }
            if done {
                error.get_or_insert_with(|| "data after [DONE]".to_string());
            }
            match serde_json::from_slice::<ChunkMsg>(data) {
                Ok(m) => {
                    if m.error.is_some() {
                        error.get_or_insert_with(|| {
                            format!("error event: {}", String::from_utf8_lossy(data))
                        });
                    }
                    for c in m.choices {
                        if let Some(t) = c.delta.and_then(|d| d.content) {
                            if !t.is_empty() {
                                chunks += 1;
                                text.push_str(&t);
                                first.get_or_insert(at);
                            }
                        }
                    }
                }
                Err(e) => {
                    error.get_or_insert_with(|| {
                        format!(
                            "unparsable event ({e}): {}",
                            String::from_utf8_lossy(&data[..data.len().min(120)])
                        )
                    });
                }
            }
        }
    }
    let ending = if let Some(e) = error {
        Ending::Failed("incomplete", e)
    } else if !done {
        Ending::Failed(
            "incomplete",
            format!(
                "no [DONE] after {} bytes, {chunks} content events",
                body.len()
            ),
        )
    } else if text != expected {
        let n = text
            .bytes()
            .zip(expected.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(text.len().min(expected.len()));
        Ending::Failed(
            "mismatched",
            format!(
                "text differs at byte {n} ({} vs {} bytes expected)",
                text.len(),
                expected.len()
            ),
        )
    } else {
        Ending::Ok
    };
    Checked {
        ending,
        chunks,
        first_content_at: first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(events: &[&str]) -> Vec<u8> {
        events
            .iter()
            .map(|e| format!("data: {e}\n\n"))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn sse_is_reassembled_and_checked() {
        let ok = sse(&[
            r#"{"choices":[{"delta":{"role":"assistant","content":"Hello"}}]}"#,
            r#"{"choices":[{"delta":{"content":" wörld"}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"length"}]}"#,
            "[DONE]",
        ]);
        let c = check_sse(200, &ok, "Hello wörld");
        assert_eq!(c.ending, Ending::Ok);
        assert_eq!(c.chunks, 2);
        let first_event = ok.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        assert_eq!(c.first_content_at, Some(first_event));
        assert!(matches!(
            check_sse(200, &ok, "Hello world").ending,
            Ending::Failed("mismatched", _)
        ));
        let cut = &ok[..ok.len() - "data: [DONE]\n\n".len()];
        assert!(matches!(
            check_sse(200, cut, "Hello wörld").ending,
            Ending::Failed("incomplete", _)
        ));
        let err = sse(&[
            r#"{"choices":[{"delta":{"content":"Hello"}}]}"#,
            r#"{"error":{"message":"boom","type":"api_error"}}"#,
            "[DONE]",
        ]);
        assert!(matches!(
            check_sse(200, &err, "Hello").ending,
            Ending::Failed("incomplete", _)
        ));
        assert!(matches!(
            check_sse(429, b"{}", "Hello").ending,
            Ending::Failed("http", _)
        ));
    }
}
