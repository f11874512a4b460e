//! The optional streaming-replication hot standby (`--read-database-url`) that history pages
//! are read from, and its health: a standby that fails is skipped for a moment and its
//! outage is logged once, not once per request.

use crate::error::BrokerError;
use deadpool_postgres::{Object, Pool};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a failed standby is left alone before a request tries it again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The standby's pool and whether it is answering.
pub(crate) struct Standby {
    pool: Pool,
    health: Mutex<Health>,
}

/// The standby's state as the last attempts found it.
#[derive(Default)]
struct Health {
    /// Whether the last attempt failed (an outage is under way).
    down: bool,
    /// While down: when a request may try the standby again.
    retry_at: Option<Instant>,
}

impl Standby {
    /// A standby reached through `pool`, presumed up.
    pub(crate) fn new(pool: Pool) -> Standby {
        Standby { pool, health: Mutex::default() }
    }

    /// Whether a request should try the standby now: always while it answers, and once per
    /// [`RETRY_AFTER`] during an outage (the others go straight to the primary).
    pub(crate) fn worth_trying(&self) -> bool {
        let mut health = self.health.lock().expect("the standby's health lock is never poisoned");
        match health.retry_at {
            Some(at) if Instant::now() < at => false,
            Some(_) => {
                health.retry_at = Some(Instant::now() + RETRY_AFTER);
                true
            }
            None => true,
        }
    }

    /// A connection to the standby.
    pub(crate) async fn client(&self) -> Result<Object, BrokerError> {
        self.pool
            .get()
            .await
            .map_err(|e| BrokerError::Unavailable(anyhow::Error::new(e).context("getting a standby connection")))
    }

    /// Records an answer from the standby, logging the end of an outage.
    pub(crate) fn answered(&self) {
        let mut health = self.health.lock().expect("the standby's health lock is never poisoned");
        if health.down {
            tracing::info!("the read replica answers again; history is read from it");
        }
        *health = Health::default();
    }

    /// Records a failure of the standby, logging the start of an outage (not each failure).
    pub(crate) fn failed(&self, err: &BrokerError) {
        let mut health = self.health.lock().expect("the standby's health lock is never poisoned");
        if !health.down {
            let chain: Vec<String> = std::iter::successors(Some(err as &dyn std::error::Error), |e| e.source())
                .map(|e| e.to_string())
                .collect();
            tracing::warn!(error = %chain.join(": "), "the read replica failed; history is read from the primary until it answers");
        }
        health.down = true;
        health.retry_at = Some(Instant::now() + RETRY_AFTER);
    }
}
