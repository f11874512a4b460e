//! Group commit: one task writes every publish, taking whatever queued while the previous
//! commit ran as the next batch (no timer, so a lone publish is not delayed), one
//! transaction per batch, one outcome per message.

use crate::error::BrokerError;
use crate::store::{NewMessage, Publication, Store};
use joint_wire::message::PublishOk;
use tokio::sync::{mpsc, oneshot};

/// The most messages in one transaction.
const MAX_BATCH: usize = 1000;

/// Publishes waiting for the committer; beyond this, publishers wait to queue.
const QUEUE: usize = 4096;

struct Job {
    message: NewMessage,
    done: oneshot::Sender<Publication>,
}

/// The handle connections publish through.
#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the committing task; it ends when every handle is dropped.
    pub fn start(store: Store) -> Committer {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, queue));
        Committer { jobs }
    }

    /// Publishes one message; answers once it is committed, or with why not. `unavailable`
    /// means the outcome is unknown: publish again with the same cid.
    pub async fn publish(&self, message: NewMessage) -> Result<PublishOk, BrokerError> {
        let (done, outcome) = oneshot::channel();
        let gone = || BrokerError::Internal(anyhow::anyhow!("the committer stopped"));
        self.jobs.send(Job { message, done }).await.map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

async fn run(store: Store, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&store, batch).await;
    }
}

/// Commits a batch and answers each job. A batch that fails for a reason other than the
/// database being unreachable is retried one message at a time, so that only the message
/// at fault gets the error.
async fn commit(store: &Store, batch: Vec<Job>) {
    let messages: Vec<NewMessage> = batch.iter().map(|job| job.message.clone()).collect();
    match store.publish_batch(&messages).await {
        Ok(committed) => {
            for (job, outcome) in batch.into_iter().zip(committed.value) {
                let _ = job.done.send(outcome);
            }
        }
        Err(BrokerError::Unavailable(cause)) => {
            tracing::warn!(error = %format!("{cause:#}"), messages = batch.len(), "publish batch not committed");
            for job in batch {
                let unknown = anyhow::anyhow!("the batch's commit did not complete");
                let _ = job.done.send(Err(BrokerError::Unavailable(unknown)));
            }
        }
        Err(err) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                let _ = job.done.send(Err(err));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, messages = batch.len(), "publish batch failed; retrying one by one");
            for job in batch {
                Box::pin(commit(store, vec![job])).await;
            }
        }
    }
}
