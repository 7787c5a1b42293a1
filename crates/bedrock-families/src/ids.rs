//! Identifiers in each family's own format: tool-use ids and message ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Family;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `len` characters of `alphabet`, unique within the process (a counter mixed with the clock
/// through splitmix64; not security relevant).
pub(crate) fn unique(alphabet: &[u8], len: usize) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut state = nanos
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let i = (z % alphabet.len() as u64) as usize;
        out.push(char::from(alphabet[i]));
    }
    out
}

/// A fresh tool-use id in the shape the family's answers carry it: Anthropic
/// `toolu_bdrk_` + 24 characters, Nova a UUID (tests/fixtures/invoke-stream/*), OpenAI-shaped
/// chat `call_` + 24, Mistral 9 alphanumerics; `None` (Converse) `tooluse_` + 22
/// (tests/fixtures/FACTS.md §4).
pub fn new_tool_use_id(family: Option<Family>) -> String {
    match family {
        Some(Family::AnthropicMessages | Family::AnthropicText) => {
            format!("toolu_bdrk_{}", unique(ALPHANUMERIC, 24))
        }
        Some(Family::Nova) => uuid(),
        Some(Family::MistralChat | Family::Mistral) => unique(ALPHANUMERIC, 9),
        Some(_) => format!("call_{}", unique(ALPHANUMERIC, 24)),
        None => format!("tooluse_{}", unique(ALPHANUMERIC, 22)),
    }
}

/// A version-4-looking UUID.
pub(crate) fn uuid() -> String {
    let hex = unique(b"0123456789abcdef", 32);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// An Anthropic message id: `msg_bdrk_` + 24 characters.
pub(crate) fn anthropic_message_id() -> String {
    format!("msg_bdrk_{}", unique(ALPHANUMERIC, 24))
}

/// An OpenAI completion id: `chatcmpl-` + 52 lowercase alphanumerics, as the real stream shows.
pub(crate) fn chat_completion_id() -> String {
    format!(
        "chatcmpl-{}",
        unique(b"abcdefghijklmnopqrstuvwxyz0123456789", 52)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_family_shape_and_differ() {
        let a = new_tool_use_id(Some(Family::AnthropicMessages));
        assert!(a.starts_with("toolu_bdrk_") && a.len() == 35, "{a}");
        assert_ne!(a, new_tool_use_id(Some(Family::AnthropicMessages)));
        let n = new_tool_use_id(Some(Family::Nova));
        assert_eq!(n.len(), 36);
        assert_eq!(n.matches('-').count(), 4);
        let c = new_tool_use_id(None);
        assert!(c.starts_with("tooluse_") && c.len() == 30, "{c}");
    }
}
