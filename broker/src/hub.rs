//! Who is connected, as whom: the one owner of every connection's session and the router
//! of events to users' connections. A std mutex with short critical sections, never held
//! across `.await`; pushing to an outbox never blocks.

use crate::connection::outbox::Outbox;
use crate::store::{Account, UserId};
use crate::token::TokenHash;
use bytes::Bytes;
use joint_wire::message::{encode_event, EndReason, Event};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A connection's id within this broker.
pub type ConnId = u64;

/// A signed-in connection's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who the connection is signed in as.
    pub account: Account,
    /// The hash of the session token it used, to end it with the session.
    pub token: TokenHash,
}

struct Conn {
    outbox: Arc<Outbox>,
    session: Option<Session>,
}

#[derive(Default)]
struct State {
    conns: HashMap<ConnId, Conn>,
    by_user: HashMap<UserId, Vec<ConnId>>,
}

impl State {
    fn unlink(&mut self, id: ConnId, user: UserId) {
        if let Some(ids) = self.by_user.get_mut(&user) {
            ids.retain(|c| *c != id);
            if ids.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }
}

/// The registry of live connections.
#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    next_id: AtomicU64,
}

fn event_frame(event: &Event) -> Bytes {
    Bytes::from(joint_wire::codec::frame(&encode_event(event)))
}

impl Hub {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new, anonymous connection.
    pub fn attach(&self, outbox: Arc<Outbox>) -> ConnId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.state().conns.insert(id, Conn { outbox, session: None });
        id
    }

    /// Forgets a closed connection.
    pub fn detach(&self, id: ConnId) {
        let mut state = self.state();
        if let Some(Conn { session: Some(session), .. }) = state.conns.remove(&id) {
            state.unlink(id, session.account.id);
        }
    }

    /// Signs a connection in.
    pub fn sign_in(&self, id: ConnId, session: Session) {
        let mut state = self.state();
        let user = session.account.id;
        if let Some(conn) = state.conns.get_mut(&id) {
            conn.session = Some(session);
            state.by_user.entry(user).or_default().push(id);
        }
    }

    /// The connection's session, if it is signed in.
    pub fn session(&self, id: ConnId) -> Option<Session> {
        self.state().conns.get(&id).and_then(|c| c.session.clone())
    }

    /// Updates the display name every connection of `account.id` holds.
    pub fn rename(&self, account: &Account) {
        let mut state = self.state();
        let ids = state.by_user.get(&account.id).cloned().unwrap_or_default();
        for id in ids {
            if let Some(Conn { session: Some(session), .. }) = state.conns.get_mut(&id) {
                session.account = account.clone();
            }
        }
    }

    /// Sends an event to every connection of each user.
    pub fn send(&self, users: &[UserId], event: &Event) {
        let frame = event_frame(event);
        let state = self.state();
        for user in users {
            for id in state.by_user.get(user).into_iter().flatten() {
                if let Some(conn) = state.conns.get(id) {
                    conn.outbox.push_event(frame.clone());
                }
            }
        }
    }

    /// Signs out every connection holding one of `tokens` and tells it why.
    pub fn end_sessions(&self, tokens: &[TokenHash], reason: EndReason) {
        if tokens.is_empty() {
            return;
        }
        let frame = event_frame(&Event::SessionEnded { reason });
        let mut state = self.state();
        let ended: Vec<(ConnId, UserId)> = state
            .conns
            .iter()
            .filter_map(|(id, conn)| {
                let session = conn.session.as_ref()?;
                tokens.contains(&session.token).then_some((*id, session.account.id))
            })
            .collect();
        for (id, user) in ended {
            state.unlink(id, user);
            if let Some(conn) = state.conns.get_mut(&id) {
                conn.session = None;
                conn.outbox.push_control(frame.clone());
            }
        }
    }

    /// Whether the user has a signed-in connection now.
    pub fn online(&self, user: UserId) -> bool {
        self.state().by_user.contains_key(&user)
    }

    /// The tokens of signed-in connections: sessions in use, never expired by the sweeper.
    pub fn tokens_in_use(&self) -> Vec<TokenHash> {
        let state = self.state();
        let mut tokens: Vec<TokenHash> =
            state.conns.values().filter_map(|c| c.session.as_ref().map(|s| s.token)).collect();
        tokens.sort_unstable();
        tokens.dedup();
        tokens
    }
}
