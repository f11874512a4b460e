//! hello, the order of operations on a connection, and session expiry.

use crate::helpers::*;
use joint_wire::message::{EndReason, Event, HelloOk, Incoming, Request};
use joint_wire::ErrorCode;
use std::time::Duration;

#[tokio::test]
async fn hello_announces_real_limits_and_only_comes_first() {
    let app = spawn_app_with(|s| {
        s.max_frame = 65_536;
        s.max_body = 4096;
        s.ping_interval_ms = 12_000;
        s.idle_authenticated_ms = 90_000;
    })
    .await;
    let mut raw = app.raw().await;
    let hello = Request::Hello { version: 2, client: Some("test".into()), client_ip: None };
    assert_eq!(err_code(&raw.call(1, &hello).await), ErrorCode::UnsupportedVersion);
    // The connection stays open and may try again.
    let hello = Request::Hello { version: 1, client: Some("test".into()), client_ip: None };
    let Incoming::Ok { ok, .. } = raw.call(2, &hello).await else { panic!("hello refused") };
    let ok: HelloOk = joint_wire::codec::from_value(&ok).unwrap();
    assert_eq!(ok.version, 1);
    assert!(ok.server.starts_with("joint-broker/"));
    assert_eq!((ok.max_frame, ok.max_body, ok.history_max), (65_536, 4096, 1000));
    assert_eq!((ok.ping_interval_ms, ok.idle_timeout_ms), (12_000, 90_000));
    let again = raw.call(3, &hello).await;
    assert_eq!(err_code(&again), ErrorCode::InvalidArgument);

    let mut late = app.raw().await;
    assert!(matches!(late.call(1, &Request::Ping).await, Incoming::Ok { .. }));
    assert_eq!(err_code(&late.call(2, &hello).await), ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn anonymous_connections_may_only_sign_in() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    for (id, request) in [Request::Me, Request::Groups, Request::Logout, Request::Users { after: None, limit: None }]
        .into_iter()
        .enumerate()
    {
        assert_eq!(err_code(&raw.call(id as u64, &request).await), ErrorCode::Unauthenticated);
    }
    assert!(matches!(raw.call(9, &Request::Ping).await, Incoming::Ok { .. }));
}

#[tokio::test]
async fn pipelined_requests_take_effect_in_order() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    let mut bytes = Vec::new();
    let requests = [
        Request::Register { login: "ann".into(), name: "Ann".into(), password: password("ann") },
        Request::GroupCreate { group: "G1".into(), members: vec![] },
        Request::Groups,
        Request::SetName { name: "Ann B".into() },
        Request::Me,
        Request::GroupDelete { group: "G1".into() },
        Request::Groups,
    ];
    for (id, request) in requests.iter().enumerate() {
        bytes.extend(joint_wire::codec::frame(&request.encode(id as u64 + 100)));
    }
    raw.send_bytes(&bytes).await;
    let mut replies = Vec::new();
    while replies.len() < requests.len() {
        match raw.recv().await.expect("answers") {
            Incoming::Ok { re, ok } => replies.push((re, ok)),
            Incoming::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let ids: Vec<u64> = replies.iter().map(|(re, _)| *re).collect();
    assert_eq!(ids, (100..107).collect::<Vec<_>>(), "replies come in request order");
    let groups: joint_wire::message::GroupsOk = joint_wire::codec::from_value(&replies[2].1).unwrap();
    assert!(groups.groups.iter().any(|g| g.name == "G1"), "groups sees the create before it");
    let me: joint_wire::message::UserOk = joint_wire::codec::from_value(&replies[4].1).unwrap();
    assert_eq!(me.user.name, "Ann B");
    let groups: joint_wire::message::GroupsOk = joint_wire::codec::from_value(&replies[6].1).unwrap();
    assert!(groups.groups.iter().all(|g| g.name != "G1"));
}

#[tokio::test]
async fn the_reply_precedes_the_events_it_causes() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    let register = Request::Register { login: "ann".into(), name: "Ann".into(), password: password("ann") };
    assert!(matches!(raw.call(1, &register).await, Incoming::Ok { .. }));
    raw.send(2, &Request::GroupCreate { group: "G".into(), members: vec![] }).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 2, .. })));
    assert!(matches!(raw.recv().await, Some(Incoming::Event(Event::GroupAdded(_)))));
    raw.send(3, &Request::Logout).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 3, .. })));
    assert_eq!(raw.recv().await, Some(Incoming::Event(Event::SessionEnded { reason: EndReason::Logout })));
}

#[tokio::test]
async fn unused_sessions_expire() {
    let app = spawn_app_with(|s| {
        s.token_lifetime_secs = 1;
        s.session_sweep_ms = 100;
    })
    .await;
    let (ann, mut ann_events) = app.user("ann").await;
    let token = ann.token().unwrap();
    let (idle, _e) = app.login("ann").await;
    let idle_token = idle.token().unwrap();
    drop(idle);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The open connection's session is in use and lives on; the closed one's expired.
    ann.me().await.expect("a session in use does not expire");
    assert_no_event(&mut ann_events, 50).await;
    let (fresh, _e) = app.client().await;
    assert_eq!(code(fresh.auth(&idle_token).await), ErrorCode::BadToken);
    let (again, _e) = app.client().await;
    again.auth(&token).await.expect("the live session's token still works");

    // Even a stale last_used does not expire a session an open connection holds.
    let db = app.db.sql().await;
    db.execute("UPDATE sessions SET last_used = now() - interval '1 hour'", &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_no_event(&mut ann_events, 50).await;
    ann.me().await.unwrap();
    let fresh: bool = db
        .query_one("SELECT bool_and(last_used > now() - interval '1 minute') FROM sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert!(fresh, "the sweeper marked the session in use as used");
}
