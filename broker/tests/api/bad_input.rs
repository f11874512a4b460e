//! Bytes no well-behaved client sends: each gets its specific error and the connection
//! survives or closes exactly as CONTRACT.md §1–§2 say.

use crate::helpers::*;
use joint_wire::message::{Incoming, Request};
use joint_wire::ErrorCode;
use rmpv::Value;
use std::time::Duration;

async fn assert_alive(raw: &mut RawConn) {
    match raw.call(999, &Request::Ping).await {
        Incoming::Ok { re, .. } => assert_eq!(re, 999),
        other => panic!("the connection should still answer, got {other:?}"),
    }
}

fn connection_error(incoming: Option<Incoming>) -> ErrorCode {
    match incoming {
        Some(Incoming::ConnectionError(err)) => err.code,
        other => panic!("expected a connection error, got {other:?}"),
    }
}

fn reply_error(incoming: Option<Incoming>, id: u64) -> (ErrorCode, Option<String>) {
    match incoming {
        Some(Incoming::Err { re, err }) => {
            assert_eq!(re, id);
            (err.code, err.field)
        }
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_frames_keep_the_connection_open() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;

    raw.send_bytes(&[0, 0, 0, 0]).await; // N = 0
    assert_eq!(connection_error(raw.recv().await), ErrorCode::BadFrame);
    raw.send_payload(b"\xc1garbage").await;
    assert_eq!(connection_error(raw.recv().await), ErrorCode::BadFrame);
    raw.send_payload(&[0x92, 0x01, 0x02]).await; // an array
    assert_eq!(connection_error(raw.recv().await), ErrorCode::BadFrame);
    raw.send_payload(&map(vec![("op", "ping".into())])).await; // no id
    assert_eq!(connection_error(raw.recv().await), ErrorCode::BadFrame);
    raw.send_payload(&map(vec![("id", Value::from(-3)), ("op", "ping".into())])).await;
    assert_eq!(connection_error(raw.recv().await), ErrorCode::BadFrame);
    raw.send_payload(&map(vec![("id", Value::from("7")), ("op", "ping".into())])).await;
    assert_eq!(connection_error(raw.recv().await), ErrorCode::BadFrame);

    // With a readable id, bad frames are error replies.
    let mut trailing = map(vec![("id", 5.into()), ("op", "ping".into())]);
    trailing.push(0xc0);
    raw.send_payload(&trailing).await;
    assert_eq!(reply_error(raw.recv().await, 5).0, ErrorCode::BadFrame);
    // {"id": 6, "op": "ping", "op": "ping"}: a duplicate key
    let mut dup = vec![0x83, 0xa2, b'i', b'd', 6];
    dup.extend_from_slice(&[0xa2, b'o', b'p', 0xa4, b'p', b'i', b'n', b'g']);
    dup.extend_from_slice(&[0xa2, b'o', b'p', 0xa4, b'p', b'i', b'n', b'g']);
    raw.send_payload(&dup).await;
    assert_eq!(reply_error(raw.recv().await, 6).0, ErrorCode::BadFrame);
    // a key that is not valid UTF-8
    raw.send_payload(&[0x82, 0xa2, b'i', b'd', 8, 0xa2, 0xff, 0xfe, 0x01]).await;
    assert_eq!(reply_error(raw.recv().await, 8).0, ErrorCode::BadFrame);
    // a non-string key
    raw.send_payload(&[0x82, 0xa2, b'i', b'd', 9, 0x01, 0x02]).await;
    assert_eq!(reply_error(raw.recv().await, 9).0, ErrorCode::BadFrame);

    assert_alive(&mut raw).await;
}

/// Wrong types, bin and invalid UTF-8 in every argument are bad_input_table.rs's job.
#[tokio::test]
async fn integers_in_any_width_and_unknown_keys_are_accepted() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    raw.send_payload(&map(vec![("id", 3.into()), ("op", "teleport".into())])).await;
    assert_eq!(reply_error(raw.recv().await, 3).0, ErrorCode::UnknownOp);
    // a uint64-encoded id and an unknown extra key are fine
    let mut wide = vec![0x83, 0xa2, b'i', b'd', 0xcf, 0, 0, 0, 0, 0, 0, 0, 7];
    wide.extend_from_slice(&[0xa2, b'o', b'p', 0xa4, b'p', b'i', b'n', b'g', 0xa5, b'e', b'x', b't', b'r', b'a', 0xc3]);
    raw.send_payload(&wide).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 7, .. })));
    assert_alive(&mut raw).await;
}

#[tokio::test]
async fn oversized_length_closes_with_frame_too_large() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    raw.send_bytes(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).await;
    assert_eq!(connection_error(raw.recv().await), ErrorCode::FrameTooLarge);
    raw.expect_closed().await;

    // One past the configured limit, announced after a good request.
    let mut raw = app.raw().await;
    let limit = app.settings.max_frame as u32;
    let mut bytes = joint_wire::codec::frame(&Request::Ping.encode(1));
    bytes.extend_from_slice(&(limit + 1).to_be_bytes());
    raw.send_bytes(&bytes).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 1, .. })), "the request before is answered");
    assert_eq!(connection_error(raw.recv().await), ErrorCode::FrameTooLarge);
    raw.expect_closed().await;

    // Exactly the limit is accepted (and refused only for what it holds).
    let mut raw = app.raw().await;
    let mut payload = map(vec![("id", 2.into()), ("op", "ping".into()), ("pad", Value::from(""))]);
    let pad = app.settings.max_frame - payload.len() - 4;
    payload = map(vec![("id", 2.into()), ("op", "ping".into()), ("pad", Value::from("x".repeat(pad)))]);
    assert_eq!(payload.len(), app.settings.max_frame);
    raw.send_payload(&payload).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 2, .. })));
}

#[tokio::test]
async fn truncated_frame_then_eof_is_just_a_close() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    raw.send_bytes(&[0, 0, 0, 20, 0x82, 0xa2]).await;
    raw.stream.shutdown_write().await;
    raw.expect_closed().await;
    // The broker is fine.
    let mut other = app.raw().await;
    assert_alive(&mut other).await;
}

trait ShutdownWrite {
    async fn shutdown_write(&mut self);
}

impl ShutdownWrite for tokio::net::TcpStream {
    async fn shutdown_write(&mut self) {
        use tokio::io::AsyncWriteExt;
        self.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn half_a_frame_then_silence_times_out() {
    let app = spawn_app_with(|s| {
        s.idle_half_frame_ms = 300;
        s.idle_authenticated_ms = 60_000;
    })
    .await;
    // A length prefix alone is already inside a frame.
    for partial in [&[0, 0, 0, 20][..], &[0, 0, 0, 20, 0x82][..], &[0, 0][..]] {
        let mut raw = app.raw().await;
        let register = Request::Register { login: "ann".into(), name: "Ann".into(), password: password("ann") };
        let _ = raw.call(1, &register).await; // signed in: the 30 s anonymous limit is out of the way
        raw.send_bytes(partial).await;
        let started = std::time::Instant::now();
        assert_eq!(connection_error(raw.recv().await), ErrorCode::IdleTimeout, "{partial:?}");
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert!(started.elapsed() < Duration::from_secs(5), "the half-frame limit, not the signed-in one");
        raw.expect_closed().await;
    }
}

#[tokio::test]
async fn idle_connections_time_out_by_state() {
    let app = spawn_app_with(|s| {
        s.idle_anonymous_ms = 300;
        s.idle_authenticated_ms = 3000;
    })
    .await;
    let mut anonymous = app.raw().await;
    let started = std::time::Instant::now();
    assert_eq!(connection_error(anonymous.recv().await), ErrorCode::IdleTimeout);
    assert!(started.elapsed() < Duration::from_millis(2000), "the anonymous limit, not the signed-in one");
    anonymous.expect_closed().await;

    let mut signed_in = app.raw().await;
    let register = Request::Register { login: "ann".into(), name: "Ann".into(), password: password("ann") };
    // Started before the request, the clock cannot be behind the broker's idle timer.
    let started = std::time::Instant::now();
    assert!(matches!(signed_in.call(1, &register).await, Incoming::Ok { .. }));
    assert_eq!(connection_error(signed_in.recv().await), ErrorCode::IdleTimeout);
    assert!(started.elapsed() >= Duration::from_millis(2500), "signed-in connections get the longer limit");

    // Pings keep a signed-in connection alive past its limit...
    let mut pinging = app.raw().await;
    assert!(matches!(pinging.call(1, &register_as("bob")).await, Incoming::Ok { .. }));
    for id in 0..25 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(matches!(pinging.call(id, &Request::Ping).await, Incoming::Ok { .. }));
    }
    // ...but an anonymous connection has the anonymous limit in all to sign in.
    let mut lurking = app.raw().await;
    let started = std::time::Instant::now();
    let code = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match lurking.call(1, &Request::Ping).await {
            Incoming::Ok { .. } => assert!(started.elapsed() < Duration::from_secs(2), "pinging kept it anonymous"),
            other => break err_code(&other),
        }
    };
    assert_eq!(code, ErrorCode::IdleTimeout);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

fn register_as(login: &str) -> Request {
    Request::Register { login: login.into(), name: login.into(), password: password(login) }
}

#[tokio::test]
async fn garbage_streams_never_take_the_broker_down() {
    let app = spawn_app().await;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20 {
        let mut raw = app.raw().await;
        let mut bytes = Vec::new();
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Small frames of random bytes keep framing intact.
            let len = (seed % 40) as usize + 1;
            bytes.extend_from_slice(&(len as u32).to_be_bytes());
            bytes.extend((0..len).map(|i| (seed >> (i % 8 * 8)) as u8));
        }
        raw.send_bytes(&bytes).await;
        // Every frame gets exactly one answer: a reply or a bad_frame connection error.
        for _ in 0..64 {
            match raw.recv().await {
                Some(Incoming::Ok { .. } | Incoming::Err { .. } | Incoming::ConnectionError(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_alive(&mut raw).await;
    }
}

#[tokio::test]
async fn a_connection_whose_session_ends_has_the_anonymous_limit_from_then_on() {
    let app = spawn_app_with(|s| {
        s.idle_anonymous_ms = 500;
        s.idle_authenticated_ms = 60_000;
    })
    .await;
    let (ann, _events) = app.user("ann").await;
    let mut raw = app.raw().await;
    let auth = Request::Auth { token: ann.token().unwrap() };
    assert!(matches!(raw.call(1, &auth).await, Incoming::Ok { .. }));
    ann.logout().await.unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(raw.recv().await, Some(Incoming::Event(_))), "session_ended");
    assert_eq!(connection_error(raw.recv().await), ErrorCode::IdleTimeout);
    assert!(started.elapsed() < Duration::from_secs(5), "not the signed-in minute: {:?}", started.elapsed());
}

#[tokio::test]
async fn huge_names_in_bad_requests_are_not_echoed_back() {
    let app = spawn_app().await;
    let mut raw = app.raw().await;
    let long = "x".repeat(200_000);
    raw.send_payload(&map(vec![("id", 1.into()), ("op", long.as_str().into())])).await;
    let (code, _) = reply_error(raw.recv().await, 1);
    assert_eq!(code, ErrorCode::UnknownOp, "the reply fits: the name is quoted in part");
    // {"id": 2, long: 1, long: 2}
    let mut dup = vec![0x83, 0xa2, b'i', b'd', 2];
    for value in [1u8, 2] {
        dup.push(0xdb);
        dup.extend_from_slice(&(long.len() as u32).to_be_bytes());
        dup.extend_from_slice(long.as_bytes());
        dup.push(value);
    }
    raw.send_payload(&dup).await;
    assert_eq!(reply_error(raw.recv().await, 2).0, ErrorCode::BadFrame);
    assert_alive(&mut raw).await;
}
