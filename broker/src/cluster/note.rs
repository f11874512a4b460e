//! The notes brokers send each other through PostgreSQL's `NOTIFY joint`: plain text, each
//! under PostgreSQL's 8000-byte payload limit, naming the sending broker so that it can
//! ignore its own.
//!
//! A message note says which seqs of which groups a broker committed, nothing more:
//! `m <broker> <gid>:<first>-<last> <gid>:<first>-<last> …`. The bodies stay in PostgreSQL.

use super::BrokerId;

/// The channel every broker listens on.
pub const CHANNEL: &str = "joint";

/// The longest payload a note may have: PostgreSQL refuses 8000 bytes and more.
pub const MAX_PAYLOAD: usize = 7900;

/// Seqs `first..=last` of group `gid`, committed by one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The group.
    pub gid: i64,
    /// The first seq committed.
    pub first: i64,
    /// The last seq committed.
    pub last: i64,
}

/// A note received from some broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Messages committed.
    Messages {
        /// Who committed them.
        from: BrokerId,
        /// Which.
        ranges: Vec<Range>,
    },
}

impl Note {
    /// Reads a payload; `None` for one this broker cannot read (logged by the caller).
    pub fn parse(payload: &str) -> Option<Note> {
        let mut words = payload.split(' ');
        let kind = words.next()?;
        let from = BrokerId::parse(words.next()?)?;
        match kind {
            "m" => {
                let ranges = words.map(parse_range).collect::<Option<Vec<Range>>>()?;
                Some(Note::Messages { from, ranges })
            }
            _ => None,
        }
    }

    /// Who sent the note.
    pub fn from(&self) -> BrokerId {
        match self {
            Note::Messages { from, .. } => *from,
        }
    }
}

fn parse_range(word: &str) -> Option<Range> {
    let (gid, seqs) = word.split_once(':')?;
    let (first, last) = seqs.split_once('-')?;
    let range = Range { gid: gid.parse().ok()?, first: first.parse().ok()?, last: last.parse().ok()? };
    (range.first >= 1 && range.first <= range.last).then_some(range)
}

/// The payloads announcing `ranges` committed by `from`: as few as fit under
/// [`MAX_PAYLOAD`] each.
pub fn message_payloads(from: BrokerId, ranges: &[Range]) -> Vec<String> {
    let head = format!("m {from}");
    let mut payloads = Vec::new();
    let mut current = head.clone();
    for range in ranges {
        let word = format!(" {}:{}-{}", range.gid, range.first, range.last);
        if current.len() + word.len() > MAX_PAYLOAD && current.len() > head.len() {
            payloads.push(std::mem::replace(&mut current, head.clone()));
        }
        current.push_str(&word);
    }
    if current.len() > head.len() {
        payloads.push(current);
    }
    payloads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_notes_read_back_and_stay_under_the_limit() {
        let from = BrokerId::random();
        let ranges: Vec<Range> =
            (0..2000).map(|i| Range { gid: i64::MAX - i, first: 1 + i, last: i64::MAX / 2 + i }).collect();
        let payloads = message_payloads(from, &ranges);
        assert!(payloads.len() > 1, "split");
        let mut read = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD);
            match Note::parse(payload) {
                Some(Note::Messages { from: sender, ranges }) => {
                    assert_eq!(sender, from);
                    read.extend(ranges);
                }
                other => panic!("not a message note: {other:?}"),
            }
        }
        assert_eq!(read, ranges);
        assert!(message_payloads(from, &[]).is_empty());
    }

    #[test]
    fn garbage_is_not_a_note() {
        let id = BrokerId::random();
        for bad in ["", "m", "m xyz 1:1-2", &format!("m {id} 1:2-1"), &format!("m {id} 1:0-1"), &format!("q {id}")] {
            assert_eq!(Note::parse(bad), None, "{bad:?}");
        }
    }
}
