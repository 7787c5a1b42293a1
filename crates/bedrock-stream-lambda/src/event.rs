//! Lambda function URL events (payload format 2.0) turned into `http::Request`s.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::ConnectInfo;
use base64::Engine as _;
use http::header::{HeaderName, HeaderValue, COOKIE};
use http::{Method, Request, Uri};
use serde::Deserialize;

/// What the invocation knew about the request, added to every request as an extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationContext {
    /// The Lambda request id (`Lambda-Runtime-Aws-Request-Id`).
    pub aws_request_id: String,
    /// The function URL's own request id (`requestContext.requestId`).
    pub url_request_id: Option<String>,
    /// When Lambda stops the invocation, in milliseconds since the Unix epoch.
    pub deadline_ms: Option<u64>,
    /// The function ARN that was invoked.
    pub invoked_function_arn: Option<String>,
    /// The X-Ray trace header.
    pub trace_id: Option<String>,
    /// The caller's address as the function URL saw it.
    pub source_ip: Option<IpAddr>,
    /// The function URL's domain name.
    pub domain_name: Option<String>,
}

/// Why an event could not become a request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventError {
    #[error("the event is not a function URL request (payload format 2.0): {0}")]
    Shape(#[from] serde_json::Error),
    #[error("the event's HTTP method is not valid")]
    Method,
    #[error("the event's path or query string is not a valid URI")]
    Uri,
    #[error("the event's body is not valid base64")]
    Base64,
}

impl EventError {
    /// The `errorType` reported to the Runtime API.
    pub(crate) fn error_type(&self) -> &'static str {
        "Runtime.InvalidEvent"
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FunctionUrlEvent {
    #[serde(default)]
    raw_path: Option<String>,
    #[serde(default)]
    raw_query_string: Option<String>,
    #[serde(default)]
    cookies: Option<Vec<String>>,
    #[serde(default)]
    headers: Option<HashMap<String, String>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
    request_context: EventRequestContext,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRequestContext {
    http: EventHttp,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    domain_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventHttp {
    method: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    source_ip: Option<String>,
}

/// Parses a function URL event into the request the router sees.
///
/// `context` is completed with what the event says (source address, domain, URL request id)
/// and attached as an extension, with `ConnectInfo<SocketAddr>` for the caller's address
/// (port 0), so handlers read it the same way under `serve` and in Lambda.
pub(crate) fn into_request(
    event: &[u8],
    mut context: InvocationContext,
) -> Result<Request<Body>, EventError> {
    let event: FunctionUrlEvent = serde_json::from_slice(event)?;
    let ctx = event.request_context;

    let method = Method::from_bytes(ctx.http.method.as_bytes()).map_err(|_| EventError::Method)?;
    let path = event
        .raw_path
        .or(ctx.http.path)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    let uri = build_uri(&path, event.raw_query_string.as_deref().unwrap_or_default())?;

    let body = match event.body {
        None => Body::empty(),
        Some(text) if event.is_base64_encoded => Body::from(
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|_| EventError::Base64)?,
        ),
        Some(text) => Body::from(text),
    };

    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;

    let headers = request.headers_mut();
    for (name, value) in event.headers.unwrap_or_default() {
        // Function URLs lower-case names and join repeated values with commas; a header
        // that is not valid HTTP cannot reach the router, so it is dropped, not fatal.
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => tracing::debug!(header = %name, "dropped an invalid request header"),
        }
    }
    if let Some(cookies) = event.cookies.filter(|c| !c.is_empty()) {
        match HeaderValue::from_str(&cookies.join("; ")) {
            Ok(value) => {
                headers.insert(COOKIE, value);
            }
            Err(_) => tracing::debug!("dropped invalid request cookies"),
        }
    }
    if let Some(trace_id) = context.trace_id.as_deref() {
        if !headers.contains_key("x-amzn-trace-id") {
            if let Ok(value) = HeaderValue::from_str(trace_id) {
                headers.insert("x-amzn-trace-id", value);
            }
        }
    }

    context.source_ip = ctx.http.source_ip.and_then(|ip| ip.parse().ok());
    context.url_request_id = ctx.request_id;
    context.domain_name = ctx.domain_name;
    if let Some(ip) = context.source_ip {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    request.extensions_mut().insert(context);
    Ok(request)
}

fn build_uri(path: &str, query: &str) -> Result<Uri, EventError> {
    let mut target = String::with_capacity(path.len() + query.len() + 2);
    if !path.starts_with('/') {
        target.push('/');
    }
    target.push_str(path);
    if !query.is_empty() {
        target.push('?');
        target.push_str(query);
    }
    match target.parse::<Uri>() {
        Ok(uri) => Ok(uri),
        // Function URLs pass the path as the client sent it; re-encode what `Uri` refuses
        // (spaces, quotes, non-ASCII) rather than failing the request.
        Err(_) => percent_encode_target(&target)
            .parse::<Uri>()
            .map_err(|_| EventError::Uri),
    }
}

fn percent_encode_target(target: &str) -> String {
    let mut out = String::with_capacity(target.len() * 3);
    for byte in target.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%[]".contains(&byte);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const EVENT: &str = include_str!("../tests/data/function_url_post.json");

    #[tokio::test]
    async fn parses_a_function_url_post() {
        let context = InvocationContext {
            aws_request_id: "req-1".into(),
            trace_id: Some("Root=1-abc".into()),
            ..Default::default()
        };
        let request = into_request(EVENT.as_bytes(), context).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/converse");
        assert_eq!(request.uri().query(), Some("format=ndjson&x=1&x=2"));
        assert_eq!(request.headers()["content-type"], "application/json");
        assert_eq!(request.headers()["accept"], "text/plain, application/json");
        assert_eq!(request.headers()[COOKIE], "session=abc; theme=dark");
        assert_eq!(request.headers()["x-amzn-trace-id"], "Root=1-abc");
        let ctx = request.extensions().get::<InvocationContext>().unwrap();
        assert_eq!(ctx.aws_request_id, "req-1");
        assert_eq!(ctx.source_ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(ctx.url_request_id.as_deref(), Some("a1b2c3"));
        let ConnectInfo(addr) = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .unwrap();
        assert_eq!(addr.ip().to_string(), "203.0.113.9");
        let body = request.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"modelId":"m","messages":[]}"#);
    }

    #[tokio::test]
    async fn decodes_base64_bodies() {
        let event = serde_json::json!({
            "version": "2.0",
            "rawPath": "/",
            "rawQueryString": "",
            "body": "aGVsbG8=",
            "isBase64Encoded": true,
            "requestContext": {"http": {"method": "PUT"}}
        });
        let request =
            into_request(event.to_string().as_bytes(), InvocationContext::default()).unwrap();
        assert_eq!(request.method(), Method::PUT);
        assert_eq!(request.uri(), "/");
        let body = request.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn re_encodes_paths_uri_refuses() {
        let event = serde_json::json!({
            "rawPath": "/a b/é",
            "rawQueryString": "q=\"x\"",
            "requestContext": {"http": {"method": "GET"}}
        });
        let request =
            into_request(event.to_string().as_bytes(), InvocationContext::default()).unwrap();
        assert_eq!(request.uri(), "/a%20b/%C3%A9?q=%22x%22");
    }

    #[test]
    fn rejects_events_that_are_not_function_url_requests() {
        for bad in [
            &br#"{"hello":"world"}"#[..],
            b"not json",
            br#"{"requestContext":{"http":{"method":"GE T"}}}"#,
            br#"{"body":"%%%","isBase64Encoded":true,"requestContext":{"http":{"method":"GET"}}}"#,
        ] {
            assert!(into_request(bad, InvocationContext::default()).is_err());
        }
    }
}
