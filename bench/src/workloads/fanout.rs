//! One round of a fan-out workload (1 and 3): subscribe everyone, publish from every group
//! at once, wait for every delivery, and measure rates, latencies, losses and CPU.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::future::try_join_all;
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::Shape;
use crate::checker::{Checker, Verdict};
use crate::latency::Latency;
use crate::payload::now_ns;
use crate::peers::{Deliveries, Peer, Plan};
use crate::procstat;

/// How long subscribers may still take after the last acknowledgement before the round
/// stops counting: what has not arrived by then is lost.
const GRACE: Duration = Duration::from_secs(10);

/// After every subscriber has everything, how long to keep reading to catch duplicates.
const LINGER: Duration = Duration::from_millis(200);

/// The processes whose CPU a round charges to a peer.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// The broker's pid.
    pub broker: Option<u32>,
    /// The postmaster of the broker's PostgreSQL cluster, if it has one.
    pub postgres: Option<u32>,
    /// The broker's metrics address (Joint).
    pub metrics: Option<String>,
}

/// CPU seconds used during a round.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    /// By the broker.
    pub broker: f64,
    /// By its PostgreSQL cluster (every process of it).
    pub postgres: f64,
    /// By this load generator.
    pub generator: f64,
}

impl Cpu {
    fn read(watched: &Watched) -> Result<Cpu> {
        Ok(Cpu {
            broker: watched.broker.map(|pid| procstat::cpu_seconds(pid, false)).transpose()?.unwrap_or(0.0),
            postgres: watched.postgres.map(procstat::tree_cpu_seconds).transpose()?.unwrap_or(0.0),
            generator: procstat::cpu_seconds(std::process::id(), false)?,
        })
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            broker: self.broker - before.broker,
            postgres: self.postgres - before.postgres,
            generator: self.generator - before.generator,
        }
    }
}

/// What one round measured.
#[derive(Debug, Clone)]
pub struct Round {
    /// Acknowledged publishes per second, all publishers together.
    pub acked_per_second: f64,
    /// Deliveries per second, all subscribers together.
    pub deliveries_per_second: f64,
    /// Publish to acknowledgement.
    pub ack_latency: Latency,
    /// Publish to delivery.
    pub end_to_end: Latency,
    /// Acknowledgements received.
    pub acked: u64,
    /// Losses, duplicates and reorderings, all subscribers together.
    pub verdict: Verdict,
    /// CPU seconds used during the round.
    pub cpu: Cpu,
    /// Mean messages per PostgreSQL commit (Joint with metrics only).
    pub mean_batch: Option<f64>,
}

impl Round {
    /// CPU microseconds of the broker (and its PostgreSQL) per delivered message.
    pub fn cpu_micros_per_delivery(&self) -> f64 {
        (self.cpu.broker + self.cpu.postgres) * 1e6 / self.verdict.delivered.max(1) as f64
    }
}

/// Runs one round of `shape` on `peer`; `tag` (letters and digits) names its topics.
pub async fn round(peer: &Peer, watched: &Watched, shape: Shape, tag: &str) -> Result<Round> {
    let topics = peer.prepare(tag, shape.groups).await?;
    let mut connections = Vec::with_capacity(shape.groups * shape.subscribers);
    for topic in &topics {
        // Connect a group's subscribers concurrently; groups one after another.
        let group = (0..shape.subscribers).map(|_| peer.subscribe(topic));
        connections.extend(try_join_all(group).await.context("connecting subscribers")?);
    }
    let (stop_tx, stop) = watch::channel(false);
    let (done_tx, mut done) = mpsc::channel(connections.len().max(1));
    let readers: Vec<_> = connections
        .into_iter()
        .map(|deliveries| tokio::spawn(read(deliveries, Checker::new(shape.messages), done_tx.clone(), stop.clone())))
        .collect();
    drop(done_tx);

    let batches_before = match &watched.metrics {
        Some(addr) => Some(crate::metrics::batches(addr).await?),
        None => None,
    };
    let cpu_before = Cpu::read(watched)?;
    let start_ns = now_ns();
    let publishers = topics.iter().enumerate().map(|(publisher, topic)| {
        let plan = Plan {
            publisher: u32::try_from(publisher).expect("a few groups"),
            messages: shape.messages,
            size: shape.size,
            window: shape.window,
        };
        peer.publish(topic, plan)
    });
    let published = try_join_all(publishers).await.context("publishing")?;

    // Wait until every subscriber has everything, or the grace period is over.
    let mut complete = 0;
    let deadline = tokio::time::Instant::now() + GRACE;
    while complete < readers.len() {
        match tokio::time::timeout_at(deadline, done.recv()).await {
            Ok(Some(())) => complete += 1,
            Ok(None) | Err(_) => break,
        }
    }
    tokio::time::sleep(LINGER).await;
    let cpu = Cpu::read(watched)?.since(&cpu_before);
    let mean_batch = match (&watched.metrics, batches_before) {
        (Some(addr), Some(before)) => crate::metrics::batches(addr).await?.mean_since(&before),
        _ => None,
    };
    stop_tx.send_replace(true);

    let mut verdict = Verdict::default();
    let mut end_to_end = Latency::new();
    let mut last_delivery_ns = start_ns;
    for reader in readers {
        let (checker, error) = reader.await.context("a subscriber task panicked")?;
        if let Some(error) = error {
            return Err(error.context("a subscriber failed"));
        }
        verdict += checker.verdict();
        end_to_end.merge(&checker.latency);
        last_delivery_ns = last_delivery_ns.max(checker.last_delivery_ns);
    }
    let mut ack_latency = Latency::new();
    let mut acked = 0;
    let mut last_ack_ns = start_ns;
    for publisher in &published {
        ack_latency.merge(&publisher.ack_latency);
        acked += publisher.acked;
        last_ack_ns = last_ack_ns.max(publisher.last_ack_ns);
    }
    let seconds = |end_ns: u64| (end_ns.saturating_sub(start_ns)).max(1) as f64 / 1e9;
    Ok(Round {
        acked_per_second: acked as f64 / seconds(last_ack_ns),
        deliveries_per_second: verdict.delivered as f64 / seconds(last_delivery_ns),
        ack_latency,
        end_to_end,
        acked,
        verdict,
        cpu,
        mean_batch,
    })
}

/// Reads one subscriber's deliveries into its checker until told to stop; says when it has
/// every message. Returns the checker and the error that ended the stream, if any.
async fn read(
    mut deliveries: Deliveries,
    mut checker: Checker,
    done: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> (Checker, Option<anyhow::Error>) {
    let mut reported = false;
    loop {
        tokio::select! {
            item = deliveries.next() => match item {
                Some(Ok(payload)) => {
                    checker.record(&payload);
                    if !reported && checker.complete() {
                        reported = true;
                        done.send(()).await.ok();
                    }
                }
                Some(Err(error)) => return (checker, Some(error)),
                None => return (checker, None),
            },
            _ = stop.changed() => return (checker, None),
        }
    }
}
