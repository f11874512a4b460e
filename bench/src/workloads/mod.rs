//! The workloads: their shapes, and what one round measures.

pub mod fanout;
pub mod history;
pub mod idle;
pub mod login;
pub mod multi_broker;

use std::time::Duration;

use crate::args::WorkloadKind;

/// G groups with S subscribers each and one publisher per group sending M messages of B
/// bytes with at most W unacknowledged.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// Open loop: each publisher sends this many messages per second on a fixed schedule,
    /// whatever its acknowledgements; `None`: as fast as the window allows.
    pub rate: Option<f64>,
    /// When the first subscriber of the first group stops reading and when it reads on,
    /// counted from the first publish.
    pub pause: Option<(Duration, Duration)>,
}

impl Shape {
    /// A closed-loop shape: as fast as the window allows, nobody pauses.
    pub fn closed(groups: usize, subscribers: usize, messages: u64, size: usize, window: usize) -> Shape {
        Shape { groups, subscribers, messages, size, window, rate: None, pause: None }
    }

    /// An open-loop shape: `total_rate` messages per second over all `groups` publishers for
    /// `seconds`, every message allowed to be unacknowledged.
    pub fn open(groups: usize, subscribers: usize, total_rate: f64, seconds: f64) -> Shape {
        let rate = total_rate / groups as f64;
        let messages = ((rate * seconds).round() as u64).max(1);
        let window = usize::try_from(messages).expect("a message count that fits in memory");
        Shape { groups, subscribers, messages, size: 200, window, rate: Some(rate), pause: None }
    }
}

impl WorkloadKind {
    /// The issue's shape of a fan-out workload, its message count multiplied by `scale` (at
    /// least 1; for the fixed-rate ones, their duration); `None` for the workloads that are
    /// not a fan-out (idle, login) and for history, which runs workload 2's shape alongside.
    pub fn shape(self, scale: f64) -> Option<Shape> {
        let scaled = |messages: f64| ((messages * scale).round() as u64).max(1);
        match self {
            WorkloadKind::Throughput => Some(Shape::closed(10, 10, scaled(20_000.0), 200, 100)),
            WorkloadKind::FixedRate => Some(Shape::open(10, 10, 30_000.0, 20.0 * scale)),
            WorkloadKind::OneAtATime => Some(Shape::closed(1, 100, scaled(2_000.0), 200, 1)),
            WorkloadKind::SlowSubscriber => {
                let at = |seconds: f64| Duration::from_secs_f64(seconds * scale);
                Some(Shape { pause: Some((at(10.0), at(40.0))), ..Shape::open(10, 10, 20_000.0, 60.0 * scale) })
            }
            WorkloadKind::Idle | WorkloadKind::History | WorkloadKind::Login | WorkloadKind::MultiBroker => None,
        }
    }

    /// Rounds to run of `requested`: workload 5 runs once (a minute per peer; three rounds
    /// would not fit a full run in 15 minutes), the others as requested.
    pub fn rounds(self, requested: usize) -> usize {
        match self {
            WorkloadKind::SlowSubscriber => requested.min(1),
            _ => requested,
        }
    }

    /// The title in the report.
    pub fn title(self) -> &'static str {
        match self {
            WorkloadKind::Throughput => "1. Throughput",
            WorkloadKind::FixedRate => "2. Latency at a fixed offered rate",
            WorkloadKind::OneAtATime => "3. One at a time",
            WorkloadKind::Idle => "4. Idle connections",
            WorkloadKind::SlowSubscriber => "5. A slow subscriber",
            WorkloadKind::History => "6. History readers",
            WorkloadKind::Login => "7. Logins",
            WorkloadKind::MultiBroker => "8. Several brokers on one PostgreSQL",
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

    #[test]
    fn open_loop_shapes_scale_their_duration() {
        let full = WorkloadKind::FixedRate.shape(1.0).unwrap();
        assert_eq!((full.rate, full.messages, full.window), (Some(3_000.0), 60_000, 60_000));
        let slow = WorkloadKind::SlowSubscriber.shape(0.1).unwrap();
        assert_eq!((slow.rate, slow.messages), (Some(2_000.0), 12_000));
        assert_eq!(slow.pause, Some((Duration::from_secs(1), Duration::from_secs(4))));
        assert_eq!((WorkloadKind::SlowSubscriber.rounds(3), WorkloadKind::FixedRate.rounds(3)), (1, 3));
    }
}
