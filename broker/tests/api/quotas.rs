//! CONTRACT.md §12 limits: per-user flood control of publishes and the three quotas.

use crate::helpers::*;
use joint_wire::message::{Incoming, Request};
use joint_wire::{ClientError, ErrorCode};
use std::time::Duration;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn publish(cid: &str) -> Request {
    Request::Publish { group: "all".into(), body: format!("body of {cid}"), cid: Some(cid.into()) }
}

#[tokio::test]
async fn a_burst_passes_then_rate_limited_then_the_retry_succeeds_after_the_wait() {
    // One token a second: slow enough that the early retry below is early even on a busy machine.
    let app = spawn_app_with(|s| {
        s.publish_rate = 1;
        s.publish_burst = 5;
    })
    .await;
    let (ann, _e) = app.user("ann").await;
    drop(ann);
    let mut raw = app.raw().await;
    let login = Request::Login { login: "ann".into(), password: password("ann") };
    assert!(matches!(raw.call(1, &login).await, Incoming::Ok { .. }));
    // Six publishes pipelined in one write: the burst of five is batched as usual.
    let mut burst = Vec::new();
    for n in 0..6u64 {
        burst.extend(joint_wire::codec::frame(&publish(&format!("c{n}")).encode(10 + n)));
    }
    let sent = std::time::Instant::now();
    raw.send_bytes(&burst).await;
    for n in 0..5u64 {
        let reply = raw.recv().await.unwrap();
        assert!(matches!(reply, Incoming::Ok { re, .. } if re == 10 + n), "{reply:?}");
    }
    let Some(Incoming::Err { re: 15, err }) = raw.recv().await else { panic!("the sixth is refused") };
    assert_eq!(err.code, ErrorCode::RateLimited);
    let wait = err.retry_after_ms.expect("retry_after_ms");
    // The bucket earned back what the time since the burst began is worth (each publish
    // leases its token from PostgreSQL, a round trip each on a busy machine).
    let taken = u64::try_from(sent.elapsed().as_millis()).unwrap();
    assert!(wait <= 1000 && wait + taken + 1 >= 1000, "one token a second, {taken} ms after the burst: not {wait} ms");
    // Too early: still refused, and nothing was stored meanwhile.
    assert_eq!(err_code(&raw.call(16, &publish("c5")).await), ErrorCode::RateLimited);
    let stored: i64 = app.db.sql().await.query_one("SELECT count(*) FROM messages", &[]).await.unwrap().get(0);
    assert_eq!(stored, 5);
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    // The retry with the same cid succeeds and is stored once.
    let reply = raw.call(17, &publish("c5")).await;
    let Incoming::Ok { ok, .. } = reply else { panic!("{reply:?}") };
    assert_eq!(
        ok.as_map().and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("seq"))).map(|(_, v)| v.as_u64()),
        Some(Some(6))
    );
}

#[tokio::test]
async fn the_rate_is_per_user_across_connections_and_precedence_holds() {
    let app = spawn_app_with(|s| {
        s.publish_rate = 1;
        s.publish_burst = 2;
    })
    .await;
    let (first, _e1) = app.user("ann").await;
    let (second, _e2) = app.login("ann").await;
    let (bob, _be) = app.user("bob").await;
    first.publish("all", "1").await.unwrap();
    second.publish("all", "2").await.unwrap();
    assert_eq!(code(first.publish("all", "3").await), ErrorCode::RateLimited);
    assert_eq!(code(second.publish("all", "3").await), ErrorCode::RateLimited, "the same bucket");
    bob.publish("all", "bob's own bucket").await.unwrap();
    // invalid_argument and body_too_large rank before rate_limited, no_such_group after.
    assert_eq!(code(first.publish("all", "").await), ErrorCode::InvalidArgument);
    let long = "x".repeat(app.settings.max_body + 1);
    assert_eq!(code(first.publish("all", &long).await), ErrorCode::BodyTooLarge);
    assert_eq!(code(first.publish("Nowhere", "x").await), ErrorCode::RateLimited);
}

#[tokio::test]
async fn groups_created_per_user_are_capped() {
    let app = spawn_app_with(|s| s.max_groups_per_user = 2).await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("One", &[]).await.unwrap();
    ann.group_create("Two", &[]).await.unwrap();
    assert_eq!(code(ann.group_create("Three", &[]).await), ErrorCode::QuotaExceeded);
    // group_exists is the op's own outcome too, checked first.
    assert_eq!(code(ann.group_create("One", &[]).await), ErrorCode::GroupExists);
    let names: Vec<String> = ann.groups().await.unwrap().into_iter().map(|g| g.name).collect();
    assert_eq!(names, vec!["all", "One", "Two"], "the refused group was not made");
    // A deleted group no longer counts; neither do other users' groups.
    ann.group_delete("Two").await.unwrap();
    ann.group_create("Three", &[]).await.unwrap();
    let (bob, _be) = app.user("bob").await;
    bob.group_create("Bobs", &[]).await.unwrap();
}

#[tokio::test]
async fn members_per_group_are_capped_and_a_refused_add_changes_nothing() {
    let app = spawn_app_with(|s| s.max_members_per_group = 3).await;
    let (ann, _e) = app.user("ann").await;
    for login in ["bob", "cat", "dan"] {
        app.user(login).await;
    }
    assert_eq!(code(ann.group_create("Big", &strings(&["bob", "cat", "dan"])).await), ErrorCode::QuotaExceeded);
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    assert_eq!(code(ann.member_add("Team", &strings(&["cat", "dan"])).await), ErrorCode::QuotaExceeded);
    assert_eq!(ann.members("Team", None, None).await.unwrap().members.len(), 2, "nothing was added");
    // Existing members do not count twice.
    assert_eq!(ann.member_add("Team", &strings(&["bob", "cat"])).await.unwrap(), vec!["cat".to_owned()]);
    // `all` is exempt: registration goes on.
    app.user("eve").await;
}

#[tokio::test]
async fn subscriptions_per_connection_are_capped() {
    let app = spawn_app_with(|s| s.max_subscriptions_per_connection = 2).await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("One", &[]).await.unwrap();
    ann.group_create("Two", &[]).await.unwrap();
    ann.subscribe("all", None, None).await.unwrap();
    ann.subscribe("One", None, None).await.unwrap();
    assert_eq!(code(ann.subscribe("Two", None, None).await), ErrorCode::QuotaExceeded);
    // not_member ranks before quota_exceeded; resubscribing replaces and is not counted.
    assert_eq!(code(ann.subscribe("Nowhere", None, None).await), ErrorCode::NoSuchGroup);
    ann.subscribe("One", None, Some(0)).await.unwrap();
    ann.unsubscribe("all").await.unwrap();
    ann.subscribe("Two", None, None).await.unwrap();
    // Another connection of the same user has its own allowance.
    let (other, _oe) = app.login("ann").await;
    other.subscribe("all", None, None).await.unwrap();
    other.subscribe("One", None, None).await.unwrap();
    let Err(ClientError::Broker(err)) = other.subscribe("Two", None, None).await else { panic!("refused") };
    assert_eq!(err.code, ErrorCode::QuotaExceeded);
}
