//! The image fetcher against a real HTTP server on loopback (its policy loosened to reach it),
//! and the production policy's refusals, which need no network.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bedrock_families::converse::{
    Blob, ContentBlock, ConverseRequest, ImageBlock, ImageFormat, MediaSource,
};

use super::*;
use crate::contract::openai::{parse, ParseOptions};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-rest-of-a-png";

async fn server() -> String {
    let app = Router::new()
        .route(
            "/cat.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
        )
        .route(
            "/cat-no-type",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], PNG) }),
        )
        .route(
            "/liar.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/jpeg")], PNG) }),
        )
        .route(
            "/huge.png",
            get(|| async {
                let mut body = PNG.to_vec();
                body.resize(MAX_IMAGE_BYTES + 10, 0);
                ([(header::CONTENT_TYPE, "image/png")], body)
            }),
        )
        .route(
            // No Content-Length: the limit must hold while reading.
            "/huge-stream.png",
            get(|| async {
                let chunks = (0..80).map(|_| Ok::<_, std::io::Error>(vec![0u8; 64 * 1024]));
                let body = axum::body::Body::from_stream(futures::stream::iter(
                    std::iter::once(Ok(PNG.to_vec())).chain(chunks),
                ));
                ([(header::CONTENT_TYPE, "image/png")], body).into_response()
            }),
        )
        .route(
            "/slow.png",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                ([(header::CONTENT_TYPE, "image/png")], PNG)
            }),
        )
        .route(
            "/moved",
            get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [(header::LOCATION, "/cat.png")],
                )
            }),
        )
        .route(
            "/loop",
            get(|| async { (axum::http::StatusCode::FOUND, [(header::LOCATION, "/loop")]) }),
        )
        .route(
            "/missing.png",
            get(|| async { axum::http::StatusCode::NOT_FOUND }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    url
}

/// A fetcher loosened to reach the loopback test server over http.
fn loopback_fetcher() -> Fetcher {
    Fetcher::new(Policy {
        allow_http: true,
        allow_private: true,
    })
    .unwrap()
}

fn remote(url: &str) -> RemoteImage {
    RemoteImage {
        message: 0,
        block: 0,
        url: url.to_string(),
        field: "messages[0].content[0].image_url.url".into(),
    }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[tokio::test]
async fn fetches_checks_and_bounds_images() {
    let base = server().await;
    let f = loopback_fetcher();

    let block = f
        .image(&remote(&format!("{base}/cat.png")), far())
        .await
        .unwrap();
    assert_eq!(
        block,
        ContentBlock::Image(ImageBlock {
            format: ImageFormat::Png,
            source: MediaSource::Bytes(Blob(PNG.to_vec())),
            error: None,
        })
    );
    // Redirects are followed (and checked again).
    let block = f
        .image(&remote(&format!("{base}/moved")), far())
        .await
        .unwrap();
    assert!(matches!(block, ContentBlock::Image(_)));

    let cases = [
        ("/cat-no-type", "text/html"),
        ("/liar.png", "declared `image/jpeg`"),
        ("/huge.png", "3.75 MB"),
        ("/huge-stream.png", "3.75 MB"),
        ("/missing.png", "HTTP 404"),
        ("/loop", "redirects"),
    ];
    for (path, want) in cases {
        let e = f
            .image(&remote(&format!("{base}{path}")), far())
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest, "{path}");
        assert!(
            e.message.contains(want) && e.message.contains("messages[0].content[0]"),
            "{path}: {}",
            e.message
        );
    }
}

#[tokio::test]
async fn a_slow_image_is_cut_off_at_the_deadline() {
    let base = server().await;
    let f = loopback_fetcher();
    let started = Instant::now();
    let e = f
        .image(
            &remote(&format!("{base}/slow.png")),
            Instant::now() + Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("did not arrive"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn production_policy_refuses_http_and_non_public_hosts() {
    let f = Fetcher::new(PUBLIC_HTTPS).unwrap();
    for (url, want) in [
        ("http://example.com/cat.png", "only https"),
        ("https://127.0.0.1/cat.png", "not public"),
        ("https://[::1]/cat.png", "not public"),
        ("https://169.254.169.254/latest/meta-data/", "not public"),
        ("https://10.1.2.3/x.png", "not public"),
        ("https://[fd00:ec2::254]/x.png", "not public"),
        ("https://[::ffff:192.168.1.1]/x.png", "not public"),
        ("https://localhost/cat.png", "non-public"),
        ("https://user:pw@example.com/x.png", "user info"),
        ("ftp://example.com/x.png", "only https"),
    ] {
        let e = f.image(&remote(url), far()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest, "{url}");
        assert!(e.message.contains(want), "{url}: {}", e.message);
        if want.contains("public") {
            assert!(e.message.contains("ALLOW_IMAGE_URLS"), "{}", e.message);
        }
    }
    // Redirect targets go through the same check as the first URL.
    let e = f
        .check("http://169.254.169.254/latest/meta-data/", "f")
        .await
        .unwrap_err();
    assert!(e.message.contains("only https"), "{}", e.message);
    let e = f
        .check("https://169.254.169.254/latest/meta-data/", "f")
        .await
        .unwrap_err();
    assert!(e.message.contains("not public"), "{}", e.message);
}

#[tokio::test]
async fn the_connector_resolves_through_the_same_check() {
    // Even past `check`, a name that resolves to loopback cannot be connected to.
    let mut r = PublicResolver {
        policy: PUBLIC_HTTPS,
    };
    let e = tower::Service::call(&mut r, "localhost".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
}

#[test]
fn public_addresses() {
    let public = [
        "8.8.8.8",
        "1.1.1.1",
        "52.94.236.248",
        "2606:4700:4700::1111",
        "2a00:1450:4001::1",
    ];
    let private = [
        "0.0.0.0",
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.0.8",
        "192.0.2.1",
        "198.18.0.1",
        "198.51.100.7",
        "203.0.113.9",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2002:a00:1::",
        "2001:db8::1",
        "2001::1",
        "fec0::1",
        "::127.0.0.1",
        "100::1",
    ];
    for ip in public {
        assert!(is_public(ip.parse::<IpAddr>().unwrap()), "{ip}");
    }
    for ip in private {
        assert!(!is_public(ip.parse::<IpAddr>().unwrap()), "{ip}");
    }
    // Mapped and NAT64 forms of a public address stay public.
    assert!(is_public("::ffff:8.8.8.8".parse().unwrap()));
    assert!(is_public("64:ff9b::808:808".parse().unwrap()));
    let _: SocketAddr = "1.2.3.4:443".parse().unwrap();
}

#[tokio::test]
async fn fill_puts_fetched_images_where_the_parts_were() {
    let base = server().await;
    let body = serde_json::json!({"messages": [
        {"role": "user", "content": "first"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://placeholder.invalid/cat.png"}},
        ]},
    ]});
    let mut call = parse(
        body.to_string().as_bytes(),
        ParseOptions {
            allow_image_urls: true,
        },
    )
    .unwrap();
    // Point the placeholder at the loopback server (the contract only admits https).
    call.remote_images[0].url = format!("{base}/cat.png");
    loopback_fetcher().fill(&mut call, far()).await.unwrap();
    assert!(call.remote_images.is_empty());
    let ConverseRequest { messages, .. } = call.converse;
    let content = &messages.unwrap()[0].content;
    assert_eq!(content.len(), 3);
    assert!(matches!(
        &content[2],
        ContentBlock::Image(ImageBlock { format: ImageFormat::Png, source: MediaSource::Bytes(b), .. })
            if b.0 == PNG
    ));
}
