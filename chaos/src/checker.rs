//! The consistency checker, Jepsen style: what the clients saw (acks and deliveries)
//! against what PostgreSQL holds (the group's whole history), classified per group.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// A message's identity: its publisher and its place in that publisher's sequence, as
/// carried in its body.
pub type Key = (u32, u64);

/// One delivery to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The seq it came with.
    pub seq: u64,
    /// Its body's identity; `None` when the body is not one of ours.
    pub key: Option<Key>,
    /// When it arrived.
    pub at: Instant,
}

/// One acknowledged publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The message.
    pub key: Key,
    /// The seq the broker answered.
    pub seq: u64,
    /// When the ack arrived.
    pub at: Instant,
}

/// One message of the stored history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its seq.
    pub seq: u64,
    /// Its body's identity; `None` when the body is not one of ours.
    pub key: Option<Key>,
}

/// Everything the clients of one group saw.
#[derive(Debug, Default)]
pub struct GroupRecord {
    /// Every message a publisher tried to publish (acknowledged or not).
    pub sent: HashSet<Key>,
    /// Every ack, once per message.
    pub acks: Vec<Ack>,
    /// Each subscriber's deliveries, in arrival order.
    pub streams: Vec<Vec<Delivery>>,
    /// `lagged` events the subscribers got (the broker fed them from storage after).
    pub lagged: u64,
}

/// The anomalies found, by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// Acknowledged messages missing from the history.
    pub lost: u64,
    /// Stored messages a continuous subscriber never received.
    pub lost_from_stream: u64,
    /// A message stored twice, or a seq delivered twice to one subscriber.
    pub duplicated: u64,
    /// A history whose seqs are not 1..n without gap, or a subscriber whose seqs did not
    /// grow by exactly 1.
    pub reordered: u64,
    /// A stored or delivered message nobody published, a delivery that differs from the
    /// history at its seq, or an ack whose seq holds another message.
    pub unexpected: u64,
}

impl Anomalies {
    /// All anomalies together.
    pub fn total(&self) -> u64 {
        self.lost + self.lost_from_stream + self.duplicated + self.reordered + self.unexpected
    }
}

impl std::ops::AddAssign for Anomalies {
    fn add_assign(&mut self, other: Anomalies) {
        self.lost += other.lost;
        self.lost_from_stream += other.lost_from_stream;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.unexpected += other.unexpected;
    }
}

/// Classifies what one group's clients saw against its stored `history` (ascending, as read).
pub fn check(record: &GroupRecord, history: &[Stored]) -> Anomalies {
    let mut found = Anomalies::default();
    let mut seq_of: HashMap<Key, u64> = HashMap::new();
    let mut at_seq: HashMap<u64, Option<Key>> = HashMap::new();
    let mut expected = 1;
    for stored in history {
        if stored.seq != expected {
            found.reordered += 1;
        }
        expected = stored.seq + 1;
        at_seq.insert(stored.seq, stored.key);
        match stored.key {
            Some(key) if record.sent.contains(&key) => match seq_of.entry(key) {
                Entry::Occupied(_) => found.duplicated += 1,
                Entry::Vacant(first) => {
                    first.insert(stored.seq);
                }
            },
            _ => found.unexpected += 1,
        }
    }
    for ack in &record.acks {
        match seq_of.get(&ack.key) {
            None => found.lost += 1,
            Some(&seq) if seq != ack.seq => found.unexpected += 1,
            Some(_) => {}
        }
    }
    for stream in &record.streams {
        let mut seen = HashSet::new();
        let mut previous = 0;
        for delivery in stream {
            if !seen.insert(delivery.seq) {
                found.duplicated += 1;
                continue;
            }
            if delivery.seq != previous + 1 {
                found.reordered += 1;
            }
            previous = delivery.seq;
            if at_seq.get(&delivery.seq) != Some(&delivery.key) {
                found.unexpected += 1;
            }
        }
        found.lost_from_stream += at_seq.keys().filter(|seq| !seen.contains(seq)).count() as u64;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> Key {
        (7, i)
    }

    fn stored(seqs: &[(u64, u64)]) -> Vec<Stored> {
        seqs.iter().map(|&(seq, k)| Stored { seq, key: Some(key(k)) }).collect()
    }

    fn stream(seqs: &[(u64, u64)]) -> Vec<Delivery> {
        let at = Instant::now();
        seqs.iter().map(|&(seq, k)| Delivery { seq, key: Some(key(k)), at }).collect()
    }

    /// Messages 1..=3 published, acknowledged as seqs 1..=3, and delivered in order.
    fn clean() -> (GroupRecord, Vec<Stored>) {
        let at = Instant::now();
        let record = GroupRecord {
            sent: (1..=3).map(key).collect(),
            acks: (1..=3).map(|i| Ack { key: key(i), seq: i, at }).collect(),
            streams: vec![stream(&[(1, 1), (2, 2), (3, 3)]); 2],
            lagged: 0,
        };
        (record, stored(&[(1, 1), (2, 2), (3, 3)]))
    }

    #[test]
    fn a_consistent_group_has_no_anomaly() {
        let (record, history) = clean();
        assert_eq!(check(&record, &history), Anomalies::default());
    }

    #[test]
    fn an_acknowledged_message_missing_from_history_is_lost() {
        let (record, _) = clean();
        let history = stored(&[(1, 1), (2, 2)]);
        let found = check(&record, &history);
        assert_eq!(found.lost, 1);
        assert_eq!(found.unexpected, 2, "both subscribers got a seq the history does not hold");
    }

    #[test]
    fn a_delivery_a_subscriber_missed_is_lost_from_its_stream_and_a_gap() {
        let (mut record, history) = clean();
        record.streams[1] = stream(&[(1, 1), (3, 3)]);
        assert_eq!(check(&record, &history), Anomalies { lost_from_stream: 1, reordered: 1, ..Anomalies::default() });
    }

    #[test]
    fn a_skipped_seq_in_history_is_a_gap() {
        let (mut record, _) = clean();
        let history = stored(&[(1, 1), (2, 2), (4, 3)]);
        record.acks[2].seq = 4;
        record.streams = vec![stream(&[(1, 1), (2, 2), (4, 3)])];
        assert_eq!(check(&record, &history), Anomalies { reordered: 2, ..Anomalies::default() });
    }

    #[test]
    fn repeats_and_strangers_are_counted() {
        let (mut record, _) = clean();
        let mut history = stored(&[(1, 1), (2, 2), (3, 3), (4, 2)]);
        history.push(Stored { seq: 5, key: None });
        record.streams = vec![stream(&[(1, 1), (2, 2), (2, 2), (3, 3), (4, 2), (5, 9)])];
        let found = check(&record, &history);
        assert_eq!(found.duplicated, 2, "message 2 stored twice, seq 2 delivered twice");
        assert_eq!(found.unexpected, 2, "seq 5 holds no message of ours, and was delivered as another");
        assert_eq!(found.lost + found.reordered + found.lost_from_stream, 0);
    }

    #[test]
    fn an_ack_whose_seq_holds_another_message_is_unexpected() {
        let (mut record, history) = clean();
        record.acks[0].seq = 2;
        assert_eq!(check(&record, &history), Anomalies { unexpected: 1, ..Anomalies::default() });
    }
}
