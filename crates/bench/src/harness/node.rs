//! Node.js peers: the seed's handler (AWS SDK v3 under the npm Runtime Interface Client,
//! `crates/bench/peers/node/index.mjs`) and package versions in `node_modules`.

use std::path::Path;

use super::{not_installed, output, Launch};

/// The version of `package` in `node_modules`.
pub fn npm_version(node_modules: &Path, package: &str) -> String {
    std::fs::read(node_modules.join(package).join("package.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The seed's function under `node aws-lambda-ric index.handler`, or why it cannot run.
pub fn lambda_function(peers: &Path) -> Result<Launch, String> {
    let dir = peers.join("node");
    let ric = dir.join("node_modules/aws-lambda-ric/bin/index.mjs");
    if !ric.is_file() || !dir.join("index.mjs").is_file() {
        return Err(not_installed(&ric));
    }
    let modules = dir.join("node_modules");
    Ok(Launch {
        what: format!(
            "`node aws-lambda-ric index.handler`: Node.js {}, aws-lambda-ric {}, @aws-sdk/client-bedrock-runtime {} (crates/bench/peers/node/index.mjs)",
            output("node", &["--version"]).unwrap_or_default(),
            npm_version(&modules, "aws-lambda-ric"),
            npm_version(&modules, "@aws-sdk/client-bedrock-runtime"),
        ),
        dir: Some(dir),
        ..Launch::new("node", &[&ric.to_string_lossy(), "index.handler"]).env("NODE_ENV", "production")
    })
}
