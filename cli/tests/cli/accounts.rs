//! Accounts: register, login, logout, whoami, passwd, name, account delete; the token file;
//! exit codes 1, 2 and 3.

use crate::helpers::Joint;
use joint_testkit::{password, spawn_app, spawn_on};
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn register_saves_a_private_session_that_later_commands_use() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    let run = joint.run_with(&["register", "ann", "--name", "Ann", "--password-stdin"], "pw-of-ann\n").await;
    run.expect(0);
    assert_eq!(run.stdout, "Registered and logged in as ann (Ann).\n");

    let file = joint.config_dir().join("tokens");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the token file is private");
    let dir_mode = std::fs::metadata(joint.config_dir()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o077, 0, "the config directory is private");
    let text = std::fs::read_to_string(&file).unwrap();
    let (key, token) = text.trim_end().split_once(' ').unwrap();
    assert_eq!(key, app.addr.to_string());
    assert_eq!(token.len(), 43);

    let run = joint.run(&["whoami"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "ann (Ann)\n");
    assert!(!run.stdout.contains(token) && !run.stderr.contains(token), "tokens are never printed");

    let json = joint.run(&["whoami", "--json"]).await;
    json.expect(0);
    let lines = json.json();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["user"]["login"], "ann");
    assert_eq!(lines[0]["user"]["name"], "Ann");
    assert_eq!(lines[0]["broker"], app.addr.to_string());
}

#[tokio::test]
async fn login_logout_and_refusals_in_english_and_russian() {
    let app = spawn_app().await;
    app.user("bob").await;
    let joint = Joint::new(&app);

    let run = joint.run(&["whoami"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: unauthenticated: You are not logged in: run `joint login`.\n");

    let wrong = joint.run_with(&["login", "bob", "--password-stdin"], "not-the-password\n").await;
    wrong.expect(2);
    assert_eq!(wrong.stderr, "joint: bad_credentials: Wrong login or password.\n");
    let wrong_ru = Joint::new(&app).with_lang("ru_RU.UTF-8");
    let run = wrong_ru.run_with(&["login", "bob", "--password-stdin"], "not-the-password\n").await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: bad_credentials: Неверный логин или пароль.\n");

    let run = joint.run_with(&["login", "bob", "--password-stdin", "--json"], &format!("{}\n", password("bob"))).await;
    run.expect(0);
    assert_eq!(run.json()[0]["user"]["login"], "bob");
    assert!(!run.stdout.contains("token"), "login --json does not print the token");
    joint.run(&["whoami"]).await.expect(0);

    let run = joint.run(&["logout"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Logged out.\n");
    assert_eq!(std::fs::read_to_string(joint.config_dir().join("tokens")).unwrap(), "", "the entry is gone");
    joint.run(&["whoami"]).await.expect(2);
}

#[tokio::test]
async fn a_dead_session_says_log_in_again_in_the_users_language() {
    let app = spawn_app().await;
    let joint = Joint::new(&app).with_lang("ru_RU.UTF-8");
    joint.register("ann").await;
    app.db.sql().await.execute("DELETE FROM sessions", &[]).await.unwrap();
    let run = joint.run(&["groups"]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: bad_token: Ваша сессия завершена: войдите снова.\n");
    let run = joint.run(&["--lang", "en", "groups"]).await;
    run.expect(2);
    assert_eq!(
        run.stderr, "joint: unauthenticated: You are not logged in: run `joint login`.\n",
        "the dead token was forgotten; --lang wins over LANG"
    );
}

#[tokio::test]
async fn name_passwd_and_account_delete() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);
    joint.register("ann").await;

    let run = joint.run(&["name", "Анна"]).await;
    run.expect(0);
    assert_eq!(run.stdout, "Your display name is now Анна.\n");
    let run = joint.run(&["name", " bad "]).await;
    run.expect(2);
    assert_eq!(run.stderr, "joint: invalid_argument: An argument is not valid. (field name)\n");

    let other = Joint::new(&app);
    other.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(0);
    let run = joint.run_with(&["passwd", "--password-stdin"], "pw-of-ann\nnew-password\n").await;
    run.expect(0);
    assert_eq!(run.stdout, "Password changed; your other sessions have ended.\n");
    joint.run(&["whoami"]).await.expect(0);
    other.run(&["whoami"]).await.expect(2);
    other.run_with(&["login", "ann", "--password-stdin"], "pw-of-ann\n").await.expect(2);
    other.run_with(&["login", "ann", "--password-stdin"], "new-password\n").await.expect(0);

    let run = joint.run_with(&["account", "delete", "--password-stdin"], "new-password\n").await;
    run.expect(1);
    assert_eq!(run.stderr, "joint: usage: not on a terminal: add --yes to confirm\n");
    let run = joint.run_with(&["account", "delete", "--password-stdin", "--yes"], "wrong-password\n").await;
    run.expect(2);
    let run = joint.run_with(&["account", "delete", "--password-stdin", "--yes", "--json"], "new-password\n").await;
    run.expect(0);
    assert_eq!(run.json(), vec![serde_json::json!({ "deleted": true })]);
    let run = joint.run_with(&["register", "ann", "--password-stdin"], "pw-of-ann\n").await;
    run.expect(2);
    assert!(run.stderr.starts_with("joint: login_taken: "), "{}", run.stderr);
}

#[tokio::test]
async fn exit_codes_for_usage_and_connection_errors() {
    let app = spawn_app().await;
    let joint = Joint::new(&app);

    // No flag takes a password: clap refuses it as a usage error (1, not clap's 2).
    let run = joint.run(&["login", "ann", "--password", "secret"]).await;
    run.expect(1);
    assert!(run.stderr.contains("--password"), "{}", run.stderr);
    joint.run(&["no-such-command"]).await.expect(1);
    joint.run(&["history", "all", "--limit", "many"]).await.expect(1);
    let help = joint.run(&["--help"]).await;
    help.expect(0);
    assert!(help.stdout.contains("Exit codes: 0 success, 1 usage error, 2 refused by the broker, 3 could not connect"));

    // A port nothing listens on: exit 3, with failover to a live broker working.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap().to_string();
    drop(listener);
    let run = joint.run(&["--broker", &dead, "whoami"]).await;
    run.expect(3);
    assert!(run.stderr.starts_with("joint: connect: could not connect to the broker: "), "{}", run.stderr);
    let run = joint
        .run_with(&["--broker", &format!("{dead},{}", app.addr), "register", "ann", "--password-stdin"], "pw-of-ann\n")
        .await;
    run.expect(0);
}

#[tokio::test]
async fn one_saved_session_per_broker_address() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    let joint = Joint::new(&first);
    joint.register("ann").await;
    let run = joint
        .run_with(&["--broker", &second.addr.to_string(), "register", "bob", "--password-stdin"], "pw-of-bob\n")
        .await;
    run.expect(0);
    let text = std::fs::read_to_string(joint.config_dir().join("tokens")).unwrap();
    let keys: Vec<_> = text.lines().map(|line| line.split_once(' ').unwrap().0).collect();
    assert_eq!(keys, [first.addr.to_string(), second.addr.to_string()]);
    assert_eq!(joint.run(&["whoami"]).await.stdout, "ann (ann)\n");
    assert_eq!(joint.run(&["--broker", &second.addr.to_string(), "whoami"]).await.stdout, "bob (bob)\n");

    // A list finds the session saved for any of its addresses: the first that has one.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = listener.local_addr().unwrap().to_string();
    drop(listener);
    let list = format!("{dead},{}", first.addr);
    let output = joint.command(&["whoami", "--json"]).env("JOINT_BROKER", &list).output().await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["user"]["login"], "ann");
    assert_eq!(value["broker"], first.addr.to_string(), "the live broker of the list answered");
}

#[tokio::test]
async fn a_session_saved_for_an_address_list_is_found_by_each_address() {
    // Two brokers of one cluster: the same database.
    let first = spawn_app().await;
    let second = spawn_on(first.db.clone(), first.settings.clone()).await;
    let (a, b) = (first.addr.to_string(), second.addr.to_string());
    let joint = Joint::new(&first);
    first.user("ann").await;
    let run =
        joint.run_with(&["--broker", &format!("{a},{b}"), "login", "ann", "--password-stdin"], "pw-of-ann\n").await;
    run.expect(0);
    let text = std::fs::read_to_string(joint.config_dir().join("tokens")).unwrap();
    let entries: Vec<(&str, &str)> = text.lines().map(|line| line.split_once(' ').unwrap()).collect();
    let keys: Vec<&str> = entries.iter().map(|(key, _)| *key).collect();
    assert_eq!(keys, [a.as_str(), b.as_str()], "one entry per broker address");
    assert_eq!(entries[0].1, entries[1].1, "the same session");
    for (list, answering) in [(a.clone(), &a), (b.clone(), &b), (format!("{b},{a}"), &b)] {
        let run = joint.run(&["--broker", &list, "whoami", "--json"]).await;
        run.expect(0);
        assert_eq!(run.json()[0]["user"]["login"], "ann", "--broker {list}");
        assert_eq!(&run.json()[0]["broker"], answering.as_str());
    }

    // Logging out through one address forgets the session under every address of the list.
    joint.run(&["--broker", &format!("{b},{a}"), "logout"]).await.expect(0);
    assert_eq!(std::fs::read_to_string(joint.config_dir().join("tokens")).unwrap(), "");
    joint.run(&["--broker", &a, "whoami"]).await.expect(2);
}
