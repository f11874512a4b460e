//! Live delivery: subscribe, resume with `after`, unsubscribe, lagged slow readers, and
//! the end of delivery with the end of a membership.

use crate::helpers::*;
use joint_wire::message::{Event, Incoming, Message, Request};
use joint_wire::{ClientEvent, ErrorCode};
use std::time::Duration;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The next `message` event (other events are skipped).
async fn next_message(events: &mut joint_wire::Events) -> Message {
    loop {
        match next_event(events).await {
            Event::Message(message) => return message,
            Event::Lagged { .. } | Event::GroupAdded(_) | Event::MemberJoined { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn subscribers_get_every_message_in_order_after_the_reply() {
    let app = spawn_app().await;
    let (ann, _ae) = app.user("ann").await;
    app.user("bob").await;
    let team = ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    let (bob, mut bob_events) = app.login("bob").await;
    let ok = bob.subscribe("Team", None, None).await.unwrap();
    assert_eq!((ok.gid, ok.last_seq), (team.gid, 0));
    for n in 1..=20 {
        ann.publish("Team", &format!("m{n}")).await.unwrap();
    }
    for n in 1..=20u64 {
        let m = next_message(&mut bob_events).await;
        assert_eq!((m.seq, m.body.as_str(), m.from.as_str(), m.gid), (n, format!("m{n}").as_str(), "ann", team.gid));
    }
    assert_no_event(&mut bob_events, 200).await;
}

#[tokio::test]
async fn reply_then_messages_and_ack_then_own_echo_on_one_connection() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    ann.publish("Team", "stored").await.unwrap();
    let mut raw = app.raw().await;
    let login = Request::Login { login: "ann".into(), password: password("ann") };
    assert!(matches!(raw.call(1, &login).await, Incoming::Ok { .. }));
    raw.send(2, &Request::Subscribe { group: "Team".into(), gid: None, after: Some(0) }).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 2, .. })), "the reply comes first");
    match raw.recv().await {
        Some(Incoming::Event(Event::Message(m))) => assert_eq!(m.seq, 1),
        other => panic!("{other:?}"),
    }
    raw.send(3, &Request::Publish { group: "Team".into(), body: "mine".into(), cid: Some("x".into()) }).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 3, .. })), "the ack precedes the echo");
    match raw.recv().await {
        Some(Incoming::Event(Event::Message(m))) => assert_eq!((m.seq, m.body.as_str()), (2, "mine")),
        other => panic!("{other:?}"),
    }
    raw.send(4, &Request::Unsubscribe { group: "Team".into() }).await;
    assert!(matches!(raw.recv().await, Some(Incoming::Ok { re: 4, .. })));
    ann.publish("Team", "after unsubscribe").await.unwrap();
    assert!(matches!(raw.call(5, &Request::Ping).await, Incoming::Ok { re: 5, .. }), "no message after unsubscribe");
}

#[tokio::test]
async fn resuming_at_every_point_while_publishing_gives_no_gap_and_no_duplicate() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Live", &[]).await.unwrap();
    let publisher = tokio::spawn(async move {
        for n in 1..=300 {
            ann.publish("Live", &format!("m{n}")).await.unwrap();
        }
    });
    let (reader, mut events) = app.login("ann").await;
    let mut after = 0u64;
    let mut resumes = 0;
    while after < 300 {
        let ok = reader.subscribe("Live", None, Some(after)).await.unwrap();
        assert!(ok.last_seq >= after);
        // Take a few messages, then resume from the last one seen.
        for _ in 0..(resumes % 7 + 1) {
            if after == 300 {
                break;
            }
            let m = next_message(&mut events).await;
            assert_eq!(m.seq, after + 1, "no gap, no duplicate across resumes");
            after = m.seq;
        }
        reader.unsubscribe("Live").await.unwrap();
        // Drain what was queued before the unsubscribe reply: it must continue the order.
        while let Some(ClientEvent::Event(Event::Message(m))) = events.try_next() {
            assert_eq!(m.seq, after + 1);
            after = m.seq;
        }
        resumes += 1;
    }
    publisher.await.unwrap();
    assert!(resumes > 20);
}

#[tokio::test]
async fn subscribe_refusals() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    let (bob, _e2) = app.user("bob").await;
    let team = ann.group_create("Team", &[]).await.unwrap();
    ann.publish("Team", "one").await.unwrap();
    assert_eq!(code(bob.subscribe("Team", None, None).await), ErrorCode::NotMember);
    assert_eq!(code(ann.subscribe("Nowhere", None, None).await), ErrorCode::NoSuchGroup);
    assert_eq!(code(ann.subscribe("Team", None, Some(2)).await), ErrorCode::InvalidArgument);
    assert_eq!(code(ann.subscribe("Team", Some(team.gid + 1), None).await), ErrorCode::NoSuchGroup);
    ann.subscribe("Team", Some(team.gid), Some(1)).await.unwrap();
    ann.unsubscribe("Nowhere").await.expect("unsubscribe never fails for a name");
    // A group deleted and re-created under the same name is another group.
    ann.group_delete("Team").await.unwrap();
    ann.group_create("Team", &[]).await.unwrap();
    assert_eq!(code(ann.subscribe("Team", Some(team.gid), Some(0)).await), ErrorCode::NoSuchGroup);
}

#[tokio::test]
async fn a_removed_member_gets_nothing_after_the_removal() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    let (bob, mut bob_events) = app.login("bob").await;
    bob.subscribe("Team", None, None).await.unwrap();
    ann.publish("Team", "before").await.unwrap();
    assert_eq!(next_message(&mut bob_events).await.body, "before");
    ann.member_remove("Team", &strings(&["bob"])).await.unwrap();
    ann.publish("Team", "after").await.unwrap();
    match next_event(&mut bob_events).await {
        Event::GroupRemoved { .. } => {}
        other => panic!("{other:?}"),
    }
    assert_no_event(&mut bob_events, 300).await;
    // Signed out connections lose their subscriptions too.
    let (carol_ann, mut carol_events) = app.login("ann").await;
    carol_ann.subscribe("Team", None, None).await.unwrap();
    carol_ann.logout().await.unwrap();
    ann.publish("Team", "after logout").await.unwrap();
    assert!(matches!(next_event(&mut carol_events).await, Event::SessionEnded { .. }));
    assert_no_event(&mut carol_events, 300).await;
}

#[tokio::test]
async fn a_paused_reader_lags_then_gets_every_message_exactly_once() {
    let app = spawn_app_with(|s| s.max_body = 16 * 1024).await;
    let (ann, _e) = app.user("ann").await;
    ann.group_create("Flood", &[]).await.unwrap();
    let mut raw = app.raw().await;
    let login = Request::Login { login: "ann".into(), password: password("ann") };
    assert!(matches!(raw.call(1, &login).await, Incoming::Ok { .. }));
    assert!(matches!(
        raw.call(2, &Request::Subscribe { group: "Flood".into(), gid: None, after: None }).await,
        Incoming::Ok { .. }
    ));
    // The reader is paused: 1,500 messages of 8 KiB (12 MB) overflow the socket buffers.
    let body = "x".repeat(8 * 1024);
    let started = std::time::Instant::now();
    for _ in 0..1500 {
        ann.publish("Flood", &body).await.unwrap();
    }
    let publishing = started.elapsed();
    let mut seqs = Vec::new();
    let mut lagged = None;
    while seqs.len() < 1500 {
        match raw.recv().await.expect("the connection stays open") {
            Incoming::Event(Event::Message(m)) => seqs.push(m.seq),
            Incoming::Event(Event::Lagged { seq, .. }) => {
                assert_eq!(seq, seqs.last().copied().unwrap_or(0), "lagged names the last delivered seq");
                lagged.get_or_insert(seq);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(lagged.is_some(), "the paused reader lagged");
    assert_eq!(seqs, (1..=1500).collect::<Vec<u64>>(), "every seq exactly once, in order");
    assert!(publishing < Duration::from_secs(60), "the publisher never waited on the reader");
}

#[tokio::test]
async fn a_publish_racing_a_removal_is_ordered_with_it() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    assert!(matches!(next_event(&mut ann_events).await, Event::GroupAdded(_)));
    ann.subscribe("Team", None, None).await.unwrap();
    // Bob's insert takes a second inside its transaction; the removal starts meanwhile.
    let db = app.db.sql().await;
    db.batch_execute(
        "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.body = 'slow' THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$;
         CREATE TRIGGER slow_insert BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION slow_insert();",
    )
    .await
    .unwrap();
    let (bob, _bob_events) = app.login("bob").await;
    let publish = tokio::spawn(async move { bob.publish("Team", "slow").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    ann.member_remove("Team", &strings(&["bob"])).await.unwrap();
    let published = publish.await.unwrap();
    // Serialized: the publish committed first, so its message precedes the member_left its
    // members see; had the removal committed first, the publish would be not_member.
    assert_eq!(published.expect("the publish holds the group first").seq, 1);
    match next_event(&mut ann_events).await {
        Event::Message(m) => assert_eq!(m.body, "slow"),
        other => panic!("the message must come before the removal: {other:?}"),
    }
    assert!(matches!(next_event(&mut ann_events).await, Event::MemberLeft { .. }));
}
