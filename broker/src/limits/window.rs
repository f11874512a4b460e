//! A sliding window of attempts per key (registrations per IP per minute, CONTRACT.md §11),
//! kept in PostgreSQL so that every broker of the database counts the same attempts.

use crate::error::BrokerError;
use crate::store::Store;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// Counts one attempt in `times` at `now`: at most `limit` in any `window`. Over the limit
/// it says how long to wait, and the refused attempt is not recorded, so a client that
/// waits as told gets through.
pub fn count(times: &mut Vec<SystemTime>, now: SystemTime, limit: u32, window: Duration) -> Result<(), Duration> {
    times.retain(|t| now.duration_since(*t).unwrap_or_default() < window);
    if times.len() >= limit as usize {
        let oldest = times.iter().min().copied().unwrap_or(now);
        return Err(window.saturating_sub(now.duration_since(oldest).unwrap_or_default()));
    }
    times.push(now);
    Ok(())
}

/// Registration attempts per IP: at most `limit` per `window`, across brokers.
#[derive(Clone)]
pub struct Window {
    store: Store,
    limit: u32,
    window: Duration,
}

impl Window {
    /// A window allowing `limit` registrations per IP per `window`.
    pub fn new(store: Store, limit: u32, window: Duration) -> Window {
        Window { store, limit, window }
    }

    /// Counts a registration attempt from `ip`; `Ok(Err(wait))` when it is over the limit,
    /// `Err` when PostgreSQL cannot tell (the attempt is then refused, not waved through).
    pub async fn attempt(&self, ip: IpAddr) -> Result<Result<(), Duration>, BrokerError> {
        let (limit, window) = (self.limit, self.window);
        self.store.window_attempt(&format!("register {ip}"), |times, now| count(times, now, limit, window)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_per_minute() {
        let minute = Duration::from_secs(60);
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut ip = Vec::new();
        assert!(count(&mut ip, t, 2, minute).is_ok());
        assert!(count(&mut ip, t + Duration::from_secs(10), 2, minute).is_ok());
        assert_eq!(count(&mut ip, t + Duration::from_secs(20), 2, minute), Err(Duration::from_secs(40)));
        assert_eq!(ip.len(), 2, "the refused attempt is not recorded");
        assert!(count(&mut ip, t + Duration::from_secs(60), 2, minute).is_ok());
        assert_eq!(ip.len(), 2, "the attempt older than a minute was dropped");
    }
}
