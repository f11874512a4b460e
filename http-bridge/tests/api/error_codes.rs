//! Each wire error code the bridge can meet, produced for real and seen as its HTTP status
//! and JSON body. (`rate_limited` is in limits.rs; codes that only a bug in the bridge can
//! cause are covered by the mapping's unit test.)

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn invalid_argument_is_400_naming_the_field() {
    let s = stack().await;
    let bad = json!({"login": "No Spaces", "name": "x", "password": "long enough"});
    let err = expect_error(s.req(Method::POST, "/v1/register", None).json(&bad), 400, "invalid_argument").await;
    assert_eq!(err["field"], "login");
    // Malformed requests the bridge refuses itself get the same shape.
    let req = s.req(Method::POST, "/v1/login", None).header("content-type", "application/json").body("{");
    expect_error(req, 400, "invalid_argument").await;
    let token = s.register("ann").await;
    expect_error(s.req(Method::GET, "/v1/groups/all/messages?limit=ten", Some(&token)), 400, "invalid_argument").await;
    expect_error(s.req(Method::GET, "/v1/groups/all/messages?limit=0", Some(&token)), 400, "invalid_argument").await;
}

#[tokio::test]
async fn unauthenticated_is_401_without_a_bearer_token() {
    let s = stack().await;
    expect_error(s.req(Method::GET, "/v1/me", None), 401, "unauthenticated").await;
    let basic = s.req(Method::GET, "/v1/groups", None).header("authorization", "Basic YTpi");
    expect_error(basic, 401, "unauthenticated").await;
}

#[tokio::test]
async fn bad_token_is_401() {
    let s = stack().await;
    expect_error(s.req(Method::GET, "/v1/me", Some("not-a-token")), 401, "bad_token").await;
}

#[tokio::test]
async fn bad_credentials_is_401_at_login_and_403_when_signed_in() {
    let s = stack().await;
    let token = s.register("ann").await;
    let wrong = json!({"login": "ann", "password": "wrong password"});
    expect_error(s.req(Method::POST, "/v1/login", None).json(&wrong), 401, "bad_credentials").await;
    let change = json!({"old": "wrong password", "new": "another password"});
    expect_error(s.req(Method::POST, "/v1/me/password", Some(&token)).json(&change), 403, "bad_credentials").await;
    let delete = json!({"password": "wrong password"});
    expect_error(s.req(Method::DELETE, "/v1/me", Some(&token)).json(&delete), 403, "bad_credentials").await;
}

#[tokio::test]
async fn login_taken_is_409() {
    let s = stack().await;
    s.register("ann").await;
    let again = json!({"login": "ann", "name": "Other", "password": "long enough"});
    expect_error(s.req(Method::POST, "/v1/register", None).json(&again), 409, "login_taken").await;
}

#[tokio::test]
async fn no_such_group_is_404() {
    let s = stack().await;
    let token = s.register("ann").await;
    expect_error(s.req(Method::GET, "/v1/groups/nowhere/messages", Some(&token)), 404, "no_such_group").await;
}

#[tokio::test]
async fn group_exists_is_409() {
    let s = stack().await;
    let token = s.register("ann").await;
    s.group(&token, "tea", &[]).await;
    expect_error(s.req(Method::POST, "/v1/groups", Some(&token)).json(&json!({"name": "tea"})), 409, "group_exists")
        .await;
}

#[tokio::test]
async fn unknown_user_is_404_with_the_logins() {
    let s = stack().await;
    let token = s.register("ann").await;
    expect_error(s.req(Method::GET, "/v1/users/nobody", Some(&token)), 404, "unknown_user").await;
    s.group(&token, "tea", &[]).await;
    let add = json!({"logins": ["ghost"]});
    let err =
        expect_error(s.req(Method::POST, "/v1/groups/tea/members", Some(&token)).json(&add), 404, "unknown_user").await;
    assert_eq!(err["logins"], json!(["ghost"]));
}

#[tokio::test]
async fn not_member_is_403() {
    let s = stack().await;
    let ann = s.register("ann").await;
    let bob = s.register("bob").await;
    s.group(&ann, "tea", &[]).await;
    let req = s.req(Method::POST, "/v1/groups/tea/messages", Some(&bob)).body("hi");
    expect_error(req, 403, "not_member").await;
}

#[tokio::test]
async fn not_admin_is_403() {
    let s = stack().await;
    let ann = s.register("ann").await;
    let bob = s.register("bob").await;
    s.group(&ann, "tea", &["bob"]).await;
    expect_error(s.req(Method::DELETE, "/v1/groups/tea", Some(&bob)), 403, "not_admin").await;
}

#[tokio::test]
async fn not_allowed_is_403() {
    let s = stack().await;
    let ann = s.register("ann").await;
    expect_error(s.req(Method::POST, "/v1/groups/all/leave", Some(&ann)), 403, "not_allowed").await;
}

#[tokio::test]
async fn admin_cannot_leave_is_409() {
    let s = stack().await;
    let ann = s.register("ann").await;
    s.group(&ann, "tea", &[]).await;
    expect_error(s.req(Method::POST, "/v1/groups/tea/leave", Some(&ann)), 409, "admin_cannot_leave").await;
}

#[tokio::test]
async fn body_too_large_is_413_from_the_broker_and_from_the_bridge() {
    let s = stack_with(|b| b.max_body = 100, |h| h.max_request_bytes = 1000).await;
    let ann = s.register("ann").await;
    let req = s.req(Method::POST, "/v1/groups/all/messages", Some(&ann)).body("x".repeat(101));
    expect_error(req, 413, "body_too_large").await;
    let req = s.req(Method::POST, "/v1/groups/all/messages", Some(&ann)).body("x".repeat(1001));
    expect_error(req, 413, "body_too_large").await;
    assert_eq!(s.publish(&ann, "all", &"x".repeat(100)).await, 1);
}

/// The broker's `too_many_connections` comes at connect time; the wire client passes its
/// code on and the bridge answers 503 with it.
#[tokio::test]
async fn a_broker_refusing_connections_is_503() {
    // One broker connection in all: the first account's shared connection takes it.
    let s = stack_with(|b| b.max_connections = 1, |_| {}).await;
    s.register("ann").await;
    let bob = json!({"login": "bob", "name": "Bob", "password": password("bob")});
    expect_error(s.req(Method::POST, "/v1/register", None).json(&bob), 503, "too_many_connections").await;
}

#[tokio::test]
async fn unavailable_is_503_when_the_broker_is_down() {
    let mut s = stack().await;
    s.app.stop().await;
    let login = json!({"login": "ann", "password": password("ann")});
    expect_error(s.req(Method::POST, "/v1/login", None).json(&login), 503, "unavailable").await;
    expect_error(s.req(Method::GET, "/healthz", None), 503, "unavailable").await;
}

/// A body under the bridge's own limit but over the broker's frame limit is refused by the
/// wire client before it is sent: still 413, never 500.
#[tokio::test]
async fn a_body_over_the_brokers_frame_limit_is_413() {
    let s = stack_with(
        |b| {
            b.max_frame = 16 * 1024;
            b.max_body = 8 * 1024;
        },
        |_| {},
    )
    .await;
    let ann = s.register("ann").await;
    let req = s.req(Method::POST, "/v1/groups/all/messages", Some(&ann)).body("x".repeat(40 * 1024));
    expect_error(req, 413, "body_too_large").await;
    assert_eq!(s.publish(&ann, "all", "still fine").await, 1);
}
