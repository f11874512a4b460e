//! Tells the other brokers, after each commit, which seqs this broker committed. The
//! committer hands the ranges over without waiting; one task sends them, merged with
//! whatever queued meanwhile (one `NOTIFY` for many batches under load), so neither an ack
//! nor the local fan-out ever waits for a note, and a failed note is only logged: the
//! others' periodic check brings those messages anyway.

use super::note::{message_payloads, Range};
use crate::metrics::Metrics;
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The committer's handle for announcing committed messages.
#[derive(Clone)]
pub struct MessageNotes {
    ranges: mpsc::UnboundedSender<Vec<Range>>,
}

impl MessageNotes {
    /// Starts the sending task, which names the notes after `store`'s broker id; it ends
    /// when every handle is dropped.
    pub fn start(store: Store, metrics: Arc<Metrics>) -> MessageNotes {
        let (ranges, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(store, metrics, queue));
        MessageNotes { ranges }
    }

    /// Queues the announcement of a committed batch's messages.
    pub fn committed(&self, ranges: Vec<Range>) {
        if !ranges.is_empty() {
            let _ = self.ranges.send(ranges);
        }
    }
}

async fn run(store: Store, metrics: Arc<Metrics>, mut queue: mpsc::UnboundedReceiver<Vec<Range>>) {
    while let Some(first) = queue.recv().await {
        // Per group, from the first seq to the last of every batch queued: a range may
        // then span other brokers' seqs, which a receiver skips as already delivered.
        let mut merged: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let mut add = |ranges: Vec<Range>| {
            for r in ranges {
                let entry = merged.entry(r.gid).or_insert((r.first, r.last));
                *entry = (entry.0.min(r.first), entry.1.max(r.last));
            }
        };
        add(first);
        while let Ok(more) = queue.try_recv() {
            add(more);
        }
        let ranges: Vec<Range> = merged.into_iter().map(|(gid, (first, last))| Range { gid, first, last }).collect();
        let payloads = message_payloads(store.broker_id(), &ranges);
        match store.notify(&payloads).await {
            Ok(()) => {
                metrics.notes_sent.inc_by(payloads.len() as u64);
            }
            Err(err) => tracing::warn!(error = %err, "message note not sent; the others' periodic check covers it"),
        }
    }
}
