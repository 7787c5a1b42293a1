//! SigV4 request verification, as an `AWS_IAM` Lambda function URL checks it, for
//! `bedrock-stream serve --auth sigv4`. The Lambda function itself never needs it (AWS checks
//! signatures before the function runs), so it lives in its own crate.
//!
//! A request must carry one `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
//! SignedHeaders=..., Signature=...` header and one `x-amz-date`. [`Verifier::check_head`]
//! checks everything the head can tell: the header's shape, the credential scope (service
//! `lambda` and the configured region, the scope date against `x-amz-date`), the ±5-minute
//! clock-skew window, the key (one of the keys of an AWS shared-credentials file) and its session
//! token, and builds the canonical request's head. [`Claim::verify`] then checks the signature
//! against a payload hash: the signed `x-amz-content-sha256` (so the signature is checked before
//! a byte of the body is read, and the body is checked against that hash as it arrives), or the
//! body's own SHA-256.
//!
//! The canonical request is built here from the bytes the client sent (see [`canonical`]); the
//! `aws-sigv4` crate derives the signing key and computes the HMAC, `subtle` compares.
//!
//! Every refusal carries a reason for the log ([`Rejection::reason`]); what a client is told is
//! [`FORBIDDEN_MESSAGE`] for every 403, so that an unknown key, a wrong secret and a temporary
//! key look alike from outside. Secrets, session tokens and signatures are never logged nor put
//! into a reason.
//!
//! Not supported (403): presigned URLs (SigV4 in the query string), SigV4a
//! (`AWS4-ECDSA-P256-SHA256`), streaming or unsigned payloads (`x-amz-content-sha256` other than a
//! hex SHA-256), and the `Date` header in place of `x-amz-date`.

pub mod canonical;
mod credentials;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use http::request::Parts;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use canonical::{canonical_header_value, canonical_path, canonical_query, QueryForm};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name a Lambda function URL expects in the credential scope.
pub const LAMBDA_SERVICE: &str = "lambda";
/// How far the request's `x-amz-date` may be from the server's clock, either way.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// What every 403 says. The reason is in the server's log only.
pub const FORBIDDEN_MESSAGE: &str =
    "the request's SigV4 signature could not be verified (see the server log for the reason)";

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Headers a request may carry at most once: a second one could be read differently by the
/// verifier and by what comes after it.
pub const SINGLE_HEADERS: [&str; 5] = [
    "authorization",
    "host",
    X_AMZ_DATE,
    X_AMZ_SECURITY_TOKEN,
    X_AMZ_CONTENT_SHA256,
];

/// One accepted key.
#[derive(Clone)]
struct Key {
    secret: String,
    session_token: Option<String>,
    profile: String,
}

/// Verifies SigV4-signed requests against a set of access keys.
#[derive(Clone)]
pub struct Verifier {
    region: String,
    service: String,
    clock_skew: Duration,
    keys: HashMap<String, Key>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Verifier")
            .field("region", &self.region)
            .field("service", &self.service)
            .field("clock_skew", &self.clock_skew)
            .field("access_key_ids", &ids)
            .finish()
    }
}

/// Why a request was refused: a status for the client, a reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    bad_request: bool,
    reason: String,
}

impl Rejection {
    fn forbidden(reason: impl Into<String>) -> Self {
        Rejection {
            bad_request: false,
            reason: reason.into(),
        }
    }

    fn bad_request(reason: impl Into<String>) -> Self {
        Rejection {
            bad_request: true,
            reason: reason.into(),
        }
    }

    /// 400 for a malformed request (a header sent twice, a path that is not normalised), 403
    /// for everything about the signature and the key.
    pub fn status(&self) -> u16 {
        if self.bad_request {
            400
        } else {
            403
        }
    }

    /// What the client is told: [`FORBIDDEN_MESSAGE`] for every 403; for a 400, what is wrong
    /// with the request's shape (it names no key and says nothing about the signature).
    pub fn public_message(&self) -> &str {
        if self.bad_request {
            &self.reason
        } else {
            FORBIDDEN_MESSAGE
        }
    }

    /// Why, for the server's log. Names the access key id (not a secret), never a secret.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Rejection {}

/// Who signed an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    /// The credentials-file profile the key came from.
    pub profile: String,
}

/// An accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub caller: Caller,
    /// The canonical query that was signed: hand it on in place of the query as sent, so that
    /// what is read afterwards is exactly what was signed. `None` when the request has no query.
    pub query: Option<String>,
}

/// What the head of a request claims, checked as far as it can be without the body.
pub struct Claim {
    access_key_id: String,
    profile: String,
    amz_date: String,
    scope: String,
    signature: [u8; 32],
    signing_key: Vec<u8>,
    /// `METHOD\nPATH\n`.
    method_and_path: String,
    /// Candidate canonical queries, each at most once.
    queries: Vec<String>,
    had_query: bool,
    /// `name:value\n…\n\nsigned;headers\n`.
    headers_block: Vec<u8>,
    declared_payload: Option<DeclaredPayload>,
}

/// A signed `x-amz-content-sha256`.
#[derive(Debug, Clone)]
struct DeclaredPayload {
    /// As sent (it is what was signed).
    text: String,
    digest: [u8; 32],
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("access_key_id", &self.access_key_id)
            .field("amz_date", &self.amz_date)
            .finish_non_exhaustive()
    }
}

impl Claim {
    /// The SHA-256 the body must have, when the request declared it (`x-amz-content-sha256`):
    /// then [`Claim::verify_declared`] checks the signature before the body is read.
    pub fn declared_payload_sha256(&self) -> Option<[u8; 32]> {
        self.declared_payload.as_ref().map(|p| p.digest)
    }

    /// The access key id the request claims (not a secret; for logs).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Checks the signature against the declared payload hash. The caller must still check
    /// that the body has that hash.
    pub fn verify_declared(&self) -> Result<Verified, Rejection> {
        match &self.declared_payload {
            Some(p) => self.verify_payload_hash(&p.text),
            None => Err(Rejection::forbidden(
                "no x-amz-content-sha256: the signature can be checked only with the body",
            )),
        }
    }

    /// Checks the signature against the SHA-256 of the whole body.
    pub fn verify_body_sha256(&self, body_sha256: &[u8; 32]) -> Result<Verified, Rejection> {
        if let Some(p) = &self.declared_payload {
            if !bool::from(p.digest.ct_eq(body_sha256)) {
                return Err(Rejection::forbidden(
                    "x-amz-content-sha256 does not match the SHA-256 of the body (changed after signing)",
                ));
            }
            return self.verify_payload_hash(&p.text);
        }
        self.verify_payload_hash(&hex::encode(body_sha256))
    }

    fn verify_payload_hash(&self, payload_hash: &str) -> Result<Verified, Rejection> {
        for query in &self.queries {
            let mut canonical = Vec::with_capacity(
                self.method_and_path.len() + query.len() + self.headers_block.len() + 66,
            );
            canonical.extend_from_slice(self.method_and_path.as_bytes());
            canonical.extend_from_slice(query.as_bytes());
            canonical.push(b'\n');
            canonical.extend_from_slice(&self.headers_block);
            canonical.extend_from_slice(payload_hash.as_bytes());
            let string_to_sign = format!(
                "{ALGORITHM}\n{}\n{}\n{}",
                self.amz_date,
                self.scope,
                hex::encode(Sha256::digest(&canonical))
            );
            let expected = aws_sigv4::sign::v4::calculate_signature(
                &self.signing_key,
                string_to_sign.as_bytes(),
            );
            let Ok(expected) = <[u8; 32]>::try_from(hex::decode(expected).unwrap_or_default())
            else {
                continue;
            };
            if bool::from(expected.ct_eq(&self.signature)) {
                return Ok(Verified {
                    caller: Caller {
                        access_key_id: self.access_key_id.clone(),
                        profile: self.profile.clone(),
                    },
                    query: self.had_query.then(|| query.clone()),
                });
            }
        }
        Err(Rejection::forbidden(format!(
            "signature does not match for access key {}: a wrong secret key, or the request (method, path, query, signed headers or body) was changed after signing",
            self.access_key_id
        )))
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
            "SigV4a (AWS4-ECDSA-P256-SHA256) is not supported".to_string()
        } else {
            "the Authorization header is not an AWS4-HMAC-SHA256 signature".to_string()
        });
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for item in rest.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            return Err("malformed Authorization header".into());
        };
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err("malformed Authorization header: unknown part".into()),
        };
        if slot.replace(v.trim()).is_some() {
            return Err("malformed Authorization header: a part appears twice".into());
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
            ["X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
        })
    })
}

/// `YYYYMMDDTHHMMSSZ` (ISO 8601 basic, UTC), with the `time` crate.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    use time::format_description::BorrowedFormatItem;
    let format: Vec<BorrowedFormatItem<'_>> =
        time::format_description::parse_borrowed::<1>("[year][month][day]T[hour][minute][second]Z")
            .ok()?;
    if s.len() != 16 {
        return None;
    }
    let t = time::PrimitiveDateTime::parse(s, &format).ok()?;
    Some(SystemTime::from(t.assume_utc()))
}

/// The headers a request may carry only once, each checked.
pub fn check_single_headers(headers: &HeaderMap) -> Result<(), Rejection> {
    for name in SINGLE_HEADERS {
        if headers.get_all(name).iter().count() > 1 {
            return Err(Rejection::bad_request(format!(
                "the request has more than one {name} header"
            )));
        }
    }
    Ok(())
}

impl Verifier {
    /// A verifier for service `lambda` in `region`, with no keys yet.
    pub fn new(region: impl Into<String>) -> Self {
        Verifier {
            region: region.into(),
            service: LAMBDA_SERVICE.to_string(),
            clock_skew: DEFAULT_CLOCK_SKEW,
            keys: HashMap::new(),
        }
    }

    /// Loads every key of an AWS shared-credentials file, read by the AWS SDK's own profile
    /// parser (`aws_config::profile::load`): `[profile]` sections with `aws_access_key_id`,
    /// `aws_secret_access_key` and an optional `aws_session_token`.
    pub async fn from_credentials_file(
        path: impl AsRef<Path>,
        region: &str,
    ) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the credentials file {}: {e}", path.display())
        })?;
        Self::from_credentials_str(&text, region)
            .await
            .map_err(|e| e.context(format!("in the credentials file {}", path.display())))
    }

    /// Like [`Verifier::from_credentials_file`], from the file's text.
    pub async fn from_credentials_str(text: &str, region: &str) -> anyhow::Result<Self> {
        if region.trim().is_empty() {
            bail!("the SigV4 region is empty");
        }
        let mut verifier = Verifier::new(region.trim());
        for p in credentials::parse(text).await? {
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

    /// Whether the profile of `access_key_id` holds a session token (for tests and logs).
    pub fn is_temporary(&self, access_key_id: &str) -> Option<bool> {
        self.keys
            .get(access_key_id)
            .map(|k| k.session_token.is_some())
    }

    /// Verifies a whole request (head and body) as if the server's clock read `now`.
    pub fn verify_at(
        &self,
        parts: &Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, Rejection> {
        let claim = self.check_head(parts, now)?;
        let digest: [u8; 32] = Sha256::digest(body).into();
        claim.verify_body_sha256(&digest)
    }

    /// Everything that can be checked without the body: one of each single header, the
    /// Authorization header's shape, the credential scope, the date and its window, the key and
    /// its session token; and the canonical request up to the payload hash.
    pub fn check_head(&self, parts: &Parts, now: SystemTime) -> Result<Claim, Rejection> {
        let headers = &parts.headers;
        check_single_headers(headers)?;
        if let (Some(host), Some(authority)) = (headers.get("host"), parts.uri.authority()) {
            if host.as_bytes() != authority.as_str().as_bytes() {
                return Err(Rejection::bad_request(
                    "the Host header and the request's authority differ",
                ));
            }
        }
        let Some(auth) = headers.get(http::header::AUTHORIZATION) else {
            if is_presigned(parts.uri.query()) {
                return Err(Rejection::forbidden(
                    "presigned URLs (SigV4 in the query string) are not supported",
                ));
            }
            return Err(Rejection::forbidden("no Authorization header"));
        };
        let auth = auth
            .to_str()
            .map_err(|_| Rejection::forbidden("the Authorization header is not ASCII"))?;
        let parsed = parse_authorization(auth).map_err(Rejection::forbidden)?;

        let scope: Vec<&str> = parsed.credential.split('/').collect();
        let [access_key_id, scope_date, scope_region, scope_service, terminator] = scope[..] else {
            return Err(Rejection::forbidden(
                "malformed Credential: expected AKID/YYYYMMDD/REGION/SERVICE/aws4_request",
            ));
        };
        if terminator != "aws4_request" {
            return Err(Rejection::forbidden(
                "the credential scope does not end in aws4_request",
            ));
        }
        if scope_service != self.service {
            return Err(Rejection::forbidden(format!(
                "credential scope service {scope_service} is not {}",
                self.service
            )));
        }
        if scope_region != self.region {
            return Err(Rejection::forbidden(format!(
                "credential scope region {scope_region} is not {}",
                self.region
            )));
        }

        let amz_date = headers
            .get(X_AMZ_DATE)
            .ok_or_else(|| Rejection::forbidden("no x-amz-date header"))?
            .to_str()
            .map_err(|_| Rejection::forbidden("x-amz-date is not ASCII"))?;
        let time = parse_amz_date(amz_date).ok_or_else(|| {
            Rejection::forbidden("x-amz-date is not a time of the form YYYYMMDDTHHMMSSZ")
        })?;
        if scope_date.len() != 8 || !amz_date.starts_with(scope_date) {
            return Err(Rejection::forbidden(
                "the credential scope date is not the day of x-amz-date",
            ));
        }
        let skew = self.clock_skew.as_secs();
        match now.duration_since(time) {
            Ok(age) if age > self.clock_skew => {
                return Err(Rejection::forbidden(format!(
                    "request expired: x-amz-date is {} s old, outside the ±{skew} s window (a late replay, or a wrong clock)",
                    age.as_secs()
                )));
            }
            Err(e) if e.duration() > self.clock_skew => {
                return Err(Rejection::forbidden(format!(
                    "x-amz-date is {} s in the future, outside the ±{skew} s window",
                    e.duration().as_secs()
                )));
            }
            _ => {}
        }

        // SignedHeaders: lower case, sorted, each once, with host and x-amz-date.
        let signed: Vec<&str> = parsed.signed_headers.split(';').collect();
        let well_formed = signed.iter().all(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        }) && signed.windows(2).all(|w| w[0] < w[1]);
        if !well_formed {
            return Err(Rejection::forbidden(
                "SignedHeaders must list each header once, in lower case, sorted, separated by `;`",
            ));
        }
        for required in ["host", X_AMZ_DATE] {
            if !signed.contains(&required) {
                return Err(Rejection::forbidden(format!(
                    "SignedHeaders does not include {required}"
                )));
            }
        }

        let key = self.keys.get(access_key_id).ok_or_else(|| {
            Rejection::forbidden(format!(
                "unknown access key {access_key_id}: not in this server's credentials file"
            ))
        })?;
        let sent_token = headers.get(X_AMZ_SECURITY_TOKEN).map(|v| v.as_bytes());
        match (&key.session_token, sent_token) {
            (None, None) => {}
            (Some(expected), Some(sent)) if bool::from(expected.as_bytes().ct_eq(sent)) => {}
            (Some(_), Some(_)) => {
                return Err(Rejection::forbidden(format!(
                    "x-amz-security-token is not the session token of access key {access_key_id}"
                )))
            }
            (Some(_), None) => {
                return Err(Rejection::forbidden(format!(
                    "access key {access_key_id} is temporary and the request has no x-amz-security-token"
                )))
            }
            (None, Some(_)) => {
                return Err(Rejection::forbidden(format!(
                    "the request has an x-amz-security-token, but access key {access_key_id} has none in the credentials file"
                )))
            }
        }

        let signature: [u8; 32] = hex::decode(parsed.signature)
            .ok()
            .filter(|_| {
                parsed
                    .signature
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| Rejection::forbidden("Signature is not 64 lower-case hex digits"))?;

        let declared_payload = match headers.get(X_AMZ_CONTENT_SHA256) {
            None => None,
            Some(v) => {
                let text = v
                    .to_str()
                    .map_err(|_| Rejection::forbidden("x-amz-content-sha256 is not ASCII"))?;
                let digest = hex::decode(text)
                    .ok()
                    .and_then(|d| <[u8; 32]>::try_from(d).ok())
                    .ok_or_else(|| {
                        Rejection::forbidden(
                            "x-amz-content-sha256 is not a hex SHA-256 (unsigned and streaming payloads are not supported)",
                        )
                    })?;
                Some(DeclaredPayload {
                    text: text.to_string(),
                    digest,
                })
            }
        };

        // The canonical request's head.
        let path =
            canonical_path(parts.uri.path()).map_err(|e| Rejection::bad_request(e.to_string()))?;
        let method_and_path = format!("{}\n{path}\n", parts.method.as_str());
        let raw_query = parts.uri.query();
        let mut queries: Vec<String> = Vec::with_capacity(2);
        for form in [QueryForm::AsSent, QueryForm::Decoded] {
            let q = canonical_query(raw_query.unwrap_or(""), form)
                .map_err(|e| Rejection::bad_request(e.to_string()))?;
            if let Some(q) = q {
                if !queries.contains(&q) {
                    queries.push(q);
                }
            }
        }

        let host_fallback = parts
            .uri
            .authority()
            .map(|a| a.as_str().as_bytes().to_vec());
        let mut headers_block = Vec::with_capacity(256);
        for name in &signed {
            headers_block.extend_from_slice(name.as_bytes());
            headers_block.push(b':');
            let mut found = false;
            for (i, value) in headers.get_all(*name).iter().enumerate() {
                if i > 0 {
                    headers_block.push(b',');
                }
                canonical_header_value(value.as_bytes(), &mut headers_block);
                found = true;
            }
            if !found {
                match (*name, &host_fallback) {
                    ("host", Some(authority)) => headers_block.extend_from_slice(authority),
                    _ => {
                        return Err(Rejection::forbidden(format!(
                            "signed header {name} is not in the request"
                        )))
                    }
                }
            }
            headers_block.push(b'\n');
        }
        headers_block.push(b'\n');
        headers_block.extend_from_slice(parsed.signed_headers.as_bytes());
        headers_block.push(b'\n');

        let signing_key = aws_sigv4::sign::v4::generate_signing_key(
            &key.secret,
            time,
            &self.region,
            &self.service,
        )
        .as_ref()
        .to_vec();
        Ok(Claim {
            access_key_id: access_key_id.to_string(),
            profile: key.profile.clone(),
            amz_date: amz_date.to_string(),
            scope: format!("{scope_date}/{}/{}/aws4_request", self.region, self.service),
            signature,
            signing_key,
            method_and_path,
            queries,
            had_query: raw_query.is_some_and(|q| !q.is_empty()),
            headers_block,
            declared_payload,
        })
    }
}

#[cfg(test)]
mod tests;
