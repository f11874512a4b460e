//! Attacks of issue 10 that the other files do not already prove: bytes dribbled to hold a
//! connection, 4 GiB length prefixes, 10,000 connections at once, and hostile text.
//!
//! Proven elsewhere and not repeated: login brute force meets the backoff per (login, IP)
//! and per IP, even in parallel (limits.rs `failed_logins_back_off_and_a_success_resets`,
//! `parallel_guesses_cannot_outrun_the_backoff`, `failed_auth_backs_off_per_ip`); too many
//! connections per IP and in all (limits.rs `connection_caps_answer_too_many_connections`,
//! `total_connection_cap`); idle and half-frame timeouts (bad_input.rs
//! `idle_connections_time_out_by_state`, `half_a_frame_then_silence_times_out`).

use crate::helpers::*;
use joint_wire::codec::Payload;
use joint_wire::message::{Event, Incoming, Request};
use joint_wire::{ClientEvent, ErrorCode};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Writes one byte of a never-ending frame every 100 ms and returns the first frame the
/// broker sent (decoded) and how long the connection lived.
async fn dribble(raw: RawConn) -> (Option<Incoming>, Duration) {
    let started = Instant::now();
    let (mut reader, mut writer) = raw.stream.into_split();
    let writing = tokio::spawn(async move {
        // A frame of 1,000 bytes, of which the broker gets one every 100 ms.
        if writer.write_all(&1000u32.to_be_bytes()).await.is_err() {
            return;
        }
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(&[0xc0]).await.is_err() {
                return;
            }
        }
    });
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut received)).await;
    let lived = started.elapsed();
    writing.abort();
    assert!(read.is_ok(), "the broker never closed the dribbling connection");
    let first = received.get(4..).and_then(|rest| {
        let len = u32::from_be_bytes(received[..4].try_into().ok()?) as usize;
        let payload = Payload::parse(rest.get(..len)?).ok()?;
        Incoming::parse(&payload).ok()
    });
    (first, lived)
}

fn idle_timeout(first: Option<Incoming>) -> bool {
    matches!(first, Some(Incoming::ConnectionError(err)) if err.code == ErrorCode::IdleTimeout)
}

#[tokio::test]
async fn attack_slowloris_dribbling_a_frame_is_closed_by_the_idle_limits() {
    let app = spawn_app_with(|s| {
        s.idle_anonymous_ms = 2000;
        s.idle_authenticated_ms = 3000;
        // Ten times the gap between two bytes: a stall of the test cannot pass for this limit.
        s.idle_half_frame_ms = 1000;
    })
    .await;
    // Every byte comes sooner than the half-frame limit, but an anonymous connection has
    // its limit in all to sign in...
    let (first, lived) = dribble(app.raw().await).await;
    assert!(idle_timeout(first), "anonymous dribbler");
    assert!(lived >= Duration::from_millis(1500) && lived < Duration::from_secs(6), "closed after {lived:?}");
    // ...and a signed-in one must finish a frame within the signed-in limit.
    let mut raw = app.raw().await;
    let register = Request::Register { login: "slow".into(), name: "Slow".into(), password: password("slow") };
    answer(&mut raw, 1, &register.encode(1)).await.expect("signed in");
    let (first, lived) = dribble(raw).await;
    assert!(idle_timeout(first.clone()), "signed-in dribbler: {first:?} after {lived:?}");
    assert!(lived >= Duration::from_millis(2500) && lived < Duration::from_secs(8), "closed after {lived:?}");
    // Many at once hold nothing: the broker answers a well-behaved client meanwhile.
    let dribblers: Vec<_> = (0..50).map(|_| app.raw()).collect();
    let mut tasks = Vec::new();
    for raw in dribblers {
        tasks.push(tokio::spawn(dribble(raw.await)));
    }
    let (client, _e) = app.user("patient").await;
    client.publish("all", "still served").await.expect("served while 50 connections dribble");
    for task in tasks {
        assert!(idle_timeout(task.await.unwrap().0));
    }
}

/// A process's memory in KiB, from /proc: (peak virtual size, peak resident set).
fn memory_peaks(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let kib = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key}"));
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    (kib("VmPeak:"), kib("VmHWM:"))
}

#[tokio::test]
async fn attack_a_hundred_4_gib_length_prefixes_cost_the_broker_no_memory() {
    let db = TestDb::create().await;
    let (broker, addr, _log) = start_binary(&db.url, "info");
    // Warm up: one ordinary session, so that what the broker allocates once is counted.
    let mut raw = RawConn::connect(addr).await;
    assert!(matches!(raw.call(1, &Request::Ping).await, Incoming::Ok { .. }));
    let (virtual_before, resident_before) = memory_peaks(broker.id());
    let mut tasks = Vec::new();
    for _ in 0..100 {
        tasks.push(tokio::spawn(async move {
            let mut raw = RawConn::connect(addr).await;
            // 4 GiB - 1 announced, then a little of it.
            raw.send_bytes(&[0xff, 0xff, 0xff, 0xff, 0x81, 0xa2, b'i', b'd']).await;
            let answer = raw.recv().await;
            raw.expect_closed().await;
            answer
        }));
    }
    for task in tasks {
        match task.await.unwrap() {
            Some(Incoming::ConnectionError(err)) => assert_eq!(err.code, ErrorCode::FrameTooLarge),
            other => panic!("expected frame_too_large, got {other:?}"),
        }
    }
    let (virtual_after, resident_after) = memory_peaks(broker.id());
    // Reserving even one prefix's length would add 4 GiB of address space (VmPeak), touched
    // or not: the refusal comes before any allocation for it.
    let grew_virtual = virtual_after.saturating_sub(virtual_before);
    let grew_resident = resident_after.saturating_sub(resident_before);
    assert!(grew_virtual < 1024 * 1024, "peak address space grew by {grew_virtual} KiB");
    assert!(grew_resident < 16 * 1024, "peak resident memory grew by {grew_resident} KiB");
    assert!(matches!(raw.call(2, &Request::Ping).await, Incoming::Ok { .. }), "the broker serves on");
}

#[tokio::test]
async fn attack_ten_thousand_connections_at_once_do_not_crash_the_broker() {
    const CONNECTIONS: usize = 10_000;
    // The test holds one descriptor per connection; the broker (its own process) raises its
    // own limit to its connection cap.
    let wanted = CONNECTIONS as u64 + 500;
    // As root (CI), the hard limit itself may be raised when a fresh machine's is lower.
    let (_, hard) = rlimit::Resource::NOFILE.get().expect("read the open-file limit");
    if hard < wanted {
        let _ = rlimit::Resource::NOFILE.set(wanted, wanted);
    }
    let limit = rlimit::increase_nofile_limit(wanted).expect("raise the open-file limit");
    assert!(limit >= CONNECTIONS as u64 + 200, "the hard open-file limit {limit} is too low for this test");
    let db = TestDb::create().await;
    let cap = (CONNECTIONS + 100).to_string();
    let flags = ["--listen", "127.0.0.1:0", "--max-connections", &cap, "--max-connections-per-ip", &cap];
    let (mut broker, addr, _log) = start_binary_with(&db.url, "warn,joint_broker=info", &flags, &[]);
    let started = Instant::now();
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..CONNECTIONS {
        opening.spawn(async move { tokio::time::timeout(Duration::from_secs(20), RawConn::connect(addr)).await });
    }
    let mut connections = Vec::with_capacity(CONNECTIONS);
    while let Some(opened) = opening.join_next().await {
        connections.push(opened.unwrap().expect("every connection is accepted within 20 s"));
    }
    let opened_in = started.elapsed();
    // Every one of them is served.
    let mut pinging = tokio::task::JoinSet::new();
    for mut raw in connections {
        pinging.spawn(async move {
            let answer = raw.call(1, &Request::Ping).await;
            (answer, raw)
        });
    }
    let mut connections = Vec::with_capacity(CONNECTIONS);
    while let Some(pinged) = pinging.join_next().await {
        let (answer, raw) = pinged.unwrap();
        assert!(matches!(answer, Incoming::Ok { re: 1, .. }), "{answer:?}");
        connections.push(raw);
    }
    assert!(broker.try_wait().unwrap().is_none(), "the broker is alive");
    // A normal client is served while they are all open, and after they are gone.
    let mut config = joint_wire::ClientConfig::new(vec![addr.to_string()]);
    config.reconnect = false;
    let (client, mut events) = joint_wire::Client::connect(config.clone()).await.expect("connects");
    client.register("normal", "Normal", &password("normal")).await.expect("registers");
    client.subscribe("all", None, None).await.expect("subscribes");
    client.publish("all", "still here").await.expect("publishes");
    drop(connections);
    let (late, _e) = joint_wire::Client::connect(config).await.expect("connects after the burst");
    late.login("normal", &password("normal")).await.expect("signs in");
    late.publish("all", "and after").await.expect("publishes");
    for body in ["still here", "and after"] {
        match tokio::time::timeout(WAIT, events.next()).await.expect("delivered in time") {
            Some(ClientEvent::Event(Event::Message(message))) => assert_eq!(message.body, body),
            other => panic!("{other:?}"),
        }
    }
    assert!(broker.try_wait().unwrap().is_none(), "the broker is alive");
    assert!(started.elapsed() < Duration::from_secs(60), "opened in {opened_in:?}, all in {:?}", started.elapsed());
}

/// Hostile text that is valid where it goes: stored and returned byte for byte.
const VERBATIM_BODIES: [&str; 12] = [
    "'); DROP TABLE users;--",
    "Robert'); DELETE FROM messages WHERE ('1'='1",
    "\x1b[2J\x1b[H\x1b[31mred\x1b[0m\x07",
    "\x1b]0;title\x07 and \x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "abc\u{202E}fed\u{202C} \u{2066}isolate\u{2069}",
    "\r\n\t\u{8}\u{7f}\u{85}\u{2028}\u{2029}",
    "%s%n%x {0} ${HOME} $(reboot) `id`",
    "<script>alert(1)</script>",
    "\u{feff}bom \u{200b}zero\u{200d}width \u{fffd}",
    "\u{ffff}\u{fdd0}\u{10ffff}\u{e000}",
    "e\u{301} (not normalized in a body)",
    "\\x00 \\0 \\u0000 (escaped NULs are just text)",
];

#[tokio::test]
async fn attack_hostile_text_is_stored_verbatim_or_refused_never_interpreted() {
    let app = spawn_app().await;
    let db = app.db.sql().await;
    let tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'";
    let table_count: i64 = db.query_one(tables, &[]).await.unwrap().get(0);
    let (ann, _ae) = app.user("ann").await;
    let (bob, mut bob_events) = app.user("bob").await;

    // Names: SQL and other printable mischief is stored as written.
    let sql_name = "Robert'); DROP TABLE users;--";
    assert_eq!(ann.set_name(sql_name).await.unwrap().name, sql_name);
    let sql_group = "x'); DROP TABLE groups;-- \"; DELETE FROM memberships; --";
    ann.group_create(sql_group, &["bob".to_string()]).await.unwrap();
    let stored: String = db.query_one("SELECT name FROM users WHERE login = 'ann'", &[]).await.unwrap().get(0);
    assert_eq!(stored, sql_name);
    assert_eq!(bob.user("ann").await.unwrap().name, sql_name);
    assert!(bob.groups().await.unwrap().iter().any(|g| g.name == sql_group));
    // Control characters, bidi controls and NUL in a name are refused (CONTRACT.md §5).
    for bad in ["\x1b[2J", "a\0b", "a\u{202E}b", "a\u{2067}b", "bell\u{7}", "a\u{85}b"] {
        assert_eq!(code(ann.set_name(bad).await), ErrorCode::InvalidArgument, "{bad:?}");
        assert_eq!(code(ann.group_create(bad, &[]).await), ErrorCode::InvalidArgument, "{bad:?}");
    }
    assert_eq!(code(ann.user("x'); DROP TABLE users;--").await), ErrorCode::InvalidArgument);

    // Bodies: everything but NUL is stored and delivered byte for byte.
    bob.subscribe(sql_group, None, None).await.unwrap();
    for body in VERBATIM_BODIES {
        ann.publish(sql_group, body).await.unwrap();
    }
    let mut delivered = Vec::new();
    while delivered.len() < VERBATIM_BODIES.len() {
        if let Event::Message(message) = next_event(&mut bob_events).await {
            delivered.push(message.body);
        }
    }
    assert_eq!(delivered, VERBATIM_BODIES.to_vec(), "delivered byte for byte");
    let page = bob.history(sql_group, None, None, None, None).await.unwrap();
    let read_back: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(read_back, VERBATIM_BODIES.to_vec(), "history returns every body byte for byte");
    let rows = db
        .query("SELECT convert_to(body, 'UTF8') FROM messages WHERE body <> '' ORDER BY gid, seq", &[])
        .await
        .unwrap();
    let stored: Vec<Vec<u8>> = rows.iter().map(|r| r.get(0)).collect();
    let sent: Vec<Vec<u8>> = VERBATIM_BODIES.iter().map(|b| b.as_bytes().to_vec()).collect();
    assert_eq!(stored, sent, "the database holds the bytes as sent");

    // NUL and bytes that are not UTF-8 are refused, naming the body.
    assert_eq!(code(ann.publish(sql_group, "a\0b").await), ErrorCode::InvalidArgument);
    let mut raw = app.raw().await;
    let login = Request::Login { login: "ann".into(), password: password("ann") };
    answer(&mut raw, 1, &login.encode(1)).await.unwrap();
    for bytes in [&b"a\xffb"[..], b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong", b"cut \xe2\x82"] {
        let mut payload = map(vec![("id", 2.into()), ("op", "publish".into()), ("group", sql_group.into())]);
        payload[0] += 1; // one more pair: "body" as a str holding these bytes
        payload.extend_from_slice(&[0xa4, b'b', b'o', b'd', b'y', 0xd9, bytes.len() as u8]);
        payload.extend_from_slice(bytes);
        let err = answer(&mut raw, 2, &payload).await.expect_err("refused");
        assert_eq!((err.code, err.field.as_deref()), (ErrorCode::InvalidArgument, Some("body")), "{bytes:?}");
    }

    // Nothing was executed: every table is still there, with the rows the test made.
    let after: i64 = db.query_one(tables, &[]).await.unwrap().get(0);
    assert_eq!(after, table_count);
    let users: i64 = db.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    let messages: i64 = db.query_one("SELECT count(*) FROM messages", &[]).await.unwrap().get(0);
    assert_eq!((users, messages), (2, VERBATIM_BODIES.len() as i64));
}
