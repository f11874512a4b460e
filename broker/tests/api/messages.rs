//! publish, history and mark_read: committed acks, one gapless order per group, a cid
//! stored once, group commit, history pages and read markers.

use crate::helpers::*;
use joint_wire::message::{Event, Incoming, PublishOk, Request};
use joint_wire::{ClientError, ErrorCode};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn published_messages_are_acked_with_gapless_seqs_and_read_back_exactly() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    app.user("bob").await;
    let team = ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    let first = ann.publish("Team", "hello").await.unwrap();
    let second = ann.publish("Team", "line one\nline two\t\u{1}").await.unwrap();
    let (bob, _e2) = app.login("bob").await;
    let third = bob.publish("Team", "Привет 👋").await.unwrap();
    assert_eq!((first.seq, second.seq, third.seq), (1, 2, 3));
    ann.set_name("Ann Renamed").await.unwrap();

    let page = bob.history("Team", None, None, None, None).await.unwrap();
    assert_eq!(page.last_seq, 3);
    assert!(!page.more);
    let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let m = &page.messages[1];
    assert_eq!((m.group.as_str(), m.gid, m.from.as_str()), ("Team", team.gid, "ann"));
    assert_eq!(m.body, "line one\nline two\t\u{1}", "bodies come back byte-exact");
    assert_eq!(m.name, "ANN", "the name at publish time");
    assert_eq!(m.at, second.at, "at is stored once: ack and history agree");
    assert_eq!(page.messages[2].body, "Привет 👋");
    let groups = ann.groups().await.unwrap();
    assert_eq!(groups.iter().find(|g| g.name == "Team").unwrap().last_seq, 3);
}

#[tokio::test]
async fn a_retry_with_the_same_cid_is_stored_once() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    let first = ann.publish_with_cid("Team", "original", "cid-1").await.unwrap();
    let again = ann.publish_with_cid("Team", "a different body", "cid-1").await.unwrap();
    assert_eq!(again, first, "the first seq and at");
    let next = ann.publish_with_cid("Team", "next", "cid-2").await.unwrap();
    assert_eq!(next.seq, 2, "a duplicate consumes no seq");

    // Concurrent duplicates all get the first seq.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (client, events) = app.login("ann").await;
        tasks.push(tokio::spawn(async move {
            let ack = client.publish_with_cid("Team", "burst", "cid-3").await;
            drop(events);
            ack.unwrap()
        }));
    }
    let mut acks = HashSet::new();
    for task in tasks {
        acks.insert(task.await.unwrap());
    }
    assert_eq!(acks.len(), 1, "one seq for all of them: {acks:?}");
    let page = ann.history("Team", None, None, None, None).await.unwrap();
    assert_eq!(page.messages.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), vec!["original", "next", "burst"]);
    // The same cid from another sender is another message.
    app.user("bob").await;
    ann.member_add("Team", &strings(&["bob"])).await.unwrap();
    let (bob, _e) = app.login("bob").await;
    assert_eq!(bob.publish_with_cid("Team", "bob's", "cid-1").await.unwrap().seq, 4);
}

/// A group's partition's (sequential scans, index scans) as counted by PostgreSQL. Backends
/// report their counts when idle, at most once a second (and may put it off for ten), so the
/// caller polls.
async fn scans_of(db: &tokio_postgres::Client, partition: &str) -> (i64, i64) {
    let sql =
        "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relid = $1::text::regclass";
    let row = db.query_one(sql, &[&partition]).await.unwrap();
    (row.get(0), row.get(1))
}

/// PostgreSQL caches each connection's plans of the publish statements. One made while the
/// group's partition held a few rows would read it by a sequential scan, which is fine then,
/// and stays cached while the partition grows: the duplicate check then scans the whole
/// partition for every cid of every batch (0.5 s a batch at 100,000 messages, until
/// autovacuum happens to analyze the table). The check must probe the index whatever the
/// plan was made from.
#[tokio::test]
async fn the_duplicate_check_probes_the_index_with_plans_made_while_the_table_was_small() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Grows", &[]).await.unwrap();
    ann.publish_with_cid("Grows", "first", "c-0").await.unwrap();
    let db = app.db.sql().await;
    let row = db.query_one("SELECT m.tableoid::regclass::text, m.gid, m.sender_id FROM messages m", &[]).await.unwrap();
    let (partition, gid, sender): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
    // That read may have scanned the partition: its count is reported now, not later.
    db.batch_execute("SELECT pg_stat_force_next_flush()").await.unwrap();
    // Autovacuum's ANALYZE would make every connection plan again, hiding a bad plan. This
    // statement itself makes them plan again: before the warm-up, as it must be.
    db.batch_execute(&format!("ALTER TABLE {partition} SET (autovacuum_enabled = off)")).await.unwrap();
    // Enough publishes, one at a time, for every pooled connection to settle on a cached
    // plan (PostgreSQL chooses after five executions) while the partition is small.
    for n in 1..=12 * 16 {
        ann.publish_with_cid("Grows", "warm", &format!("c-{n}")).await.unwrap();
    }
    let grown = "INSERT INTO messages (gid, seq, sender_id, cid, name, body, at)
                 SELECT $1, g.last_seq + i, $2, 'bulk-' || i, 'Ann', 'x', 0
                 FROM groups g, generate_series(1, 100000) AS i WHERE g.gid = $1";
    db.execute(grown, &[&gid, &sender]).await.unwrap();
    db.execute("UPDATE groups SET last_seq = last_seq + 100000 WHERE gid = $1", &[&gid]).await.unwrap();
    let before = scans_of(&db, &partition).await;
    // 50 publishes pipelined on one connection: a few batches, 50 cids to check.
    let batch: i64 = 50;
    let late = (0..batch)
        .map(|n| Request::Publish { group: "Grows".into(), body: format!("late {n}"), cid: Some(format!("late-{n}")) })
        .collect();
    send_pipelined(signed_in(app.addr, "ann").await, late).await;
    // Wait for the broker's backends to report their counts: a sequential scan, or at least
    // one index probe per cid.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        let now = scans_of(&db, &partition).await;
        if now.0 > before.0 || now.1 - before.1 >= batch || tokio::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(after.0, before.0, "the grown partition was scanned whole: {before:?} -> {after:?}");
    assert!(after.1 - before.1 >= batch, "no index probes reported: {before:?} -> {after:?}");
}

/// A publish transaction that fails at its first round trip (here a lock wait past the lock
/// timeout: the statements pipelined after it fail only because it did) answers
/// `unavailable`, the cause, not `internal`; and its connection is closed rather than handed
/// back to the pool inside the failed transaction: with two pooled connections, every later
/// request works.
#[tokio::test]
async fn a_publish_failing_at_its_first_round_trip_is_unavailable_and_its_connection_is_closed() {
    let app = spawn_app_with(|settings| {
        settings.db_pool_size = 2;
        settings.db_timeout_ms = 1_000;
    })
    .await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    assert_eq!(ann.publish("Team", "before").await.unwrap().seq, 1);
    let db = app.db.sql().await;
    // The group's row locked elsewhere past the lock timeout: the batch fails at its first
    // round trip, before any COMMIT was sent.
    let mut holder = app.db.sql().await;
    let holding = holder.transaction().await.unwrap();
    holding.execute("SELECT 1 FROM groups WHERE name = 'Team' FOR UPDATE", &[]).await.unwrap();
    let blocked = tokio::spawn({
        let ann = ann.clone();
        async move { ann.publish("Team", "blocked").await }
    });
    // This broker's connection that waits for the lock (other tests' brokers share the
    // server, each with a database of its own).
    let waiting = "SELECT pid FROM pg_stat_activity
                   WHERE datname = current_database() AND application_name = 'joint-broker'
                     AND wait_event_type = 'Lock'";
    let pid: i32 = loop {
        let rows = db.query(waiting, &[]).await.unwrap();
        assert!(rows.len() <= 1, "only the publish waits for the group's row");
        if let Some(row) = rows.first() {
            break row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(code(blocked.await.unwrap()), ErrorCode::Unavailable);
    holding.rollback().await.unwrap();
    // That connection was closed, not pooled inside its failed transaction.
    let alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while db.query_one(alive, &[&pid]).await.unwrap().get::<_, i64>(0) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the failed transaction's connection went back to the pool");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for n in 0..20 {
        let ok = ann.publish("Team", &format!("after {n}")).await.expect("a pooled connection in a failed transaction");
        assert_eq!(ok.seq, 2 + n);
    }
    let page = ann.history("Team", None, None, None, Some(100)).await.unwrap();
    assert_eq!(page.messages.len(), 21);
    assert!(page.messages.iter().all(|m| m.body != "blocked"));
}

/// How many transactions wrote the group's messages: each row's `xmin` is the id of the
/// transaction that inserted it. Unlike the database's commit count, it leaves out what the
/// broker commits beside publishes (sign-ins, limit counts, presence, heartbeats, notes).
async fn inserting_transactions(db: &tokio_postgres::Client, group: &str) -> i64 {
    let sql = "SELECT count(DISTINCT m.xmin::text) FROM messages m JOIN groups g ON g.gid = m.gid WHERE g.name = $1";
    db.query_one(sql, &[&group]).await.unwrap().get(0)
}

/// Signs `login` in on a raw connection, writes `count` publishes `"{tag}:{n}"` at once
/// (none waits for an ack) and returns their seqs, checking that the replies answer the
/// requests in order.
async fn pipelined_publishes(addr: SocketAddr, login: &str, group: &str, tag: usize, count: u64) -> Vec<u64> {
    publish_pipelined(signed_in(addr, login).await, group, tag, count).await
}

/// A raw connection signed in as `login`.
async fn signed_in(addr: SocketAddr, login: &str) -> RawConn {
    let mut raw = RawConn::connect(addr).await;
    let signed_in = raw.call(1, &Request::Login { login: login.into(), password: password(login) }).await;
    assert!(matches!(signed_in, Incoming::Ok { re: 1, .. }), "{signed_in:?}");
    raw
}

/// The publishing half of [`pipelined_publishes`], on a connection already signed in.
async fn publish_pipelined(raw: RawConn, group: &str, tag: usize, count: u64) -> Vec<u64> {
    let publishes =
        (0..count).map(|n| Request::Publish { group: group.into(), body: format!("{tag}:{n}"), cid: None }).collect();
    send_pipelined(raw, publishes).await
}

/// Writes `publishes` at once (none waits for an ack) and returns their seqs, checking that
/// each is acknowledged and that the replies answer the requests in order.
async fn send_pipelined(mut raw: RawConn, publishes: Vec<Request>) -> Vec<u64> {
    let mut frames = Vec::new();
    for (n, publish) in (0..).zip(&publishes) {
        frames.extend(joint_wire::codec::frame(&publish.encode(100 + n)));
    }
    raw.send_bytes(&frames).await;
    let mut seqs = Vec::new();
    while seqs.len() < publishes.len() {
        match raw.recv().await.expect("the broker answers every publish") {
            Incoming::Ok { re, ok } => {
                assert_eq!(re, 100 + seqs.len() as u64, "replies come in request order");
                seqs.push(joint_wire::codec::from_value::<PublishOk>(&ok).unwrap().seq);
            }
            Incoming::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    seqs
}

#[tokio::test]
async fn eight_pipelining_publishers_give_every_subscriber_one_gapless_order() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let logins: Vec<String> = (0..8).map(|i| format!("pub{i}")).collect();
    for login in &logins {
        app.user(login).await;
    }
    ann.group_create("Busy", &logins).await.unwrap();
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (reader, mut events) = app.login("ann").await;
        reader.subscribe("Busy", None, None).await.unwrap();
        readers.push(tokio::spawn(async move {
            let mut received = Vec::new();
            while received.len() < 4000 {
                match next_event(&mut events).await {
                    Event::Message(m) => received.push((m.seq, m.body)),
                    Event::Lagged { .. } => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            drop(reader);
            received
        }));
    }
    let mut publishers = Vec::new();
    for (i, login) in logins.iter().enumerate() {
        let (addr, login) = (app.addr, login.clone());
        publishers.push(tokio::spawn(async move { pipelined_publishes(addr, &login, "Busy", i, 500).await }));
    }
    let mut all = Vec::new();
    for publisher in publishers {
        let seqs = publisher.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a connection's publishes keep their request order: {seqs:?}");
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=4000).collect::<Vec<u64>>(), "seq 1..4000 without gap or duplicate");
    let stored = ann.history("Busy", None, None, Some(0), Some(1000)).await.unwrap();
    for reader in readers {
        let received = reader.await.unwrap();
        let seqs: Vec<u64> = received.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=4000).collect::<Vec<u64>>(), "every subscriber gets every seq once, in order");
        for (seq, body) in received.iter().take(stored.messages.len()) {
            assert_eq!(body, &stored.messages[*seq as usize - 1].body, "what was delivered is what was stored");
        }
        for tag in 0..8 {
            let own: Vec<usize> = received
                .iter()
                .filter_map(|(_, body)| body.strip_prefix(&format!("{tag}:")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(own, (0..500).collect::<Vec<usize>>(), "publisher {tag}'s messages in its order");
        }
    }
}

#[tokio::test]
async fn a_thousand_concurrent_publishes_take_at_most_a_hundred_commits() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Busy", &[]).await.unwrap();
    let db = app.db.sql().await;
    let mut connections = Vec::new();
    for _ in 0..10 {
        connections.push(signed_in(app.addr, "ann").await);
    }
    let mut tasks = Vec::new();
    for (i, raw) in connections.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move { publish_pipelined(raw, "Busy", i, 100).await }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=1000).collect::<Vec<u64>>());
    let commits = inserting_transactions(&db, "Busy").await;
    assert!(commits <= 100, "{commits} transactions for 1,000 concurrent publishes: commits are not batched");
}

#[tokio::test]
async fn publish_refusals() {
    let app = spawn_app_with(|s| s.max_body = 1000).await;
    let (ann, _e) = app.user("ann").await;
    let (bob, _e2) = app.user("bob").await;
    ann.group_create("Team", &[]).await.unwrap();
    let code_field = |r: Result<joint_wire::message::PublishOk, ClientError>| match r {
        Err(ClientError::Broker(b)) => (b.code, b.field),
        other => panic!("{other:?}"),
    };
    assert_eq!(code(bob.publish("Team", "hi").await), ErrorCode::NotMember);
    assert_eq!(code(ann.publish("Nowhere", "hi").await), ErrorCode::NoSuchGroup);
    assert_eq!(
        code_field(ann.publish("Team", &"x".repeat(1001)).await),
        (ErrorCode::BodyTooLarge, Some("body".into()))
    );
    ann.publish("Team", &"x".repeat(1000)).await.expect("exactly max_body");
    assert_eq!(code_field(ann.publish("Team", "").await), (ErrorCode::InvalidArgument, Some("body".into())));
    assert_eq!(code_field(ann.publish("Team", "a\0b").await), (ErrorCode::InvalidArgument, Some("body".into())));
    assert_eq!(code_field(ann.publish_with_cid("Team", "hi", &"c".repeat(65)).await).0, ErrorCode::InvalidArgument);
    ann.publish_with_cid("Team", "hi", &"c".repeat(64)).await.unwrap();
    // body_too_large ranks before no_such_group.
    assert_eq!(code(bob.publish("Nowhere", &"x".repeat(2000)).await), ErrorCode::BodyTooLarge);
    assert_eq!(ann.publish("all", "to everyone").await.unwrap().seq, 1, "every account may publish to all");
}

#[tokio::test]
async fn a_batch_with_a_refused_message_acks_all_the_others() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &[]).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let login = if i == 7 { "bob" } else { "ann" };
        let (client, events) = app.login(login).await;
        tasks.push(tokio::spawn(async move {
            let result = client.publish("Team", &format!("m{i}")).await;
            drop(events);
            (login, result.map(|a| a.seq).map_err(|e| e.code()))
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            ("bob", outcome) => assert_eq!(outcome, Err(Some(ErrorCode::NotMember))),
            (_, outcome) => seqs.push(outcome.expect("every member's message is acked")),
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=19).collect::<Vec<u64>>(), "the refused one consumed no seq");
}

#[tokio::test]
async fn history_pages_follow_the_contract() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let group = ann.group_create("Log", &[]).await.unwrap();
    for n in 1..=30 {
        ann.publish("Log", &format!("m{n}")).await.unwrap();
    }
    let seqs = |page: &joint_wire::message::HistoryOk| page.messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    let newest = ann.history("Log", None, None, None, Some(5)).await.unwrap();
    assert_eq!((seqs(&newest), newest.more, newest.last_seq), (vec![26, 27, 28, 29, 30], true, 30));
    let after = ann.history("Log", None, None, Some(10), Some(3)).await.unwrap();
    assert_eq!((seqs(&after), after.more), (vec![11, 12, 13], true));
    let before = ann.history("Log", None, Some(10), None, Some(3)).await.unwrap();
    assert_eq!((seqs(&before), before.more), (vec![7, 8, 9], true));
    let both = ann.history("Log", None, Some(15), Some(10), Some(100)).await.unwrap();
    assert_eq!((seqs(&both), both.more), (vec![11, 12, 13, 14], false));
    let tail = ann.history("Log", None, None, Some(28), None).await.unwrap();
    assert_eq!((seqs(&tail), tail.more), (vec![29, 30], false));
    let default = ann.history("Log", None, None, None, None).await.unwrap();
    assert_eq!(default.messages.len(), 30, "default limit 50");
    let clamped = ann.history("Log", None, None, None, Some(u64::MAX)).await.unwrap();
    assert_eq!(clamped.messages.len(), 30);
    assert_eq!(code(ann.history("Log", None, None, None, Some(0)).await), ErrorCode::InvalidArgument);
    assert_eq!(code(ann.history("Log", Some(group.gid + 100), None, None, None).await), ErrorCode::NoSuchGroup);
    ann.history("Log", Some(group.gid), None, Some(u64::MAX), None).await.expect("far cursors are fine");
    let (bob, _e) = app.user("bob").await;
    assert_eq!(code(bob.history("Log", None, None, None, None).await), ErrorCode::NotMember);
}

#[tokio::test]
async fn history_pages_fit_in_max_frame_and_page_on() {
    let app = spawn_app_with(|s| {
        s.max_frame = 8192;
        s.max_body = 3000;
    })
    .await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Big", &[]).await.unwrap();
    for n in 1..=10 {
        ann.publish("Big", &format!("{n:02}{}", "x".repeat(2500))).await.unwrap();
    }
    let seqs = |page: &joint_wire::message::HistoryOk| page.messages.iter().map(|m| m.seq).collect::<Vec<_>>();
    let newest = ann.history("Big", None, None, None, None).await.unwrap();
    assert!(newest.more && newest.messages.len() < 10);
    assert_eq!(*seqs(&newest).last().unwrap(), 10, "without after, the newest are kept");
    let oldest = ann.history("Big", None, None, Some(0), None).await.unwrap();
    assert!(oldest.more);
    assert_eq!(seqs(&oldest)[0], 1, "with after, the oldest are kept");
    // Paging forward with after reaches every message exactly once.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = ann.history("Big", None, None, Some(after), None).await.unwrap();
        seen.extend(seqs(&page));
        after = *seen.last().unwrap();
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, (1..=10).collect::<Vec<u64>>());
}

#[tokio::test]
async fn mark_read_moves_forward_only_and_tells_other_connections() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let (_other, mut other_events) = app.login("ann").await;
    let group = ann.group_create("Team", &[]).await.unwrap();
    next_event(&mut other_events).await; // group_added
    for _ in 0..5 {
        ann.publish("Team", "m").await.unwrap();
    }
    assert_eq!(ann.mark_read("Team", 3).await.unwrap(), 3);
    assert_eq!(next_event(&mut other_events).await, Event::Read { group: "Team".into(), gid: group.gid, read_seq: 3 });
    assert_eq!(ann.mark_read("Team", 2).await.unwrap(), 3, "never moves back");
    assert_eq!(ann.mark_read("Team", u64::MAX).await.unwrap(), 5, "clamped to last_seq");
    assert_eq!(next_event(&mut other_events).await, Event::Read { group: "Team".into(), gid: group.gid, read_seq: 5 });
    assert_eq!(ann.mark_read("Team", 5).await.unwrap(), 5);
    assert_no_event(&mut other_events, 200).await;
    let team = ann.groups().await.unwrap().into_iter().find(|g| g.name == "Team").unwrap();
    assert_eq!((team.last_seq, team.read_seq), (5, 5));
    let (bob, _e) = app.user("bob").await;
    assert_eq!(code(bob.mark_read("Team", 1).await), ErrorCode::NotMember);
    assert_eq!(code(bob.mark_read("Nowhere", 1).await), ErrorCode::NoSuchGroup);
}

#[tokio::test]
async fn a_retry_after_leaving_still_gets_the_first_answer() {
    let app = spawn_app().await;
    let (bob, _e) = app.user("bob").await;
    let (ann, _e2) = app.user("ann").await;
    bob.group_create("Team", &strings(&["ann"])).await.unwrap();
    let first = ann.publish_with_cid("Team", "sent before removal", "once").await.unwrap();
    bob.member_remove("Team", &strings(&["ann"])).await.unwrap();
    // The first attempt's answer was lost; the retry comes after the removal.
    assert_eq!(ann.publish_with_cid("Team", "sent before removal", "once").await.unwrap(), first);
    assert_eq!(code(ann.publish_with_cid("Team", "new", "another").await), ErrorCode::NotMember);
}

#[tokio::test]
async fn a_request_pipelined_after_publishes_sees_them() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    let mut raw = app.raw().await;
    let signed_in = raw.call(1, &Request::Login { login: "ann".into(), password: password("ann") }).await;
    assert!(matches!(signed_in, Incoming::Ok { re: 1, .. }), "{signed_in:?}");
    let publish = |body: &str| Request::Publish { group: "Team".into(), body: body.into(), cid: None };
    let history = Request::History { group: "Team".into(), gid: None, before: None, after: None, limit: None };
    let mut frames = Vec::new();
    for (id, request) in [(2, publish("one")), (3, publish("two")), (4, history), (5, publish("three"))] {
        frames.extend(joint_wire::codec::frame(&request.encode(id)));
    }
    raw.send_bytes(&frames).await;
    let mut replies = Vec::new();
    while replies.len() < 4 {
        match raw.recv().await.expect("an answer") {
            Incoming::Ok { re, ok } => replies.push((re, ok)),
            Incoming::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(replies.iter().map(|(re, _)| *re).collect::<Vec<_>>(), vec![2, 3, 4, 5], "replies in request order");
    let page: joint_wire::message::HistoryOk = joint_wire::codec::from_value(&replies[2].1).unwrap();
    let bodies: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["one", "two"], "history sees the publishes before it and not the one after");
    let third: PublishOk = joint_wire::codec::from_value(&replies[3].1).unwrap();
    assert_eq!(third.seq, 3);
}

#[tokio::test]
async fn a_batch_that_fails_is_retried_one_by_one_so_only_the_bad_message_fails() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    // A message PostgreSQL itself refuses, past every check the broker makes first.
    let db = app.db.sql().await;
    db.batch_execute(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .await
    .unwrap();
    // Hold the group's row so that the first batch waits and the rest queue behind it:
    // the poison then shares a batch with good messages.
    let mut holder = app.db.sql().await;
    let hold = holder.transaction().await.unwrap();
    hold.execute("SELECT 1 FROM groups WHERE name = 'Team' FOR UPDATE", &[]).await.unwrap();
    let mut raw = app.raw().await;
    let signed_in = raw.call(1, &Request::Login { login: "ann".into(), password: password("ann") }).await;
    assert!(matches!(signed_in, Incoming::Ok { re: 1, .. }), "{signed_in:?}");
    let bodies = ["first", "a", "b", "poison", "c", "d"];
    let mut frames = Vec::new();
    for (n, body) in bodies.iter().enumerate() {
        let publish = Request::Publish { group: "Team".into(), body: body.to_string(), cid: None };
        frames.extend(joint_wire::codec::frame(&publish.encode(10 + n as u64)));
    }
    raw.send_bytes(&frames).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    hold.rollback().await.unwrap();
    let mut outcomes = Vec::new();
    while outcomes.len() < bodies.len() {
        match raw.recv().await.expect("an answer") {
            Incoming::Ok { re, ok } => {
                outcomes.push((re, Ok(joint_wire::codec::from_value::<PublishOk>(&ok).unwrap().seq)))
            }
            Incoming::Err { re, err } => outcomes.push((re, Err(err.code))),
            Incoming::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let expected =
        vec![(10, Ok(1)), (11, Ok(2)), (12, Ok(3)), (13, Err(ErrorCode::Internal)), (14, Ok(4)), (15, Ok(5))];
    assert_eq!(outcomes, expected, "only the poison fails, and it consumes no seq");
    let page = ann.history("Team", None, None, None, None).await.unwrap();
    let stored: Vec<&str> = page.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(stored, vec!["first", "a", "b", "c", "d"]);
}

/// Signs `login` in on a raw connection and writes these publishes (body, cid) at once.
async fn send_publishes(addr: SocketAddr, login: &str, publishes: &[(&str, Option<&str>)]) -> RawConn {
    let mut raw = RawConn::connect(addr).await;
    let signed_in = raw.call(1, &Request::Login { login: login.into(), password: password(login) }).await;
    assert!(matches!(signed_in, Incoming::Ok { re: 1, .. }), "{signed_in:?}");
    let mut frames = Vec::new();
    for (n, (body, cid)) in publishes.iter().enumerate() {
        let publish = Request::Publish { group: "Team".into(), body: body.to_string(), cid: cid.map(String::from) };
        frames.extend(joint_wire::codec::frame(&publish.encode(10 + n as u64)));
    }
    raw.send_bytes(&frames).await;
    raw
}

/// The outcomes of `count` publishes: their seqs, or their error codes, in reply order.
async fn publish_outcomes(raw: &mut RawConn, count: usize) -> Vec<Result<u64, ErrorCode>> {
    let mut outcomes = Vec::new();
    while outcomes.len() < count {
        match raw.recv().await.expect("an answer") {
            Incoming::Ok { ok, .. } => outcomes.push(Ok(joint_wire::codec::from_value::<PublishOk>(&ok).unwrap().seq)),
            Incoming::Err { err, .. } => outcomes.push(Err(err.code)),
            Incoming::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    outcomes
}

#[tokio::test]
async fn repeats_and_refusals_inside_one_batch_consume_no_seq() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &[]).await.unwrap();
    // Everything below queues behind the held group row and commits as one batch.
    let mut holder = app.db.sql().await;
    let hold = holder.transaction().await.unwrap();
    hold.execute("SELECT 1 FROM groups WHERE name = 'Team' FOR UPDATE", &[]).await.unwrap();
    let mut anns =
        send_publishes(app.addr, "ann", &[("one", Some("x")), ("one again", Some("x")), ("two", Some("y"))]).await;
    let mut bobs = send_publishes(app.addr, "bob", &[("not a member", Some("z"))]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut more = send_publishes(app.addr, "ann", &[("one, third time", Some("x")), ("three", None)]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    hold.rollback().await.unwrap();
    assert_eq!(publish_outcomes(&mut anns, 3).await, vec![Ok(1), Ok(1), Ok(2)]);
    assert_eq!(publish_outcomes(&mut bobs, 1).await, vec![Err(ErrorCode::NotMember)]);
    assert_eq!(publish_outcomes(&mut more, 2).await, vec![Ok(1), Ok(3)], "no seq skipped for the repeats");
    let page = ann.history("Team", None, None, None, None).await.unwrap();
    let stored: Vec<(u64, &str)> = page.messages.iter().map(|m| (m.seq, m.body.as_str())).collect();
    assert_eq!(stored, vec![(1, "one"), (2, "two"), (3, "three")]);
}
