//! One round of a fan-out workload (1, 2, 3 and 5): subscribe everyone, publish from every
//! group at once (as fast as the window allows, or on a fixed schedule), optionally have one
//! subscriber stop reading for a while, wait for every delivery, and measure rates,
//! latencies, losses, CPU and the broker's memory over time.

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

/// The resolution of each subscriber's deliveries-over-time count.
const BUCKET: Duration = Duration::from_millis(100);

/// How often the broker's RSS is sampled.
const RSS_EVERY: Duration = Duration::from_secs(1);

/// The processes whose CPU a round charges to a peer.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// The broker's pid.
    pub broker: Option<u32>,
    /// The postmaster of the broker's PostgreSQL cluster, if it has one.
    pub postgres: Option<u32>,
    /// The broker's metrics address (Joint).
    pub metrics: Option<String>,
    /// More brokers of the same cluster (Joint's multi-broker mode), each charged apart.
    pub more_brokers: Vec<u32>,
}

/// CPU seconds used during a round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cpu {
    /// By the broker.
    pub broker: f64,
    /// By each of [`Watched::more_brokers`], in order.
    pub more_brokers: Vec<f64>,
    /// By its PostgreSQL cluster (every process of it).
    pub postgres: f64,
    /// By this load generator.
    pub generator: f64,
}

impl Cpu {
    fn read(watched: &Watched) -> Result<Cpu> {
        Ok(Cpu {
            broker: watched.broker.map(|pid| procstat::cpu_seconds(pid, false)).transpose()?.unwrap_or(0.0),
            more_brokers: watched
                .more_brokers
                .iter()
                .map(|&pid| procstat::cpu_seconds(pid, false))
                .collect::<Result<_>>()?,
            postgres: watched.postgres.map(procstat::tree_cpu_seconds).transpose()?.unwrap_or(0.0),
            generator: procstat::cpu_seconds(std::process::id(), false)?,
        })
    }

    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            broker: self.broker - before.broker,
            more_brokers: self
                .more_brokers
                .iter()
                .zip(&before.more_brokers)
                .map(|(after, before)| after - before)
                .collect(),
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
    /// Losses, duplicates and reorderings, all subscribers together but the slow one.
    pub verdict: Verdict,
    /// What the subscriber that paused saw, and what the others did meanwhile.
    pub slow: Option<Slow>,
    /// The broker's resident memory in bytes, sampled every second from the first publish
    /// (empty without the broker's pid).
    pub rss: Vec<u64>,
    /// CPU seconds used during the round.
    pub cpu: Cpu,
    /// Mean messages per PostgreSQL commit (Joint with metrics only).
    pub mean_batch: Option<f64>,
    /// Subscriptions the broker sent to storage because they fell behind (`lagged`) during
    /// the round (Joint with metrics only).
    pub lagged: Option<f64>,
}

/// Workload 5: the subscriber that stopped reading, and the others around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slow {
    /// The slow subscriber's own verdict.
    pub verdict: Verdict,
    /// Deliveries per second of all the other subscribers together before the pause.
    pub others_before: f64,
    /// The same while the slow one did not read.
    pub others_during: f64,
}

impl Slow {
    /// The share of their throughput the others kept during the pause (1.0 = all of it).
    pub fn kept(&self) -> f64 {
        if self.others_before > 0.0 {
            self.others_during / self.others_before
        } else {
            0.0
        }
    }
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
    let (batches_before, lagged_before) = match &watched.metrics {
        Some(addr) => (Some(crate::metrics::batches(addr).await?), Some(crate::metrics::lagged(addr).await?)),
        None => (None, None),
    };
    let cpu_before = Cpu::read(watched)?;
    let start_ns = now_ns();
    let (stop_tx, stop) = watch::channel(false);
    let (done_tx, mut done) = mpsc::channel(connections.len().max(1));
    let nanos = |at: Duration| start_ns + u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
    let pause = shape.pause.map(|(from, to)| (nanos(from), nanos(to)));
    let readers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, deliveries)| {
            let reader = Reader {
                checker: Checker::new(shape.messages),
                origin_ns: start_ns,
                timeline: Vec::new(),
                pause: pause.filter(|_| i == 0),
            };
            tokio::spawn(reader.read(deliveries, done_tx.clone(), stop.clone()))
        })
        .collect();
    drop(done_tx);
    let rss = watched.broker.map(|pid| tokio::spawn(sample_rss(pid, stop.clone())));

    let publishers = topics.iter().enumerate().map(|(publisher, topic)| {
        let plan = Plan {
            publisher: u32::try_from(publisher).expect("a few groups"),
            messages: shape.messages,
            size: shape.size,
            window: shape.window,
            rate: shape.rate,
        };
        peer.publish(topic, plan)
    });
    let published = try_join_all(publishers).await.context("publishing")?;

    // Wait until every subscriber has everything, or the grace period is over; a slow
    // subscriber gets as long again as it did not read.
    let mut complete = 0;
    let backlog = shape.pause.map_or(Duration::ZERO, |(from, to)| to.saturating_sub(from));
    let deadline = tokio::time::Instant::now() + GRACE + backlog;
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
    let lagged = match (&watched.metrics, lagged_before) {
        (Some(addr), Some(before)) => Some(crate::metrics::lagged(addr).await? - before),
        _ => None,
    };
    stop_tx.send_replace(true);

    let mut verdict = Verdict::default();
    let mut end_to_end = Latency::new();
    let mut last_delivery_ns = start_ns;
    let mut slow = None;
    let mut others_timeline: Vec<u64> = Vec::new();
    for reader in readers {
        let (reader, error) = reader.await.context("a subscriber task panicked")?;
        if let Some(error) = error {
            return Err(error.context("a subscriber failed"));
        }
        end_to_end.merge(&reader.checker.latency);
        last_delivery_ns = last_delivery_ns.max(reader.checker.last_delivery_ns);
        if reader.pause.is_some() {
            slow = Some(reader.checker.verdict());
            continue;
        }
        verdict += reader.checker.verdict();
        if others_timeline.len() < reader.timeline.len() {
            others_timeline.resize(reader.timeline.len(), 0);
        }
        others_timeline.iter_mut().zip(&reader.timeline).for_each(|(total, count)| *total += count);
    }
    let slow = slow.zip(shape.pause).map(|(verdict, (from, to))| Slow {
        verdict,
        others_before: rate_between(&others_timeline, Duration::ZERO, from),
        others_during: rate_between(&others_timeline, from, to),
    });
    let rss = match rss {
        Some(sampler) => sampler.await.context("the RSS sampler panicked")?,
        None => Vec::new(),
    };
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
        slow,
        rss,
        cpu,
        mean_batch,
        lagged,
    })
}

/// Deliveries per second in `timeline` (counts per [`BUCKET`]) between two offsets.
fn rate_between(timeline: &[u64], from: Duration, to: Duration) -> f64 {
    let bucket = |at: Duration| usize::try_from(at.as_nanos() / BUCKET.as_nanos()).unwrap_or(usize::MAX);
    let (first, last) = (bucket(from), bucket(to).max(bucket(from) + 1));
    let count: u64 = timeline.iter().take(last).skip(first).sum();
    count as f64 / ((last - first) as f64 * BUCKET.as_secs_f64())
}

/// Samples `pid`'s RSS every [`RSS_EVERY`] until told to stop (a vanished process ends it).
async fn sample_rss(pid: u32, mut stop: watch::Receiver<bool>) -> Vec<u64> {
    let mut samples = Vec::new();
    let mut every = tokio::time::interval(RSS_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => match procstat::rss_bytes(pid) {
                Ok(bytes) => samples.push(bytes),
                Err(_) => return samples,
            },
            _ = stop.changed() => return samples,
        }
    }
}

/// One subscriber: its checker, its deliveries over time, and when it does not read.
struct Reader {
    checker: Checker,
    /// Where the timeline starts ([`now_ns`] reading).
    origin_ns: u64,
    /// Deliveries per [`BUCKET`] from `origin_ns`.
    timeline: Vec<u64>,
    /// From when to when this subscriber leaves its connection unread, if it does.
    pause: Option<(u64, u64)>,
}

impl Reader {
    /// Reads the deliveries into the checker until told to stop; says when it has every
    /// message. Returns itself and the error that ended the stream, if any.
    async fn read(
        mut self,
        mut deliveries: Deliveries,
        done: mpsc::Sender<()>,
        mut stop: watch::Receiver<bool>,
    ) -> (Reader, Option<anyhow::Error>) {
        let mut reported = false;
        let mut paused = false;
        loop {
            if let Some((from, to)) = self.pause.filter(|_| !paused) {
                let at = crate::peers::instant_of(from);
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {
                        // Stop reading: the connection's backlog is the broker's to handle.
                        paused = true;
                        tokio::select! {
                            () = tokio::time::sleep_until(crate::peers::instant_of(to)) => {}
                            _ = stop.changed() => return (self, None),
                        }
                        continue;
                    }
                    item = deliveries.next() => match self.take(item, &mut reported, &done).await {
                        Some(error) => return (self, error),
                        None => continue,
                    },
                    _ = stop.changed() => return (self, None),
                }
            }
            tokio::select! {
                item = deliveries.next() => if let Some(error) = self.take(item, &mut reported, &done).await {
                    return (self, error);
                },
                _ = stop.changed() => return (self, None),
            }
        }
    }

    /// Records one item of the stream; `Some` when the stream ended (with its error, if any).
    async fn take(
        &mut self,
        item: Option<Result<bytes::Bytes>>,
        reported: &mut bool,
        done: &mpsc::Sender<()>,
    ) -> Option<Option<anyhow::Error>> {
        match item {
            Some(Ok(payload)) => {
                self.checker.record(&payload);
                let bucket = usize::try_from(
                    self.checker.last_delivery_ns.saturating_sub(self.origin_ns) / BUCKET.as_nanos() as u64,
                )
                .unwrap_or(usize::MAX);
                if let Some(count) = self.timeline.get_mut(bucket) {
                    *count += 1;
                } else if bucket < (1 << 24) {
                    self.timeline.resize(bucket + 1, 0);
                    self.timeline[bucket] = 1;
                }
                if !*reported && self.checker.complete() {
                    *reported = true;
                    done.send(()).await.ok();
                }
                None
            }
            Some(Err(error)) => Some(Some(error)),
            None => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_buckets_between_two_offsets() {
        // 10 deliveries per 100 ms for a second, then 5.
        let timeline: Vec<u64> = [10; 10].into_iter().chain([5; 10]).collect();
        assert_eq!(rate_between(&timeline, Duration::ZERO, Duration::from_secs(1)), 100.0);
        assert_eq!(rate_between(&timeline, Duration::from_secs(1), Duration::from_secs(2)), 50.0);
        let slow = Slow { verdict: Verdict::default(), others_before: 100.0, others_during: 95.0 };
        assert_eq!(slow.kept(), 0.95);
    }
}
