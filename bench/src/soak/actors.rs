//! The soak's mixed workload: steady publishers and subscribers, subscribers that come and
//! go and resume where they left off, history readers, password logins and logouts, and
//! groups created, used, changed and deleted. Every actor checks what it sees (each group's
//! seqs gapless and in order, across resumed connections too) and stops at the deadline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use joint_wire::message::Event;
use joint_wire::{Client, ClientEvent, Events};
use tokio::task::JoinHandle;

use crate::peers::JointPeer;

/// The size of the mixed workload.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Groups with a steady publisher each.
    pub groups: usize,
    /// Steady subscribers per group, each on its own connection.
    pub subscribers: usize,
    /// Messages per second over all groups.
    pub rate: f64,
    /// Message body size in bytes.
    pub size: usize,
    /// Subscribers that connect, read for a while, disconnect and resume, over and over.
    pub churners: usize,
    /// Connections paging through history.
    pub readers: usize,
}

/// What the workload did, counted as it goes; read by the sampler.
#[derive(Debug, Default)]
pub struct Counters {
    /// Publishes acknowledged by the steady publishers.
    pub published: AtomicU64,
    /// Messages delivered to steady subscribers.
    pub delivered: AtomicU64,
    /// Messages delivered to resuming subscribers.
    pub resumed: AtomicU64,
    /// Connections the resuming subscribers opened.
    pub reconnects: AtomicU64,
    /// History pages read.
    pub pages: AtomicU64,
    /// Password logins (each followed by a logout).
    pub logins: AtomicU64,
    /// Groups created, used and deleted.
    pub groups_cycled: AtomicU64,
    /// Everything the checks found wrong: a gap, a duplicate, a page out of order.
    anomalies: Mutex<Vec<String>>,
}

impl Counters {
    /// Adds one to `counter`.
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records something the checks found wrong.
    fn anomaly(&self, what: String) {
        eprintln!("joint-soak: ANOMALY: {what}");
        self.anomalies.lock().expect("the anomalies lock").push(what);
    }

    /// Everything the checks found wrong, in the order found.
    pub fn anomalies(&self) -> Vec<String> {
        self.anomalies.lock().expect("the anomalies lock").clone()
    }
}

/// Prepares the groups and accounts and starts every actor; each runs until `deadline`.
pub async fn start(
    peer: &Arc<JointPeer>,
    load: &Load,
    tag: &str,
    deadline: Instant,
    counters: &Arc<Counters>,
) -> Result<Vec<JoinHandle<Result<()>>>> {
    let groups = peer.prepare(tag, load.groups).await?;
    let mut members = Vec::new();
    for m in 0..2 {
        let login = format!("{tag}m{m}");
        let client = peer.anonymous().await?;
        client.register(&login, "soak member", &format!("{login}-password")).await.context("a member account")?;
        members.push(login);
    }
    let mut actors = Vec::new();
    // Subscribers first, so that each sees its group from seq 1.
    for group in &groups {
        for _ in 0..load.subscribers {
            let (client, events) = peer.session().await?;
            client.subscribe(group, None, None).await.with_context(|| format!("subscribing to {group}"))?;
            actors.push(tokio::spawn(subscriber(client, events, deadline, counters.clone())));
        }
    }
    let interval = Duration::from_secs_f64(load.groups as f64 / load.rate);
    for group in &groups {
        let (peer, group, counters) = (peer.clone(), group.clone(), counters.clone());
        actors.push(tokio::spawn(publisher(peer, group, interval, load.size, deadline, counters)));
    }
    for churner in 0..load.churners {
        let (peer, groups, counters) = (peer.clone(), groups.clone(), counters.clone());
        actors.push(tokio::spawn(resuming_subscriber(peer, groups, churner, deadline, counters)));
    }
    for reader in 0..load.readers {
        let (peer, groups, counters) = (peer.clone(), groups.clone(), counters.clone());
        actors.push(tokio::spawn(history_reader(peer, groups, reader, deadline, counters)));
    }
    actors.push(tokio::spawn(account_cycle(peer.clone(), deadline, counters.clone())));
    actors.push(tokio::spawn(group_cycle(peer.clone(), tag.to_string(), members, deadline, counters.clone())));
    Ok(actors)
}

/// Publishes to `group` every `interval`, one at a time, each with its own cid; the acks'
/// seqs must run 1, 2, 3, … (this is the group's only publisher).
async fn publisher(
    peer: Arc<JointPeer>,
    group: String,
    interval: Duration,
    size: usize,
    deadline: Instant,
    counters: Arc<Counters>,
) -> Result<()> {
    let (client, _events) = peer.session().await?;
    let mut next = Instant::now();
    let mut n = 0u64;
    while next < deadline {
        let mut body = format!("soak {group} {n} ");
        body.extend(std::iter::repeat_n('.', size.saturating_sub(body.len())));
        let ack = client.publish_with_cid(&group, &body, &n.to_string()).await.context("a steady publish")?;
        n += 1;
        if ack.seq != n {
            counters.anomaly(format!("{group}: publish {n} acked as seq {}", ack.seq));
        }
        Counters::bump(&counters.published);
        next += interval;
        tokio::time::sleep_until(next.into()).await;
    }
    Ok(())
}

/// Follows one group's messages until the deadline; each must be the one after the last.
async fn subscriber(client: Client, mut events: Events, deadline: Instant, counters: Arc<Counters>) -> Result<()> {
    let mut last = 0;
    while let Some(message) = next_message(&mut events, deadline).await? {
        check_next(&counters, &message.group, &mut last, message.seq);
        Counters::bump(&counters.delivered);
    }
    drop(client);
    Ok(())
}

/// Over and over: a new connection subscribes to the next group with `after` = the last
/// seq it saw there, reads for one to three seconds and drops the connection. What it
/// reads must continue exactly where the previous connection to that group stopped.
async fn resuming_subscriber(
    peer: Arc<JointPeer>,
    groups: Vec<String>,
    churner: usize,
    deadline: Instant,
    counters: Arc<Counters>,
) -> Result<()> {
    let mut last = vec![0u64; groups.len()];
    let mut round = churner;
    while Instant::now() < deadline {
        let g = round % groups.len();
        let (client, mut events) = peer.session().await?;
        Counters::bump(&counters.reconnects);
        client.subscribe(&groups[g], None, Some(last[g])).await.context("a resuming subscribe")?;
        let until = deadline.min(Instant::now() + Duration::from_secs(1 + (round % 3) as u64));
        while let Some(message) = next_message(&mut events, until).await? {
            check_next(&counters, &message.group, &mut last[g], message.seq);
            Counters::bump(&counters.resumed);
        }
        round += 1;
    }
    Ok(())
}

/// Reads pages of 100 of the groups' history, newest first then one older page, checking
/// that each page is gapless and ascending; five pages a second.
async fn history_reader(
    peer: Arc<JointPeer>,
    groups: Vec<String>,
    reader: usize,
    deadline: Instant,
    counters: Arc<Counters>,
) -> Result<()> {
    let (client, _events) = peer.session().await?;
    let mut round = reader;
    while Instant::now() < deadline {
        let group = &groups[round % groups.len()];
        let latest = client.history(group, None, None, None, Some(100)).await.context("a history page")?;
        let older = match latest.messages.first() {
            Some(first) if first.seq > 1 => {
                Some(client.history(group, None, Some(first.seq / 2 + 1), None, Some(100)).await?)
            }
            _ => None,
        };
        for page in std::iter::once(&latest).chain(older.as_ref()) {
            let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
            if seqs.windows(2).any(|pair| pair[1] != pair[0] + 1) {
                counters.anomaly(format!("{group}: a history page is not gapless: {seqs:?}"));
            }
            Counters::bump(&counters.pages);
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Every two seconds: a new connection logs in with the password (a full scrypt check),
/// reads its account, renames it and logs out.
async fn account_cycle(peer: Arc<JointPeer>, deadline: Instant, counters: Arc<Counters>) -> Result<()> {
    let (login, password) = peer.credentials();
    let mut round = 0u64;
    while Instant::now() < deadline {
        let client = peer.anonymous().await?;
        client.login(login, &password).await.context("a password login")?;
        client.me().await?;
        client.set_name(&format!("soak {}", round % 10)).await.context("a rename")?;
        client.logout().await.context("a logout")?;
        Counters::bump(&counters.logins);
        round += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// Every three seconds: a group is created with both member accounts, gets five messages,
/// loses a member and gets it back, is marked read and is deleted.
async fn group_cycle(
    peer: Arc<JointPeer>,
    tag: String,
    members: Vec<String>,
    deadline: Instant,
    counters: Arc<Counters>,
) -> Result<()> {
    let (client, _events) = peer.session().await?;
    let mut round = 0u64;
    while Instant::now() < deadline {
        let group = format!("{tag}-t{round}");
        client.group_create(&group, &members).await.context("creating a short-lived group")?;
        let mut last = 0;
        for n in 0..5 {
            last = client.publish(&group, &format!("short-lived {n}")).await.context("a short-lived publish")?.seq;
        }
        client.member_remove(&group, &members[..1]).await.context("removing a member")?;
        client.member_add(&group, &members[..1]).await.context("adding it back")?;
        client.mark_read(&group, last).await?;
        client.group_delete(&group).await.context("deleting a short-lived group")?;
        Counters::bump(&counters.groups_cycled);
        round += 1;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Ok(())
}

/// The next `message` event before `until`, or `None` at `until`; other events are skipped
/// (a `lagged` only says the rest comes from storage). A dropped connection is an error.
async fn next_message(events: &mut Events, until: Instant) -> Result<Option<joint_wire::message::Message>> {
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            () = tokio::time::sleep_until(until.into()) => return Ok(None),
        };
        match event {
            Some(ClientEvent::Event(Event::Message(message))) => return Ok(Some(message)),
            Some(ClientEvent::Event(_)) => continue,
            Some(other) => bail!("a subscriber's connection ended: {other:?}"),
            None => bail!("a subscriber's client closed"),
        }
    }
}

/// Checks that `seq` follows `last` in `group`, then moves `last` to it.
fn check_next(counters: &Counters, group: &str, last: &mut u64, seq: u64) {
    if seq != *last + 1 {
        counters.anomaly(format!("{group}: seq {seq} delivered after {last}"));
    }
    *last = seq;
}
