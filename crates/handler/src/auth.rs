//! SigV4 request authentication, checked the way an `AWS_IAM` Lambda function URL checks it.
//!
//! A request must carry `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
//! SignedHeaders=..., Signature=...` and an `x-amz-date` header. The verifier checks the credential
//! scope (service `lambda` and the configured region, the scope date against `x-amz-date`), the
//! clock-skew window (±5 minutes by default, so a request replayed later fails), that the access
//! key is one of the keys of an AWS shared-credentials file (with its session token, if the file
//! has one), the payload hash (`x-amz-content-sha256` when sent, else the body's own SHA-256), and
//! finally the signature: it is computed again with the `aws-sigv4` crate over exactly the headers
//! the client listed in `SignedHeaders`, with the request's own time, double percent-encoding and
//! path normalisation as for every non-S3 service, and compared in constant time.
//!
//! Not supported (such requests get a 403 that says so): presigned URLs (SigV4 in the query
//! string), SigV4a (`AWS4-ECDSA-P256-SHA256`), streaming (chunk-signed or `UNSIGNED-PAYLOAD`)
//! payloads, and the `Date` header in place of `x-amz-date`.
//!
//! Secrets, session tokens and signatures are never logged nor put into error messages.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SessionTokenMode, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::{AppError, ErrorKind};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name a Lambda function URL expects in the credential scope.
pub const LAMBDA_SERVICE: &str = "lambda";
/// How far the request's `x-amz-date` may be from the server's clock, either way.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// One accepted key.
#[derive(Clone)]
struct Key {
    secret: String,
    session_token: Option<String>,
    profile: String,
}

/// Verifies SigV4-signed requests against a set of access keys.
#[derive(Clone)]
pub struct SigV4Verifier {
    region: String,
    service: String,
    clock_skew: Duration,
    keys: HashMap<String, Key>,
}

impl fmt::Debug for SigV4Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("SigV4Verifier")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("clock_skew", &self.clock_skew)
            .field("access_key_ids", &ids)
            .finish()
    }
}

/// Who signed an accepted request; put into the request's extensions by [`require_sigv4`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    /// The credentials-file profile the key came from.
    pub profile: String,
}

/// What the `Authorization` header and `x-amz-date` claim, checked before the body is read.
struct Claim {
    access_key_id: String,
    signed_headers: Vec<String>,
    signed_headers_raw: String,
    signature: String,
    time: SystemTime,
    key: Key,
}

fn deny(message: impl Into<String>) -> AppError {
    AppError::new(ErrorKind::Unauthorized, message)
}

impl SigV4Verifier {
    /// A verifier for service `lambda` in `region`, with no keys yet.
    pub fn new(region: impl Into<String>) -> Self {
        SigV4Verifier {
            region: region.into(),
            service: LAMBDA_SERVICE.to_string(),
            clock_skew: DEFAULT_CLOCK_SKEW,
            keys: HashMap::new(),
        }
    }

    /// Loads every key of an AWS shared-credentials file (`[profile]` sections with
    /// `aws_access_key_id`, `aws_secret_access_key`, optional `aws_session_token`).
    pub fn from_credentials_file(path: impl AsRef<Path>, region: &str) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the credentials file {}", path.display()))?;
        Self::from_credentials_str(&text, region)
            .with_context(|| format!("in the credentials file {}", path.display()))
    }

    /// Like [`SigV4Verifier::from_credentials_file`], from the file's text.
    pub fn from_credentials_str(text: &str, region: &str) -> anyhow::Result<Self> {
        if region.trim().is_empty() {
            bail!("the SigV4 region is empty");
        }
        let mut verifier = SigV4Verifier::new(region.trim());
        for p in parse_credentials(text)? {
            if let Some(existing) = verifier.keys.get(&p.access_key_id) {
                if existing.secret != p.secret || existing.session_token != p.session_token {
                    bail!(
                        "access key {} appears in profiles [{}] and [{}] with different secrets",
                        p.access_key_id,
                        existing.profile,
                        p.profile
                    );
                }
                continue;
            }
            verifier.keys.insert(
                p.access_key_id,
                Key {
                    secret: p.secret,
                    session_token: p.session_token,
                    profile: p.profile,
                },
            );
        }
        if verifier.keys.is_empty() {
            bail!("no keys found: expected [profile] sections with aws_access_key_id and aws_secret_access_key");
        }
        Ok(verifier)
    }

    /// Adds one key.
    pub fn with_key(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.keys.insert(
            access_key_id.into(),
            Key {
                secret: secret_access_key.into(),
                session_token,
                profile: "(added)".into(),
            },
        );
        self
    }

    /// Expects another service name in the credential scope (default `lambda`).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    /// Changes the clock-skew window (default ±5 minutes).
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// How many access keys are accepted.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Verifies a whole request (head and body) against the current time.
    pub fn verify(&self, parts: &Parts, body: &[u8]) -> Result<Caller, AppError> {
        self.verify_at(parts, body, SystemTime::now())
    }

    /// Verifies a whole request as if the server's clock read `now`.
    pub fn verify_at(
        &self,
        parts: &Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Caller, AppError> {
        let claim = self.check_head(parts, now)?;
        self.check_signature(&claim, parts, body)
    }

    /// Everything that can be checked without the body: the header's shape, the credential
    /// scope, the date and its window, the key and its session token.
    fn check_head(&self, parts: &Parts, now: SystemTime) -> Result<Claim, AppError> {
        let headers = &parts.headers;
        let Some(auth) = headers.get(header::AUTHORIZATION) else {
            if is_presigned(parts.uri.query()) {
                return Err(deny(
                    "presigned URLs (SigV4 in the query string) are not supported here; sign with the Authorization header",
                ));
            }
            return Err(deny(format!(
                "missing SigV4 signature: no Authorization header; sign the request with AWS SigV4 (service {}, region {})",
                self.service, self.region
            )));
        };
        let auth = auth
            .to_str()
            .map_err(|_| deny("malformed Authorization header: not ASCII"))?;
        let parsed = parse_authorization(auth).map_err(deny)?;

        let scope: Vec<&str> = parsed.credential.split('/').collect();
        let [access_key_id, scope_date, scope_region, scope_service, terminator] = scope[..] else {
            return Err(deny(
                "malformed Credential in the Authorization header: expected AKID/YYYYMMDD/REGION/SERVICE/aws4_request",
            ));
        };
        if terminator != "aws4_request" {
            return Err(deny(format!(
                "credential scope terminator `{terminator}` is not aws4_request"
            )));
        }
        if scope_service != self.service {
            return Err(deny(format!(
                "credential scope service {scope_service} does not match {}",
                self.service
            )));
        }
        if scope_region != self.region {
            return Err(deny(format!(
                "credential scope region {scope_region} does not match {}",
                self.region
            )));
        }

        let amz_date = headers
            .get(X_AMZ_DATE)
            .ok_or_else(|| deny("missing x-amz-date header (the request's signing time)"))?
            .to_str()
            .map_err(|_| deny("x-amz-date is not ASCII"))?
            .trim();
        let time = parse_amz_date(amz_date).ok_or_else(|| {
            deny(format!(
                "x-amz-date `{amz_date}` is not a time of the form YYYYMMDDTHHMMSSZ"
            ))
        })?;
        if !amz_date.starts_with(scope_date) || scope_date.len() != 8 {
            return Err(deny(format!(
                "credential scope date {scope_date} does not match the x-amz-date day {}",
                &amz_date[..8]
            )));
        }
        let skew = self.clock_skew.as_secs();
        match now.duration_since(time) {
            Ok(age) if age > self.clock_skew => {
                return Err(deny(format!(
                    "request expired: x-amz-date {amz_date} is {} s old, outside the ±{skew} s clock-skew window (a late replay, or a wrong clock)",
                    age.as_secs()
                )));
            }
            Err(e) if e.duration() > self.clock_skew => {
                return Err(deny(format!(
                    "request date in the future: x-amz-date {amz_date} is {} s ahead, outside the ±{skew} s clock-skew window",
                    e.duration().as_secs()
                )));
            }
            _ => {}
        }

        let signed_headers: Vec<String> = parsed
            .signed_headers
            .split(';')
            .map(str::to_string)
            .collect();
        for required in ["host", X_AMZ_DATE] {
            if !signed_headers.iter().any(|h| h == required) {
                return Err(deny(format!("SignedHeaders must include {required}")));
            }
        }

        let key = self.keys.get(access_key_id).ok_or_else(|| {
            deny(format!(
                "unknown access key {access_key_id}: it is not in this server's credentials file"
            ))
        })?;
        let sent_token = headers
            .get(X_AMZ_SECURITY_TOKEN)
            .map(|v| v.as_bytes().to_vec());
        match (&key.session_token, sent_token) {
            (None, None) => {}
            (Some(expected), Some(sent)) if ct_eq(expected.as_bytes(), &sent) => {}
            (Some(_), Some(_)) => {
                return Err(deny(format!(
                    "x-amz-security-token is not the session token of access key {access_key_id}"
                )))
            }
            (Some(_), None) => {
                return Err(deny(format!(
                    "access key {access_key_id} is temporary: the request needs its session token in x-amz-security-token"
                )))
            }
            (None, Some(_)) => {
                return Err(deny(format!(
                    "the request carries an x-amz-security-token, but access key {access_key_id} has no session token in the credentials file"
                )))
            }
        }

        Ok(Claim {
            access_key_id: access_key_id.to_string(),
            signed_headers,
            signed_headers_raw: parsed.signed_headers.to_string(),
            signature: parsed.signature.to_string(),
            time,
            key: key.clone(),
        })
    }

    /// The payload hash and the signature itself.
    fn check_signature(
        &self,
        claim: &Claim,
        parts: &Parts,
        body: &[u8],
    ) -> Result<Caller, AppError> {
        let headers = &parts.headers;
        if let Some(v) = headers.get(X_AMZ_CONTENT_SHA256) {
            let v = v
                .to_str()
                .map_err(|_| deny("x-amz-content-sha256 is not ASCII"))?
                .trim();
            let is_hex_digest = v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_hex_digest {
                return Err(deny(format!(
                    "x-amz-content-sha256 `{v}` is not supported: sign the payload (hex SHA-256 of the body)"
                )));
            }
            if !v.eq_ignore_ascii_case(&sha256_hex(body)) {
                return Err(deny(
                    "x-amz-content-sha256 does not match the SHA-256 of the body: the body was changed after signing",
                ));
            }
        }

        let host_fallback = parts.uri.authority().map(|a| a.as_str().to_string());
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for name in &claim.signed_headers {
            let mut found = false;
            for value in headers.get_all(name.as_str()) {
                let value = value.to_str().map_err(|_| {
                    deny(format!(
                        "signed header {name} has a value that is not visible ASCII"
                    ))
                })?;
                pairs.push((name.as_str(), value));
                found = true;
            }
            if !found {
                match (name.as_str(), &host_fallback) {
                    ("host", Some(authority)) => pairs.push(("host", authority.as_str())),
                    _ => return Err(deny(format!("signed header {name} is not in the request"))),
                }
            }
        }

        let mut settings = SigningSettings::default();
        // Sign exactly what the client listed: drop none of its headers.
        settings.excluded_headers = Some(Vec::new());
        settings.session_token_mode = if claim
            .signed_headers
            .iter()
            .any(|h| h == X_AMZ_SECURITY_TOKEN)
        {
            SessionTokenMode::Include
        } else {
            SessionTokenMode::Exclude
        };
        let identity: Identity = Credentials::new(
            claim.access_key_id.clone(),
            claim.key.secret.clone(),
            claim.key.session_token.clone(),
            None,
            "bedrock-stream-credentials-file",
        )
        .into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(claim.time)
            .settings(settings)
            .build()
            .map_err(|e| AppError::new(ErrorKind::Internal, format!("SigV4 parameters: {e}")))?
            .into();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let request = SignableRequest::new(
            parts.method.as_str(),
            path_and_query,
            pairs.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| deny(format!("cannot canonicalise the request for SigV4: {e}")))?;
        let (instructions, expected) = sign(request, &params)
            .map_err(|e| deny(format!("cannot canonicalise the request for SigV4: {e}")))?
            .into_parts();

        // The signer sorts and lowercases the names; a list written otherwise cannot match.
        let computed_list = instructions
            .headers()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| {
                parse_authorization(v)
                    .ok()
                    .map(|a| a.signed_headers.to_string())
            });
        if computed_list.as_deref() != Some(claim.signed_headers_raw.as_str()) {
            return Err(deny(
                "SignedHeaders must list each signed header once, in lowercase, sorted and separated by `;`",
            ));
        }
        if !ct_eq(expected.as_bytes(), claim.signature.as_bytes()) {
            return Err(deny(format!(
                "signature does not match for access key {}: the secret key is wrong, or the request (method, path, query, signed headers or body) was changed after signing",
                claim.access_key_id
            )));
        }
        Ok(Caller {
            access_key_id: claim.access_key_id.clone(),
            profile: claim.key.profile.clone(),
        })
    }
}

/// The three parts of an `AWS4-HMAC-SHA256` Authorization header.
struct ParsedAuthorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<ParsedAuthorization<'_>, String> {
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if scheme != ALGORITHM {
        return Err(if scheme == "AWS4-ECDSA-P256-SHA256" {
            "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported; sign with SigV4 (AWS4-HMAC-SHA256)"
                .to_string()
        } else {
            "the Authorization header is not an AWS SigV4 signature (AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...)".to_string()
        });
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for item in rest.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            return Err("malformed Authorization header: expected Credential=..., SignedHeaders=..., Signature=...".into());
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let missing = |what: &str| format!("malformed Authorization header: no {what}=");
    Ok(ParsedAuthorization {
        credential: credential
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("Credential"))?,
        signed_headers: signed_headers
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("SignedHeaders"))?,
        signature: signature
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("Signature"))?,
    })
}

fn is_presigned(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("X-Amz-Signature")
                || name.eq_ignore_ascii_case("X-Amz-Algorithm")
                || name.eq_ignore_ascii_case("X-Amz-Credential")
        })
    })
}

/// `YYYYMMDDTHHMMSSZ` (ISO 8601 basic, UTC) to a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = *month_days.get(usize::try_from(month - 1).ok()?)?;
    if day == 0 || day > max_day {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year ≥ 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// Equality whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// One profile of a credentials file.
struct Profile {
    profile: String,
    access_key_id: String,
    secret: String,
    session_token: Option<String>,
}

/// Parses the INI of an AWS shared-credentials (or config) file. Errors never quote secrets.
fn parse_credentials(text: &str) -> anyhow::Result<Vec<Profile>> {
    #[derive(Default)]
    struct Section {
        name: String,
        line: usize,
        values: HashMap<String, String>,
    }
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[') {
            let Some(name) = inner.strip_suffix(']') else {
                bail!("line {}: a section header must end with `]`", i + 1);
            };
            let name = name.trim();
            let name = name.strip_prefix("profile ").map(str::trim).unwrap_or(name);
            sections.push(Section {
                name: name.to_string(),
                line: i + 1,
                values: HashMap::new(),
            });
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bail!(
                "line {}: expected `key = value` or a `[profile]` header",
                i + 1
            );
        };
        let Some(section) = sections.last_mut() else {
            bail!(
                "line {}: a setting before the first `[profile]` header",
                i + 1
            );
        };
        // Nested settings (indented lines under `s3 =` and the like) are not credentials.
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let mut value = v.trim();
        for marker in [" #", "\t#", " ;", "\t;"] {
            if let Some(at) = value.find(marker) {
                value = value[..at].trim_end();
            }
        }
        section
            .values
            .insert(k.trim().to_ascii_lowercase(), value.to_string());
    }
    let mut out = Vec::new();
    for s in sections {
        let id = s.values.get("aws_access_key_id").filter(|v| !v.is_empty());
        let secret = s
            .values
            .get("aws_secret_access_key")
            .filter(|v| !v.is_empty());
        match (id, secret) {
            (Some(id), Some(secret)) => out.push(Profile {
                profile: s.name,
                access_key_id: id.clone(),
                secret: secret.clone(),
                session_token: s
                    .values
                    .get("aws_session_token")
                    .or_else(|| s.values.get("aws_security_token"))
                    .filter(|v| !v.is_empty())
                    .cloned(),
            }),
            (None, None) => {}
            (Some(_), None) => bail!(
                "profile [{}] (line {}) has aws_access_key_id but no aws_secret_access_key",
                s.name,
                s.line
            ),
            (None, Some(_)) => bail!(
                "profile [{}] (line {}) has aws_secret_access_key but no aws_access_key_id",
                s.name,
                s.line
            ),
        }
    }
    Ok(out)
}

#[derive(Clone)]
struct Guard {
    verifier: Arc<SigV4Verifier>,
    max_body_bytes: usize,
}

/// Wraps every route of `router` (the fallback too) in SigV4 verification. Apply it last, so it
/// runs before the router's own body limit and JSON handling. It buffers at most
/// `max_body_bytes` of body (413 past that, with the handler's JSON error), checks the signature,
/// and passes the request on with its body restored and a [`Caller`] in its extensions.
/// Requests that fail get 403 `{"error":{"type":"unauthorized","message":...}}`; everything that
/// can be checked without the body is checked before the body is read.
pub fn require_sigv4(
    router: axum::Router,
    verifier: SigV4Verifier,
    max_body_bytes: usize,
) -> axum::Router {
    let guard = Guard {
        verifier: Arc::new(verifier),
        max_body_bytes,
    };
    router.layer(axum::middleware::from_fn_with_state(guard, guard_request))
}

async fn guard_request(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let claim = match guard.verifier.check_head(&parts, SystemTime::now()) {
        Ok(c) => c,
        Err(e) => return reject(&parts, e),
    };
    let body = match read_bounded(body, &parts.headers, guard.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match guard.verifier.check_signature(&claim, &parts, &body) {
        Ok(caller) => {
            tracing::debug!(access_key_id = %caller.access_key_id, profile = %caller.profile, "SigV4 verified");
            let mut request = Request::from_parts(parts, Body::from(body));
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => reject(&parts, e),
    }
}

fn reject(parts: &Parts, e: AppError) -> Response {
    tracing::warn!(
        method = %parts.method,
        path = %parts.uri.path(),
        reason = %e.message,
        "SigV4 authentication failed"
    );
    e.into_response()
}

fn too_large() -> AppError {
    AppError::new(
        ErrorKind::PayloadTooLarge,
        "request body is larger than MAX_BODY_BYTES",
    )
}

async fn read_bounded(body: Body, headers: &HeaderMap, max: usize) -> Result<Bytes, AppError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| AppError::bad_request(format!("cannot read the request body: {e}")))?;
        if buf.len() + chunk.len() > max {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Method, Request as HttpRequest};

    const EX_KEY: &str = "AKIDEXAMPLE";
    const EX_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// 2015-08-30T12:36:00Z, the time of the AWS SigV4 test suite.
    fn suite_time() -> SystemTime {
        parse_amz_date("20150830T123600Z").unwrap()
    }

    fn suite_verifier() -> SigV4Verifier {
        SigV4Verifier::new("us-east-1")
            .with_service("service")
            .with_key(EX_KEY, EX_SECRET, None)
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = HttpRequest::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// Signs like a client would, with aws-sigv4, and returns the request's head.
    #[allow(clippy::too_many_arguments)]
    fn signed(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        key: &str,
        secret: &str,
        token: Option<&str>,
        region: &str,
        service: &str,
        time: SystemTime,
    ) -> Parts {
        let identity: Identity =
            Credentials::new(key, secret, token.map(str::to_string), None, "test").into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let all: Vec<(&str, &str)> = headers.to_vec();
        let req = SignableRequest::new(
            method,
            format!("http://localhost:3000{uri}"),
            all.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut http = HttpRequest::builder()
            .method(method)
            .uri(uri)
            .header("host", "localhost:3000");
        for (k, v) in headers {
            http = http.header(*k, *v);
        }
        let mut http = http.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut http);
        http.into_parts().0
    }

    fn lambda_verifier() -> SigV4Verifier {
        SigV4Verifier::new("us-east-1").with_key("AKIDLOCAL", "local-secret", None)
    }

    fn sign_lambda(
        body: &[u8],
        secret: &str,
        region: &str,
        service: &str,
        time: SystemTime,
    ) -> Parts {
        signed(
            "POST",
            "/?format=ndjson",
            &[("content-type", "application/json")],
            body,
            "AKIDLOCAL",
            secret,
            None,
            region,
            service,
            time,
        )
    }

    fn message(r: Result<Caller, AppError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert_eq!(e.kind.status(), axum::http::StatusCode::FORBIDDEN);
        e.message
    }

    #[test]
    fn aws_test_suite_vectors_pass() {
        let v = suite_verifier();
        let now = suite_time();
        let auth = |sh: &str, sig: &str| {
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={sh}, Signature={sig}")
        };
        // get-vanilla
        let a = auth(
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
        let p = parts(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &a),
            ],
        );
        assert_eq!(v.verify_at(&p, b"", now).unwrap().access_key_id, EX_KEY);
        // post-vanilla-query
        let a = auth(
            "host;x-amz-date",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        );
        let p = parts(
            "POST",
            "/?Param1=value1",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &a),
            ],
        );
        v.verify_at(&p, b"", now).unwrap();
        // get-vanilla-query-unreserved
        let q = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let a = auth(
            "host;x-amz-date",
            "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        );
        let p = parts(
            "GET",
            &format!("/?{q}={q}"),
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &a),
            ],
        );
        v.verify_at(&p, b"", now).unwrap();
        // get-header-value-trim
        let a = auth(
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        );
        let p = parts(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("my-header1", " value1"),
                ("my-header2", " \"a   b   c\""),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &a),
            ],
        );
        v.verify_at(&p, b"", now).unwrap();
        // get-header-key-duplicate
        let a = auth(
            "host;my-header1;x-amz-date",
            "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        );
        let p = parts(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("my-header1", "value2"),
                ("my-header1", "value2"),
                ("my-header1", "value1"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &a),
            ],
        );
        v.verify_at(&p, b"", now).unwrap();
        // post-x-www-form-urlencoded (x-amz-content-sha256 and content-length signed)
        let a = auth(
            "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
            "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
        );
        let p = parts(
            "POST",
            "/",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
                ("content-length", "13"),
                ("x-amz-date", "20150830T123600Z"),
                (
                    "x-amz-content-sha256",
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                ),
                ("authorization", &a),
            ],
        );
        v.verify_at(&p, b"Param1=value1", now).unwrap();
        // ... whose body, changed, is caught by the payload hash.
        let m = message(v.verify_at(&p, b"Param1=value2", now));
        assert!(m.contains("x-amz-content-sha256 does not match"), "{m}");
        // get-vanilla-with-session-token
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let vt = SigV4Verifier::new("us-east-1")
            .with_service("service")
            .with_key(EX_KEY, EX_SECRET, Some(token.into()));
        let a = auth(
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
        );
        let p = parts(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-security-token", token),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &a),
            ],
        );
        vt.verify_at(&p, b"", now).unwrap();
        // The same request against a key without that token, or with another, fails.
        let m = message(v.verify_at(&p, b"", now));
        assert!(m.contains("has no session token"), "{m}");
        let other = SigV4Verifier::new("us-east-1")
            .with_service("service")
            .with_key(EX_KEY, EX_SECRET, Some("another".into()));
        let m = message(other.verify_at(&p, b"", now));
        assert!(m.contains("is not the session token"), "{m}");
    }

    #[test]
    fn client_signed_request_passes_and_failures_say_why() {
        let v = lambda_verifier();
        let now = SystemTime::now();
        let body = br#"{"modelParams":{"prompt":"hi"}}"#;
        let p = sign_lambda(body, "local-secret", "us-east-1", "lambda", now);
        let caller = v.verify_at(&p, body, now).unwrap();
        assert_eq!(caller.access_key_id, "AKIDLOCAL");

        let m = message(v.verify_at(
            &sign_lambda(body, "wrong", "us-east-1", "lambda", now),
            body,
            now,
        ));
        assert!(
            m.contains("signature does not match") && m.contains("secret key is wrong"),
            "{m}"
        );

        let m = message(v.verify_at(&p, br#"{"modelParams":{"prompt":"HI"}}"#, now));
        assert!(
            m.contains("signature does not match") && m.contains("changed after signing"),
            "{m}"
        );

        let m = message(v.verify_at(
            &sign_lambda(body, "local-secret", "eu-west-1", "lambda", now),
            body,
            now,
        ));
        assert_eq!(
            m,
            "credential scope region eu-west-1 does not match us-east-1"
        );

        let m = message(v.verify_at(
            &sign_lambda(body, "local-secret", "us-east-1", "execute-api", now),
            body,
            now,
        ));
        assert_eq!(
            m,
            "credential scope service execute-api does not match lambda"
        );

        let old = now - Duration::from_secs(600);
        let m = message(v.verify_at(
            &sign_lambda(body, "local-secret", "us-east-1", "lambda", old),
            body,
            now,
        ));
        assert!(
            m.starts_with("request expired") && m.contains("clock-skew"),
            "{m}"
        );
        // Within the window it is fine.
        let recent = now - Duration::from_secs(240);
        v.verify_at(
            &sign_lambda(body, "local-secret", "us-east-1", "lambda", recent),
            body,
            now,
        )
        .unwrap();

        let future = now + Duration::from_secs(600);
        let m = message(v.verify_at(
            &sign_lambda(body, "local-secret", "us-east-1", "lambda", future),
            body,
            now,
        ));
        assert!(m.starts_with("request date in the future"), "{m}");

        let p = signed(
            "POST",
            "/",
            &[],
            body,
            "AKIDOTHER",
            "s",
            None,
            "us-east-1",
            "lambda",
            now,
        );
        let m = message(v.verify_at(&p, body, now));
        assert!(m.starts_with("unknown access key AKIDOTHER"), "{m}");

        // The secret never shows in a message.
        assert!(!m.contains("local-secret"));
    }

    #[test]
    fn missing_and_malformed_signatures() {
        let v = lambda_verifier();
        let now = SystemTime::now();
        let m = message(v.verify_at(&parts("POST", "/", &[("host", "x")]), b"", now));
        assert!(m.starts_with("missing SigV4 signature"), "{m}");
        let m = message(v.verify_at(
            &parts(
                "GET",
                "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
                &[("host", "x")],
            ),
            b"",
            now,
        ));
        assert!(m.contains("presigned URLs"), "{m}");
        let m = message(v.verify_at(
            &parts("POST", "/", &[("authorization", "Bearer abc")]),
            b"",
            now,
        ));
        assert!(m.contains("not an AWS SigV4 signature"), "{m}");
        assert!(!m.contains("abc"));
        let m = message(v.verify_at(
            &parts("POST", "/", &[("authorization", "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20240101/us-east-1/lambda/aws4_request, Signature=00")]),
            b"",
            now,
        ));
        assert!(m.contains("no SignedHeaders="), "{m}");
        let m = message(v.verify_at(
            &parts("POST", "/", &[("authorization", "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")]),
            b"",
            now,
        ));
        assert!(m.starts_with("missing x-amz-date"), "{m}");
        let m = message(v.verify_at(
            &parts("POST", "/", &[("x-amz-date", "20240101T000000Z"), ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20240102/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")]),
            b"",
            now,
        ));
        assert!(m.starts_with("credential scope date 20240102"), "{m}");
        // Host not signed.
        let sh = SystemTime::now();
        let date = {
            let p = sign_lambda(b"", "local-secret", "us-east-1", "lambda", sh);
            p.headers[X_AMZ_DATE].to_str().unwrap().to_string()
        };
        let auth = format!("AWS4-HMAC-SHA256 Credential=AKIDLOCAL/{}/us-east-1/lambda/aws4_request, SignedHeaders=x-amz-date, Signature=00", &date[..8]);
        let m = message(v.verify_at(
            &parts(
                "POST",
                "/",
                &[("x-amz-date", &date), ("authorization", &auth)],
            ),
            b"",
            sh,
        ));
        assert_eq!(m, "SignedHeaders must include host");
    }

    #[test]
    fn paths_queries_and_http2_authority() {
        let v = lambda_verifier();
        let now = SystemTime::now();
        let uri = "/a%20b/../c/%E1%88%B4?format=sse&x=1%2B2&y=a+b";
        let p = signed(
            "POST",
            uri,
            &[("accept", "text/event-stream")],
            b"{}",
            "AKIDLOCAL",
            "local-secret",
            None,
            "us-east-1",
            "lambda",
            now,
        );
        v.verify_at(&p, b"{}", now).unwrap();
        // HTTP/2: no Host header, the authority is in the URI.
        let mut p = sign_lambda(b"{}", "local-secret", "us-east-1", "lambda", now);
        p.headers.remove("host");
        p.uri = format!("http://localhost:3000{}", p.uri.path_and_query().unwrap())
            .parse()
            .unwrap();
        v.verify_at(&p, b"{}", now).unwrap();
        // A changed query fails.
        let mut p = sign_lambda(b"{}", "local-secret", "us-east-1", "lambda", now);
        p.uri = "/?format=sse".parse().unwrap();
        assert!(message(v.verify_at(&p, b"{}", now)).contains("signature does not match"));
        // A changed method fails.
        let mut p = sign_lambda(b"{}", "local-secret", "us-east-1", "lambda", now);
        p.method = Method::PUT;
        assert!(message(v.verify_at(&p, b"{}", now)).contains("signature does not match"));
    }

    #[test]
    fn credentials_files() {
        let text = "\
# comment
[default]
aws_access_key_id = AKIDONE
aws_secret_access_key = secret/one+x  # trailing comment

; another
[profile temp]
aws_access_key_id=ASIATWO
aws_secret_access_key=secret2
aws_session_token = tok2
region = eu-west-1
s3 =
  max_concurrent_requests = 20

[config-only]
region = us-west-2
";
        let v = SigV4Verifier::from_credentials_str(text, "us-east-1").unwrap();
        assert_eq!(v.key_count(), 2);
        assert_eq!(v.keys["AKIDONE"].secret, "secret/one+x");
        assert_eq!(v.keys["ASIATWO"].session_token.as_deref(), Some("tok2"));
        assert_eq!(v.keys["ASIATWO"].profile, "temp");
        let dbg = format!("{v:?}");
        assert!(dbg.contains("AKIDONE") && !dbg.contains("secret/one") && !dbg.contains("tok2"));

        let e = SigV4Verifier::from_credentials_str("[a]\naws_access_key_id=X\n", "us-east-1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no aws_secret_access_key"), "{e}");
        let e = SigV4Verifier::from_credentials_str("[a]\nregion=x\n", "us-east-1").unwrap_err();
        assert!(e.to_string().contains("no keys"), "{e}");
        let e = SigV4Verifier::from_credentials_str(
            "[a]\naws_access_key_id=X\naws_secret_access_key=s1\n[b]\naws_access_key_id=X\naws_secret_access_key=s2\n",
            "us-east-1",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("different secrets") && !e.contains("s1") && !e.contains("s2"),
            "{e}"
        );
        let e = SigV4Verifier::from_credentials_file("/nonexistent/credentials", "us-east-1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/credentials"), "{e}");
    }

    #[test]
    fn dates() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(UNIX_EPOCH));
        assert_eq!(
            parse_amz_date("20150830T123600Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
        );
        assert_eq!(
            parse_amz_date("20240229T235959Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_251_199))
        );
        for bad in [
            "20230229T000000Z",
            "20240101T240000Z",
            "2024-01-01T00:00:00Z",
            "20240101T000000",
            "2024010aT000000Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn middleware_restores_the_body_and_bounds_it() {
        use axum::routing::post;
        use tower::ServiceExt;

        let app = axum::Router::new().route(
            "/",
            post(
                |axum::Extension(c): axum::Extension<Caller>, body: Bytes| async move {
                    format!("{}:{}", c.access_key_id, String::from_utf8_lossy(&body))
                },
            ),
        );
        let app = require_sigv4(app, lambda_verifier(), 64);
        let now = SystemTime::now();
        let body = br#"{"modelParams":{}}"#;
        let to_request = |p: Parts, b: &'static [u8]| Request::from_parts(p, Body::from(b));

        let p = sign_lambda(body, "local-secret", "us-east-1", "lambda", now);
        let r = app.clone().oneshot(to_request(p, body)).await.unwrap();
        assert_eq!(r.status(), 200);
        let text = axum::body::to_bytes(r.into_body(), 1024).await.unwrap();
        assert_eq!(&text[..], br#"AKIDLOCAL:{"modelParams":{}}"#);

        let p = sign_lambda(body, "wrong", "us-east-1", "lambda", now);
        let r = app.clone().oneshot(to_request(p, body)).await.unwrap();
        assert_eq!(r.status(), 403);
        let v: serde_json::Value =
            serde_json::from_slice(&axum::body::to_bytes(r.into_body(), 4096).await.unwrap())
                .unwrap();
        assert_eq!(v["error"]["type"], "unauthorized");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signature does not match"));

        let big: &'static [u8] = &[b'x'; 100];
        let p = sign_lambda(big, "local-secret", "us-east-1", "lambda", now);
        let r = app.clone().oneshot(to_request(p, big)).await.unwrap();
        assert_eq!(r.status(), 413);

        let r = app
            .oneshot(to_request(parts("POST", "/", &[("host", "x")]), b"{}"))
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
}
