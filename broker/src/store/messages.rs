//! Messages: group-committed publishes, history pages and read markers.

use super::groups::{find_group_shared, require_member};
use super::pipelined::{self, PipelinedTx};
use super::{db_error, Committed, Store, UserId};
use crate::error::BrokerError;
use deadpool_postgres::GenericClient;
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
    /// Where the messages were read.
    pub source: PageSource,
}

/// Which server a history page was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageSource {
    /// The primary (no standby, or it was behind or down).
    Primary,
    /// The hot standby of `--read-database-url`.
    Standby,
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

/// A statement parameter.
type Param<'a> = dyn tokio_postgres::types::ToSql + Sync + 'a;

/// Locks the batch's live groups in gid order (like every other change of a group), so that
/// a publish is serialized with membership changes and deletion of its group.
const LOCK_GROUPS: &str = "SELECT gid, name, last_seq FROM groups WHERE name = ANY($1) AND deleted_at IS NULL
                           ORDER BY gid FOR NO KEY UPDATE";

/// Which of the senders are members of which of the groups.
const MEMBERS: &str = "SELECT m.gid, m.user_id FROM memberships m JOIN groups g ON g.gid = m.gid
                       WHERE g.name = ANY($1) AND g.deleted_at IS NULL AND m.user_id = ANY($2)";

/// The senders' logins and display names.
const SENDERS: &str = "SELECT id, login, name FROM users WHERE id = ANY($1)";

/// The first outcome of each (group, sender, cid) already stored: one probe of the unique
/// index per key. The `LIMIT` keeps the planner from flattening the lateral probe into a join
/// of its own choosing, and the publish transaction turns sequential scans off: a generic
/// plan cached while a group's partition held a few rows would otherwise scan it whole for
/// every key of every later batch, until autovacuum happened to analyze it (0.5 s a batch).
const STORED_CIDS: &str = "SELECT g.gid, k.sender_id, k.cid, m.seq, m.at
                           FROM unnest($1::text[], $2::bigint[], $3::text[]) AS k(name, sender_id, cid)
                           JOIN groups g ON g.name = k.name AND g.deleted_at IS NULL
                           CROSS JOIN LATERAL (SELECT m.seq, m.at FROM messages m
                                               WHERE m.sender_id = k.sender_id AND m.gid = g.gid AND m.cid = k.cid
                                               LIMIT 1) m";

/// The database clock in milliseconds since the Unix epoch: a message's `at`.
const NOW_MS: &str = "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Inserts a batch's messages in one statement.
const INSERT_MESSAGES: &str = "INSERT INTO messages (gid, seq, sender_id, cid, name, body, at)
                               SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],
                                                    $5::text[], $6::text[], $7::bigint[])";

/// Up to `$3` messages of a group from seq `$2` on, for catching up.
const MESSAGES_FROM: &str =
    "SELECT m.seq, u.login, m.name, m.body, m.at, m.deleted FROM messages m JOIN users u ON u.id = m.sender_id
                             WHERE m.gid = $1 AND m.seq >= $2 ORDER BY m.seq LIMIT $3";

/// The primary's view of a group for `history`: gid, `last_seq`, tombstone count and whether
/// `$2` is a member, in one read by the group's unique name.
const HISTORY_CHECK: &str = "SELECT g.gid, g.last_seq, g.tombstones,
                                    EXISTS (SELECT 1 FROM memberships m WHERE m.gid = g.gid AND m.user_id = $2)
                             FROM groups g WHERE g.name = $1 AND g.deleted_at IS NULL";

/// How far a standby has replayed a group: its `last_seq` and tombstone count.
const REPLAYED: &str = "SELECT last_seq, tombstones FROM groups WHERE gid = $1";

/// A history window, newest first: gid `$1`, seqs above `$2` up to `$3`, at most `$4` rows.
/// The bounds are plain values, never `$n IS NULL OR …`, so that even a generic plan of the
/// cached statement scans only the window's range of the (gid, seq) index.
const PAGE_NEWEST: &str =
    "SELECT m.seq, u.login, m.name, m.body, m.at, m.deleted FROM messages m JOIN users u ON u.id = m.sender_id
     WHERE m.gid = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq DESC LIMIT $4";

/// The same window, oldest first (when `after` is given).
const PAGE_OLDEST: &str =
    "SELECT m.seq, u.login, m.name, m.body, m.at, m.deleted FROM messages m JOIN users u ON u.id = m.sender_id
     WHERE m.gid = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq ASC LIMIT $4";

/// Moves each touched group's `last_seq`.
const UPDATE_LAST_SEQ: &str =
    "UPDATE groups g SET last_seq = v.last FROM unnest($1::bigint[], $2::bigint[]) AS v(gid, last)
                               WHERE g.gid = v.gid AND g.last_seq <> v.last";

impl Store {
    /// Commits a batch of messages in one transaction: every group's row is locked (in gid
    /// order, like every other change), each message is checked (`no_such_group`,
    /// `not_member`), a repeated (sender, group, cid) gets the first seq and `at` without
    /// consuming a seq, the others get the next seqs, and all are inserted in one statement.
    /// Returns one outcome per message, in order, once committed with
    /// `synchronous_commit = on`.
    pub async fn publish_batch(&self, batch: &[NewMessage]) -> Result<Committed<Published>, BrokerError> {
        self.timed(async {
            let tx = PipelinedTx::new(self.client().await?);
            let client = tx.client();
            let statements = tokio::try_join!(
                client.prepare_cached(LOCK_GROUPS),
                client.prepare_cached(MEMBERS),
                client.prepare_cached(SENDERS),
                client.prepare_cached(STORED_CIDS),
                client.prepare_cached(NOW_MS),
                client.prepare_cached(INSERT_MESSAGES),
                client.prepare_cached(UPDATE_LAST_SEQ),
            )
            .map_err(db_error)?;
            let (lock_groups, members, senders, stored_cids, now_ms, insert_rows, update_last) = statements;
            let names: Vec<&str> = batch.iter().map(|m| m.group.as_str()).collect::<HashSet<_>>().into_iter().collect();
            let sender_ids: Vec<i64> = batch.iter().map(|m| m.sender).collect::<HashSet<_>>().into_iter().collect();
            let (mut key_groups, mut key_senders, mut key_cids) = (Vec::new(), Vec::new(), Vec::new());
            for m in batch {
                if let Some(cid) = &m.cid {
                    key_groups.push(m.group.as_str());
                    key_senders.push(m.sender);
                    key_cids.push(cid.as_str());
                }
            }
            // One round trip, BEGIN included: PostgreSQL runs the pipelined statements in
            // order, so the reads after the lock see every change committed before it was
            // granted.
            let lock_params: [&Param<'_>; 1] = [&names];
            let member_params: [&Param<'_>; 2] = [&names, &sender_ids];
            let sender_params: [&Param<'_>; 1] = [&sender_ids];
            let stored_params: [&Param<'_>; 3] = [&key_groups, &key_senders, &key_cids];
            // Every answer is awaited and the first error in pipeline order is the one
            // reported: the statements after a failed one fail only because it did.
            let (begun, rows, member_rows, sender_rows, stored_rows, at_row) = tokio::join!(
                client.batch_execute(pipelined::BEGIN),
                client.query(&lock_groups, &lock_params),
                client.query(&members, &member_params),
                client.query(&senders, &sender_params),
                client.query(&stored_cids, &stored_params),
                client.query_one(&now_ms, &[]),
            );
            begun.map_err(db_error)?;
            let (rows, member_rows) = (rows.map_err(db_error)?, member_rows.map_err(db_error)?);
            let (sender_rows, stored_rows) = (sender_rows.map_err(db_error)?, stored_rows.map_err(db_error)?);
            let at_row = at_row.map_err(db_error)?;
            let mut groups: HashMap<String, (i64, i64)> =
                rows.iter().map(|r| (r.get::<_, String>(1), (r.get(0), r.get(2)))).collect();
            let members: HashSet<(i64, i64)> = member_rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            let senders_of: HashMap<i64, (String, String)> =
                sender_rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect();
            let mut stored: HashMap<(i64, i64, String), PublishOk> = stored_rows
                .iter()
                .map(|r| {
                    let ok = PublishOk { seq: r.get::<_, i64>(3) as u64, at: r.get::<_, i64>(4) as u64 };
                    ((r.get(0), r.get(1), r.get(2)), ok)
                })
                .collect();
            let at: i64 = at_row.get(0);
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
                #[cfg(feature = "sabotage")]
                {
                    *last_seq += crate::sabotage::skipped_seqs();
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
                    deleted: false,
                });
                outcomes.push(Ok(ok));
            }
            let gids: Vec<i64> = groups.values().map(|(gid, _)| *gid).collect();
            let published = Published { outcomes, messages: stored_now };
            #[cfg(feature = "sabotage")]
            if crate::sabotage::abandon_batch() {
                // Dropping the guard rolls the transaction back; the caller acknowledges anyway.
                return Ok(Committed { value: published, order: self.order.enter(gids).await });
            }
            // The groups' gates are taken while their rows are locked (as every change does)
            // and before COMMIT, so that this batch's fan-out comes after that of every change
            // committed before it.
            let order = self.order.enter(gids).await;
            // The second and last round trip: the rows, the groups' last seqs and COMMIT.
            if insert.gids.is_empty() {
                client.batch_execute(pipelined::COMMIT).await.map_err(db_error)?;
            } else {
                let (touched, last): (Vec<i64>, Vec<i64>) = groups.values().copied().unzip();
                let insert_params: [&Param<'_>; 7] = [
                    &insert.gids,
                    &insert.seqs,
                    &insert.senders,
                    &insert.cids,
                    &insert.names,
                    &insert.bodies,
                    &insert.ats,
                ];
                let update_params: [&Param<'_>; 2] = [&touched, &last];
                let (inserted, updated, committed) = tokio::join!(
                    client.execute(&insert_rows, &insert_params),
                    client.execute(&update_last, &update_params),
                    client.batch_execute(pipelined::COMMIT),
                );
                // In pipeline order, as above; a COMMIT after a failed statement rolls back
                // without an error of its own.
                inserted.map_err(db_error)?;
                updated.map_err(db_error)?;
                committed.map_err(db_error)?;
            }
            tx.committed();
            Ok(Committed { value: published, order })
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
    ///
    /// The group, the caller's membership, its `last_seq` and its tombstone count always
    /// come from the primary, in one read; the page holds no seq above that `last_seq`, so
    /// nothing published after the check is shown. With a standby, the page comes from it
    /// when it has replayed the window's end and every tombstone the primary counted, and
    /// from the primary otherwise (or when the standby fails).
    pub async fn history(
        &self,
        caller: UserId,
        name: &str,
        gid: Option<i64>,
        window: Window,
    ) -> Result<Page, BrokerError> {
        self.timed(async {
            let client = self.client().await?;
            let check = client.prepare_cached(HISTORY_CHECK).await.map_err(db_error)?;
            let row =
                client.query_opt(&check, &[&name, &caller]).await.map_err(db_error)?.ok_or_else(|| {
                    BrokerError::refused(ErrorCode::NoSuchGroup, format!("there is no group {name:?}"))
                })?;
            let group = GroupState { gid: row.get(0), last_seq: row.get(1), tombstones: row.get(2) };
            if gid.is_some_and(|gid| gid != group.gid) {
                return Err(BrokerError::refused(ErrorCode::NoSuchGroup, "the group was deleted and its name reused"));
            }
            if !row.get::<_, bool>(3) {
                return Err(BrokerError::refused(ErrorCode::NotMember, format!("you are not a member of {name:?}")));
            }
            let (rows, source) = match self.standby_page(&group, window).await {
                Some(rows) => (rows, PageSource::Standby),
                None => (page_rows(&client, &group, window).await?, PageSource::Primary),
            };
            let more = rows.len() as i64 > window.limit;
            let mut messages: Vec<Message> =
                rows.iter().take(window.limit as usize).map(|r| message_from_row(name, group.gid, r)).collect();
            if window.after.is_none() {
                messages.reverse();
            }
            Ok(Page { messages, more, last_seq: group.last_seq as u64, source })
        })
        .await
    }

    /// The page's rows from the standby, or `None` when there is no standby, it is down, or
    /// it has not replayed what the page needs: the window's end (the primary's `last_seq`,
    /// or the seq just below `before` if that is lower) and the primary's tombstone count.
    /// The standby's group row is read before its messages, so the messages' snapshot is at
    /// least as recent as the state that was judged fresh enough.
    async fn standby_page(&self, group: &GroupState, window: Window) -> Option<Vec<tokio_postgres::Row>> {
        let standby = self.standby.as_ref().filter(|s| s.worth_trying())?;
        let attempt = async {
            let client = standby.client().await?;
            let replayed = client.prepare_cached(REPLAYED).await.map_err(db_error)?;
            // Pipelined in this order on one connection: the page's snapshot is taken after
            // the group row's.
            let state = async { client.query_opt(&replayed, &[&group.gid]).await.map_err(db_error) };
            let (state, rows) = tokio::try_join!(state, page_rows(&client, group, window))?;
            let needed = window_end(group, window);
            let fresh = state.is_some_and(|s| s.get::<_, i64>(0) >= needed && s.get::<_, i64>(1) >= group.tombstones);
            Ok::<_, BrokerError>(fresh.then_some(rows))
        };
        // Half the budget at most, so that the primary still has time to answer.
        let outcome = tokio::time::timeout(self.timeout / 2, attempt)
            .await
            .unwrap_or_else(|_| Err(BrokerError::Unavailable(anyhow::anyhow!("the read replica timed out"))));
        match outcome {
            Ok(rows) => {
                standby.answered();
                rows
            }
            Err(err) => {
                standby.failed(&err);
                None
            }
        }
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
            // Prepared once per connection: catching up reads this again and again.
            let statement = client.prepare_cached(MESSAGES_FROM).await.map_err(db_error)?;
            let rows = client.query(&statement, &[&gid, &from, &limit]).await.map_err(db_error)?;
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

/// What the primary said of a group when `history` checked the caller's membership.
struct GroupState {
    gid: i64,
    last_seq: i64,
    tombstones: i64,
}

/// The last seq a history window can hold: the one below `before`, and never above the
/// group's `last_seq` as the primary reported it.
fn window_end(group: &GroupState, window: Window) -> i64 {
    window.before.map_or(group.last_seq, |before| (before - 1).min(group.last_seq))
}

/// The rows of a history window (one more than `limit`, to tell whether there are more).
async fn page_rows(
    client: &impl GenericClient,
    group: &GroupState,
    window: Window,
) -> Result<Vec<tokio_postgres::Row>, BrokerError> {
    let sql = if window.after.is_some() { PAGE_OLDEST } else { PAGE_NEWEST };
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    // Seqs start at 1, so "above 0" is no lower bound.
    let params: [&Param<'_>; 4] =
        [&group.gid, &window.after.unwrap_or(0), &window_end(group, window), &(window.limit + 1)];
    client.query(&statement, &params).await.map_err(db_error)
}

/// A message from a row of (seq, login, name, body, at, deleted).
fn message_from_row(group: &str, gid: i64, row: &tokio_postgres::Row) -> Message {
    Message {
        group: group.to_owned(),
        gid: gid as u64,
        seq: row.get::<_, i64>(0) as u64,
        from: row.get(1),
        name: row.get(2),
        body: row.get(3),
        at: row.get::<_, i64>(4) as u64,
        deleted: row.get(5),
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
