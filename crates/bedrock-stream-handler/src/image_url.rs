//! Fetches the images of `/v1/chat/completions` parts given as URLs, when `ALLOW_IMAGE_URLS` is
//! on (`contract::openai` refuses them otherwise). The handler then makes requests on a caller's
//! behalf, so every fetch is held to what an image download needs and nothing more:
//!
//! - https only; no user info in the URL;
//! - public addresses only: the host is resolved and refused when it resolves to a loopback,
//!   private, link-local (the instance metadata service), shared, multicast or otherwise reserved
//!   address. The connector resolves through the same check, so a name cannot change to a private
//!   address between the check and the connection (DNS rebinding), and redirects (at most
//!   [`MAX_REDIRECTS`]) go through it again;
//! - bounded: [`FETCH_TIMEOUT`] for the whole download, at most [`MAX_IMAGE_BYTES`] (Bedrock's
//!   own image limit), at most [`MAX_REMOTE_IMAGES`] per request;
//! - checked: the answer must be 200 with an image content type Bedrock takes, and the bytes
//!   must be that format.
//!
//! Failures are 400s that name the part and say why.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{header, Request, StatusCode, Uri};
use bedrock_families::converse::ContentBlock;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::contract::openai::{image_block, ChatCall, RemoteImage, MAX_IMAGE_BYTES};
use crate::error::{AppError, ErrorKind};

/// Longest a single image download may take, connection included.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed per image.
pub(crate) const MAX_REDIRECTS: usize = 3;
/// Image URLs per request: Bedrock's Converse takes "up to 20 images" per request (Bedrock user
/// guide, Converse API, `ImageBlock`).
pub(crate) const MAX_REMOTE_IMAGES: usize = 20;

/// Which addresses and schemes a fetcher may use. Production: https to public addresses only;
/// the module's tests loosen it to reach a server on loopback.
#[derive(Debug, Clone, Copy)]
struct Policy {
    allow_http: bool,
    allow_private: bool,
}

const PUBLIC_HTTPS: Policy = Policy {
    allow_http: false,
    allow_private: false,
};

/// Whether `ip` is a globally reachable unicast address (IANA special-purpose registries for
/// IPv4 and IPv6; embedded IPv4 addresses are judged as IPv4).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || s[0] & 0xfe00 == 0xfc00 // unique local (fd00:ec2::254 is the metadata service)
        || s[0] & 0xffc0 == 0xfe80 // link-local
        || s[0] & 0xffc0 == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments, Teredo
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only
        || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated) and ::/96
}

/// A DNS resolver that answers only with public addresses: the connector's, so that the address
/// connected to is the address checked.
#[derive(Clone, Copy)]
struct PublicResolver {
    policy: Policy,
}

/// Resolves `host` and keeps the addresses the policy allows.
async fn resolve(host: &str, policy: Policy) -> std::io::Result<Vec<SocketAddr>> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    let allowed: Vec<SocketAddr> = all
        .iter()
        .copied()
        .filter(|a| policy.allow_private || is_public(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            if all.is_empty() {
                "the host name has no address"
            } else {
                "the host resolves only to non-public addresses"
            },
        ));
    }
    Ok(allowed)
}

impl tower::Service<Name> for PublicResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy;
        Box::pin(async move { resolve(name.as_str(), policy).await.map(|v| v.into_iter()) })
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector<PublicResolver>>, Empty<Bytes>>;

/// One HTTP client and the policy it enforces.
struct Fetcher {
    client: HttpClient,
    policy: Policy,
}

impl Fetcher {
    fn new(policy: Policy) -> Result<Fetcher, String> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("loading the system's root certificates: {e}"))?;
        let mut http = HttpConnector::new_with_resolver(PublicResolver { policy });
        http.enforce_http(false);
        http.set_connect_timeout(Some(FETCH_TIMEOUT));
        let builder = if policy.allow_http {
            builder.https_or_http()
        } else {
            builder.https_only()
        };
        let connector = builder.enable_http1().enable_http2().wrap_connector(http);
        Ok(Fetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
            policy,
        })
    }

    /// The production fetcher, built once per process.
    fn shared() -> Result<&'static Fetcher, AppError> {
        static FETCHER: OnceLock<Result<Fetcher, String>> = OnceLock::new();
        FETCHER
            .get_or_init(|| Fetcher::new(PUBLIC_HTTPS))
            .as_ref()
            .map_err(|e| AppError::new(ErrorKind::Internal, format!("image URLs: {e}")))
    }

    /// Checks a URL before anything is sent: scheme, no user info, and (for an IP literal,
    /// which the connector does not resolve) the address.
    async fn check(&self, url: &str, field: &str) -> Result<Uri, AppError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| AppError::bad_request(format!("{field}: not a valid URL: {e}")))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.policy.allow_http => {}
            _ => {
                return Err(AppError::bad_request(format!(
                    "{field}: only https image URLs are fetched"
                )))
            }
        }
        let authority = uri
            .authority()
            .ok_or_else(|| AppError::bad_request(format!("{field}: the URL has no host")))?;
        if authority.as_str().contains('@') {
            return Err(AppError::bad_request(format!(
                "{field}: URLs with user info are not fetched"
            )));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let refused = |why: &str| {
            AppError::bad_request(format!(
                "{field}: {why}; ALLOW_IMAGE_URLS fetches from public addresses only"
            ))
        };
        match host.parse::<IpAddr>() {
            Ok(ip) if !self.policy.allow_private && !is_public(ip) => {
                return Err(refused("the address is not public"))
            }
            Ok(_) => {}
            // Resolved here for a clear message; the connector checks again when it connects.
            Err(_) => {
                resolve(host, self.policy)
                    .await
                    .map_err(|e| refused(&format!("`{host}`: {e}")))?;
            }
        }
        Ok(uri)
    }

    /// Downloads one image within the bounds, following a few redirects.
    async fn fetch(&self, url: &str, field: &str) -> Result<(String, Vec<u8>), AppError> {
        let mut uri = self.check(url, field).await?;
        for _ in 0..=MAX_REDIRECTS {
            let request = Request::get(uri.clone())
                .header(header::USER_AGENT, "bedrock-stream image fetch")
                .header(
                    header::ACCEPT,
                    "image/png, image/jpeg, image/gif, image/webp",
                )
                .body(Empty::<Bytes>::new())
                .map_err(|e| AppError::bad_request(format!("{field}: {e}")))?;
            let response = self.client.request(request).await.map_err(|e| {
                AppError::bad_request(format!(
                    "{field}: fetching the image failed: {}",
                    crate::error::error_chain(&e)
                ))
            })?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        AppError::bad_request(format!(
                            "{field}: the server redirected without a Location"
                        ))
                    })?;
                let next = if location.starts_with('/') && !location.starts_with("//") {
                    format!(
                        "{}://{}{location}",
                        uri.scheme_str().unwrap_or("https"),
                        uri.authority().map_or("", |a| a.as_str())
                    )
                } else {
                    location.to_string()
                };
                uri = self.check(&next, field).await?;
                continue;
            }
            if status != StatusCode::OK {
                return Err(AppError::bad_request(format!(
                    "{field}: fetching the image answered HTTP {}",
                    status.as_u16()
                )));
            }
            let mime = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if crate::contract::openai::image_format_for_mime(&mime).is_none() {
                return Err(AppError::bad_request(format!(
                    "{field}: the URL served `{mime}`, not an image Bedrock takes (png, jpeg, gif, webp)"
                )));
            }
            let too_big = || {
                AppError::bad_request(format!(
                    "{field}: the image is larger than Bedrock's 3.75 MB ({MAX_IMAGE_BYTES} bytes)"
                ))
            };
            let declared = response
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > MAX_IMAGE_BYTES as u64) {
                return Err(too_big());
            }
            let body = Limited::new(response.into_body(), MAX_IMAGE_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        too_big()
                    } else {
                        AppError::bad_request(format!("{field}: reading the image failed: {e}"))
                    }
                })?;
            return Ok((mime, body.to_bytes().to_vec()));
        }
        Err(AppError::bad_request(format!(
            "{field}: more than {MAX_REDIRECTS} redirects"
        )))
    }

    /// Fetches one image within [`FETCH_TIMEOUT`] and the request's deadline, checked as Bedrock
    /// would check it.
    async fn image(
        &self,
        image: &RemoteImage,
        deadline: Instant,
    ) -> Result<ContentBlock, AppError> {
        let limit = tokio::time::Instant::from_std(deadline)
            .min(tokio::time::Instant::now() + FETCH_TIMEOUT);
        let (mime, bytes) = tokio::time::timeout_at(limit, self.fetch(&image.url, &image.field))
            .await
            .map_err(|_| {
                AppError::bad_request(format!(
                    "{}: the image did not arrive within {} s",
                    image.field,
                    FETCH_TIMEOUT.as_secs()
                ))
            })??;
        Ok(ContentBlock::Image(image_block(
            &mime,
            bytes,
            &image.field,
        )?))
    }

    async fn fill(&self, call: &mut ChatCall, deadline: Instant) -> Result<(), AppError> {
        if call.remote_images.is_empty() {
            return Ok(());
        }
        if call.remote_images.len() > MAX_REMOTE_IMAGES {
            return Err(AppError::bad_request(format!(
                "{} image URLs; Bedrock takes at most {MAX_REMOTE_IMAGES} images per request",
                call.remote_images.len()
            )));
        }
        let blocks = futures::future::try_join_all(
            call.remote_images.iter().map(|i| self.image(i, deadline)),
        )
        .await?;
        let messages = call.converse.messages.get_or_insert_with(Vec::new);
        for (image, block) in call.remote_images.drain(..).zip(blocks) {
            let slot = messages
                .get_mut(image.message)
                .and_then(|m| m.content.get_mut(image.block))
                .ok_or_else(|| {
                    AppError::new(ErrorKind::Internal, "image placeholder out of place")
                })?;
            *slot = block;
        }
        Ok(())
    }
}

/// Replaces the request's image-URL placeholders with the fetched images.
pub(crate) async fn fetch_images(call: &mut ChatCall, deadline: Instant) -> Result<(), AppError> {
    if call.remote_images.is_empty() {
        return Ok(());
    }
    Fetcher::shared()?.fill(call, deadline).await
}

#[cfg(test)]
#[path = "image_url_tests.rs"]
mod tests;
