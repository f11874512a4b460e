//! README's backup and restore procedure, run for real: pg_dump of a live database,
//! changes made after the backup (which the restore loses), pg_restore into a fresh
//! database, the gid sequence moved on, a broker started on it and a client resuming. What
//! the client sees is what README promises: its saved session still works, `after` beyond
//! the restored last_seq is refused, a group re-created after the backup is gone by gid,
//! and a group made after the restore never reuses a gid handed out before it.

use crate::helpers::*;
use joint_wire::message::Event;
use joint_wire::ErrorCode;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One of PostgreSQL's programs (pg_dump, pg_restore), from JOINT_TEST_PG_BIN.
fn pg_program(name: &str) -> Command {
    let bin = std::env::var("JOINT_TEST_PG_BIN").expect("JOINT_TEST_PG_BIN names PostgreSQL's bin directory");
    Command::new(PathBuf::from(bin).join(name))
}

fn run(mut command: Command) {
    let output = command.output().expect("the PostgreSQL program runs");
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// `pg_dump --format=custom`, as README says.
fn backup(url: &str, file: &Path) {
    let mut dump = pg_program("pg_dump");
    dump.args(["--format=custom", "--file"]).arg(file).args(["--dbname", url]);
    run(dump);
}

/// `pg_restore` into an empty database, as README says.
fn restore(file: &Path, url: &str) {
    let mut restore = pg_program("pg_restore");
    restore.args(["--no-owner", "--exit-on-error", "--dbname", url]).arg(file);
    run(restore);
}

async fn next_message(events: &mut joint_wire::Events) -> joint_wire::message::Message {
    loop {
        if let Event::Message(message) = next_event(events).await {
            return message;
        }
    }
}

#[tokio::test]
async fn a_restored_backup_serves_clients_that_resume_with_what_readme_promises() {
    let mut app = spawn_app().await;
    let (ann, _ann_events) = app.user("ann").await;
    let (bob, mut bob_events) = app.user("bob").await;
    let bob_token = bob.token().expect("bob is signed in");
    let team = ann.group_create("Team", &["bob".to_string()]).await.unwrap();
    bob.subscribe("Team", Some(team.gid), Some(0)).await.unwrap();
    for body in ["one", "two", "three"] {
        ann.publish("Team", body).await.unwrap();
        next_message(&mut bob_events).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("joint.dump");
    backup(&app.db.url, &dump);

    // After the backup: two more messages, then Team deleted and re-created with a new gid.
    for body in ["four", "five"] {
        ann.publish("Team", body).await.unwrap();
    }
    ann.group_delete("Team").await.unwrap();
    let recreated = ann.group_create("Team", &["bob".to_string()]).await.unwrap();
    assert_ne!(recreated.gid, team.gid);
    ann.publish("Team", "in the new Team").await.unwrap();
    app.stop().await;

    // Restore into a fresh database and move the gid sequence on, then serve it.
    let restored = TestDb::empty().await;
    restore(&dump, &restored.url);
    let sql = restored.sql().await;
    sql.batch_execute(
        "SELECT setval(pg_get_serial_sequence('groups', 'gid'), (SELECT max(gid) FROM groups) + 1000000)",
    )
    .await
    .unwrap();
    let mut settings = app.settings.clone();
    settings.database_url = restored.url.clone();
    let app = spawn_on(restored, settings).await;

    // The client resumes with its saved token.
    let (bob, mut bob_events) = app.client().await;
    bob.auth(&bob_token).await.expect("sessions saved before the backup still work");
    // It had seen seq 5 of the old Team: beyond the restored last_seq, refused.
    let beyond = bob.subscribe("Team", Some(team.gid), Some(5)).await;
    assert_eq!(code(beyond), ErrorCode::InvalidArgument);
    // The Team re-created after the backup does not exist: its gid says so.
    let gone = bob.subscribe("Team", Some(recreated.gid), Some(1)).await;
    assert_eq!(code(gone), ErrorCode::NoSuchGroup);
    // What the backup holds is served: resuming after seq 3 works, the next message is 4.
    let ok = bob.subscribe("Team", Some(team.gid), Some(3)).await.expect("the restored Team");
    assert_eq!(ok.last_seq, 3);
    let (ann, _e) = app.login("ann").await;
    assert_eq!(ann.publish("Team", "after the restore").await.unwrap().seq, 4);
    let message = next_message(&mut bob_events).await;
    assert_eq!((message.seq, message.body.as_str()), (4, "after the restore"));
    // A group made after the restore gets a gid no client saw before it.
    let fresh = ann.group_create("Fresh", &[]).await.unwrap();
    assert!(fresh.gid > recreated.gid, "{} must be beyond {}", fresh.gid, recreated.gid);
}
