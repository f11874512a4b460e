//! `joint-broker import-legacy`: brings the old chat's accounts, groups and memberships into
//! Joint. The old chat kept plain-text passwords; they are hashed with scrypt on the way.
//! One transaction, so an import is all or nothing; idempotent, so a second run imports
//! nothing new (and a run with new `--map` choices imports just what they unlock).
//!
//! Run it with the broker stopped, or before people sign in: a running broker's live
//! connections learn of imported members at their next `groups` or `members`.

mod apply;
pub mod plan;
mod report;
pub mod source;

pub use plan::Renames;
pub use report::{Entry, Outcome, Report, Tally};

use crate::password::Hasher;
use crate::settings::Settings;
use crate::store::Store;
use anyhow::Context;
use std::time::Duration;

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The old chat's PostgreSQL URL.
    pub from: String,
    /// Joint logins and group names chosen for old ones the rules refuse.
    pub renames: Renames,
    /// Roll everything back at the end: the report says what would happen.
    pub dry_run: bool,
}

/// Imports into the database of `settings` (migrated first) and reports what happened.
pub async fn import(settings: &Settings, options: &ImportOptions) -> anyhow::Result<Report> {
    let timeout = Duration::from_millis(settings.db_timeout_ms);
    Store::new(&settings.database_url, 1, timeout)?.migrate().await.context("migrating Joint's database")?;
    let data = source::read(&options.from).await?;
    let plan = plan::plan(&data, &options.renames);
    let params = scrypt::Params::new(settings.scrypt_log_n, settings.scrypt_r, settings.scrypt_p, 32)
        .map_err(|e| anyhow::anyhow!("scrypt parameters: {e}"))?;
    let hasher = Hasher::new(params, settings.hash_concurrency(), plan.users.len())?;
    let (mut target, connection) = tokio_postgres::connect(&settings.database_url, tokio_postgres::NoTls)
        .await
        .context("connecting to Joint's database")?;
    let connection = tokio::spawn(connection);
    let applied = apply::apply(&mut target, &plan, &hasher, &settings.operators, options.dry_run).await?;
    drop(target);
    connection.await.ok();

    let mut accounts = applied.accounts;
    accounts.extend(plan.refused_users.iter().map(Entry::refused));
    let mut groups = Vec::new();
    if data.chats.iter().any(|c| c.name == plan::LEGACY_ALL) {
        let detail = "the old global chat is Joint's all: every account is in it";
        groups.push(Entry::new(Outcome::AlreadyImported, plan::LEGACY_ALL, Some(plan::LEGACY_ALL), detail));
    }
    groups.extend(applied.groups);
    groups.extend(plan.refused_chats.iter().map(Entry::refused));
    // Imported first, then those an earlier run brought, then the refusals.
    accounts.sort_by_key(|e| e.outcome);
    groups.sort_by_key(|e| e.outcome);
    Ok(Report {
        source: crate::config::redact(&options.from),
        dry_run: options.dry_run,
        accounts,
        groups,
        memberships: applied.memberships,
    })
}
