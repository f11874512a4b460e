//! `joint-broker migrate` and `joint-broker status`, run as the real binary: an old schema
//! brought up to date with its data kept, and a status report that counts without telling
//! a secret.

use crate::helpers::*;
use joint_broker::store::migrate::MIGRATIONS;
use joint_broker::store::Store;
use std::process::Output;
use std::time::Duration;

fn run(args: &[&str]) -> Output {
    broker_command().args(args).env("RUST_LOG", "warn").output().expect("the broker binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn migrate_brings_an_old_schema_up_to_date_and_keeps_its_data() {
    let db = TestDb::empty().await;
    // A database left by a release that knew only the first two migrations, with an account.
    let old = Store::new(&db.url, 1, Duration::from_secs(10)).unwrap();
    let applied = old.migrate_to(2).await.unwrap();
    assert_eq!(applied.len(), 2);
    drop(old);
    let sql = db.sql().await;
    sql.execute("INSERT INTO users (login, name, password) VALUES ('ann', 'Ann', 'x')", &[]).await.unwrap();

    let status = run(&["status", "--database-url", &db.url]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let report = text(&status.stdout);
    // Numbers may have gaps while branches land their migrations: the latest is the last's.
    let n = MIGRATIONS.last().unwrap().version;
    let pending = format!("schema version: 2 of {n} ({} migration(s) pending: run `joint-broker migrate`)", n - 2);
    assert!(report.contains(&pending), "{report}");

    let migrate = run(&["migrate", "--database-url", &db.url]);
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));
    let applied: String =
        MIGRATIONS[2..].iter().map(|m| format!("applied {} (version {})\n", m.name, m.version)).collect();
    assert_eq!(text(&migrate.stdout), format!("{applied}schema version {n} of {n}\n"));
    let versions: Vec<i32> = sql
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
    let ann: i64 = sql.query_one("SELECT count(*) FROM users WHERE login = 'ann'", &[]).await.unwrap().get(0);
    assert_eq!(ann, 1, "the account survived the upgrade");

    let again = run(&["migrate", "--database-url", &db.url]);
    assert!(again.status.success());
    assert_eq!(text(&again.stdout), format!("no migration to apply\nschema version {n} of {n}\n"));
}

#[tokio::test]
async fn status_counts_what_the_database_holds() {
    let app = spawn_app().await;
    let (ann, _e) = app.user("ann").await;
    app.user("bob").await;
    ann.group_create("Team", &["bob".to_string()]).await.unwrap();
    ann.publish("Team", "one").await.unwrap();
    ann.publish("Team", "two").await.unwrap();
    ann.publish("all", "three").await.unwrap();

    let status = run(&["status", "--database-url", &app.db.url]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let report = text(&status.stdout);
    assert!(report.starts_with("database: reachable at postgres://postgres@127.0.0.1:"), "{report}");
    let n = MIGRATIONS.last().unwrap().version;
    assert!(report.contains(&format!("schema version: {n} of {n}\n")), "{report}");
    // `all` and Team; one session per `user` call.
    assert!(report.contains("users: 2\ngroups: 2\nmessages: 3\nlive sessions: 2\n"), "{report}");
}

#[tokio::test]
async fn status_of_an_unreachable_database_fails_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let password = "Unreachable-db-Pa55";
    let url = format!("postgres://joint:{password}@127.0.0.1:{port}/joint");
    let status = run(&["status", "--database-url", &url, "--db-timeout-ms", "1000"]);
    assert_eq!(status.status.code(), Some(1));
    let err = text(&status.stderr);
    assert!(
        err.contains(&format!("the database at postgres://joint:***@127.0.0.1:{port}/joint is unreachable")),
        "{err}"
    );
    assert!(!err.contains(password) && !text(&status.stdout).contains(password));
}

#[tokio::test]
async fn an_operator_account_is_made_by_user_create_and_nobody_can_register_it_first() {
    let app = spawn_app_with(|s| s.operators = vec!["boss".into()]).await;
    let (squatter, _e) = app.client().await;
    let refused = squatter.register("boss", "Not The Boss", "password-123").await;
    assert_eq!(
        code(refused),
        joint_wire::ErrorCode::NotAllowed,
        "registration is open, but not for an operator's login"
    );

    let create = |login: &str, stdin: &str| {
        let mut child = broker_command()
            .args(["user-create", "--login", login, "--name", "The Boss", "--database-url", &app.db.url])
            .args(["--scrypt-log-n", "4", "--scrypt-r", "1", "--operator", "boss"])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the broker binary runs");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let made = create("boss", "Boss-Pa55word\n");
    assert!(made.status.success(), "{}", text(&made.stderr));
    assert_eq!(text(&made.stdout), "created account boss named \"The Boss\" (an operator of this configuration)\n");
    let again = create("boss", "Boss-Pa55word\n");
    assert!(!again.status.success() && text(&again.stderr).contains("taken"), "{}", text(&again.stderr));
    let short = create("cat", "short\n");
    assert!(!short.status.success() && text(&short.stderr).contains("8 to 1024 bytes"), "{}", text(&short.stderr));

    let (boss, _be) = app.client().await;
    boss.login("boss", "Boss-Pa55word").await.expect("the operator signs in with the password given on stdin");
    app.user("eve").await;
    boss.user_disable("eve").await.expect("and may use operator operations");
}
