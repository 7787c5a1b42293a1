//! Small helpers for reading loosely typed JSON bodies.

use serde_json::Value;

use crate::ValidationError;

pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(crate) fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let mut node = v;
    for key in path {
        node = node.get(*key)?;
    }
    node.as_u64()
}

pub(crate) fn first_choice(v: &Value) -> Option<&Value> {
    v.get("choices")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
}

/// A required string field.
pub(crate) fn required_str<'a>(body: &'a Value, key: &str) -> Result<&'a str, ValidationError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(ValidationError::new(format!(
            "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
        ))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ValidationError::new(format!(
            "Malformed input request: #/{key}: expected type: String, please reformat your input and try again."
        ))),
    }
}

/// An optional non-negative integer field.
pub(crate) fn opt_u32(body: &Value, path: &[&str]) -> Result<Option<u32>, ValidationError> {
    let mut node = body;
    for key in path {
        match node.get(*key) {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    match node {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                ValidationError::new(format!(
                    "Malformed input request: #/{}: expected type: Integer, please reformat your input and try again.",
                    path.join("/")
                ))
            }),
    }
}

/// An optional number field.
pub(crate) fn opt_f32(body: &Value, path: &[&str]) -> Result<Option<f32>, ValidationError> {
    let mut node = body;
    for key in path {
        match node.get(*key) {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    match node {
        Value::Null => Ok(None),
        v => v.as_f64().map(|f| Some(f as f32)).ok_or_else(|| {
            ValidationError::new(format!(
                "Malformed input request: #/{}: expected type: Number, please reformat your input and try again.",
                path.join("/")
            ))
        }),
    }
}

/// An optional list of strings.
pub(crate) fn opt_strings(body: &Value, path: &[&str]) -> Result<Vec<String>, ValidationError> {
    let mut node = body;
    for key in path {
        match node.get(*key) {
            Some(n) => node = n,
            None => return Ok(Vec::new()),
        }
    }
    match node {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    ValidationError::new(format!(
                        "Malformed input request: #/{}: expected type: String, please reformat your input and try again.",
                        path.join("/")
                    ))
                })
            })
            .collect(),
        _ => Err(ValidationError::new(format!(
            "Malformed input request: #/{}: expected type: JSONArray, please reformat your input and try again.",
            path.join("/")
        ))),
    }
}

/// Text of a content value that is either a string or a list of `{type:"text", text}` /
/// `{text}` blocks (Anthropic, Nova, Converse, OpenAI all use one of these).
pub(crate) fn content_text(content: &Value) -> Result<String, ValidationError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut out = String::new();
            for b in blocks {
                if let Some(t) = b.get("text").and_then(Value::as_str) {
                    out.push_str(t);
                } else if let Some(s) = b.as_str() {
                    out.push_str(s);
                }
            }
            Ok(out)
        }
        _ => Err(ValidationError::new(
            "Malformed input request: message content must be a string or a list of content blocks",
        )),
    }
}
