//! Broker connections per session token.
//!
//! Plain requests of one token (from one client address) share one signed-in wire client,
//! opened with `auth` on first use and closed after `--idle-ms` unused. A token holds at
//! most `--shared-per-token` of them (one per address it is used from); past that the least
//! recently used one closes, so one token used from many addresses cannot open broker
//! connections without bound. Every live stream
//! gets a client of its own, so each has its own broker subscription; a token may hold at
//! most `--streams-per-token` of them. Every connection says `hello` with the HTTP client's
//! address, so the broker's rate limits count per real client.
//!
//! Every connection is given all of `--broker`: when its broker goes away it moves to the
//! next one and signs in again with the token, so the pool keeps it. A request that meets a
//! connection while it moves gets 503 `unavailable` ("try again"); a retried publish with the
//! same `Idempotency-Key` is stored once.

use crate::error::{ApiError, Caller};
use crate::settings::Settings;
use joint_wire::message::SessionOk;
use joint_wire::{Client, ClientConfig, ClientError, ClientEvent, Event, Events, TlsConfig};

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Broker events a connection holds for its reader at most (see `ClientConfig::event_capacity`).
const EVENT_CAPACITY: usize = 256;

/// One shared connection is keyed by the token and the client's address.
type Key = (String, IpAddr);

struct Shared {
    client: Client,
    /// Tells this entry apart from a later one under the same key.
    serial: u64,
    last_used: Instant,
}

#[derive(Default)]
struct State {
    shared: HashMap<Key, Shared>,
    streams: HashMap<String, usize>,
}

/// The connections of every token; cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    tls: Option<TlsConfig>,
    state: Mutex<State>,
    serials: AtomicU64,
}

impl Pool {
    /// An empty pool reaching the brokers of `settings`, over TLS when `tls` is given.
    pub fn new(settings: Settings, tls: Option<TlsConfig>) -> Pool {
        Pool { inner: Arc::new(Inner { settings, tls, state: Mutex::default(), serials: AtomicU64::new(0) }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one broker call under the request timeout, mapping every failure to HTTP.
    pub async fn call<T>(
        &self,
        caller: Caller,
        call: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.inner.settings.request_timeout(), call).await {
            Ok(result) => result.map_err(|err| ApiError::client(err, caller)),
            Err(_) => Err(ApiError::unavailable("the broker did not answer in time; try again")),
        }
    }

    /// A new connection to the broker on behalf of the client at `ip`, not signed in.
    pub async fn connect(&self, ip: IpAddr) -> Result<(Client, Events), ApiError> {
        let settings = &self.inner.settings;
        let mut config = ClientConfig::new(settings.brokers.clone());
        config.client_name = format!("joint-http-bridge/{}", env!("CARGO_PKG_VERSION"));
        config.connect_timeout = Duration::from_millis(settings.connect_timeout_ms);
        config.client_ip = Some(ip.to_string());
        config.tls = self.inner.tls.clone();
        // A stream whose HTTP client reads slowly leaves its backlog with the broker, which
        // feeds the subscription from storage once it reads on: the bridge's memory stays
        // bounded however slow its clients are.
        config.event_capacity = Some(EVENT_CAPACITY);
        // Connecting tries every address; bound the whole attempt as well.
        let total = config.connect_timeout * u32::try_from(config.brokers.len()).unwrap_or(u32::MAX).max(1);
        self.call(Caller::SignedIn, async {
            tokio::time::timeout(total, Client::connect(config))
                .await
                .unwrap_or_else(|_| Err(ClientError::Connect("timed out".into())))
        })
        .await
    }

    /// A new connection signed in with `token`: for a stream, or to become a shared one.
    pub async fn open(&self, token: &str, ip: IpAddr) -> Result<(Client, Events), ApiError> {
        let (client, events) = self.connect(ip).await?;
        self.call(Caller::SignedIn, client.auth(token)).await?;
        Ok((client, events))
    }

    /// The shared connection of `token` for the client at `ip`, opened on first use.
    pub async fn shared(&self, token: &str, ip: IpAddr) -> Result<Client, ApiError> {
        let key = (token.to_owned(), ip);
        if let Some(entry) = self.state().shared.get_mut(&key) {
            entry.last_used = Instant::now();
            return Ok(entry.client.clone());
        }
        let (client, events) = self.open(token, ip).await?;
        Ok(self.adopt(key, client, events))
    }

    /// Makes a connection just signed in by `register` or `login` the token's shared one.
    pub fn adopt_session(&self, session: &SessionOk, ip: IpAddr, client: Client, events: Events) {
        if let Some(token) = &session.token {
            self.adopt((token.clone(), ip), client, events);
        }
    }

    /// Stores a signed-in connection under `key`, unless another request stored one
    /// meanwhile (that one wins and this one closes), and watches it for the session's end.
    fn adopt(&self, key: Key, client: Client, events: Events) -> Client {
        let serial = self.inner.serials.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        if let Some(existing) = state.shared.get_mut(&key) {
            existing.last_used = Instant::now();
            return existing.client.clone();
        }
        state.shared.insert(key.clone(), Shared { client: client.clone(), serial, last_used: Instant::now() });
        evict_beyond(&mut state.shared, &key.0, self.inner.settings.shared_per_token);
        drop(state);
        tokio::spawn(self.clone().watch(key, serial, events));
        client
    }

    /// Drains a shared connection's events (they would queue up otherwise) and forgets the
    /// connection once its session has ended, so the next request signs in afresh.
    async fn watch(self, key: Key, serial: u64, mut events: Events) {
        while let Some(event) = events.next().await {
            let ended = matches!(
                event,
                ClientEvent::Event(Event::SessionEnded { .. }) | ClientEvent::Reconnected { authenticated: false, .. }
            );
            if ended {
                self.forget(&key, serial);
                return;
            }
        }
        self.forget(&key, serial);
    }

    fn forget(&self, key: &Key, serial: u64) {
        let mut state = self.state();
        if state.shared.get(key).is_some_and(|entry| entry.serial == serial) {
            state.shared.remove(key);
        }
    }

    /// Closes every shared connection of `token` (after `logout` or account deletion).
    pub fn forget_token(&self, token: &str) {
        self.state().shared.retain(|(t, _), _| t != token);
    }

    /// Closes every shared connection (when the bridge stops). Their watchers end as the
    /// connections do; live streams hold their own connections and end with the shutdown.
    pub fn close_all(&self) {
        let closed = std::mem::take(&mut self.state().shared);
        tracing::debug!(closed = closed.len(), "closed the shared broker connections");
    }

    /// Closes shared connections unused for `--idle-ms`; returns how many are left.
    pub fn close_idle(&self) -> usize {
        let idle = Duration::from_millis(self.inner.settings.idle_ms);
        let mut state = self.state();
        state.shared.retain(|_, entry| entry.last_used.elapsed() < idle);
        state.shared.len()
    }

    /// A slot for one more live stream of `token`, or `too_many_connections` at the cap.
    pub fn stream_slot(&self, token: &str) -> Result<StreamSlot, ApiError> {
        let limit = self.inner.settings.streams_per_token;
        let mut state = self.state();
        let open = state.streams.entry(token.to_owned()).or_default();
        if *open >= limit {
            return Err(ApiError::too_many_streams(limit));
        }
        *open += 1;
        Ok(StreamSlot { pool: self.clone(), token: token.to_owned() })
    }
}

/// Closes the least recently used shared connections of `token` until it holds at most `cap`.
fn evict_beyond(shared: &mut HashMap<Key, Shared>, token: &str, cap: usize) {
    loop {
        let mine = shared.iter().filter(|((t, _), _)| t == token);
        if mine.clone().count() <= cap {
            return;
        }
        let Some(oldest) = mine.min_by_key(|(_, entry)| entry.last_used).map(|(key, _)| key.clone()) else {
            return;
        };
        shared.remove(&oldest);
    }
}

/// One of a token's live streams; the slot is given back on drop.
pub struct StreamSlot {
    pool: Pool,
    token: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut state = self.pool.state();
        if let Some(open) = state.streams.get_mut(&self.token) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                state.streams.remove(&self.token);
            }
        }
    }
}
