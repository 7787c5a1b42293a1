//! The keys of an AWS shared-credentials file, read by the AWS SDK's own profile parser
//! (`aws_config::profile::load`, the parser every AWS SDK for Rust uses for `~/.aws/credentials`:
//! comments, `[profile]` sections, nested settings and continuation lines as the other SDKs read
//! them). Errors name profiles, never values.

use std::borrow::Cow;

use anyhow::bail;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::os_shim_internal::{Env, Fs};

/// One profile's key.
pub(crate) struct ProfileKey {
    pub profile: String,
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
}

/// Every profile of `text` (a credentials file) that holds a key, sorted by profile name.
pub(crate) async fn parse(text: &str) -> anyhow::Result<Vec<ProfileKey>> {
    // The SDK parser skips `[profile x]` sections in a credentials file (with a log line only);
    // a key the operator meant to accept must not vanish quietly.
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line
            .strip_prefix("[profile ")
            .and_then(|l| l.strip_suffix(']'))
        {
            bail!(
                "section [profile {}] would be ignored: in a credentials file the AWS SDKs read sections without the `profile ` prefix; write [{}]",
                name.trim(),
                name.trim()
            );
        }
    }
    let files = EnvConfigFiles::builder()
        .with_contents(EnvConfigFileKind::Credentials, text)
        .build();
    // No real file system and no environment: only `text` is read.
    let set = aws_config::profile::load(
        &Fs::from_slice(&[]),
        &Env::from_slice(&[]),
        &files,
        Some(Cow::Borrowed("default")),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot parse the credentials file: {e}"))?;
    let mut names: Vec<&str> = set.profiles().collect();
    names.sort_unstable();
    let mut out = Vec::new();
    for name in names {
        let Some(profile) = set.get_profile(name) else {
            continue;
        };
        let get = |k: &str| profile.get(k).map(str::trim).filter(|v| !v.is_empty());
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => out.push(ProfileKey {
                profile: name.to_string(),
                access_key_id: id.to_string(),
                secret: secret.to_string(),
                session_token: get("aws_session_token")
                    .or_else(|| get("aws_security_token"))
                    .map(str::to_string),
            }),
            (None, None) => {}
            (Some(_), None) => {
                bail!("profile [{name}] has aws_access_key_id but no aws_secret_access_key")
            }
            (None, Some(_)) => {
                bail!("profile [{name}] has aws_secret_access_key but no aws_access_key_id")
            }
        }
    }
    Ok(out)
}
