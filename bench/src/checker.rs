//! What one subscriber saw: every delivery checked against its publisher's sequence.

use crate::latency::Latency;
use crate::payload::{since, Stamp};

/// Counts one subscriber's deliveries of one publisher's `expected` messages (seq 0..expected).
#[derive(Debug)]
pub struct Checker {
    expected: u64,
    /// `seen[seq]`: whether seq was delivered already.
    seen: Vec<bool>,
    /// The highest seq delivered so far, if any.
    highest: Option<u64>,
    distinct: u64,
    duplicated: u64,
    reordered: u64,
    foreign: u64,
    /// The last delivery's time ([`crate::payload::now_ns`]).
    pub last_delivery_ns: u64,
    /// End-to-end latency: from the publisher's send to this delivery.
    pub latency: Latency,
}

/// A subscriber's verdict once it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Messages delivered, duplicates included.
    pub delivered: u64,
    /// Messages of the sequence never delivered.
    pub lost: u64,
    /// Deliveries of a seq already delivered.
    pub duplicated: u64,
    /// Deliveries of a seq lower than one delivered before it (and not a duplicate).
    pub reordered: u64,
    /// Deliveries that were not a stamp of the expected publisher.
    pub foreign: u64,
}

impl Checker {
    /// A checker for a publisher that sends seq 0..expected.
    pub fn new(expected: u64) -> Checker {
        Checker {
            expected,
            seen: vec![false; usize::try_from(expected).expect("the message count fits in memory")],
            highest: None,
            distinct: 0,
            duplicated: 0,
            reordered: 0,
            foreign: 0,
            last_delivery_ns: 0,
            latency: Latency::new(),
        }
    }

    /// Records one delivered payload.
    pub fn record(&mut self, payload: &[u8]) {
        self.last_delivery_ns = crate::payload::now_ns();
        let Some(stamp) = Stamp::decode(payload) else {
            self.foreign += 1;
            return;
        };
        let Some(seen) = usize::try_from(stamp.seq).ok().and_then(|i| self.seen.get_mut(i)) else {
            self.foreign += 1;
            return;
        };
        self.latency.record(since(stamp.sent_ns));
        if *seen {
            self.duplicated += 1;
            return;
        }
        *seen = true;
        self.distinct += 1;
        match self.highest {
            Some(highest) if stamp.seq < highest => self.reordered += 1,
            _ => self.highest = Some(stamp.seq),
        }
    }

    /// Whether every expected message was delivered.
    pub fn complete(&self) -> bool {
        self.distinct == self.expected
    }

    /// The counts so far.
    pub fn verdict(&self) -> Verdict {
        Verdict {
            delivered: self.distinct + self.duplicated,
            lost: self.expected - self.distinct,
            duplicated: self.duplicated,
            reordered: self.reordered,
            foreign: self.foreign,
        }
    }
}

impl std::ops::AddAssign for Verdict {
    fn add_assign(&mut self, other: Verdict) {
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.foreign += other.foreign;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deliver(checker: &mut Checker, seq: u64) {
        checker.record(Stamp { publisher: 0, seq, sent_ns: crate::payload::now_ns() }.encode(40).as_bytes());
    }

    #[test]
    fn an_in_order_sequence_is_clean() {
        let mut checker = Checker::new(3);
        (0..3).for_each(|seq| deliver(&mut checker, seq));
        assert!(checker.complete());
        assert_eq!(checker.verdict(), Verdict { delivered: 3, ..Verdict::default() });
    }

    #[test]
    fn gaps_repeats_and_swaps_are_counted() {
        let mut checker = Checker::new(5);
        for seq in [0, 2, 1, 2, 4] {
            deliver(&mut checker, seq);
        }
        checker.record(b"not a stamp");
        assert!(!checker.complete());
        let verdict = checker.verdict();
        assert_eq!(verdict, Verdict { delivered: 5, lost: 1, duplicated: 1, reordered: 1, foreign: 1 });
    }
}
