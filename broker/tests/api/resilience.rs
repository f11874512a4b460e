//! The broker survives PostgreSQL: while it is down, requests get `unavailable` within 5 s
//! (never a hang, a crash or a false success); after it returns, the broker recovers by
//! itself within 10 s, and nothing it acknowledged is lost.

use crate::helpers::*;
use joint_broker::settings::Settings;
use joint_wire::ErrorCode;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Tally {
    acked: Vec<String>,
    unavailable: usize,
    slowest: Duration,
}

#[tokio::test]
async fn postgres_stopped_immediately_and_restarted_under_load() {
    let pg = PrivatePg::start();
    let settings = Settings::for_tests(&pg.url());
    let app = spawn_on(TestDb::external(&pg.url()), settings).await;

    let running = Arc::new(AtomicBool::new(true));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, events) = app.user(&format!("worker{w}")).await;
        let (running, tally) = (running.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            let _events = events;
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                let name = format!("g{w}-{n}");
                n += 1;
                let started = Instant::now();
                let result = client.group_create(&name, &[]).await;
                let took = started.elapsed();
                {
                    let mut tally = tally.lock().unwrap();
                    tally.slowest = tally.slowest.max(took);
                    match result {
                        Ok(group) => {
                            assert_eq!(group.name, name);
                            tally.acked.push(name);
                        }
                        Err(err) => match err.code() {
                            Some(ErrorCode::Unavailable) => tally.unavailable += 1,
                            other => panic!("unexpected {other:?}: {err}"),
                        },
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let (probe, _probe_events) = app.user("probe").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.stop("immediate");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_restart = tally.lock().unwrap().unavailable;
    assert!(before_restart > 0, "requests while PostgreSQL is down get unavailable");
    pg.start_again();
    let restarted = Instant::now();

    // Recovery within 10 s: a request succeeds again.
    let recovered = loop {
        if probe.groups().await.is_ok() {
            break restarted.elapsed();
        }
        assert!(restarted.elapsed() < Duration::from_secs(10), "the broker did not recover within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    assert!(tally.slowest < Duration::from_secs(5), "no request took 5 s or more: {:?}", tally.slowest);
    assert!(recovered < Duration::from_secs(10));

    // Every acknowledged group is in the database.
    let db = TestDb::external(&pg.url()).sql().await;
    let rows = db.query("SELECT name FROM groups WHERE deleted_at IS NULL", &[]).await.unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    for acked in &tally.acked {
        assert!(names.contains(acked), "acknowledged group {acked} was lost");
    }
    assert!(tally.acked.len() > 10);
}

#[tokio::test]
async fn broker_starting_while_postgres_is_down_fails_clearly() {
    let pg = PrivatePg::start();
    pg.stop("fast");
    let mut settings = Settings::for_tests(&pg.url());
    settings.db_timeout_ms = 1000;
    let started = Instant::now();
    let result = joint_broker::server::Broker::build(settings).await;
    assert!(result.is_err(), "no broker without its database");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_broker_waits_for_another_brokers_migrations() {
    let db = TestDb::create().await;
    // Another broker holds the migration lock for longer than any statement may run.
    let holder = db.sql().await;
    holder.execute("SELECT pg_advisory_lock($1)", &[&0x4a6f_696e_7400_i64]).await.unwrap();
    let mut settings = Settings::for_tests(&db.url);
    settings.db_timeout_ms = 1000;
    let starting = tokio::spawn(async move { joint_broker::server::Broker::build(settings).await.map(drop) });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!starting.is_finished(), "the second broker waits for the lock");
    holder.execute("SELECT pg_advisory_unlock($1)", &[&0x4a6f_696e_7400_i64]).await.unwrap();
    tokio::time::timeout(WAIT, starting).await.expect("starts once the lock is free").unwrap().expect("starts");
}

#[tokio::test]
async fn postgres_killed_mid_batch_gives_no_false_ack_and_no_gap() {
    let pg = PrivatePg::start();
    let settings = Settings::for_tests(&pg.url());
    let app = spawn_on(TestDb::external(&pg.url()), settings).await;
    let (ann, _e) = app.user("ann").await;
    let logins: Vec<String> = (0..3).map(|i| format!("pub{i}")).collect();
    for login in &logins {
        app.user(login).await;
    }
    ann.group_create("G", &logins).await.unwrap();
    let (reader, mut reader_events) = app.login("ann").await;
    reader.subscribe("G", None, None).await.unwrap();

    let mut publishers = Vec::new();
    for login in logins.clone() {
        let (client, events) = app.login(&login).await;
        publishers.push(tokio::spawn(async move {
            let _events = events;
            let mut acked = HashMap::new();
            let mut unknown = Vec::new();
            for n in 0..200 {
                let cid = format!("{login}-{n}");
                match client.publish_with_cid("G", &cid, &cid).await {
                    Ok(ack) => {
                        acked.insert(cid, ack.seq);
                    }
                    Err(err) => {
                        assert_eq!(err.code(), Some(ErrorCode::Unavailable), "{err}");
                        unknown.push(cid);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (client, acked, unknown)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.stop("immediate");
    tokio::time::sleep(Duration::from_millis(800)).await;
    pg.start_again();
    let mut acked = HashMap::new();
    let mut retried = 0;
    for publisher in publishers {
        let (client, first_acks, unknown) = publisher.await.unwrap();
        acked.extend(first_acks);
        retried += unknown.len();
        // Outcome unknown: retry with the same cid until the broker answers.
        for cid in unknown {
            let ack = loop {
                match client.publish_with_cid("G", &cid, &cid).await {
                    Ok(ack) => break ack,
                    Err(err) if err.code() == Some(ErrorCode::Unavailable) => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(err) => panic!("{err}"),
                }
            };
            acked.insert(cid, ack.seq);
        }
    }
    assert_eq!(acked.len(), 600);
    assert!(retried > 0, "some publishes met the stopped database");
    let mut seqs: Vec<u64> = acked.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=600).collect::<Vec<u64>>(), "one gapless order, no message twice");

    // The live subscriber got every seq exactly once, in order, committed-but-unacked ones too.
    let mut next = 1;
    while next <= 600 {
        match tokio::time::timeout(WAIT, reader_events.next()).await.expect("delivery goes on").unwrap() {
            joint_wire::ClientEvent::Event(joint_wire::message::Event::Message(m)) => {
                assert_eq!(m.seq, next, "no gap, no duplicate");
                assert_eq!(acked.get(&m.body), Some(&m.seq));
                next += 1;
            }
            joint_wire::ClientEvent::Event(
                joint_wire::message::Event::Lagged { .. } | joint_wire::message::Event::Presence { .. },
            ) => {}
            other => panic!("{other:?}"),
        }
    }
}

/// A TCP proxy in front of PostgreSQL that, once armed, lets the next `COMMIT` reach the
/// server and then cuts the broker's side of that connection: the server's answers are
/// dropped, while its side stays open long enough for it to run everything it was sent
/// (the statements pipelined before the `COMMIT` too). The commit happens, and the broker
/// cannot know it.
struct CommitCutter {
    addr: std::net::SocketAddr,
    armed: Arc<AtomicBool>,
}

impl CommitCutter {
    async fn start(upstream: std::net::SocketAddr) -> CommitCutter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(AtomicBool::new(false));
        let shared = armed.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                tokio::spawn(Self::pipe(client, server, shared.clone()));
            }
        });
        CommitCutter { addr, armed }
    }

    async fn pipe(client: tokio::net::TcpStream, server: tokio::net::TcpStream, armed: Arc<AtomicBool>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let cut = Arc::new(tokio::sync::Notify::new());
        let cutting = cut.clone();
        let upstream = async move {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let commits = buffer[..n].windows(7).any(|w| w == b"COMMIT\0");
                if server_write.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
                if commits && armed.swap(false, Ordering::SeqCst) {
                    cutting.notify_one();
                    // A server whose client has gone may abort before it reaches the COMMIT.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    return;
                }
            }
        };
        let downstream = async move {
            let mut buffer = vec![0u8; 64 * 1024];
            let mut lost = false;
            loop {
                tokio::select! {
                    _ = cut.notified(), if !lost => {
                        // The broker sees its connection end; what the server says is dropped.
                        lost = true;
                        let _ = client_write.shutdown().await;
                    }
                    read = server_read.read(&mut buffer) => match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if !lost && client_write.write_all(&buffer[..n]).await.is_err() { return },
                    },
                }
            }
        };
        // Whichever side ends first ends the connection (both halves drop here).
        tokio::select! {
            _ = upstream => {}
            _ = downstream => {}
        }
    }

    fn url(&self, url: &str) -> String {
        let (scheme_host, rest) = url.split_once('@').unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme_host}@{}/{path}", self.addr)
    }
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_still_reaches_subscribers_and_retries_get_its_seq() {
    let db = TestDb::create().await;
    let pg: std::net::SocketAddr = {
        let after_at = db.url.split_once('@').unwrap().1;
        after_at.split_once('/').unwrap().0.parse().unwrap()
    };
    let cutter = CommitCutter::start(pg).await;
    let settings = Settings::for_tests(&cutter.url(&db.url));
    let app = spawn_on(db, settings).await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    let (reader, mut reader_events) = app.login("ann").await;
    reader.subscribe("Team", None, None).await.unwrap();

    cutter.armed.store(true, Ordering::SeqCst);
    let first = ann.publish_with_cid("Team", "committed unseen", "cid-1").await;
    assert_eq!(first.unwrap_err().code(), Some(ErrorCode::Unavailable), "the outcome is unknown");
    assert!(!cutter.armed.load(Ordering::SeqCst), "the publish's COMMIT was the one cut");
    // No other publish follows: the broker must find the message by itself.
    match next_event(&mut reader_events).await {
        joint_wire::message::Event::Message(m) => assert_eq!((m.seq, m.body.as_str()), (1, "committed unseen")),
        other => panic!("{other:?}"),
    }
    // The retry learns the seq the unseen commit took.
    assert_eq!(ann.publish_with_cid("Team", "committed unseen", "cid-1").await.unwrap().seq, 1);
    assert_eq!(ann.publish("Team", "next").await.unwrap().seq, 2);
    match next_event(&mut reader_events).await {
        joint_wire::message::Event::Message(m) => assert_eq!(m.seq, 2),
        other => panic!("{other:?}"),
    }
}
