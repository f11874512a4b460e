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
    /// Attempts begun and not yet ended.
    in_flight: u32,
    blocked_until: Option<Instant>,
    /// When the latest block was imposed.
    blocked_at: Option<Instant>,
    /// When the last failure was counted.
    last_failure: Instant,
}

/// Exponential backoff per key: after `free` failures, each further failure blocks the key
/// for 1 s, 2 s, 4 s, … up to `max`. While blocked every attempt is refused, right or wrong.
///
/// An attempt is an [`Attempt`]: begun while the key is not blocked, and judged when its
/// verdict is known. A verdict that arrives while the key has meanwhile become blocked is
/// refused too, so many guesses sent at once learn no more than the free attempts allow,
/// while successes alone are never limited.
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

    fn wait_in(entry: &Failures, now: Instant) -> Option<Duration> {
        entry.blocked_until.filter(|until| *until > now).map(|until| until - now)
    }

    /// Starts an attempt on `key`, or says how long it is blocked.
    pub fn begin(&self, key: K, now: Instant) -> Result<Attempt<'_, K>, Duration> {
        let mut table = self.table();
        if table.len() >= SWEEP_AT {
            let stale = self.max * 2;
            table.retain(|_, f| f.in_flight > 0 || now.saturating_duration_since(f.last_failure) < stale);
        }
        let entry = table.entry(key.clone()).or_insert(Failures {
            count: 0,
            in_flight: 0,
            blocked_until: None,
            blocked_at: None,
            last_failure: now,
        });
        // Failures are forgotten after a quiet spell twice the longest block, so a shared
        // IP that once failed is not kept on a hair trigger for ever.
        if now.saturating_duration_since(entry.last_failure) > self.max * 2 {
            entry.count = 0;
        }
        if let Some(wait) = Self::wait_in(entry, now) {
            return Err(wait);
        }
        entry.in_flight += 1;
        Ok(Attempt { backoff: self, key, began: now, ended: false })
    }

    /// Ends attempts begun together with their verdicts, atomically. If any of their keys
    /// is blocked, or became blocked while they ran (even if that block is over), none is
    /// counted and the longest remaining wait is returned (the caller answers
    /// `rate_limited`, right or wrong); otherwise each verdict is applied.
    /// Looking and counting under one lock is what keeps guesses sent at once from
    /// learning more verdicts than the free attempts.
    pub fn judge(&self, verdicts: Vec<(Attempt<'_, K>, Verdict)>, now: Instant) -> Result<(), Duration> {
        let mut table = self.table();
        let refused = |attempt: &Attempt<'_, K>| {
            let entry = table.get(&attempt.key)?;
            let blocked_meanwhile = entry.blocked_at.is_some_and(|at| at > attempt.began);
            Self::wait_in(entry, now).or(blocked_meanwhile.then_some(Duration::ZERO))
        };
        let wait = verdicts.iter().filter_map(|(attempt, _)| refused(attempt)).max();
        for (mut attempt, verdict) in verdicts {
            attempt.ended = true;
            let Some(entry) = table.get_mut(&attempt.key) else { continue };
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if wait.is_some() {
                continue;
            }
            match verdict {
                Verdict::Failed => {
                    entry.count = entry.count.saturating_add(1);
                    entry.last_failure = now;
                    if entry.count >= self.free {
                        let doublings = (entry.count - self.free).min(20);
                        let block = Duration::from_secs(1).saturating_mul(1 << doublings).min(self.max);
                        entry.blocked_until = Some(now + block);
                        entry.blocked_at = Some(now);
                    }
                }
                Verdict::Succeeded => {
                    entry.count = 0;
                    entry.blocked_until = None;
                }
                Verdict::Uncounted => {}
            }
        }
        wait.map_or(Ok(()), Err)
    }
}

/// What a verdict does to its key's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A failure: counted, and past the free attempts the key is blocked.
    Failed,
    /// A success: the key's failures are forgotten.
    Succeeded,
    /// Neither (the per-IP key of a successful password check).
    Uncounted,
}

/// One attempt under a [`Backoff`]; dropped without a verdict (the database was down, the
/// request was cancelled), it counts neither way.
#[derive(Debug)]
pub struct Attempt<'a, K: Eq + Hash + Clone> {
    backoff: &'a Backoff<K>,
    key: K,
    began: Instant,
    ended: bool,
}

impl<K: Eq + Hash + Clone> Drop for Attempt<'_, K> {
    fn drop(&mut self) {
        if !self.ended {
            if let Some(entry) = self.backoff.table().get_mut(&self.key) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
            }
        }
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
        b.judge(vec![(b.begin("k", t).expect("may try"), Verdict::Failed)], t).expect("not blocked");
    }

    #[test]
    fn backoff_doubles_after_the_free_attempts_and_resets() {
        let b = Backoff::new(5, Duration::from_secs(300));
        let t = Instant::now();
        for _ in 0..5 {
            failed(&b, t);
        }
        assert_eq!(b.begin("k", t).unwrap_err(), Duration::from_secs(1));
        let t = t + Duration::from_secs(1);
        failed(&b, t);
        assert_eq!(b.begin("k", t).unwrap_err(), Duration::from_secs(2));
        let mut t = t;
        for _ in 0..30 {
            t += Duration::from_secs(301);
            failed(&b, t);
        }
        assert_eq!(b.begin("k", t).unwrap_err(), Duration::from_secs(300), "capped");
        let t = t + Duration::from_secs(300);
        b.judge(vec![(b.begin("k", t).unwrap(), Verdict::Succeeded)], t).unwrap();
        for _ in 0..4 {
            failed(&b, t);
        }
        assert!(b.begin("k", t).is_ok(), "a success started the count over");
    }

    #[test]
    fn verdicts_arriving_during_a_block_are_refused_and_successes_are_never_limited() {
        let b = Backoff::new(3, Duration::from_secs(60));
        let t = Instant::now();
        let attempts: Vec<_> = (0..10).map(|_| b.begin("k", t).expect("any number may start")).collect();
        // All ten verdicts arrive at once, from ten threads.
        let barrier = std::sync::Barrier::new(attempts.len());
        let verdicts = std::thread::scope(|scope| {
            let judged: Vec<_> = attempts
                .into_iter()
                .map(|attempt| {
                    let (b, barrier) = (&b, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        b.judge(vec![(attempt, Verdict::Failed)], t).is_ok()
                    })
                })
                .collect();
            judged.into_iter().map(|j| j.join().unwrap()).filter(|ok| *ok).count()
        });
        assert_eq!(verdicts, 3, "ten guesses at once learn three verdicts");
        let other = Backoff::new(3, Duration::from_secs(60));
        let many: Vec<_> = (0..10).map(|_| other.begin("k", t).unwrap()).collect();
        for attempt in many {
            assert_eq!(other.judge(vec![(attempt, Verdict::Succeeded)], t), Ok(()));
        }
    }

    #[test]
    fn a_verdict_is_refused_when_its_key_was_blocked_while_it_ran_even_if_that_block_is_over() {
        let b = Backoff::new(2, Duration::from_secs(60));
        let t = Instant::now();
        let mut attempts: Vec<_> = (0..4).map(|_| b.begin("k", t).unwrap()).collect();
        let later = t + Duration::from_millis(10);
        for attempt in attempts.drain(..2) {
            assert_eq!(b.judge(vec![(attempt, Verdict::Failed)], later), Ok(()));
        }
        // Slow hashing: the rest arrive after the one-second block has ended.
        let much_later = later + Duration::from_secs(5);
        for attempt in attempts {
            assert_eq!(b.judge(vec![(attempt, Verdict::Failed)], much_later), Err(Duration::ZERO));
        }
        // An attempt begun after the block is judged as usual.
        let fresh = b.begin("k", much_later).expect("the block is over");
        assert_eq!(b.judge(vec![(fresh, Verdict::Failed)], much_later), Ok(()));
    }

    #[test]
    fn dropped_attempts_count_neither_way() {
        let b = Backoff::new(2, Duration::from_secs(10));
        let t = Instant::now();
        for _ in 0..5 {
            drop(b.begin("k", t).unwrap());
        }
        failed(&b, t);
        assert!(b.begin("k", t).is_ok(), "one failure of two");
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_spell_of_failures() {
        let b = Backoff::new(2, Duration::from_secs(10));
        let t = Instant::now();
        failed(&b, t);
        // Attempts without a failure (like a success on the per-IP key) do not keep it alive.
        drop(b.begin("k", t + Duration::from_secs(15)).unwrap());
        failed(&b, t + Duration::from_secs(16));
        let later = t + Duration::from_secs(21);
        assert!(b.begin("k", later).is_ok());
        let quiet = t + Duration::from_secs(40);
        failed(&b, quiet);
        assert!(b.begin("k", quiet).is_ok(), "the earlier failure was forgotten");
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
