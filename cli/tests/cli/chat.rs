//! `joint chat` driven through a pseudo-terminal, as a person would use it.

use crate::helpers::Joint;
use expectrl::{Eof, Session, WaitStatus};
use joint_testkit::spawn_app;
use std::time::Duration;

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
