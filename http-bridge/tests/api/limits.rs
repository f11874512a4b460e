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
    expect_error(s.req(Method::GET, path, Some(&ann)), 429, "too_many_connections").await;
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
    let s = stack_with(|_| {}, |h| h.idle_ms = 300).await;
    let ann = s.register("ann").await;
    // Bob watches from a wire client of his own: `online` counts signed-in connections.
    let (bob, _events) = s.app.user("bob").await;
    let online = |page: joint_wire::message::UsersPage| page.users.iter().find(|u| u.login == "ann").unwrap().online;
    for _ in 0..3 {
        assert_eq!(send(s.req(Method::GET, "/v1/me", Some(&ann))).await.0, StatusCode::OK);
        assert!(online(bob.users(None, None).await.unwrap()), "ann's shared connection is open");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while online(bob.users(None, None).await.unwrap()) {
        assert!(tokio::time::Instant::now() < deadline, "the idle connection was never closed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The next request signs in again with the token.
    let (status, me) = send(s.req(Method::GET, "/v1/me", Some(&ann))).await;
    assert_eq!((status, &me["login"]), (StatusCode::OK, &json!("ann")));
    assert!(online(bob.users(None, None).await.unwrap()));
}
