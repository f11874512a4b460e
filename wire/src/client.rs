//! The async client library shared by the CLI, the HTTP bridge and the GUI.
//!
//! A [`Client`] is a cheap handle to one background task that owns the socket. The task
//! writes requests, matches replies to them by id, forwards events to [`Events`], pings the
//! broker so the connection never idles out, and, when the connection drops, connects again,
//! signs in again with the session token and resumes every subscription after the last
//! message it delivered: no gap, no duplicate.
//!
//! # Several brokers
//!
//! [`ClientConfig::brokers`] may list every broker of a cluster (they share one PostgreSQL,
//! so any of them serves the same groups, order and history). The first connection tries
//! them in the order given. After a dropped connection or a `shutting_down` close, the
//! client tries the address *after* the one it was on first, wrapping around, and the one
//! it left last; it waits a random pause before each round so that the clients of a dead
//! broker do not all arrive at a survivor at once (see [`crate::failover`]).
//! [`ClientEvent::Reconnected`] names the broker the new connection reached.
//!
//! # Requests in flight when the connection drops
//!
//! The client never sends a request twice on its own. A request whose reply had not
//! arrived fails with [`ClientError::Disconnected`], and requests made while the client is
//! reconnecting fail at once the same way: nothing is queued to be sent later. For a
//! publish the outcome is then unknown: the broker may have committed it. Publish it again
//! with the same cid ([`Client::publish_with_cid`]), on this or any other broker of the
//! cluster: the cid is stored with the message in PostgreSQL, so the broker stores it once
//! and answers with the seq it got the first time. [`Client::publish`] draws a fresh cid on
//! every call, so it must not be used for such a retry.

use crate::codec::{from_value, FrameCodec, Payload, DEFAULT_MAX_FRAME};
use crate::error::{ErrorBody, ErrorCode};
use crate::failover::{self, Backoff};
use crate::message::{
    AddedOk, Empty, Event, Group, GroupOk, GroupsOk, HelloOk, HistoryOk, Incoming, MarkReadOk, MembersPage, PublishOk,
    RemovedOk, Request, SessionOk, SubscribeOk, UserDetail, UserInfo, UserOk, UsersPage,
};
use crate::resume::{Resumes, Tracks};
use crate::tls::{Stream, TlsConfig};
use crate::PROTOCOL_VERSION;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rmpv::Value;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

/// How to reach the broker and how to behave when the connection drops.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Broker addresses (`host:port`): tried in order on the first connection, from the one
    /// after the broker left on a reconnection (see the module's docs).
    pub brokers: Vec<String>,
    /// The program's name and version, sent in `hello`.
    pub client_name: String,
    /// Whether to connect again and re-authenticate when the connection drops.
    pub reconnect: bool,
    /// How long one connection attempt to one address may take.
    pub connect_timeout: Duration,
    /// The address of the real client this connection acts for, sent in `hello` by proxies
    /// such as the HTTP bridge; the broker believes it only from its `--trusted-proxy`
    /// peers, so its rate limits count per real client. `None` for ordinary clients.
    pub client_ip: Option<String>,
    /// At most this many events wait unread in [`Events`]; when they do, the client stops
    /// reading its socket until the application reads on, so a slow reader's backlog stays
    /// with the broker (which then feeds its subscriptions from storage, `lagged`), not in
    /// this process. `None`: events queue without bound — only for a client whose
    /// application never waits on a reply while it leaves events unread.
    pub event_capacity: Option<usize>,
    /// Speak TLS to the broker, trusting these certificates; `None` for plaintext.
    pub tls: Option<TlsConfig>,
}

impl ClientConfig {
    /// A configuration for the given addresses that reconnects automatically.
    pub fn new(brokers: Vec<String>) -> Self {
        ClientConfig {
            brokers,
            client_name: format!("joint-wire/{}", env!("CARGO_PKG_VERSION")),
            reconnect: true,
            connect_timeout: Duration::from_secs(5),
            client_ip: None,
            event_capacity: None,
            tls: None,
        }
    }
}

/// Why a request did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker refused the request with an error code.
    #[error("{0}")]
    Broker(ErrorBody),
    /// No broker address could be reached.
    #[error("cannot reach any broker ({0})")]
    Connect(String),
    /// The connection dropped before the reply arrived; the outcome is unknown.
    #[error("the connection to the broker was lost")]
    Disconnected,
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
    /// The broker sent something this client does not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request is larger than the broker's announced `max_frame`; it was not sent.
    #[error("the request is larger than the broker's limit of {max} bytes")]
    RequestTooLarge {
        /// The broker's `max_frame`.
        max: usize,
    },
}

impl ClientError {
    /// The broker's error code, when the broker answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Broker(body) => Some(body.code),
            _ => None,
        }
    }
}

/// What the background task reports besides replies.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// An event from the broker.
    Event(Event),
    /// The broker closed the connection with this error (e.g. `shutting_down`).
    ConnectionError(ErrorBody),
    /// The connection dropped; requests in flight failed with [`ClientError::Disconnected`].
    Disconnected,
    /// A new connection is up. `authenticated` tells whether the saved token signed it in;
    /// when the token was refused, `session_lost` carries the broker's error.
    Reconnected {
        /// The address (`host:port`) of the broker the new connection reached.
        broker: String,
        /// Whether the saved session token signed the new connection in.
        authenticated: bool,
        /// The broker's `bad_token` error when it refused the saved token; the token is then forgotten.
        session_lost: Option<ErrorBody>,
    },
    /// After a reconnect the broker refused to resume a subscription (the user was removed
    /// from the group meanwhile, or it was deleted); its messages no longer arrive.
    SubscriptionLost {
        /// The group's name.
        group: String,
        /// The gid the subscription had.
        gid: u64,
        /// Why the broker refused (`not_member`, `no_such_group`, ...).
        error: ErrorBody,
    },
}

/// The stream of [`ClientEvent`]s of one client. Read it: events queue up until read
/// (see [`ClientConfig::event_capacity`]).
#[derive(Debug)]
pub struct Events(mpsc::Receiver<ClientEvent>);

impl Events {
    /// The next event, or `None` once the client is closed.
    pub async fn next(&mut self) -> Option<ClientEvent> {
        self.0.recv().await
    }

    /// The next event if one is already waiting.
    pub fn try_next(&mut self) -> Option<ClientEvent> {
        self.0.try_recv().ok()
    }
}

type ReplySender = oneshot::Sender<Result<Value, ClientError>>;

/// Who waits for the reply to a request the driver sent.
enum Waiting {
    /// A caller, and what its request changes for the subscriptions.
    Caller(ReplySender, Tracks),
    /// The driver's own keep-alive.
    Ping,
    /// The driver resuming a subscription after a reconnect.
    Resume {
        /// The group's name.
        group: String,
        /// Its gid.
        gid: u64,
    },
}

/// Frames queued for the socket at most.
const OUTGOING_FRAMES: usize = 256;

/// Frames handled in one turn of a connection's loop at most, when they are already read:
/// enough to spare a turn per message of a burst, few enough that requests and pings wait
/// little behind a long one.
const FRAMES_PER_TURN: usize = 64;

/// How many pings may go unanswered before the connection is taken for dead.
const UNANSWERED_PINGS: u32 = 3;

enum Command {
    Request { request: Request, reply: ReplySender },
}

#[derive(Debug, Default)]
struct Shared {
    token: Option<String>,
    hello: Option<HelloOk>,
    broker: String,
    /// The index of `broker` in [`ClientConfig::brokers`].
    index: usize,
}

/// A handle to one connection to a Joint broker; clone it freely.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    shared: Arc<Mutex<Shared>>,
}

type Transport = Framed<Stream, FrameCodec>;

impl Client {
    /// Connects to the first reachable broker of `config.brokers` and says `hello`.
    pub async fn connect(config: ClientConfig) -> Result<(Client, Events), ClientError> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let transport = open(&config, &shared, 0).await?;
        let (commands, rx) = mpsc::channel(256);
        // Without a capacity the channel's bound is too large ever to be reached.
        let capacity = config.event_capacity.unwrap_or(tokio::sync::Semaphore::MAX_PERMITS).max(1);
        let (events_tx, events) = mpsc::channel(capacity);
        let driver =
            Driver { config, shared: shared.clone(), commands: rx, events: events_tx, resumes: Resumes::default() };
        tokio::spawn(driver.run(transport));
        Ok((Client { commands, shared }, Events(events)))
    }

    /// The limits the broker announced in its `hello` reply.
    pub fn server_info(&self) -> Option<HelloOk> {
        self.lock().hello.clone()
    }

    /// The address of the broker this client is connected to.
    pub fn broker(&self) -> String {
        self.lock().broker.clone()
    }

    /// The session token, once signed in; used to sign in again after a reconnect.
    pub fn token(&self) -> Option<String> {
        self.lock().token.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_token(&self, token: Option<String>) {
        self.lock().token = token;
    }

    /// Sends any request and returns the raw `ok` payload.
    pub async fn request(&self, request: Request) -> Result<Value, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Request { request, reply }).await.map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, ClientError> {
        let value = self.request(request).await?;
        from_value(&value).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    async fn sign_in(&self, request: Request) -> Result<SessionOk, ClientError> {
        let auth_token = match &request {
            Request::Auth { token } => Some(token.clone()),
            _ => None,
        };
        let session: SessionOk = self.call(request).await?;
        self.set_token(session.token.clone().or(auth_token));
        Ok(session)
    }

    /// Creates an account; the connection is signed in as it.
    pub async fn register(&self, login: &str, name: &str, password: &str) -> Result<SessionOk, ClientError> {
        self.sign_in(Request::Register { login: login.into(), name: name.into(), password: password.into() }).await
    }

    /// Signs in with a password; the reply carries a new session token.
    pub async fn login(&self, login: &str, password: &str) -> Result<SessionOk, ClientError> {
        self.sign_in(Request::Login { login: login.into(), password: password.into() }).await
    }

    /// Signs in with a saved session token.
    pub async fn auth(&self, token: &str) -> Result<SessionOk, ClientError> {
        self.sign_in(Request::Auth { token: token.into() }).await
    }

    /// Ends the session; every connection using its token is signed out.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.call::<Empty>(Request::Logout).await?;
        self.set_token(None);
        Ok(())
    }

    /// The signed-in user.
    pub async fn me(&self) -> Result<UserInfo, ClientError> {
        Ok(self.call::<UserOk>(Request::Me).await?.user)
    }

    /// Changes the display name.
    pub async fn set_name(&self, name: &str) -> Result<UserInfo, ClientError> {
        Ok(self.call::<UserOk>(Request::SetName { name: name.into() }).await?.user)
    }

    /// Changes the password; the user's other sessions end.
    pub async fn passwd(&self, old: &str, new: &str) -> Result<(), ClientError> {
        self.call::<Empty>(Request::Passwd { old: old.into(), new: new.into() }).await.map(drop)
    }

    /// Deletes the account for good; its login is retired.
    pub async fn delete_account(&self, password: &str) -> Result<(), ClientError> {
        self.call::<Empty>(Request::DeleteAccount { password: password.into() }).await?;
        self.set_token(None);
        Ok(())
    }

    /// One page of users after `after`, in login byte order.
    pub async fn users(&self, after: Option<&str>, limit: Option<u64>) -> Result<UsersPage, ClientError> {
        self.call(Request::Users { after: after.map(Into::into), limit }).await
    }

    /// One user and the groups they share with the caller.
    pub async fn user(&self, login: &str) -> Result<UserDetail, ClientError> {
        self.call(Request::User { login: login.into() }).await
    }

    /// The caller's groups.
    pub async fn groups(&self) -> Result<Vec<Group>, ClientError> {
        Ok(self.call::<GroupsOk>(Request::Groups).await?.groups)
    }

    /// Creates a group administered by the caller, with optional first members.
    pub async fn group_create(&self, group: &str, members: &[String]) -> Result<Group, ClientError> {
        Ok(self.call::<GroupOk>(Request::GroupCreate { group: group.into(), members: members.to_vec() }).await?.group)
    }

    /// Deletes a group (admin only).
    pub async fn group_delete(&self, group: &str) -> Result<(), ClientError> {
        self.call::<Empty>(Request::GroupDelete { group: group.into() }).await.map(drop)
    }

    /// Hands the group's administration to another member.
    pub async fn group_admin(&self, group: &str, login: &str) -> Result<Group, ClientError> {
        Ok(self.call::<GroupOk>(Request::GroupAdmin { group: group.into(), login: login.into() }).await?.group)
    }

    /// One page of a group's members after `after`, in login byte order.
    pub async fn members(
        &self,
        group: &str,
        after: Option<&str>,
        limit: Option<u64>,
    ) -> Result<MembersPage, ClientError> {
        self.call(Request::Members { group: group.into(), after: after.map(Into::into), limit }).await
    }

    /// Adds members (admin only); returns the logins that were not members before.
    pub async fn member_add(&self, group: &str, logins: &[String]) -> Result<Vec<String>, ClientError> {
        Ok(self.call::<AddedOk>(Request::MemberAdd { group: group.into(), logins: logins.to_vec() }).await?.added)
    }

    /// Removes members (admin only); returns the logins that were members.
    pub async fn member_remove(&self, group: &str, logins: &[String]) -> Result<Vec<String>, ClientError> {
        Ok(self
            .call::<RemovedOk>(Request::MemberRemove { group: group.into(), logins: logins.to_vec() })
            .await?
            .removed)
    }

    /// Leaves a group.
    pub async fn leave(&self, group: &str) -> Result<(), ClientError> {
        self.call::<Empty>(Request::Leave { group: group.into() }).await.map(drop)
    }

    /// Starts live delivery of a group's messages with seq > `after` (all stored ones first);
    /// without `after`, of those published from now on. They arrive as
    /// [`Event::Message`] on [`Events`].
    pub async fn subscribe(
        &self,
        group: &str,
        gid: Option<u64>,
        after: Option<u64>,
    ) -> Result<SubscribeOk, ClientError> {
        self.call(Request::Subscribe { group: group.into(), gid, after }).await
    }

    /// Stops live delivery of a group's messages.
    pub async fn unsubscribe(&self, group: &str) -> Result<(), ClientError> {
        self.call::<Empty>(Request::Unsubscribe { group: group.into() }).await.map(drop)
    }

    /// Publishes a message with a fresh random cid; see [`Client::publish_with_cid`].
    pub async fn publish(&self, group: &str, body: &str) -> Result<PublishOk, ClientError> {
        self.publish_with_cid(group, body, &new_cid()).await
    }

    /// Publishes a message. The answer means the message is committed. After
    /// [`ClientError::Disconnected`] or `unavailable` the outcome is unknown: publish again
    /// with the same `cid`, and the broker stores it once and answers with its first seq.
    pub async fn publish_with_cid(&self, group: &str, body: &str, cid: &str) -> Result<PublishOk, ClientError> {
        self.call(Request::Publish { group: group.into(), body: body.into(), cid: Some(cid.into()) }).await
    }

    /// One page of a group's messages (see [`Request::History`] for the arguments).
    pub async fn history(
        &self,
        group: &str,
        gid: Option<u64>,
        before: Option<u64>,
        after: Option<u64>,
        limit: Option<u64>,
    ) -> Result<HistoryOk, ClientError> {
        self.call(Request::History { group: group.into(), gid, before, after, limit }).await
    }

    /// Moves the read marker of a group forward; returns the marker after the call.
    pub async fn mark_read(&self, group: &str, seq: u64) -> Result<u64, ClientError> {
        Ok(self.call::<MarkReadOk>(Request::MarkRead { group: group.into(), seq }).await?.read_seq)
    }

    /// Checks that the broker answers.
    pub async fn ping(&self) -> Result<(), ClientError> {
        self.call::<Empty>(Request::Ping).await.map(drop)
    }

    /// Deletes a message (its sender, the group's admin or an operator): it stays as a
    /// tombstone with an empty body, and subscribers get `message_deleted`.
    pub async fn message_delete(&self, group: &str, seq: u64) -> Result<(), ClientError> {
        self.call::<Empty>(Request::MessageDelete { group: group.into(), seq }).await.map(drop)
    }

    /// Disables an account (operators only): its sessions end and it cannot sign in.
    pub async fn user_disable(&self, login: &str) -> Result<(), ClientError> {
        self.call::<Empty>(Request::UserDisable { login: login.into() }).await.map(drop)
    }

    /// Enables a disabled account again (operators only).
    pub async fn user_enable(&self, login: &str) -> Result<(), ClientError> {
        self.call::<Empty>(Request::UserEnable { login: login.into() }).await.map(drop)
    }

    /// Creates an account (operators only); the caller stays signed in as themself.
    pub async fn user_create(&self, login: &str, name: &str, password: &str) -> Result<UserInfo, ClientError> {
        let request = Request::UserCreate { login: login.into(), name: name.into(), password: password.into() };
        Ok(self.call::<UserOk>(request).await?.user)
    }
}

/// A cid no other publish of this client uses: 16 random bytes in hex.
fn new_cid() -> String {
    let mut bytes = [0u8; 16];
    // Without the OS's randomness fall back to the clock: still unique for this client.
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Connects to the first reachable address, trying them from the index `start` on and
/// wrapping around, and says `hello`.
/// When every address fails and one of the brokers refused with an error code (say
/// `too_many_connections`), that refusal is the answer, code and all: it says more than "could
/// not connect".
async fn open(config: &ClientConfig, shared: &Mutex<Shared>, start: usize) -> Result<Transport, ClientError> {
    let mut failures = Vec::new();
    let mut refused = None;
    for index in failover::order(config.brokers.len(), start) {
        let addr = &config.brokers[index];
        match tokio::time::timeout(config.connect_timeout, handshake(addr, config)).await {
            Ok(Ok((transport, hello))) => {
                let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
                shared.hello = Some(hello);
                shared.broker = addr.clone();
                shared.index = index;
                return Ok(transport);
            }
            Ok(Err(ClientError::Broker(body))) => refused = refused.or(Some(body)),
            Ok(Err(err)) => failures.push(format!("{addr}: {err}")),
            Err(_) => failures.push(format!("{addr}: timed out")),
        }
    }
    if let Some(body) = refused {
        return Err(ClientError::Broker(body));
    }
    if failures.is_empty() {
        failures.push("no broker address given".into());
    }
    Err(ClientError::Connect(failures.join("; ")))
}

async fn handshake(addr: &str, config: &ClientConfig) -> Result<(Transport, HelloOk), ClientError> {
    let stream = crate::tls::connect(addr, config.tls.as_ref()).await.map_err(ClientError::Connect)?;
    let mut transport = Framed::new(stream, FrameCodec::new(DEFAULT_MAX_FRAME));
    let hello = Request::Hello {
        version: PROTOCOL_VERSION,
        client: Some(config.client_name.clone()),
        client_ip: config.client_ip.clone(),
    };
    let value = match exchange(&mut transport, 0, hello).await {
        // The broker could not read our first frame (a TLS-only port read plaintext, say):
        // nothing was established, so this address failed; its reason tells why.
        Err(ClientError::Broker(body)) if body.code == ErrorCode::BadFrame => {
            return Err(ClientError::Connect(format!("the broker refused the connection: {}", body.msg)))
        }
        other => other?,
    };
    let hello: HelloOk = from_value(&value).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let max_frame = usize::try_from(hello.max_frame).unwrap_or(usize::MAX);
    *transport.codec_mut() = FrameCodec::new(max_frame.max(DEFAULT_MAX_FRAME));
    Ok((transport, hello))
}

/// Sends one request on a fresh connection and waits for its reply (used before the
/// connection is handed to the driver, when no events can arrive yet).
async fn exchange(transport: &mut Transport, id: u64, request: Request) -> Result<Value, ClientError> {
    transport.send(Bytes::from(request.encode(id))).await.map_err(|e| ClientError::Connect(e.to_string()))?;
    loop {
        let frame = match transport.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Err(ClientError::Connect(e.to_string())),
            None => return Err(ClientError::Disconnected),
        };
        match Incoming::decode(&frame).map_err(|e| ClientError::Protocol(e.to_string()))? {
            Incoming::Ok { re, ok } if re == id => return Ok(ok),
            Incoming::Err { re, err } if re == id => return Err(ClientError::Broker(err)),
            Incoming::ConnectionError(err) => return Err(ClientError::Broker(err)),
            _ => continue,
        }
    }
}

/// Why one connection's life ended.
enum Ended {
    /// Every [`Client`] handle was dropped.
    Closed,
    /// The socket failed or the broker closed it.
    Lost,
}

struct Driver {
    config: ClientConfig,
    shared: Arc<Mutex<Shared>>,
    commands: mpsc::Receiver<Command>,
    /// Sending waits while the application is `event_capacity` events behind, and so stops
    /// reading the socket; events for an application that dropped [`Events`] are discarded.
    events: mpsc::Sender<ClientEvent>,
    resumes: Resumes,
}

impl Driver {
    async fn run(mut self, mut transport: Transport) {
        loop {
            if let Ended::Closed = self.serve(transport).await {
                return;
            }
            let _ = self.events.send(ClientEvent::Disconnected).await;
            if !self.config.reconnect {
                return;
            }
            match self.reconnect().await {
                Some(next) => transport = next,
                None => return,
            }
        }
    }

    fn token(&self) -> Option<String> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).token.clone()
    }

    fn ping_interval(&self) -> Duration {
        let hello = self.shared.lock().unwrap_or_else(|p| p.into_inner()).hello.clone();
        let ms = hello.map_or(30_000, |h| h.ping_interval_ms).clamp(100, 3_600_000);
        // Ping well inside the broker's interval so a late timer never idles us out.
        Duration::from_millis(ms / 2)
    }

    /// Connects again, from the broker after the one left, with jittered pauses between
    /// rounds, signing in with the saved token. Requests that arrive meanwhile fail at once
    /// with [`ClientError::Disconnected`]: their caller decides.
    async fn reconnect(&mut self) -> Option<Transport> {
        let left = self.shared.lock().unwrap_or_else(|p| p.into_inner()).index;
        let start = failover::after(self.config.brokers.len(), left);
        let mut backoff = Backoff::default();
        loop {
            let sleep = tokio::time::sleep(backoff.next(failover::random()));
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    command = self.commands.recv() => match command {
                        Some(Command::Request { reply, .. }) => { let _ = reply.send(Err(ClientError::Disconnected)); }
                        None => return None,
                    },
                }
            }
            let Ok(mut transport) = open(&self.config, &self.shared, start).await else { continue };
            let broker = self.shared.lock().unwrap_or_else(|p| p.into_inner()).broker.clone();
            let (authenticated, session_lost) = match self.token() {
                None => (false, None),
                Some(token) => match exchange(&mut transport, 1, Request::Auth { token }).await {
                    Ok(_) => (true, None),
                    Err(ClientError::Broker(err)) if err.code == ErrorCode::BadToken => {
                        self.shared.lock().unwrap_or_else(|p| p.into_inner()).token = None;
                        (false, Some(err))
                    }
                    Err(_) => continue,
                },
            };
            if !authenticated {
                self.resumes.clear();
            }
            let _ = self.events.send(ClientEvent::Reconnected { broker, authenticated, session_lost }).await;
            return Some(transport);
        }
    }

    /// Runs one connection until it drops or the client is closed.
    async fn serve(&mut self, transport: Transport) -> Ended {
        let max_frame = self
            .shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hello
            .as_ref()
            .map_or(DEFAULT_MAX_FRAME, |h| usize::try_from(h.max_frame).unwrap_or(usize::MAX));
        // Writing and reading proceed side by side: a client blocked on a full socket must
        // still read, or a broker that stopped reading until its replies drain never would.
        let (mut sink, mut stream) = transport.split();
        // Bounded like the command channel: while the socket is stuck, callers wait instead
        // of piling up frames to be sent long after they gave up.
        let resubscribe = self.resumes.resubscribe();
        let (outgoing, mut queued) = mpsc::channel::<Bytes>(OUTGOING_FRAMES + resubscribe.len());
        let writer = async move {
            while let Some(frame) = queued.recv().await {
                sink.send(frame).await?;
            }
            Ok::<(), crate::codec::FrameError>(())
        };
        tokio::pin!(writer);
        // Ids 0 and 1 were used by the handshake; user requests start at 2.
        let mut next_id: u64 = 2;
        let mut pending: HashMap<u64, Waiting> = HashMap::new();
        // Resumed subscriptions go out first, before any request of the application.
        for (gid, request) in resubscribe {
            let group = match &request {
                Request::Subscribe { group, .. } => group.clone(),
                _ => continue,
            };
            pending.insert(next_id, Waiting::Resume { group, gid });
            let _ = outgoing.try_send(Bytes::from(request.encode(next_id)));
            next_id += 1;
        }
        let mut ping = tokio::time::interval(self.ping_interval());
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        // Ping ticks since the broker last sent anything: a dead peer that never closes
        // the socket is noticed after a few unanswered pings.
        let mut silent_ticks = 0;
        let ended = 'serve: loop {
            tokio::select! {
                _ = &mut writer => break Ended::Lost,
                command = self.commands.recv(), if outgoing.capacity() > 0 => {
                    let Some(Command::Request { request, reply }) = command else { break Ended::Closed };
                    let id = next_id;
                    next_id += 1;
                    let payload = request.encode(id);
                    if payload.len() > max_frame {
                        let _ = reply.send(Err(ClientError::RequestTooLarge { max: max_frame }));
                        continue;
                    }
                    pending.insert(id, Waiting::Caller(reply, Tracks::of(&request)));
                    // Cannot fail: this branch runs only with room, and only this task sends.
                    let _ = outgoing.try_send(Bytes::from(payload));
                }
                _ = ping.tick() => {
                    if silent_ticks >= UNANSWERED_PINGS {
                        break Ended::Lost;
                    }
                    silent_ticks += 1;
                    let id = next_id;
                    next_id += 1;
                    // A ping that finds the queue full is not needed: frames are waiting.
                    if outgoing.try_send(Bytes::from(Request::Ping.encode(id))).is_ok() {
                        pending.insert(id, Waiting::Ping);
                    }
                }
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { break Ended::Lost };
                    silent_ticks = 0;
                    if !self.receive(&frame, &mut pending).await {
                        break Ended::Lost;
                    }
                    // Frames already read from the socket are handled in this turn, not a
                    // turn of the select each: a subscriber gets messages in bursts.
                    for _ in 1..FRAMES_PER_TURN {
                        match futures::FutureExt::now_or_never(stream.next()) {
                            None => break,
                            Some(Some(Ok(frame))) => {
                                if !self.receive(&frame, &mut pending).await {
                                    break 'serve Ended::Lost;
                                }
                            }
                            Some(_) => break 'serve Ended::Lost,
                        }
                    }
                }
            }
        };
        for waiting in pending.into_values() {
            if let Waiting::Caller(reply, _) = waiting {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
        }
        ended
    }

    /// Forgets a subscription the broker would not resume, and tells the application.
    async fn lose(&mut self, group: String, gid: u64, error: ErrorBody) {
        self.resumes.lost(gid);
        let _ = self.events.send(ClientEvent::SubscriptionLost { group, gid, error }).await;
    }

    /// Routes one frame; returns false when the broker is closing the connection.
    async fn receive(&mut self, frame: &[u8], pending: &mut HashMap<u64, Waiting>) -> bool {
        let incoming = match Incoming::decode(frame) {
            Ok(incoming) => incoming,
            Err(err) => {
                // A reply this version cannot read (a newer error code, say) still answers
                // its request: the caller must not wait for ever.
                let payload = Payload::parse(frame).ok();
                let re = payload.as_ref().and_then(|p| p.get("re")).and_then(rmpv::Value::as_u64);
                match re.and_then(|re| pending.remove(&re)) {
                    Some(Waiting::Caller(reply, _)) => {
                        let _ = reply.send(Err(ClientError::Protocol(err.to_string())));
                    }
                    Some(Waiting::Resume { group, gid }) => {
                        let error = ErrorBody::new(ErrorCode::Internal, err.to_string());
                        self.lose(group, gid, error).await;
                    }
                    _ => tracing::warn!(%err, "ignoring a frame from the broker"),
                }
                return true;
            }
        };
        match incoming {
            Incoming::Ok { re, ok } => {
                if let Some(Waiting::Caller(reply, tracks)) = pending.remove(&re) {
                    // Recorded before any message of the subscription is handed on.
                    let subscribed = from_value::<SubscribeOk>(&ok).ok();
                    self.resumes.accepted(tracks, subscribed.as_ref());
                    let _ = reply.send(Ok(ok));
                }
            }
            Incoming::Err { re, err } => match pending.remove(&re) {
                Some(Waiting::Caller(reply, _)) => {
                    let _ = reply.send(Err(ClientError::Broker(err)));
                }
                Some(Waiting::Resume { group, gid }) => self.lose(group, gid, err).await,
                _ => {}
            },
            Incoming::Event(event) => {
                if matches!(event, Event::SessionEnded { .. }) {
                    self.shared.lock().unwrap_or_else(|p| p.into_inner()).token = None;
                }
                self.resumes.observe(&event);
                let _ = self.events.send(ClientEvent::Event(event)).await;
            }
            Incoming::ConnectionError(err) => {
                let closing = err.code != ErrorCode::BadFrame;
                let _ = self.events.send(ClientEvent::ConnectionError(err)).await;
                return !closing;
            }
        }
        true
    }
}
