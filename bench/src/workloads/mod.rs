//! The workloads: their shapes, and what one round measures.

pub mod fanout;
pub mod idle;

use crate::args::WorkloadKind;

/// G groups with S subscribers each and one publisher per group sending M messages of B
/// bytes with at most W unacknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Groups (G), one publisher each.
    pub groups: usize,
    /// Subscribers per group (S), each on its own connection.
    pub subscribers: usize,
    /// Messages per publisher (M).
    pub messages: u64,
    /// Bytes per message (B).
    pub size: usize,
    /// Unacknowledged messages per publisher at most (W).
    pub window: usize,
}

impl WorkloadKind {
    /// The issue's shape of a fan-out workload, its message count multiplied by `scale` (at
    /// least 1); `None` for the idle workload, which publishes nothing.
    pub fn shape(self, scale: f64) -> Option<Shape> {
        let scaled = |messages: f64| ((messages * scale).round() as u64).max(1);
        match self {
            WorkloadKind::Throughput => {
                Some(Shape { groups: 10, subscribers: 10, messages: scaled(20_000.0), size: 200, window: 100 })
            }
            WorkloadKind::OneAtATime => {
                Some(Shape { groups: 1, subscribers: 100, messages: scaled(2_000.0), size: 200, window: 1 })
            }
            WorkloadKind::Idle => None,
        }
    }

    /// The title in the report.
    pub fn title(self) -> &'static str {
        match self {
            WorkloadKind::Throughput => "1. Throughput",
            WorkloadKind::OneAtATime => "3. One at a time",
            WorkloadKind::Idle => "4. Idle connections",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_shapes_scale_their_message_count_only() {
        assert_eq!(WorkloadKind::Throughput.shape(1.0).unwrap().messages, 20_000);
        let small = WorkloadKind::Throughput.shape(0.01).unwrap();
        assert_eq!((small.groups, small.subscribers, small.messages, small.window), (10, 10, 200, 100));
        assert_eq!(WorkloadKind::OneAtATime.shape(0.0).unwrap().messages, 1);
        assert_eq!(WorkloadKind::Idle.shape(1.0), None);
    }
}
