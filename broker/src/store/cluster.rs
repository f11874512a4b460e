//! What the cluster needs of PostgreSQL: sending notes and reading groups' last seqs.

use super::{db_error, OrderGuard, Store};
use crate::cluster::note::CHANNEL;
use crate::error::BrokerError;

impl Store {
    /// Sends each payload as a note on the cluster's channel, in order, in one statement.
    pub async fn notify(&self, payloads: &[String]) -> Result<(), BrokerError> {
        if payloads.is_empty() {
            return Ok(());
        }
        self.timed(async {
            let client = self.client().await?;
            client
                .execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i",
                    &[&CHANNEL, &payloads],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    /// The `last_seq` of each live group among `gids`, in one query.
    pub async fn last_seqs_of(&self, gids: &[i64]) -> Result<Vec<(i64, i64)>, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query("SELECT gid, last_seq FROM groups WHERE gid = ANY($1) AND deleted_at IS NULL", &[&gids])
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }

    /// Takes the commit-order gates of `gids` (see `order`): while they are held no local
    /// change of those groups commits, and every one committed before has queued its
    /// events and messages. What another broker committed is fanned out under them.
    pub async fn gate(&self, gids: impl IntoIterator<Item = i64>) -> OrderGuard {
        self.order.enter(gids).await
    }
}
