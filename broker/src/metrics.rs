//! The broker's Prometheus metrics and the optional HTTP endpoint that serves them
//! (`--metrics-listen`, off by default): connections, publishes, commit batches and their
//! sizes and latency, lagged subscriptions, deliveries, the committer's queue and the
//! cluster's notes.

use axum::extract::State;
use axum::http::header;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every metric of one broker, cheap to update from any task.
pub struct Metrics {
    registry: Registry,
    /// Open client connections.
    pub connections: Gauge,
    /// Publishes acknowledged (committed, or answered from a stored cid).
    pub publishes: Counter,
    /// Batches committed.
    pub batches: Counter,
    /// Messages per committed batch.
    pub batch_size: Histogram,
    /// Seconds from the start of a batch's transaction to its commit.
    pub commit_seconds: Histogram,
    /// Publishes waiting for the committer.
    pub committer_queue: Gauge,
    /// Subscriptions that fell behind and were sent to PostgreSQL (`lagged`).
    pub lagged: Counter,
    /// `message` events queued for subscribers, live and from storage.
    pub deliveries: Counter,
    /// Notes sent to the other brokers of the cluster.
    pub notes_sent: Counter,
    /// Notes received from the other brokers.
    pub notes_received: Counter,
    /// Messages another broker committed, read from PostgreSQL and fanned out here.
    pub remote_messages: Counter,
    /// Times the connection listening for notes was made again after it was lost.
    pub listener_reconnects: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut metrics = Metrics {
            connections: Gauge::default(),
            publishes: Counter::default(),
            batches: Counter::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            commit_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
            committer_queue: Gauge::default(),
            lagged: Counter::default(),
            deliveries: Counter::default(),
            notes_sent: Counter::default(),
            notes_received: Counter::default(),
            remote_messages: Counter::default(),
            listener_reconnects: Counter::default(),
            registry: Registry::with_prefix("joint"),
        };
        let registry = &mut metrics.registry;
        registry.register("connections", "Open client connections", metrics.connections.clone());
        registry.register("publishes", "Publishes acknowledged", metrics.publishes.clone());
        registry.register("commit_batches", "Batches of publishes committed", metrics.batches.clone());
        registry.register("commit_batch_size", "Messages per committed batch", metrics.batch_size.clone());
        registry.register("commit_seconds", "Time from a batch's start to its commit", metrics.commit_seconds.clone());
        registry.register("committer_queue", "Publishes waiting for the committer", metrics.committer_queue.clone());
        registry.register("lagged", "Subscriptions that fell behind and were fed from storage", metrics.lagged.clone());
        registry.register("deliveries", "Message events queued for subscribers", metrics.deliveries.clone());
        registry.register("cluster_notes_sent", "Notes sent to the other brokers", metrics.notes_sent.clone());
        registry.register(
            "cluster_notes_received",
            "Notes received from the other brokers",
            metrics.notes_received.clone(),
        );
        registry.register(
            "cluster_remote_messages",
            "Messages other brokers committed, fanned out here",
            metrics.remote_messages.clone(),
        );
        registry.register(
            "cluster_listener_reconnects",
            "Times the connection listening for notes was made again",
            metrics.listener_reconnects.clone(),
        );
        metrics
    }
}

impl Metrics {
    /// The metrics in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let app = Router::new().route(
        "/metrics",
        get(|State(metrics): State<Arc<Metrics>>| async move {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
        }),
    );
    let served = axum::serve(listener, app.with_state(metrics)).with_graceful_shutdown(shutdown.cancelled_owned());
    if let Err(err) = served.await {
        tracing::error!(%err, "the metrics endpoint stopped");
    }
}
