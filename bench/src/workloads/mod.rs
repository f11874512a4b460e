//! The workloads: their shapes, and what one round measures.

pub mod fanout;

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
    /// The issue's shape of this workload, its message count multiplied by `scale` (at least 1).
    pub fn shape(self, scale: f64) -> Shape {
        let scaled = |messages: f64| ((messages * scale).round() as u64).max(1);
        match self {
            WorkloadKind::Throughput => {
                Shape { groups: 10, subscribers: 10, messages: scaled(20_000.0), size: 200, window: 100 }
            }
            WorkloadKind::OneAtATime => {
                Shape { groups: 1, subscribers: 100, messages: scaled(2_000.0), size: 200, window: 1 }
            }
        }
    }

    /// The title in the report.
    pub fn title(self) -> &'static str {
        match self {
            WorkloadKind::Throughput => "1. Throughput",
            WorkloadKind::OneAtATime => "3. One at a time",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_shapes_scale_their_message_count_only() {
        assert_eq!(WorkloadKind::Throughput.shape(1.0).messages, 20_000);
        let small = WorkloadKind::Throughput.shape(0.01);
        assert_eq!((small.groups, small.subscribers, small.messages, small.window), (10, 10, 200, 100));
        assert_eq!(WorkloadKind::OneAtATime.shape(0.0).messages, 1);
    }
}
