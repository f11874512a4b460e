//! Workload 7 (Joint only): password logins, each a scrypt check at the broker's cost. First
//! a few clients log in one after another for a while (logins per second), then 100 clients
//! log in at once: the hasher's bounded queue takes some and answers the rest `unavailable`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::future::{join_all, try_join_all};
use joint_wire::{Client, ClientError, ErrorCode};

use crate::latency::Latency;
use crate::peers::JointPeer;

/// Clients logging in back to back in the steady part: enough to keep every hashing core busy
/// without filling the hasher's queue.
pub const STEADY_CLIENTS: usize = 4;

/// Clients logging in at once in the burst.
pub const BURST: usize = 100;

/// What the login workload measured.
#[derive(Debug, Clone, Default)]
pub struct Logins {
    /// Logins that succeeded in the steady part.
    pub steady: u64,
    /// Steady logins answered `unavailable` (only when the hasher's queue is smaller than
    /// [`STEADY_CLIENTS`]).
    pub steady_unavailable: u64,
    /// How long the steady part lasted, in seconds.
    pub seconds: f64,
    /// Latency of a steady login.
    pub steady_latency: Latency,
    /// Burst logins that succeeded.
    pub burst_ok: u64,
    /// Burst logins answered `unavailable` (the hasher's queue was full).
    pub burst_unavailable: u64,
    /// Burst logins that failed otherwise.
    pub burst_other: u64,
    /// Latency of the burst logins that succeeded.
    pub burst_ok_latency: Latency,
    /// Latency of the burst logins answered `unavailable`.
    pub burst_unavailable_latency: Latency,
}

impl Logins {
    /// Steady logins per second.
    pub fn per_second(&self) -> f64 {
        self.steady as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// Logs in with `peer`'s account: [`STEADY_CLIENTS`] clients back to back for `steady`,
/// each login on a fresh connection (login is for anonymous connections only), then
/// [`BURST`] connected clients at once.
pub async fn run(peer: &JointPeer, steady: Duration) -> Result<Logins> {
    let (login, password) = peer.credentials();
    let mut logins = Logins::default();
    let started = Instant::now();
    let one = |_| async {
        let mut latency = Latency::new();
        let (mut count, mut unavailable) = (0u64, 0u64);
        while started.elapsed() < steady {
            let client = peer.anonymous().await?;
            let at = Instant::now();
            match client.login(login, &password).await {
                Ok(_) => {
                    latency.record(at.elapsed());
                    count += 1;
                }
                Err(error) if is_unavailable(&error) => unavailable += 1,
                Err(error) => return Err(error).context("a steady login"),
            }
        }
        anyhow::Ok((count, unavailable, latency))
    };
    for (count, unavailable, latency) in try_join_all((0..STEADY_CLIENTS).map(one)).await? {
        logins.steady += count;
        logins.steady_unavailable += unavailable;
        logins.steady_latency.merge(&latency);
    }
    logins.seconds = started.elapsed().as_secs_f64();

    let clients: Vec<Client> = try_join_all((0..BURST).map(|_| peer.anonymous())).await?;
    let burst = clients.iter().map(|client| async {
        let at = Instant::now();
        (client.login(login, &password).await, at.elapsed())
    });
    for (result, latency) in join_all(burst).await {
        match result {
            Ok(_) => {
                logins.burst_ok += 1;
                logins.burst_ok_latency.record(latency);
            }
            Err(error) if is_unavailable(&error) => {
                logins.burst_unavailable += 1;
                logins.burst_unavailable_latency.record(latency);
            }
            Err(ClientError::Broker(_)) => logins.burst_other += 1,
            Err(error) => bail!("a burst login failed: {error}"),
        }
    }
    Ok(logins)
}

/// Whether the broker answered `unavailable` (the hasher's queue was full).
fn is_unavailable(error: &ClientError) -> bool {
    error.code() == Some(ErrorCode::Unavailable)
}
