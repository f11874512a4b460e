//! Two brokers on one PostgreSQL behind one bridge: when the broker the bridge's
//! connections are on stops, a live stream goes on from the next broker with no gap and no
//! duplicate, and the token's shared connection serves requests from there.

use crate::helpers::*;
use joint_testkit::{Settings as BrokerSettings, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A broker on `db` that trusts the bridge on 127.0.0.1 as a proxy.
async fn broker_on(db: &Arc<TestDb>) -> TestApp {
    let mut settings = BrokerSettings::for_tests(&db.url);
    settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    spawn_on(db.clone(), settings).await
}

/// Publishes with an Idempotency-Key, again with the same key while the bridge answers 503
/// (its connection is moving to the next broker): stored once whatever happened.
async fn publish_once(s: &Stack, token: &str, body: &str) -> u64 {
    let started = Instant::now();
    loop {
        let req = s.req(Method::POST, "/v1/groups/tea/messages", Some(token)).header("Idempotency-Key", body);
        let (status, json) = send(req.body(body.to_owned())).await;
        match status {
            StatusCode::CREATED => return json["seq"].as_u64().unwrap(),
            StatusCode::SERVICE_UNAVAILABLE if started.elapsed() < WAIT => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other}: {json}"),
        }
    }
}

#[tokio::test]
async fn a_stream_and_the_shared_connection_move_to_the_next_broker_when_theirs_stops() {
    let db = Arc::new(TestDb::create().await);
    let a = broker_on(&db).await;
    let b = broker_on(&db).await;
    let brokers = vec![a.addr.to_string(), b.addr.to_string()];
    let bridge = TestBridge::start(a.addr, |s| s.brokers = brokers).await;
    let mut s = Stack { app: a, bridge };
    let ann = s.register("ann").await;
    let gid = s.group(&ann, "tea", &[]).await;
    let mut stream = s.stream(&ann, "tea", None).await;
    for n in 1..=3 {
        assert_eq!(publish_once(&s, &ann, &format!("m{n}")).await, n);
        assert_eq!(stream.message().await["seq"], n);
    }

    s.app.stop().await; // A shuts down; the bridge's connections move to B.
    for n in 4..=6 {
        assert_eq!(publish_once(&s, &ann, &format!("m{n}")).await, n, "the same token, no new sign-in");
    }
    for n in 4..=6 {
        let event = stream.next().await.expect("the stream goes on");
        assert_eq!((event.event.as_str(), event.id.clone()), ("message", format!("{gid}:{n}")));
        assert_eq!(event.json()["body"], json!(format!("m{n}")));
    }
    stream.assert_quiet(300).await;
    // Served by B alone now.
    let (status, json) = send(s.req(Method::GET, "/v1/groups/tea/messages?after=0", Some(&ann))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["messages"].as_array().map(Vec::len), Some(6), "each message stored once: {json}");
    drop(b);
}
