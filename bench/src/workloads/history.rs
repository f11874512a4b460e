//! Workload 6 (Joint only): a group of many messages, and readers fetching pages of it at
//! random `before` as fast as they can; every page is checked against what was published.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use futures::future::try_join_all;
use tokio::sync::watch;

use crate::latency::Latency;
use crate::payload::Stamp;
use crate::peers::{JointPeer, Plan};

/// Messages per page.
pub const PAGE: u64 = 100;

/// Readers fetching pages at once.
pub const READERS: usize = 16;

/// Publishes pipelined while filling the group: the broker batches their commits, so a wide
/// window fills at its throughput rather than one commit at a time. (The Joint peer caps
/// any window at what the client queues in order, 256.)
pub const FILL_WINDOW: usize = 256;

/// A group filled with one publisher's messages: seq 1.. carries stamp seq 0...
#[derive(Debug, Clone, PartialEq)]
pub struct Filled {
    /// The group's name.
    pub group: String,
    /// Messages in it.
    pub messages: u64,
    /// How long filling took.
    pub seconds: f64,
}

/// What the readers measured.
#[derive(Debug, Clone, Default)]
pub struct Pages {
    /// From sending `history` to its reply, per page.
    pub latency: Latency,
    /// Pages fetched.
    pub pages: u64,
    /// Pages whose messages were not exactly the ones before the requested `before`.
    pub wrong: u64,
    /// How long the readers read, in seconds.
    pub seconds: f64,
}

/// Creates a group named after `tag` and publishes `messages` of 200 bytes into it, through
/// the broker, [`FILL_WINDOW`] at a time.
pub async fn fill(peer: &JointPeer, tag: &str, messages: u64) -> Result<Filled> {
    let group = peer.prepare(tag, 1).await?.pop().context("one group prepared")?;
    let started = Instant::now();
    let plan = Plan { publisher: 0, messages, size: 200, window: FILL_WINDOW, rate: None };
    let published = peer.publish(&group, plan).await.context("filling the history group")?;
    ensure!(published.acked == messages, "{} of {messages} fill messages acknowledged", published.acked);
    Ok(Filled { group, messages, seconds: started.elapsed().as_secs_f64() })
}

/// Runs `readers` readers on their own connections, each fetching pages of [`PAGE`] at a
/// random `before` in `filled`, until `stop` turns true.
pub async fn read(peer: &JointPeer, filled: &Filled, readers: usize, stop: watch::Receiver<bool>) -> Result<Pages> {
    let one = |reader: usize| {
        let mut stop = stop.clone();
        async move {
            let (client, _events) = peer.session().await?;
            let mut pages = Pages::default();
            let mut random = Random::new(reader as u64);
            let length = PAGE.min(filled.messages);
            while !*stop.borrow_and_update() {
                // `before` from length + 1 (the first full page) to messages + 1 (the newest).
                let before = length + 1 + random.below(filled.messages - length + 1);
                let started = Instant::now();
                let page = client
                    .history(&filled.group, None, Some(before), None, Some(PAGE))
                    .await
                    .with_context(|| format!("history before {before}"))?;
                pages.latency.record(started.elapsed());
                pages.pages += 1;
                if !is_page_before(&page.messages, before, length) {
                    pages.wrong += 1;
                }
            }
            anyhow::Ok(pages)
        }
    };
    let started = Instant::now();
    let mut total = Pages::default();
    for pages in try_join_all((0..readers).map(one)).await? {
        total.latency.merge(&pages.latency);
        total.pages += pages.pages;
        total.wrong += pages.wrong;
    }
    total.seconds = started.elapsed().as_secs_f64();
    Ok(total)
}

/// Whether `messages` are exactly seq before-length .. before-1, ascending, each carrying
/// the stamp its seq was published with (stamp seq = seq - 1).
fn is_page_before(messages: &[joint_wire::message::Message], before: u64, length: u64) -> bool {
    messages.len() as u64 == length
        && messages.iter().zip(before - length..).all(|(message, seq)| {
            message.seq == seq
                && Stamp::decode(message.body.as_bytes())
                    .is_some_and(|stamp| stamp.seq + 1 == seq && stamp.publisher == 0)
        })
}

/// A small xorshift generator: the readers' `before` values need spread, not quality.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        Random(0x9E37_79B9_7F4A_7C15 ^ (seed.wrapping_add(1)).wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }

    /// A number in 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_stay_below_their_bound_and_spread() {
        let mut random = Random::new(3);
        let values: Vec<u64> = (0..1_000).map(|_| random.below(10)).collect();
        assert!(values.iter().all(|&v| v < 10));
        assert!((0..10).all(|v| values.contains(&v)));
    }
}
