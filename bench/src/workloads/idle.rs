//! Workload 4: many idle connections, each signed in by token, having fetched a 256 KiB
//! history page and subscribed to a group, then left alone (the client's keep-alive pings):
//! the broker's resident memory per connection.

use std::time::Duration;

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::peers::JointPeer;
use crate::procstat;

/// Messages in the history page each connection fetches.
const PAGE: u64 = 100;

/// Bytes per message body, so that one page holds 256 KiB of bodies.
const BODY: usize = 256 * 1024 / PAGE as usize;

/// Connections being set up at once.
const SETUP_CONCURRENCY: usize = 64;

/// How long to leave the connections idle before reading the broker's memory.
const SETTLE: Duration = Duration::from_secs(2);

/// What the idle workload measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Idle {
    /// Connections held open.
    pub connections: usize,
    /// The broker's resident memory before they connected, in bytes.
    pub rss_before: u64,
    /// Connections opened first, to warm the broker up: their setup grows buffers every
    /// process keeps whatever its number of connections (PostgreSQL connections' read
    /// buffers after 256 KiB pages, allocator arenas).
    pub warm: usize,
    /// The broker's resident memory with the first `warm` connections, in bytes.
    pub rss_warm: u64,
    /// The broker's resident memory with all of them, in bytes.
    pub rss_after: u64,
}

impl Idle {
    /// Resident memory per connection, everything since before the first one included.
    pub fn bytes_per_connection(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.connections.max(1) as f64
    }

    /// What one more connection costs: the memory the connections after the warm-up added,
    /// per connection; the figure that scales with the number of connections.
    pub fn marginal_bytes_per_connection(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_warm) as f64 / self.connections.saturating_sub(self.warm).max(1) as f64
    }
}

/// Opens `connections` idle connections to `peer`'s broker (pid `broker`) in a group
/// prepared under `tag`, and measures the broker's memory before, after a warm-up, and
/// with all of them.
pub async fn run(peer: &JointPeer, broker: u32, connections: usize, tag: &str) -> Result<Idle> {
    let group = peer.prepare(tag, 1).await?.pop().context("one group prepared")?;
    for seq in 0..PAGE {
        let body = format!("{seq:0width$}", width = BODY);
        peer.admin().publish(&group, &body).await.context("filling the history page")?;
    }
    let rss_before = procstat::rss_bytes(broker)?;
    let warm = (connections / 4).min(4 * SETUP_CONCURRENCY);
    let mut held = open(peer, &group, warm).await?;
    tokio::time::sleep(SETTLE).await;
    let rss_warm = procstat::rss_bytes(broker)?;
    held.extend(open(peer, &group, connections - warm).await?);
    tokio::time::sleep(SETTLE).await;
    let rss_after = procstat::rss_bytes(broker)?;
    for (client, _) in &held {
        client.ping().await.context("an idle connection no longer answers")?;
    }
    drop(held);
    Ok(Idle { connections, rss_before, warm, rss_warm, rss_after })
}

/// Opens `count` connections, each signed in, having read the history page and subscribed.
async fn open(peer: &JointPeer, group: &str, count: usize) -> Result<Vec<(joint_wire::Client, joint_wire::Events)>> {
    stream::iter(0..count)
        .map(|_| async {
            let (client, events) = peer.session().await?;
            let page = client.history(group, None, None, None, Some(PAGE)).await.context("history")?;
            anyhow::ensure!(page.messages.len() as u64 == PAGE, "a short history page");
            client.subscribe(group, None, None).await.context("subscribe")?;
            Ok((client, events))
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}
