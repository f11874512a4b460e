//! One task per connection: it reads frames, answers them in order, and hands replies and
//! events to the connection's [`outbox::Outbox`], written by a second, small task.
//!
//! Requests are carried out one at a time in arrival order, so a request always sees
//! everything its connection asked before. A `publish` is the exception that keeps that
//! promise: once validated it goes to the committer, which queues its ack, and the task
//! reads on; further publishes join it (batches then gather many from one connection),
//! while any other request first waits for those acks. While `max_inflight` replies wait
//! unwritten or unanswered the task stops reading the socket. An anonymous connection has 30 s in all to sign in; a
//! signed-in one may stay silent for 120 s; a frame may pause for 30 s.

pub mod outbox;

use crate::hub::ConnId;
use crate::limits::IpSlot;
use crate::ops::{self, ConnState, Effect, Outcome};
use crate::server::Ctx;
use crate::subscriptions::catch_up;
use bytes::{Bytes, BytesMut};
use joint_wire::codec::{frame, FrameCodec, FrameError, Payload};
use joint_wire::message::Event;
use joint_wire::message::{encode_err, encode_event, Envelope, Op};
use joint_wire::{ErrorBody, ErrorCode};
use outbox::{Outbox, EVENT_QUEUE};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a closing connection keeps reading (and discarding) so that its last error
/// frame is not destroyed by a TCP reset.
const DRAIN: Duration = Duration::from_secs(1);

/// What a connection's read buffer grows by while frames arrive.
const READ_BUFFER: usize = 4096;

/// The read buffer of a connection waiting with nothing unread: most connections spend
/// most of their life there, and a request that does not fit makes it grow.
const IDLE_READ_BUFFER: usize = 512;

/// How long a closing connection waits for the acks of publishes it already handed on.
const PROMISE_WAIT: Duration = Duration::from_secs(10);

/// Serves one accepted connection, given as its two halves (a TCP socket's, or a TLS
/// stream's), holding its place among its IP's connections, until it closes.
pub async fn serve<R, W>(
    ctx: Arc<Ctx>,
    (mut reader, writer): (R, W),
    peer: SocketAddr,
    ip_slot: IpSlot,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let outbox = Arc::new(Outbox::new(EVENT_QUEUE));
    let write_timeout = Duration::from_millis(ctx.settings.write_timeout_ms);
    let writer_task = tokio::spawn({
        let outbox = outbox.clone();
        async move { outbox.write_to(writer, write_timeout).await }
    });
    let id = ctx.hub.attach(outbox.clone());
    ctx.metrics.connections.inc();
    let mut handler =
        Handler { ctx: ctx.clone(), id, outbox: outbox.clone(), state: ConnState::new(id, peer.ip(), ip_slot) };
    handler.run(&mut reader, &shutdown).await;
    ctx.hub.detach(id);
    ctx.metrics.connections.dec();
    ctx.subscriptions.drop_conns(&[id]);
    outbox.close();
    let _ = writer_task.await;
}

/// Refuses a connection over a limit with a connection error, then closes it.
pub async fn refuse<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>((mut reader, writer): (R, W), body: ErrorBody) {
    let outbox = Outbox::new(1);
    outbox.push_reply(Bytes::from(frame(&encode_err(None, &body))));
    outbox.close();
    tokio::join!(outbox.write_to(writer, DRAIN), drain(&mut reader));
}

/// Reads and discards input for up to [`DRAIN`] or until the peer closes.
async fn drain<R: AsyncRead + Unpin>(reader: &mut R) {
    let deadline = tokio::time::Instant::now() + DRAIN;
    // On the heap: a buffer in the future itself would make every connection's task larger.
    let mut sink = vec![0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, reader.read(&mut sink)).await {
        if n == 0 {
            break;
        }
    }
}

/// Whether a connection goes on after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

struct Handler {
    ctx: Arc<Ctx>,
    id: ConnId,
    outbox: Arc<Outbox>,
    state: ConnState,
}

impl Handler {
    async fn run<R: AsyncRead + Unpin>(&mut self, reader: &mut R, shutdown: &CancellationToken) {
        let settings = &self.ctx.settings;
        let mut codec = FrameCodec::new(settings.max_frame);
        let mut buffer = BytesMut::with_capacity(IDLE_READ_BUFFER);
        let half_frame = Duration::from_millis(settings.idle_half_frame_ms);
        let grace = Duration::from_millis(settings.shutdown_grace_ms);
        // When the connection became anonymous (at connect, or when its session ended):
        // an anonymous connection has this long in all to sign in.
        let mut anonymous_since = Some(Instant::now());
        // When the broker last finished answering a whole frame: a signed-in connection must
        // complete one within the signed-in limit, so bytes dribbled into a frame that never
        // ends cannot hold it open (CONTRACT.md §4: "no frame for 120 s").
        let mut last_frame = Instant::now();
        let mut stop_answering_at: Option<Instant> = None;
        loop {
            loop {
                if shutdown.is_cancelled() && Instant::now() >= *stop_answering_at.get_or_insert(Instant::now() + grace)
                {
                    return self.fatal(reader, shutting_down()).await;
                }
                match codec.decode_whole(&mut buffer) {
                    Ok(Some(frame)) => {
                        self.outbox.wait_for_room(self.ctx.settings.max_inflight).await;
                        // Boxed: an operation's future is kilobytes that only a request in progress
                        // needs, not every idle connection's task.
                        if Box::pin(self.handle(frame)).await == Flow::Close {
                            self.outbox.close();
                            return drain(reader).await;
                        }
                        last_frame = Instant::now();
                    }
                    Ok(None) => break,
                    Err(FrameError::TooLarge { max }) => {
                        let msg = format!("the frame is longer than the limit of {max} bytes");
                        return self.fatal(reader, ErrorBody::new(ErrorCode::FrameTooLarge, msg)).await;
                    }
                    Err(FrameError::Io(_)) => return,
                }
            }
            if shutdown.is_cancelled() {
                return self.fatal(reader, shutting_down()).await;
            }
            let signed_in = self.ctx.hub.session(self.id).is_some();
            anonymous_since = match (signed_in, anonymous_since) {
                (true, _) => None,
                (false, None) => Some(Instant::now()),
                (false, since) => since,
            };
            let idle = match anonymous_since {
                Some(since) => self.ctx.settings.idle_limit(false).saturating_sub(since.elapsed()),
                None => self.ctx.settings.idle_limit(true).saturating_sub(last_frame.elapsed()),
            };
            if idle.is_zero() {
                return self.fatal(reader, idle_timeout()).await;
            }
            let limit = if buffer.is_empty() { idle } else { idle.min(half_frame) };
            if buffer.is_empty() {
                // Do not keep a past request's memory while waiting.
                if buffer.capacity() > IDLE_READ_BUFFER {
                    buffer = BytesMut::with_capacity(IDLE_READ_BUFFER);
                }
            } else if buffer.capacity() - buffer.len() < 1024 {
                buffer.reserve(READ_BUFFER);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return self.fatal(reader, shutting_down()).await,
                _ = self.outbox.dead() => return,
                // The limits change with the state: start over with the anonymous one.
                _ = self.outbox.signed_out() => {}
                read = tokio::time::timeout(limit, reader.read_buf(&mut buffer)) => match read {
                    Err(_) => return self.fatal(reader, idle_timeout()).await,
                    Ok(Ok(0)) | Ok(Err(_)) => return,
                    Ok(Ok(_)) => {}
                },
            }
        }
    }

    /// Sends a connection error, closes the outbox and drains input before closing.
    async fn fatal<R: AsyncRead + Unpin>(&mut self, reader: &mut R, body: ErrorBody) {
        tracing::debug!(conn = self.id, code = %body.code, "closing connection");
        // Publishes already handed to the committer are answered before the last words.
        let _ = tokio::time::timeout(PROMISE_WAIT, self.outbox.wait_promised()).await;
        self.outbox.push_reply(Bytes::from(frame(&encode_err(None, &body))));
        self.outbox.close();
        drain(reader).await;
    }

    /// Answers one frame: a reply (or a `bad_frame` connection error), then its effects.
    async fn handle(&mut self, payload: Bytes) -> Flow {
        let payload = match Payload::parse(&payload) {
            Ok(payload) => payload,
            Err(err) => {
                let body = ErrorBody::new(ErrorCode::BadFrame, err.reason);
                self.send(err.id, encode_err(err.id, &body)).await;
                return Flow::Continue;
            }
        };
        let envelope = match Envelope::read(payload) {
            Ok(envelope) => envelope,
            Err(body) => {
                self.send(None, encode_err(None, &body)).await;
                return Flow::Continue;
            }
        };
        let id = envelope.id;
        if envelope.op != Ok(Op::Publish) {
            // Read your own writes: everything but another publish waits for the acks.
            self.outbox.wait_promised().await;
        }
        if envelope.op != Ok(Op::Hello) {
            self.state.hello_allowed = false;
        }
        match ops::dispatch(&self.ctx, &mut self.state, envelope).await {
            Ok(outcome) => {
                // A withheld reply means the request failed as far as the client knows, so
                // it must not be signed in by it; what it changed in the database is still
                // told to whom it concerns.
                let Outcome { reply, effects, order } = outcome;
                let sent = match reply {
                    Some(reply) => self.send(Some(id), reply).await,
                    None => true,
                };
                self.apply(effects.into_iter().filter(|e| sent || !matches!(e, Effect::SignIn(_))));
                // Only now may the next change of the same groups queue its events.
                drop(order);
            }
            Err(err) => {
                let body = err.to_body();
                self.send(Some(id), encode_err(Some(id), &body)).await;
                // A proxied client over its connection cap (refused at `hello`) is closed
                // like one refused at accept.
                if body.code == ErrorCode::TooManyConnections {
                    return Flow::Close;
                }
            }
        }
        Flow::Continue
    }

    /// Queues a reply after the promised ones; one larger than the announced `max_frame` is
    /// replaced by `internal`. Returns whether the reply went out as given.
    async fn send(&self, re: Option<u64>, payload: Vec<u8>) -> bool {
        self.outbox.wait_promised().await;
        let fits = payload.len() <= self.ctx.settings.max_frame;
        let payload = if fits {
            payload
        } else {
            tracing::error!(conn = self.id, len = payload.len(), "reply larger than max_frame withheld");
            let body = ErrorBody::new(ErrorCode::Internal, "the broker failed to carry out the request");
            encode_err(re, &body)
        };
        self.outbox.push_reply(Bytes::from(frame(&payload)));
        fits
    }

    /// Carries out what a request caused, after its reply is queued.
    fn apply(&self, effects: impl IntoIterator<Item = Effect>) {
        apply(&self.ctx, Some(self.id), effects);
    }
}

/// Carries out effects: those of a request on connection `conn`, after its reply is
/// queued, or (`conn` = `None`) those another broker's change caused, which reach this
/// broker's connections exactly as a local change's would.
pub fn apply(ctx: &Ctx, conn: Option<ConnId>, effects: impl IntoIterator<Item = Effect>) {
    let hub = &ctx.hub;
    for effect in effects {
        match effect {
            Effect::SignIn(session) => {
                if let Some(conn) = conn {
                    hub.sign_in(conn, session);
                }
            }
            Effect::Notify(change) => {
                // Nothing after the commit that ended a membership reaches its member,
                // and no message follows the event that says so.
                match change.event {
                    Event::GroupRemoved { gid, .. } => {
                        for user in &change.to {
                            ctx.subscriptions.drop_member(*user, gid as i64);
                        }
                    }
                    Event::GroupDeleted { gid, .. } => ctx.subscriptions.drop_group(gid as i64),
                    _ => {}
                }
                hub.send(&change.to, &change.event);
            }
            Effect::NotifyOtherConnections { user, except, event } => hub.send_except(user, except, &event),
            Effect::EndSessions { tokens, reason } => {
                hub.end_sessions(&tokens, reason, |ended| ctx.subscriptions.drop_conns(ended));
            }
            Effect::MessageDeleted(tombstone) => {
                let event = Event::MessageDeleted {
                    group: tombstone.group,
                    gid: tombstone.gid as u64,
                    seq: tombstone.seq as u64,
                };
                let frame = Bytes::from(frame(&encode_event(&event)));
                ctx.subscriptions.message_deleted(tombstone.gid, tombstone.seq, frame);
            }
            Effect::CatchUp(sub) => {
                tokio::spawn(catch_up(ctx.store.clone(), ctx.subscriptions.clone(), sub));
            }
        }
    }
}

fn idle_timeout() -> ErrorBody {
    ErrorBody::new(ErrorCode::IdleTimeout, "the connection was idle for too long")
}

fn shutting_down() -> ErrorBody {
    ErrorBody::new(ErrorCode::ShuttingDown, "the broker is shutting down")
}
