//! One connection's outgoing queue and the task that writes it to the socket.
//!
//! Replies and events share one FIFO so that a reply always reaches the socket before the
//! events its request caused. Replies are never dropped (the connection stops reading
//! requests instead, see [`Outbox::wait_for_room`]); events are bounded. An event that
//! states the latest value of something (a user's presence, a read marker, a group's
//! admin, whether a login is a member) replaces a queued one about the same thing, moving
//! to the back; if events still overflow, the queued ones are dropped and replaced by one
//! `resync`, which tells the client to refetch its groups and members.

use bytes::{Buf, Bytes};
use joint_wire::codec::frame as framed;
use joint_wire::message::{encode_err, encode_event, encode_ok, Event};
use joint_wire::{ErrorBody, ErrorCode};
use std::collections::{HashSet, VecDeque};
use std::io::IoSlice;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// How many non-message events may wait for a slow reader before they collapse into `resync`.
pub const EVENT_QUEUE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A reply or connection error: never dropped, counted for back-pressure.
    Reply,
    /// An event that must not be lost (`session_ended`): never dropped, not counted.
    Control,
    /// An event that may collapse into `resync`, and be replaced by a newer one with the
    /// same key.
    Event(Option<Supersedes>),
    /// A `message` event of (gid, seq): never dropped; its count decides when a subscriber lags.
    Message(i64, i64),
}

/// What a state-describing event is about: a newer event with the same key makes a queued
/// one stale, so only the newest is sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Supersedes {
    /// `presence` of a login.
    Presence(String),
    /// `read` of a group.
    Read(u64),
    /// `group_updated` of a group.
    GroupUpdated(u64),
    /// `member_joined` / `member_left` of a login in a group.
    Membership(u64, String),
}

impl Supersedes {
    /// The key of an event that may replace an older one, if it is such an event.
    pub fn of(event: &Event) -> Option<Supersedes> {
        match event {
            Event::Presence { login, .. } => Some(Supersedes::Presence(login.clone())),
            Event::Read { gid, .. } => Some(Supersedes::Read(*gid)),
            Event::GroupUpdated(group) => Some(Supersedes::GroupUpdated(group.gid)),
            Event::MemberJoined { gid, login, .. } | Event::MemberLeft { gid, login, .. } => {
                Some(Supersedes::Membership(*gid, login.clone()))
            }
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Kind, Bytes)>,
    replies: usize,
    /// Replies promised ([`Outbox::promise_reply`]) and not yet queued.
    promised: usize,
    /// Messages queued or being written.
    messages: usize,
    events: usize,
    /// The keys of the queued events that have one.
    keyed: HashSet<Supersedes>,
    resync_queued: bool,
    closing: bool,
    dead: bool,
}

/// What one batch held, to be subtracted once it is written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    replies: usize,
    messages: usize,
}

/// The queue between a connection's producers (its own handler, other connections' events)
/// and its writer task.
pub struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer when frames arrive or the outbox closes.
    writer: Notify,
    /// Wakes the handler when replies drain or the writer dies.
    handler: Notify,
    /// Wakes the handler when its session ends, so the anonymous time limit starts at once.
    signed_out: Notify,
    event_cap: usize,
}

impl Outbox {
    /// An empty outbox that holds at most `event_cap` events.
    pub fn new(event_cap: usize) -> Outbox {
        Outbox {
            state: Mutex::default(),
            writer: Notify::new(),
            handler: Notify::new(),
            signed_out: Notify::new(),
            event_cap,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a reply or a connection error (a whole frame, length prefix included).
    pub fn push_reply(&self, frame: Bytes) {
        let mut state = self.state();
        if state.closing || state.dead {
            return;
        }
        state.queue.push_back((Kind::Reply, frame));
        state.replies += 1;
        drop(state);
        self.writer.notify_one();
    }

    /// Promises the reply to request `id`, which another task queues later (a publish's ack,
    /// queued by the committer). Until it is queued, [`Outbox::wait_promised`] waits and the
    /// promise counts as an unwritten reply.
    pub fn promise_reply(self: &Arc<Self>, id: u64) -> PromisedReply {
        self.state().promised += 1;
        PromisedReply { outbox: Some(self.clone()), id }
    }

    /// Waits until every promised reply is queued, so that a later reply follows them.
    pub async fn wait_promised(&self) {
        loop {
            let notified = self.handler.notified();
            if self.state().promised == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Queues a promised reply (or forgets it on a closed outbox) and wakes the handler.
    fn keep_promise(&self, frame: Bytes) {
        let mut state = self.state();
        state.promised -= 1;
        if !(state.closing || state.dead) {
            state.queue.push_back((Kind::Reply, frame));
            state.replies += 1;
        }
        drop(state);
        self.writer.notify_one();
        self.handler.notify_waiters();
    }

    /// Queues an event frame, replacing a queued one it supersedes, and collapsing the
    /// queued events into one `resync` on overflow.
    pub fn push_event(&self, frame: Bytes, key: Option<&Supersedes>) {
        let mut state = self.state();
        if state.closing || state.dead {
            return;
        }
        if state.resync_queued {
            return; // the client will refetch everything anyway
        }
        if let Some(key) = key.filter(|key| state.keyed.contains(*key)) {
            let stale = state.queue.iter().position(|(kind, _)| matches!(kind, Kind::Event(Some(k)) if k == key));
            if let Some(stale) = stale {
                state.queue.remove(stale);
                state.events -= 1;
            }
        }
        if state.events >= self.event_cap {
            state.queue.retain(|(kind, _)| !matches!(kind, Kind::Event(_)));
            state.events = 0;
            state.keyed.clear();
            state.resync_queued = true;
            let resync = Bytes::from(framed(&encode_event(&Event::Resync)));
            state.queue.push_back((Kind::Control, resync));
        } else {
            if let Some(key) = key {
                state.keyed.insert(key.clone());
            }
            state.queue.push_back((Kind::Event(key.cloned()), frame));
            state.events += 1;
        }
        drop(state);
        self.writer.notify_one();
    }

    /// Queues a `message` frame. The caller keeps the count under its bound (see
    /// [`Outbox::messages`]): a subscriber over it is fed from PostgreSQL instead.
    pub fn push_message(&self, frame: Bytes, gid: i64, seq: i64) {
        let mut state = self.state();
        if state.closing || state.dead {
            return;
        }
        state.queue.push_back((Kind::Message(gid, seq), frame));
        state.messages += 1;
        drop(state);
        self.writer.notify_one();
    }

    /// Replaces the queued, not yet written `message` frame of (gid, seq), if there is one,
    /// with `replace(frame)` in its place: a deleted message waiting for a slow reader goes
    /// out as its tombstone. Returns whether a frame was replaced.
    pub fn replace_message(&self, gid: i64, seq: i64, replace: impl FnOnce(&Bytes) -> Option<Bytes>) -> bool {
        let mut state = self.state();
        let queued = state.queue.iter_mut().find(|(kind, _)| *kind == Kind::Message(gid, seq));
        let Some((_, frame)) = queued else { return false };
        match replace(frame) {
            Some(replacement) => {
                *frame = replacement;
                true
            }
            None => false,
        }
    }

    /// How many messages are queued or being written.
    pub fn messages(&self) -> usize {
        self.state().messages
    }

    /// Whether the writer has given up on the socket or the outbox is closing.
    pub fn is_closed(&self) -> bool {
        let state = self.state();
        state.closing || state.dead
    }

    /// Waits until at most `count` messages are unwritten (or the outbox is closed).
    pub async fn wait_messages_at_most(&self, count: usize) {
        loop {
            let notified = self.handler.notified();
            {
                let state = self.state();
                if state.messages <= count || state.dead || state.closing {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Queues an event that must never be dropped or collapsed (`session_ended`).
    pub fn push_control(&self, frame: Bytes) {
        let mut state = self.state();
        if state.closing || state.dead {
            return;
        }
        state.queue.push_back((Kind::Control, frame));
        drop(state);
        self.writer.notify_one();
    }

    /// Tells the handler that its connection's session ended.
    pub fn notify_signed_out(&self) {
        self.signed_out.notify_one();
    }

    /// Resolves once the connection's session has ended (see [`Outbox::notify_signed_out`]).
    pub async fn signed_out(&self) {
        self.signed_out.notified().await;
    }

    /// Lets the writer send what is queued, then shut the socket's write side.
    pub fn close(&self) {
        self.state().closing = true;
        self.writer.notify_one();
    }

    /// Waits until fewer than `max` replies are queued or promised (or the writer died): a
    /// client that does not read its replies stops being read from.
    pub async fn wait_for_room(&self, max: usize) {
        loop {
            let notified = self.handler.notified();
            {
                let state = self.state();
                if state.replies + state.promised < max || state.dead {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Resolves when the writer has given up on the socket.
    pub async fn dead(&self) {
        loop {
            let notified = self.handler.notified();
            if self.state().dead {
                return;
            }
            notified.await;
        }
    }

    /// Takes everything queued and how many replies it holds, or `None` once closed and
    /// drained. The replies still count as unwritten until [`Outbox::written`].
    pub(crate) async fn next_batch(&self) -> Option<(Vec<Bytes>, Written)> {
        loop {
            let notified = self.writer.notified();
            {
                let mut state = self.state();
                if !state.queue.is_empty() {
                    state.events = 0;
                    state.keyed.clear();
                    state.resync_queued = false;
                    let mut written = Written::default();
                    let batch = state
                        .queue
                        .drain(..)
                        .map(|(kind, frame)| {
                            written.replies += usize::from(kind == Kind::Reply);
                            written.messages += usize::from(matches!(kind, Kind::Message(..)));
                            frame
                        })
                        .collect();
                    return Some((batch, written));
                }
                if state.closing {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Marks replies and messages as handed to the socket, making room for more.
    fn written(&self, written: Written) {
        let mut state = self.state();
        state.replies -= written.replies;
        state.messages -= written.messages;
        drop(state);
        self.handler.notify_waiters();
    }

    fn mark_dead(&self) {
        self.state().dead = true;
        self.handler.notify_waiters();
    }

    /// Writes queued frames until the outbox closes. A socket that accepts no byte for
    /// `write_timeout` (a dead reader) is given up; a merely slow one is waited for.
    pub async fn write_to<W: AsyncWrite + Unpin>(&self, mut socket: W, write_timeout: Duration) {
        while let Some((batch, written)) = self.next_batch().await {
            if write_frames(&mut socket, batch, write_timeout).await.is_err() {
                self.mark_dead();
                return;
            }
            self.written(written);
        }
        let _ = socket.shutdown().await;
        self.mark_dead();
    }
}

/// Frames gathered into one system call at most (Linux allows 1,024).
const MAX_IOVECS: usize = 256;

/// Writes frames as they are, without copying them into a buffer: an idle connection keeps
/// no write buffer, and the bytes a message was encoded into once go to every socket. A
/// socket that accepts no byte for `write_timeout` is an error.
async fn write_frames<W: AsyncWrite + Unpin>(
    socket: &mut W,
    batch: Vec<Bytes>,
    write_timeout: Duration,
) -> std::io::Result<()> {
    let mut frames = VecDeque::from(batch);
    while !frames.is_empty() {
        let slices: Vec<IoSlice<'_>> = frames.iter().take(MAX_IOVECS).map(|frame| IoSlice::new(frame)).collect();
        let written = tokio::time::timeout(write_timeout, socket.write_vectored(&slices))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while left > 0 {
            let Some(front) = frames.front_mut() else { break };
            if front.len() <= left {
                left -= front.len();
                frames.pop_front();
            } else {
                front.advance(left);
                left = 0;
            }
        }
    }
    // A no-op on TCP; a TLS stream may keep encrypted bytes it could not write yet, and
    // only a flush pushes them out when no further write comes.
    tokio::time::timeout(write_timeout, socket.flush())
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

/// A reply owed to a connection, queued by whichever task learns the answer. Dropped
/// unanswered (a bug), it answers `internal` so that the connection never waits forever.
pub struct PromisedReply {
    outbox: Option<Arc<Outbox>>,
    id: u64,
}

impl PromisedReply {
    /// The request's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues the reply: `Ok` with its body, or the error.
    pub fn answer<T: serde::Serialize>(mut self, result: Result<&T, &ErrorBody>) {
        let payload = match result {
            Ok(body) => encode_ok(self.id, body),
            Err(err) => encode_err(Some(self.id), err),
        };
        if let Some(outbox) = self.outbox.take() {
            outbox.keep_promise(Bytes::from(framed(&payload)));
        }
    }
}

impl Drop for PromisedReply {
    fn drop(&mut self) {
        if let Some(outbox) = self.outbox.take() {
            tracing::error!(id = self.id, "a promised reply was dropped unanswered");
            let body = ErrorBody::new(ErrorCode::Internal, "the broker failed to carry out the request");
            outbox.keep_promise(Bytes::from(framed(&encode_err(Some(self.id), &body))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use joint_wire::codec::Payload;
    use joint_wire::message::Incoming;

    fn push(outbox: &Outbox, event: Event) {
        outbox.push_event(Bytes::from(framed(&encode_event(&event))), Supersedes::of(&event).as_ref());
    }

    fn joined(login: &str) -> Event {
        Event::MemberJoined { group: "g".into(), gid: 2, login: login.into() }
    }

    fn decode(frame: &Bytes) -> Incoming {
        Incoming::parse(&Payload::parse(&frame[4..]).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn overflowing_events_collapse_into_one_resync_and_replies_stay() {
        let outbox = Outbox::new(3);
        outbox.push_reply(Bytes::from_static(b"reply-1"));
        for i in 0..3 {
            push(&outbox, joined(&format!("u{i}")));
        }
        push(&outbox, joined("overflow"));
        push(&outbox, joined("dropped"));
        outbox.push_control(Bytes::from_static(b"control"));
        outbox.push_reply(Bytes::from_static(b"reply-2"));
        let (batch, written) = outbox.next_batch().await.unwrap();
        assert_eq!(written, Written { replies: 2, messages: 0 });
        assert_eq!(batch.len(), 4, "reply, resync, control, reply: {batch:?}");
        assert_eq!(&batch[0][..], b"reply-1");
        assert_eq!(decode(&batch[1]), Incoming::Event(Event::Resync));
        assert_eq!(&batch[2][..], b"control");
        assert_eq!(&batch[3][..], b"reply-2");
        // After the resync went out, events flow again.
        push(&outbox, joined("later"));
        assert_eq!(outbox.next_batch().await.unwrap().0.len(), 1);
    }

    #[tokio::test]
    async fn a_newer_event_about_the_same_thing_replaces_the_queued_one() {
        let outbox = Outbox::new(5);
        let left = |login: &str| Event::MemberLeft { group: "g".into(), gid: 2, login: login.into() };
        let presence = |online| Event::Presence { login: "bob".into(), online };
        let read = |gid, read_seq| Event::Read { group: "g".into(), gid, read_seq };
        push(&outbox, joined("bob"));
        push(&outbox, presence(true));
        outbox.push_reply(Bytes::from_static(b"reply"));
        for event in [left("bob"), presence(false), read(2, 4), joined("ann"), read(3, 1), read(2, 9)] {
            push(&outbox, event);
        }
        // Nine pushed, five left: no resync at a cap of five.
        let (batch, _) = outbox.next_batch().await.unwrap();
        assert_eq!(&batch[0][..], b"reply");
        let events: Vec<Incoming> = batch[1..].iter().map(decode).collect();
        let newest = [left("bob"), presence(false), joined("ann"), read(3, 1), read(2, 9)];
        assert_eq!(events, newest.map(Incoming::Event), "only the newest of each, where the newest was pushed");
    }

    #[tokio::test]
    async fn wait_for_room_blocks_until_replies_drain() {
        let outbox = std::sync::Arc::new(Outbox::new(10));
        outbox.push_reply(Bytes::from_static(b"a"));
        outbox.push_reply(Bytes::from_static(b"b"));
        let waiter = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.wait_for_room(2).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "two queued replies fill a room of two");
        let (_, written) = outbox.next_batch().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "replies taken but not yet written still count");
        outbox.written(written);
        tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn closing_drains_then_ends() {
        let outbox = Outbox::new(10);
        outbox.push_reply(Bytes::from_static(b"last words"));
        outbox.close();
        outbox.push_reply(Bytes::from_static(b"too late"));
        let last = (vec![Bytes::from_static(b"last words")], Written { replies: 1, messages: 0 });
        assert_eq!(outbox.next_batch().await.unwrap(), last);
        assert_eq!(outbox.next_batch().await, None);
    }

    #[tokio::test]
    async fn a_promised_reply_holds_room_and_later_replies_until_answered() {
        let outbox = std::sync::Arc::new(Outbox::new(10));
        let promise = outbox.promise_reply(7);
        let room = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.wait_for_room(1).await }
        });
        let answered = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.wait_promised().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!room.is_finished() && !answered.is_finished(), "an unanswered promise counts as a reply");
        promise.answer(Ok(&joint_wire::message::PublishOk { seq: 3, at: 9 }));
        tokio::time::timeout(Duration::from_secs(1), answered).await.unwrap().unwrap();
        let (batch, written) = outbox.next_batch().await.unwrap();
        assert_eq!(written.replies, 1);
        let reply = decode(&batch[0]);
        assert!(matches!(reply, Incoming::Ok { re: 7, .. }), "{reply:?}");
        outbox.written(written);
        tokio::time::timeout(Duration::from_secs(1), room).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_promise_dropped_unanswered_answers_internal() {
        let outbox = std::sync::Arc::new(Outbox::new(10));
        drop(outbox.promise_reply(4));
        tokio::time::timeout(Duration::from_secs(1), outbox.wait_promised()).await.unwrap();
        let (batch, _) = outbox.next_batch().await.unwrap();
        match decode(&batch[0]) {
            Incoming::Err { re: 4, err } => assert_eq!(err.code, ErrorCode::Internal),
            other => panic!("{other:?}"),
        }
    }
}
