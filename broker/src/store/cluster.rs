//! What the cluster needs of PostgreSQL: sending notes and reading groups' last seqs.

use super::{db_error, AccountDeletion, GroupChange, MembershipChange, OrderGuard, Published, Store, Tombstone};
use crate::cluster::note::{event_payloads, Shared, CHANNEL};
use crate::error::BrokerError;
use joint_wire::message::{EndReason, Group};

/// Sends each of `$2` as a note on channel `$1`, in order.
const NOTIFY: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i";

/// What a committed change causes on the other brokers, noted inside its transaction.
pub trait Announced {
    /// The change's effects for connections anywhere, as the requesting broker applies them.
    fn shared(&self) -> Vec<Shared>;
}

fn notify_all(changes: &[GroupChange]) -> Vec<Shared> {
    changes.iter().map(|c| Shared::Notify { to: c.to.clone(), event: c.event.clone() }).collect()
}

impl Announced for Published {
    /// Messages are announced after the commit, by the committer.
    fn shared(&self) -> Vec<Shared> {
        Vec::new()
    }
}

impl Announced for GroupChange {
    fn shared(&self) -> Vec<Shared> {
        notify_all(std::slice::from_ref(self))
    }
}

impl Announced for Vec<GroupChange> {
    fn shared(&self) -> Vec<Shared> {
        notify_all(self)
    }
}

impl Announced for (Group, Vec<GroupChange>) {
    fn shared(&self) -> Vec<Shared> {
        notify_all(&self.1)
    }
}

impl Announced for MembershipChange {
    fn shared(&self) -> Vec<Shared> {
        notify_all(&self.changes)
    }
}

impl Announced for Option<Tombstone> {
    fn shared(&self) -> Vec<Shared> {
        self.iter().map(|t| Shared::MessageDeleted { group: t.group.clone(), gid: t.gid, seq: t.seq }).collect()
    }
}

impl Announced for AccountDeletion {
    fn shared(&self) -> Vec<Shared> {
        let mut shared = notify_all(&self.changes);
        shared.push(Shared::EndSessions { tokens: self.tokens.clone(), reason: EndReason::AccountDeleted });
        shared
    }
}

impl Store {
    /// Sends each payload as a note on the cluster's channel, in order, in one statement.
    pub async fn notify(&self, payloads: &[String]) -> Result<(), BrokerError> {
        if payloads.is_empty() {
            return Ok(());
        }
        self.timed(async {
            let client = self.client().await?;
            client.execute(NOTIFY, &[&CHANNEL, &payloads]).await.map_err(db_error)?;
            Ok(())
        })
        .await
    }

    /// Notes, inside a change's transaction, its effects for the other brokers with the last
    /// seqs of `gids` (whose rows the change holds locked, so no message commits meanwhile).
    pub(super) async fn note_in(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        gids: &[i64],
        shared: Vec<Shared>,
    ) -> Result<(), BrokerError> {
        if shared.is_empty() {
            return Ok(());
        }
        let rows =
            tx.query("SELECT gid, last_seq FROM groups WHERE gid = ANY($1)", &[&gids]).await.map_err(db_error)?;
        let groups: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let payloads = event_payloads(self.id, &groups, shared);
        tx.execute(NOTIFY, &[&CHANNEL, &payloads]).await.map_err(db_error)?;
        Ok(())
    }

    /// Tells the other brokers the effects of a change already committed that is not
    /// ordered with messages (a logout, a read marker). A failure is logged: the change
    /// itself stands, and a token it ended is refused everywhere by the database anyway.
    pub async fn announce(&self, shared: Vec<Shared>) {
        if shared.is_empty() {
            return;
        }
        let payloads = event_payloads(self.id, &[], shared);
        if let Err(err) = self.notify(&payloads).await {
            tracing::warn!(error = %err, "a change was not told to the other brokers");
        }
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
