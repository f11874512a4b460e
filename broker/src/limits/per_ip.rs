//! Connections per client IP, counted by each broker for its own sockets (see
//! ARCHITECTURE.md, "Limits across brokers", for why this cap is not cluster-wide).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

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
    fn per_ip_slots_are_returned() {
        let per_ip = PerIp::new(1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let slot = per_ip.take(ip).unwrap();
        assert!(per_ip.take(ip).is_none());
        drop(slot);
        assert!(per_ip.take(ip).is_some());
    }
}
