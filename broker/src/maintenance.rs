//! The maintenance subcommands: `migrate`, `status` and `check-config`. Each returns the
//! report to print on stdout, or the reason it failed; none prints a secret.

use crate::config;
use crate::settings::Settings;
use crate::store::{Status, Store};
use crate::tls;
use anyhow::Context;
use std::net::ToSocketAddrs;
use std::time::Duration;

/// Applies the pending migrations and lists them.
pub async fn migrate(settings: &Settings) -> anyhow::Result<String> {
    let store = open(settings)?;
    let applied = store.migrate().await.context("applying the migrations")?;
    let status = store.status(token_lifetime(settings)).await.context("reading the schema version")?;
    let mut report = String::new();
    if applied.is_empty() {
        report.push_str("no migration to apply\n");
    }
    for migration in &applied {
        report.push_str(&format!("applied {} (version {})\n", migration.name, migration.version));
    }
    report.push_str(&format!("schema version {} of {}\n", status.schema_version, status.latest_version));
    Ok(report)
}

/// Connects, reads the schema version and the counts, and describes them.
pub async fn status(settings: &Settings) -> anyhow::Result<String> {
    let store = open(settings)?;
    let where_ = config::redact(&settings.database_url);
    let status = store
        .status(token_lifetime(settings))
        .await
        .with_context(|| format!("the database at {where_} is unreachable"))?;
    Ok(describe(&where_, &status))
}

fn describe(where_: &str, status: &Status) -> String {
    let mut report = format!("database: reachable at {where_} (PostgreSQL {})\n", status.server_version);
    let pending = status.latest_version - status.schema_version;
    report.push_str(&format!("schema version: {} of {}", status.schema_version, status.latest_version));
    if pending > 0 {
        report.push_str(&format!(" ({pending} migration(s) pending: run `joint-broker migrate`)"));
    }
    report.push('\n');
    if let Some(counts) = &status.counts {
        report.push_str(&format!(
            "users: {}\ngroups: {}\nmessages: {}\nlive sessions: {}\n",
            counts.users, counts.groups, counts.messages, counts.live_sessions
        ));
    }
    report
}

/// Validates every setting without serving or connecting: relations between values, the TLS
/// files, the listen addresses (plaintext only on loopback unless `--insecure-plaintext`)
/// and the database URL's syntax.
pub fn check_config(settings: &Settings) -> anyhow::Result<()> {
    settings.validate().map_err(anyhow::Error::msg)?;
    let tls = tls::acceptor(settings)?.is_some();
    let addrs = settings.listen.to_socket_addrs().with_context(|| format!("--listen {}", settings.listen))?;
    for addr in addrs {
        tls::check_plaintext(addr, tls, settings.insecure_plaintext)?;
    }
    if let Some(metrics) = &settings.metrics_listen {
        metrics.to_socket_addrs().with_context(|| format!("--metrics-listen {metrics}"))?;
    }
    // The error of an unparsable URL does not echo it, so no password reaches the output.
    settings.database_url.parse::<tokio_postgres::Config>().context("--database-url is not a PostgreSQL URL")?;
    Ok(())
}

fn open(settings: &Settings) -> anyhow::Result<Store> {
    Ok(Store::new(&settings.database_url, 1, Duration::from_millis(settings.db_timeout_ms))?)
}

fn token_lifetime(settings: &Settings) -> Duration {
    Duration::from_secs(settings.token_lifetime_secs)
}
