//! Flood control (CONTRACT.md §12): a token bucket of publishes per user, shared by all of
//! the user's connections.
//!
//! Each publish the broker reads takes one token before it reaches the committer, so a
//! refused publish was neither stored nor looked up, and `retry_after_ms` is the time until
//! the bucket holds a token again: a retry (with the same cid) after that wait succeeds,
//! unless the user's other connections took the token meanwhile. A retried publish whose
//! cid is already stored takes a token like any other: the broker cannot know it is a
//! repeat before the committer reads it. Pipelined publishes simply take tokens in order;
//! the burst lets a client send a batch at once.

use crate::store::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many users the table may hold before full buckets are forgotten.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-user token buckets: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug)]
pub struct PublishRate {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<UserId, Bucket>>,
}

impl PublishRate {
    /// Buckets refilled at `rate` per second up to `burst`; a rate of 0 turns them off.
    pub fn new(rate: u32, burst: u32) -> PublishRate {
        PublishRate { rate: f64::from(rate), burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        Bucket { tokens: (bucket.tokens + earned).min(self.burst), at: now }
    }

    /// Takes one token for `user`'s publish, or says how long until one is available.
    pub fn take(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT {
            // A full bucket is the same as none.
            buckets.retain(|_, b| self.refilled(*b, now).tokens < self.burst);
        }
        let bucket = buckets.entry(user).or_insert(Bucket { tokens: self.burst, at: now });
        *bucket = self.refilled(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let rate = PublishRate::new(10, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rate.take(1, t0).is_ok());
        }
        let wait = rate.take(1, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100), "one token every 100 ms");
        assert!(rate.take(2, t0).is_ok(), "each user has their own bucket");
        assert!(rate.take(1, t0 + Duration::from_millis(99)).is_err());
        assert!(rate.take(1, t0 + Duration::from_millis(100)).is_ok(), "after the wait the retry succeeds");
        assert!(rate.take(1, t0 + Duration::from_millis(100)).is_err());
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(rate.take(1, later).is_ok(), "saved up to the burst");
        }
        assert!(rate.take(1, later).is_err(), "and no more");
    }

    #[test]
    fn rate_zero_is_off() {
        let rate = PublishRate::new(0, 0);
        let now = Instant::now();
        assert!((0..10_000).all(|_| rate.take(1, now).is_ok()));
    }
}
