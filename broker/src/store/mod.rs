//! Everything the broker keeps in PostgreSQL. Only this module speaks SQL, always with
//! parameters. Every public method is bounded by the database timeout, so a request never
//! hangs on a dead or restarting server: it gets `unavailable` instead.

mod accounts;
mod cluster;
mod groups;
mod limits;
mod messages;
pub mod migrate;
mod moderation;
mod online;
mod order;
mod pipelined;
mod standby;
mod status;

pub use accounts::{AccountDeletion, Credentials};
pub use groups::{GroupChange, GroupQuotas, MembershipChange, ALL};
pub use limits::{Bucket, Failures, Swept};
pub use messages::{NewMessage, Page, PageSource, Publication, Published, ReadMarker, Window};
pub(crate) use moderation::account_disabled;
pub use moderation::{SessionLookup, Tombstone};
pub use order::OrderGuard;
pub use status::{Counts, Status};

use crate::cluster::BrokerId;
use crate::error::BrokerError;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, QueueMode, RecyclingMethod, Runtime};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// An account's database id.
pub type UserId = i64;

/// An account as the broker handles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The database id, never shown to clients.
    pub id: UserId,
    /// The login, fixed for the account's life.
    pub login: String,
    /// The display name, NFC.
    pub name: String,
}

/// The PostgreSQL store: a connection pool and the timeout applied to every operation.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    timeout: Duration,
    order: Arc<order::CommitOrder>,
    /// The hot standby history pages are read from, when `--read-database-url` names one.
    standby: Option<Arc<standby::Standby>>,
    /// Names this store's notes to the other brokers (see `cluster`).
    id: BrokerId,
}

/// A committed change and the guard that keeps its events in commit order: send them,
/// then drop the guard.
#[derive(Debug)]
pub struct Committed<T> {
    /// What the change produced (its reply's content and its events).
    pub value: T,
    /// Held until the events are queued.
    pub order: OrderGuard,
}

impl Store {
    /// Opens a pool to `url` (nothing connects until first use).
    pub fn new(url: &str, pool_size: usize, timeout: Duration) -> Result<Store, BrokerError> {
        let pool = open_pool(url, "--database-url", pool_size, timeout)?;
        Ok(Store { pool, timeout, order: Arc::default(), standby: None, id: BrokerId::random() })
    }

    /// Reads history pages from the streaming-replication hot standby at `url` when it has
    /// replayed what a page needs (see `Store::history`), through a pool of its own of
    /// `pool_size` connections with the same timeouts as the primary's.
    pub fn with_standby(mut self, url: &str, pool_size: usize) -> Result<Store, BrokerError> {
        let pool = open_pool(url, "--read-database-url", pool_size, self.timeout)?;
        self.standby = Some(Arc::new(standby::Standby::new(pool)));
        Ok(self)
    }

    /// Applies every pending migration (at start, and by `joint-broker migrate`); returns
    /// those applied.
    pub async fn migrate(&self) -> Result<Vec<&'static migrate::Migration>, BrokerError> {
        self.migrate_to(i32::MAX).await
    }

    /// Applies pending migrations up to and including version `target`, leaving later ones
    /// pending: how a database of an older release is made (tests of upgrades use it).
    pub async fn migrate_to(&self, target: i32) -> Result<Vec<&'static migrate::Migration>, BrokerError> {
        let mut client = self.client().await?;
        migrate::apply(&mut client, target).await
    }

    async fn client(&self) -> Result<Object, BrokerError> {
        self.pool
            .get()
            .await
            .map_err(|e| BrokerError::Unavailable(anyhow::Error::new(e).context("getting a connection")))
    }

    /// The id this broker's notes carry.
    pub fn broker_id(&self) -> BrokerId {
        self.id
    }

    /// Commits a change after taking its groups' gates, so that its events, sent while the
    /// returned guard lives, come after those of every change committed before it. What it
    /// causes on other brokers is noted inside the transaction, just before COMMIT, with the
    /// groups' last seqs: PostgreSQL delivers notes in commit order, so the others see it
    /// after every message committed before it and before every one committed after.
    async fn commit<T: cluster::Announced>(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        gids: impl IntoIterator<Item = i64>,
        value: T,
    ) -> Result<Committed<T>, BrokerError> {
        let mut gids: Vec<i64> = gids.into_iter().collect();
        gids.sort_unstable();
        gids.dedup();
        self.note_in(&tx, &gids, value.shared()).await?;
        let order = self.order.enter(gids).await;
        tx.commit().await.map_err(db_error)?;
        Ok(Committed { value, order })
    }

    /// Runs one store operation within the timeout.
    async fn timed<T>(&self, work: impl Future<Output = Result<T, BrokerError>>) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(BrokerError::Unavailable(anyhow::anyhow!("database operation timed out"))),
        }
    }
}

/// A pool to `url` (`flag` names where the URL came from in errors), whose connections end
/// a statement or a lock wait a little before `timeout` and commit synchronously.
fn open_pool(url: &str, flag: &str, pool_size: usize, timeout: Duration) -> Result<Pool, BrokerError> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|e| BrokerError::Internal(anyhow::Error::new(e).context(format!("parsing {flag}"))))?;
    config.connect_timeout(timeout.min(Duration::from_secs(3)));
    config.keepalives_idle(Duration::from_secs(30));
    config.application_name("joint-broker");
    // PostgreSQL ends a statement or lock wait a little before our own timeout, so the
    // transaction is rolled back cleanly and the connection stays usable.
    let server_side = timeout.mul_f64(0.75).as_millis().max(1);
    // Added to any options the URL gives (a search_path, say), not in their place.
    let given = config.get_options().unwrap_or_default().to_owned();
    // synchronous_commit is set here, on every connection, and not left to the server's or
    // the role's configuration: an ack means the commit is on disk.
    let options =
        format!("{given} -c statement_timeout={server_side} -c lock_timeout={server_side} -c synchronous_commit=on");
    config.options(options.trim());
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(pool_size)
        // The connection used last is the next one handed out: under light load one or two
        // server processes do all the work with their caches warm, instead of every request
        // waking the least recently used of them all.
        .queue_mode(QueueMode::Lifo)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| BrokerError::Internal(anyhow::Error::new(e).context("building the pool")))
}

/// Classifies a PostgreSQL error: a lost or refused connection, or a server shutting down or
/// starting up, is `unavailable`; anything else is `internal`.
pub(crate) fn db_error(err: tokio_postgres::Error) -> BrokerError {
    let transient = match err.code() {
        None => true,
        Some(code) => {
            let class = &code.code()[..2];
            class == "08" || class == "53" || class == "57" || class == "40" || *code == SqlState::LOCK_NOT_AVAILABLE
        }
    };
    if transient {
        BrokerError::Unavailable(err.into())
    } else {
        BrokerError::Internal(err.into())
    }
}
