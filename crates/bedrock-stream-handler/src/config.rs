//! The function's configuration, read from the environment (the CLI's flags override it).

use std::time::Duration;

use anyhow::{bail, Context};

/// Limits and defaults that apply to every request.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bedrock runtime endpoint override (`BEDROCK_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Model-id globs callers may use (`ALLOWED_MODELS`, comma-separated, default `*`).
    pub allowed_models: Vec<String>,
    /// Cap on output tokens, written into each family's max-tokens field (`MAX_OUTPUT_TOKENS`).
    pub max_output_tokens: Option<u64>,
    /// Largest request body accepted (`MAX_BODY_BYTES`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Model used when a request names none (`DEFAULT_MODEL_ID`).
    pub default_model_id: Option<String>,
    /// Log prompts and completions (`LOG_PROMPTS`, default off).
    pub log_prompts: bool,
    /// Longest wait for the next upstream event before the stream is failed (`IDLE_TIMEOUT_SECS`).
    pub idle_timeout: Duration,
    /// Longest a whole request may take (`REQUEST_TIMEOUT_SECS`).
    pub request_timeout: Duration,
    /// Streams served at once before new ones get 429 (`MAX_CONCURRENT_STREAMS`).
    pub max_concurrent_streams: usize,
    /// Origins allowed to call from a browser (`CORS_ORIGINS`, comma-separated; `*` for any).
    pub cors_origins: Vec<String>,
    /// Let `/v1/chat/completions` fetch `image_url` parts given as https URLs (`ALLOW_IMAGE_URLS`,
    /// default off): the handler then makes outbound requests on a caller's behalf, to public
    /// addresses only (see `image_url`). Data URLs are always accepted.
    pub allow_image_urls: bool,
    // `serve` only (a function URL does these before the function runs).
    /// Longest a client may take to send a request's head, and longest an idle keep-alive
    /// connection is kept (`HEADER_READ_TIMEOUT_SECS`, default 10).
    pub header_read_timeout: Duration,
    /// Longest a client may take to send a request's body (`BODY_READ_TIMEOUT_SECS`, default 30).
    pub body_read_timeout: Duration,
    /// Connections held at once; past it a new connection gets 503 and is closed
    /// (`MAX_CONNECTIONS`, default 4096).
    pub max_connections: usize,
    /// Bytes of request bodies held, across all connections, before their request is
    /// authenticated (with `--auth none`: before it reaches the handler); past it 503
    /// (`MAX_UNAUTHENTICATED_BYTES`, default 16 MiB).
    pub max_unauthenticated_bytes: usize,
    // Lambda only.
    /// Time kept back before the invocation's deadline so that a request cut by it still gets
    /// its marked error out (`DEADLINE_MARGIN_MS`, default 2000).
    pub deadline_margin: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint_url: None,
            allowed_models: vec!["*".into()],
            max_output_tokens: None,
            max_body_bytes: 1024 * 1024,
            default_model_id: None,
            log_prompts: false,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(900),
            max_concurrent_streams: 2048,
            cors_origins: Vec::new(),
            allow_image_urls: false,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_unauthenticated_bytes: 16 * 1024 * 1024,
            deadline_margin: Duration::from_millis(2000),
        }
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_num<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<T>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{name}={v:?} is not a valid number")),
    }
}

/// A boolean setting, off when unset.
fn parse_bool(name: &str) -> anyhow::Result<bool> {
    match var(name).as_deref().map(str::to_ascii_lowercase) {
        None => Ok(false),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => bail!("{name}={v:?}: use true or false"),
    }
}

impl Config {
    /// Reads the environment; a malformed value is an error naming the variable.
    pub fn from_env() -> anyhow::Result<Config> {
        let mut c = Config {
            endpoint_url: var("BEDROCK_ENDPOINT_URL"),
            default_model_id: var("DEFAULT_MODEL_ID"),
            ..Config::default()
        };
        if let Some(url) = &c.endpoint_url {
            if !is_http_url(url) {
                bail!("BEDROCK_ENDPOINT_URL={url:?} is not an http:// or https:// URL");
            }
        }
        if let Some(list) = var("ALLOWED_MODELS") {
            c.allowed_models = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        c.max_output_tokens = parse_num::<u64>("MAX_OUTPUT_TOKENS")?;
        if c.max_output_tokens == Some(0) {
            bail!("MAX_OUTPUT_TOKENS must be at least 1");
        }
        if let Some(n) = parse_num::<usize>("MAX_BODY_BYTES")? {
            c.max_body_bytes = n;
        }
        if let Some(s) = parse_num::<u64>("IDLE_TIMEOUT_SECS")? {
            c.idle_timeout = Duration::from_secs(s.max(1));
        }
        if let Some(s) = parse_num::<u64>("REQUEST_TIMEOUT_SECS")? {
            c.request_timeout = Duration::from_secs(s.max(1));
        }
        if let Some(n) = parse_num::<usize>("MAX_CONCURRENT_STREAMS")? {
            c.max_concurrent_streams = n.max(1);
        }
        if let Some(list) = var("CORS_ORIGINS") {
            c.cors_origins = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(s) = parse_num::<u64>("HEADER_READ_TIMEOUT_SECS")? {
            c.header_read_timeout = Duration::from_secs(s.max(1));
        }
        if let Some(s) = parse_num::<u64>("BODY_READ_TIMEOUT_SECS")? {
            c.body_read_timeout = Duration::from_secs(s.max(1));
        }
        if let Some(n) = parse_num::<usize>("MAX_CONNECTIONS")? {
            c.max_connections = n.max(1);
        }
        if let Some(n) = parse_num::<usize>("MAX_UNAUTHENTICATED_BYTES")? {
            c.max_unauthenticated_bytes = n;
        }
        if c.max_unauthenticated_bytes < c.max_body_bytes {
            bail!(
                "MAX_UNAUTHENTICATED_BYTES={} is below MAX_BODY_BYTES={}: a request body of the largest accepted size could never be read",
                c.max_unauthenticated_bytes,
                c.max_body_bytes
            );
        }
        if let Some(ms) = parse_num::<u64>("DEADLINE_MARGIN_MS")? {
            c.deadline_margin = Duration::from_millis(ms);
        }
        c.log_prompts = parse_bool("LOG_PROMPTS")?;
        c.allow_image_urls = parse_bool("ALLOW_IMAGE_URLS")?;
        Ok(c)
    }

    /// Whether `model_id` matches one of the allowed globs (`*` matches any run of characters).
    pub fn model_allowed(&self, model_id: &str) -> bool {
        self.allowed_models.iter().any(|g| glob_match(g, model_id))
    }
}

/// An absolute `http://` or `https://` URL with a host (what the SDK can send requests to).
pub fn is_http_url(url: &str) -> bool {
    url.parse::<http::Uri>().is_ok_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    })
}

/// `*` matches any run of characters, everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(p) => rest = &rest[p + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("anthropic.*", "anthropic.claude-v2"));
        assert!(!glob_match("anthropic.*", "us.anthropic.claude-v2"));
        assert!(glob_match(
            "*anthropic.claude-3*",
            "us.anthropic.claude-3-haiku"
        ));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXcYYb"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exact2"));
    }
}
