//! Against the real broker process: nothing acknowledged is lost and nothing retried is
//! doubled after a SIGKILL, and a paused reader costs no more than its queue bound.

use crate::helpers::*;
use joint_wire::message::{Event, Incoming, Request};
use joint_wire::{Client, ClientConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn signed_in(addr: std::net::SocketAddr, login: &str, register: bool) -> Client {
    let mut config = ClientConfig::new(vec![addr.to_string()]);
    config.reconnect = false;
    let (client, events) = Client::connect(config).await.unwrap();
    std::mem::forget(events); // events are not read here; keep the channel open
    if register {
        client.register(login, login, &password(login)).await.unwrap();
    } else {
        client.login(login, &password(login)).await.unwrap();
    }
    client
}

#[tokio::test]
async fn sigkill_after_acks_then_retries_store_every_message_exactly_once() {
    let db = TestDb::create().await;
    let (mut broker, addr, _log) = start_binary(&db.url, "info");
    let admin = signed_in(addr, "ann", true).await;
    let logins: Vec<String> = (0..4).map(|i| format!("pub{i}")).collect();
    for login in &logins {
        signed_in(addr, login, true).await;
    }
    admin.group_create("Kept", &logins).await.unwrap();

    // Four publishers publish 150 messages each; the broker is killed while they run.
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut publishers = Vec::new();
    for login in logins.clone() {
        let client = signed_in(addr, &login, false).await;
        let acked = acked.clone();
        publishers.push(tokio::spawn(async move {
            for n in 0..150 {
                let cid = format!("{login}-{n}");
                match client.publish_with_cid("Kept", &cid, &cid).await {
                    Ok(ack) => {
                        acked.lock().unwrap().insert(cid, ack.seq);
                    }
                    Err(_) => return, // the broker is gone: the outcome of this one is unknown
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    broker.kill().unwrap(); // SIGKILL
    broker.wait().unwrap();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 100);

    // A new broker on the same database; every publisher retries everything with its cids.
    let (mut broker, addr, _log) = start_binary(&db.url, "info");
    let mut retried = HashMap::new();
    for login in &logins {
        let client = signed_in(addr, login, false).await;
        for n in 0..150 {
            let cid = format!("{login}-{n}");
            let ack = client.publish_with_cid("Kept", &cid, &cid).await.unwrap();
            retried.insert(cid, ack.seq);
        }
    }
    for (cid, seq) in &acked {
        assert_eq!(retried.get(cid), Some(seq), "acknowledged {cid} kept its seq");
    }
    let reader = signed_in(addr, "ann", false).await;
    let mut bodies = Vec::new();
    let mut after = 0;
    loop {
        let page = reader.history("Kept", None, None, Some(after), Some(1000)).await.unwrap();
        for m in &page.messages {
            assert_eq!(m.seq, after + 1, "no gap");
            after = m.seq;
            bodies.push(m.body.clone());
        }
        if !page.more {
            break;
        }
    }
    assert_eq!(bodies.len(), 600, "every message once");
    let distinct: std::collections::HashSet<&String> = bodies.iter().collect();
    assert_eq!(distinct.len(), 600, "no message twice");
    terminate(&broker);
    broker.wait().unwrap();
}

/// The broker's resident memory (`VmRSS`) or its peak (`VmHWM`), in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_paused_reader_with_a_tiny_buffer_costs_no_memory_and_loses_nothing() {
    let db = TestDb::create().await;
    let (mut broker, addr, _log) = start_binary(&db.url, "info");
    let ann = signed_in(addr, "ann", true).await;
    ann.group_create("Flood", &[]).await.unwrap();
    // The reader: a socket with a tiny receive buffer that stops reading after subscribing.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut raw = RawConn::from_stream(socket.connect(addr).await.unwrap());
    let login = Request::Login { login: "ann".into(), password: password("ann") };
    assert!(matches!(raw.call(1, &login).await, Incoming::Ok { .. }));
    let subscribe = Request::Subscribe { group: "Flood".into(), gid: None, after: None };
    assert!(matches!(raw.call(2, &subscribe).await, Incoming::Ok { .. }));
    let publishers: Vec<Client> = {
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(signed_in(addr, "ann", false).await);
        }
        clients
    };
    let baseline = memory_kib(broker.id(), "VmRSS:");

    // Messages of 16 KiB pass while the reader is paused: 5,000 (80 MB) by default, the
    // full 20,000 (320 MB, about a minute in a debug build) with JOINT_FLOOD_MESSAGES=20000.
    let total: u64 = std::env::var("JOINT_FLOOD_MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(5000);
    let body = "x".repeat(16 * 1024);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for client in publishers {
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / 4 {
                client.publish("Flood", &body).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let publishing = started.elapsed();
    let peak = memory_kib(broker.id(), "VmHWM:");
    // The reader's queue holds at most 256 messages (4 MiB); allow 32 MiB for the rest.
    let bound = baseline + 4 * 1024 + 32 * 1024;
    assert!(peak < bound, "peak RSS {peak} KiB, baseline {baseline} KiB: more than the queue bound + 32 MiB");
    assert!(publishing < Duration::from_secs(120), "the publishers never waited on the reader: {publishing:?}");

    // The reader resumes: lagged, then every seq exactly once, in order.
    let mut next = 1u64;
    let mut lagged = false;
    while next <= total / 4 * 4 {
        match raw.recv().await.expect("still connected") {
            Incoming::Event(Event::Message(m)) => {
                assert_eq!(m.seq, next, "every seq exactly once, in order");
                next += 1;
            }
            Incoming::Event(Event::Lagged { seq, .. }) => {
                assert_eq!(seq, next - 1);
                lagged = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(lagged, "the paused reader got lagged");
    terminate(&broker);
    broker.wait().unwrap();
}
