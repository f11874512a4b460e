//! Keeps the events of one group's changes in the order the changes committed.
//!
//! Changes of one group are serialized by its row lock, but their events are sent after
//! COMMIT, by each request's own task: without more, two changes committed one after the
//! other could reach a third connection in the other order (`member_left` before
//! `member_joined`). So a change takes its groups' gates just before it commits and holds
//! them, in an [`OrderGuard`], until its events are queued. The next change of the group
//! can commit only after this one did (row lock), and it queues its events only after
//! taking the gate: after this one's events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// The gates of the groups changing right now.
#[derive(Debug, Default)]
pub struct CommitOrder {
    gates: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held from just before a change commits until its events are queued.
pub struct OrderGuard {
    held: Vec<(i64, OwnedMutexGuard<()>)>,
    order: Arc<CommitOrder>,
}

impl std::fmt::Debug for OrderGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.held.iter().map(|(gid, _)| gid)).finish()
    }
}

impl CommitOrder {
    fn gates(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<tokio::sync::Mutex<()>>>> {
        self.gates.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the gates of `gids`, in ascending order like the row locks. Called while the
    /// change holds its groups' rows: a gate's holder has committed already and only queues
    /// events, so the wait is short and cannot close a cycle.
    pub async fn enter(self: &Arc<Self>, gids: impl IntoIterator<Item = i64>) -> OrderGuard {
        let mut gids: Vec<i64> = gids.into_iter().collect();
        gids.sort_unstable();
        gids.dedup();
        let mut held = Vec::with_capacity(gids.len());
        for gid in gids {
            let gate = self.gates().entry(gid).or_default().clone();
            held.push((gid, gate.lock_owned().await));
        }
        OrderGuard { held, order: self.clone() }
    }
}

impl Drop for OrderGuard {
    fn drop(&mut self) {
        let gids: Vec<i64> = self.held.drain(..).map(|(gid, _guard)| gid).collect();
        let mut gates = self.order.gates();
        for gid in gids {
            // Forget a gate nobody else holds or waits for.
            if gates.get(&gid).is_some_and(|gate| Arc::strong_count(gate) == 1) {
                gates.remove(&gid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_gate_is_held_until_the_guard_drops_and_then_forgotten() {
        let order = Arc::new(CommitOrder::default());
        let first = order.enter([5, 3, 5]).await;
        let waiting = tokio::spawn({
            let order = order.clone();
            async move { order.enter([3]).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the second change waits for the first one's events");
        let other = order.enter([4]).await;
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), waiting).await.unwrap().unwrap();
        drop((second, other));
        assert!(order.gates().is_empty(), "no gate outlives its changes");
    }
}
