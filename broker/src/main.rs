//! `joint-broker`: parses settings, sets up logging and the open-file limit, and runs the
//! broker until SIGTERM or Ctrl-C.

use anyhow::Context;
use clap::Parser;
use joint_broker::server::Broker;
use joint_broker::settings::Settings;
use joint_broker::telemetry;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    telemetry::init();
    raise_open_file_limit(settings.max_connections);
    let broker = Broker::build(settings).await.context("starting the broker")?;
    tracing::info!(listen = %broker.local_addr()?, "joint-broker is listening");
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    broker.run(shutdown).await;
    Ok(())
}

/// Each connection costs a descriptor; Debian's soft limit of 1,024 is far below the
/// default connection cap, so raise the soft limit up to the hard one.
fn raise_open_file_limit(connections: usize) {
    let wanted = connections as u64 + 256;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => {
            tracing::warn!(limit, wanted, "open-file limit is below the connection cap");
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "could not raise the open-file limit"),
    }
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
