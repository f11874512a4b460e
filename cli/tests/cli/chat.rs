//! `joint chat` driven through a pseudo-terminal, as a person would use it.

use crate::helpers::{proxy_losing_the_first_ack, Joint};
use expectrl::{Eof, Session, WaitStatus};
use joint_testkit::spawn_app;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::ChildStdout;

/// Runs blocking pseudo-terminal steps off the runtime that drives the broker.
async fn step<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_shows_history_and_live_messages_and_sends_lines() {
    let app = spawn_app().await;
    let (bob, _events) = app.user("bob").await;
    let ann = Joint::new(&app);
    ann.register("ann").await;
    ann.run(&["group", "create", "team", "--member", "bob"]).await.expect(0);
    bob.publish("team", "earlier message").await.unwrap();

    let cmd = ann.std_command(&["chat", "team"]);
    let mut chat = step(move || {
        let mut chat = Session::spawn(cmd).unwrap();
        chat.set_expect_timeout(Some(Duration::from_secs(15)));
        chat.expect("BOB (bob): earlier message").unwrap();
        chat.expect("team> ").unwrap();
        chat
    })
    .await;

    // The prompt shows once the subscription is up: live messages appear above it, with
    // control characters escaped on the terminal.
    bob.publish("team", "live from bob \u{1b}[31mred").await.unwrap();
    let mut chat = step(move || {
        chat.expect("BOB (bob): live from bob \\u{1b}[31mred").unwrap();
        chat.send_line("hello from ann").unwrap();
        chat.expect("ann (ann): hello from ann").unwrap();
        chat
    })
    .await;
    let history = bob.history("team", None, None, None, None).await.unwrap();
    let bodies: Vec<_> = history.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["earlier message", "live from bob \u{1b}[31mred", "hello from ann"]);

    let status = step(move || {
        chat.send_line("/quit").unwrap();
        chat.expect(Eof).unwrap();
        chat.get_process().wait().unwrap()
    })
    .await;
    assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
    let groups = bob.groups().await.unwrap();
    assert_eq!(groups[1].last_seq, 3);
    let run = ann.run(&["groups", "--json"]).await;
    assert_eq!(run.json()[1]["unread"], 0, "chat marks what it showed as read");
}

/// The next line of the chat's output that starts with `#seq `; the lines before it are
/// added to `notices`.
async fn shown(lines: &mut Lines<BufReader<ChildStdout>>, seq: u64, notices: &mut Vec<String>) -> String {
    let prefix = format!("#{seq} ");
    let wait = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with(&prefix) {
                return line;
            }
            notices.push(line);
        }
        panic!("chat ended before showing #{seq}");
    };
    tokio::time::timeout(Duration::from_secs(15), wait).await.unwrap_or_else(|_| panic!("chat never showed #{seq}"))
}

#[tokio::test]
async fn chat_sends_a_line_again_after_a_lost_ack_and_keeps_going() {
    let app = spawn_app().await;
    let (bob, _events) = app.user("bob").await;
    let (ann, _ann_events) = app.user("ann").await;
    ann.group_create("team", &["bob".to_owned()]).await.unwrap();
    let mut joint = Joint::new(&app);
    joint.broker = proxy_losing_the_first_ack(app.addr).await.to_string();
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);

    // Off a terminal: lines in on stdin, messages out on stdout.
    let mut chat = joint.command(&["chat", "team"]).spawn().unwrap();
    let mut input = chat.stdin.take().unwrap();
    let mut lines = BufReader::new(chat.stdout.take().unwrap()).lines();
    let mut notices = Vec::new();
    input.write_all(b"through the blip\n").await.unwrap();
    assert!(shown(&mut lines, 1, &mut notices).await.ends_with(" ANN (ann): through the blip"));
    bob.publish("team", "after the blip").await.unwrap();
    assert!(shown(&mut lines, 2, &mut notices).await.ends_with(" BOB (bob): after the blip"));
    input.write_all(b"still here\n").await.unwrap();
    assert!(shown(&mut lines, 3, &mut notices).await.ends_with(" ANN (ann): still here"));
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(10), chat.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(notices.iter().any(|n| n == "Not acknowledged yet; sending again…"), "{notices:?}");

    let history = bob.history("team", None, None, None, None).await.unwrap();
    let bodies: Vec<_> = history.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["through the blip", "after the blip", "still here"], "the lost ack doubled nothing");
}
