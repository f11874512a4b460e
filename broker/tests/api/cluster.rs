//! Several brokers over one PostgreSQL: messages, events and presence reach every broker's
//! clients as they would reach one broker's.

use crate::helpers::*;
use joint_wire::message::{Event, Message};
use joint_wire::Events;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `n` brokers on one fresh database, each with the given settings edit.
async fn brokers(n: usize, edit: impl Fn(&mut Settings)) -> Vec<TestApp> {
    init_logs();
    let db = Arc::new(TestDb::create().await);
    let mut apps = Vec::new();
    for _ in 0..n {
        let mut settings = Settings::for_tests(&db.url);
        edit(&mut settings);
        apps.push(spawn_on(db.clone(), settings).await);
    }
    apps
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Reads `message` events until `count` messages arrived, skipping other events.
async fn messages(events: &mut Events, count: usize) -> Vec<Message> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        if let Event::Message(message) = next_event(events).await {
            got.push(message);
        }
    }
    got
}

/// Asserts that each group's messages came as seqs 1..=n in order, nothing twice.
fn assert_gapless(messages: &[Message], per_group: usize) -> BTreeMap<String, Vec<String>> {
    let mut by_group: BTreeMap<String, Vec<&Message>> = BTreeMap::new();
    for m in messages {
        by_group.entry(m.group.clone()).or_default().push(m);
    }
    by_group
        .into_iter()
        .map(|(group, ms)| {
            let seqs: Vec<u64> = ms.iter().map(|m| m.seq).collect();
            assert_eq!(seqs, (1..=per_group as u64).collect::<Vec<_>>(), "{group}: gapless, in order, once");
            (group, ms.iter().map(|m| m.body.clone()).collect())
        })
        .collect()
}

#[tokio::test]
async fn three_brokers_deliver_every_message_in_one_gapless_order_to_every_subscriber() {
    // No periodic check within the test: the notes alone must deliver.
    let apps = brokers(3, |s| s.cluster_check_ms = 600_000).await;
    let (admin, _e) = apps[0].user("ann").await;
    for login in ["pub0", "pub1", "pub2", "sub0", "sub1", "sub2"] {
        apps[0].user(login).await;
    }
    let everyone = strings(&["pub0", "pub1", "pub2", "sub0", "sub1", "sub2"]);
    admin.group_create("Red", &everyone).await.unwrap();
    admin.group_create("Blue", &everyone).await.unwrap();
    let mut subscribers = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let (client, events) = app.login(&format!("sub{i}")).await;
        client.subscribe("Red", None, None).await.unwrap();
        client.subscribe("Blue", None, None).await.unwrap();
        subscribers.push((client, events));
    }
    const EACH: usize = 60;
    let mut publishers = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let (client, _events) = app.login(&format!("pub{i}")).await;
        publishers.push(tokio::spawn(async move {
            // Pipelined: many publishes in flight make batches.
            let sends = (0..EACH).flat_map(|n| {
                let client = &client;
                ["Red", "Blue"].map(move |group| async move {
                    client.publish_with_cid(group, &format!("p{i}-{group}-{n}"), &format!("c{n}")).await.unwrap()
                })
            });
            futures::future::join_all(sends).await;
            drop(_events);
        }));
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let per_group = 3 * EACH;
    let mut orders = Vec::new();
    for (_client, events) in subscribers.iter_mut() {
        let got = messages(events, 2 * per_group).await;
        let order = assert_gapless(&got, per_group);
        for bodies in order.values() {
            assert_eq!(bodies.iter().collect::<HashSet<_>>().len(), per_group, "every publish once");
        }
        orders.push(order);
        assert_no_event(events, 300).await;
    }
    assert_eq!(orders[0], orders[1], "brokers 0 and 1 agree on the order");
    assert_eq!(orders[0], orders[2], "brokers 0 and 2 agree on the order");
}

/// Ends every `LISTEN` connection of the database's brokers; returns how many.
async fn terminate_listeners(db: &tokio_postgres::Client, name: &str) -> i64 {
    let row = db
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND application_name = 'joint-broker-listen'",
            &[&name],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn killing_the_listening_connection_mid_load_loses_and_repeats_nothing() {
    // No periodic check within the test: what the notes lost while the connection was
    // down must come from the check every reconnect makes.
    let apps = brokers(2, |s| s.cluster_check_ms = 600_000).await;
    let (ann, _e) = apps[0].user("ann").await;
    apps[0].user("bob").await;
    ann.group_create("Load", &strings(&["bob"])).await.unwrap();
    let (bob, mut bob_events) = apps[1].login("bob").await;
    bob.subscribe("Load", None, None).await.unwrap();
    let sql = apps[0].db.sql().await;
    let name = apps[0].db.name.clone();
    const TOTAL: usize = 600;
    let publisher = tokio::spawn(async move {
        for chunk in 0..TOTAL / 20 {
            let sends = (0..20).map(|n| {
                let n = chunk * 20 + n;
                let ann = &ann;
                async move { ann.publish_with_cid("Load", &format!("m{n}"), &format!("c{n}")).await.unwrap() }
            });
            futures::future::join_all(sends).await;
        }
        Instant::now()
    });
    let mut killed = 0;
    while !publisher.is_finished() {
        killed += terminate_listeners(&sql, &name).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let published = publisher.await.unwrap();
    assert!(killed >= 2, "the listening connections were killed during the load ({killed})");
    let got = messages(&mut bob_events, TOTAL).await;
    let waited = published.elapsed();
    let order = assert_gapless(&got, TOTAL);
    assert_eq!(order["Load"].iter().collect::<HashSet<_>>().len(), TOTAL);
    assert!(waited < Duration::from_secs(3), "the last message came {waited:?} after the last ack");
    assert_no_event(&mut bob_events, 500).await;
}

#[tokio::test]
async fn a_message_whose_note_was_lost_arrives_within_the_periodic_check() {
    let apps = brokers(1, |s| s.cluster_check_ms = 200).await;
    let (ann, mut ann_events) = apps[0].user("ann").await;
    let team = ann.group_create("Team", &[]).await.unwrap();
    ann.subscribe("Team", None, None).await.unwrap();
    // Another broker's commit whose note never came: written straight into the tables.
    let sql = apps[0].db.sql().await;
    let gid = team.gid as i64;
    sql.batch_execute(&format!(
        "BEGIN;
         UPDATE groups SET last_seq = 1 WHERE gid = {gid};
         INSERT INTO messages (gid, seq, sender_id, name, body, at)
           SELECT {gid}, 1, id, name, 'unannounced', 0 FROM users WHERE login = 'ann';
         COMMIT;"
    ))
    .await
    .unwrap();
    let started = Instant::now();
    let got = messages(&mut ann_events, 1).await;
    assert_eq!((got[0].seq, got[0].body.as_str()), (1, "unannounced"));
    assert!(started.elapsed() < Duration::from_millis(1500), "came after {:?}", started.elapsed());
}
