//! The broker's resident memory and open descriptors over time, and the verdict on them:
//! once warmed up, memory grows less than [`MAX_RSS_GROWTH`] and descriptors stay flat.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;

use super::actors::Counters;
use crate::procstat::{open_fds, rss_bytes};

/// The most the broker's RSS may grow after the warm-up: 5 %.
pub const MAX_RSS_GROWTH: f64 = 0.05;

/// How long a window of samples the verdict compares: its first and its last minute after
/// the warm-up, each by its median, so that one sample's allocator noise decides nothing.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One look at the broker and at what the workload had done by then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Time since the run started.
    pub at: Duration,
    /// The broker's resident memory in bytes.
    pub rss: u64,
    /// The broker's open file descriptors.
    pub fds: u64,
    /// Acknowledged publishes so far.
    pub published: u64,
    /// Deliveries to steady and resuming subscribers so far.
    pub delivered: u64,
    /// Connections opened by resuming subscribers so far.
    pub reconnects: u64,
    /// History pages read so far.
    pub pages: u64,
    /// Password logins so far.
    pub logins: u64,
    /// Short-lived groups so far.
    pub groups_cycled: u64,
}

impl Sample {
    /// Samples the broker `pid` and the workload's `counters`, `at` into the run.
    pub fn take(pid: u32, at: Duration, counters: &Counters) -> Result<Sample> {
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        Ok(Sample {
            at,
            rss: rss_bytes(pid)?,
            fds: open_fds(pid)?,
            published: read(&counters.published),
            delivered: read(&counters.delivered) + read(&counters.resumed),
            reconnects: read(&counters.reconnects),
            pages: read(&counters.pages),
            logins: read(&counters.logins),
            groups_cycled: read(&counters.groups_cycled),
        })
    }

    /// The progress line printed as the run goes.
    pub fn progress_line(&self) -> String {
        format!(
            "{:>6.0} s  RSS {:>7.1} MiB  fds {:>4}  published {:>8}  delivered {:>9}  reconnects {:>6}  pages {:>6}  \
             logins {:>5}  groups {:>5}",
            self.at.as_secs_f64(),
            mib(self.rss),
            self.fds,
            self.published,
            self.delivered,
            self.reconnects,
            self.pages,
            self.logins,
            self.groups_cycled
        )
    }
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Every sample of a run, and how long its warm-up was.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The part of the run the verdict ignores.
    pub warm_up: Duration,
    /// The samples, in time order.
    pub samples: Vec<Sample>,
}

/// What the samples after the warm-up show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Median RSS over the first minute after the warm-up.
    pub rss_start: u64,
    /// Median RSS over the run's last minute.
    pub rss_end: u64,
    /// The highest RSS after the warm-up.
    pub rss_max: u64,
    /// Median descriptors over the first minute after the warm-up.
    pub fds_start: u64,
    /// Median descriptors over the run's last minute.
    pub fds_end: u64,
    /// The fewest and the most descriptors after the warm-up.
    pub fds_range: (u64, u64),
}

impl Verdict {
    /// (end − start) / start of the median RSS.
    pub fn rss_growth(&self) -> f64 {
        (self.rss_end as f64 - self.rss_start as f64) / self.rss_start.max(1) as f64
    }

    /// Whether RSS grew less than [`MAX_RSS_GROWTH`] and descriptors are flat: the last
    /// minute's median no higher than the first minute's plus `fd_allowance`, the
    /// connections the workload opens and closes all the time (whether one is open at a
    /// sample is chance).
    pub fn passes(&self, fd_allowance: u64) -> bool {
        self.rss_growth() < MAX_RSS_GROWTH && self.fds_end <= self.fds_start + fd_allowance
    }
}

impl Series {
    /// An empty series for a run whose first `warm_up` is not judged.
    pub fn new(warm_up: Duration) -> Series {
        Series { warm_up, samples: Vec::new() }
    }

    /// Adds a sample (taken after every earlier one).
    pub fn push(&mut self, sample: Sample) {
        self.samples.push(sample);
    }

    /// The verdict, or `None` when the run was too short to have a minute after the warm-up
    /// and a last minute that starts no earlier.
    pub fn verdict(&self) -> Option<Verdict> {
        let judged: Vec<&Sample> = self.samples.iter().filter(|s| s.at >= self.warm_up).collect();
        let (first, last) = (judged.first()?, judged.last()?);
        if last.at < first.at + WINDOW * 2 {
            return None;
        }
        let start: Vec<&Sample> = judged.iter().copied().filter(|s| s.at < first.at + WINDOW).collect();
        let end: Vec<&Sample> = judged.iter().copied().filter(|s| s.at + WINDOW > last.at).collect();
        let median = |window: &[&Sample], field: fn(&Sample) -> u64| {
            let mut values: Vec<u64> = window.iter().map(|s| field(s)).collect();
            values.sort_unstable();
            values[values.len() / 2]
        };
        Some(Verdict {
            rss_start: median(&start, |s| s.rss),
            rss_end: median(&end, |s| s.rss),
            rss_max: judged.iter().map(|s| s.rss).max()?,
            fds_start: median(&start, |s| s.fds),
            fds_end: median(&end, |s| s.fds),
            fds_range: (judged.iter().map(|s| s.fds).min()?, judged.iter().map(|s| s.fds).max()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: u64, rss_mib: u64, fds: u64) -> Sample {
        Sample {
            at: Duration::from_secs(seconds),
            rss: rss_mib * 1024 * 1024,
            fds,
            published: 0,
            delivered: 0,
            reconnects: 0,
            pages: 0,
            logins: 0,
            groups_cycled: 0,
        }
    }

    /// A run of `minutes` minutes sampled every 10 s, with RSS and descriptors from `shape`.
    fn series(minutes: u64, warm_up_minutes: u64, shape: impl Fn(u64) -> (u64, u64)) -> Series {
        let mut series = Series::new(Duration::from_secs(warm_up_minutes * 60));
        for at in (0..=minutes * 60).step_by(10) {
            let (rss, fds) = shape(at);
            series.push(sample(at, rss, fds));
        }
        series
    }

    #[test]
    fn growth_during_the_warm_up_does_not_count() {
        // From 20 to 100 MiB during the 5-minute warm-up, flat after it.
        let run = series(35, 5, |at| (if at < 300 { 20 + at * 80 / 300 } else { 100 }, 40));
        let verdict = run.verdict().unwrap();
        assert_eq!((verdict.rss_start, verdict.rss_end), (100 << 20, 100 << 20));
        assert!(verdict.passes(0));
    }

    #[test]
    fn a_slow_leak_after_the_warm_up_fails() {
        // 100 MiB growing by 1 MiB every 3 minutes: 10 % over 30 minutes.
        let run = series(35, 5, |at| (100 + at.saturating_sub(300) / 180, 40));
        let verdict = run.verdict().unwrap();
        assert!(verdict.rss_growth() > MAX_RSS_GROWTH, "{verdict:?}");
        assert!(!verdict.passes(10));
    }

    #[test]
    fn one_spike_decides_nothing_but_is_reported() {
        let run = series(35, 5, |at| (if at == 2000 { 500 } else { 100 }, 40));
        let verdict = run.verdict().unwrap();
        assert!(verdict.passes(0));
        assert_eq!(verdict.rss_max, 500 << 20);
    }

    #[test]
    fn descriptors_must_stay_within_the_churn() {
        // Churning connections make the count wobble by up to 4; a leak of one a minute does not.
        let wobbly = series(35, 5, |at| (100, 40 + (at / 10) % 5));
        assert!(wobbly.verdict().unwrap().passes(4));
        let leaking = series(35, 5, |at| (100, 40 + at / 60));
        assert!(!leaking.verdict().unwrap().passes(4));
    }

    #[test]
    fn a_run_too_short_has_no_verdict() {
        assert_eq!(series(6, 5, |_| (100, 40)).verdict(), None);
        assert!(series(7, 5, |_| (100, 40)).verdict().is_some());
    }
}
