//! The maintenance subcommands: `migrate`, `status`, `check-config` and `user-create`. Each
//! returns the report to print on stdout, or the reason it failed; none prints a secret.

use crate::config;
use crate::error::BrokerError;
use crate::names;
use crate::password::Hasher;
use crate::settings::Settings;
use crate::store::migrate::MIGRATIONS;
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

/// Creates an account (with its membership of `all`) under the naming rules, the password
/// hashed with the configured scrypt cost; the schema is migrated first.
pub async fn user_create(settings: &Settings, login: &str, name: &str, password: String) -> anyhow::Result<String> {
    let refused = |e: joint_wire::ErrorBody| anyhow::anyhow!("{}", e.msg);
    let login = names::login("login", login).map_err(refused)?;
    let name = names::display_name("name", name).map_err(refused)?;
    names::password("password", &password).map_err(refused)?;
    let store = open(settings)?;
    store.migrate().await.context("applying the migrations")?;
    let params = scrypt::Params::new(settings.scrypt_log_n, settings.scrypt_r, settings.scrypt_p, 32)
        .map_err(|e| anyhow::anyhow!("scrypt parameters: {e}"))?;
    let hash = Hasher::new(params, 1, 0)?.hash(password).await?;
    let account = store.user_create(&login, &name, &hash).await.map_err(|e| match e {
        BrokerError::Refused(body) => anyhow::anyhow!("{}", body.msg),
        other => anyhow::Error::new(other).context("creating the account"),
    })?;
    let role = if settings.is_operator(&account.login) { " (an operator of this configuration)" } else { "" };
    Ok(format!("created account {} named {:?}{role}\n", account.login, account.name))
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
    // Counted, not subtracted: version numbers belong to files and may skip a number.
    let pending = MIGRATIONS.iter().filter(|m| m.version > status.schema_version).count();
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
