//! Messages: group-committed publishes, history pages and read markers.

use super::groups::{find_group_shared, require_member};
use super::{db_error, Committed, Store, UserId};
use crate::error::BrokerError;
use joint_wire::message::{Message, PublishOk};
use joint_wire::ErrorCode;
use std::collections::{HashMap, HashSet};

/// One message to publish, already checked for size and content.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The group's name (NFC).
    pub group: String,
    /// The sender.
    pub sender: UserId,
    /// The client's id for the message, if it gave one.
    pub cid: Option<String>,
    /// The text.
    pub body: String,
}

/// The outcome of one message of a batch.
pub type Publication = Result<PublishOk, BrokerError>;

/// What a committed batch produced.
#[derive(Debug)]
pub struct Published {
    /// One outcome per message of the batch, in order.
    pub outcomes: Vec<Publication>,
    /// The messages stored by this batch (not the repeats), ascending by seq within a group.
    pub messages: Vec<Message>,
}

/// Which messages a history page asks for.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Only seqs below this.
    pub before: Option<i64>,
    /// Only seqs above this.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// A history page before it is fitted into a frame.
#[derive(Debug, Clone)]
pub struct Page {
    /// Ascending by seq.
    pub messages: Vec<Message>,
    /// Whether the window holds more than `limit` messages.
    pub more: bool,
    /// The group's latest seq.
    pub last_seq: u64,
}

/// A read marker after `mark_read`.
#[derive(Debug, Clone, Copy)]
pub struct ReadMarker {
    /// The group's gid.
    pub gid: i64,
    /// The marker after the call.
    pub read_seq: i64,
    /// Whether the call moved it.
    pub moved: bool,
}

impl Store {
    /// Commits a batch of messages in one transaction: every group's row is locked (in gid
    /// order, like every other change), each message is checked (`no_such_group`,
    /// `not_member`), a repeated (sender, group, cid) gets the first seq and `at` without
    /// consuming a seq, the others get the next seqs, and all are inserted in one statement.
    /// Returns one outcome per message, in order, once committed with
    /// `synchronous_commit = on`.
    pub async fn publish_batch(&self, batch: &[NewMessage]) -> Result<Committed<Published>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.batch_execute("SET LOCAL synchronous_commit = on").await.map_err(db_error)?;
            let names: Vec<&str> = batch.iter().map(|m| m.group.as_str()).collect::<HashSet<_>>().into_iter().collect();
            let rows = tx
                .query(
                    "SELECT gid, name, last_seq FROM groups WHERE name = ANY($1) AND deleted_at IS NULL
                     ORDER BY gid FOR NO KEY UPDATE",
                    &[&names],
                )
                .await
                .map_err(db_error)?;
            let mut groups: HashMap<String, (i64, i64)> =
                rows.iter().map(|r| (r.get::<_, String>(1), (r.get(0), r.get(2)))).collect();
            let gids: Vec<i64> = groups.values().map(|(gid, _)| *gid).collect();
            let senders: Vec<i64> = batch.iter().map(|m| m.sender).collect::<HashSet<_>>().into_iter().collect();
            let members: HashSet<(i64, i64)> = tx
                .query(
                    "SELECT gid, user_id FROM memberships WHERE gid = ANY($1) AND user_id = ANY($2)",
                    &[&gids, &senders],
                )
                .await
                .map_err(db_error)?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let senders_of: HashMap<i64, (String, String)> = tx
                .query("SELECT id, login, name FROM users WHERE id = ANY($1)", &[&senders])
                .await
                .map_err(db_error)?
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect();
            let (mut key_gids, mut key_senders, mut key_cids) = (Vec::new(), Vec::new(), Vec::new());
            for m in batch {
                if let (Some(cid), Some((gid, _))) = (&m.cid, groups.get(&m.group)) {
                    key_gids.push(*gid);
                    key_senders.push(m.sender);
                    key_cids.push(cid.as_str());
                }
            }
            let mut stored: HashMap<(i64, i64, String), PublishOk> = tx
                .query(
                    "SELECT m.gid, m.sender_id, m.cid, m.seq, m.at FROM messages m
                     JOIN unnest($1::bigint[], $2::bigint[], $3::text[]) AS k(gid, sender_id, cid)
                       ON m.gid = k.gid AND m.sender_id = k.sender_id AND m.cid = k.cid",
                    &[&key_gids, &key_senders, &key_cids],
                )
                .await
                .map_err(db_error)?
                .iter()
                .map(|r| {
                    let ok = PublishOk { seq: r.get::<_, i64>(3) as u64, at: r.get::<_, i64>(4) as u64 };
                    ((r.get(0), r.get(1), r.get(2)), ok)
                })
                .collect();
            let at: i64 = tx
                .query_one("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint", &[])
                .await
                .map_err(db_error)?
                .get(0);
            let mut insert = Inserts::default();
            let mut outcomes = Vec::with_capacity(batch.len());
            let mut stored_now = Vec::new();
            for m in batch {
                let Some((gid, last_seq)) = groups.get_mut(&m.group) else {
                    outcomes.push(Err(BrokerError::refused(ErrorCode::NoSuchGroup, "there is no such group")));
                    continue;
                };
                // A repeat is answered with the first outcome even if the sender has left
                // since: its first attempt may have committed unacknowledged.
                let key = m.cid.as_ref().map(|cid| (*gid, m.sender, cid.clone()));
                if let Some(first) = key.as_ref().and_then(|k| stored.get(k)) {
                    outcomes.push(Ok(*first));
                    continue;
                }
                if !members.contains(&(*gid, m.sender)) {
                    outcomes.push(Err(BrokerError::refused(ErrorCode::NotMember, "you are not a member of the group")));
                    continue;
                }
                *last_seq += 1;
                let ok = PublishOk { seq: *last_seq as u64, at: at as u64 };
                if let Some(key) = key {
                    stored.insert(key, ok);
                }
                let (login, name) = senders_of.get(&m.sender).cloned().unwrap_or_default();
                insert.push(*gid, *last_seq, m, name.clone(), at);
                stored_now.push(Message {
                    group: m.group.clone(),
                    gid: *gid as u64,
                    seq: ok.seq,
                    from: login,
                    name,
                    body: m.body.clone(),
                    at: ok.at,
                });
                outcomes.push(Ok(ok));
            }
            if !insert.gids.is_empty() {
                tx.execute(
                    "INSERT INTO messages (gid, seq, sender_id, cid, name, body, at)
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],
                                          $6::text[], $7::bigint[])",
                    &[
                        &insert.gids,
                        &insert.seqs,
                        &insert.senders,
                        &insert.cids,
                        &insert.names,
                        &insert.bodies,
                        &insert.ats,
                    ],
                )
                .await
                .map_err(db_error)?;
                let (touched, last): (Vec<i64>, Vec<i64>) = groups.values().copied().unzip();
                tx.execute(
                    "UPDATE groups g SET last_seq = v.last FROM unnest($1::bigint[], $2::bigint[]) AS v(gid, last)
                     WHERE g.gid = v.gid AND g.last_seq <> v.last",
                    &[&touched, &last],
                )
                .await
                .map_err(db_error)?;
            }
            self.commit(tx, gids, Published { outcomes, messages: stored_now }).await
        })
        .await
    }

    /// Checks that `caller` may subscribe to a group and returns its gid and `last_seq`.
    pub async fn subscription_start(
        &self,
        caller: UserId,
        name: &str,
        gid: Option<i64>,
    ) -> Result<(i64, i64), BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = find_group_shared(&tx, name).await?;
            if gid.is_some_and(|gid| gid != group.gid) {
                return Err(BrokerError::refused(ErrorCode::NoSuchGroup, "the group was deleted and its name reused"));
            }
            require_member(&tx, &group, caller).await?;
            tx.commit().await.map_err(db_error)?;
            Ok((group.gid, group.last_seq))
        })
        .await
    }

    /// One window of a group's messages, ascending, with up to `limit` of them: the
    /// oldest of the window when only `after` is given or both are, the newest otherwise.
    pub async fn history(
        &self,
        caller: UserId,
        name: &str,
        gid: Option<i64>,
        window: Window,
    ) -> Result<Page, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = find_group_shared(&tx, name).await?;
            if gid.is_some_and(|gid| gid != group.gid) {
                return Err(BrokerError::refused(ErrorCode::NoSuchGroup, "the group was deleted and its name reused"));
            }
            require_member(&tx, &group, caller).await?;
            let oldest_first = window.after.is_some();
            let sql = format!(
                "SELECT m.seq, u.login, m.name, m.body, m.at FROM messages m JOIN users u ON u.id = m.sender_id
                 WHERE m.gid = $1 AND ($2::bigint IS NULL OR m.seq < $2) AND ($3::bigint IS NULL OR m.seq > $3)
                 ORDER BY m.seq {} LIMIT $4",
                if oldest_first { "ASC" } else { "DESC" }
            );
            let rows = tx
                .query(&sql, &[&group.gid, &window.before, &window.after, &(window.limit + 1)])
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            let more = rows.len() as i64 > window.limit;
            let mut messages: Vec<Message> =
                rows.iter().take(window.limit as usize).map(|r| message_from_row(&group.name, group.gid, r)).collect();
            if !oldest_first {
                messages.reverse();
            }
            Ok(Page { messages, more, last_seq: group.last_seq as u64 })
        })
        .await
    }

    /// The gid and `last_seq` of the live groups among `names`, read under a share lock so
    /// that a commit still in flight on those groups is waited for.
    pub async fn last_seqs(&self, names: &[String]) -> Result<Vec<(i64, i64)>, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let rows = tx
                .query(
                    "SELECT gid, last_seq FROM groups WHERE name = ANY($1) AND deleted_at IS NULL FOR SHARE",
                    &[&names],
                )
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
        .await
    }

    /// Up to `limit` messages of a group from seq `from` on, ascending (for catching up).
    pub async fn messages_from(
        &self,
        gid: i64,
        name: &str,
        from: i64,
        limit: i64,
    ) -> Result<Vec<Message>, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let rows = client
                .query(
                    "SELECT m.seq, u.login, m.name, m.body, m.at FROM messages m JOIN users u ON u.id = m.sender_id
                     WHERE m.gid = $1 AND m.seq >= $2 ORDER BY m.seq LIMIT $3",
                    &[&gid, &from, &limit],
                )
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| message_from_row(name, gid, r)).collect())
        })
        .await
    }

    /// Moves the caller's read marker forward to `seq` (clamped to the group's `last_seq`);
    /// never back.
    pub async fn mark_read(&self, caller: UserId, name: &str, seq: i64) -> Result<ReadMarker, BrokerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let group = find_group_shared(&tx, name).await?;
            require_member(&tx, &group, caller).await?;
            let target = seq.min(group.last_seq);
            let current: i64 = tx
                .query_one(
                    "SELECT read_seq FROM memberships WHERE gid = $1 AND user_id = $2 FOR UPDATE",
                    &[&group.gid, &caller],
                )
                .await
                .map_err(db_error)?
                .get(0);
            let moved = target > current;
            if moved {
                tx.execute(
                    "UPDATE memberships SET read_seq = $3 WHERE gid = $1 AND user_id = $2",
                    &[&group.gid, &caller, &target],
                )
                .await
                .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)?;
            Ok(ReadMarker { gid: group.gid, read_seq: if moved { target } else { current }, moved })
        })
        .await
    }
}

/// A message from a row of (seq, login, name, body, at).
fn message_from_row(group: &str, gid: i64, row: &tokio_postgres::Row) -> Message {
    Message {
        group: group.to_owned(),
        gid: gid as u64,
        seq: row.get::<_, i64>(0) as u64,
        from: row.get(1),
        name: row.get(2),
        body: row.get(3),
        at: row.get::<_, i64>(4) as u64,
    }
}

/// The columns of a batch's insert, one array each.
#[derive(Default)]
struct Inserts {
    gids: Vec<i64>,
    seqs: Vec<i64>,
    senders: Vec<i64>,
    cids: Vec<Option<String>>,
    names: Vec<String>,
    bodies: Vec<String>,
    ats: Vec<i64>,
}

impl Inserts {
    fn push(&mut self, gid: i64, seq: i64, message: &NewMessage, name: String, at: i64) {
        self.gids.push(gid);
        self.seqs.push(seq);
        self.senders.push(message.sender);
        self.cids.push(message.cid.clone());
        self.names.push(name);
        self.bodies.push(message.body.clone());
        self.ats.push(at);
    }
}
