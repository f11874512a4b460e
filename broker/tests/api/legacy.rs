//! `import-legacy`: the old chat's accounts, groups and memberships come into Joint, with
//! a report of everything that could not, and a second run imports nothing new.

use crate::helpers::*;
use joint_broker::legacy::{self, ImportOptions, Outcome, Renames, Report};
use joint_broker::settings::Settings;

/// A database with the old chat's schema and awkward data, dropped at the end.
struct OldChat {
    url: String,
    _db: TestDb,
}

impl OldChat {
    async fn create() -> OldChat {
        let db = TestDb::empty().await;
        let old = db.sql().await;
        // The old schema as the seed describes it: no foreign key from chats.admin.
        old.batch_execute(
            "CREATE TABLE users (login varchar(60) PRIMARY KEY, name varchar(60), password varchar(60));
             CREATE TABLE chats (name varchar(60) PRIMARY KEY, admin varchar(60));
             CREATE TABLE users_to_chats (login varchar(60) REFERENCES users, chat varchar(60) REFERENCES chats,
                                          PRIMARY KEY (login, chat));",
        )
        .await
        .unwrap();
        let long = "x".repeat(60);
        let users: [(&str, &str, &str); 10] = [
            ("ann", "Ann Lee", "ann-old-pass"),
            ("BOB", "Боб Иванов", "bob-old-pass"),
            ("Иван", "Иван Петров", "ivan-old-pass"),
            (&long, "Long Login", "long-old-pass"),
            ("shorty", "Short Password", "123"),
            ("alice", "Alice", "alice-old-pass"),
            ("Alice", "Alice Too", "alice2-old-pass"),
            ("taken", "Not The Joint Taken", "taken-old-pass"),
            ("nameless", "", "nameless-pass"),
            ("root", "Root", "root-old-pass"),
        ];
        for (login, name, password) in users {
            old.execute("INSERT INTO users VALUES ($1, $2, $3)", &[&login, &name, &password]).await.unwrap();
        }
        for (chat, admin) in [
            ("all", None),
            ("Друзья", Some("ann")),
            ("orphans", Some("ghost")),
            ("team", Some("Иван")),
            ("a/b", Some("ann")),
        ] {
            old.execute("INSERT INTO chats VALUES ($1, $2)", &[&chat, &admin]).await.unwrap();
        }
        for (login, chat) in [
            ("ann", "all"),
            ("BOB", "all"),
            ("ann", "Друзья"),
            ("BOB", "Друзья"),
            ("Иван", "Друзья"),
            ("shorty", "Друзья"),
            ("alice", "team"),
            ("Иван", "team"),
        ] {
            old.execute("INSERT INTO users_to_chats VALUES ($1, $2)", &[&login, &chat]).await.unwrap();
        }
        OldChat { url: db.url.clone(), _db: db }
    }
}

async fn run(settings: &Settings, old: &OldChat, dry_run: bool, maps: &[(&str, &str)]) -> Report {
    let renames =
        Renames { logins: maps.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(), ..Renames::default() };
    let options = ImportOptions { from: old.url.clone(), renames, dry_run };
    let report = legacy::import(settings, &options).await.expect("the import runs");
    println!("{report}");
    report
}

fn outcome_of(entries: &[legacy::Entry], legacy: &str) -> (Outcome, Option<String>, String) {
    let entry = entries.iter().find(|e| e.legacy == legacy).unwrap_or_else(|| panic!("no entry for {legacy:?}"));
    (entry.outcome, entry.joint.clone(), entry.detail.clone())
}

#[tokio::test]
async fn the_old_chat_comes_over_with_a_report_and_a_second_run_imports_nothing() {
    let old = OldChat::create().await;
    // root is an operator's login here: no old account may become an operator.
    let app = spawn_app_with(|s| s.operators = vec!["root".into()]).await;
    app.user("taken").await;
    let count_users = || async {
        let row = app.db.sql().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap();
        row.get::<_, i64>(0)
    };
    let before = count_users().await;

    // A dry run reports everything and writes nothing.
    let dry = run(&app.settings, &old, true, &[]).await;
    assert!(dry.dry_run && dry.imported_anything());
    assert_eq!(count_users().await, before, "a dry run writes nothing");
    assert!(dry.to_string().contains("dry run: nothing was written"));

    let report = run(&app.settings, &old, false, &[]).await;
    let accounts = &report.accounts;
    assert_eq!(outcome_of(accounts, "ann").0, Outcome::Imported);
    let (bob, bob_login, bob_detail) = outcome_of(accounts, "BOB");
    assert_eq!((bob, bob_login.as_deref()), (Outcome::Imported, Some("bob")));
    assert!(bob_detail.contains("login lowercased"), "{bob_detail}");
    let (ivan, _, ivan_detail) = outcome_of(accounts, "Иван");
    assert_eq!(ivan, Outcome::NotImported);
    assert!(ivan_detail.contains("--map 'Иван=ivan'"), "{ivan_detail}");
    let (long, _, long_detail) = outcome_of(accounts, &"x".repeat(60));
    assert_eq!(long, Outcome::NotImported);
    assert!(long_detail.contains("3 to 32") && long_detail.contains(&"x".repeat(32)), "{long_detail}");
    assert!(outcome_of(accounts, "shorty").2.contains("password must be 8 to 1024 bytes long"));
    assert_eq!(outcome_of(accounts, "alice").0, Outcome::Imported);
    assert!(outcome_of(accounts, "Alice").2.contains("--map 'Alice=alice-2'"));
    assert!(outcome_of(accounts, "taken").2.contains("belongs to an account made in Joint"));
    let (nameless, _, nameless_detail) = outcome_of(accounts, "nameless");
    assert_eq!(nameless, Outcome::Imported);
    assert!(nameless_detail.contains("named \"nameless\""), "{nameless_detail}");
    let (root, _, root_detail) = outcome_of(accounts, "root");
    assert_eq!(root, Outcome::NotImported);
    assert!(root_detail.contains("is an operator's"), "{root_detail}");

    let groups = &report.groups;
    assert_eq!(outcome_of(groups, "Друзья").0, Outcome::Imported);
    assert_eq!(outcome_of(groups, "all").0, Outcome::AlreadyImported);
    assert!(outcome_of(groups, "orphans").2.contains("its admin \"ghost\" is not an account of the old chat"));
    assert!(outcome_of(groups, "team").2.contains("its admin \"Иван\" was not imported"));
    assert!(outcome_of(groups, "a/b").2.contains("--map-group 'a/b=a-b'"));
    // ann is Друзья's admin (added as such), bob joins; Иван and shorty did not come over;
    // alice's team did not come over.
    assert_eq!((report.memberships.added, report.memberships.present), (1, 1));
    let refused: Vec<_> = report.memberships.refused.iter().map(|e| (e.legacy.as_str(), e.detail.as_str())).collect();
    assert!(refused.contains(&("\"Иван\" in \"Друзья\"", "the account was not imported")), "{refused:?}");
    assert!(refused.contains(&("\"alice\" in \"team\"", "the chat was not imported")), "{refused:?}");

    // The imported people sign in with their old passwords, under their Joint logins, and
    // find their groups; the stored passwords are scrypt hashes.
    let (bob_client, _events) = app.client().await;
    bob_client.login("bob", "bob-old-pass").await.expect("bob signs in with his old password");
    let mut names: Vec<String> = bob_client.groups().await.unwrap().into_iter().map(|g| g.name).collect();
    names.sort();
    assert_eq!(names, ["all", "Друзья"]);
    let friends = bob_client.groups().await.unwrap().into_iter().find(|g| g.name == "Друзья").unwrap();
    assert_eq!((friends.admin.as_deref(), friends.members), (Some("ann"), 2));
    assert_eq!(bob_client.me().await.unwrap().name, "Боб Иванов");
    let stored: String =
        app.db.sql().await.query_one("SELECT password FROM users WHERE login = 'bob'", &[]).await.unwrap().get(0);
    assert!(stored.starts_with("$scrypt$") && !stored.contains("bob-old-pass"), "{stored}");
    let (taken, _e) = app.client().await;
    assert_eq!(code(taken.login("taken", "taken-old-pass").await), joint_wire::ErrorCode::BadCredentials);

    // An admin removes bob from Друзья in Joint: no later run puts him back.
    let (ann, _ann_events) = app.client().await;
    ann.login("ann", "ann-old-pass").await.unwrap();
    ann.member_remove("Друзья", &["bob".to_string()]).await.unwrap();

    // Idempotent: the same run again imports nothing new.
    let again = run(&app.settings, &old, false, &[]).await;
    assert!(!again.imported_anything());
    assert_eq!(outcome_of(&again.accounts, "ann").0, Outcome::AlreadyImported);
    assert_eq!(outcome_of(&again.groups, "Друзья").0, Outcome::AlreadyImported);
    assert_eq!((again.memberships.added, again.memberships.present), (0, 2));
    assert!(again.to_string().contains("Nothing new to import."));
    let after_second = count_users().await;

    // The operator's --map brings Иван, and with him his team and his memberships.
    let mapped = run(&app.settings, &old, false, &[("Иван", "ivan")]).await;
    assert_eq!(outcome_of(&mapped.accounts, "Иван").1.as_deref(), Some("ivan"));
    assert_eq!(outcome_of(&mapped.groups, "team").0, Outcome::Imported);
    // Иван joins Друзья and alice joins team; Иван's own row for team is there already,
    // added with the group as its admin.
    assert_eq!((mapped.memberships.added, mapped.memberships.present), (2, 3));
    assert_eq!(count_users().await, after_second + 1);
    let (ivan_client, _e) = app.client().await;
    ivan_client.login("ivan", "ivan-old-pass").await.unwrap();
    let members = ann.members("Друзья", None, None).await.unwrap();
    let logins: Vec<&str> = members.members.iter().map(|m| m.login.as_str()).collect();
    assert_eq!(logins, ["ann", "ivan"], "bob stays removed");
}

#[tokio::test]
async fn a_database_without_the_old_tables_is_refused_clearly() {
    let app = spawn_app().await;
    let options = ImportOptions { from: app.db.url.clone(), renames: Renames::default(), dry_run: true };
    let err = legacy::import(&app.settings, &options).await.expect_err("Joint's own database is not the old chat's");
    let text = format!("{err:#}");
    assert!(text.contains("reading table \"users\"") || text.contains("reading table \"chats\""), "{text}");
}

#[tokio::test]
async fn the_binary_prints_the_report_and_a_dry_run_writes_nothing() {
    let old = OldChat::create().await;
    let db = TestDb::create().await;
    // The test server trusts every connection, so a password in the URL is only there to be
    // kept out of the report.
    let from = old.url.replacen("postgres@", "postgres:Old-Db-Secret-9@", 1);
    let run = |extra: &[&str]| {
        let mut command = broker_command();
        command.args(["import-legacy", "--from", &from, "--database-url", &db.url, "--scrypt-log-n", "4"]);
        command.args(extra).env("RUST_LOG", "warn").output().expect("the broker binary runs")
    };
    let dry = run(&["--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let report = String::from_utf8_lossy(&dry.stdout);
    assert!(report.contains("(dry run: nothing was written)"), "{report}");
    assert!(report.contains("+ \"ann\" -> \"ann\": named \"Ann Lee\""), "{report}");
    let users: i64 = db.sql().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 0);

    let real = run(&["--map", "Иван=ivan"]);
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    let report = String::from_utf8_lossy(&real.stdout);
    assert!(report.contains("+ \"Иван\" -> \"ivan\""), "{report}");
    assert!(report.contains("postgres:***@127.0.0.1"), "{report}");
    assert!(
        !report.contains("ivan-old-pass") && !report.contains("Old-Db-Secret-9"),
        "no password in the report: {report}"
    );
    let users: i64 = db.sql().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(users, 7, "ann, bob, ivan, alice, taken, nameless, root (no operators here)");
}
