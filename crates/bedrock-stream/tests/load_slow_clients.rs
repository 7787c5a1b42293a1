//! Load figure for issue 13 (a benchmark, not a timed test: `#[ignore]`, run by
//! `scripts/load-slow-clients.sh`, figures in BENCHMARKS.md): `serve --auth sigv4` holds 1,000
//! slow or idle connections (500 that send nothing, 500 that send their head a byte a second)
//! and 200 known-key 1 MiB uploads whose signature needs the whole body, while a good signed
//! request is timed to its first byte; serve's RSS is read from /proc. Loopback only; at most
//! 1,300 connections; about 25 s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use support::start;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "AKIDLOAD";
const SECRET: &str = "load/secret+0123456789";
const IDLE: usize = 500;
const TRICKLE: usize = 500;
const UPLOADS: usize = 200;
const MIB: usize = 1024 * 1024;

fn signed_head(host: &str, body: &[u8], secret: &str, content_sha: bool) -> String {
    let url = format!("http://{host}/?format=ndjson");
    let mut head = format!(
        "POST /?format=ndjson HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in support::sdk_signed_headers(&url, body, KEY, secret, content_sha) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A good signed request on a fresh connection: time to the first byte of the answer.
async fn good_request_ttfb(host: &str) -> Duration {
    let body = br#"{"bedrockParams":{"modelId":"anthropic.claude-v2"},"modelParams":{"prompt":"Explain serverless to a 5th grader.","max_tokens_to_sample":20}}"#;
    let head = signed_head(host, body, SECRET, true);
    let mut s = TcpStream::connect(host).await.unwrap();
    let started = Instant::now();
    s.write_all(format!("{head}connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
        .await
        .expect("no first byte within 30 s")
        .unwrap();
    let ttfb = started.elapsed();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Read the rest so the answer is whole.
    let mut all = buf[..n].to_vec();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
        if m == 0 {
            break;
        }
        all.extend_from_slice(&buf[..m]);
    }
    assert!(String::from_utf8_lossy(&all).contains("\"type\":\"done\""));
    ttfb
}

async fn ttfb_median(host: &str, n: usize) -> Duration {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(good_request_ttfb(host).await);
    }
    v.sort();
    v[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load benchmark: run by scripts/load-slow-clients.sh"]
async fn a_good_request_is_served_while_slow_clients_and_uploads_are_held() {
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    let server = start(
        &[
            "serve",
            "--bedrock",
            "local",
            "--engine",
            "scripted",
            "--auth",
            "sigv4",
            "--credentials-file",
            creds.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[("AWS_REGION", "us-east-1"), ("RUST_LOG", "error")],
        &[],
        Duration::from_secs(60),
    );
    let host = server.url.trim_start_matches("http://").to_string();
    let pid = server.pid();

    let idle_rss = rss_kib(pid);
    let idle_ttfb = ttfb_median(&host, 5).await;

    let started = Instant::now();
    // 500 connections that send nothing.
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(&host).await.unwrap());
    }
    // 500 that send their head a byte a second.
    let mut tricklers = Vec::new();
    for _ in 0..TRICKLE {
        let mut s = TcpStream::connect(&host).await.unwrap();
        tricklers.push(tokio::spawn(async move {
            let head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-pad: ";
            for (i, b) in head.iter().cycle().take(40).enumerate() {
                if s.write_all(&[*b]).await.is_err() {
                    return Some(i);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            None
        }));
    }
    // 200 known-key 1 MiB uploads without x-amz-content-sha256 (the signature needs the whole
    // body), sent at 128 KiB every 500 ms and signed with a wrong secret.
    let big = vec![b' '; MIB];
    let mut uploads = Vec::new();
    for _ in 0..UPLOADS {
        let head = signed_head(&host, &big, "not-the-secret", false);
        let host = host.clone();
        let big = big.clone();
        uploads.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&host).await.unwrap();
            s.write_all(format!("{head}\r\n").as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            for piece in big.chunks(128 * 1024) {
                // An answer before the body is in (503 past the budget) ends the upload.
                if let Ok(Ok(m)) =
                    tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await
                {
                    n = m;
                    break;
                }
                if s.write_all(piece).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if n == 0 {
                n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or(0);
            }
            String::from_utf8_lossy(&buf[..n])
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0)
        }));
    }
    let opened = started.elapsed();

    // While all of it is held.
    let mut samples = Vec::new();
    let mut peak_rss = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak_rss = peak_rss.max(rss_kib(pid));
        samples.push(ttfb_median(&host, 3).await);
        peak_rss = peak_rss.max(rss_kib(pid));
    }
    samples.sort();
    let loaded_ttfb = samples[samples.len() / 2];
    let worst_ttfb = samples[samples.len() - 1];

    // The uploads end: 403 for those whose body was taken in, 503 for those past the budget.
    let mut statuses = std::collections::BTreeMap::new();
    for u in uploads {
        *statuses.entry(u.await.unwrap()).or_insert(0) += 1;
    }
    peak_rss = peak_rss.max(rss_kib(pid));

    // The header timeout (10 s by default) closes the idle and trickling connections.
    let mut idle_closed = 0;
    let mut buf = [0u8; 64];
    for s in &mut idle {
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf)).await {
            idle_closed += 1;
        }
    }
    let idle_closed_after = started.elapsed();
    let mut trickle_cut = 0;
    for t in tricklers {
        if let Ok(Ok(Some(_))) = tokio::time::timeout(Duration::from_secs(20), t).await {
            trickle_cut += 1;
        }
    }
    let after_rss = rss_kib(pid);
    let after_ttfb = ttfb_median(&host, 5).await;

    println!("== serve under slow clients (debug build, scripted engine, loopback)");
    println!(
        "connections opened: {IDLE} idle + {TRICKLE} trickling + {UPLOADS} uploads in {opened:?}"
    );
    println!("good request first byte: idle {idle_ttfb:?}, under load median {loaded_ttfb:?} (worst of 3 medians {worst_ttfb:?}), after {after_ttfb:?}");
    println!(
        "serve RSS: idle {} MiB, peak under load {} MiB, after {} MiB",
        idle_rss / 1024,
        peak_rss / 1024,
        after_rss / 1024
    );
    println!("upload answers (status: count): {statuses:?}");
    println!("idle connections closed by the server: {idle_closed}/{IDLE} (all by {idle_closed_after:?})");
    println!("trickling heads cut off: {trickle_cut}/{TRICKLE}");

    assert!(loaded_ttfb < Duration::from_secs(2), "{loaded_ttfb:?}");
    assert!(peak_rss < 200 * 1024, "serve's RSS grew to {peak_rss} KiB");
    assert_eq!(idle_closed, IDLE);
    assert_eq!(trickle_cut, TRICKLE);
    assert_eq!(statuses.values().sum::<usize>(), UPLOADS);
    assert!(
        statuses.keys().all(|s| *s == 403 || *s == 503),
        "{statuses:?}"
    );
}
