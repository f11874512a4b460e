//! A transaction whose `BEGIN` travels with its first statements and whose `COMMIT` travels
//! with its last ones: two round trips for a publish batch instead of four, which is most of
//! a lone message's commit latency besides the disk's flush.
//!
//! tokio-postgres's own transaction sends `BEGIN` and `COMMIT` each on its own round trip.
//! Here they are plain statements pipelined with the others, so nothing but this guard
//! knows a transaction is open: if the work fails or is cancelled (the store's timeout drops
//! it) before `COMMIT` has succeeded, the connection is taken out of the pool and closed,
//! and PostgreSQL rolls the transaction back. Failures are rare; a new connection is cheap
//! beside a connection handed on inside a transaction.

use deadpool_postgres::Object;

/// Starts the transaction; sent as one simple query. Every statement of a publish reads by
/// a key, and a plan PostgreSQL cached while a table was small would read it whole (see
/// `messages::STORED_CIDS`), so sequential scans are off for the transaction.
pub(super) const BEGIN: &str = "BEGIN; SET LOCAL enable_seqscan = off";

/// Ends it; PostgreSQL answers a `COMMIT` in a failed transaction by rolling it back.
pub(super) const COMMIT: &str = "COMMIT";

/// A pooled connection with a transaction that may be open.
pub(super) struct PipelinedTx {
    client: Option<Object>,
}

impl PipelinedTx {
    /// Takes charge of `client`, on which the caller is about to send [`BEGIN`].
    pub(super) fn new(client: Object) -> PipelinedTx {
        PipelinedTx { client: Some(client) }
    }

    /// The connection, to send statements on.
    pub(super) fn client(&self) -> &Object {
        self.client.as_ref().expect("the connection is held until the guard is consumed or dropped")
    }

    /// Records that [`COMMIT`] succeeded: the connection goes back to the pool.
    pub(super) fn committed(mut self) {
        drop(self.client.take());
    }
}

impl Drop for PipelinedTx {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Detached from the pool and dropped: the connection closes, the transaction
            // (if it was ever begun) is rolled back.
            drop(Object::take(client));
        }
    }
}
