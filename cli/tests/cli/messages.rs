//! Messages: send, history, read, export.

use crate::helpers::{proxy_losing_the_first_ack, Joint};
use joint_testkit::spawn_app;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn seqs(lines: &[serde_json::Value]) -> Vec<u64> {
    lines.iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

/// `history --json`: the messages, and the final line saying whether the page was cut.
fn page(lines: &[serde_json::Value]) -> (Vec<u64>, &serde_json::Value) {
    let (end, messages) = lines.split_last().expect("history --json ends with a page line");
    (seqs(messages), end)
}

#[tokio::test]
async fn send_history_and_read() {
    let app = spawn_app().await;
    let (_bob, _events) = app.user("bob").await;
    let ann = Joint::new(&app);
    ann.register("ann").await;
    ann.run(&["group", "create", "team", "--member", "bob"]).await.expect(0);

    let run = ann.run(&["send", "team", "hello"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Sent to team as #1.\n");
    let run = ann.run_with(&["send", "team", "--json"], "line one\nline two\n").await;
    run.expect(0);
    assert_eq!(run.json()[0]["seq"], 2);
    assert!(run.json()[0]["at"].as_u64().unwrap() > 0);
    let run = ann.run(&["--lang", "ru", "send", "nowhere", "x"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: no_such_group: Такой группы нет.\n");
    for n in 3..=10 {
        ann.run(&["send", "team", &format!("message {n}")]).await.expect(0);
    }

    let run = ann.run(&["history", "team", "--json"]).await;
    run.expect(0);
    let lines = run.json();
    let (all, end) = page(&lines);
    assert_eq!(all, (1..=10).collect::<Vec<_>>());
    assert_eq!(end, &serde_json::json!({ "more": false, "last_seq": 10 }));
    assert_eq!(lines[1]["body"], "line one\nline two", "stdin without its final newline, byte-exact");
    assert_eq!(lines[0]["from"], "ann");
    let run = ann.run(&["history", "team", "--json", "--after", "7"]).await;
    assert_eq!(page(&run.json()).0, [8, 9, 10]);
    let run = ann.run(&["history", "team", "--json", "--before", "4"]).await;
    assert_eq!(page(&run.json()).0, [1, 2, 3]);
    let run = ann.run(&["history", "team", "--json", "--limit", "2"]).await;
    let lines = run.json();
    let (cut, end) = page(&lines);
    assert_eq!(cut, [9, 10]);
    assert_eq!(end, &serde_json::json!({ "more": true, "last_seq": 10 }), "a script can tell the page was cut");
    let run = ann.run(&["history", "team", "--after", "2", "--before", "4"]).await;
    run.expect(0);
    let line = run.stdout.trim_end();
    assert!(line.starts_with("#3 ") && line.ends_with(" ann (ann): message 3"), "{line}");
    let run = ann.run(&["history", "team", "--limit", "0"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: invalid_argument: An argument is not valid. (field limit)\n");

    let run = ann.run(&["read", "team", "4"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "team read up to 4.\n");
    let run = ann.run(&["read", "team", "--json"]).await;
    run.expect(0);
    assert_eq!(run.json(), vec![serde_json::json!({ "group": "team", "read_seq": 10 })]);
    ann.run(&["read", "nowhere"]).await.expect(2);
}

#[tokio::test]
async fn export_writes_the_whole_history_across_pages() {
    let app = spawn_app().await;
    let (ann, _events) = app.user("ann").await;
    ann.group_create("big", &[]).await.unwrap();
    // Pipelined in chunks of concurrent publishes, to keep the test fast.
    for chunk in (1..=1205).collect::<Vec<u64>>().chunks(200) {
        let bodies: Vec<String> = chunk.iter().map(|n| format!("m{n}")).collect();
        let publishes = bodies.iter().map(|body| ann.publish("big", body));
        for ok in futures::future::join_all(publishes).await {
            ok.unwrap();
        }
    }
    let joint = Joint::new(&app);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let run = joint.run(&["export", "big"]).await;
    run.expect(0);
    let lines = run.json();
    assert_eq!(seqs(&lines), (1..=1205).collect::<Vec<_>>());
    let bodies: std::collections::BTreeSet<&str> = lines.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, (1..=1205).map(|n| format!("m{n}")).collect::<Vec<_>>().iter().map(String::as_str).collect());
    assert_eq!(run.stderr, "", "no progress bar when stderr is not a terminal");
}

#[tokio::test]
async fn a_closed_stdout_pipe_ends_quietly() {
    let app = spawn_app().await;
    let (ann, _events) = app.user("ann").await;
    ann.group_create("big", &[]).await.unwrap();
    let bodies: Vec<String> = (1..=300).map(|n| format!("message {n} {}", "x".repeat(200))).collect();
    for ok in futures::future::join_all(bodies.iter().map(|body| ann.publish("big", body))).await {
        ok.unwrap();
    }
    let joint = Joint::new(&app);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let output = tokio::process::Command::from(joint.program("bash"))
        .arg("-c")
        .arg("set -o pipefail; joint export big | head -c 10 >/dev/null")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "joint exits 0 when its reader goes away");
    assert_eq!(String::from_utf8(output.stderr).unwrap(), "", "and says nothing");
}

#[tokio::test]
async fn errors_with_json_are_one_object_on_stderr() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    joint.register("ann").await;
    let run = joint.run(&["--json", "--lang", "ru", "send", "nowhere", "x"]).await;
    run.expect(2);
    assert_eq!(run.stdout, "");
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim_end()).unwrap();
    assert_eq!(error["error"]["code"], "no_such_group");
    assert_eq!(error["error"]["message"], "Такой группы нет.");
    assert_eq!(error["error"]["broker"]["code"], "no_such_group");
    assert!(error["error"]["broker"]["msg"].is_string(), "the broker's own English message is kept");
    let run = joint.run(&["--json", "history", "all", "--limit", "x"]).await;
    run.expect(1);

    // No saved session: joint knows it without asking, and says the refusal is its own.
    let run = Joint::new(&app).run(&["--json", "whoami"]).await;
    run.expect(2);
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim_end()).unwrap();
    assert_eq!(error["error"]["code"], "unauthenticated");
    assert_eq!(error["error"]["local"], true, "{error}");
    assert!(error["error"].get("broker").is_none(), "nothing came from the broker: {error}");
}

#[tokio::test]
async fn send_retries_with_the_same_cid_after_a_lost_ack_and_stores_once() {
    let app = spawn_app().await;
    let (ann, _events) = app.user("ann").await;
    ann.group_create("team", &[]).await.unwrap();
    let mut joint = Joint::new(&app);
    joint.broker = proxy_losing_the_first_ack(app.addr).await.to_string();
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let run = joint.run(&["send", "team", "exactly once"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Sent to team as #1.\n", "the retry got the first publish's seq");
    let history = ann.history("team", None, None, None, None).await.unwrap();
    assert_eq!(history.messages.len(), 1, "{:?}", history.messages);
    assert_eq!(history.messages[0].body, "exactly once");
}

#[tokio::test]
async fn a_group_name_typed_decomposed_works_for_tail_read_and_chat() {
    let app = spawn_app().await;
    let (ann, _events) = app.user("ann").await;
    ann.group_create("Caf\u{e9}", &[]).await.unwrap();
    for body in ["one", "two"] {
        ann.publish("Caf\u{e9}", body).await.unwrap();
    }
    let joint = Joint::new(&app);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let decomposed = "Cafe\u{301}";

    let mut tail = joint.command(&["tail", decomposed, "--after", "0", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    for seq in 1..=2 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("tail prints the group's messages")
            .unwrap()
            .expect("tail is still running");
        let message: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(message["seq"], seq, "{line}");
    }
    tail.start_kill().unwrap();

    let run = joint.run(&["read", decomposed, "--json"]).await;
    run.expect(0);
    assert_eq!(run.json()[0]["read_seq"], 2);

    // chat off a terminal: its own line comes back through the subscription.
    let mut chat = joint.command(&["chat", decomposed]).spawn().unwrap();
    let mut input = chat.stdin.take().unwrap();
    let mut lines = BufReader::new(chat.stdout.take().unwrap()).lines();
    input.write_all(b"three\n").await.unwrap();
    let echo = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("#3 ") {
                return line;
            }
        }
        panic!("chat ended without showing #3");
    })
    .await
    .expect("chat shows its own message");
    assert!(echo.ends_with(" ANN (ann): three"), "{echo}");
    drop(input);
    let status = tokio::time::timeout(Duration::from_secs(10), chat.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn send_refuses_a_body_over_the_brokers_limits() {
    let app = joint_testkit::spawn_app_with(|settings| {
        settings.max_frame = 4096;
        settings.max_body = 3072;
    })
    .await;
    let joint = Joint::new(&app);
    joint.register("ann").await;
    // Over max_body but within a frame: the broker refuses it.
    let run = joint.run(&["send", "all", &"x".repeat(3500)]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: body_too_large: The message is too long. (field body)\n");
    // Over max_frame: the client library refuses to send it at all.
    let run = joint.run_with(&["--lang", "ru", "send", "all"], &"x".repeat(5000)).await;
    run.expect(1);
    assert_eq!(run.stderr, "joint: local: Сообщение слишком длинное.\n");
    let (ann, _events) = app.login("ann").await;
    assert_eq!(ann.history("all", None, None, None, None).await.unwrap().messages.len(), 0);
}
