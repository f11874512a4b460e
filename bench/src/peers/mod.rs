//! The brokers under test, behind one interface: prepare topics for a round, open a
//! subscriber connection, run a publisher with a window of unacknowledged messages.

mod joint;
mod mqtt;
mod nats;

use std::future::Future;

use anyhow::Result;
use bytes::Bytes;
use futures::stream::{BoxStream, FuturesUnordered, StreamExt};

pub use joint::JointPeer;
pub use mqtt::MqttPeer;
pub use nats::NatsPeer;

use crate::latency::Latency;

/// What one publisher sends.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The publisher's number, carried in every message.
    pub publisher: u32,
    /// How many messages (seq 0..messages).
    pub messages: u64,
    /// Bytes per message.
    pub size: usize,
    /// Messages sent but not acknowledged at most.
    pub window: usize,
    /// Open loop: messages per second on a fixed schedule; `None`: as fast as the window allows.
    pub rate: Option<f64>,
}

impl Plan {
    /// When message `seq` is due ([`crate::payload::now_ns`] reading) for an open-loop
    /// plan whose first message was due at `start_ns`; `None` for a closed loop. An open-loop
    /// message carries this time as its send time, so a late send shows in its latency
    /// (no coordinated omission).
    pub fn due_ns(&self, start_ns: u64, seq: u64) -> Option<u64> {
        self.rate.map(|rate| start_ns + (seq as f64 * 1e9 / rate) as u64)
    }
}

/// The tokio instant of a [`crate::payload::now_ns`] reading (now, if it has passed).
pub fn instant_of(due_ns: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_nanos(due_ns.saturating_sub(crate::payload::now_ns()))
}

/// Waits until `due_ns` (a [`crate::payload::now_ns`] reading), handing each
/// acknowledgement that arrives meanwhile to `take`: an open-loop publisher's pause. A
/// publisher behind its schedule takes only the acknowledgements already there and does not
/// sleep: a timer, even one already expired, fires on the runtime's next millisecond tick,
/// which would cap every publisher at about 1,000 messages/s.
async fn take_acks_until<F: Future>(
    due_ns: u64,
    inflight: &mut FuturesUnordered<F>,
    mut take: impl FnMut(F::Output) -> Result<()>,
) -> Result<()> {
    if due_ns <= crate::payload::now_ns() {
        while let Some(Some(result)) = futures::FutureExt::now_or_never(inflight.next()) {
            take(result)?;
        }
        return Ok(());
    }
    let at = instant_of(due_ns);
    loop {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(at) => return Ok(()),
            Some(result) = inflight.next() => take(result)?,
        }
    }
}

/// Sleeps until `due_ns` (a [`crate::payload::now_ns`] reading) unless it has passed (see
/// [`take_acks_until`] for why an expired timer is not awaited).
async fn pace(due_ns: u64) {
    if due_ns > crate::payload::now_ns() {
        tokio::time::sleep_until(instant_of(due_ns)).await;
    }
}

/// What one publisher saw.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Messages the broker acknowledged.
    pub acked: u64,
    /// From each send to its acknowledgement.
    pub ack_latency: Latency,
    /// When the last acknowledgement arrived ([`crate::payload::now_ns`]).
    pub last_ack_ns: u64,
}

/// One subscriber connection's deliveries (payloads), in arrival order; an error ends it.
pub type Deliveries = BoxStream<'static, Result<Bytes>>;

/// A broker under test.
pub enum Peer {
    /// Joint over its wire protocol: every acknowledgement is a PostgreSQL commit.
    Joint(JointPeer),
    /// Mosquitto 2, MQTT 3.1.1 at QoS 1.
    Mosquitto(MqttPeer),
    /// NATS JetStream on a file-backed stream, publish-with-ack.
    Nats(NatsPeer),
}

impl Peer {
    /// The name used in the progress display and the report.
    pub fn name(&self) -> &'static str {
        match self {
            Peer::Joint(_) => "Joint",
            Peer::Mosquitto(_) => "Mosquitto",
            Peer::Nats(_) => "NATS JetStream",
        }
    }

    /// Makes `groups` fresh topics for one round, named after `tag` (letters and digits).
    pub async fn prepare(&self, tag: &str, groups: usize) -> Result<Vec<String>> {
        match self {
            Peer::Joint(peer) => peer.prepare(tag, groups).await,
            Peer::Mosquitto(_) => Ok((0..groups).map(|g| format!("bench/{tag}/g{g}")).collect()),
            Peer::Nats(peer) => peer.prepare(tag, groups).await,
        }
    }

    /// Opens a new connection subscribed to `topic`; it is subscribed when this returns.
    pub async fn subscribe(&self, topic: &str) -> Result<Deliveries> {
        match self {
            Peer::Joint(peer) => peer.subscribe(topic).await,
            Peer::Mosquitto(peer) => peer.subscribe(topic).await,
            Peer::Nats(peer) => peer.subscribe(topic).await,
        }
    }

    /// Opens a new connection and publishes `plan` to `topic`, waiting for every acknowledgement.
    pub async fn publish(&self, topic: &str, plan: Plan) -> Result<Published> {
        match self {
            Peer::Joint(peer) => peer.publish(topic, plan).await,
            Peer::Mosquitto(peer) => peer.publish(topic, plan).await,
            Peer::Nats(peer) => peer.publish(topic, plan).await,
        }
    }
}
