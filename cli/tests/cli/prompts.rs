//! What a person sees on a terminal: passwords asked without echo, confirmations, and the
//! export progress bar, driven through a pseudo-terminal.

use crate::helpers::Joint;
use expectrl::{Eof, Session, WaitStatus};
use joint_testkit::spawn_app;
use std::time::Duration;

/// Runs `joint ARGS` on a pseudo-terminal, lets `drive` talk to it, and returns everything
/// it printed after the last expectation and its exit code.
async fn on_terminal(joint: &Joint, args: &[&str], drive: impl FnOnce(&mut Session) + Send + 'static) -> (String, i32) {
    let cmd = joint.std_command(args);
    tokio::task::spawn_blocking(move || {
        let mut session = Session::spawn(cmd).unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(15)));
        drive(&mut session);
        let rest = session.expect(Eof).unwrap();
        let status = session.get_process().wait().unwrap();
        let WaitStatus::Exited(_, code) = status else { panic!("{status:?}") };
        (String::from_utf8_lossy(rest.as_bytes()).into_owned(), code)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_asked_on_the_terminal_without_echo() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    let (rest, code) = on_terminal(&joint, &["register", "ann"], |t| {
        t.expect("New password: ").unwrap();
        t.send_line("secret-one").unwrap();
        t.expect("Repeat the new password: ").unwrap();
        t.send_line("secret-two").unwrap();
    })
    .await;
    assert_eq!(code, 1);
    assert!(rest.contains("joint: usage: the passwords do not match"), "{rest}");
    assert!(!rest.contains("secret"), "no echo: {rest}");

    let (rest, code) = on_terminal(&joint, &["--lang", "ru", "register", "ann"], |t| {
        t.expect("Новый пароль: ").unwrap();
        t.send_line("secret-one").unwrap();
        t.expect("Повторите новый пароль: ").unwrap();
        t.send_line("secret-one").unwrap();
    })
    .await;
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("Вы зарегистрированы и вошли как ann (ann)."), "{rest}");
    assert!(!rest.contains("secret"), "no echo: {rest}");

    joint.run(&["logout"]).await.expect(0);
    let (rest, code) = on_terminal(&joint, &["login", "ann"], |t| {
        t.expect("Password: ").unwrap();
        t.send_line("secret-one").unwrap();
    })
    .await;
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("Logged in as ann (ann)."), "{rest}");
    assert!(!rest.contains("secret"), "no echo: {rest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_delete_asks_for_confirmation_on_a_terminal() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    joint.register("ann").await;
    joint.run(&["group", "create", "team"]).await.expect(0);

    let (rest, code) = on_terminal(&joint, &["group", "delete", "team"], |t| {
        t.expect("Delete the group team and its whole history? [y/N] ").unwrap();
        t.send_line("n").unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(rest.contains("Cancelled."), "{rest}");
    joint.run(&["members", "team"]).await.expect(0);

    let (rest, code) = on_terminal(&joint, &["--lang", "ru", "group", "delete", "team"], |t| {
        t.expect("Удалить группу team и всю её историю? [д/Н] ").unwrap();
        t.send_line("да").unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(rest.contains("Группа team удалена."), "{rest}");
    joint.run(&["members", "team"]).await.expect(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_draws_a_progress_bar_on_a_terminal() {
    let app = spawn_app().await;
    let (ann, _events) = app.user("ann").await;
    ann.group_create("team", &[]).await.unwrap();
    for n in 1..=3 {
        ann.publish("team", &format!("m{n}")).await.unwrap();
    }
    let joint = Joint::new(&app);
    joint.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let (rest, code) = on_terminal(&joint, &["export", "team"], |t| {
        t.expect("\"body\":\"m3\"").unwrap();
    })
    .await;
    assert_eq!(code, 0);
    assert!(rest.contains(&format!("\r[{}] 3/3", "#".repeat(30))), "{rest:?}");
}
