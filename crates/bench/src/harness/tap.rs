//! A timestamping TCP tap between `serve` and the local Bedrock endpoint: it passes bytes both
//! ways unchanged and records when each read from the endpoint arrived. With chunks paced tens of
//! milliseconds apart, every read is one upstream chunk, so "client received a body frame at t"
//! minus "the latest upstream read before t" is serve's forwarding delay for that chunk, on one
//! clock (both ends are in this process).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running tap.
pub struct Tap {
    pub url: String,
    reads: Arc<Mutex<Vec<Instant>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    /// Listens on 127.0.0.1 and forwards every connection to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> anyhow::Result<Tap> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let reads = Arc::new(Mutex::new(Vec::new()));
        let r2 = Arc::clone(&reads);
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let up = match TcpStream::connect(&upstream).await {
                    Ok(s) => s,
                    Err(_) => continue,
                };
                let _ = down.set_nodelay(true);
                let _ = up.set_nodelay(true);
                tokio::spawn(pipe(down, up, Arc::clone(&r2)));
            }
        });
        Ok(Tap { url, reads, task })
    }

    /// Forgets the reads seen so far.
    pub fn clear(&self) {
        if let Ok(mut v) = self.reads.lock() {
            v.clear();
        }
    }

    /// The upstream reads seen since the last `clear`.
    pub fn reads(&self) -> Vec<Instant> {
        self.reads.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe(down: TcpStream, up: TcpStream, reads: Arc<Mutex<Vec<Instant>>>) {
    let (mut dr, mut dw) = down.into_split();
    let (mut ur, mut uw) = up.into_split();
    let requests = async move {
        let _ = tokio::io::copy(&mut dr, &mut uw).await;
        let _ = uw.shutdown().await;
    };
    let responses = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match ur.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Ok(mut v) = reads.lock() {
                // Bounded: a tap serves a benchmark of at most some thousand chunks.
                if v.len() < 1_000_000 {
                    v.push(Instant::now());
                }
            }
            if dw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = dw.shutdown().await;
    };
    tokio::join!(requests, responses);
}

/// For each client arrival, the time since the latest upstream read at or before it.
pub fn forwarding_delays(upstream: &[Instant], arrivals: &[Instant]) -> Vec<Duration> {
    let mut up = upstream.to_vec();
    up.sort();
    arrivals
        .iter()
        .filter_map(|a| {
            let idx = up.partition_point(|u| u <= a);
            idx.checked_sub(1).map(|i| *a - up[i])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_match_the_latest_upstream_read() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let up = [at(0), at(20), at(40)];
        let client = [at(1), at(22), at(40), at(45)];
        let d = forwarding_delays(&up, &client);
        let ms: Vec<u128> = d.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![1, 2, 0, 5]);
    }
}
