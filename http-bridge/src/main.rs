//! `joint-http-bridge`: parses settings, sets up logging and serves HTTP until SIGTERM or Ctrl-C.

use anyhow::Context;
use clap::Parser;
use joint_http_bridge::settings::Settings;
use joint_http_bridge::{telemetry, Bridge};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    telemetry::init();
    let brokers = settings.brokers.join(",");
    let bridge = Bridge::build(settings).await.context("starting the HTTP bridge")?;
    tracing::info!(listen = %bridge.local_addr()?, %brokers, "joint-http-bridge is listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    bridge.run(shutdown).await;
    tracing::info!("joint-http-bridge stopped");
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::error!(%err, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received; shutting down"),
    }
    shutdown.cancel();
}
