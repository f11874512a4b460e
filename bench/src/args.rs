//! Command-line flags.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Runs the same workloads against Joint, Mosquitto and NATS JetStream and writes the
/// results as Markdown. Brokers are started by the caller (scripts/bench); a peer whose
/// address is not given is skipped.
#[derive(Debug, Parser)]
#[command(name = "joint-bench", version)]
pub struct Args {
    /// Joint broker address (host:port).
    #[arg(long)]
    pub joint: Option<String>,
    /// The Joint broker's pid, for its CPU seconds.
    #[arg(long, requires = "joint")]
    pub joint_pid: Option<u32>,
    /// The Joint broker's --metrics-listen address, for the mean commit batch size.
    #[arg(long, requires = "joint")]
    pub joint_metrics: Option<String>,
    /// The postmaster pid of Joint's PostgreSQL cluster: its CPU counts as Joint's.
    #[arg(long, requires = "joint")]
    pub postgres_pid: Option<u32>,
    /// Mosquitto address (host:port).
    /// More Joint brokers on the Joint broker's database, for the multi-broker workload
    /// (comma-separated addresses).
    #[arg(long, value_delimiter = ',', requires = "joint")]
    pub joint_more: Vec<String>,

    /// Their pids, in the same order, to charge each its CPU.
    #[arg(long, value_delimiter = ',', requires = "joint_more")]
    pub joint_more_pids: Vec<u32>,

    /// Also rewrite the multi-broker region of this Markdown file (BENCHMARKS.md) with the
    /// multi-broker section, leaving the rest of it as it is.
    #[arg(long)]
    pub rewrite_region: Option<PathBuf>,

    #[arg(long)]
    pub mosquitto: Option<String>,
    /// Mosquitto's pid.
    #[arg(long, requires = "mosquitto")]
    pub mosquitto_pid: Option<u32>,
    /// nats-server address (host:port), JetStream enabled.
    #[arg(long)]
    pub nats: Option<String>,
    /// nats-server's pid.
    #[arg(long, requires = "nats")]
    pub nats_pid: Option<u32>,
    /// Workloads to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "throughput,one-at-a-time")]
    pub workloads: Vec<WorkloadKind>,
    /// Rounds per workload and peer; the report shows the median and the spread. Workload 5
    /// runs one round; 4, 6 and 7 (Joint only) run one.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Multiplies every workload's message count, and so the durations of the fixed-rate
    /// ones (e.g. 0.1 for a quick look); the history group holds 1,000,000 × scale messages.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Connections the idle workload holds open.
    #[arg(long, default_value_t = 10_000)]
    pub idle_connections: usize,
    /// Also draw SVG charts into this directory; the report links them as
    /// `<its last component>/<file>`, so put it next to the report.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Where to write the Markdown results.
    #[arg(long, default_value = "bench-results.md")]
    pub out: PathBuf,
}

/// The workloads this build measures (the numbering in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadKind {
    /// [1] G=10 groups, S=10 subscribers each, M=20,000 messages of 200 B, window 100.
    Throughput,
    /// [2] G=10, S=10, open loop: 30,000 msg/s in total for 20 s, each publisher on a fixed
    /// schedule whatever its acks; latency counts from the scheduled send time.
    FixedRate,
    /// [3] G=1, S=100, window 1: latency of one message at a time, 2,000 messages.
    OneAtATime,
    /// [4] Joint only: --idle-connections idle connections, each signed in by token, having
    /// fetched a 256 KiB history page and subscribed: the broker's RSS per connection.
    Idle,
    /// [5] G=10, S=10, open loop at 20,000 msg/s in total for 60 s; one subscriber stops
    /// reading from t=10 s to t=40 s: the others' throughput, the broker's RSS every second,
    /// and whether the slow one still gets everything in order.
    SlowSubscriber,
    /// [6] Joint only: 16 readers fetching pages of 100 at random `before` across a group of
    /// 1,000,000 messages while workload 2's load runs: the latency of a page.
    History,
    /// [7] Joint only: scrypt logins per second at the broker's cost, then 100 clients
    /// logging in at once (how many succeed, how many get `unavailable`).
    Login,
    /// [8] Joint only: workload 1's shape with its subscribers and publishers spread over
    /// 1, 2 and 3 brokers of one database (--joint plus --joint-more): rates, losses and
    /// the CPU per delivery of each broker and of PostgreSQL.
    MultiBroker,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn unknown_workloads_are_refused() {
        assert!(Args::try_parse_from(["joint-bench", "--workloads", "slow-reader"]).is_err());
        let args = Args::try_parse_from(["joint-bench", "--workloads", "one-at-a-time"]).unwrap();
        assert_eq!(args.workloads, vec![WorkloadKind::OneAtATime]);
        let args = Args::try_parse_from(["joint-bench", "--workloads", "fixed-rate,slow-subscriber,history,login"]);
        let expected =
            [WorkloadKind::FixedRate, WorkloadKind::SlowSubscriber, WorkloadKind::History, WorkloadKind::Login];
        assert_eq!(args.unwrap().workloads, expected);
    }
}
