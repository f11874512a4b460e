//! Dispatch: one `match` from a request to the function that carries it out, after the
//! checks the contract orders before any operation (CONTRACT.md §10 precedence:
//! unknown_op → unauthenticated / already_authenticated → invalid_argument → …).

mod account;
mod groups;
mod messages;
mod moderation;
mod session;

pub use messages::check_message;

use crate::cluster::note::Shared;
use crate::error::BrokerError;
use crate::hub::{ConnId, Session};
use crate::limits::IpSlot;
use crate::server::Ctx;
use crate::store::{GroupChange, OrderGuard, Tombstone, UserId};
use crate::subscriptions::CatchUp;
use crate::token::TokenHash;
use joint_wire::message::{encode_ok, EndReason, Envelope, Event, Request};
use joint_wire::ErrorCode;
use serde::Serialize;
use std::net::IpAddr;

/// What a connection knows about itself between requests.
#[derive(Debug)]
pub struct ConnState {
    /// The connection's id in the hub.
    pub id: ConnId,
    /// The client's IP for limits: the peer's, or the one a trusted proxy named in `hello`.
    pub ip: IpAddr,
    /// The socket peer's IP.
    pub peer_ip: IpAddr,
    /// True until the first request that is not a refused `hello`.
    pub hello_allowed: bool,
    /// The connection's place among its IP's connections: the peer's, moved to the client's
    /// when a trusted proxy's `hello` names it; given back when the connection closes.
    pub ip_slot: IpSlot,
}

impl ConnState {
    /// The state of a fresh connection from `peer_ip`, counted in `ip_slot`.
    pub fn new(id: ConnId, peer_ip: IpAddr, ip_slot: IpSlot) -> ConnState {
        ConnState { id, ip: peer_ip, peer_ip, hello_allowed: true, ip_slot }
    }
}

/// A state change or notification a request causes, applied after its reply is queued so
/// that the reply reaches the requesting connection before any event it causes.
#[derive(Debug)]
pub enum Effect {
    /// The connection is now signed in.
    SignIn(Session),
    /// An event for some users' connections.
    Notify(GroupChange),
    /// An event for a user's connections other than the requesting one.
    NotifyOtherConnections {
        /// The user.
        user: UserId,
        /// The requesting connection, which learnt it from the reply.
        except: ConnId,
        /// The event.
        event: Event,
    },
    /// Start feeding a new subscription (after its reply, which precedes its first message).
    CatchUp(CatchUp),
    /// A message became a tombstone: its group's subscribers get `message_deleted`.
    MessageDeleted(Tombstone),
    /// These sessions died: their connections get `session_ended` and become anonymous.
    EndSessions {
        /// The hashes of the dead tokens.
        tokens: Vec<TokenHash>,
        /// Why they died, as `session_ended` tells.
        reason: EndReason,
    },
}

impl Effect {
    /// The effect as the other brokers carry it out, for one that concerns connections
    /// beyond the requesting one.
    pub fn shared(&self) -> Option<Shared> {
        match self {
            Effect::SignIn(_) | Effect::CatchUp(_) => None,
            Effect::Notify(change) => Some(Shared::Notify { to: change.to.clone(), event: change.event.clone() }),
            Effect::NotifyOtherConnections { user, event, .. } => {
                Some(Shared::Notify { to: vec![*user], event: event.clone() })
            }
            Effect::MessageDeleted(t) => {
                Some(Shared::MessageDeleted { group: t.group.clone(), gid: t.gid, seq: t.seq })
            }
            Effect::EndSessions { tokens, reason } => {
                Some(Shared::EndSessions { tokens: tokens.clone(), reason: *reason })
            }
        }
    }
}

impl From<Shared> for Effect {
    fn from(shared: Shared) -> Effect {
        match shared {
            Shared::Notify { to, event } => Effect::Notify(GroupChange { to, event }),
            Shared::MessageDeleted { group, gid, seq } => Effect::MessageDeleted(Tombstone { group, gid, seq }),
            Shared::EndSessions { tokens, reason } => Effect::EndSessions { tokens, reason },
        }
    }
}

/// Which of `users` are signed in on any broker: here, or on another live one.
async fn online(ctx: &Ctx, users: &[UserId]) -> Result<std::collections::HashSet<UserId>, BrokerError> {
    let mut online: std::collections::HashSet<UserId> = users.iter().copied().filter(|u| ctx.hub.online(*u)).collect();
    let elsewhere: Vec<UserId> = users.iter().copied().filter(|u| !online.contains(u)).collect();
    let stale = std::time::Duration::from_millis(ctx.settings.cluster_stale_ms);
    online.extend(ctx.store.online_anywhere(&elsewhere, stale).await?);
    Ok(online)
}

/// Tells the other brokers the effects of a change committed without a note of its own
/// (those not ordered with messages: session ends, read markers).
async fn announce(ctx: &Ctx, effects: &[Effect]) {
    ctx.store.announce(effects.iter().filter_map(Effect::shared).collect()).await;
}

/// A successful request: its encoded reply and its effects.
#[derive(Debug)]
pub struct Outcome {
    /// The reply payload, already encoded with the request's id; `None` when another task
    /// promised to queue it (a publish's ack, see [`Outbox::promise_reply`]).
    ///
    /// [`Outbox::promise_reply`]: crate::connection::outbox::Outbox::promise_reply
    pub reply: Option<Vec<u8>>,
    /// What to do once the reply is queued.
    pub effects: Vec<Effect>,
    /// Keeps the effects in commit order among changes of the same groups; dropped once
    /// they are applied.
    pub order: Option<OrderGuard>,
}

impl Outcome {
    /// A request whose reply another task queues later.
    pub fn promised() -> Outcome {
        Outcome { reply: None, effects: Vec::new(), order: None }
    }

    /// Holds `order` until this outcome's effects are applied.
    pub fn in_order(mut self, order: OrderGuard) -> Outcome {
        self.order = Some(order);
        self
    }
}

/// Builds outcomes for one request id.
pub(crate) struct Reply(u64);

impl Reply {
    /// The request's id.
    pub fn id(&self) -> u64 {
        self.0
    }

    /// An outcome with a reply and no effects.
    pub fn ok<T: Serialize>(&self, body: &T) -> Outcome {
        self.with(body, Vec::new())
    }

    /// An outcome with a reply and effects.
    pub fn with<T: Serialize>(&self, body: &T, effects: Vec<Effect>) -> Outcome {
        Outcome { reply: Some(encode_ok(self.0, body)), effects, order: None }
    }

    /// Encodes a page of items, dropping items from the end until the reply fits in
    /// `max_frame`; `more` becomes true when items were dropped.
    pub fn page<I: Clone, T: Serialize>(
        &self,
        max_frame: usize,
        mut items: Vec<I>,
        more: bool,
        make: impl Fn(Vec<I>, bool) -> T,
    ) -> Outcome {
        let mut more = more;
        loop {
            let reply = encode_ok(self.0, &make(items.clone(), more));
            if reply.len() <= max_frame || items.len() <= 1 {
                return Outcome { reply: Some(reply), effects: Vec::new(), order: None };
            }
            let keep = items.len() * max_frame / reply.len();
            items.truncate(keep.clamp(1, items.len() - 1));
            more = true;
        }
    }
}

/// Carries out one request after the envelope was read.
pub async fn dispatch(ctx: &Ctx, conn: &mut ConnState, envelope: Envelope) -> Result<Outcome, BrokerError> {
    let op = envelope.op?;
    let session = ctx.hub.session(conn.id);
    match (&session, op.allowed_anonymous(), op.signs_in()) {
        (None, false, _) => return Err(BrokerError::refused(ErrorCode::Unauthenticated, "sign in first")),
        (Some(_), _, true) => {
            return Err(BrokerError::refused(ErrorCode::AlreadyAuthenticated, "this connection is already signed in"))
        }
        _ => {}
    }
    let request = Request::parse(op, &envelope.payload)?;
    let reply = Reply(envelope.id);
    let Some(me) = session else {
        return match request {
            Request::Hello { version, client_ip, .. } => session::hello(ctx, conn, reply, version, client_ip),
            Request::Register { login, name, password } => {
                session::register(ctx, conn, reply, login, name, password).await
            }
            Request::Login { login, password } => session::login(ctx, conn, reply, login, password).await,
            Request::Auth { token } => session::auth(ctx, conn, reply, token).await,
            Request::Ping => Ok(reply.ok(&joint_wire::message::Empty {})),
            other => Err(BrokerError::Internal(anyhow::anyhow!("{:?} reached the anonymous dispatch", other.op()))),
        };
    };
    match request {
        Request::Hello { version, client_ip, .. } => session::hello(ctx, conn, reply, version, client_ip),
        Request::Ping => Ok(reply.ok(&joint_wire::message::Empty {})),
        Request::Logout => session::logout(ctx, reply, &me).await,
        Request::Me => account::me(ctx, reply, &me).await,
        Request::SetName { name } => account::set_name(ctx, reply, &me, name).await,
        Request::Passwd { old, new } => account::passwd(ctx, conn, reply, &me, old, new).await,
        Request::DeleteAccount { password } => account::delete_account(ctx, conn, reply, &me, password).await,
        Request::Users { after, limit } => account::users(ctx, reply, after, limit).await,
        Request::User { login } => account::user(ctx, reply, &me, login).await,
        Request::Groups => groups::groups(ctx, reply, &me).await,
        Request::GroupCreate { group, members } => groups::create(ctx, reply, &me, group, members).await,
        Request::GroupDelete { group } => groups::delete(ctx, reply, &me, group).await,
        Request::GroupAdmin { group, login } => groups::admin(ctx, reply, &me, group, login).await,
        Request::Members { group, after, limit } => groups::members(ctx, reply, &me, group, after, limit).await,
        Request::MemberAdd { group, logins } => groups::member_add(ctx, reply, &me, group, logins).await,
        Request::MemberRemove { group, logins } => groups::member_remove(ctx, reply, &me, group, logins).await,
        Request::Leave { group } => groups::leave(ctx, reply, &me, group).await,
        Request::Subscribe { group, gid, after } => {
            messages::subscribe(ctx, reply, &me, conn.id, group, gid, after).await
        }
        Request::Unsubscribe { group } => messages::unsubscribe(ctx, reply, conn.id, group),
        Request::Publish { group, body, cid } => messages::publish(ctx, reply, &me, conn.id, group, body, cid).await,
        Request::History { group, gid, before, after, limit } => {
            messages::history(ctx, reply, &me, group, gid, (before, after, limit)).await
        }
        Request::MarkRead { group, seq } => messages::mark_read(ctx, reply, &me, conn.id, group, seq).await,
        Request::MessageDelete { group, seq } => moderation::message_delete(ctx, reply, &me, group, seq).await,
        Request::UserDisable { login } => moderation::set_disabled(ctx, reply, &me, login, true).await,
        Request::UserEnable { login } => moderation::set_disabled(ctx, reply, &me, login, false).await,
        Request::UserCreate { login, name, password } => {
            moderation::user_create(ctx, reply, &me, login, name, password).await
        }
        Request::Register { .. } | Request::Login { .. } | Request::Auth { .. } => {
            Err(BrokerError::Internal(anyhow::anyhow!("sign-in request reached the signed-in dispatch")))
        }
    }
}
