//! Applies the migrations in `sql/` on start, each in its own transaction, under a
//! PostgreSQL advisory lock so that brokers starting together apply each one once.

use crate::error::BrokerError;
use deadpool_postgres::Object;

/// One migration file: its number, its file name and its SQL.
pub struct Migration {
    /// Its number, recorded in `schema_migrations` once applied.
    pub version: i32,
    /// Its file name under `sql/`.
    pub name: &'static str,
    /// Its statements, run in one transaction.
    pub sql: &'static str,
}

/// Every migration, in order. Files are never edited after they land; changes add files.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_users_and_sessions.sql",
        sql: include_str!("../../../sql/0001_users_and_sessions.sql"),
    },
    Migration { version: 2, name: "0002_groups.sql", sql: include_str!("../../../sql/0002_groups.sql") },
    Migration { version: 3, name: "0003_messages.sql", sql: include_str!("../../../sql/0003_messages.sql") },
    Migration { version: 4, name: "0004_moderation.sql", sql: include_str!("../../../sql/0004_moderation.sql") },
    Migration {
        version: 5,
        name: "0005_legacy_imports.sql",
        sql: include_str!("../../../sql/0005_legacy_imports.sql"),
    },
    Migration {
        version: 6,
        name: "0006_cluster_presence.sql",
        sql: include_str!("../../../sql/0006_cluster_presence.sql"),
    },
    Migration { version: 7, name: "0007_limits.sql", sql: include_str!("../../../sql/0007_limits.sql") },
    Migration { version: 8, name: "0008_read_scaling.sql", sql: include_str!("../../../sql/0008_read_scaling.sql") },
];

/// An arbitrary constant naming Joint's migration lock.
const MIGRATION_LOCK: i64 = 0x4a6f_696e_7400;

/// Applies the migrations this database has not seen yet, up to and including version
/// `target`; returns those applied, in order.
pub async fn apply(client: &mut Object, target: i32) -> Result<Vec<&'static Migration>, BrokerError> {
    let internal = |e: tokio_postgres::Error| BrokerError::Internal(anyhow::Error::new(e).context("migrating"));
    // Pool connections end statements after a few seconds (see `Store::new`); waiting for
    // another broker's migrations, or a long migration, must not be cut short.
    client.batch_execute("SET statement_timeout = 0; SET lock_timeout = 0").await.map_err(internal)?;
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await.map_err(internal)?;
    let result = apply_locked(client, target).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    let reset = client.batch_execute("RESET statement_timeout; RESET lock_timeout").await;
    let applied = result?;
    unlocked.map_err(internal)?;
    reset.map_err(internal)?;
    Ok(applied)
}

async fn apply_locked(client: &mut Object, target: i32) -> Result<Vec<&'static Migration>, BrokerError> {
    let internal = |e: tokio_postgres::Error| BrokerError::Internal(anyhow::Error::new(e).context("migrating"));
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(internal)?;
    let applied: Vec<i32> = client
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(internal)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version <= target && !applied.contains(&m.version)) {
        let tx = client.transaction().await.map_err(internal)?;
        tx.batch_execute(migration.sql).await.map_err(|e| {
            BrokerError::Internal(anyhow::Error::new(e).context(format!("applying {}", migration.name)))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        tracing::info!(migration = migration.name, "applied migration");
        done.push(migration);
    }
    Ok(done)
}
