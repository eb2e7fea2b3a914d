//! The proxy itself: its flags, bad input as typed errors, and an unreachable origin.

use clap::Parser;

#[test]
fn sizes_parse_with_units_and_bad_ones_are_errors() {
    assert_eq!(cache_proxy::parse_size("1048576"), Ok(1 << 20));
    assert_eq!(cache_proxy::parse_size("512KiB"), Ok(512 << 10));
    assert_eq!(cache_proxy::parse_size("256MiB"), Ok(256 << 20));
    assert_eq!(cache_proxy::parse_size("2GiB"), Ok(2 << 30));
    for bad in ["", "MiB", "12XB", "-1", "99999999999999999999GiB"] {
        assert!(cache_proxy::parse_size(bad).is_err(), "{bad:?}");
    }
    assert!(
        cache_proxy::Cli::try_parse_from(["cache-proxy"]).is_err(),
        "--origin is required"
    );
}

#[test]
fn an_origin_that_is_not_a_plain_http_host_is_a_typed_error() {
    for bad in [
        "https://example.com",
        "http://example.com/path",
        "example",
        "ftp://x",
    ] {
        assert!(
            matches!(
                cache_proxy::Origin::new(bad),
                Err(cache_proxy::ProxyError::InvalidOrigin(_))
            ),
            "{bad:?}"
        );
    }
    assert!(cache_proxy::Origin::new("http://127.0.0.1:8000").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_origin_gives_bad_gateway_and_the_proxy_keeps_serving() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = closed.local_addr().unwrap();
    drop(closed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let cli = cache_proxy::Cli::try_parse_from([
        "cache-proxy".to_owned(),
        "--origin".to_owned(),
        format!("http://{origin}"),
    ])
    .unwrap();
    let server = tokio::spawn(cache_proxy::serve(listener, cli));
    for _ in 0..2 {
        let status = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(proxy).unwrap();
            stream
                .write_all(b"GET /x HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer.lines().next().unwrap_or("").to_owned()
        })
        .await
        .unwrap();
        assert_eq!(status, "HTTP/1.1 502 Bad Gateway");
    }
    server.abort();
}
