//! `joint-http-bridge`: Joint over HTTP. A JSON REST API under `/v1` and Server-Sent
//! Events for live messages, reaching the broker only through the `joint-wire` client.
//!
//! - [`settings`]: flags and their environment fallbacks.
//! - [`routes`]: the handlers, one module per area, and [`routes::router`].
//! - [`pool`]: broker connections per session token, and the cap on streams.
//! - [`error`]: JSON errors and the one mapping of wire codes to HTTP statuses.
//! - [`extract`]: the bearer token, client address, bodies and parameters.
//! - [`model`]: the JSON shapes; [`openapi`]: the document built from them.

#![warn(missing_docs)]

pub mod error;
pub mod extract;
pub mod links;
pub mod model;
pub mod openapi;
pub mod pool;
pub mod routes;
pub mod settings;
pub mod telemetry;

use crate::error::ApiError;
use crate::pool::Pool;
use crate::settings::Settings;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::add_extension::AddExtension;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the bridge was started with.
    pub settings: Arc<Settings>,
    /// Broker connections per token.
    pub pool: Pool,
    /// Cancelled when the bridge stops; ends live streams so shutdown does not wait on them.
    pub shutdown: CancellationToken,
}

/// Why a bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The settings contradict each other.
    #[error("invalid settings: {0}")]
    Settings(String),
    /// The listening socket could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The `--listen` address.
        addr: String,
        /// What binding it answered.
        source: std::io::Error,
    },
    /// `--tls-ca` names an unusable file, or the system has no root certificates.
    #[error("TLS to the broker: {0}")]
    Tls(#[from] joint_wire::TlsError),
}

/// A bridge bound to its port, ready to [`Bridge::run`].
pub struct Bridge {
    listener: TcpListener,
    settings: Settings,
    tls: Option<joint_wire::TlsConfig>,
}

impl Bridge {
    /// Checks the settings and binds the listening socket. The broker is reached only when
    /// requests come, so the bridge starts whether or not a broker is up.
    pub async fn build(settings: Settings) -> Result<Bridge, StartError> {
        settings.validate().map_err(StartError::Settings)?;
        let tls = settings.broker_tls()?;
        let listener = TcpListener::bind(&settings.listen)
            .await
            .map_err(|source| StartError::Listen { addr: settings.listen.clone(), source })?;
        Ok(Bridge { listener, settings, tls })
    }

    /// The address the bridge listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled: then live streams end, requests in progress
    /// finish, and every broker connection closes.
    pub async fn run(self, shutdown: CancellationToken) {
        let Bridge { listener, settings, tls } = self;
        let pool = Pool::new(settings.clone(), tls);
        let state = AppState { settings: Arc::new(settings), pool: pool.clone(), shutdown: shutdown.clone() };
        let app = with_layers(routes::router(state.clone()), &state.settings);
        let sweeper = tokio::spawn(close_idle(pool.clone(), state.settings.idle_ms, shutdown.clone()));
        serve(listener, app, &state.settings, &shutdown).await;
        sweeper.abort();
        pool.close_all();
    }
}

/// Accepts HTTP/1.1 connections until `shutdown`, then waits for the open ones to finish
/// their requests. Unlike `axum::serve`, it bounds the request head: a client that has not
/// sent its request line and headers within `--header-timeout-ms` is disconnected.
async fn serve(listener: TcpListener, app: Router, settings: &Settings, shutdown: &CancellationToken) {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_millis(settings.header_timeout_ms));
    let graceful = GracefulShutdown::new();
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, mostly: pause rather than spin.
                    tracing::warn!(%err, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(AddExtension::new(app.clone(), ConnectInfo(peer)));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(socket), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "HTTP connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
}

/// Panics become JSON 500s; CORS only when origins are configured.
fn with_layers(router: Router, settings: &Settings) -> Router {
    let router = router.layer(CatchPanicLayer::custom(|_| ApiError::internal(&"a handler panicked").into_response()));
    if settings.cors_origins.is_empty() {
        return router;
    }
    let origins = if settings.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(settings.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let cors = CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([header::LINK, header::RETRY_AFTER]);
    router.layer(cors)
}

/// Closes shared broker connections that went unused for `idle_ms`.
async fn close_idle(pool: Pool, idle_ms: u64, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis((idle_ms / 4).clamp(10, 60_000)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let open = pool.close_idle();
                tracing::debug!(open, "closed idle broker connections");
            }
        }
    }
}
