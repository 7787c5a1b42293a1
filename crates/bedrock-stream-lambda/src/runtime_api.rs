//! A small Lambda Runtime API client: one keep-alive HTTP/1.1 connection with `TCP_NODELAY`,
//! so each streamed chunk leaves as soon as it is written, and real chunked-encoding trailers.

use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, TRAILER, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::stream::{ErrorDocument, OutBody, ResponseStream};

const API_VERSION: &str = "2018-06-01";
const USER_AGENT_VALUE: &str = concat!("bedrock-stream-lambda/", env!("CARGO_PKG_VERSION"));
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

/// One invocation as `GET /runtime/invocation/next` hands it out.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) request_id: String,
    pub(crate) deadline_ms: Option<u64>,
    pub(crate) invoked_function_arn: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) event: Bytes,
}

pub(crate) struct RuntimeApiClient {
    authority: String,
    /// Prepended to every path: empty in Lambda, `/.rt/<function>` under `cargo lambda watch`.
    base_path: String,
    host: HeaderValue,
    connection: Option<SendRequest<OutBody>>,
}

impl RuntimeApiClient {
    /// `runtime_api` is `AWS_LAMBDA_RUNTIME_API`: `host:port`, no scheme, in Lambda;
    /// emulators may add a path (`cargo lambda watch` sets `127.0.0.1:9000/.rt/<function>`).
    pub(crate) fn new(runtime_api: &str) -> anyhow::Result<Self> {
        let address = runtime_api
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let (authority, base_path) = match address.find('/') {
            Some(slash) => address.split_at(slash),
            None => (address, ""),
        };
        if authority.is_empty() {
            bail!("the Runtime API address {runtime_api:?} has no host");
        }
        let host = HeaderValue::from_str(authority)
            .with_context(|| format!("invalid Runtime API address {authority:?}"))?;
        Ok(Self {
            authority: authority.to_owned(),
            base_path: base_path.to_owned(),
            host,
            connection: None,
        })
    }

    /// Long-polls for the next invocation. A kept-alive connection that went stale
    /// (the sandbox was frozen, the peer closed it) is replaced once. `None`: the API had
    /// nothing to hand out (`204`, which `cargo lambda watch` answers for a function it is
    /// tearing down; Lambda itself always waits for an event).
    pub(crate) async fn next_invocation(&mut self) -> anyhow::Result<Option<Invocation>> {
        let path = format!("/{API_VERSION}/runtime/invocation/next");
        let response = match self
            .send(self.request(Method::GET, &path, OutBody::empty())?)
            .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(error = %format!("{error:#}"), "retrying /next on a new connection");
                self.connection = None;
                self.send(self.request(Method::GET, &path, OutBody::empty())?)
                    .await?
            }
        };
        let (parts, body) = response.into_parts();
        let event = body
            .collect()
            .await
            .context("reading the next event")?
            .to_bytes();
        if parts.status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !parts.status.is_success() {
            bail!("GET /next answered {}", parts.status);
        }
        let header = |name: &str| -> Option<String> {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("lambda-runtime-aws-request-id")
            .filter(|id| !id.is_empty())
            .context("GET /next answered without Lambda-Runtime-Aws-Request-Id")?;
        Ok(Some(Invocation {
            deadline_ms: header("lambda-runtime-deadline-ms").and_then(|v| v.parse().ok()),
            invoked_function_arn: header("lambda-runtime-invoked-function-arn"),
            trace_id: header("lambda-runtime-trace-id"),
            request_id,
            event,
        }))
    }

    /// Streams a response: the prelude, the separator and each body frame as its own chunk,
    /// then the error trailers if the body failed. Returns once the Runtime API answered.
    pub(crate) async fn send_response(
        &mut self,
        request_id: &str,
        stream: ResponseStream,
    ) -> anyhow::Result<()> {
        let path = format!("/{API_VERSION}/runtime/invocation/{request_id}/response");
        let mut request = self.request(Method::POST, &path, OutBody::Stream(Box::new(stream)))?;
        let headers = request.headers_mut();
        headers.insert(
            "lambda-runtime-function-response-mode",
            HeaderValue::from_static("streaming"),
        );
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.awslambda.http-integration-response"),
        );
        // hyper sends only the trailers this header announces.
        headers.insert(
            TRAILER,
            HeaderValue::from_static(
                "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
            ),
        );
        self.post(request).await
    }

    /// Reports an invocation that failed before it had a response.
    pub(crate) async fn send_error(
        &mut self,
        request_id: &str,
        error: &ErrorDocument,
    ) -> anyhow::Result<()> {
        let path = format!("/{API_VERSION}/runtime/invocation/{request_id}/error");
        self.post(self.error_request(&path, error)?).await
    }

    /// Reports that the function could not start.
    pub(crate) async fn send_init_error(&mut self, error: &ErrorDocument) -> anyhow::Result<()> {
        let path = format!("/{API_VERSION}/runtime/init/error");
        self.post(self.error_request(&path, error)?).await
    }

    fn error_request(&self, path: &str, error: &ErrorDocument) -> anyhow::Result<Request<OutBody>> {
        let json = serde_json::to_vec(error).context("serialising the error")?;
        let mut request = self.request(Method::POST, path, OutBody::Full(Some(json.into())))?;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(value) = HeaderValue::from_str(&error.error_type) {
            headers.insert(ERROR_TYPE_HEADER, value);
        }
        Ok(request)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: OutBody,
    ) -> anyhow::Result<Request<OutBody>> {
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = format!("{}{path}", self.base_path)
            .parse()
            .context("building a Runtime API path")?;
        let headers: &mut HeaderMap = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        Ok(request)
    }

    /// Sends a POST and drains the answer so the connection can carry the next poll.
    async fn post(&mut self, request: Request<OutBody>) -> anyhow::Result<()> {
        let path = request.uri().path().to_owned();
        let response = self.send(request).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("reading the answer to POST {path}"))?
            .to_bytes();
        if status != StatusCode::ACCEPTED && !status.is_success() {
            bail!(
                "POST {path} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(512)])
            );
        }
        Ok(())
    }

    async fn send(&mut self, request: Request<OutBody>) -> anyhow::Result<Response<Incoming>> {
        let connection = self.connection().await?;
        match connection.send_request(request).await {
            Ok(response) => Ok(response),
            Err(error) => {
                self.connection = None;
                Err(error).context("talking to the Runtime API")
            }
        }
    }

    async fn connection(&mut self) -> anyhow::Result<&mut SendRequest<OutBody>> {
        if let Some(mut sender) = self.connection.take() {
            // Waits until the previous exchange (the whole streamed body) is done.
            if sender.ready().await.is_ok() {
                return Ok(self.connection.insert(sender));
            }
        }
        let sender = self.connect().await?;
        Ok(self.connection.insert(sender))
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<OutBody>> {
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            TcpStream::connect(self.authority.as_str()),
        )
        .await
        .with_context(|| format!("connecting to the Runtime API at {}", self.authority))?
        .with_context(|| format!("connecting to the Runtime API at {}", self.authority))?;
        // The whole point of this client: without it, a small chunk written while the
        // previous one is unacknowledged waits for the peer's delayed ACK (~40 ms).
        stream
            .set_nodelay(true)
            .context("setting TCP_NODELAY on the Runtime API connection")?;
        // Title-case names on the wire (`Lambda-Runtime-Function-Error-Type`), as the Runtime API
        // documents them, for headers and trailers alike.
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            .handshake(TokioIo::new(stream))
            .await
            .context("starting HTTP/1.1 with the Runtime API")?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "Runtime API connection closed");
            }
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_host_port_with_or_without_a_path() {
        let lambda = RuntimeApiClient::new("127.0.0.1:9001").unwrap();
        assert_eq!(
            (lambda.authority.as_str(), lambda.base_path.as_str()),
            ("127.0.0.1:9001", "")
        );
        let watch = RuntimeApiClient::new("http://127.0.0.1:9000/.rt/fn/").unwrap();
        assert_eq!(
            (watch.authority.as_str(), watch.base_path.as_str()),
            ("127.0.0.1:9000", "/.rt/fn")
        );
        let request = watch
            .request(
                Method::GET,
                "/2018-06-01/runtime/invocation/next",
                OutBody::empty(),
            )
            .unwrap();
        assert_eq!(request.uri(), "/.rt/fn/2018-06-01/runtime/invocation/next");
        assert_eq!(request.headers()[HOST], "127.0.0.1:9000");
        assert!(RuntimeApiClient::new("").is_err());
        assert!(RuntimeApiClient::new("/path-only").is_err());
    }
}
