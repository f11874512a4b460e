//! The real `joint-broker` binary: SIGTERM with requests in flight (what was read is
//! answered, then every connection gets `shutting_down`, and the process exits cleanly).

use crate::helpers::*;
use joint_wire::message::{Incoming, Request};
use joint_wire::ErrorCode;
use std::time::Duration;

#[tokio::test]
async fn sigterm_answers_what_was_read_then_says_shutting_down() {
    let db = TestDb::create().await;
    let (mut child, addr, _log) = start_binary(&db.url, "info");

    let mut raw = RawConn::connect(addr).await;
    let register = Request::Register { login: "ann".into(), name: "Ann".into(), password: password("ann") };
    assert!(matches!(raw.call(1, &register).await, Incoming::Ok { .. }));
    let mut idle = RawConn::connect(addr).await;
    assert!(matches!(idle.call(1, &Request::Ping).await, Incoming::Ok { .. }));

    // A burst of creates, then SIGTERM while they are being carried out.
    let mut burst = Vec::new();
    for i in 0..200u64 {
        let request = Request::GroupCreate { group: format!("g{i}"), members: vec![] };
        burst.extend(joint_wire::codec::frame(&request.encode(100 + i)));
    }
    raw.send_bytes(&burst).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    terminate(&child);

    let mut acked = Vec::new();
    let shutting_down = loop {
        match raw.recv().await.expect("the broker says why it closes") {
            Incoming::Ok { re, .. } => acked.push(re),
            Incoming::Event(_) => {}
            Incoming::ConnectionError(err) => break err.code,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(shutting_down, ErrorCode::ShuttingDown);
    raw.expect_closed().await;
    assert!(!acked.is_empty(), "requests in flight were answered");
    let expected: Vec<u64> = (100..100 + acked.len() as u64).collect();
    assert_eq!(acked, expected, "answered in order, none skipped");

    match idle.recv().await {
        Some(Incoming::ConnectionError(err)) => assert_eq!(err.code, ErrorCode::ShuttingDown),
        other => panic!("an idle connection is told too, got {other:?}"),
    }

    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "clean exit, got {status:?}");

    // Exactly the acknowledged creates happened: no false success, nothing lost.
    let sql = db.sql().await;
    let count: i64 = sql.query_one("SELECT count(*) FROM groups WHERE name LIKE 'g%'", &[]).await.unwrap().get(0);
    assert_eq!(count as usize, acked.len());
}
