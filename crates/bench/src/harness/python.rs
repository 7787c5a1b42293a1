//! Python peers: a boto3 Lambda handler under the PyPI Runtime Interface Client
//! (`crates/bench/peers/python/handler.py`), and package versions in a venv.

use std::path::Path;

use super::{not_installed, output, Launch};

/// The version of `package` installed in `venv` (from its `*.dist-info` folder).
pub fn pip_version(venv: &Path, package: &str) -> Option<String> {
    let prefix = format!("{package}-");
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.flatten()
        .filter_map(|py| std::fs::read_dir(py.path().join("site-packages")).ok())
        .flat_map(|site| site.flatten())
        .find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some(
                name.strip_prefix(&prefix)?
                    .strip_suffix(".dist-info")?
                    .to_string(),
            )
        })
}

/// `python --version` of the venv.
pub fn version(venv: &Path) -> String {
    output(venv.join("bin/python"), &["--version"]).unwrap_or_else(|| "Python ?".into())
}

/// The boto3 function under `python -m awslambdaric`, or why it cannot run. Buffered: Python
/// Lambda functions return one response.
pub fn lambda_function(peers: &Path) -> Result<Launch, String> {
    let venv = peers.join("python");
    let python = venv.join("bin/python");
    if !python.is_file() || !venv.join("handler.py").is_file() {
        return Err(not_installed(&python));
    }
    let v = |p: &str| pip_version(&venv, p).unwrap_or_else(|| "?".into());
    Ok(Launch {
        what: format!(
            "`python -m awslambdaric handler.handler`: {}, awslambdaric {}, boto3 {} (crates/bench/peers/python/handler.py; buffered, as Python Lambda functions are)",
            version(&venv),
            v("awslambdaric"),
            v("boto3"),
        ),
        dir: Some(venv.clone()),
        ..Launch::new(&python, &["-m", "awslambdaric", "handler.handler"])
            .env("PYTHONPATH", venv.to_string_lossy())
            .env("PYTHONDONTWRITEBYTECODE", "1")
    })
}
