//! What `joint-broker status` reports: the schema version and how much the database holds.
//! Counts only, never a row's content.

use super::{db_error, migrate::MIGRATIONS, Store};
use crate::error::BrokerError;
use std::time::Duration;

/// A snapshot of the database for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The PostgreSQL server's version string.
    pub server_version: String,
    /// The highest migration applied (0 for a database the broker never migrated).
    pub schema_version: i32,
    /// The highest migration this broker knows.
    pub latest_version: i32,
    /// Counts of accounts, groups, messages and sessions; `None` until the schema is complete.
    pub counts: Option<Counts>,
}

/// How many rows of each kind the database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Accounts not deleted.
    pub users: i64,
    /// Groups not deleted.
    pub groups: i64,
    /// Stored messages.
    pub messages: i64,
    /// Sessions used within the token lifetime (the ones a client can still resume).
    pub live_sessions: i64,
}

impl Store {
    /// Reads the schema version and, when the schema is current, the counts.
    pub async fn status(&self, token_lifetime: Duration) -> Result<Status, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let server_version: String = client.query_one("SHOW server_version", &[]).await.map_err(db_error)?.get(0);
            let has_table: bool = client
                .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
                .await
                .map_err(db_error)?
                .get(0);
            let schema_version: i32 = if has_table {
                client
                    .query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])
                    .await
                    .map_err(db_error)?
                    .get(0)
            } else {
                0
            };
            let latest_version = MIGRATIONS.last().map_or(0, |m| m.version);
            let counts = if schema_version >= latest_version {
                let lifetime = i64::try_from(token_lifetime.as_secs()).unwrap_or(i64::MAX);
                let row = client
                    .query_one(
                        "SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL),
                                (SELECT count(*) FROM groups WHERE deleted_at IS NULL),
                                (SELECT count(*) FROM messages),
                                (SELECT count(*) FROM sessions
                                  WHERE last_used > now() - $1::bigint * interval '1 second')",
                        &[&lifetime],
                    )
                    .await
                    .map_err(db_error)?;
                Some(Counts { users: row.get(0), groups: row.get(1), messages: row.get(2), live_sessions: row.get(3) })
            } else {
                None
            };
            Ok(Status { server_version, schema_version, latest_version, counts })
        })
        .await
    }
}
