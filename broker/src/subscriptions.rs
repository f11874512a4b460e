//! Live delivery: which connection is subscribed to which group, and where each
//! subscription stands (`next_seq`, the next message it must get).
//!
//! A subscription is live or catching up. The committer hands each group's new messages,
//! in seq order, to [`Subscriptions::fan_out`], which pushes a message only to live
//! subscriptions whose `next_seq` it is. Anything else (a new subscription with `after`, a
//! subscriber whose outbox is full, a seq the committer never saw) is fed from PostgreSQL
//! by [`catch_up`], which switches the subscription back to live under the same lock that
//! fan-out takes: the switch can neither skip nor repeat a seq.

use crate::connection::outbox::Outbox;
use crate::hub::ConnId;
use crate::metrics::Metrics;
use crate::store::{Store, UserId};
use bytes::Bytes;
use joint_wire::codec::Payload;
use joint_wire::message::{encode_event, Event, Incoming, Message};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages a connection may leave unwritten before its subscriptions lag.
pub const MESSAGE_QUEUE: usize = 256;

/// Messages read from PostgreSQL at a time while catching up.
const CATCH_UP_BATCH: usize = 64;

/// The first and the longest pause of a catch-up whose reads make no progress.
const STALL_PAUSE_MIN: Duration = Duration::from_millis(10);
const STALL_PAUSE_MAX: Duration = Duration::from_secs(1);

/// A subscription's identity: a resubscription is a new one.
pub type SubId = u64;

/// A subscription to feed from PostgreSQL until it has caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// The group.
    pub gid: i64,
    /// The subscribed connection.
    pub conn: ConnId,
    /// Which subscription of that connection.
    pub id: SubId,
}

/// A message encoded once, ready for every subscriber.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Its seq.
    pub seq: i64,
    /// Its whole `message` frame.
    pub frame: Bytes,
}

impl Outgoing {
    /// Encodes a message as a `message` event frame.
    pub fn new(message: Message) -> Outgoing {
        let seq = message.seq as i64;
        Outgoing { seq, frame: frame(&Event::Message(message)) }
    }
}

/// The tombstone of an encoded `message` frame: the same message with an empty body and
/// `deleted: true`.
fn tombstone_of(message_frame: &Bytes) -> Option<Bytes> {
    let payload = Payload::parse(message_frame.get(4..)?).ok()?;
    let Ok(Incoming::Event(Event::Message(mut message))) = Incoming::parse(&payload) else { return None };
    message.body.clear();
    message.deleted = true;
    Some(Outgoing::new(message).frame)
}

fn frame(event: &Event) -> Bytes {
    Bytes::from(joint_wire::codec::frame(&encode_event(event)))
}

struct Sub {
    id: SubId,
    user: UserId,
    name: String,
    outbox: Arc<Outbox>,
    next_seq: i64,
    live: bool,
}

#[derive(Default)]
struct Group {
    /// The latest seq handed to fan-out.
    last_seq: i64,
    /// How many messages of the group were deleted while it had subscribers: a catch-up
    /// read from before a deletion may hold the deleted body and is read again.
    deletions: u64,
    subs: HashMap<ConnId, Sub>,
}

#[derive(Default)]
struct State {
    groups: HashMap<i64, Group>,
    next_id: SubId,
}

/// Where a catching-up subscription stands.
struct Position {
    name: String,
    next_seq: i64,
    outbox: Arc<Outbox>,
    deletions: u64,
}

/// How a catch-up step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// The subscription is gone (unsubscribed, replaced, removed).
    Gone,
    /// More to read.
    Behind,
    /// Caught up: the subscription is live again.
    Live,
}

/// Every subscription of this broker.
#[derive(Default)]
pub struct Subscriptions {
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

impl Subscriptions {
    /// No subscriptions yet; lags and deliveries are counted in `metrics`.
    pub fn with_metrics(metrics: Arc<Metrics>) -> Subscriptions {
        Subscriptions { state: Mutex::default(), metrics }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers (or replaces) `conn`'s subscription to a group, catching up from
    /// `next_seq`; start [`catch_up`] only after the reply is queued.
    #[allow(clippy::too_many_arguments)]
    pub fn subscribe(
        &self,
        gid: i64,
        name: &str,
        conn: ConnId,
        user: UserId,
        outbox: Arc<Outbox>,
        next_seq: i64,
        last_seq: i64,
    ) -> CatchUp {
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        let group = state.groups.entry(gid).or_default();
        group.last_seq = group.last_seq.max(last_seq);
        group.subs.insert(conn, Sub { id, user, name: name.to_owned(), outbox, next_seq, live: false });
        CatchUp { gid, conn, id }
    }

    /// Ends one subscription if it is still the one given.
    pub fn cancel(&self, sub: CatchUp) {
        let mut state = self.state();
        if let Some(group) = state.groups.get_mut(&sub.gid) {
            if group.subs.get(&sub.conn).is_some_and(|s| s.id == sub.id) {
                group.subs.remove(&sub.conn);
            }
        }
        state.groups.retain(|_, g| !g.subs.is_empty());
    }

    /// How many subscriptions `conn` holds, not counting one to the group named `name`
    /// (which a new subscription to it would replace).
    pub fn count_other(&self, conn: ConnId, name: &str) -> usize {
        let state = self.state();
        state.groups.values().filter(|g| g.subs.get(&conn).is_some_and(|sub| sub.name != name)).count()
    }

    /// Tells a group's subscribers that message `seq` is now a tombstone: those already sent
    /// it get `frame` (`message_deleted`), after it in their queue, and a copy still queued
    /// for a slow reader is replaced by the tombstone; the others will read the tombstone
    /// from storage, and a catch-up read that may predate the deletion is read again.
    /// Called in the deletion's commit order, after every earlier fan-out of the group.
    pub fn message_deleted(&self, gid: i64, seq: i64, frame: Bytes) {
        let mut state = self.state();
        let Some(group) = state.groups.get_mut(&gid) else { return };
        group.deletions += 1;
        for sub in group.subs.values().filter(|sub| sub.next_seq > seq) {
            sub.outbox.replace_message(gid, seq, tombstone_of);
            // Not droppable like other events: a lost one would leave the body on screen.
            sub.outbox.push_control(frame.clone());
        }
    }

    /// Ends `conn`'s subscription to the group named `name`, if any.
    pub fn unsubscribe(&self, conn: ConnId, name: &str) {
        self.remove(|_, c, sub| c == conn && sub.name == name);
    }

    /// Ends every subscription of these connections (closed, or signed out).
    pub fn drop_conns(&self, conns: &[ConnId]) {
        if !conns.is_empty() {
            self.remove(|_, c, _| conns.contains(&c));
        }
    }

    /// Ends `user`'s subscriptions to a group they are no longer a member of.
    pub fn drop_member(&self, user: UserId, gid: i64) {
        self.remove(|g, _, sub| g == gid && sub.user == user);
    }

    /// Ends every subscription to a deleted group.
    pub fn drop_group(&self, gid: i64) {
        self.remove(|g, _, _| g == gid);
    }

    fn remove(&self, doomed: impl Fn(i64, ConnId, &Sub) -> bool) {
        let mut state = self.state();
        for (gid, group) in state.groups.iter_mut() {
            group.subs.retain(|conn, sub| !doomed(*gid, *conn, sub));
        }
        state.groups.retain(|_, g| !g.subs.is_empty());
    }

    /// The outboxes of connections subscribed to any of these groups, other than `user`'s,
    /// each once.
    pub fn subscribers_of(&self, gids: &[i64], user: UserId) -> Vec<Arc<Outbox>> {
        let state = self.state();
        let mut seen = std::collections::HashSet::new();
        gids.iter()
            .filter_map(|gid| state.groups.get(gid))
            .flat_map(|group| group.subs.iter())
            .filter(|(conn, sub)| sub.user != user && seen.insert(**conn))
            .map(|(_, sub)| sub.outbox.clone())
            .collect()
    }

    /// Delivers a group's newly committed messages (ascending) to its live subscriptions.
    /// Returns the subscriptions that must now catch up from PostgreSQL: those whose
    /// outbox is full (they get `lagged`) and those that missed a seq.
    pub fn fan_out(&self, gid: i64, messages: &[Outgoing]) -> Vec<CatchUp> {
        let mut behind = Vec::new();
        let mut state = self.state();
        let Some(group) = state.groups.get_mut(&gid) else { return behind };
        if let Some(last) = messages.last() {
            group.last_seq = group.last_seq.max(last.seq);
        }
        for (conn, sub) in group.subs.iter_mut().filter(|(_, sub)| sub.live) {
            for message in messages {
                if message.seq < sub.next_seq {
                    continue; // delivered already, by a catch-up that read it from storage
                }
                if message.seq > sub.next_seq {
                    // A seq committed without reaching fan-out: read it from storage.
                    sub.live = false;
                    behind.push(CatchUp { gid, conn: *conn, id: sub.id });
                    break;
                }
                if sub.outbox.messages() >= MESSAGE_QUEUE {
                    sub.live = false;
                    let lagged =
                        Event::Lagged { group: sub.name.clone(), gid: gid as u64, seq: (sub.next_seq - 1) as u64 };
                    sub.outbox.push_control(frame(&lagged));
                    self.metrics.lagged.inc();
                    behind.push(CatchUp { gid, conn: *conn, id: sub.id });
                    break;
                }
                #[cfg(feature = "sabotage")]
                if crate::sabotage::drop_delivery() {
                    sub.next_seq += 1;
                    continue;
                }
                sub.outbox.push_message(message.frame.clone(), gid, message.seq);
                self.metrics.deliveries.inc();
                sub.next_seq += 1;
            }
        }
        behind
    }

    /// Every subscription here as (user, gid, group name), each pair once.
    pub fn subscribers(&self) -> Vec<(UserId, i64, String)> {
        let state = self.state();
        let mut seen = std::collections::HashSet::new();
        state
            .groups
            .iter()
            .flat_map(|(gid, group)| group.subs.values().map(move |sub| (sub.user, *gid, sub.name.clone())))
            .filter(|(user, gid, _)| seen.insert((*user, *gid)))
            .collect()
    }

    /// The groups with subscriptions here.
    pub fn gids(&self) -> Vec<i64> {
        self.state().groups.keys().copied().collect()
    }

    /// A group's name and the latest seq handed to its fan-out, if it has subscriptions here.
    pub fn fan_out_position(&self, gid: i64) -> Option<(String, i64)> {
        let state = self.state();
        let group = state.groups.get(&gid)?;
        let name = group.subs.values().next()?.name.clone();
        Some((name, group.last_seq))
    }

    /// Learns that a group's messages reach `last_seq` in storage (a batch may have
    /// committed without its messages reaching fan-out): its live subscriptions behind that
    /// turn to catching up and are returned.
    pub fn catch_up_to(&self, gid: i64, last_seq: i64) -> Vec<CatchUp> {
        let mut state = self.state();
        let Some(group) = state.groups.get_mut(&gid) else { return Vec::new() };
        group.last_seq = group.last_seq.max(last_seq);
        let mut behind = Vec::new();
        for (conn, sub) in group.subs.iter_mut() {
            if sub.live && sub.next_seq <= last_seq {
                sub.live = false;
                behind.push(CatchUp { gid, conn: *conn, id: sub.id });
            }
        }
        behind
    }

    /// Where a catching-up subscription stands: its group's name, next seq and outbox, and
    /// the group's count of deletions (see [`Subscriptions::deliver`]).
    fn position(&self, sub: CatchUp) -> Option<Position> {
        let state = self.state();
        let group = state.groups.get(&sub.gid)?;
        let s = group.subs.get(&sub.conn).filter(|s| s.id == sub.id)?;
        Some(Position {
            name: s.name.clone(),
            next_seq: s.next_seq,
            outbox: s.outbox.clone(),
            deletions: group.deletions,
        })
    }

    /// Delivers messages read from storage; `exhausted` when the read found no more. Goes
    /// live when nothing committed is left to read. A read begun before a deletion of the
    /// group (`deletions` differs) delivers nothing and is read again, so a deleted body
    /// read just before its deletion committed is never sent.
    fn deliver(&self, sub: CatchUp, messages: &[Outgoing], exhausted: bool, deletions: u64) -> Progress {
        let mut state = self.state();
        let Some(group) = state.groups.get_mut(&sub.gid) else { return Progress::Gone };
        if group.deletions != deletions {
            return Progress::Behind;
        }
        let last_seq = group.last_seq;
        let Some(s) = group.subs.get_mut(&sub.conn).filter(|s| s.id == sub.id) else { return Progress::Gone };
        // Only what fan-out has seen: a message past it may be the connection's own, whose
        // ack is not queued yet (the ack precedes the echo); fan-out brings it.
        let mut capped = false;
        for message in messages {
            if message.seq > last_seq {
                capped = true;
                break;
            }
            // Several subscriptions of one connection catching up at once share its bound:
            // what does not fit now is read again later.
            if s.outbox.messages() >= MESSAGE_QUEUE {
                return Progress::Behind;
            }
            if message.seq == s.next_seq {
                s.outbox.push_message(message.frame.clone(), sub.gid, message.seq);
                self.metrics.deliveries.inc();
                s.next_seq += 1;
            }
        }
        if (exhausted || capped) && s.next_seq > last_seq {
            s.live = true;
            Progress::Live
        } else {
            Progress::Behind
        }
    }
}

/// Feeds a subscription from PostgreSQL, as fast as its reader takes the messages, until it
/// has caught up and is live again. Ends quietly when the subscription or the connection ends.
pub async fn catch_up(store: Store, subscriptions: Arc<Subscriptions>, sub: CatchUp) {
    // How long to pause when storage does not hold the very seq the subscription needs
    // (which only a broken database could cause): a stall, but never a busy loop.
    let mut pause = STALL_PAUSE_MIN;
    loop {
        let Some(Position { name, next_seq, outbox, deletions }) = subscriptions.position(sub) else { return };
        outbox.wait_messages_at_most(MESSAGE_QUEUE - CATCH_UP_BATCH).await;
        if outbox.is_closed() {
            subscriptions.cancel(sub);
            return;
        }
        let messages = match store.messages_from(sub.gid, &name, next_seq, CATCH_UP_BATCH as i64).await {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(error = %err, "catching up a subscription failed; will retry");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let exhausted = messages.len() < CATCH_UP_BATCH;
        let outgoing: Vec<Outgoing> = messages.into_iter().map(Outgoing::new).collect();
        let missing = outgoing.first().is_none_or(|first| first.seq > next_seq);
        if subscriptions.deliver(sub, &outgoing, exhausted, deletions) != Progress::Behind {
            return;
        }
        if missing {
            if pause == STALL_PAUSE_MIN {
                tracing::warn!(gid = sub.gid, next_seq, "a subscription waits for a seq storage does not hold");
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(STALL_PAUSE_MAX);
        } else {
            pause = STALL_PAUSE_MIN;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(gid: i64, seq: i64) -> Outgoing {
        Outgoing::new(Message {
            group: format!("g{gid}"),
            gid: gid as u64,
            seq: seq as u64,
            from: "ann".into(),
            name: "Ann".into(),
            body: "hi".into(),
            at: 0,
            deleted: false,
        })
    }

    #[test]
    fn catching_up_subscriptions_of_one_connection_share_its_queue_bound() {
        let subscriptions = Subscriptions::default();
        let outbox = Arc::new(Outbox::new(16));
        let subs: Vec<CatchUp> = (1..=8)
            .map(|gid| subscriptions.subscribe(gid, &format!("g{gid}"), 1, 1, outbox.clone(), 1, 1000))
            .collect();
        for sub in &subs {
            let batch: Vec<Outgoing> = (1..=CATCH_UP_BATCH as i64).map(|seq| outgoing(sub.gid, seq)).collect();
            assert_eq!(subscriptions.deliver(*sub, &batch, false, 0), Progress::Behind);
        }
        assert_eq!(outbox.messages(), MESSAGE_QUEUE, "eight batches of 64 stop at the bound");
        // The next read of each starts where its delivery stopped: nothing skipped.
        let delivered: i64 = subs.iter().map(|sub| subscriptions.position(*sub).unwrap().next_seq - 1).sum();
        assert_eq!(delivered as usize, MESSAGE_QUEUE);
    }

    #[tokio::test]
    async fn a_read_from_before_a_deletion_is_not_delivered() {
        let subscriptions = Subscriptions::default();
        let (sent, behind) = (Arc::new(Outbox::new(16)), Arc::new(Outbox::new(16)));
        let _ahead = subscriptions.subscribe(7, "g7", 1, 1, sent.clone(), 3, 2);
        let late = subscriptions.subscribe(7, "g7", 2, 2, behind.clone(), 1, 2);
        let before = subscriptions.position(late).unwrap().deletions;
        let stale = [outgoing(7, 1), outgoing(7, 2)];
        let tombstone = Bytes::from_static(b"message_deleted");
        subscriptions.message_deleted(7, 2, tombstone.clone());
        assert_eq!(subscriptions.deliver(late, &stale, true, before), Progress::Behind, "read again");
        assert_eq!(behind.messages(), 0, "nothing of the stale read was sent");
        assert_eq!(subscriptions.position(late).unwrap().next_seq, 1);
        let (frames, _) = sent.next_batch().await.unwrap();
        assert_eq!(frames, vec![tombstone], "only the subscription already past seq 2 is told");
    }

    #[tokio::test]
    async fn a_deleted_message_still_queued_for_a_slow_reader_goes_out_as_its_tombstone() {
        let subscriptions = Subscriptions::default();
        let outbox = Arc::new(Outbox::new(16));
        let sub = subscriptions.subscribe(7, "g7", 1, 1, outbox.clone(), 1, 2);
        let position = subscriptions.position(sub).unwrap();
        let stored = [outgoing(7, 1), outgoing(7, 2)];
        assert_eq!(subscriptions.deliver(sub, &stored, true, position.deletions), Progress::Live);
        let notice = Bytes::from_static(b"message_deleted");
        subscriptions.message_deleted(7, 1, notice.clone());
        let (frames, _) = outbox.next_batch().await.unwrap();
        assert_eq!(frames.len(), 3);
        let Incoming::Event(Event::Message(first)) =
            Incoming::parse(&Payload::parse(&frames[0][4..]).unwrap()).unwrap()
        else {
            panic!("a message first")
        };
        assert_eq!((first.seq, first.body.as_str(), first.deleted), (1, "", true), "the body never leaves");
        assert_eq!(frames[1], stored[1].frame, "seq 2 untouched");
        assert_eq!(frames[2], notice);
    }

    #[tokio::test]
    async fn a_message_is_encoded_once_for_every_subscriber() {
        let subscriptions = Subscriptions::default();
        let outboxes: Vec<Arc<Outbox>> = (0..3).map(|_| Arc::new(Outbox::new(16))).collect();
        for (conn, outbox) in outboxes.iter().enumerate() {
            let sub = subscriptions.subscribe(7, "g7", conn as ConnId, conn as UserId, outbox.clone(), 1, 0);
            assert_eq!(subscriptions.deliver(sub, &[], true, 0), Progress::Live);
        }
        let message = outgoing(7, 1);
        assert!(subscriptions.fan_out(7, std::slice::from_ref(&message)).is_empty());
        for outbox in &outboxes {
            let (frames, _) = outbox.next_batch().await.unwrap();
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].as_ptr(), message.frame.as_ptr(), "the same bytes, not a copy");
        }
    }
}
