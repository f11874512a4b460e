//! NATS JetStream: publish-with-ack into a file-backed stream; subscribers are core NATS
//! subscriptions on the stream's subjects, one connection each.

use anyhow::{bail, Context, Result};
use async_nats::jetstream::{self, stream};
use futures::stream::{FuturesUnordered, StreamExt};

use super::{take_acks_until, Deliveries, Plan, Published};
use crate::payload::{now_ns, since, Stamp};

/// A nats-server with JetStream enabled.
pub struct NatsPeer {
    addr: String,
    jetstream: jetstream::Context,
}

impl NatsPeer {
    /// Connects the connection that creates each round's stream.
    pub async fn connect(addr: &str) -> Result<NatsPeer> {
        let client = async_nats::connect(addr).await.with_context(|| format!("connecting to NATS at {addr}"))?;
        Ok(NatsPeer { addr: addr.to_string(), jetstream: jetstream::new(client) })
    }

    /// Creates the file-backed stream `tag` over subjects `tag.>`; the topics are `tag.g{i}`.
    pub(super) async fn prepare(&self, tag: &str, groups: usize) -> Result<Vec<String>> {
        let config = stream::Config {
            name: tag.to_string(),
            subjects: vec![format!("{tag}.>")],
            storage: stream::StorageType::File,
            ..Default::default()
        };
        self.jetstream.create_stream(config).await.with_context(|| format!("creating stream {tag}"))?;
        Ok((0..groups).map(|g| format!("{tag}.g{g}")).collect())
    }

    /// A new connection subscribed to `subject`; the server has the interest when this returns.
    pub(super) async fn subscribe(&self, subject: &str) -> Result<Deliveries> {
        let client = async_nats::connect(&self.addr).await?;
        let subscriber = client.subscribe(subject.to_string()).await?;
        client.flush().await?;
        // The client stays in the stream's state: its connection lives as long as the stream.
        let stream = futures::stream::unfold((client, subscriber), |(client, mut subscriber)| async move {
            let message = subscriber.next().await?;
            Some((Ok(message.payload), (client, subscriber)))
        });
        Ok(stream.boxed())
    }

    /// Publishes `plan` on a new connection, `plan.window` acknowledgements outstanding at most.
    pub(super) async fn publish(&self, subject: &str, plan: Plan) -> Result<Published> {
        let jetstream = jetstream::new(async_nats::connect(&self.addr).await?);
        let mut published = Published::default();
        let mut inflight = FuturesUnordered::new();
        let start_ns = now_ns();
        for seq in 0..plan.messages {
            let due = plan.due_ns(start_ns, seq);
            if let Some(due) = due {
                take_acks_until(due, &mut inflight, |result| acknowledged(&mut published, Some(result))).await?;
            }
            if inflight.len() >= plan.window {
                acknowledged(&mut published, inflight.next().await)?;
            }
            let sent_ns = due.unwrap_or_else(now_ns);
            let body = Stamp { publisher: plan.publisher, seq, sent_ns }.encode(plan.size);
            let ack = jetstream.publish(subject.to_string(), body.into()).await?;
            inflight.push(async move { ack.await.map(|_| sent_ns) });
        }
        while let Some(result) = inflight.next().await {
            acknowledged(&mut published, Some(result))?;
        }
        Ok(published)
    }
}

/// Records one acknowledgement; a refused publish ends the run.
fn acknowledged(
    published: &mut Published,
    result: Option<Result<u64, jetstream::context::PublishError>>,
) -> Result<()> {
    match result {
        Some(Ok(sent_ns)) => {
            published.ack_latency.record(since(sent_ns));
            published.acked += 1;
            published.last_ack_ns = now_ns();
            Ok(())
        }
        Some(Err(error)) => bail!("publish failed: {error}"),
        None => Ok(()),
    }
}
