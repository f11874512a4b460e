//! Migration 0008: the messages table of a database at version 7 becomes 16 hash partitions
//! by gid in place, with every row, key, check, grant and tombstone count kept.

use crate::helpers::*;
use joint_broker::store::Store;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// Every stored message, in key order.
const ALL_ROWS: &str = "SELECT gid, seq, sender_id, cid, name, body, at, deleted FROM messages ORDER BY gid, seq";

type Row = (i64, i64, i64, Option<String>, String, String, i64, bool);

async fn rows(sql: &tokio_postgres::Client) -> Vec<Row> {
    let rows = sql.query(ALL_ROWS, &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7))).collect()
}

#[tokio::test]
async fn migration_8_partitions_messages_keeping_every_row_and_key() {
    init_logs();
    let db = TestDb::empty().await;
    let old = Store::new(&db.url, 1, Duration::from_secs(10)).unwrap();
    old.migrate_to(7).await.unwrap();
    let sql = db.sql().await;
    let reader = unique("reader");
    sql.batch_execute(&format!(
        "INSERT INTO users (login, name, password) VALUES ('ann', 'Ann', 'x'), ('bob', 'Bob', 'x');
         INSERT INTO groups (name, last_seq) SELECT 'g' || i, 40 FROM generate_series(1, 50) i;
         INSERT INTO messages (gid, seq, sender_id, cid, name, body, at)
         SELECT g.gid, s, 1 + s % 2, CASE WHEN s % 3 = 0 THEN NULL ELSE 'c' || s END, 'N', 'body ' || s, 1000 + s
         FROM groups g, generate_series(1, 40) s WHERE g.name <> 'all';
         UPDATE messages SET body = '', deleted = true WHERE seq % 7 = 0 AND gid % 2 = 0;
         CREATE ROLE {reader};
         GRANT SELECT ON messages TO {reader};"
    ))
    .await
    .unwrap();
    let before = rows(&sql).await;
    assert_eq!(before.len(), 50 * 40);

    let applied = old.migrate().await.unwrap();
    assert_eq!(applied.iter().map(|m| m.version).collect::<Vec<_>>(), vec![8]);
    let after = rows(&sql).await;
    assert_eq!(after, before, "every row kept as it was");

    let kind: i8 =
        sql.query_one("SELECT relkind::\"char\" FROM pg_class WHERE relname = 'messages'", &[]).await.unwrap().get(0);
    assert_eq!(kind as u8, b'p', "messages is partitioned");
    let used: Vec<i64> = sql
        .query("SELECT count(*) FROM messages GROUP BY tableoid", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(used.len() > 8, "50 groups spread over the 16 partitions: {used:?}");
    let partitions: i64 = sql
        .query_one("SELECT count(*) FROM pg_inherits WHERE inhparent = 'messages'::regclass", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(partitions, 16);
    let granted: bool = sql
        .query_one(&format!("SELECT has_table_privilege('{reader}', 'messages', 'SELECT')"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(granted, "the grant followed the table");
    let miscounted: i64 = sql
        .query_one(
            "SELECT count(*) FROM groups g
             WHERE g.tombstones <> (SELECT count(*) FROM messages m WHERE m.gid = g.gid AND m.deleted)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(miscounted, 0, "each group's tombstone count is its deleted messages");

    // The keys still hold, across partitions as within one.
    let (gid, sender): (i64, i64) = (before[0].0, before[0].2);
    let refusals = [
        format!("INSERT INTO messages (gid, seq, sender_id, cid, name, body, at) VALUES ({gid}, 1, 2, NULL, 'N', 'b', 0)"),
        format!("INSERT INTO messages (gid, seq, sender_id, cid, name, body, at) VALUES ({gid}, 99, {sender}, 'c1', 'N', 'b', 0)"),
    ];
    for insert in refusals {
        let err = sql.execute(insert.as_str(), &[]).await.unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{insert}");
    }
    let tombstone_with_body =
        format!("INSERT INTO messages (gid, seq, sender_id, cid, name, body, at, deleted) VALUES ({gid}, 99, 1, NULL, 'N', 'b', 0, true)");
    let err = sql.execute(tombstone_with_body.as_str(), &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::CHECK_VIOLATION));
    sql.batch_execute(&format!("REVOKE ALL ON messages FROM {reader}; DROP ROLE {reader}")).await.unwrap();

    // The broker works on the converted table: a repeated cid gets its first seq.
    let db = std::sync::Arc::new(db);
    let app = spawn_on(db.clone(), Settings::for_tests(&db.url)).await;
    let (carl, _e) = app.user("carl").await;
    carl.group_create("Team", &[]).await.unwrap();
    let first = carl.publish_with_cid("Team", "hello", "k1").await.unwrap();
    let again = carl.publish_with_cid("Team", "hello", "k1").await.unwrap();
    assert_eq!((first.seq, again.seq), (1, 1));
    let page = carl.history("Team", None, None, None, None).await.unwrap();
    assert_eq!(page.messages.len(), 1);
}
