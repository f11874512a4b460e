//! Deliberate faults for proving that `joint-chaos`'s checker can fail. Compiled only with
//! the `sabotage` feature, which only `joint-chaos`'s test build turns on; a broker built
//! for use (`cargo build --release -p joint-broker`) holds none of this.
//!
//! `JOINT_SABOTAGE` picks one fault at start-up: `ack_before_commit` (every 20th publish
//! batch is acknowledged and fanned out, then rolled back), `drop_delivery` (every 1000th
//! live delivery is skipped) or `skip_seq` (every 500th new message takes seq n+2).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// One of the deliberate faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sabotage {
    AckBeforeCommit,
    DropDelivery,
    SkipSeq,
}

fn chosen() -> Option<Sabotage> {
    static CHOSEN: OnceLock<Option<Sabotage>> = OnceLock::new();
    *CHOSEN.get_or_init(|| match std::env::var("JOINT_SABOTAGE").ok()?.as_str() {
        "ack_before_commit" => Some(Sabotage::AckBeforeCommit),
        "drop_delivery" => Some(Sabotage::DropDelivery),
        "skip_seq" => Some(Sabotage::SkipSeq),
        other => {
            tracing::error!(value = other, "JOINT_SABOTAGE names no sabotage; none is active");
            None
        }
    })
}

/// True once in `every` calls while `sabotage` is the chosen one.
fn strikes(sabotage: Sabotage, counter: &AtomicU64, every: u64) -> bool {
    chosen() == Some(sabotage) && counter.fetch_add(1, Ordering::Relaxed) % every == every - 1
}

/// Logs loudly, at start-up, which sabotage this broker runs with.
pub fn announce() {
    if let Some(sabotage) = chosen() {
        tracing::warn!(?sabotage, "SABOTAGE ACTIVE: this broker breaks its guarantees on purpose (test build only)");
    }
}

/// Whether this publish batch is to be acknowledged without being committed.
pub fn abandon_batch() -> bool {
    static BATCHES: AtomicU64 = AtomicU64::new(0);
    strikes(Sabotage::AckBeforeCommit, &BATCHES, 20)
}

/// Whether this live delivery is to be dropped.
pub fn drop_delivery() -> bool {
    static DELIVERIES: AtomicU64 = AtomicU64::new(0);
    strikes(Sabotage::DropDelivery, &DELIVERIES, 1000)
}

/// How many seqs to skip before the next new message (0 or 1).
pub fn skipped_seqs() -> i64 {
    static MESSAGES: AtomicU64 = AtomicU64::new(0);
    i64::from(strikes(Sabotage::SkipSeq, &MESSAGES, 500))
}
