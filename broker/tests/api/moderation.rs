//! CONTRACT.md §12 moderation: operators, `message_delete` tombstones, `user_disable` /
//! `user_enable`, closed registration with `user_create`, and their error codes.

use crate::helpers::*;
use joint_broker::settings::{Registration, Settings};
use joint_wire::message::{EndReason, Event, Incoming, Message, Request};
use joint_wire::{ClientError, ErrorCode};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A broker whose operator is `boss`, with `boss` registered and signed in.
async fn moderated() -> (TestApp, joint_wire::Client, joint_wire::Events) {
    let app = spawn_app_with(|s| s.operators = vec!["boss".into()]).await;
    let (boss, events) = app.user("boss").await;
    (app, boss, events)
}

/// The next `message` event, skipping membership events.
async fn next_message(events: &mut joint_wire::Events) -> Message {
    loop {
        match next_event(events).await {
            Event::Message(message) => return message,
            Event::GroupAdded(_) | Event::MemberJoined { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_deleted_message_is_a_tombstone_everywhere_and_gone_from_the_database() {
    let (app, _boss, _be) = moderated().await;
    let (ann, _ae) = app.user("ann").await;
    app.user("bob").await;
    let team = ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    let (bob, mut bob_events) = app.login("bob").await;
    bob.subscribe("Team", None, None).await.unwrap();
    for body in ["one", "secret two", "three"] {
        ann.publish("Team", body).await.unwrap();
    }
    for seq in 1..=3 {
        assert_eq!(next_message(&mut bob_events).await.seq, seq);
    }

    ann.message_delete("Team", 2).await.unwrap();
    // A subscriber that already got seq 2 is told, once.
    assert_eq!(
        next_event(&mut bob_events).await,
        Event::MessageDeleted { group: "Team".into(), gid: team.gid, seq: 2 }
    );
    // Deleting it again changes nothing and tells nobody.
    ann.message_delete("Team", 2).await.unwrap();
    assert_no_event(&mut bob_events, 200).await;

    // The body is gone from PostgreSQL; the row keeps its seq, sender and cid.
    let db = app.db.sql().await;
    let row = db.query_one("SELECT body, deleted, cid IS NOT NULL FROM messages WHERE seq = 2", &[]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, bool>(1), row.get::<_, bool>(2)), (String::new(), true, true));
    let leaks: i64 =
        db.query_one("SELECT count(*) FROM messages WHERE body LIKE '%secret%'", &[]).await.unwrap().get(0);
    assert_eq!(leaks, 0);

    // History shows the tombstone in its place.
    let page = bob.history("Team", None, None, None, None).await.unwrap();
    let shown: Vec<(u64, &str, bool)> = page.messages.iter().map(|m| (m.seq, m.body.as_str(), m.deleted)).collect();
    assert_eq!(shown, vec![(1, "one", false), (2, "", true), (3, "three", false)]);
    assert_eq!(page.messages[1].from, "ann", "the tombstone keeps its sender");

    // A subscriber resuming from before the deleted seq reads the tombstone from storage.
    let (late, mut late_events) = app.login("bob").await;
    late.subscribe("Team", Some(team.gid), Some(1)).await.unwrap();
    let resumed = next_message(&mut late_events).await;
    assert_eq!((resumed.seq, resumed.body.as_str(), resumed.deleted), (2, "", true));
    assert_eq!(next_message(&mut late_events).await.seq, 3);
    assert_no_event(&mut late_events, 200).await;
}

#[tokio::test]
async fn the_sender_the_admin_and_operators_may_delete_and_nobody_else() {
    let (app, boss, _be) = moderated().await;
    let (ann, _ae) = app.user("ann").await;
    let (bob, _bobe) = app.user("bob").await;
    let (cat, _ce) = app.user("cat").await;
    let (dan, _de) = app.user("dan").await;
    ann.group_create("Team", &strings(&["bob", "cat"])).await.unwrap();
    for body in ["by bob 1", "by bob 2", "by bob 3"] {
        bob.publish("Team", body).await.unwrap();
    }
    cat.publish("Team", "by cat").await.unwrap();

    // Another member who is neither sender nor admin.
    assert_eq!(code(cat.message_delete("Team", 1).await), ErrorCode::NotAllowed);
    // not_allowed ranks before the op's own outcome: a plain member cannot probe seqs.
    assert_eq!(code(cat.message_delete("Team", 99).await), ErrorCode::NotAllowed);
    // A non-member, a missing group, a bad argument.
    assert_eq!(code(dan.message_delete("Team", 1).await), ErrorCode::NotMember);
    assert_eq!(code(dan.message_delete("Nowhere", 1).await), ErrorCode::NoSuchGroup);
    assert_eq!(code(dan.message_delete("bad/name", 1).await), ErrorCode::InvalidArgument);
    // The admin: no such seq is invalid_argument naming the field.
    let Err(ClientError::Broker(err)) = ann.message_delete("Team", 99).await else { panic!("refused") };
    assert_eq!((err.code, err.field.as_deref()), (ErrorCode::InvalidArgument, Some("seq")));

    bob.message_delete("Team", 1).await.unwrap(); // the sender
    ann.message_delete("Team", 2).await.unwrap(); // the admin
    boss.message_delete("Team", 3).await.unwrap(); // an operator who is not even a member
    let page = ann.history("Team", None, None, None, None).await.unwrap();
    let deleted: Vec<bool> = page.messages.iter().map(|m| m.deleted).collect();
    assert_eq!(deleted, vec![true, true, true, false]);
    // A tombstone's seq stays: the next publish gets seq 5.
    assert_eq!(bob.publish("Team", "after").await.unwrap().seq, 5);
}

#[tokio::test]
async fn a_subscriber_reading_from_storage_gets_every_tombstone_in_place() {
    let (app, _boss, _be) = moderated().await;
    let (ann, _ae) = app.user("ann").await;
    for n in 1..=50 {
        ann.publish("all", &format!("body {n}")).await.unwrap();
    }
    for seq in (2..=50).step_by(2) {
        ann.message_delete("all", seq).await.unwrap();
    }
    let (bob, mut events) = app.user("bob").await;
    bob.subscribe("all", None, Some(0)).await.unwrap();
    for seq in 1..=50u64 {
        let m = next_message(&mut events).await;
        assert_eq!(m.seq, seq);
        assert_eq!(m.deleted, seq % 2 == 0);
        let expected = if m.deleted { String::new() } else { format!("body {seq}") };
        assert_eq!(m.body, expected);
    }
}

#[tokio::test]
async fn disabling_ends_every_session_and_refuses_every_sign_in_until_enabled() {
    let (app, boss, _be) = moderated().await;
    let (bob, mut bob_events) = app.user("bob").await;
    let token = bob.token().unwrap();
    let (_bob2, mut bob2_events) = app.login("bob").await;
    let mut raw = app.raw().await;
    let login = Request::Login { login: "bob".into(), password: password("bob") };
    assert!(matches!(raw.call(1, &login).await, Incoming::Ok { .. }));
    bob.publish("all", "still here").await.unwrap();

    boss.user_disable("bob").await.unwrap();
    let ended = Event::SessionEnded { reason: EndReason::Disabled };
    assert_eq!(next_event(&mut bob_events).await, ended);
    assert_eq!(next_event(&mut bob2_events).await, ended);
    assert_eq!(raw.recv().await, Some(Incoming::Event(ended)));
    // The connections stay open, anonymous.
    assert_eq!(err_code(&raw.call(2, &Request::Groups).await), ErrorCode::Unauthenticated);

    // Every way back in answers account_disabled.
    let (client, _e) = app.client().await;
    assert_eq!(code(client.login("bob", &password("bob")).await), ErrorCode::AccountDisabled);
    assert_eq!(code(client.login("bob", "a-wrong-password").await), ErrorCode::AccountDisabled);
    assert_eq!(code(client.auth(&token).await), ErrorCode::AccountDisabled);
    assert_eq!(code(client.register("bob", "Bob", "password-1").await), ErrorCode::AccountDisabled);
    // Its messages stay.
    let page = boss.history("all", None, None, None, None).await.unwrap();
    assert_eq!(page.messages.last().map(|m| (m.from.as_str(), m.body.as_str())), Some(("bob", "still here")));

    boss.user_enable("bob").await.unwrap();
    assert_eq!(code(client.auth(&token).await), ErrorCode::BadToken, "the ended session stays dead");
    client.login("bob", &password("bob")).await.unwrap();
}

#[tokio::test]
async fn operator_operations_are_refused_to_others_and_checked() {
    let (app, boss, _be) = moderated().await;
    let (ann, _ae) = app.user("ann").await;
    assert_eq!(code(ann.user_disable("boss").await), ErrorCode::NotAllowed);
    assert_eq!(code(ann.user_enable("boss").await), ErrorCode::NotAllowed);
    assert_eq!(code(ann.user_create("cat", "Cat", "password-1").await), ErrorCode::NotAllowed);
    // invalid_argument ranks before not_allowed.
    assert_eq!(code(ann.user_disable("Not A Login").await), ErrorCode::InvalidArgument);
    assert_eq!(code(ann.user_create("cat", "Cat", "short").await), ErrorCode::InvalidArgument);
    let Err(ClientError::Broker(err)) = boss.user_disable("ghost").await else { panic!("refused") };
    assert_eq!((err.code, err.logins), (ErrorCode::UnknownUser, Some(vec!["ghost".to_owned()])));
    assert_eq!(code(boss.user_create("ann", "Ann", "password-1").await), ErrorCode::LoginTaken);
    // Disabling twice, enabling an enabled account: no error, no change.
    boss.user_disable("ann").await.unwrap();
    boss.user_disable("ann").await.unwrap();
    boss.user_enable("ann").await.unwrap();
    boss.user_enable("ann").await.unwrap();
    app.login("ann").await;
}

#[tokio::test]
async fn account_disabled_ranks_right_after_unauthenticated() {
    let app = spawn_app_with(|s| {
        s.operators = vec!["boss".into()];
        s.login_failures = 1;
    })
    .await;
    let (boss, _be) = app.user("boss").await;
    let (bob, _bobe) = app.user("bob").await;
    let token = bob.token().unwrap();
    boss.user_disable("bob").await.unwrap();
    let (client, _e) = app.client().await;
    // Before invalid_argument of the other fields…
    assert_eq!(code(client.login("bob", "short").await), ErrorCode::AccountDisabled);
    assert_eq!(code(client.register("bob", "", "short").await), ErrorCode::AccountDisabled);
    // …and before rate_limited: this IP is backing off after failures on another login.
    for _ in 0..3 {
        let _ = client.login("nobody", "wrong-password").await;
    }
    assert_eq!(code(client.login("nobody", "wrong-password").await), ErrorCode::RateLimited);
    assert_eq!(code(client.login("bob", "wrong-password").await), ErrorCode::AccountDisabled);
    for _ in 0..3 {
        let _ = client.auth("bogus").await;
    }
    assert_eq!(code(client.auth("bogus").await), ErrorCode::RateLimited);
    assert_eq!(code(client.auth(&token).await), ErrorCode::AccountDisabled);
    // After unauthenticated and already_authenticated.
    assert_eq!(code(boss.login("bob", &password("bob")).await), ErrorCode::AlreadyAuthenticated);
}

#[tokio::test]
async fn closed_registration_leaves_account_creation_to_operators() {
    let app = spawn_app_with(|s| {
        s.operators = vec!["boss".into()];
        s.registration = Registration::Closed;
    })
    .await;
    let (client, _e) = app.client().await;
    assert_eq!(code(client.register("boss", "Boss", &password("boss")).await), ErrorCode::NotAllowed);
    // invalid_argument still ranks first.
    assert_eq!(code(client.register("Bad Login", "X", "password-1").await), ErrorCode::InvalidArgument);
    // The first operator account comes from the database, as an installer would make it.
    let open = spawn_on(app.db.clone(), Settings::for_tests(&app.db.url)).await;
    open.user("boss").await;
    let (boss, _be) = app.login("boss").await;
    let user = boss.user_create("cat", "Кот", &password("cat")).await.unwrap();
    assert_eq!((user.login.as_str(), user.name.as_str()), ("cat", "Кот"));
    assert_eq!(boss.me().await.unwrap().login, "boss", "the operator stays signed in as themself");
    let (cat, _ce) = app.login("cat").await;
    let groups = cat.groups().await.unwrap();
    assert_eq!(groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), vec!["all"]);
}
