//! A client that stops reading: the broker stops reading its requests once replies pile
//! up, keeps waiting for a slow reader, and closes a dead one after the write timeout.

use crate::helpers::*;
use joint_wire::message::{Incoming, Request};
use std::time::{Duration, Instant};

/// Fills the database with 1,000 accounts with long names so a `users` page is ~300 KB.
async fn many_users(app: &TestApp) {
    let db = app.db.sql().await;
    db.execute(
        "INSERT INTO users (login, name, password)
         SELECT 'filler' || i, repeat('界', 64), '$scrypt$unused' FROM generate_series(1, 1000) i",
        &[],
    )
    .await
    .unwrap();
}

/// Sends `count` big `users` requests without reading anything back.
async fn pipeline_big_replies(raw: &mut RawConn, count: u64) {
    let mut bytes = Vec::new();
    for id in 0..count {
        bytes.extend(joint_wire::codec::frame(&Request::Users { after: None, limit: Some(1000) }.encode(100 + id)));
    }
    raw.send_bytes(&bytes).await;
}

async fn online(app: &TestApp, observer: &joint_wire::Client, login: &str) -> bool {
    let _ = app;
    observer.user(login).await.unwrap().online
}

#[tokio::test]
async fn a_dead_reader_is_closed_after_the_write_timeout() {
    let app = spawn_app_with(|s| s.write_timeout_ms = 1500).await;
    many_users(&app).await;
    let (observer, _e) = app.user("watcher").await;
    let mut raw = app.raw().await;
    let register = Request::Register { login: "sleepy".into(), name: "S".into(), password: password("sleepy") };
    assert!(matches!(raw.call(1, &register).await, Incoming::Ok { .. }));
    // The clock starts before the replies pile up, so the broker's write timeout starts later.
    let started = Instant::now();
    pipeline_big_replies(&mut raw, 40).await;
    assert!(online(&app, &observer, "sleepy").await);

    while online(&app, &observer, "sleepy").await {
        assert!(started.elapsed() < WAIT, "a reader that takes no byte is closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(1500), "not before the write timeout");
}

#[tokio::test]
async fn a_slow_reader_is_waited_for() {
    // TCP reopens a full receive window only after the reader has drained much of it, so a
    // slow reader's stalls last several of its pauses: the timeout must exceed those.
    let app = spawn_app_with(|s| s.write_timeout_ms = 3000).await;
    many_users(&app).await;
    let mut raw = app.raw().await;
    let register = Request::Register { login: "slow".into(), name: "S".into(), password: password("slow") };
    assert!(matches!(raw.call(1, &register).await, Incoming::Ok { .. }));
    // ~6.6 MB of replies: more than the socket buffers hold, so the broker's writes stall.
    pipeline_big_replies(&mut raw, 30).await;
    // Take one ~220 KB reply at a time, pausing before each.
    let started = Instant::now();
    for id in 100..130 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match raw.recv().await {
            Some(Incoming::Ok { re, .. }) => assert_eq!(re, id),
            other => panic!("a slow reader gets every reply, got {other:?}"),
        }
    }
    assert!(started.elapsed() > Duration::from_secs(3), "the reading took longer than the write timeout");
    assert!(matches!(raw.call(7, &Request::Ping).await, Incoming::Ok { re: 7, .. }), "still connected");
}
