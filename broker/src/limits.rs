//! In-memory abuse limits of CONTRACT.md §11: backoff after failed password checks and
//! failed `auth`, registrations per IP per minute, and connections per IP.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many keys a table may hold before stale ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// Exponential backoff per key: after `free` failures, each further failure blocks the key
/// for 1 s, 2 s, 4 s, … up to `max`. While blocked every attempt is refused, right or wrong.
#[derive(Debug)]
pub struct Backoff<K> {
    free: u32,
    max: Duration,
    table: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    /// A backoff that allows `free` failures before blocking, for at most `max` at a time.
    pub fn new(free: u32, max: Duration) -> Self {
        Backoff { free, max, table: Mutex::new(HashMap::new()) }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<K, Failures>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long the key must still wait, or `None` when it may try now.
    pub fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.table().get(key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure, starting or lengthening the block once past the free attempts.
    pub fn fail(&self, key: K, now: Instant) {
        let mut table = self.table();
        if table.len() >= SWEEP_AT {
            let stale = self.max * 2;
            table.retain(|_, f| now.saturating_duration_since(f.last) < stale);
        }
        let entry = table.entry(key).or_insert(Failures { count: 0, blocked_until: None, last: now });
        // Failures are forgotten after a quiet spell twice the longest block, so a shared
        // IP that once failed is not kept on a hair trigger for ever.
        if now.saturating_duration_since(entry.last) > self.max * 2 {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if entry.count >= self.free {
            let doublings = (entry.count - self.free).min(20);
            let block = Duration::from_secs(1).saturating_mul(1 << doublings).min(self.max);
            entry.blocked_until = Some(now + block);
        }
    }

    /// Forgets a key's failures after a success.
    pub fn reset(&self, key: &K) {
        self.table().remove(key);
    }
}

/// The keys of the failed-password backoff.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PasswordKey {
    /// One login tried from one IP.
    LoginAtIp(String, IpAddr),
    /// Everything tried from one IP.
    Ip(IpAddr),
}

/// A sliding-window counter: at most `limit` events per key in any `window`.
#[derive(Debug)]
pub struct Window<K> {
    limit: u32,
    window: Duration,
    table: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K: Eq + Hash + Clone> Window<K> {
    /// A window allowing `limit` events per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Window { limit, window, table: Mutex::new(HashMap::new()) }
    }

    /// Counts an attempt; returns how long to wait when it is over the limit (the refused
    /// attempt is not recorded, so a client that waits as told gets through).
    pub fn attempt(&self, key: K, now: Instant) -> Result<(), Duration> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() >= SWEEP_AT {
            table.retain(|_, times| times.back().is_some_and(|t| now.saturating_duration_since(*t) < self.window));
        }
        let times = table.entry(key).or_default();
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= self.window) {
            times.pop_front();
        }
        if times.len() >= self.limit as usize {
            let oldest = *times.front().expect("a full window is not empty");
            return Err(self.window.saturating_sub(now.saturating_duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }
}

/// Counts open connections per client IP.
#[derive(Debug, Clone)]
pub struct PerIp {
    limit: usize,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in [`PerIp`], given back when dropped.
#[derive(Debug)]
pub struct IpSlot {
    ip: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerIp {
    /// Allows `limit` connections per IP.
    pub fn new(limit: usize) -> Self {
        PerIp { limit, counts: Arc::default() }
    }

    /// Takes a slot for `ip`, or `None` when it already has `limit` connections.
    pub fn take(&self, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpSlot { ip, counts: self.counts.clone() })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_attempts_and_resets() {
        let b = Backoff::new(5, Duration::from_secs(300));
        let t = Instant::now();
        for _ in 0..4 {
            b.fail("k", t);
            assert_eq!(b.wait(&"k", t), None);
        }
        b.fail("k", t);
        assert_eq!(b.wait(&"k", t), Some(Duration::from_secs(1)));
        b.fail("k", t);
        assert_eq!(b.wait(&"k", t), Some(Duration::from_secs(2)));
        for _ in 0..30 {
            b.fail("k", t);
        }
        assert_eq!(b.wait(&"k", t), Some(Duration::from_secs(300)), "capped");
        assert_eq!(b.wait(&"k", t + Duration::from_secs(301)), None);
        b.reset(&"k");
        assert_eq!(b.wait(&"k", t), None);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_spell() {
        let b = Backoff::new(2, Duration::from_secs(10));
        let t = Instant::now();
        b.fail("k", t);
        b.fail("k", t);
        assert!(b.wait(&"k", t).is_some());
        let later = t + Duration::from_secs(21);
        b.fail("k", later);
        assert_eq!(b.wait(&"k", later), None, "the count started over");
    }

    #[test]
    fn window_counts_per_minute() {
        let w = Window::new(2, Duration::from_secs(60));
        let t = Instant::now();
        assert!(w.attempt("ip", t).is_ok());
        assert!(w.attempt("ip", t + Duration::from_secs(10)).is_ok());
        assert_eq!(w.attempt("ip", t + Duration::from_secs(20)), Err(Duration::from_secs(40)));
        assert!(w.attempt("other", t).is_ok());
        assert!(w.attempt("ip", t + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn per_ip_slots_are_returned() {
        let per_ip = PerIp::new(1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let slot = per_ip.take(ip).unwrap();
        assert!(per_ip.take(ip).is_none());
        drop(slot);
        assert!(per_ip.take(ip).is_some());
    }
}
