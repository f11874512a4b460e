//! `joint` with two brokers on one PostgreSQL (`--broker A,B`): `tail` and `send` move to
//! the next broker when theirs goes away, say so on stderr, and neither miss nor double a
//! message.

use crate::helpers::{proxy_losing_the_first_ack, Joint};
use joint_testkit::{spawn_on, Settings, TestApp, TestDb};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

async fn two_brokers() -> (TestApp, TestApp) {
    let db = Arc::new(TestDb::create().await);
    let a = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    let b = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    (a, b)
}

#[tokio::test]
async fn tail_moves_to_the_next_broker_says_so_and_misses_nothing() {
    let (mut a, b) = two_brokers().await;
    let (ann, _events) = a.user("ann").await;
    ann.group_create("team", &[]).await.unwrap();
    let mut joint = Joint::new(&a);
    joint.broker = format!("{},{}", a.addr, b.addr);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let mut child = joint.command(&["tail", "team", "--after", "0", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let mut next = async || {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        let line = line.expect("tail prints the next message").unwrap().expect("tail runs");
        serde_json::from_str::<serde_json::Value>(&line).unwrap()["seq"].as_u64().unwrap()
    };
    for n in 1..=3 {
        ann.publish("team", &format!("m{n}")).await.unwrap();
        printed.push(next().await);
    }
    a.stop().await;
    let (on_b, _events) = b.login("ann").await;
    for n in 4..=6 {
        assert_eq!(on_b.publish("team", &format!("m{n}")).await.unwrap().seq, n);
    }
    for _ in 4..=6 {
        printed.push(next().await);
    }
    assert_eq!(printed, (1..=6).collect::<Vec<u64>>(), "every message once, in order");

    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("Connection lost; reconnecting…"), "{stderr}");
    let moved = format!("Broker {} is gone; continuing on {}.", a.addr, b.addr);
    assert!(stderr.contains(&moved), "{stderr}");
}

#[tokio::test]
async fn send_retries_on_the_next_broker_says_so_and_stores_its_message_once() {
    let (a, b) = two_brokers().await;
    let (ann, _events) = a.user("ann").await;
    ann.group_create("team", &[]).await.unwrap();
    // A's acknowledgement of the publish is lost with the connection: the outcome is
    // unknown, and the retry goes to B with the same cid.
    let proxy = proxy_losing_the_first_ack(a.addr).await;
    let mut joint = Joint::new(&a);
    joint.broker = format!("{proxy},{}", b.addr);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let run = joint.run(&["send", "team", "exactly once"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Sent to team as #1.\n", "the retry got the first publish's seq");
    assert!(run.stderr.contains("Connection lost; reconnecting…"), "{}", run.stderr);
    let moved = format!("Broker {proxy} is gone; continuing on {}.", b.addr);
    assert!(run.stderr.contains(&moved), "{}", run.stderr);
    let history = ann.history("team", None, None, None, None).await.unwrap();
    assert_eq!(history.messages.len(), 1, "{:?}", history.messages);
}

#[tokio::test]
async fn the_move_is_told_in_the_users_language() {
    let (mut a, b) = two_brokers().await;
    let (ann, _events) = a.user("ann").await;
    ann.group_create("team", &[]).await.unwrap();
    let mut joint = Joint::new(&a).with_lang("de_DE.UTF-8");
    joint.broker = format!("{},{}", a.addr, b.addr);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let mut child = joint.command(&["tail", "team", "--after", "0", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    ann.publish("team", "m1").await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
    a.stop().await;
    let (on_b, _events) = b.login("ann").await;
    on_b.publish("team", "m2").await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
    child.start_kill().unwrap();
    let stderr = String::from_utf8(child.wait_with_output().await.unwrap().stderr).unwrap();
    let moved = format!("Broker {} ist weg; weiter über {}.", a.addr, b.addr);
    assert!(stderr.contains(&moved), "{stderr}");
}
