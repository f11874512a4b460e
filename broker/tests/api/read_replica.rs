//! History from a streaming-replication hot standby (`--read-database-url`): served by the
//! standby when it has replayed what the page needs, by the primary otherwise, and never
//! past a membership or a deletion the standby has not replayed yet.

use crate::helpers::*;
use joint_wire::message::Message;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A primary, its standby and a broker on the primary reading history from the standby.
struct Replicated {
    primary: PrivatePg,
    standby: PrivatePg,
    app: TestApp,
}

async fn replicated() -> Replicated {
    init_logs();
    let primary = PrivatePg::start();
    let standby = primary.standby();
    let mut settings = Settings::for_tests(&primary.url());
    settings.read_database_url = Some(standby.url());
    settings.metrics_listen = Some("127.0.0.1:0".into());
    let app = spawn_on(TestDb::external(&primary.url()), settings).await;
    Replicated { primary, standby, app }
}

impl Replicated {
    async fn standby_sql(&self) -> tokio_postgres::Client {
        TestDb::external(&self.standby.url()).sql().await
    }

    /// Waits until the standby has replayed everything the primary has written so far.
    async fn caught_up(&self) {
        let primary = TestDb::external(&self.primary.url()).sql().await;
        let lsn: String = primary.query_one("SELECT pg_current_wal_lsn()::text", &[]).await.unwrap().get(0);
        let standby = self.standby_sql().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let done: bool =
                standby.query_one("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", &[&lsn]).await.unwrap().get(0);
            if done {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the standby did not replay {lsn}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn pause_replay(&self) {
        self.standby_sql().await.execute("SELECT pg_wal_replay_pause()", &[]).await.unwrap();
    }

    /// History pages served so far by (the primary, the standby), from the metrics.
    async fn pages(&self) -> (f64, f64) {
        let addr = self.app.metrics.expect("metrics asked for");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let sample = |name: &str| -> f64 {
            response
                .lines()
                .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
                .unwrap_or_else(|| panic!("{name} missing from:\n{response}"))
                .parse()
                .unwrap()
        };
        (sample("joint_history_pages_primary_total"), sample("joint_history_pages_standby_total"))
    }
}

fn bodies(messages: &[Message]) -> Vec<(u64, String, bool)> {
    messages.iter().map(|m| (m.seq, m.body.clone(), m.deleted)).collect()
}

/// Publishes "m{n}" to Team for each n of `range`, as `caller`: the bodies [`numbered`] expects.
async fn publish_numbered(caller: &joint_wire::Client, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        caller.publish("Team", &format!("m{n}")).await.unwrap();
    }
}

fn numbered(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, String, bool)> {
    range.map(|n| (n, format!("m{n}"), false)).collect()
}

#[tokio::test]
async fn history_is_read_from_a_standby_that_has_replayed_it() {
    let r = replicated().await;
    let (ann, _e) = r.app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    publish_numbered(&ann, 1..=5).await;
    r.caught_up().await;

    let page = ann.history("Team", None, None, None, None).await.unwrap();
    assert_eq!(bodies(&page.messages), numbered(1..=5));
    assert_eq!(page.last_seq, 5);
    let page = ann.history("Team", None, None, Some(2), Some(2)).await.unwrap();
    assert_eq!((bodies(&page.messages), page.more), (numbered(3..=4), true));
    assert_eq!(r.pages().await, (0.0, 2.0), "both pages came from the standby");
}

#[tokio::test]
async fn with_replay_paused_history_of_a_newer_seq_comes_from_the_primary() {
    let r = replicated().await;
    let (ann, _e) = r.app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    publish_numbered(&ann, 1..=3).await;
    r.caught_up().await;
    r.pause_replay().await;
    publish_numbered(&ann, 4..=6).await;

    let newest = ann.history("Team", None, None, None, None).await.unwrap();
    assert_eq!(bodies(&newest.messages), numbered(1..=6), "the page is complete");
    assert_eq!(newest.last_seq, 6);
    let after = ann.history("Team", None, None, Some(1), None).await.unwrap();
    assert_eq!(bodies(&after.messages), numbered(2..=6));
    assert_eq!(r.pages().await, (2.0, 0.0), "the standby holds only seqs 1..3");

    // A window that ends at what the standby holds is still read there.
    let old = ann.history("Team", None, Some(4), None, None).await.unwrap();
    assert_eq!(bodies(&old.messages), numbered(1..=3));
    assert_eq!(old.last_seq, 6, "last_seq is the primary's");
    assert_eq!(r.pages().await, (2.0, 1.0));
}

#[tokio::test]
async fn a_deletion_the_standby_has_not_replayed_never_shows_the_message_again() {
    let r = replicated().await;
    let (ann, _e) = r.app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    publish_numbered(&ann, 1..=3).await;
    r.caught_up().await;
    r.pause_replay().await;
    ann.message_delete("Team", 2).await.unwrap();

    let page = ann.history("Team", None, None, None, None).await.unwrap();
    let expected = vec![(1, "m1".to_owned(), false), (2, String::new(), true), (3, "m3".to_owned(), false)];
    assert_eq!(bodies(&page.messages), expected, "the tombstone, not the message");
    assert_eq!(r.pages().await, (1.0, 0.0));
    let standby_body: String =
        r.standby_sql().await.query_one("SELECT body FROM messages WHERE seq = 2", &[]).await.unwrap().get(0);
    assert_eq!(standby_body, "m2", "the standby still holds the message: the primary had to answer");
}

#[tokio::test]
async fn a_member_removed_while_replay_is_paused_cannot_read_history() {
    let r = replicated().await;
    let (ann, _a) = r.app.user("ann").await;
    let (bob, _b) = r.app.user("bob").await;
    ann.group_create("Team", &["bob".to_owned()]).await.unwrap();
    ann.publish("Team", "m1").await.unwrap();
    r.caught_up().await;
    assert_eq!(bob.history("Team", None, None, None, None).await.unwrap().messages.len(), 1);
    r.pause_replay().await;
    ann.member_remove("Team", &["bob".to_owned()]).await.unwrap();

    let refused = bob.history("Team", None, None, None, None).await;
    assert_eq!(code(refused), joint_wire::ErrorCode::NotMember);
    let on_standby: i64 = r
        .standby_sql()
        .await
        .query_one("SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.login = 'bob'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(on_standby, 2, "the standby still lists bob in all and Team");
}

#[tokio::test]
async fn history_still_works_with_the_standby_stopped() {
    let r = replicated().await;
    let (ann, _e) = r.app.user("ann").await;
    ann.group_create("Team", &[]).await.unwrap();
    ann.publish("Team", "m1").await.unwrap();
    r.caught_up().await;
    assert_eq!(bodies(&ann.history("Team", None, None, None, None).await.unwrap().messages), numbered(1..=1));
    assert_eq!(r.pages().await, (0.0, 1.0));

    r.standby.stop("fast");
    ann.publish("Team", "m2").await.unwrap();
    for _ in 0..3 {
        let page = ann.history("Team", None, None, None, None).await.unwrap();
        assert_eq!(bodies(&page.messages), numbered(1..=2));
    }
    assert_eq!(r.pages().await, (3.0, 1.0));
}
