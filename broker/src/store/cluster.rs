//! What the cluster needs of PostgreSQL: sending notes and reading groups' last seqs.

use super::{
    db_error, AccountDeletion, GroupChange, MembershipChange, OrderGuard, Published, Store, Tombstone, UserId,
};
use crate::cluster::note::{event_payloads, Shared, CHANNEL};
use crate::error::BrokerError;
use crate::token::TokenHash;
use joint_wire::message::{EndReason, Group};
use std::time::Duration;

/// How long a note that failed after its change committed is tried again.
const ANNOUNCE_RETRIES_FOR: Duration = Duration::from_secs(60);

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
    /// ordered with messages (a logout, a read marker). The change itself stands whatever
    /// happens here; a note that fails is sent again in the background, pausing 200 ms
    /// doubling to 5 s, for about a minute. An outage longer than that also cuts the other
    /// brokers' listening connections, and each checks sessions and memberships again when
    /// it is back (`cluster::listen`).
    pub async fn announce(&self, shared: Vec<Shared>) {
        if shared.is_empty() {
            return;
        }
        let payloads = event_payloads(self.id, &[], shared);
        if let Err(err) = self.notify(&payloads).await {
            tracing::warn!(error = %err, "a change was not told to the other brokers yet; retrying");
            let store = self.clone();
            tokio::spawn(async move { store.notify_again(payloads).await });
        }
    }

    async fn notify_again(&self, payloads: Vec<String>) {
        let mut pause = Duration::from_millis(200);
        let mut waited = Duration::ZERO;
        while waited < ANNOUNCE_RETRIES_FOR {
            tokio::time::sleep(pause).await;
            waited += pause;
            if self.notify(&payloads).await.is_ok() {
                return;
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
        tracing::warn!("a change was not told to the other brokers; they check again when they reconnect");
    }

    /// Which of `tokens` no longer open a session, and why as far as the database still
    /// tells: the account was disabled or deleted, or the session itself is gone (a logout,
    /// a password change or an expiry, told as `logout`). For a broker that could not hear
    /// the others for a while and so may have missed their `EndSessions`.
    pub async fn dead_tokens(&self, tokens: &[TokenHash]) -> Result<Vec<(TokenHash, EndReason)>, BrokerError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        self.timed(async {
            let client = self.client().await?;
            let given: Vec<&[u8]> = tokens.iter().map(|t| t.as_slice()).collect();
            let rows = client
                .query(
                    "SELECT t.token, u.deleted_at IS NOT NULL, u.disabled_at IS NOT NULL
                     FROM unnest($1::bytea[]) AS t(token)
                     LEFT JOIN sessions s ON s.token_hash = t.token
                     LEFT JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash IS NULL OR u.deleted_at IS NOT NULL OR u.disabled_at IS NOT NULL",
                    &[&given],
                )
                .await
                .map_err(db_error)?;
            Ok(rows
                .iter()
                .filter_map(|row| {
                    let token: TokenHash = row.get::<_, &[u8]>(0).try_into().ok()?;
                    let reason = match (row.get::<_, bool>(1), row.get::<_, bool>(2)) {
                        (true, _) => EndReason::AccountDeleted,
                        (_, true) => EndReason::Disabled,
                        _ => EndReason::Logout,
                    };
                    Some((token, reason))
                })
                .collect())
        })
        .await
    }

    /// Which of these (user, gid) subscriptions lost their membership, for a broker that
    /// may have missed the notes saying so: with the group's `last_seq` when the group
    /// itself is gone (deleted), `None` when only the membership is.
    pub async fn lost_memberships(
        &self,
        subs: &[(UserId, i64)],
    ) -> Result<Vec<(UserId, i64, Option<i64>)>, BrokerError> {
        if subs.is_empty() {
            return Ok(Vec::new());
        }
        self.timed(async {
            let client = self.client().await?;
            let users: Vec<UserId> = subs.iter().map(|(user, _)| *user).collect();
            let gids: Vec<i64> = subs.iter().map(|(_, gid)| *gid).collect();
            let rows = client
                .query(
                    "SELECT s.user_id, s.gid,
                            CASE WHEN g.gid IS NULL OR g.deleted_at IS NOT NULL THEN COALESCE(g.last_seq, 0) END
                     FROM unnest($1::bigint[], $2::bigint[]) AS s(user_id, gid)
                     LEFT JOIN groups g ON g.gid = s.gid
                     WHERE g.gid IS NULL OR g.deleted_at IS NOT NULL
                        OR NOT EXISTS (SELECT 1 FROM memberships m WHERE m.gid = s.gid AND m.user_id = s.user_id)",
                    &[&users, &gids],
                )
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
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
