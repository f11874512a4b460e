//! The load: publishers that retry each message with its cid until acknowledged, and
//! subscribers that resume after the last seq they saw, all through the client proxies,
//! recording every ack and delivery for the checker. With several brokers every client
//! gets every address, each client's list starting at the next broker, so the clients
//! spread evenly and each one's failover has somewhere to go.

use crate::checker::{Ack, Delivery, GroupRecord, Key};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use joint_bench::payload::{now_ns, Stamp};
use joint_wire::message::Event;
use joint_wire::{Client, ClientConfig, ClientEvent, Events};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How much load, per group.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Publishers per group.
    pub publishers: u32,
    /// Subscribers per group.
    pub subscribers: u32,
    /// Messages per second per publisher.
    pub rate: u32,
    /// Publishes in flight per publisher at most.
    pub window: usize,
    /// Body size in bytes.
    pub body_size: usize,
}

/// Pause between attempts that failed.
const RETRY: Duration = Duration::from_millis(100);

/// Events a subscriber's client buffers before it stops reading its socket.
const EVENT_CAPACITY: usize = 64;

type Record = Arc<Mutex<GroupRecord>>;

fn lock(record: &Record) -> std::sync::MutexGuard<'_, GroupRecord> {
    record.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running load on some groups.
pub struct Load {
    /// What the clients of each group saw so far.
    pub records: Vec<Record>,
    tasks: JoinSet<()>,
    publishers: JoinSet<()>,
    stop_publishing: CancellationToken,
    give_up: CancellationToken,
    stop: CancellationToken,
}

impl Load {
    /// Starts publishers and subscribers on each of `groups` (which exist, with the
    /// account of `token` as a member), connecting to `addrs` (the brokers, in failover
    /// order, from a different first one for each client); the first subscriber of the
    /// first group (the one a freeze stops) connects to `victim_addrs` instead.
    pub fn start(addrs: &[String], victim_addrs: &[String], token: &str, groups: &[String], shape: Shape) -> Load {
        let (stop_publishing, give_up, stop) =
            (CancellationToken::new(), CancellationToken::new(), CancellationToken::new());
        let (mut tasks, mut publishers) = (JoinSet::new(), JoinSet::new());
        let mut records = Vec::new();
        let mut clients = 0;
        let mut spread = || {
            clients += 1;
            spread_from(addrs, clients - 1)
        };
        for (g, group) in groups.iter().enumerate() {
            let record: Record = Arc::new(Mutex::new(GroupRecord {
                streams: vec![Vec::new(); shape.subscribers as usize],
                ..GroupRecord::default()
            }));
            for p in 0..shape.publishers {
                let publisher = Publisher {
                    addrs: spread(),
                    token: token.to_owned(),
                    group: group.clone(),
                    id: g as u32 * shape.publishers + p,
                    shape,
                    record: record.clone(),
                    give_up: give_up.clone(),
                };
                publishers.spawn(publisher.run(stop_publishing.clone()));
            }
            for index in 0..shape.subscribers as usize {
                let subscriber = Subscriber {
                    addrs: if g == 0 && index == 0 { victim_addrs.to_vec() } else { spread() },
                    token: token.to_owned(),
                    group: group.clone(),
                    index,
                    record: record.clone(),
                    give_up: give_up.clone(),
                };
                tasks.spawn(subscriber.run(stop.clone()));
            }
            records.push(record);
        }
        Load { records, tasks, publishers, stop_publishing, give_up, stop }
    }

    /// Acks so far.
    pub fn acks(&self) -> usize {
        self.records.iter().map(|r| lock(r).acks.len()).sum()
    }

    /// When the first ack at or after `since` arrived, if one did.
    pub fn first_ack_since(&self, since: Instant) -> Option<Instant> {
        self.records.iter().filter_map(|r| lock(r).acks.iter().map(|a| a.at).filter(|at| *at >= since).min()).min()
    }

    /// When the last publisher to get an ack at or after `since` got its first one: when
    /// every publisher, those of a killed broker included, was publishing again. `None`
    /// while some publisher has had none.
    pub fn every_publisher_acked_since(&self, since: Instant) -> Option<Instant> {
        let mut latest = None;
        for record in &self.records {
            let record = lock(record);
            let publishers: std::collections::HashSet<u32> = record.sent.iter().map(|key| key.0).collect();
            for publisher in publishers {
                let first = record.acks.iter().filter(|a| a.key.0 == publisher && a.at >= since).map(|a| a.at).min()?;
                latest = latest.max(Some(first));
            }
        }
        latest
    }

    /// Deliveries per second per subscriber between `from` and `to`, counting every
    /// subscriber but the one a freeze stops.
    pub fn others_rate(&self, from: Instant, to: Instant) -> f64 {
        let mut deliveries = 0usize;
        let mut subscribers = 0usize;
        for (g, record) in self.records.iter().enumerate() {
            for (index, stream) in lock(record).streams.iter().enumerate() {
                if g == 0 && index == 0 {
                    continue;
                }
                subscribers += 1;
                deliveries += stream.iter().filter(|d| d.at >= from && d.at < to).count();
            }
        }
        let seconds = to.saturating_duration_since(from).as_secs_f64();
        if subscribers == 0 || seconds == 0.0 {
            return 0.0;
        }
        deliveries as f64 / subscribers as f64 / seconds
    }

    /// Stops sending new messages and waits until every message sent is acknowledged, for
    /// `limit` at most; the ones still unacknowledged then are abandoned (their outcome
    /// stays unknown, which is no anomaly). Returns how many were abandoned.
    pub async fn stop_publishing(&mut self, limit: Duration) -> usize {
        self.stop_publishing.cancel();
        let drained = tokio::time::timeout(limit, async { while self.publishers.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            self.give_up.cancel();
            while self.publishers.join_next().await.is_some() {}
        }
        self.records.iter().map(|r| lock(r)).map(|r| r.sent.len() - r.acks.len()).sum()
    }

    /// Whether every subscriber of group `g` has received up to `last_seq`.
    pub fn caught_up(&self, g: usize, last_seq: u64) -> bool {
        lock(&self.records[g]).streams.iter().all(|s| s.iter().map(|d| d.seq).max().unwrap_or(0) >= last_seq)
    }

    /// Stops every client and hands over what they saw.
    pub async fn finish(mut self) -> Vec<GroupRecord> {
        self.give_up.cancel();
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.records.iter().map(|r| std::mem::take(&mut *lock(r))).collect()
    }
}

/// `addrs` starting at the one after `client` others (wrapping around): client `c` goes to
/// broker `c mod n` first, and fails over to the next.
fn spread_from(addrs: &[String], client: usize) -> Vec<String> {
    let start = client % addrs.len().max(1);
    addrs[start..].iter().chain(&addrs[..start]).cloned().collect()
}

/// A client connected to one of `addrs` (tried in order) and signed in with `token`,
/// retrying until `give_up`.
async fn signed_in(
    addrs: &[String],
    token: &str,
    capacity: Option<usize>,
    give_up: &CancellationToken,
) -> Option<(Client, Events)> {
    while !give_up.is_cancelled() {
        let mut config = ClientConfig::new(addrs.to_vec());
        config.connect_timeout = Duration::from_secs(2);
        config.event_capacity = capacity;
        if let Ok((client, events)) = Client::connect(config).await {
            if client.auth(token).await.is_ok() {
                return Some((client, events));
            }
        }
        tokio::time::sleep(RETRY).await;
    }
    None
}

struct Publisher {
    addrs: Vec<String>,
    token: String,
    group: String,
    id: u32,
    shape: Shape,
    record: Record,
    give_up: CancellationToken,
}

impl Publisher {
    /// Publishes `rate` messages a second, `window` in flight at most, until `stop`; then
    /// finishes the ones in flight.
    async fn run(self, stop: CancellationToken) {
        let Some((client, _events)) = signed_in(&self.addrs, &self.token, None, &self.give_up).await else { return };
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(self.shape.rate.max(1))));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_flight = FuturesUnordered::new();
        let mut next = 0u64;
        loop {
            tokio::select! {
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                _ = ticks.tick(), if !stop.is_cancelled() && in_flight.len() < self.shape.window => {
                    next += 1;
                    let key = (self.id, next);
                    lock(&self.record).sent.insert(key);
                    in_flight.push(self.until_acknowledged(client.clone(), key));
                }
                _ = stop.cancelled(), if !stop.is_cancelled() => {}
                else => break,
            }
        }
    }

    /// Publishes one message, again with the same cid and body after any failure, until it
    /// is acknowledged or the run gives up.
    async fn until_acknowledged(&self, client: Client, key: Key) {
        let body = Stamp { publisher: key.0, seq: key.1, sent_ns: now_ns() }.encode(self.shape.body_size);
        let cid = format!("{}-{}", key.0, key.1);
        loop {
            let outcome = tokio::select! {
                _ = self.give_up.cancelled() => return,
                outcome = client.publish_with_cid(&self.group, &body, &cid) => outcome,
            };
            match outcome {
                Ok(ack) => {
                    lock(&self.record).acks.push(Ack { key, seq: ack.seq, at: Instant::now() });
                    return;
                }
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        }
    }
}

struct Subscriber {
    addrs: Vec<String>,
    token: String,
    group: String,
    index: usize,
    record: Record,
    give_up: CancellationToken,
}

impl Subscriber {
    /// Receives the group's messages from seq 1 on until `stop`.
    async fn run(self, stop: CancellationToken) {
        let Some((client, mut events)) = signed_in(&self.addrs, &self.token, Some(EVENT_CAPACITY), &self.give_up).await
        else {
            return;
        };
        let mut last = 0;
        self.subscribe(&client, last).await;
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.next() => event,
            };
            match event {
                None => return,
                Some(ClientEvent::Event(Event::Message(m))) if m.group == self.group => {
                    let key = Stamp::decode(m.body.as_bytes()).map(|s| (s.publisher, s.seq));
                    lock(&self.record).streams[self.index].push(Delivery { seq: m.seq, key, at: Instant::now() });
                    last = last.max(m.seq);
                }
                // The client resumes by itself after a reconnect; when the broker refused
                // that (unavailable, say) or the session was not restored, resume here.
                Some(ClientEvent::Event(Event::Lagged { group, .. })) if group == self.group => {
                    lock(&self.record).lagged += 1;
                }
                Some(ClientEvent::SubscriptionLost { .. }) => self.subscribe(&client, last).await,
                Some(ClientEvent::Reconnected { authenticated: false, .. }) => {
                    while !self.give_up.is_cancelled() && client.auth(&self.token).await.is_err() {
                        tokio::time::sleep(RETRY).await;
                    }
                    self.subscribe(&client, last).await;
                }
                Some(_) => {}
            }
        }
    }

    /// Subscribes after `last`, retrying until the broker accepts.
    async fn subscribe(&self, client: &Client, last: u64) {
        while !self.give_up.is_cancelled() && client.subscribe(&self.group, None, Some(last)).await.is_err() {
            tokio::time::sleep(RETRY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::spread_from;

    #[test]
    fn clients_start_at_successive_brokers_and_keep_them_all() {
        let addrs: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
        assert_eq!(spread_from(&addrs, 0), ["a", "b", "c"]);
        assert_eq!(spread_from(&addrs, 1), ["b", "c", "a"]);
        assert_eq!(spread_from(&addrs, 5), ["c", "a", "b"]);
        assert_eq!(spread_from(&addrs[..1], 7), ["a"]);
    }
}
