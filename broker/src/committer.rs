//! Group commit: one task writes every publish, taking whatever queued while the previous
//! commit ran as the next batch (no timer, so a lone publish is not delayed), one
//! transaction per batch, one outcome per message.

use crate::error::BrokerError;
use crate::store::{NewMessage, Publication, Store};
use crate::subscriptions::{catch_up, Outgoing, Subscriptions};
use joint_wire::message::PublishOk;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long fan-out waits for publishers' replies to be queued; a handler does that at
/// once, so this only bounds a bug.
const REPLY_WAIT: Duration = Duration::from_secs(5);

/// An outcome and the signal its handler gives once the reply is queued.
type Answer = (Publication, oneshot::Sender<()>);

/// The most messages in one transaction.
const MAX_BATCH: usize = 1000;

/// Publishes waiting for the committer; beyond this, publishers wait to queue.
const QUEUE: usize = 4096;

struct Job {
    message: NewMessage,
    done: oneshot::Sender<Answer>,
}

/// The handle connections publish through.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the committing task; it ends when every handle is dropped.
    pub fn start(store: Store, subscriptions: Arc<Subscriptions>) -> Committer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, subscriptions, queue));
        Committer { jobs }
    }

    /// Publishes one message; answers once it is committed, or with why not. `unavailable`
    /// means the outcome is unknown: publish again with the same cid. With the ack comes a
    /// signal to give once the reply is queued: the message is fanned out after it.
    pub async fn publish(&self, message: NewMessage) -> Result<(PublishOk, oneshot::Sender<()>), BrokerError> {
        let (done, outcome) = oneshot::channel();
        let gone = || BrokerError::Internal(anyhow::anyhow!("the committer stopped"));
        self.jobs.send(Job { message, done }).await.map_err(|_| gone())?;
        let (publication, replied) = outcome.await.map_err(|_| gone())?;
        publication.map(|ack| (ack, replied))
    }
}

async fn run(store: Store, subscriptions: Arc<Subscriptions>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&store, &subscriptions, batch).await;
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

/// Answers each job, waits until every reply is queued, then fans the new messages out,
/// group by group in seq order, each encoded once.
async fn answer_and_fan_out(
    store: &Store,
    subscriptions: &Arc<Subscriptions>,
    batch: Vec<Job>,
    published: crate::store::Published,
) {
    let mut replies = Vec::with_capacity(batch.len());
    for (job, outcome) in batch.into_iter().zip(published.outcomes) {
        let (replied, queued) = oneshot::channel();
        let _ = job.done.send((outcome, replied));
        replies.push(queued);
    }
    let deadline = tokio::time::Instant::now() + REPLY_WAIT;
    for queued in replies {
        // A dropped signal (an error reply, a closed connection) is as good as a sent one.
        let _ = tokio::time::timeout_at(deadline, queued).await;
    }
    let mut by_group: BTreeMap<i64, Vec<Outgoing>> = BTreeMap::new();
    for message in published.messages {
        by_group.entry(message.gid as i64).or_default().push(Outgoing::new(message));
    }
    for (gid, messages) in by_group {
        for sub in subscriptions.fan_out(gid, &messages) {
            tokio::spawn(catch_up(store.clone(), subscriptions.clone(), sub));
        }
    }
}

/// Commits a batch and answers each job. A batch that fails for a reason other than the
/// database being unreachable is retried one message at a time, so that only the message
/// at fault gets the error.
async fn commit(store: &Store, subscriptions: &Arc<Subscriptions>, batch: Vec<Job>) {
    let messages: Vec<NewMessage> = batch.iter().map(|job| job.message.clone()).collect();
    match store.publish_batch(&messages).await {
        Ok(committed) => {
            // The groups' gates stay taken until the messages are out, so that membership
            // events and messages of a group reach everyone in commit order.
            answer_and_fan_out(store, subscriptions, batch, committed.value).await;
            drop(committed.order);
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
                let _ = job.done.send((Err(BrokerError::Unavailable(unknown)), oneshot::channel().0));
            }
        }
        Err(err) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                let _ = job.done.send((Err(err), oneshot::channel().0));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, messages = batch.len(), "publish batch failed; retrying one by one");
            for job in batch {
                Box::pin(commit(store, subscriptions, vec![job])).await;
            }
        }
    }
}
