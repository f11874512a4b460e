//! Clients with several broker addresses on one PostgreSQL: when their broker dies (SIGKILL)
//! or shuts down, they move to the next address, sign in again and resume their
//! subscriptions with no gap and no duplicate.

use crate::helpers::*;
use joint_wire::message::Event;
use joint_wire::{Client, ClientConfig, ClientEvent, Events};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A client that reconnects, over `brokers` in this order, signed in as `login`.
async fn on(brokers: &[SocketAddr], login: &str) -> (Client, Events) {
    let config = ClientConfig::new(brokers.iter().map(ToString::to_string).collect());
    let (client, events) = Client::connect(config).await.expect("a broker answers");
    client.login(login, &password(login)).await.expect("login");
    (client, events)
}

/// Reads client events until the message with seq `last`; returns every message seq seen
/// and the brokers of the reconnections, in order.
async fn read_until(events: &mut Events, last: u64) -> (Vec<u64>, Vec<String>) {
    let (mut seqs, mut moves) = (Vec::new(), Vec::new());
    while seqs.last() != Some(&last) {
        let event = tokio::time::timeout(WAIT, events.next()).await.expect("an event in time").expect("open");
        match event {
            ClientEvent::Event(Event::Message(m)) => seqs.push(m.seq),
            ClientEvent::Reconnected { broker, authenticated, session_lost } => {
                assert!(authenticated, "signed in again on {broker}: {session_lost:?}");
                moves.push(broker);
            }
            ClientEvent::Event(_) | ClientEvent::ConnectionError(_) | ClientEvent::Disconnected => {}
            other => panic!("{other:?}"),
        }
    }
    (seqs, moves)
}

/// Asserts that no message arrives within `ms` milliseconds.
async fn assert_no_message(events: &mut Events, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        assert!(!matches!(event, ClientEvent::Event(Event::Message(_))), "a duplicate: {event:?}");
    }
}

async fn publish(client: &Client, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        assert_eq!(client.publish("Live", &format!("m{n}")).await.unwrap().seq, n);
    }
}

#[tokio::test]
async fn a_client_of_a_killed_broker_moves_to_the_next_and_gets_every_message_once() {
    let db = Arc::new(TestDb::create().await);
    let (mut a, a_addr, _log) = start_binary(&db.url, "info");
    let b = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    let (ann, _e) = b.user("ann").await;
    ann.group_create("Live", &[]).await.unwrap();
    let (reader, mut events) = on(&[a_addr, b.addr], "ann").await;
    assert_eq!(reader.broker(), a_addr.to_string(), "the first address first");
    reader.subscribe("Live", None, None).await.unwrap();

    // Published on A and partly read; the rest is in flight when A is killed.
    let (on_a, _ea) = on(&[a_addr], "ann").await;
    publish(&on_a, 1..=10).await;
    let (mut seqs, moves) = read_until(&mut events, 4).await;
    assert!(moves.is_empty());
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    // Meanwhile, through B.
    publish(&ann, 11..=30).await;
    let (rest, moves) = read_until(&mut events, 30).await;
    seqs.extend(rest);
    assert_eq!(moves, vec![b.addr.to_string()], "moved to B, once");
    assert_eq!(reader.broker(), b.addr.to_string());
    assert_eq!(seqs, (1..=30).collect::<Vec<u64>>(), "every message once, in order, across the move");
    // Live delivery goes on from B, and nothing comes twice.
    publish(&ann, 31..=31).await;
    assert_eq!(read_until(&mut events, 31).await.0, vec![31]);
    assert_no_message(&mut events, 300).await;
}

#[tokio::test]
async fn a_graceful_shutdown_sends_every_client_to_the_next_broker_promptly() {
    let db = Arc::new(TestDb::create().await);
    let mut a = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    let b = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    let (ann, _e) = b.user("ann").await;
    ann.group_create("Live", &[]).await.unwrap();
    let mut readers = Vec::new();
    for _ in 0..20 {
        let (reader, events) = on(&[a.addr, b.addr], "ann").await;
        reader.subscribe("Live", None, None).await.unwrap();
        readers.push((reader, events));
    }
    let stopping = Instant::now();
    a.stop().await;
    // Every reader waits for its move at the same time, so each arrival is timed when it
    // happens, not when the test gets round to reading it.
    let arrivals: Vec<Duration> = futures::future::join_all(readers.iter_mut().map(|(reader, events)| async move {
        loop {
            let event = tokio::time::timeout(WAIT, events.next()).await.expect("moved in time").expect("open");
            if let ClientEvent::Reconnected { broker, authenticated, .. } = event {
                assert_eq!((broker, authenticated), (b.addr.to_string(), true));
                assert_eq!(reader.broker(), b.addr.to_string());
                return stopping.elapsed();
            }
        }
    }))
    .await;
    let (first, last) = (arrivals.iter().min().unwrap(), arrivals.iter().max().unwrap());
    // `shutting_down` comes at once to idle connections; then at most the first jittered
    // pause (250 ms) and a handshake: well below the 5 s a backoff round can reach.
    assert!(*last < Duration::from_secs(3), "every client moved within 3 s: {arrivals:?}");
    assert!(*last - *first >= Duration::from_millis(25), "they did not arrive in lock-step: {arrivals:?}");
    publish(&ann, 1..=1).await;
    for (_, events) in &mut readers {
        assert_eq!(read_until(events, 1).await.0, vec![1], "the subscription resumed on B");
    }
}

/// A doorway to a broker that can hang: once hung, it cuts every connection through it
/// and accepts new ones without ever answering, as a stuck broker (or a proxy in front of
/// a dead one) does. It counts the connections it accepted.
struct Doorway {
    addr: SocketAddr,
    hung: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    cut: CancellationToken,
}

impl Doorway {
    async fn to(broker: SocketAddr) -> Doorway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (hung, accepted, cut) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), CancellationToken::new());
        let door = Doorway { addr, hung: hung.clone(), accepted: accepted.clone(), cut: cut.clone() };
        tokio::spawn(async move {
            let mut parked = Vec::new();
            while let Ok((mut client, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                if hung.load(Ordering::SeqCst) {
                    parked.push(client);
                    continue;
                }
                let cut = cut.clone();
                tokio::spawn(async move {
                    let mut upstream = TcpStream::connect(broker).await.unwrap();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                        _ = cut.cancelled() => {}
                    }
                });
            }
        });
        door
    }

    fn hang(&self) {
        self.hung.store(true, Ordering::SeqCst);
        self.cut.cancel();
    }
}

#[tokio::test]
async fn after_a_drop_the_next_address_is_tried_before_the_one_left() {
    let db = Arc::new(TestDb::create().await);
    let a = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    let b = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    a.user("ann").await;
    let door = Doorway::to(a.addr).await;
    let mut config = ClientConfig::new(vec![door.addr.to_string(), b.addr.to_string()]);
    config.connect_timeout = Duration::from_secs(5);
    let (client, mut events) = Client::connect(config).await.unwrap();
    client.login("ann", &password("ann")).await.unwrap();
    assert_eq!(door.accepted.load(Ordering::SeqCst), 1);

    let dropped = Instant::now();
    door.hang();
    let broker = loop {
        let event = tokio::time::timeout(WAIT, events.next()).await.expect("moved in time").expect("open");
        if let ClientEvent::Reconnected { broker, authenticated, .. } = event {
            assert!(authenticated);
            break broker;
        }
    };
    assert_eq!(broker, b.addr.to_string());
    // Trying the hung address first would have cost its connect timeout (5 s).
    assert_eq!(door.accepted.load(Ordering::SeqCst), 1, "the address just left was not tried first");
    assert!(dropped.elapsed() < Duration::from_secs(4), "moved without waiting on it: {:?}", dropped.elapsed());
    assert_eq!(client.me().await.unwrap().login, "ann");
}
