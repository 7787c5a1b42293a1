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

/// Decodes a base64 string (standard alphabet, padding optional) at `at`.
pub(crate) fn base64_bytes(data: &str, at: &str) -> Result<Vec<u8>, ValidationError> {
    use base64::Engine as _;
    let trimmed = data.trim();
    base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|e| ValidationError::new(format!("{at}: invalid base64 data: {e}")))
}

/// `image/png` → `png`, for the four formats Bedrock takes.
pub(crate) fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type.trim().to_ascii_lowercase().as_str() {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// The image format the bytes' signature says (PNG, JPEG, GIF, WebP).
pub(crate) fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// A JSON object field that must be an object when present.
pub(crate) fn opt_object<'a>(
    body: &'a Value,
    key: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, ValidationError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ValidationError::new(format!(
            "Malformed input request: #/{key}: expected type: JSONObject, please reformat your input and try again."
        ))),
    }
}

/// A JSON array field that must be an array when present.
pub(crate) fn opt_array<'a>(
    body: &'a Value,
    key: &str,
) -> Result<Option<&'a Vec<Value>>, ValidationError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(ValidationError::new(format!(
            "Malformed input request: #/{key}: expected type: JSONArray, please reformat your input and try again."
        ))),
    }
}

/// Maps an effort level onto a thinking budget (our convention: the Prompt carries budgets).
pub(crate) fn effort_budget(effort: &str) -> Option<u32> {
    match effort {
        "low" => Some(1024),
        "medium" => Some(4096),
        "high" => Some(16_384),
        _ => None,
    }
}
