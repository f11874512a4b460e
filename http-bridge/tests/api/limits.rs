//! Limits: login brute force per real client address, streams per token, CORS.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_login_brute_force_is_rate_limited_per_client_address() {
    let s = stack_with(|b| b.login_failures = 3, |_| {}).await;
    s.register("ann").await;
    let login = |ip: &str, password: &str| {
        http_from(ip).post(format!("{}/v1/login", s.bridge.url)).json(&json!({"login": "ann", "password": password}))
    };
    for _ in 0..3 {
        expect_error(login("127.0.0.2", "wrong guess"), 401, "bad_credentials").await;
    }
    // The attacker's address is now backed off, even with the right password...
    let response = login("127.0.0.2", &password("ann")).send().await.unwrap();
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let (status, err) = json_of(response).await;
    assert_eq!((status, err["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
    // ...while the real user, from another address through the same bridge, signs in.
    let (status, session) = send(login("127.0.0.3", &password("ann"))).await;
    assert_eq!(status, StatusCode::OK, "{session}");
}

#[tokio::test]
async fn streams_are_capped_per_token_and_give_their_slot_back() {
    let s = stack_with(|_| {}, |h| h.streams_per_token = 2).await;
    let ann = s.register("ann").await;
    let bob = s.register("bob").await;
    let first = s.stream(&ann, "all", None).await;
    let _second = s.stream(&ann, "all", None).await;
    let path = "/v1/groups/all/stream";
    expect_error(s.req(Method::GET, path, Some(&ann)), 503, "too_many_connections").await;
    // Another token has its own cap.
    let _bobs = s.stream(&bob, "all", None).await;
    drop(first);
    // The bridge notices the closed stream when it next writes to it.
    s.publish(&bob, "all", "wake up").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = s.req(Method::GET, path, Some(&ann)).send().await.unwrap();
        if response.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn cors_is_off_unless_configured() {
    let off = stack().await;
    let response = off.req(Method::GET, "/healthz", None).header("origin", "https://example.com").send().await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());

    let on = stack_with(|_| {}, |h| h.cors_origins = vec!["https://example.com".into()]).await;
    let preflight = on
        .req(Method::OPTIONS, "/v1/me", None)
        .header("origin", "https://example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://example.com");
    let other = on.req(Method::GET, "/healthz", None).header("origin", "https://evil.example").send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_tokens_broker_connection_is_shared_and_closed_when_idle() {
    let (s, proxy) = proxied_stack(|h| h.idle_ms = 300).await;
    let ann = s.register("ann").await;
    // `register` signed in on one connection, which became the token's shared one.
    assert_eq!(proxy.accepted(), 1);
    // Bob watches from a wire client of his own: `online` counts signed-in connections.
    let (bob, _events) = s.app.user("bob").await;
    let online = |page: joint_wire::message::UsersPage| page.users.iter().find(|u| u.login == "ann").unwrap().online;
    for _ in 0..3 {
        assert_eq!(send(s.req(Method::GET, "/v1/me", Some(&ann))).await.0, StatusCode::OK);
        assert!(online(bob.users(None, None).await.unwrap()), "ann's shared connection is open");
    }
    assert_eq!(proxy.accepted(), 1, "the token's requests all went over its one connection");
    proxy.wait_open(1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while online(bob.users(None, None).await.unwrap()) {
        assert!(tokio::time::Instant::now() < deadline, "the idle connection was never closed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    proxy.wait_open(0).await;
    // The next request signs in again with the token.
    let (status, me) = send(s.req(Method::GET, "/v1/me", Some(&ann))).await;
    assert_eq!((status, &me["login"]), (StatusCode::OK, &json!("ann")));
    assert!(online(bob.users(None, None).await.unwrap()));
    assert_eq!(proxy.accepted(), 2);
}

#[tokio::test]
async fn one_token_from_many_addresses_holds_at_most_its_cap_of_shared_connections() {
    let (s, proxy) = proxied_stack(|h| h.shared_per_token = 2).await;
    // Registered from 127.0.0.1: that address's shared connection.
    let ann = s.register("ann").await;
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        assert_eq!(send(s.req_from(ip, Method::GET, "/v1/me", Some(&ann))).await.0, StatusCode::OK);
    }
    assert_eq!(proxy.accepted(), 4);
    // The two least recently used (127.0.0.1 and .2) were closed.
    proxy.wait_open(2).await;
    assert_eq!(send(s.req_from("127.0.0.4", Method::GET, "/v1/me", Some(&ann))).await.0, StatusCode::OK);
    assert_eq!(proxy.accepted(), 4, "127.0.0.4 still has its connection");
    assert_eq!(send(s.req_from("127.0.0.1", Method::GET, "/v1/me", Some(&ann))).await.0, StatusCode::OK);
    assert_eq!(proxy.accepted(), 5, "127.0.0.1 signs in again");
    proxy.wait_open(2).await;
}

#[tokio::test]
async fn a_stopped_bridge_closes_its_broker_connections() {
    let (mut s, proxy) = proxied_stack(|_| {}).await;
    let ann = s.register("ann").await;
    assert_eq!(send(s.req(Method::GET, "/v1/me", Some(&ann))).await.0, StatusCode::OK);
    let _stream = s.stream(&ann, "all", None).await;
    proxy.wait_open(2).await;
    s.bridge.stop().await;
    proxy.wait_open(0).await;
}

#[tokio::test]
async fn a_trickled_request_body_times_out_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = stack_with(|_| {}, |h| h.body_timeout_ms = 500).await;
    let addr = s.bridge.url.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = socket.into_split();
    let head = format!(
        "POST /v1/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{{"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    // One byte every 100 ms: the body would take 1000 s.
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if write.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let started = tokio::time::Instant::now();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, read.read(&mut buf)).await.expect("an answer in time").unwrap();
        assert!(n > 0, "closed without an answer");
        response.extend_from_slice(&buf[..n]);
    }
    trickle.abort();
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = stack_with(|_| {}, |h| h.header_timeout_ms = 500).await;
    let addr = s.bridge.url.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = socket.into_split();
    write.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").as_bytes()).await.unwrap();
    // One header every 100 ms, never the blank line that ends the head.
    let trickle = tokio::spawn(async move {
        for i in 0.. {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if write.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let started = tokio::time::Instant::now();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    // The bridge answers 408 or just closes: either way the connection ends.
    while let Ok(n) = tokio::time::timeout(WAIT, read.read(&mut buf)).await.expect("the bridge gives up in time") {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    trickle.abort();
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(response.is_empty() || response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
}
