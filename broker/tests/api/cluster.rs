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

/// Commits message `seq` of group `gid` from ann straight into the tables: another
/// broker's commit whose note never came.
async fn insert_unannounced(sql: &tokio_postgres::Client, gid: i64, seq: i64) {
    sql.batch_execute(&format!(
        "BEGIN;
         UPDATE groups SET last_seq = {seq} WHERE gid = {gid};
         INSERT INTO messages (gid, seq, sender_id, name, body, at)
           SELECT {gid}, {seq}, id, name, 'unannounced', 0 FROM users WHERE login = 'ann';
         COMMIT;"
    ))
    .await
    .unwrap();
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
    insert_unannounced(&sql, gid, 1).await;
    let started = Instant::now();
    let got = messages(&mut ann_events, 1).await;
    assert_eq!((got[0].seq, got[0].body.as_str()), (1, "unannounced"));
    assert!(started.elapsed() < Duration::from_millis(1500), "came after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_logout_on_one_broker_ends_the_session_on_another_within_a_second() {
    let apps = brokers(3, |_| {}).await;
    let (ann, _ae) = apps[0].client().await;
    let token = ann.register("ann", "Ann", &password("ann")).await.unwrap().token.unwrap();
    let (elsewhere, mut elsewhere_events) = apps[1].client().await;
    elsewhere.auth(&token).await.expect("the same session on another broker");
    let started = Instant::now();
    ann.logout().await.unwrap();
    assert_eq!(
        next_event(&mut elsewhere_events).await,
        Event::SessionEnded { reason: joint_wire::message::EndReason::Logout }
    );
    assert!(started.elapsed() < Duration::from_secs(1), "ended after {:?}", started.elapsed());
    assert_eq!(code(elsewhere.me().await), joint_wire::ErrorCode::Unauthenticated, "signed out there");
    for app in &apps {
        let (fresh, _e) = app.client().await;
        assert_eq!(code(fresh.auth(&token).await), joint_wire::ErrorCode::BadToken, "refused everywhere");
    }
}

#[tokio::test]
async fn a_member_removed_on_one_broker_gets_no_later_message_on_another() {
    let apps = brokers(2, |s| s.cluster_check_ms = 100).await;
    let (ann, _ae) = apps[0].user("ann").await;
    apps[0].user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    let (bob, mut bob_events) = apps[1].login("bob").await;
    bob.subscribe("Team", None, None).await.unwrap();
    for round in 0..5u64 {
        // Once bob has this one, his subscription is live (not catching up from storage).
        ann.publish("Team", "sync").await.unwrap();
        let sync = messages(&mut bob_events, 1).await;
        assert_eq!((sync[0].seq, sync[0].body.as_str()), (21 * round + 1, "sync"));
        // Published right up to the removal, and right after it, without waiting for bob.
        let bodies: Vec<String> = (0..10).map(|n| format!("before {round}-{n}")).collect();
        futures::future::join_all(bodies.iter().map(|body| ann.publish("Team", body))).await;
        ann.member_remove("Team", &strings(&["bob"])).await.unwrap();
        let bodies: Vec<String> = (0..10).map(|n| format!("after {round}-{n}")).collect();
        futures::future::join_all(bodies.iter().map(|body| ann.publish("Team", body))).await;
        let mut seqs = Vec::new();
        loop {
            match next_event(&mut bob_events).await {
                Event::Message(m) => {
                    assert!(m.body.starts_with("before"), "a message after the removal: {m:?}");
                    seqs.push(m.seq);
                }
                Event::GroupRemoved { group, .. } => {
                    assert_eq!(group, "Team");
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        let first = 21 * round + 2;
        assert_eq!(seqs, (first..first + 10).collect::<Vec<u64>>(), "every message before the removal, once");
        assert_eq!(code(bob.publish("Team", "still here?").await), joint_wire::ErrorCode::NotMember);
        assert_no_event(&mut bob_events, 300).await;
        ann.member_add("Team", &strings(&["bob"])).await.unwrap();
        assert!(matches!(next_event(&mut bob_events).await, Event::GroupAdded(_)));
        bob.subscribe("Team", None, Some(21 * (round + 1))).await.unwrap();
    }
}

#[tokio::test]
async fn a_removal_elsewhere_comes_after_every_message_committed_before_it_even_one_whose_note_was_lost() {
    let apps = brokers(2, |s| s.cluster_check_ms = 600_000).await;
    let (ann, _ae) = apps[0].user("ann").await;
    apps[0].user("bob").await;
    let team = ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    let (bob, mut bob_events) = apps[1].login("bob").await;
    bob.subscribe("Team", None, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    insert_unannounced(&apps[0].db.sql().await, team.gid as i64, 1).await;
    ann.member_remove("Team", &strings(&["bob"])).await.unwrap();
    match next_event(&mut bob_events).await {
        Event::Message(m) => assert_eq!((m.seq, m.body.as_str()), (1, "unannounced")),
        other => panic!("expected the message before the removal, got {other:?}"),
    }
    assert!(matches!(next_event(&mut bob_events).await, Event::GroupRemoved { .. }));
    assert_no_event(&mut bob_events, 300).await;
}

#[tokio::test]
async fn deletions_and_read_markers_reach_other_brokers() {
    let apps = brokers(2, |_| {}).await;
    let (ann, _ae) = apps[0].user("ann").await;
    apps[0].user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    let (bob, mut bob_events) = apps[1].login("bob").await;
    let (_ann_there, mut ann_there_events) = apps[1].login("ann").await;
    bob.subscribe("Team", None, None).await.unwrap();
    ann.publish("Team", "oops").await.unwrap();
    assert_eq!(messages(&mut bob_events, 1).await[0].body, "oops");
    ann.message_delete("Team", 1).await.unwrap();
    match next_event(&mut bob_events).await {
        Event::MessageDeleted { group, seq, .. } => assert_eq!((group.as_str(), seq), ("Team", 1)),
        other => panic!("expected message_deleted, got {other:?}"),
    }
    ann.mark_read("Team", 1).await.unwrap();
    loop {
        match next_event(&mut ann_there_events).await {
            Event::Read { group, read_seq, .. } => {
                assert_eq!((group.as_str(), read_seq), ("Team", 1));
                break;
            }
            Event::GroupAdded(_) => {}
            other => panic!("expected read, got {other:?}"),
        }
    }
    ann.group_delete("Team").await.unwrap();
    match next_event(&mut bob_events).await {
        Event::GroupDeleted { group, .. } => assert_eq!(group, "Team"),
        other => panic!("expected group_deleted, got {other:?}"),
    }
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    ann.publish("Team", "a new group of the same name").await.unwrap();
    assert!(matches!(next_event(&mut bob_events).await, Event::GroupAdded(_)));
    assert_no_event(&mut bob_events, 300).await;
}

/// The next `presence` event, skipping any other.
async fn next_presence(events: &mut Events) -> (String, bool) {
    loop {
        if let Event::Presence { login, online } = next_event_or_presence(events).await {
            return (login, online);
        }
    }
}

/// Asserts that no `presence` event arrives within `ms` milliseconds.
async fn assert_no_presence(events: &mut Events, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        if let joint_wire::ClientEvent::Event(Event::Presence { .. }) = event {
            panic!("unexpected {event:?}");
        }
    }
}

#[tokio::test]
async fn presence_is_cluster_wide() {
    let apps = brokers(3, |s| {
        s.cluster_heartbeat_ms = 200;
        s.cluster_stale_ms = 1_000;
    })
    .await;
    let (ann, mut ann_events) = apps[0].user("ann").await;
    apps[0].user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    ann.subscribe("Team", None, None).await.unwrap();
    assert_no_presence(&mut ann_events, 1500).await;

    let (bob_b, bob_b_events) = apps[1].login("bob").await;
    assert_eq!(next_presence(&mut ann_events).await, ("bob".into(), true), "signed in on B, announced on A");
    let members = ann.members("Team", None, None).await.unwrap();
    assert!(members.members.iter().any(|m| m.login == "bob" && m.online), "members on A: {members:?}");
    let (bob_c, bob_c_events) = apps[2].login("bob").await;
    drop((bob_b, bob_b_events));
    assert_no_presence(&mut ann_events, 2500).await;
    drop((bob_c, bob_c_events));
    assert_eq!(next_presence(&mut ann_events).await, ("bob".into(), false), "gone from every broker");
}

#[tokio::test]
async fn the_users_of_a_killed_broker_go_offline_within_the_stale_bound() {
    let apps = brokers(1, |s| {
        s.cluster_heartbeat_ms = 200;
        s.cluster_stale_ms = 1_000;
    })
    .await;
    let (ann, mut ann_events) = apps[0].user("ann").await;
    apps[0].user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    ann.subscribe("Team", None, None).await.unwrap();
    // A broker that says bob signed in on it, and then dies without a word: its rows stay.
    let sql = apps[0].db.sql().await;
    let dead = "0123456789abcdef0123456789abcdef";
    sql.batch_execute(&format!(
        "INSERT INTO brokers (id, seen_at) VALUES ('{dead}', now());
         INSERT INTO online_users (broker_id, user_id) SELECT '{dead}', id FROM users WHERE login = 'bob';
         SELECT pg_notify('joint', 'p {dead} ' || id) FROM users WHERE login = 'bob';"
    ))
    .await
    .unwrap();
    // Its heartbeat, until it is killed.
    let heartbeat = {
        let sql = apps[0].db.sql().await;
        tokio::spawn(async move {
            loop {
                sql.execute("UPDATE brokers SET seen_at = now() WHERE id = $1", &[&dead]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    assert_eq!(next_presence(&mut ann_events).await, ("bob".into(), true));
    heartbeat.abort();
    let killed = Instant::now();
    assert_eq!(next_presence(&mut ann_events).await, ("bob".into(), false));
    let took = killed.elapsed();
    assert!(took < Duration::from_millis(3500), "offline after {took:?}: stale bound, heartbeat and debounce");
    let left: i64 = sql.query_one("SELECT count(*) FROM brokers WHERE id = $1", &[&dead]).await.unwrap().get(0);
    assert_eq!(left, 0, "the dead broker's rows were cleaned");
}

#[tokio::test]
async fn two_brokers_starting_together_apply_each_migration_once() {
    init_logs();
    let db = Arc::new(TestDb::empty().await);
    let (a, b) = tokio::join!(
        spawn_on(db.clone(), Settings::for_tests(&db.url)),
        spawn_on(db.clone(), Settings::for_tests(&db.url))
    );
    let sql = db.sql().await;
    let rows = sql.query("SELECT version FROM schema_migrations ORDER BY version", &[]).await.unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    let expected: Vec<i32> = joint_broker::store::migrate::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, expected, "each migration recorded once");
    // Both serve.
    for app in [&a, &b] {
        app.client().await.0.ping().await.unwrap();
    }
}

#[tokio::test]
async fn what_changed_while_the_listening_connection_was_down_is_applied_when_it_is_back() {
    let apps = brokers(1, |_| {}).await;
    let (ann, _ae) = apps[0].user("ann").await;
    apps[0].user("bob").await;
    apps[0].user("carol").await;
    let team = ann.group_create("Team", &strings(&["bob", "carol"])).await.unwrap();
    let side = ann.group_create("Side", &strings(&["carol"])).await.unwrap();
    let (bob, mut bob_events) = apps[0].login("bob").await;
    bob.subscribe("Team", None, None).await.unwrap();
    let (carol, mut carol_events) = apps[0].login("carol").await;
    carol.subscribe("Team", None, None).await.unwrap();
    carol.subscribe("Side", None, None).await.unwrap();
    // Changes other brokers made whose notes nobody here heard: written straight into the
    // tables, then the listening connection is cut.
    let sql = apps[0].db.sql().await;
    sql.batch_execute(&format!(
        "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE login = 'bob');
         DELETE FROM memberships WHERE gid = {} AND user_id = (SELECT id FROM users WHERE login = 'carol');
         UPDATE groups SET deleted_at = now() WHERE gid = {};",
        team.gid, side.gid
    ))
    .await
    .unwrap();
    assert_eq!(terminate_listeners(&sql, &apps[0].db.name).await, 1);
    assert_eq!(
        next_event(&mut bob_events).await,
        Event::SessionEnded { reason: joint_wire::message::EndReason::Logout }
    );
    assert_eq!(code(bob.me().await), joint_wire::ErrorCode::Unauthenticated, "signed out here too");
    let mut told = vec![next_event(&mut carol_events).await, next_event(&mut carol_events).await];
    told.sort_by_key(|event| format!("{event:?}"));
    assert_eq!(
        told,
        vec![
            Event::GroupDeleted { group: "Side".into(), gid: side.gid, last_seq: 0 },
            Event::GroupRemoved {
                group: "Team".into(),
                gid: team.gid,
                reason: joint_wire::message::RemovedReason::Removed
            },
        ]
    );
    // Her subscriptions are gone: a later message of Team does not reach her.
    insert_unannounced(&sql, team.gid as i64, 1).await;
    assert_no_event(&mut carol_events, 1500).await;
}

#[tokio::test]
async fn a_broker_forgotten_for_a_late_heartbeat_announces_its_users_again() {
    init_logs();
    let db = Arc::new(TestDb::create().await);
    let mut settings = Settings::for_tests(&db.url);
    settings.cluster_heartbeat_ms = 200;
    let watcher = spawn_on(db.clone(), settings.clone()).await;
    // bob's broker beats every 4 s, so it stays forgotten well past the debounce.
    settings.cluster_heartbeat_ms = 4_000;
    let late = spawn_on(db.clone(), settings).await;
    let (ann, mut ann_events) = watcher.user("ann").await;
    watcher.user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    ann.subscribe("Team", None, None).await.unwrap();
    let (_bob, _be) = late.login("bob").await;
    assert_eq!(next_presence(&mut ann_events).await, ("bob".into(), true));
    // bob's broker looks dead (its heartbeat is an hour late): the watcher's next heartbeat
    // forgets it and announces bob offline.
    let sql = db.sql().await;
    sql.batch_execute(
        "UPDATE brokers SET seen_at = now() - interval '1 hour'
         WHERE id IN (SELECT broker_id FROM online_users WHERE user_id = (SELECT id FROM users WHERE login = 'bob'))",
    )
    .await
    .unwrap();
    assert_eq!(next_presence(&mut ann_events).await, ("bob".into(), false));
    // Its next heartbeat finds its row gone and tells the others about its users again.
    let event = tokio::time::timeout(Duration::from_secs(6), next_presence(&mut ann_events)).await;
    assert_eq!(event.expect("announced again within a heartbeat"), ("bob".into(), true));
}
