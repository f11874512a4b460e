//! The wire client library against the real broker: failover over an address list,
//! automatic pings, and reconnection that signs in again with the session token and
//! resumes subscriptions.

use crate::helpers::*;
use joint_wire::message::{EndReason, Event};
use joint_wire::{Client, ClientConfig, ClientError, ClientEvent, ErrorCode};
use std::time::Duration;

/// An address nobody listens on.
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

async fn next_client_event(events: &mut joint_wire::Events) -> ClientEvent {
    tokio::time::timeout(WAIT, events.next()).await.expect("a client event in time").expect("stream open")
}

#[tokio::test]
async fn connect_tries_addresses_in_order() {
    let app = spawn_app().await;
    let config = ClientConfig::new(vec![dead_address(), app.addr.to_string()]);
    let (client, _events) = Client::connect(config).await.unwrap();
    assert_eq!(client.broker(), app.addr.to_string());
    let info = client.server_info().unwrap();
    assert_eq!(info.version, 1);
    client.ping().await.unwrap();

    let nowhere = ClientConfig::new(vec![dead_address(), dead_address()]);
    assert!(matches!(Client::connect(nowhere).await, Err(ClientError::Connect(_))));
}

#[tokio::test]
async fn automatic_pings_keep_an_idle_client_connected() {
    let app = spawn_app_with(|s| {
        s.idle_authenticated_ms = 600;
        s.ping_interval_ms = 300;
    })
    .await;
    let (client, mut events) = app.user("ann").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(events.try_next().is_none(), "no disconnect, no idle_timeout");
    client.me().await.expect("still connected and signed in");
}

#[tokio::test]
async fn reconnects_and_signs_in_again_after_a_broker_restart() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (client, mut events) = {
        let config = ClientConfig::new(vec![addr.to_string()]);
        Client::connect(config).await.unwrap()
    };
    client.register("ann", "Ann", &password("ann")).await.unwrap();
    let mut settings = app.settings.clone();
    settings.listen = addr.to_string();
    let db = app.db.clone();
    let mut app = app;
    app.stop().await;
    match next_client_event(&mut events).await {
        ClientEvent::ConnectionError(err) => assert_eq!(err.code, ErrorCode::ShuttingDown),
        other => panic!("{other:?}"),
    }
    assert_eq!(next_client_event(&mut events).await, ClientEvent::Disconnected);
    assert!(matches!(client.me().await, Err(ClientError::Disconnected)), "no silent queueing while down");

    let _restarted = spawn_on(db, settings).await;
    match next_client_event(&mut events).await {
        ClientEvent::Reconnected { broker, authenticated, session_lost } => {
            assert_eq!(broker, addr.to_string());
            assert!(authenticated);
            assert_eq!(session_lost, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.me().await.unwrap().login, "ann");
}

#[tokio::test]
async fn a_dead_token_is_reported_on_reconnect() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (client, mut events) = Client::connect(ClientConfig::new(vec![addr.to_string()])).await.unwrap();
    client.register("ann", "Ann", &password("ann")).await.unwrap();
    // The session dies while the client is away.
    app.db.sql().await.execute("DELETE FROM sessions", &[]).await.unwrap();
    let mut settings = app.settings.clone();
    settings.listen = addr.to_string();
    let db = app.db.clone();
    let mut app = app;
    app.stop().await;
    let _restarted = spawn_on(db, settings).await;
    loop {
        match next_client_event(&mut events).await {
            ClientEvent::Reconnected { authenticated, session_lost, .. } => {
                assert!(!authenticated);
                assert_eq!(session_lost.map(|e| e.code), Some(ErrorCode::BadToken));
                break;
            }
            ClientEvent::ConnectionError(_) | ClientEvent::Disconnected => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(client.token(), None);
    assert_eq!(code(client.me().await), ErrorCode::Unauthenticated);
}

#[tokio::test]
async fn session_ended_forgets_the_token() {
    let app = spawn_app().await;
    let (client, mut events) = app.user("ann").await;
    assert!(client.token().is_some());
    let (other, _e) = app.client().await;
    other.auth(&client.token().unwrap()).await.unwrap();
    other.logout().await.unwrap();
    assert_eq!(next_event(&mut events).await, Event::SessionEnded { reason: EndReason::Logout });
    assert_eq!(client.token(), None, "a dead token is not used to reconnect");
}

#[tokio::test]
async fn subscriptions_resume_after_a_reconnect_without_gap_or_duplicate() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Live", &[]).await.unwrap();
    let (reader, mut events) = Client::connect(ClientConfig::new(vec![addr.to_string()])).await.unwrap();
    reader.login("ann", &password("ann")).await.unwrap();
    reader.subscribe("Live", None, None).await.unwrap();
    for n in 1..=30 {
        ann.publish("Live", &format!("m{n}")).await.unwrap();
    }
    let mut seqs = Vec::new();
    let next_message = async |events: &mut joint_wire::Events| loop {
        match next_client_event(events).await {
            ClientEvent::Event(Event::Message(m)) => return Some(m.seq),
            ClientEvent::Event(Event::Lagged { .. } | Event::Presence { .. }) => {}
            ClientEvent::ConnectionError(_) | ClientEvent::Disconnected | ClientEvent::Reconnected { .. } => {
                return None
            }
            other => panic!("{other:?}"),
        }
    };
    // Read only part of them, so the rest are queued or in flight when the broker stops.
    while seqs.len() < 10 {
        seqs.extend(next_message(&mut events).await);
    }
    let mut settings = app.settings.clone();
    settings.listen = addr.to_string();
    let db = app.db.clone();
    let mut app = app;
    app.stop().await;
    drop(ann);
    // Messages published while the reader is away reach it from storage once it is back.
    let restarted = spawn_on(db, settings).await;
    let (ann, _e) = restarted.login("ann").await;
    for n in 31..=60 {
        ann.publish("Live", &format!("m{n}")).await.unwrap();
    }
    let mut reconnected = false;
    while seqs.last() != Some(&60) {
        match next_client_event(&mut events).await {
            ClientEvent::Event(Event::Message(m)) => seqs.push(m.seq),
            ClientEvent::Reconnected { authenticated, .. } => {
                assert!(authenticated);
                reconnected = true;
            }
            ClientEvent::ConnectionError(_) | ClientEvent::Disconnected | ClientEvent::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(reconnected);
    assert_eq!(seqs, (1..=60).collect::<Vec<u64>>(), "every message once, in order, across the reconnect");
    // And live delivery goes on.
    ann.publish("Live", "m61").await.unwrap();
    assert_eq!(next_message(&mut events).await, Some(61));
}

#[tokio::test]
async fn a_subscription_that_cannot_resume_is_reported() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (ann, _e) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &["bob".to_string()]).await.unwrap();
    let (reader, mut events) = Client::connect(ClientConfig::new(vec![addr.to_string()])).await.unwrap();
    reader.login("bob", &password("bob")).await.unwrap();
    let team = reader.subscribe("Team", None, None).await.unwrap();
    let mut settings = app.settings.clone();
    settings.listen = addr.to_string();
    let db = app.db.clone();
    let mut app = app;
    app.stop().await;
    drop(ann);
    // Deleted and re-created while bob was away (on a broker bob cannot reach): the old
    // subscription must not silently follow the new group.
    let mut elsewhere = app.settings.clone();
    elsewhere.listen = "127.0.0.1:0".into();
    let mut meanwhile = spawn_on(db.clone(), elsewhere).await;
    let (ann, _e) = meanwhile.login("ann").await;
    ann.group_delete("Team").await.unwrap();
    ann.group_create("Team", &["bob".to_string()]).await.unwrap();
    drop(ann);
    meanwhile.stop().await;
    let restarted = spawn_on(db, settings).await;
    let (ann, _e) = restarted.login("ann").await;
    loop {
        match next_client_event(&mut events).await {
            ClientEvent::SubscriptionLost { group, gid, error } => {
                assert_eq!((group.as_str(), gid, error.code), ("Team", team.gid, ErrorCode::NoSuchGroup));
                break;
            }
            ClientEvent::ConnectionError(_)
            | ClientEvent::Disconnected
            | ClientEvent::Reconnected { .. }
            | ClientEvent::Event(_) => {}
        }
    }
    ann.publish("Team", "new group").await.unwrap();
    while let Some(event) = events.try_next() {
        assert!(!matches!(event, ClientEvent::Event(Event::Message(_))), "{event:?}");
    }
}

#[tokio::test]
async fn a_refusal_at_connect_keeps_its_code() {
    let app = spawn_app_with(|s| s.max_connections = 1).await;
    let (_first, _events) = app.client().await;
    let config = ClientConfig::new(vec![dead_address(), app.addr.to_string()]);
    match Client::connect(config).await {
        Err(ClientError::Broker(body)) => assert_eq!(body.code, ErrorCode::TooManyConnections),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("connected past the cap"),
    }
}

#[tokio::test]
async fn with_an_event_capacity_a_slow_application_leaves_its_backlog_with_the_broker() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Busy", &[]).await.unwrap();
    let mut config = ClientConfig::new(vec![app.addr.to_string()]);
    config.reconnect = false;
    config.event_capacity = Some(16);
    let (reader, mut events) = Client::connect(config).await.unwrap();
    reader.login("ann", &password("ann")).await.unwrap();
    reader.subscribe("Busy", None, None).await.unwrap();
    // 32 MiB of messages while the application reads nothing: far more than 16 events and
    // the sockets' buffers hold, so the client must stop reading and the broker must lag.
    let body = "x".repeat(32 * 1024);
    for _ in 0..1000 {
        ann.publish("Busy", &body).await.unwrap();
    }
    let (mut next, mut lagged) = (1u64, false);
    while next <= 1000 {
        match next_client_event(&mut events).await {
            ClientEvent::Event(Event::Message(m)) => {
                assert_eq!(m.seq, next, "every message once, in order");
                next += 1;
            }
            ClientEvent::Event(Event::Lagged { .. }) => lagged = true,
            other => panic!("{other:?}"),
        }
    }
    assert!(lagged, "the backlog stayed with the broker, which fed the subscription from storage");
}
