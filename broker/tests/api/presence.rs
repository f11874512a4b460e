//! `presence`: a user coming online or going offline is told, about a second later, to the
//! connections subscribed to a group other than `all` that they share.

use crate::helpers::*;
use joint_wire::message::Event;
use std::time::Duration;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Longer than the broker's one-second debounce plus scheduling.
const SETTLE_MS: u64 = 2000;

#[tokio::test]
async fn subscribers_of_a_shared_group_see_a_user_come_and_go() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    for login in ["bob", "dan"] {
        app.user(login).await;
    }
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    assert!(matches!(next_event_or_presence(&mut ann_events).await, Event::GroupAdded(_)));
    ann.subscribe("Team", None, None).await.unwrap();
    ann.subscribe("all", None, None).await.unwrap();
    // A connection of ann that subscribed to nothing hears nothing.
    let (_quiet, mut quiet_events) = app.login("ann").await;

    // The clock starts before bob's login: the broker's debounce starts after it, so however
    // late the login reply reaches this test, the announcement cannot come sooner than this.
    let started = std::time::Instant::now();
    let (bob, bob_events) = app.login("bob").await;
    assert_eq!(next_event_or_presence(&mut ann_events).await, Event::Presence { login: "bob".into(), online: true });
    assert!(started.elapsed() >= Duration::from_secs(1), "debounced: {:?}", started.elapsed());
    // A second connection is not news; neither is its end while the first stays.
    let (bob2, bob2_events) = app.login("bob").await;
    drop((bob2, bob2_events));
    // dan shares only `all` with ann.
    let (dan, dan_events) = app.login("dan").await;
    assert_no_event_or_presence(&mut ann_events, SETTLE_MS).await;
    drop((dan, dan_events, bob, bob_events));
    assert_eq!(next_event_or_presence(&mut ann_events).await, Event::Presence { login: "bob".into(), online: false });
    assert_no_event_or_presence(&mut ann_events, SETTLE_MS).await;
    assert_no_event_or_presence(&mut quiet_events, 10).await;
}

#[tokio::test]
async fn a_visit_shorter_than_the_debounce_is_not_announced() {
    let app = spawn_app().await;
    let (ann, mut ann_events) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &strings(&["bob"])).await.unwrap();
    assert!(matches!(next_event_or_presence(&mut ann_events).await, Event::GroupAdded(_)));
    ann.subscribe("Team", None, None).await.unwrap();
    let (bob, bob_events) = app.login("bob").await;
    bob.logout().await.unwrap();
    drop((bob, bob_events));
    assert_no_event_or_presence(&mut ann_events, SETTLE_MS).await;
    // The next real visit is announced.
    let (bob, bob_events) = app.login("bob").await;
    assert_eq!(next_event_or_presence(&mut ann_events).await, Event::Presence { login: "bob".into(), online: true });

    // bob leaves, is back 600 ms later and leaves again at once. Each change starts the second
    // again, so "offline" is announced a whole second after the last departure, not after the
    // first.
    drop((bob, bob_events));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (bob, bob_events) = app.login("bob").await;
    let started = std::time::Instant::now();
    drop((bob, bob_events));
    assert_eq!(next_event_or_presence(&mut ann_events).await, Event::Presence { login: "bob".into(), online: false });
    assert!(started.elapsed() >= Duration::from_secs(1), "debounced: {:?}", started.elapsed());
    assert_no_event_or_presence(&mut ann_events, SETTLE_MS).await;
}
