//! Reads the Joint broker's Prometheus endpoint for its commit batches.

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Totals of `joint_commit_batch_size`: messages committed and batches, so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Batches {
    /// Messages in all batches.
    pub messages: f64,
    /// Batches committed.
    pub batches: f64,
}

impl Batches {
    /// The mean batch size between `before` and `self`, if a batch was committed.
    pub fn mean_since(&self, before: &Batches) -> Option<f64> {
        let batches = self.batches - before.batches;
        (batches > 0.0).then(|| (self.messages - before.messages) / batches)
    }
}

/// Fetches `/metrics` from `addr` (host:port) over plain HTTP/1.0 and reads the batches.
pub async fn batches(addr: &str) -> Result<Batches> {
    Ok(parse(&fetch(addr).await?))
}

/// Subscriptions that fell behind and were fed from storage so far (`joint_lagged_total`).
pub async fn lagged(addr: &str) -> Result<f64> {
    Ok(value(&fetch(addr).await?, "joint_lagged_total"))
}

/// The text of `/metrics` at `addr` (host:port), over plain HTTP/1.0.
async fn fetch(addr: &str) -> Result<String> {
    let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to metrics at {addr}"))?;
    stream.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text)
}

/// The value of the unlabelled sample `name` in Prometheus text (0 when absent).
fn value(text: &str, name: &str) -> f64 {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok()).unwrap_or(0.0)
}

/// The histogram's `_sum` and `_count` from Prometheus text (zeros when absent).
fn parse(text: &str) -> Batches {
    Batches {
        messages: value(text, "joint_commit_batch_size_sum"),
        batches: value(text, "joint_commit_batch_size_count"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_histogram_is_read_from_prometheus_text() {
        let text = "# TYPE joint_commit_batch_size histogram\njoint_commit_batch_size_sum 300.0\n\
                    joint_commit_batch_size_count 4\njoint_commit_batch_size_bucket{le=\"1.0\"} 1\n";
        let after = parse(text);
        assert_eq!(after, Batches { messages: 300.0, batches: 4.0 });
        assert_eq!(after.mean_since(&Batches { messages: 100.0, batches: 2.0 }), Some(100.0));
        assert_eq!(after.mean_since(&after), None);
        assert_eq!(value("joint_lagged_total 3\njoint_lagged_totally 9\n", "joint_lagged_total"), 3.0);
    }
}
