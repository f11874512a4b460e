//! The broker's shared context, the accept loop and the background session sweeper.

use crate::cluster;
use crate::cluster::notes_out::MessageNotes;
use crate::committer::Committer;
use crate::connection;
use crate::flood::PublishRate;
use crate::hub::Hub;
use crate::limits::{Backoff, BackoffRules, PerIp, Window};
use crate::metrics::{self, Metrics};
use crate::password::Hasher;
use crate::presence;
use crate::settings::Settings;
use crate::store::Store;
use crate::subscriptions::Subscriptions;
use crate::tls;
use anyhow::Context;
use joint_wire::message::EndReason;
use joint_wire::{ErrorBody, ErrorCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often rate-limit rows that hold nothing any more are deleted.
const LIMITS_SWEEP: Duration = Duration::from_secs(60);

/// How many refused connections are told why at once.
const MAX_POLITE_REFUSALS: usize = 64;

/// How long a refused TLS connection may take over its handshake before it is just closed.
const REFUSAL_HANDSHAKE: Duration = Duration::from_secs(2);

/// The span over which registrations per IP are counted.
const REGISTRATION_WINDOW: Duration = Duration::from_secs(60);

/// Everything the connection tasks share; each part has one job and its own small lock.
pub struct Ctx {
    /// The configuration the broker was started with.
    pub settings: Settings,
    /// PostgreSQL.
    pub store: Store,
    /// Which connection is signed in as whom; routes events.
    pub hub: Hub,
    /// Password hashing behind its concurrency cap.
    pub hasher: Hasher,
    /// The one writer of messages.
    pub committer: Committer,
    /// Who is subscribed to which group.
    pub subscriptions: Arc<Subscriptions>,
    /// Backoff after failed password checks, per (login, IP) and per IP, and after failed
    /// `auth`, per IP; counted in PostgreSQL for every broker of the database.
    pub failures: Backoff,
    /// Registration attempts per IP per minute, counted in PostgreSQL likewise.
    pub registrations: Window,
    /// Publishes per user (flood control), leased from buckets in PostgreSQL.
    pub publish_rate: PublishRate,
    /// Connections per client IP: the peer's, or for a trusted proxy the one its `hello`
    /// names; this broker's own connections only.
    pub per_ip: PerIp,
    /// What the metrics endpoint reports.
    pub metrics: Arc<Metrics>,
    /// Where the listener hands users whose presence changed on another broker.
    pub remote_presence: tokio::sync::mpsc::UnboundedSender<Vec<crate::store::UserId>>,
}

impl Ctx {
    /// How long an unused session lives.
    pub fn token_lifetime(&self) -> Duration {
        Duration::from_secs(self.settings.token_lifetime_secs)
    }
}

/// A broker bound to its port with its database migrated, ready to [`Broker::run`].
pub struct Broker {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    metrics_listener: Option<TcpListener>,
    ctx: Arc<Ctx>,
    presence: presence::Changes,
    presence_elsewhere: presence::ChangesElsewhere,
}

impl Broker {
    /// Checks the settings, migrates the database and binds the listening socket.
    pub async fn build(settings: Settings) -> anyhow::Result<Broker> {
        settings.validate().map_err(anyhow::Error::msg)?;
        #[cfg(feature = "sabotage")]
        crate::sabotage::announce();
        let mut store =
            Store::new(&settings.database_url, settings.db_pool_size, Duration::from_millis(settings.db_timeout_ms))?;
        if let Some(url) = &settings.read_database_url {
            // History is a small share of the traffic: a quarter of the primary's pool.
            store = store.with_standby(url, settings.db_pool_size.div_ceil(4))?;
        }
        let applied = store.migrate().await.context("applying the database migrations")?;
        tracing::info!(applied = applied.len(), "database schema is up to date");
        // This broker's row must exist before its users' rows are written.
        store
            .heartbeat(&[], Duration::from_millis(settings.cluster_stale_ms))
            .await
            .context("joining the cluster (the brokers table)")?;
        let params = scrypt::Params::new(settings.scrypt_log_n, settings.scrypt_r, settings.scrypt_p, 32)
            .map_err(|e| anyhow::anyhow!("scrypt parameters: {e}"))?;
        let hasher = Hasher::new(params, settings.hash_concurrency(), settings.hash_queue)?;
        let backoff_max = Duration::from_millis(settings.login_backoff_max_ms);
        let tls = tls::acceptor(&settings)?;
        let listener =
            TcpListener::bind(&settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
        tls::check_plaintext(listener.local_addr()?, tls.is_some(), settings.insecure_plaintext)?;
        let metrics_listener = match &settings.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| format!("metrics on {addr}"))?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let subscriptions = Arc::new(Subscriptions::with_metrics(metrics.clone()));
        let (report_presence, presence) = tokio::sync::mpsc::unbounded_channel();
        let failures = Backoff::new(store.clone(), BackoffRules { free: settings.login_failures, max: backoff_max });
        let registrations = Window::new(store.clone(), settings.registrations_per_minute, REGISTRATION_WINDOW);
        let publish_rate = PublishRate::new(store.clone(), settings.publish_rate, settings.publish_burst);
        let (remote_presence, presence_elsewhere) = tokio::sync::mpsc::unbounded_channel();
        tracing::info!(broker = %store.broker_id(), "cluster member id");
        let notes = MessageNotes::start(store.clone(), metrics.clone());
        let ctx = Ctx {
            committer: Committer::start(store.clone(), subscriptions.clone(), metrics.clone(), notes),
            remote_presence,
            subscriptions,
            store,
            hub: Hub::with_presence(report_presence),
            hasher,
            failures,
            registrations,
            publish_rate,
            per_ip: PerIp::new(settings.max_connections_per_ip),
            metrics,
            settings,
        };
        Ok(Broker { listener, tls, metrics_listener, ctx: Arc::new(ctx), presence, presence_elsewhere })
    }

    /// The address the broker listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the metrics endpoint, when `--metrics-listen` asked for one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` is cancelled, then stops reading, answers what was read
    /// (at most the shutdown grace), sends `shutting_down` and closes every connection.
    pub async fn run(self, shutdown: CancellationToken) {
        let Broker { listener, tls, metrics_listener, ctx, presence, presence_elsewhere } = self;
        let tracker = TaskTracker::new();
        if let Some(metrics_listener) = metrics_listener {
            tracker.spawn(metrics::serve(metrics_listener, ctx.metrics.clone(), shutdown.clone()));
        }
        tracker.spawn(sweep_sessions(ctx.clone(), shutdown.clone()));
        tracker.spawn(sweep_limits(ctx.clone(), shutdown.clone()));
        tracker.spawn(presence::announce(ctx.clone(), presence, presence_elsewhere, shutdown.clone()));
        tracker.spawn(cluster::listen::run(ctx.clone(), shutdown.clone()));
        let total = Arc::new(Semaphore::new(ctx.settings.max_connections));
        // Refusing takes a moment (the error is written, input drained); past this many at
        // once, a refused connection is simply closed, so a flood cannot pin descriptors.
        let refusals = Arc::new(Semaphore::new(MAX_POLITE_REFUSALS));
        let mut backoff = Duration::from_millis(5);
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => { backoff = Duration::from_millis(5); accepted }
                    Err(err) => {
                        // Out of file descriptors and similar: wait and go on.
                        tracing::warn!(%err, "accept failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                },
            };
            // Counted against the peer's IP; a trusted proxy's `hello` moves it to its client's.
            let slots = total.clone().try_acquire_owned().ok().zip(ctx.per_ip.take(peer.ip()));
            let Some((permit, ip_slot)) = slots else {
                tracing::warn!(%peer, "connection refused: too many connections");
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    let body = ErrorBody::new(ErrorCode::TooManyConnections, "too many connections; try again later");
                    let tls = tls.clone();
                    tracker.spawn(async move {
                        // Told in the language the client speaks: over TLS on a TLS port.
                        match tls {
                            None => connection::refuse(stream.into_split(), body).await,
                            Some(tls) => {
                                if let Some(stream) = accept_tls(&tls, stream, peer, REFUSAL_HANDSHAKE).await {
                                    connection::refuse(tokio::io::split(stream), body).await;
                                }
                            }
                        }
                        drop(permit);
                    });
                }
                continue;
            };
            stream.set_nodelay(true).ok();
            let (ctx, shutdown, tls) = (ctx.clone(), shutdown.clone(), tls.clone());
            tracker.spawn(async move {
                match tls {
                    None => connection::serve(ctx, stream.into_split(), peer, ip_slot, shutdown).await,
                    Some(tls) => {
                        let handshake = Duration::from_millis(ctx.settings.idle_anonymous_ms);
                        if let Some(stream) = accept_tls(&tls, stream, peer, handshake).await {
                            connection::serve(ctx, tokio::io::split(stream), peer, ip_slot, shutdown).await;
                        }
                    }
                }
                drop(permit);
            });
        }
        drop(listener);
        tracker.close();
        // Each connection stops answering at the grace and then needs a moment to write
        // `shutting_down` and drain its input.
        let grace = Duration::from_millis(ctx.settings.shutdown_grace_ms) + Duration::from_secs(2);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("shutdown grace over; closing the remaining connections");
        }
        tracing::info!("broker stopped");
    }
}

/// Runs the TLS handshake within `limit`. A client that speaks plaintext to the TLS port is
/// told so in a plaintext Joint error frame, which it can read, instead of a TLS alert,
/// which it could not.
async fn accept_tls(
    tls: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    limit: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(limit, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == tls::HANDSHAKE_RECORD => {}
        Ok(Ok(1)) => {
            tracing::debug!(%peer, "plaintext on the TLS port; refused");
            let body =
                ErrorBody::new(ErrorCode::BadFrame, "this broker speaks TLS only: connect with TLS (joint --tls)");
            connection::refuse(stream.into_split(), body).await;
            return None;
        }
        _ => return None,
    }
    match tokio::time::timeout(limit, tls.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(err)) => {
            tracing::debug!(%peer, %err, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Keeps sessions of open connections fresh and ends sessions unused for the token lifetime.
async fn sweep_sessions(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(ctx.settings.session_sweep_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let in_use = ctx.hub.tokens_in_use();
        match ctx.store.sweep_sessions(&in_use, ctx.token_lifetime()).await {
            Ok(expired) => {
                ctx.hub.end_sessions(&expired, EndReason::Expired, |ended| ctx.subscriptions.drop_conns(ended))
            }
            Err(err) => tracing::warn!(error = %err, "session sweep failed; will retry"),
        }
    }
}

/// Deletes rate-limit rows that hold nothing any more, once a minute; every broker does
/// it, and a sweep that finds nothing costs three index-free deletes of small tables.
async fn sweep_limits(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(LIMITS_SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let s = &ctx.settings;
    // Failures are forgotten after twice the longest block; a bucket untouched for
    // burst ÷ rate seconds is full again.
    let forget_after = Duration::from_millis(s.login_backoff_max_ms) * 2;
    let full_after = Duration::from_secs_f64(f64::from(s.publish_burst) / f64::from(s.publish_rate.max(1)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match ctx.store.sweep_limits(forget_after, REGISTRATION_WINDOW, full_after).await {
            Ok(swept) => tracing::debug!(?swept, "rate-limit rows swept"),
            Err(err) => tracing::warn!(error = %err, "rate-limit sweep failed; will retry"),
        }
    }
}
