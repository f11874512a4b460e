//! Presence across brokers: each broker's signed-in users and its heartbeat.

use super::{db_error, Store, UserId};
use crate::error::BrokerError;
use std::collections::HashSet;
use std::time::Duration;

/// Deletes the brokers unseen for `$1` seconds (their users' rows go with them) and returns
/// those users.
const FORGET_STALE: &str = "WITH gone AS (DELETE FROM brokers WHERE seen_at < now() - make_interval(secs => $1)
                                          RETURNING id)
                            SELECT DISTINCT user_id FROM online_users WHERE broker_id IN (SELECT id FROM gone)";

impl Store {
    /// This broker's heartbeat: refreshes its row, makes its users' rows exactly `online`
    /// (repairing any write that failed), and forgets brokers unseen for `stale`. Returns
    /// the users of the brokers forgotten, whose presence may have changed, and whether this
    /// broker's own row was new: at its first heartbeat, or when the others had forgotten it
    /// (a heartbeat that came too late), so that its users must be announced again.
    pub async fn heartbeat(&self, online: &[UserId], stale: Duration) -> Result<(Vec<UserId>, bool), BrokerError> {
        let id = self.id.to_string();
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let joined: bool = tx
                .query_one(
                    "INSERT INTO brokers (id, seen_at) VALUES ($1, now())
                     ON CONFLICT (id) DO UPDATE SET seen_at = now() RETURNING xmax = 0",
                    &[&id],
                )
                .await
                .map_err(db_error)?
                .get(0);
            tx.execute("DELETE FROM online_users WHERE broker_id = $1 AND user_id <> ALL($2)", &[&id, &online])
                .await
                .map_err(db_error)?;
            tx.execute(
                "INSERT INTO online_users (broker_id, user_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
                &[&id, &online],
            )
            .await
            .map_err(db_error)?;
            let rows = tx.query(FORGET_STALE, &[&stale.as_secs_f64()]).await.map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            Ok((rows.iter().map(|r| r.get(0)).collect(), joined))
        })
        .await
    }

    /// Records that these users are now signed in here (`online`) or no longer (`offline`).
    pub async fn set_online(&self, online: &[UserId], offline: &[UserId]) -> Result<(), BrokerError> {
        let id = self.id.to_string();
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute("DELETE FROM online_users WHERE broker_id = $1 AND user_id = ANY($2)", &[&id, &offline])
                .await
                .map_err(db_error)?;
            // Only while this broker's row exists: after it was forgotten as stale, the next
            // heartbeat writes every row again.
            tx.execute(
                "INSERT INTO online_users (broker_id, user_id)
                 SELECT $1, unnest($2::bigint[]) WHERE EXISTS (SELECT 1 FROM brokers WHERE id = $1)
                 ON CONFLICT DO NOTHING",
                &[&id, &online],
            )
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            Ok(())
        })
        .await
    }

    /// Which of `users` are signed in on some broker seen within `stale`.
    pub async fn online_anywhere(&self, users: &[UserId], stale: Duration) -> Result<HashSet<UserId>, BrokerError> {
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT DISTINCT o.user_id FROM online_users o JOIN brokers b ON b.id = o.broker_id
                     WHERE o.user_id = ANY($1) AND b.seen_at > now() - make_interval(secs => $2)",
                    &[&users, &stale.as_secs_f64()],
                )
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
    }

    /// The login of a user, if the account exists.
    pub async fn login_of(&self, user: UserId) -> Result<Option<String>, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client.query_opt("SELECT login FROM users WHERE id = $1", &[&user]).await.map_err(db_error)?;
            Ok(row.map(|r| r.get(0)))
        })
        .await
    }

    /// Leaves the cluster at shutdown: this broker's rows go; returns its users.
    pub async fn leave_cluster(&self) -> Result<Vec<UserId>, BrokerError> {
        let id = self.id.to_string();
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "WITH gone AS (DELETE FROM brokers WHERE id = $1 RETURNING id)
                     SELECT user_id FROM online_users WHERE broker_id IN (SELECT id FROM gone)",
                    &[&id],
                )
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
    }
}
