//! CONTRACT.md §12 over HTTP: deleting messages, the operator endpoints under `/v1/admin`,
//! and the status of the two new error codes.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn moderated() -> Stack {
    stack_with(|s| s.operators = vec!["boss".into()], |_| {}).await
}

#[tokio::test]
async fn a_deleted_message_is_a_tombstone_in_history_and_a_message_deleted_event_on_streams() {
    let s = moderated().await;
    let ann = s.register("ann").await;
    let bob = s.register("bob").await;
    let gid = s.group(&ann, "team", &["bob"]).await;
    for body in ["one", "two", "three"] {
        s.publish(&ann, "team", body).await;
    }
    let mut live = s.stream(&bob, "team", Some(&format!("{gid}:0"))).await;
    for seq in 1..=3 {
        assert_eq!(live.message().await["seq"], seq);
    }

    // bob is neither the sender nor the admin.
    expect_error(s.req(Method::DELETE, "/v1/groups/team/messages/2", Some(&bob)), 403, "not_allowed").await;
    let (status, _) = send(s.req(Method::DELETE, "/v1/groups/team/messages/2", Some(&ann))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let event = live.next().await.expect("the stream goes on");
    assert_eq!((event.event.as_str(), event.id.as_str()), ("message_deleted", ""));
    assert_eq!(event.json(), json!({"group": "team", "gid": gid, "seq": 2}));

    let err =
        expect_error(s.req(Method::DELETE, "/v1/groups/team/messages/99", Some(&ann)), 400, "invalid_argument").await;
    assert_eq!(err["field"], "seq");
    expect_error(s.req(Method::DELETE, "/v1/groups/team/messages/x", Some(&ann)), 400, "invalid_argument").await;
    expect_error(s.req(Method::DELETE, "/v1/groups/nowhere/messages/1", Some(&ann)), 404, "no_such_group").await;

    let (status, page) = send(s.req(Method::GET, "/v1/groups/team/messages", Some(&bob))).await;
    assert_eq!(status, StatusCode::OK);
    let shown: Vec<(u64, &str, bool)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seq"].as_u64().unwrap(), m["body"].as_str().unwrap(), m["deleted"].as_bool().unwrap()))
        .collect();
    assert_eq!(shown, vec![(1, "one", false), (2, "", true), (3, "three", false)]);

    // A stream resuming from before the deleted seq gets the tombstone in its place.
    let mut resumed = s.stream(&bob, "team", Some(&format!("{gid}:1"))).await;
    let tombstone = resumed.message().await;
    assert_eq!((&tombstone["seq"], &tombstone["body"], &tombstone["deleted"]), (&json!(2), &json!(""), &json!(true)));
    assert_eq!(resumed.message().await["seq"], 3);
}

#[tokio::test]
async fn operators_create_disable_and_enable_accounts() {
    let s = stack_with(
        |b| {
            b.operators = vec!["boss".into()];
            b.registration = joint_testkit::Registration::Closed;
        },
        |_| {},
    )
    .await;
    let new_user = json!({"login": "cat", "name": "Cat", "password": "cat-password"});
    expect_error(s.req(Method::POST, "/v1/register", None).json(&new_user), 403, "not_allowed").await;
    // The first operator account is made while registration was open.
    let opening = joint_testkit::spawn_on(s.app.db.clone(), joint_testkit::Settings::for_tests(&s.app.db.url)).await;
    opening.user("boss").await;
    let (_, session) =
        send(s.req(Method::POST, "/v1/login", None).json(&json!({"login": "boss", "password": password("boss")})))
            .await;
    let boss = session["token"].as_str().unwrap().to_owned();

    let (status, user) = send(s.req(Method::POST, "/v1/admin/users", Some(&boss)).json(&new_user)).await;
    assert_eq!((status, user), (StatusCode::CREATED, json!({"login": "cat", "name": "Cat"})));
    expect_error(s.req(Method::POST, "/v1/admin/users", Some(&boss)).json(&new_user), 409, "login_taken").await;
    let credentials = json!({"login": "cat", "password": "cat-password"});
    let (status, session) = send(s.req(Method::POST, "/v1/login", None).json(&credentials)).await;
    assert_eq!(status, StatusCode::OK);
    let cat = session["token"].as_str().unwrap().to_owned();

    expect_error(s.req(Method::POST, "/v1/admin/users/boss/disable", Some(&cat)), 403, "not_allowed").await;
    expect_error(s.req(Method::POST, "/v1/admin/users/ghost/disable", Some(&boss)), 404, "unknown_user").await;
    let (status, _) = send(s.req(Method::POST, "/v1/admin/users/cat/disable", Some(&boss))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The disabled account's token is refused; so is its password.
    expect_error(s.req(Method::GET, "/v1/me", Some(&cat)), 403, "account_disabled").await;
    expect_error(s.req(Method::POST, "/v1/login", None).json(&credentials), 403, "account_disabled").await;

    let (status, _) = send(s.req(Method::POST, "/v1/admin/users/cat/enable", Some(&boss))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(s.req(Method::POST, "/v1/login", None).json(&credentials)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn quota_exceeded_is_409_and_flood_control_is_429_with_retry_after() {
    let s = stack_with(
        |b| {
            b.max_groups_per_user = 1;
            b.publish_rate = 1;
            b.publish_burst = 1;
        },
        |_| {},
    )
    .await;
    let ann = s.register("ann").await;
    s.group(&ann, "one", &[]).await;
    let two = s.req(Method::POST, "/v1/groups", Some(&ann)).json(&json!({"name": "two"}));
    expect_error(two, 409, "quota_exceeded").await;

    s.publish(&ann, "one", "first").await;
    let req = s.req(Method::POST, "/v1/groups/one/messages", Some(&ann)).header("idempotency-key", "k2").body("second");
    let response = req.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let req = s.req(Method::POST, "/v1/groups/one/messages", Some(&ann)).header("idempotency-key", "k2").body("second");
    let (status, published) = send(req).await;
    assert_eq!((status, &published["seq"]), (StatusCode::CREATED, &json!(2)));
}
