//! `joint tail` follows a group live and survives a broker restart: no gap, no duplicate.

use crate::helpers::Joint;
use joint_testkit::{spawn_app, spawn_on, TestApp};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStdout;

async fn next_seq(lines: &mut Lines<BufReader<ChildStdout>>) -> u64 {
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("tail prints the next message")
        .unwrap()
        .expect("tail is still running");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    value["seq"].as_u64().unwrap()
}

async fn publish(app: &TestApp, range: std::ops::RangeInclusive<u64>) {
    let (ann, _events) = app.login("ann").await;
    for n in range {
        assert_eq!(ann.publish("team", &format!("m{n}")).await.unwrap().seq, n);
    }
}

#[tokio::test]
async fn tail_survives_a_broker_restart_with_no_gap_and_no_duplicate() {
    let mut app = spawn_app().await;
    let (ann, _events) = app.user("ann").await;
    ann.group_create("team", &[]).await.unwrap();
    publish(&app, 1..=5).await;
    let joint = Joint::new(&app);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);

    let mut child = joint.command(&["tail", "team", "--after", "2", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    for _ in 3..=5 {
        printed.push(next_seq(&mut lines).await);
    }
    publish(&app, 6..=8).await;
    for _ in 6..=8 {
        printed.push(next_seq(&mut lines).await);
    }

    // Restart on the same address and database; publish at once, before tail is back.
    let mut settings = app.settings.clone();
    settings.listen = app.addr.to_string();
    let db = app.db.clone();
    app.stop().await;
    let app = spawn_on(db, settings).await;
    publish(&app, 9..=12).await;
    for _ in 9..=12 {
        printed.push(next_seq(&mut lines).await);
    }
    publish(&app, 13..=14).await;
    for _ in 13..=14 {
        printed.push(next_seq(&mut lines).await);
    }
    assert_eq!(printed, (3..=14).collect::<Vec<_>>());
    let extra = tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await;
    assert!(extra.is_err(), "nothing after seq 14: {extra:?}");

    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("Connection lost; reconnecting…"), "{stderr}");
    assert!(stderr.contains(&format!("Connected again to {}.", app.addr)), "{stderr}");
}

#[tokio::test]
async fn tail_stops_with_exit_code_2_when_the_group_is_deleted() {
    let app = spawn_app().await;
    let (ann, _events) = app.user("ann").await;
    ann.group_create("team", &[]).await.unwrap();
    let joint = Joint::new(&app);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let mut child = joint.command(&["tail", "team", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Without --after only new messages come; keep publishing until tail is subscribed.
    let mut first = None;
    for _ in 0..50 {
        ann.publish("team", "live").await.unwrap();
        if let Ok(line) = tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await {
            first = Some(line.unwrap().expect("tail is still running"));
            break;
        }
    }
    let line = first.expect("tail printed none of 50 messages published over 15 s");
    let message: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!((&message["from"], &message["body"]), (&"ann".into(), &"live".into()), "{line}");
    ann.group_delete("team").await.unwrap();
    let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["error"]["code"], "no_such_group");
    assert_eq!(error["error"]["local"], true, "joint concluded it from an event: {error}");
    assert!(error["error"].get("broker").is_none(), "no broker reply to show: {error}");
}
