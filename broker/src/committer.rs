//! Group commit: one task writes every publish, taking whatever queued while the previous
//! commit ran as the next batch (no timer, so a lone publish is not delayed), one
//! transaction per batch, one outcome per message.
//!
//! The committer queues each publish's reply itself, in batch order (which keeps each
//! connection's request order), and only then fans the batch's messages out: a publisher's
//! ack precedes its own echo, and its connection is free to send more meanwhile.

use crate::cluster::note::Range;
use crate::cluster::notes_out::MessageNotes;
use crate::connection::outbox::PromisedReply;
use crate::error::BrokerError;
use crate::metrics::Metrics;
use crate::store::{NewMessage, Publication, Store};
use crate::subscriptions::{catch_up, Outgoing, Subscriptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The most messages in one transaction.
const MAX_BATCH: usize = 1000;

/// Publishes waiting for the committer; beyond this, publishers wait to queue.
const QUEUE: usize = 4096;

struct Job {
    message: NewMessage,
    reply: PromisedReply,
}

impl Job {
    fn answer(self, outcome: Publication) {
        match outcome {
            Ok(ack) => self.reply.answer(Ok(&ack)),
            Err(err) => self.reply.answer::<()>(Err(&err.to_body())),
        }
    }
}

/// The handle connections publish through.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the committing task; it ends when every handle is dropped. Each committed
    /// batch's seqs are announced to the other brokers through `notes`.
    pub fn start(
        store: Store,
        subscriptions: Arc<Subscriptions>,
        metrics: Arc<Metrics>,
        notes: MessageNotes,
    ) -> Committer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, subscriptions, metrics, notes, queue));
        Committer { jobs }
    }

    /// Queues one message for the next batch (waiting while the queue is full). `reply` gets
    /// the ack once it is committed, or why not; `unavailable` means the outcome is
    /// unknown: publish again with the same cid.
    pub async fn publish(&self, message: NewMessage, reply: PromisedReply) {
        // Should the committer be gone, the dropped promise answers `internal`.
        let _ = self.jobs.send(Job { message, reply }).await;
    }
}

async fn run(
    store: Store,
    subscriptions: Arc<Subscriptions>,
    metrics: Arc<Metrics>,
    notes: MessageNotes,
    mut queue: mpsc::Receiver<Job>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics.committer_queue.set(queue.len() as i64);
        let (size, started) = (batch.len(), Instant::now());
        let acked = commit(&store, &subscriptions, &notes, batch).await;
        metrics.publishes.inc_by(acked as u64);
        metrics.batches.inc();
        metrics.batch_size.observe(size as f64);
        metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
    }
}

/// Reads the last seqs of groups whose batch failed, retrying until the database answers,
/// and sends their subscribers to storage for any message fan-out did not see.
async fn recheck_after_failure(store: Store, subscriptions: Arc<Subscriptions>, groups: Vec<String>) {
    let mut pause = Duration::from_millis(200);
    loop {
        tokio::time::sleep(pause).await;
        match store.last_seqs(&groups).await {
            Ok(last) => {
                for (gid, last_seq) in last {
                    for sub in subscriptions.catch_up_to(gid, last_seq) {
                        tokio::spawn(catch_up(store.clone(), subscriptions.clone(), sub));
                    }
                }
                return;
            }
            Err(_) => pause = (pause * 2).min(Duration::from_secs(5)),
        }
    }
}

/// Queues each job's reply, then fans the new messages out, group by group in seq order,
/// each encoded once. Returns how many publishes were acknowledged, and the seqs committed
/// per group (for the other brokers).
fn answer_and_fan_out(
    store: &Store,
    subscriptions: &Arc<Subscriptions>,
    batch: Vec<Job>,
    published: crate::store::Published,
) -> (usize, Vec<Range>) {
    let acked = published.outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    for (job, outcome) in batch.into_iter().zip(published.outcomes) {
        job.answer(outcome);
    }
    let mut by_group: BTreeMap<i64, Vec<Outgoing>> = BTreeMap::new();
    for message in published.messages {
        by_group.entry(message.gid as i64).or_default().push(Outgoing::new(message));
    }
    let mut ranges = Vec::with_capacity(by_group.len());
    for (gid, messages) in by_group {
        for sub in subscriptions.fan_out(gid, &messages) {
            tokio::spawn(catch_up(store.clone(), subscriptions.clone(), sub));
        }
        if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
            ranges.push(Range { gid, first: first.seq, last: last.seq });
        }
    }
    (acked, ranges)
}

/// Commits a batch and answers each job. A batch that fails for a reason other than the
/// database being unreachable is retried one message at a time, so that only the message
/// at fault gets the error. Returns how many publishes were acknowledged.
async fn commit(store: &Store, subscriptions: &Arc<Subscriptions>, notes: &MessageNotes, batch: Vec<Job>) -> usize {
    let messages: Vec<NewMessage> = batch.iter().map(|job| job.message.clone()).collect();
    match store.publish_batch(&messages).await {
        Ok(committed) => {
            // The groups' gates stay taken until the messages are out, so that membership
            // events and messages of a group reach everyone in commit order.
            let (acked, ranges) = answer_and_fan_out(store, subscriptions, batch, committed.value);
            drop(committed.order);
            // After the acks and the local fan-out, never before: the note is sent by
            // another task and cannot delay or fail them.
            notes.committed(ranges);
            acked
        }
        Err(BrokerError::Unavailable(cause)) => {
            tracing::warn!(error = %format!("{cause:#}"), messages = batch.len(), "publish batch not committed");
            // The commit may have happened anyway. Once the database answers again, read
            // the groups' last seqs, so that such messages reach subscribers from storage
            // instead of becoming a gap they wait at.
            let groups: Vec<String> = batch.iter().map(|job| job.message.group.clone()).collect();
            tokio::spawn(recheck_after_failure(store.clone(), subscriptions.clone(), groups));
            for job in batch {
                let unknown = anyhow::anyhow!("the batch's commit did not complete");
                job.answer(Err(BrokerError::Unavailable(unknown)));
            }
            0
        }
        Err(err) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                job.answer(Err(err));
            }
            0
        }
        Err(err) => {
            tracing::warn!(error = %err, messages = batch.len(), "publish batch failed; retrying one by one");
            let mut acked = 0;
            for job in batch {
                acked += Box::pin(commit(store, subscriptions, notes, vec![job])).await;
            }
            acked
        }
    }
}
