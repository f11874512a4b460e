//! The benchmark message: its publisher, its place in that publisher's sequence and when it
//! was sent, as text (Joint bodies are UTF-8) padded to the workload's size.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What every benchmark message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The publisher's number within the run.
    pub publisher: u32,
    /// 0, 1, 2, … in the order the publisher sent them.
    pub seq: u64,
    /// When it was sent, in nanoseconds since [`now_ns`]'s origin (this process).
    pub sent_ns: u64,
}

/// Nanoseconds on a monotonic clock shared by every task of this process; publishers and
/// subscribers run in the same process, so their readings compare directly.
pub fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The time elapsed since `sent_ns` (a reading of [`now_ns`]).
pub fn since(sent_ns: u64) -> Duration {
    Duration::from_nanos(now_ns().saturating_sub(sent_ns))
}

impl Stamp {
    /// The message text: the three numbers, then `.` padding up to `size` bytes (never
    /// shorter than the numbers need).
    pub fn encode(&self, size: usize) -> String {
        let mut text = format!("{} {} {} ", self.publisher, self.seq, self.sent_ns);
        let padding = size.saturating_sub(text.len());
        text.extend(std::iter::repeat_n('.', padding));
        text
    }

    /// Reads a message made by [`Stamp::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Stamp> {
        let text = std::str::from_utf8(bytes.get(..bytes.len().min(64))?).ok()?;
        let mut fields = text.split(' ');
        let publisher = fields.next()?.parse().ok()?;
        let seq = fields.next()?.parse().ok()?;
        let sent_ns = fields.next()?.parse().ok()?;
        Some(Stamp { publisher, seq, sent_ns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_survives_encoding_at_the_requested_size() {
        let stamp = Stamp { publisher: 7, seq: 19_999, sent_ns: 123_456_789_012 };
        let text = stamp.encode(200);
        assert_eq!(text.len(), 200);
        assert_eq!(Stamp::decode(text.as_bytes()), Some(stamp));
    }

    #[test]
    fn a_size_too_small_keeps_the_numbers() {
        let stamp = Stamp { publisher: 1, seq: 2, sent_ns: 3 };
        assert_eq!(Stamp::decode(stamp.encode(0).as_bytes()), Some(stamp));
    }

    #[test]
    fn foreign_bytes_are_not_a_stamp() {
        assert_eq!(Stamp::decode(b"hello world"), None);
        assert_eq!(Stamp::decode(&[0xff, 0xfe]), None);
    }
}
