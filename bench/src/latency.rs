//! Latency histograms in microseconds, and their p50/p99/max.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A histogram of latencies from 1 µs to 100 s at 3 significant digits.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

/// The percentiles the report shows, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value recorded.
    pub max: f64,
}

impl Latency {
    /// An empty histogram.
    pub fn new() -> Latency {
        Latency(Histogram::new_with_bounds(1, 100_000_000, 3).expect("constant bounds are valid"))
    }

    /// Records one latency (clamped into the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    /// Adds another histogram's values.
    pub fn merge(&mut self, other: &Latency) {
        self.0.add(&other.0).expect("histograms of the same bounds add up");
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// p50, p99 and max in microseconds (zeros when empty).
    pub fn percentiles(&self) -> Percentiles {
        if self.0.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: self.0.value_at_quantile(0.5) as f64,
            p99: self.0.value_at_quantile(0.99) as f64,
            max: self.0.max() as f64,
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recorded_values() {
        let mut latency = Latency::new();
        (1..=100).for_each(|ms| latency.record(Duration::from_millis(ms)));
        let p = latency.percentiles();
        assert!((49_900.0..=50_100.0).contains(&p.p50), "{p:?}");
        assert!((98_900.0..=99_100.0).contains(&p.p99), "{p:?}");
        assert!((99_900.0..=100_100.0).contains(&p.max), "{p:?}");
    }
}
