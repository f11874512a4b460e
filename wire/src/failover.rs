//! Where a client goes when its broker goes away, and how long it waits between tries.
//!
//! Two rules keep a cluster standing when one broker dies:
//!
//! - **Next address first.** After a dropped connection (a crash, `shutting_down`, a broker
//!   that stopped answering pings) the client tries the address after the one it was on,
//!   wrapping around, and the one it left last: a dying or restarting broker that still
//!   accepts TCP would otherwise hold every client for a connect timeout before it moved on.
//! - **Jittered pauses.** The thousands of clients of a killed broker all notice at the same
//!   instant. Each waits a random part of [`FIRST_PAUSE`] before its first round, and a
//!   random pause in the upper half of a doubling window between full rounds (capped at
//!   [`MAX_PAUSE`]), so the survivors see them arrive spread out, not in lock-step waves.

use std::time::Duration;

/// The longest wait before the first round after a drop; each client waits a random part.
pub const FIRST_PAUSE: Duration = Duration::from_millis(250);

/// The longest wait between two full rounds of every address.
pub const MAX_PAUSE: Duration = Duration::from_secs(5);

/// The order in which to try `len` addresses, starting at `start` and wrapping around.
pub(crate) fn order(len: usize, start: usize) -> impl Iterator<Item = usize> {
    (0..len).map(move |i| (start + i) % len)
}

/// The index to start from after leaving the broker at `current`: the next one.
pub(crate) fn after(len: usize, current: usize) -> usize {
    if len == 0 {
        0
    } else {
        (current + 1) % len
    }
}

/// The pauses of one reconnection: the first before round one, then one per failed round.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    rounds: u32,
}

impl Backoff {
    /// The pause before the next round. `random` is any random number: the pause is
    /// uniform in `[0, FIRST_PAUSE)` before round one, then uniform in the upper half of
    /// `FIRST_PAUSE · 2^rounds`, capped at [`MAX_PAUSE`].
    pub(crate) fn next(&mut self, random: u64) -> Duration {
        let rounds = self.rounds;
        self.rounds = self.rounds.saturating_add(1);
        if rounds == 0 {
            return spread(Duration::ZERO, FIRST_PAUSE, random);
        }
        let window = FIRST_PAUSE.saturating_mul(1 << rounds.min(16)).min(MAX_PAUSE);
        spread(window / 2, window, random)
    }
}

/// A duration in `[low, high)` picked by `random`.
fn spread(low: Duration, high: Duration, random: u64) -> Duration {
    let width = u64::try_from((high - low).as_micros()).unwrap_or(u64::MAX).max(1);
    low + Duration::from_micros(random % width)
}

/// A random number from the operating system; the clock when it has none.
pub(crate) fn random() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        return nanos as u64;
    }
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_address_comes_first_and_the_one_left_comes_last() {
        assert_eq!(order(3, after(3, 0)).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert_eq!(order(3, after(3, 2)).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(order(1, after(1, 0)).collect::<Vec<_>>(), vec![0]);
        assert_eq!(order(0, after(0, 0)).count(), 0);
        // The first connection tries them as given.
        assert_eq!(order(3, 0).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn pauses_are_spread_and_grow_to_a_cap() {
        let mut lowest = Backoff::default();
        let mut highest = Backoff::default();
        let lows: Vec<Duration> = (0..10).map(|_| lowest.next(0)).collect();
        let highs: Vec<Duration> = (0..10).map(|_| highest.next(u64::MAX - 1)).collect();
        assert_eq!(lows[0], Duration::ZERO, "the first round may start at once");
        assert!(highs[0] < FIRST_PAUSE);
        assert_eq!(lows[1], FIRST_PAUSE, "after a failed round, at least half the window");
        assert!(highs[1] < FIRST_PAUSE * 2);
        for (low, high) in lows.iter().zip(&highs).skip(1) {
            assert!(low <= high && *high <= MAX_PAUSE, "{low:?} {high:?}");
        }
        assert_eq!(lows[9], MAX_PAUSE / 2, "capped");
        // Two clients with different luck wait different times.
        let (mut a, mut b) = (Backoff::default(), Backoff::default());
        assert_ne!(a.next(12_345), b.next(98_765));
    }
}
