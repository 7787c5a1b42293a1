//! The parts of a SigV4 canonical request that come from the request line and the headers,
//! computed from the bytes the client sent.
//!
//! Facts used (AWS "Create a signed AWS API request", Signature Version 4, and the behaviour of
//! AWS services and signers as recorded below):
//! - CanonicalURI, every service but S3: the path as sent, URI-encoded once more (each `%`
//!   becomes `%25`), `/` kept. An Elasticsearch endpoint asked for `/_search/%3Fa=b%20c` expects
//!   `/_search/%253Fa%3Db%2520c` (aws/aws-sdk-js#853); botocore signs
//!   `quote(remove_dot_segments(path), safe='/~')` (botocore/auth.py `_normalize_url_path`).
//!   Dot segments and empty segments are normalised away by signers, so two different paths
//!   would share one signature: such paths are refused here instead (see [`canonical_path`]).
//! - CanonicalQueryString: each name and value URI-encoded (RFC 3986 unreserved characters
//!   `A-Z a-z 0-9 - _ . ~` kept, every other byte `%XY` with upper-case hex), sorted by name and
//!   then by value, after encoding (smithy-lang/smithy-typescript#1404); a name without `=` gets
//!   an empty value. AWS services read `+` in a query as a space (a space must be signed as
//!   `%20`: aws/aws-sdk-go#220; ceph/ceph#16116 does the same for S3 compatibility).
//!   That is [`QueryForm::Decoded`], what the AWS SDKs sign (aws-sigv4, botocore with `params`).
//!   botocore signs a query written into the URL as sent, pair by pair, sorted
//!   (`_canonical_query_string_url`: `?x=a+b` → `x=a+b`, `?w=%7E` → `w=%7E`, `?t=a=b` → `t=a=b`),
//!   and so does curl when the query is already sorted: [`QueryForm::AsSent`]. Both forms are
//!   one-to-one on what they keep (bytes are never decoded lossily: `%ff` and `%fe` differ), and
//!   the verifier hands the handler the canonical query that was verified, so what the handler
//!   reads is exactly what was signed.
//! - CanonicalHeaders: lower-case name, `:`, the value with leading and trailing spaces removed
//!   and inner runs of spaces collapsed to one; repeated headers joined with `,` in order (test
//!   suite `get-header-key-duplicate`, `get-header-value-trim`).

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte but RFC 3986's unreserved characters.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same, keeping `/` (for paths).
const PATH_ENCODE: &AsciiSet = &URI_ENCODE.remove(b'/');

/// Why a path or a query cannot be canonicalised one-to-one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("the path has `.`, `..` or empty segments; send it normalised (signers sign the normalised path, so the two would share one signature)")]
    PathNotNormalised,
    #[error("the path does not start with `/`")]
    PathNotAbsolute,
    #[error("the query has an empty parameter (`&&`, or a leading or trailing `&`)")]
    EmptyQueryParameter,
}

/// The CanonicalURI of a non-S3 service for the path as sent.
pub fn canonical_path(raw: &str) -> Result<String, ShapeError> {
    if raw.is_empty() {
        return Ok("/".to_string());
    }
    if !raw.starts_with('/') {
        return Err(ShapeError::PathNotAbsolute);
    }
    // `/` alone is normalised; otherwise no segment after the first `/` may be empty (except a
    // trailing slash), `.` or `..`.
    let inner = &raw[1..];
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if !inner.is_empty()
        && inner
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(ShapeError::PathNotNormalised);
    }
    if raw == "//" {
        return Err(ShapeError::PathNotNormalised);
    }
    Ok(percent_encode(raw.as_bytes(), PATH_ENCODE).to_string())
}

/// The two ways real signers canonicalise a query (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryForm {
    /// Names and values percent-decoded (`+` as a space) and URI-encoded again: the AWS SDKs.
    Decoded,
    /// Names and values as sent, only sorted: botocore with a query in the URL, curl.
    AsSent,
}

/// The query's `name=value` pieces as sent. An empty query has none.
fn pieces(raw: &str) -> Result<Vec<(&str, &str)>, ShapeError> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    raw.split('&')
        .map(|piece| {
            if piece.is_empty() {
                return Err(ShapeError::EmptyQueryParameter);
            }
            Ok(piece.split_once('=').unwrap_or((piece, "")))
        })
        .collect()
}

/// Percent-decodes strictly (a `%` must start `%XY`), `+` as a space; bytes, not text.
fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| char::from(*c).to_digit(16))?;
                let lo = b.get(i + 2).and_then(|c| char::from(*c).to_digit(16))?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

fn join(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The CanonicalQueryString of the query as sent, in `form`. `Ok(None)` when the query cannot
/// be read in that form (a stray `%` cannot be decoded).
pub fn canonical_query(raw: &str, form: QueryForm) -> Result<Option<String>, ShapeError> {
    let pieces = pieces(raw)?;
    let pairs = match form {
        QueryForm::AsSent => pieces
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        QueryForm::Decoded => {
            let mut pairs = Vec::with_capacity(pieces.len());
            for (k, v) in pieces {
                let (Some(k), Some(v)) = (decode(k), decode(v)) else {
                    return Ok(None);
                };
                pairs.push((
                    percent_encode(&k, URI_ENCODE).to_string(),
                    percent_encode(&v, URI_ENCODE).to_string(),
                ));
            }
            pairs
        }
    };
    Ok(Some(join(pairs)))
}

/// A header value as it enters the canonical request: trimmed, inner runs of spaces and tabs
/// collapsed to one space.
pub fn canonical_header_value(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = started;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b);
        started = true;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn both(raw: &str) -> (Option<String>, Option<String>) {
        (
            canonical_query(raw, QueryForm::Decoded).unwrap(),
            canonical_query(raw, QueryForm::AsSent).unwrap(),
        )
    }

    #[test]
    fn queries_in_both_forms() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(both(""), (s(""), s("")));
        assert_eq!(both("x=a+b"), (s("x=a%20b"), s("x=a+b")));
        assert_eq!(both("w=%7E"), (s("w=~"), s("w=%7E")));
        assert_eq!(both("t=a=b"), (s("t=a%3Db"), s("t=a=b")));
        assert_eq!(both("b=2&a=1&a=0"), (s("a=0&a=1&b=2"), s("a=0&a=1&b=2")));
        assert_eq!(both("e=&f"), (s("e=&f="), s("e=&f=")));
        assert_eq!(both("n=%E1%88%B4"), (s("n=%E1%88%B4"), s("n=%E1%88%B4")));
        assert_eq!(both("x=%ff"), (s("x=%FF"), s("x=%ff")));
        assert_eq!(both("x=%zz"), (None, s("x=%zz")));
        // Sorting happens after encoding: `%5B` sorts before `a`... and by name, then value.
        assert_eq!(
            canonical_query("q.parser=y&q=x", QueryForm::Decoded).unwrap(),
            s("q=x&q.parser=y")
        );
        // One-to-one: bytes are never merged.
        assert_ne!(both("x=%ff"), both("x=%fe"));
        for bad in ["a=1&&b=2", "&a=1", "a=1&"] {
            assert_eq!(
                canonical_query(bad, QueryForm::AsSent),
                Err(ShapeError::EmptyQueryParameter)
            );
        }
    }

    #[test]
    fn paths() {
        assert_eq!(canonical_path("").unwrap(), "/");
        assert_eq!(canonical_path("/").unwrap(), "/");
        assert_eq!(canonical_path("/converse").unwrap(), "/converse");
        assert_eq!(canonical_path("/a%20b/").unwrap(), "/a%2520b/");
        assert_eq!(
            canonical_path("/_search/%3Fa=b%20c").unwrap(),
            "/_search/%253Fa%3Db%2520c"
        );
        assert_eq!(canonical_path("/-._~").unwrap(), "/-._~");
        for bad in ["//", "/a//b", "/a/./b", "/a/../b", "/..", "/a/.", "//a"] {
            assert_eq!(
                canonical_path(bad),
                Err(ShapeError::PathNotNormalised),
                "{bad}"
            );
        }
        assert_eq!(canonical_path("a"), Err(ShapeError::PathNotAbsolute));
    }

    #[test]
    fn header_values() {
        let c = |v: &str| {
            let mut out = Vec::new();
            canonical_header_value(v.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(c("  \"a   b   c\" "), "\"a b c\"");
        assert_eq!(c("value1"), "value1");
        assert_eq!(c("a\t\tb"), "a b");
        assert_eq!(c(""), "");
    }
}
