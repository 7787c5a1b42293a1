// Tests may fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use http::Request;
use std::time::UNIX_EPOCH;

const EX_KEY: &str = "AKIDEXAMPLE";
const EX_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// 2015-08-30T12:36:00Z, the time of the AWS SigV4 test suite.
fn suite_time() -> SystemTime {
    parse_amz_date("20150830T123600Z").unwrap()
}

fn suite_verifier() -> Verifier {
    Verifier::new("us-east-1")
        .with_service("service")
        .with_key(EX_KEY, EX_SECRET, None)
}

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// Signs like a client would, with aws-sigv4 (the AWS SDK for Rust's signer).
#[allow(clippy::too_many_arguments)]
fn signed(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    key: &str,
    secret: &str,
    token: Option<&str>,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Parts {
    let identity: Identity =
        Credentials::new(key, secret, token.map(str::to_string), None, "test").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let req = SignableRequest::new(
        method,
        format!("http://localhost:3000{uri}"),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let mut http = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost:3000");
    for (k, v) in headers {
        http = http.header(*k, *v);
    }
    let mut http = http.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut http);
    http.into_parts().0
}

fn lambda_verifier() -> Verifier {
    Verifier::new("us-east-1").with_key("AKIDLOCAL", "local-secret", None)
}

fn sign_lambda(body: &[u8], secret: &str, region: &str, service: &str, time: SystemTime) -> Parts {
    signed(
        "POST",
        "/?format=ndjson",
        &[("content-type", "application/json")],
        body,
        "AKIDLOCAL",
        secret,
        None,
        region,
        service,
        time,
    )
}

/// The log reason of a 403; the client's message is always the same.
fn reason(r: Result<Verified, Rejection>) -> String {
    let e = r.unwrap_err();
    assert_eq!(e.status(), 403, "{e}");
    assert_eq!(e.public_message(), FORBIDDEN_MESSAGE);
    e.reason().to_string()
}

#[test]
fn aws_test_suite_vectors_pass() {
    let v = suite_verifier();
    let now = suite_time();
    let auth = |sh: &str, sig: &str| {
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={sh}, Signature={sig}")
    };
    let base = |a: &str| -> Vec<(&'static str, String)> {
        vec![
            ("host", "example.amazonaws.com".into()),
            ("x-amz-date", "20150830T123600Z".into()),
            ("authorization", a.to_string()),
        ]
    };
    let run = |method: &str, uri: &str, h: Vec<(&'static str, String)>, body: &[u8]| {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        v.verify_at(&parts(method, uri, &h), body, now)
    };
    // get-vanilla
    let a = auth(
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    let ok = run("GET", "/", base(&a), b"").unwrap();
    assert_eq!(ok.caller.access_key_id, EX_KEY);
    assert_eq!(ok.query, None);
    // post-vanilla-query
    let a = auth(
        "host;x-amz-date",
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    );
    assert_eq!(
        run("POST", "/?Param1=value1", base(&a), b"")
            .unwrap()
            .query
            .as_deref(),
        Some("Param1=value1")
    );
    // get-vanilla-query-order-key-case: sorted by code point
    let a = auth(
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    );
    assert_eq!(
        run("GET", "/?Param2=value2&Param1=value1", base(&a), b"")
            .unwrap()
            .query
            .as_deref(),
        Some("Param1=value1&Param2=value2")
    );
    // get-vanilla-query-unreserved
    let q = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let a = auth(
        "host;x-amz-date",
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    );
    run("GET", &format!("/?{q}={q}"), base(&a), b"").unwrap();
    // get-vanilla-utf8-query: `?ሴ=bar`, sent encoded
    let a = auth(
        "host;x-amz-date",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    );
    run("GET", "/?%E1%88%B4=bar", base(&a), b"").unwrap();
    // get-space: the suite signs the raw path `/example space/` as `/example%20space/`; on the
    // wire that path is `/example%20space/`, which AWS's non-S3 services (and botocore) sign as
    // `/example%2520space/` (double encoding), so the suite's signature is refused here as there.
    let a = auth(
        "host;x-amz-date",
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    );
    reason(run("GET", "/example%20space/", base(&a), b""));
    // get-header-value-trim
    let a = auth(
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    );
    let mut h = base(&a);
    h.push(("my-header1", " value1".into()));
    h.push(("my-header2", " \"a   b   c\"".into()));
    run("GET", "/", h, b"").unwrap();
    // get-header-key-duplicate
    let a = auth(
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    );
    let mut h = base(&a);
    h.push(("my-header1", "value2".into()));
    h.push(("my-header1", "value2".into()));
    h.push(("my-header1", "value1".into()));
    run("GET", "/", h, b"").unwrap();
    // post-x-www-form-urlencoded (x-amz-content-sha256 and content-length signed)
    let a = auth(
        "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
        "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
    );
    let mut h = base(&a);
    h.push(("content-type", "application/x-www-form-urlencoded".into()));
    h.push(("content-length", "13".into()));
    h.push((
        "x-amz-content-sha256",
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e".into(),
    ));
    let hh: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = parts("POST", "/", &hh);
    // Checked from the head alone, before any body.
    let claim = v.check_head(&p, now).unwrap();
    claim.verify_declared().unwrap();
    v.verify_at(&p, b"Param1=value1", now).unwrap();
    // ... whose body, changed, is caught by the payload hash.
    let r = reason(v.verify_at(&p, b"Param1=value2", now));
    assert!(r.contains("x-amz-content-sha256 does not match"), "{r}");
    // get-vanilla-with-session-token
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let vt = Verifier::new("us-east-1").with_service("service").with_key(
        EX_KEY,
        EX_SECRET,
        Some(token.into()),
    );
    let a = auth(
        "host;x-amz-date;x-amz-security-token",
        "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    );
    let mut h = base(&a);
    h.push(("x-amz-security-token", token.into()));
    let hh: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = parts("GET", "/", &hh);
    vt.verify_at(&p, b"", now).unwrap();
    // The same request against a key without that token, or with another, fails.
    let r = reason(v.verify_at(&p, b"", now));
    assert!(r.contains("has none in the credentials file"), "{r}");
    let other = Verifier::new("us-east-1").with_service("service").with_key(
        EX_KEY,
        EX_SECRET,
        Some("another".into()),
    );
    let r = reason(other.verify_at(&p, b"", now));
    assert!(r.contains("is not the session token"), "{r}");
}

#[test]
fn every_403_says_the_same_and_the_log_says_why() {
    let v = lambda_verifier();
    let now = SystemTime::now();
    let body = br#"{"modelParams":{"prompt":"hi"}}"#;
    let p = sign_lambda(body, "local-secret", "us-east-1", "lambda", now);
    let ok = v.verify_at(&p, body, now).unwrap();
    assert_eq!(ok.caller.access_key_id, "AKIDLOCAL");
    assert_eq!(ok.query.as_deref(), Some("format=ndjson"));

    let cases: Vec<(Result<Verified, Rejection>, &str)> = vec![
        (
            v.verify_at(
                &sign_lambda(body, "wrong", "us-east-1", "lambda", now),
                body,
                now,
            ),
            "signature does not match",
        ),
        (
            v.verify_at(&p, br#"{"modelParams":{"prompt":"HI"}}"#, now),
            "signature does not match",
        ),
        (
            v.verify_at(
                &sign_lambda(body, "local-secret", "eu-west-1", "lambda", now),
                body,
                now,
            ),
            "region eu-west-1 is not us-east-1",
        ),
        (
            v.verify_at(
                &sign_lambda(body, "local-secret", "us-east-1", "execute-api", now),
                body,
                now,
            ),
            "service execute-api is not lambda",
        ),
        (
            v.verify_at(
                &sign_lambda(
                    body,
                    "local-secret",
                    "us-east-1",
                    "lambda",
                    now - Duration::from_secs(600),
                ),
                body,
                now,
            ),
            "request expired",
        ),
        (
            v.verify_at(
                &sign_lambda(
                    body,
                    "local-secret",
                    "us-east-1",
                    "lambda",
                    now + Duration::from_secs(600),
                ),
                body,
                now,
            ),
            "in the future",
        ),
        (
            v.verify_at(
                &signed(
                    "POST",
                    "/",
                    &[],
                    body,
                    "AKIDOTHER",
                    "s",
                    None,
                    "us-east-1",
                    "lambda",
                    now,
                ),
                body,
                now,
            ),
            "unknown access key AKIDOTHER",
        ),
        (
            v.verify_at(&parts("POST", "/", &[("host", "x")]), b"", now),
            "no Authorization header",
        ),
        (
            v.verify_at(
                &parts(
                    "GET",
                    "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00",
                    &[("host", "x")],
                ),
                b"",
                now,
            ),
            "presigned URLs",
        ),
        (
            v.verify_at(
                &parts("POST", "/", &[("authorization", "Bearer abc")]),
                b"",
                now,
            ),
            "not an AWS4-HMAC-SHA256 signature",
        ),
        (
            v.verify_at(
                &parts(
                    "POST",
                    "/",
                    &[("authorization", "AWS4-ECDSA-P256-SHA256 Credential=x")],
                ),
                b"",
                now,
            ),
            "SigV4a",
        ),
    ];
    for (r, says) in cases {
        let r = reason(r);
        assert!(r.contains(says), "`{r}` does not say `{says}`");
        assert!(!r.contains("local-secret"), "{r}");
    }
    // Within the window it is fine.
    let recent = now - Duration::from_secs(240);
    v.verify_at(
        &sign_lambda(body, "local-secret", "us-east-1", "lambda", recent),
        body,
        now,
    )
    .unwrap();
}

#[test]
fn duplicate_single_headers_are_400() {
    let v = lambda_verifier();
    let now = SystemTime::now();
    let body = b"{}";
    let good = sign_lambda(body, "local-secret", "us-east-1", "lambda", now);
    for name in SINGLE_HEADERS {
        let mut p = good.clone();
        let value = p
            .headers
            .get(name)
            .cloned()
            .unwrap_or_else(|| http::HeaderValue::from_static("0"));
        p.headers.append(name, value.clone());
        if p.headers.get_all(name).iter().count() < 2 {
            p.headers.append(name, value);
        }
        let e = v.verify_at(&p, body, now).unwrap_err();
        assert_eq!(e.status(), 400, "{name}: {e}");
        assert!(e.public_message().contains(name), "{e}");
    }
    // A Host that disagrees with an absolute URI's authority.
    let mut p = good.clone();
    p.uri = "http://other:1/?format=ndjson".parse().unwrap();
    assert_eq!(v.verify_at(&p, body, now).unwrap_err().status(), 400);
}

#[test]
fn paths_queries_and_http2_authority() {
    let v = lambda_verifier();
    let now = SystemTime::now();
    // aws-sigv4 decodes `+` as a space; the verifier accepts its form and hands it on.
    let uri = "/c/%E1%88%B4?format=sse&x=1%2B2&y=a+b";
    let p = signed(
        "POST",
        uri,
        &[("accept", "text/event-stream")],
        b"{}",
        "AKIDLOCAL",
        "local-secret",
        None,
        "us-east-1",
        "lambda",
        now,
    );
    let ok = v.verify_at(&p, b"{}", now).unwrap();
    assert_eq!(ok.query.as_deref(), Some("format=sse&x=1%2B2&y=a%20b"));
    // A path that is not normalised is refused (400), whatever was signed.
    let mut p2 = p.clone();
    p2.uri = "/a/../c/%E1%88%B4?format=sse&x=1%2B2&y=a+b"
        .parse()
        .unwrap();
    assert_eq!(v.verify_at(&p2, b"{}", now).unwrap_err().status(), 400);
    // HTTP/2: no Host header, the authority is in the URI.
    let mut p = sign_lambda(b"{}", "local-secret", "us-east-1", "lambda", now);
    p.headers.remove("host");
    p.uri = format!("http://localhost:3000{}", p.uri.path_and_query().unwrap())
        .parse()
        .unwrap();
    v.verify_at(&p, b"{}", now).unwrap();
    // A changed query fails.
    let mut p = sign_lambda(b"{}", "local-secret", "us-east-1", "lambda", now);
    p.uri = "/?format=sse".parse().unwrap();
    assert!(reason(v.verify_at(&p, b"{}", now)).contains("signature does not match"));
    // A changed method fails.
    let mut p = sign_lambda(b"{}", "local-secret", "us-east-1", "lambda", now);
    p.method = http::Method::PUT;
    assert!(reason(v.verify_at(&p, b"{}", now)).contains("signature does not match"));
    // SignedHeaders not sorted, or in upper case.
    let mut p = sign_lambda(b"{}", "local-secret", "us-east-1", "lambda", now);
    let a = p.headers["authorization"].to_str().unwrap().to_string();
    let a = a.replace("SignedHeaders=", "SignedHeaders=x-amz-date;");
    p.headers.insert("authorization", a.parse().unwrap());
    assert!(reason(v.verify_at(&p, b"{}", now)).contains("SignedHeaders"));
}

#[tokio::test]
async fn credentials_files_are_read_by_the_sdk_parser() {
    let text = "\
# comment
[default]
aws_access_key_id = AKIDONE
aws_secret_access_key = secret/one+x

; another
[temp]
aws_access_key_id=ASIATWO
aws_secret_access_key=secret2
aws_session_token = tok2
region = eu-west-1
s3 =
  max_concurrent_requests = 20

[config-only]
region = us-west-2
";
    let v = Verifier::from_credentials_str(text, "us-east-1")
        .await
        .unwrap();
    assert_eq!(v.key_count(), 2);
    assert_eq!(v.keys["AKIDONE"].secret, "secret/one+x");
    assert_eq!(v.keys["ASIATWO"].session_token.as_deref(), Some("tok2"));
    assert_eq!(v.keys["ASIATWO"].profile, "temp");
    assert_eq!(v.is_temporary("ASIATWO"), Some(true));
    let dbg = format!("{v:?}");
    assert!(dbg.contains("AKIDONE") && !dbg.contains("secret/one") && !dbg.contains("tok2"));

    let e = Verifier::from_credentials_str("[a]\naws_access_key_id=X\n", "us-east-1")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no aws_secret_access_key"), "{e}");
    let e = Verifier::from_credentials_str("[a]\nregion=x\n", "us-east-1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no keys"), "{e}");
    let e = Verifier::from_credentials_str(
        "[a]\naws_access_key_id=X\naws_secret_access_key=s1\n[b]\naws_access_key_id=X\naws_secret_access_key=s2\n",
        "us-east-1",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("different secrets") && !e.contains("s1") && !e.contains("s2"),
        "{e}"
    );
    // The SDKs skip `[profile x]` in a credentials file; we say so instead of dropping the key.
    let e = Verifier::from_credentials_str(
        "[profile p]\naws_access_key_id=X\naws_secret_access_key=s\n",
        "us-east-1",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("[profile p]") && e.contains("write [p]"), "{e}");
    let e = Verifier::from_credentials_file("/nonexistent/credentials", "us-east-1")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/credentials"), "{e}");
}

#[test]
fn dates() {
    assert_eq!(parse_amz_date("19700101T000000Z"), Some(UNIX_EPOCH));
    assert_eq!(
        parse_amz_date("20150830T123600Z"),
        Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
    );
    assert_eq!(
        parse_amz_date("20240229T235959Z"),
        Some(UNIX_EPOCH + Duration::from_secs(1_709_251_199))
    );
    for bad in [
        "20230229T000000Z",
        "20240101T240000Z",
        "2024-01-01T00:00:00Z",
        "20240101T000000",
        "2024010aT000000Z",
        "+2024010T000000Z",
        "",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}
