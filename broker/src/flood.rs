//! Flood control (CONTRACT.md §12): a token bucket of publishes per user, shared by all of
//! the user's connections on every broker of the database.
//!
//! The bucket lives in PostgreSQL (`limit_buckets`), but a publish does not go there: each
//! broker leases a few tokens at a time ([`lease_size`]) and spends them locally, so only
//! one publish in a lease's worth costs a round trip. Leased tokens have left the bucket,
//! so across the cluster a user gets at most `burst + rate × T + B × (lease − 1)` publishes
//! through in any span of T seconds, B being the number of brokers holding a lease of
//! theirs (ARCHITECTURE.md, "Limits across brokers").
//!
//! Each publish the broker reads takes one token before it reaches the committer, so a
//! refused publish was neither stored nor looked up, and `retry_after_ms` is the time until
//! the bucket holds a token again: a retry (with the same cid) after that wait succeeds,
//! unless the user's other connections took the token meanwhile. A retried publish whose
//! cid is already stored takes a token like any other: the broker cannot know it is a
//! repeat before the committer reads it. Pipelined publishes simply take tokens in order;
//! the burst lets a client send a batch at once.

use crate::error::BrokerError;
use crate::store::{Bucket, Store, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How many users' leases a broker keeps before idle ones are dropped.
const SWEEP_AT: usize = 10_000;

/// How long an unused lease is kept once the table is full.
const LEASE_IDLE: Duration = Duration::from_secs(60);

/// The tokens one lease takes at most: a tenth of a second of the rate, at most an eighth
/// of the burst, at least one. With the defaults (50/s, burst 200) a lease holds 5 tokens.
pub fn lease_size(rate: u32, burst: u32) -> u32 {
    (rate / 10).min(burst / 8).max(1)
}

/// A token bucket's numbers: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
pub struct BucketRules {
    /// Tokens earned per second.
    pub rate: f64,
    /// The most tokens saved up.
    pub burst: f64,
}

impl BucketRules {
    /// Refills `bucket` up to `now` and takes up to `want` whole tokens: the bucket left and
    /// the tokens taken, or, when not even one is there, how long until one is.
    pub fn lease(&self, bucket: Bucket, now: SystemTime, want: u32) -> (Bucket, Result<u32, Duration>) {
        let earned = now.duration_since(bucket.at).unwrap_or_default().as_secs_f64() * self.rate;
        let tokens = (bucket.tokens + earned).min(self.burst);
        // Never backwards: another clock reading may lag the stored one by a hair.
        let at = now.max(bucket.at);
        if tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - tokens) / self.rate);
            return (Bucket { tokens, at }, Err(wait));
        }
        let taken = (tokens.floor() as u32).min(want);
        (Bucket { tokens: tokens - f64::from(taken), at }, Ok(taken))
    }
}

/// Tokens this broker leased for one user and has not spent yet.
#[derive(Debug)]
struct Lease {
    tokens: u32,
    used: Instant,
}

/// Per-user publish buckets, leased from PostgreSQL; a rate of 0 turns them off.
pub struct PublishRate {
    rules: BucketRules,
    lease: u32,
    store: Store,
    leases: Mutex<HashMap<UserId, Arc<tokio::sync::Mutex<Lease>>>>,
}

impl PublishRate {
    /// Buckets refilled at `rate` per second up to `burst`; a rate of 0 turns them off.
    pub fn new(store: Store, rate: u32, burst: u32) -> PublishRate {
        PublishRate {
            rules: BucketRules { rate: f64::from(rate), burst: f64::from(burst.max(1)) },
            lease: lease_size(rate, burst),
            store,
            leases: Mutex::default(),
        }
    }

    fn lease_of(&self, user: UserId) -> Arc<tokio::sync::Mutex<Lease>> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if leases.len() >= SWEEP_AT {
            // A lease in use is locked; an idle one is dropped with its tokens, which only
            // makes the limit stricter.
            leases.retain(|_, lease| lease.try_lock().map_or(true, |l| l.used.elapsed() < LEASE_IDLE));
        }
        leases
            .entry(user)
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Lease { tokens: 0, used: Instant::now() })))
            .clone()
    }

    /// Takes one token for `user`'s publish: from this broker's lease, or from a new lease
    /// when it is spent. `Ok(Err(wait))` is `rate_limited`; `Err` means PostgreSQL could not
    /// lease (the publish is refused `unavailable`, not waved through).
    pub async fn take(&self, user: UserId) -> Result<Result<(), Duration>, BrokerError> {
        if self.rules.rate == 0.0 {
            return Ok(Ok(()));
        }
        let lease = self.lease_of(user);
        // One lease request per user and broker at a time: the bound counts one lease each.
        let mut lease = lease.lock().await;
        lease.used = Instant::now();
        if lease.tokens == 0 {
            let (rules, want) = (self.rules, self.lease);
            match self.store.bucket_lease(user, rules.burst, |bucket, now| rules.lease(bucket, now, want)).await? {
                Ok(taken) => lease.tokens = taken,
                Err(wait) => return Ok(Err(wait)),
            }
        }
        lease.tokens -= 1;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: SystemTime, ms: u64) -> SystemTime {
        t + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let rules = BucketRules { rate: 10.0, burst: 3.0 };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let full = Bucket { tokens: 3.0, at: t0 };
        let (bucket, taken) = rules.lease(full, t0, 2);
        assert_eq!(taken, Ok(2), "a lease takes what it asks while there is enough");
        let (bucket, taken) = rules.lease(bucket, t0, 2);
        assert_eq!(taken, Ok(1), "and no more than is there");
        let (bucket, taken) = rules.lease(bucket, t0, 2);
        assert_eq!(taken, Err(Duration::from_millis(100)), "one token every 100 ms");
        let (bucket, taken) = rules.lease(bucket, at(t0, 99), 1);
        assert!(taken.is_err());
        let (bucket, taken) = rules.lease(bucket, at(t0, 100), 1);
        assert_eq!(taken, Ok(1), "after the wait the retry succeeds");
        let (_, taken) = rules.lease(bucket, at(t0, 60_000), 10);
        assert_eq!(taken, Ok(3), "saved up to the burst and no more");
    }

    #[test]
    fn leases_are_a_tenth_of_a_second_of_the_rate_within_an_eighth_of_the_burst() {
        assert_eq!(lease_size(50, 200), 5);
        assert_eq!(lease_size(1000, 80), 10);
        assert_eq!(lease_size(1, 5), 1);
        assert_eq!(lease_size(20, 16), 2);
    }
}
