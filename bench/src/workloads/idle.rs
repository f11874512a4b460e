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
    /// With all of them connected and idle, in bytes.
    pub rss_after: u64,
}

impl Idle {
    /// The broker's extra resident memory per connection, in bytes.
    pub fn bytes_per_connection(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / self.connections.max(1) as f64
    }
}

/// Opens `connections` idle connections to the Joint broker whose pid is `broker`, in a
/// fresh group named after `tag`, and measures the broker's memory growth.
pub async fn run(peer: &JointPeer, broker: u32, connections: usize, tag: &str) -> Result<Idle> {
    let group = peer.prepare(tag, 1).await?.pop().context("one group prepared")?;
    for seq in 0..PAGE {
        let body = format!("{seq:0width$}", width = BODY);
        peer.admin().publish(&group, &body).await.context("filling the history page")?;
    }
    let rss_before = procstat::rss_bytes(broker)?;
    let held: Vec<_> = stream::iter(0..connections)
        .map(|_| async {
            let (client, events) = peer.session().await?;
            let page = client.history(&group, None, None, None, Some(PAGE)).await.context("history")?;
            anyhow::ensure!(page.messages.len() as u64 == PAGE, "a short history page");
            client.subscribe(&group, None, None).await.context("subscribe")?;
            Ok((client, events))
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    tokio::time::sleep(SETTLE).await;
    let rss_after = procstat::rss_bytes(broker)?;
    // Still connected at the end: none of them was dropped meanwhile.
    for (client, _) in &held {
        client.ping().await.context("an idle connection no longer answers")?;
    }
    drop(held);
    Ok(Idle { connections, rss_before, rss_after })
}
