//! Who is connected, as whom: the one owner of every connection's session and the router
//! of events to users' connections. A std mutex with short critical sections, never held
//! across `.await`; pushing to an outbox never blocks.

use crate::connection::outbox::{Outbox, Supersedes};
use crate::store::{Account, UserId};
use crate::token::TokenHash;
use bytes::Bytes;
use joint_wire::message::{encode_event, EndReason, Event};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A connection's id within this broker.
pub type ConnId = u64;

/// A signed-in connection's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who the connection is signed in as (the name as at sign-in; `me` reads the current one).
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
    /// Where to report users who came online or went offline (see `presence`).
    presence: Option<mpsc::UnboundedSender<UserId>>,
    by_user: HashMap<UserId, Vec<ConnId>>,
    /// Tokens that died lately, and why: a sign-in checked against the database just before
    /// its token died must not take effect after [`Hub::end_sessions`] has run.
    ended: HashMap<TokenHash, (Instant, EndReason)>,
}

/// How long a dead token is remembered; far longer than any request takes.
const REMEMBER_ENDED: Duration = Duration::from_secs(60);

impl State {
    fn report_presence(&self, user: UserId) {
        if let Some(presence) = &self.presence {
            let _ = presence.send(user);
        }
    }

    fn unlink(&mut self, id: ConnId, user: UserId) {
        if let Some(ids) = self.by_user.get_mut(&user) {
            ids.retain(|c| *c != id);
            if ids.is_empty() {
                self.by_user.remove(&user);
                self.report_presence(user);
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

    /// A hub that reports to `presence` every user whose count of signed-in connections
    /// goes between 0 and 1.
    pub fn with_presence(presence: mpsc::UnboundedSender<UserId>) -> Hub {
        let hub = Hub::default();
        hub.state().presence = Some(presence);
        hub
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

    /// Signs a connection in, unless its token died while the sign-in was being checked:
    /// then the connection is told so with `session_ended` and stays anonymous.
    pub fn sign_in(&self, id: ConnId, session: Session) {
        let mut state = self.state();
        let user = session.account.id;
        let ended = state.ended.get(&session.token).map(|(_, reason)| *reason);
        let Some(conn) = state.conns.get_mut(&id) else { return };
        if let Some(reason) = ended {
            conn.outbox.push_control(event_frame(&Event::SessionEnded { reason }));
            return;
        }
        conn.session = Some(session);
        let ids = state.by_user.entry(user).or_default();
        ids.push(id);
        if ids.len() == 1 {
            state.report_presence(user);
        }
    }

    /// The connection's session, if it is signed in.
    pub fn session(&self, id: ConnId) -> Option<Session> {
        self.state().conns.get(&id).and_then(|c| c.session.clone())
    }

    /// Sends an event to every connection of each user.
    pub fn send(&self, users: &[UserId], event: &Event) {
        let (frame, key) = (event_frame(event), Supersedes::of(event));
        let state = self.state();
        for user in users {
            for id in state.by_user.get(user).into_iter().flatten() {
                if let Some(conn) = state.conns.get(id) {
                    conn.outbox.push_event(frame.clone(), key.as_ref());
                }
            }
        }
    }

    /// Sends an event to every connection of `user` but `except`.
    pub fn send_except(&self, user: UserId, except: ConnId, event: &Event) {
        let (frame, key) = (event_frame(event), Supersedes::of(event));
        let state = self.state();
        for id in state.by_user.get(&user).into_iter().flatten().filter(|id| **id != except) {
            if let Some(conn) = state.conns.get(id) {
                conn.outbox.push_event(frame.clone(), key.as_ref());
            }
        }
    }

    /// The outbox of a connection, while it is open.
    pub fn outbox(&self, id: ConnId) -> Option<Arc<Outbox>> {
        self.state().conns.get(&id).map(|conn| conn.outbox.clone())
    }

    /// Signs out every connection holding one of `tokens` and tells it why. `before_telling`
    /// gets those connections first (to end their subscriptions, so that no message follows
    /// `session_ended`).
    pub fn end_sessions(&self, tokens: &[TokenHash], reason: EndReason, before_telling: impl FnOnce(&[ConnId])) {
        if tokens.is_empty() {
            return;
        }
        let frame = event_frame(&Event::SessionEnded { reason });
        let dead: HashSet<&TokenHash> = tokens.iter().collect();
        let mut state = self.state();
        let now = Instant::now();
        state.ended.retain(|_, (at, _)| now.duration_since(*at) < REMEMBER_ENDED);
        state.ended.extend(tokens.iter().map(|token| (*token, (now, reason))));
        let ended: Vec<(ConnId, UserId)> = state
            .conns
            .iter()
            .filter_map(|(id, conn)| {
                let session = conn.session.as_ref()?;
                dead.contains(&session.token).then_some((*id, session.account.id))
            })
            .collect();
        let ids: Vec<ConnId> = ended.iter().map(|(id, _)| *id).collect();
        before_telling(&ids);
        for (id, user) in &ended {
            state.unlink(*id, *user);
            if let Some(conn) = state.conns.get_mut(id) {
                conn.session = None;
                conn.outbox.push_control(frame.clone());
                conn.outbox.notify_signed_out();
            }
        }
    }

    /// Whether the user has a signed-in connection now.
    pub fn online(&self, user: UserId) -> bool {
        self.state().by_user.contains_key(&user)
    }

    /// The users with a signed-in connection now.
    pub fn online_users(&self) -> Vec<UserId> {
        self.state().by_user.keys().copied().collect()
    }

    /// The user's login if they have a signed-in connection now.
    pub fn login_if_online(&self, user: UserId) -> Option<String> {
        let state = self.state();
        let id = state.by_user.get(&user)?.first()?;
        state.conns.get(id)?.session.as_ref().map(|s| s.account.login.clone())
    }

    /// Sends an event to the given connections.
    pub fn send_to(outboxes: &[Arc<Outbox>], event: &Event) {
        let (frame, key) = (event_frame(event), Supersedes::of(event));
        for outbox in outboxes {
            outbox.push_event(frame.clone(), key.as_ref());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sign_in_whose_token_just_died_does_not_take_effect() {
        let hub = Hub::default();
        let outbox = Arc::new(Outbox::new(10));
        let id = hub.attach(outbox.clone());
        let account = Account { id: 1, login: "ann".into(), name: "Ann".into() };
        let token = [7u8; 32];
        // auth checked the token in the database; then a logout ended it before the
        // sign-in was applied.
        hub.end_sessions(&[token], EndReason::Logout, |_| {});
        hub.sign_in(id, Session { account: account.clone(), token });
        assert_eq!(hub.session(id), None);
        assert!(!hub.online(1));
        let (frames, _) = outbox.next_batch().await.unwrap();
        let payload = joint_wire::codec::Payload::parse(&frames[0][4..]).unwrap();
        let told = joint_wire::message::Incoming::parse(&payload).unwrap();
        assert_eq!(told, joint_wire::message::Incoming::Event(Event::SessionEnded { reason: EndReason::Logout }));
        // Another token signs in as usual.
        hub.sign_in(id, Session { account, token: [8u8; 32] });
        assert!(hub.online(1));
    }
}
