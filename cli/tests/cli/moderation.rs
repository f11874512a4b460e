//! `joint delete` and `joint admin …`: moderation from the command line (CONTRACT.md §12).

use crate::helpers::Joint;
use joint_testkit::{password, spawn_app_with, spawn_on, Registration, Settings};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStdout;

async fn next_json(lines: &mut Lines<BufReader<ChildStdout>>) -> serde_json::Value {
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
    serde_json::from_str(&line).unwrap()
}

#[tokio::test]
async fn delete_leaves_a_tombstone_that_history_and_tail_show() {
    let app = spawn_app_with(|s| s.operators = vec!["boss".into()]).await;
    let ann = Joint::new(&app);
    ann.register("ann").await;
    let bob = Joint::new(&app);
    bob.register("bob").await;
    ann.run(&["group", "create", "team", "--member", "bob"]).await.expect(0);
    for text in ["first", "second", "third"] {
        ann.run(&["send", "team", text]).await.expect(0);
    }
    let mut tail = bob.command(&["tail", "team", "--after", "0", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    for seq in 1..=3 {
        assert_eq!(next_json(&mut lines).await["seq"], seq);
    }

    // Only the sender, the admin or an operator: bob is none of them for #2.
    let run = bob.run(&["delete", "team", "2"]).await;
    run.expect(2);
    assert!(run.stderr.starts_with("joint: not_allowed: "), "{}", run.stderr);
    let run = ann.run(&["delete", "team", "2"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Message #2 in team deleted.\n");
    let event = next_json(&mut lines).await;
    assert_eq!(event, serde_json::json!({"ev": "message_deleted", "group": "team", "gid": event["gid"], "seq": 2}));
    tail.kill().await.unwrap();

    let run = bob.run(&["history", "team"]).await;
    run.expect(0);
    let shown: Vec<&str> = run.stdout.lines().collect();
    assert!(shown[1].starts_with("#2 ") && shown[1].ends_with(" ann (ann): (message deleted)"), "{}", shown[1]);
    assert!(shown[2].ends_with(": third"));
    let run = bob.run(&["--lang", "ru", "history", "team"]).await;
    assert!(run.stdout.lines().nth(1).unwrap().ends_with(": (сообщение удалено)"), "{}", run.stdout);
    let run = bob.run(&["history", "team", "--json"]).await;
    let tombstone = &run.json()[1];
    assert_eq!((&tombstone["body"], &tombstone["deleted"]), (&serde_json::json!(""), &serde_json::json!(true)));
    assert!(run.json()[0].get("deleted").is_none(), "only tombstones carry deleted");
}

#[tokio::test]
async fn admin_commands_disable_enable_and_create_accounts() {
    let app = spawn_app_with(|s| {
        s.operators = vec!["boss".into()];
        s.registration = Registration::Closed;
    })
    .await;
    // Registration is closed: the first operator is made while it was open.
    let opening = spawn_on(app.db.clone(), Settings::for_tests(&app.db.url)).await;
    opening.user("boss").await;
    let boss = Joint::new(&app);
    boss.run_with(&["login", "boss", "--password-stdin"], &format!("{}\n", password("boss"))).await.expect(0);
    let cat = Joint::new(&app);
    let run = cat.run_with(&["register", "cat", "--password-stdin"], "cat-password\n").await;
    run.expect(2);
    assert!(run.stderr.starts_with("joint: not_allowed: "), "{}", run.stderr);

    let run =
        boss.run_with(&["admin", "create-user", "cat", "--name", "Cat", "--password-stdin"], "cat-password\n").await;
    run.expect(0);
    assert_eq!(run.stdout, "Created the account cat (Cat).\n");
    let run = boss.run(&["whoami"]).await;
    assert_eq!(run.stdout, "boss (BOSS)\n", "the operator's saved session stays theirs");
    cat.run_with(&["login", "cat", "--password-stdin"], "cat-password\n").await.expect(0);

    let run = cat.run(&["admin", "disable", "boss"]).await;
    run.expect(2);
    assert!(run.stderr.starts_with("joint: not_allowed: "), "{}", run.stderr);
    let run = boss.run(&["--json", "admin", "disable", "cat"]).await;
    run.expect(0);
    assert_eq!(run.json()[0], serde_json::json!({"login": "cat", "disabled": true}));
    let run = cat.run(&["whoami"]).await;
    run.expect(2);
    let run = cat.run_with(&["login", "cat", "--password-stdin"], "cat-password\n").await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: account_disabled: This account is disabled: ask an operator.\n");
    let run = boss.run(&["admin", "enable", "cat"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "cat is enabled again.\n");
    cat.run_with(&["login", "cat", "--password-stdin"], "cat-password\n").await.expect(0);
    let run = boss.run(&["admin", "disable", "ghost"]).await;
    run.expect(2);
    assert!(run.stderr.starts_with("joint: unknown_user: "), "{}", run.stderr);
}
