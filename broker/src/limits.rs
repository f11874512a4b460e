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
    /// Attempts begun and not yet ended: each may still fail.
    in_flight: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// How long a client is told to wait when only attempts still in flight stand in its way.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(1);

/// Exponential backoff per key: after `free` failures, each further failure blocks the key
/// for 1 s, 2 s, 4 s, … up to `max`. While blocked every attempt is refused, right or wrong.
///
/// An attempt is bracketed by [`Backoff::begin`] and one of [`Backoff::fail`],
/// [`Backoff::succeed`] or [`Backoff::release`]. Attempts in flight count as possible
/// failures, so parallel guesses cannot slip past the block while the first ones are still
/// being hashed.
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

    /// Starts an attempt, or says how long to wait: while the key is blocked, and while the
    /// attempts in flight could, by failing, reach the block.
    pub fn begin(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut table = self.table();
        if table.len() >= SWEEP_AT {
            let stale = self.max * 2;
            table.retain(|_, f| f.in_flight > 0 || now.saturating_duration_since(f.last) < stale);
        }
        let entry =
            table.entry(key.clone()).or_insert(Failures { count: 0, in_flight: 0, blocked_until: None, last: now });
        // Failures are forgotten after a quiet spell twice the longest block, so a shared
        // IP that once failed is not kept on a hair trigger for ever.
        if entry.in_flight == 0 && now.saturating_duration_since(entry.last) > self.max * 2 {
            entry.count = 0;
        }
        if let Some(until) = entry.blocked_until.filter(|until| *until > now) {
            return Err(until - now);
        }
        // Past the free attempts, one at a time; before, only as many as are left.
        let room =
            if entry.count >= self.free { entry.in_flight == 0 } else { entry.count + entry.in_flight < self.free };
        if !room {
            return Err(IN_FLIGHT_WAIT);
        }
        entry.in_flight += 1;
        entry.last = now;
        Ok(())
    }

    fn end(&self, key: &K, outcome: impl FnOnce(&mut Failures)) {
        let mut table = self.table();
        if let Some(entry) = table.get_mut(key) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            outcome(entry);
        }
    }

    /// Ends an attempt that failed, starting or lengthening the block once past the free ones.
    pub fn fail(&self, key: &K, now: Instant) {
        let (free, max) = (self.free, self.max);
        self.end(key, |entry| {
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            if entry.count >= free {
                let doublings = (entry.count - free).min(20);
                let block = Duration::from_secs(1).saturating_mul(1 << doublings).min(max);
                entry.blocked_until = Some(now + block);
            }
        });
    }

    /// Ends an attempt that succeeded: the key's failures are forgotten.
    pub fn succeed(&self, key: &K) {
        self.end(key, |entry| {
            entry.count = 0;
            entry.blocked_until = None;
        });
    }

    /// Ends an attempt that neither failed nor succeeded (the database was down, say), or
    /// whose success must not clear the key.
    pub fn release(&self, key: &K) {
        self.end(key, |_| {});
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

    fn failed(b: &Backoff<&'static str>, t: Instant) {
        b.begin(&"k", t).expect("may try");
        b.fail(&"k", t);
    }

    #[test]
    fn backoff_doubles_after_the_free_attempts_and_resets() {
        let b = Backoff::new(5, Duration::from_secs(300));
        let t = Instant::now();
        for _ in 0..5 {
            failed(&b, t);
        }
        assert_eq!(b.begin(&"k", t), Err(Duration::from_secs(1)));
        let t = t + Duration::from_secs(1);
        failed(&b, t);
        assert_eq!(b.begin(&"k", t), Err(Duration::from_secs(2)));
        let mut t = t;
        for _ in 0..30 {
            t += Duration::from_secs(301);
            failed(&b, t);
        }
        assert_eq!(b.begin(&"k", t), Err(Duration::from_secs(300)), "capped");
        let t = t + Duration::from_secs(300);
        b.begin(&"k", t).unwrap();
        b.succeed(&"k");
        for _ in 0..5 {
            failed(&b, t);
        }
        assert!(b.begin(&"k", t).is_err(), "a success started the count over");
    }

    #[test]
    fn attempts_in_flight_count_as_possible_failures() {
        let b = Backoff::new(3, Duration::from_secs(60));
        let t = Instant::now();
        for _ in 0..3 {
            b.begin(&"k", t).unwrap();
        }
        assert_eq!(b.begin(&"k", t), Err(IN_FLIGHT_WAIT), "three guesses at once use up the free attempts");
        b.release(&"k");
        b.begin(&"k", t).expect("a released attempt gives its place back");
        for _ in 0..3 {
            b.fail(&"k", t);
        }
        assert_eq!(b.begin(&"k", t), Err(Duration::from_secs(1)));
        // Once the block is over, attempts go one at a time.
        let later = t + Duration::from_secs(2);
        b.begin(&"k", later).unwrap();
        assert_eq!(b.begin(&"k", later), Err(IN_FLIGHT_WAIT));
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_spell() {
        let b = Backoff::new(2, Duration::from_secs(10));
        let t = Instant::now();
        failed(&b, t);
        failed(&b, t);
        assert!(b.begin(&"k", t).is_err());
        let later = t + Duration::from_secs(21);
        b.begin(&"k", later).expect("the count started over");
        b.fail(&"k", later);
        b.begin(&"k", later).expect("one failure of two");
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
