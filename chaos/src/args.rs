//! The command line.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// One kind of fault; each run injects one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum)]
pub enum Fault {
    /// No fault: the load alone (a baseline, and the checker's self-test).
    None,
    /// SIGKILL of the broker, then a restart on the same port.
    BrokerKill,
    /// PostgreSQL stopped with `pg_ctl -m fast`, then started again.
    PgRestartFast,
    /// PostgreSQL stopped with `pg_ctl -m immediate` (crash recovery), then started again.
    PgRestartImmediate,
    /// PostgreSQL unreachable through the broker's proxy for `--outage-ms`: odd runs
    /// blackhole every connection, even runs refuse new ones and cut the existing.
    PgUnreachable,
    /// Every client connection cut by the proxy at a random byte, three times.
    ClientCut,
    /// The broker's PostgreSQL connections killed with `pg_terminate_backend`, three times.
    PgTerminate,
    /// One subscriber stops reading its socket for `--freeze-ms` under steady load.
    SubscriberFreeze,
    /// SIGKILL of one of several brokers (`--brokers`) under load: its clients move to the
    /// next broker of their list; it is started again once the load has gone on without it.
    BrokerKillOne,
}

impl Fault {
    /// Every real fault, in the order runs inject them.
    pub const ALL: [Fault; 7] = [
        Fault::BrokerKill,
        Fault::PgRestartFast,
        Fault::PgRestartImmediate,
        Fault::PgUnreachable,
        Fault::ClientCut,
        Fault::PgTerminate,
        Fault::SubscriberFreeze,
    ];

    /// Whether the fault needs several brokers (and the lab starts 3 unless told otherwise).
    pub fn needs_several_brokers(self) -> bool {
        self == Fault::BrokerKillOne
    }

    /// The name on the command line and in the report.
    pub fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// A broker fault compiled in only with joint-broker's `sabotage` feature (test builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Sabotage {
    /// Every 20th publish batch is acknowledged, then rolled back.
    AckBeforeCommit,
    /// Every 1000th live delivery is dropped.
    DropDelivery,
    /// Every 500th message takes seq n+2.
    SkipSeq,
}

impl Sabotage {
    /// The value of the broker's `JOINT_SABOTAGE`.
    pub fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// `joint-chaos`: starts a private PostgreSQL cluster, the real `joint-broker` and two TCP
/// proxies, runs publishers and subscribers through them while injecting faults, and checks
/// every ack and delivery against the stored history. Exits 1 when anything was lost,
/// duplicated, reordered or unexpected.
#[derive(Debug, Clone, Parser)]
#[command(name = "joint-chaos", version)]
pub struct Args {
    /// Fault to inject (repeatable; default: every fault but `none` and `broker-kill-one`).
    #[arg(long = "fault", value_enum)]
    pub faults: Vec<Fault>,
    /// Brokers on the one PostgreSQL, each behind a client proxy of its own. Every client is
    /// given all their addresses, starting from a different one, so publishers and
    /// subscribers spread over them and fail over in turn. Default: 3 when
    /// `broker-kill-one` is chosen, else 1.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub brokers: Option<u32>,
    /// Runs of each fault.
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Groups of each run.
    #[arg(long, default_value_t = 3)]
    pub groups: u32,
    /// Publishers per group, each on its own connection.
    #[arg(long, default_value_t = 3)]
    pub publishers: u32,
    /// Subscribers per group, each on its own connection.
    #[arg(long, default_value_t = 3)]
    pub subscribers: u32,
    /// Messages per second each publisher sends.
    #[arg(long, default_value_t = 40)]
    pub rate: u32,
    /// Publishes each publisher keeps in flight at most.
    #[arg(long, default_value_t = 4)]
    pub window: usize,
    /// Message body size in bytes. The default is large enough that a frozen subscriber's
    /// backlog outgrows the kernel's socket buffers (a few MiB) within the freeze, so that
    /// the broker's slow-reader path (`lagged`, then storage) runs.
    #[arg(long, default_value_t = 2048)]
    pub body_size: usize,
    /// Load before the fault, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    pub warmup_ms: u64,
    /// Load after the fault has ended (and the first ack came), in milliseconds.
    #[arg(long, default_value_t = 3_000)]
    pub after_ms: u64,
    /// How long PostgreSQL stays unreachable (`pg-unreachable`), in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub outage_ms: u64,
    /// How long the subscriber stays frozen (`subscriber-freeze`), in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub freeze_ms: u64,
    /// Longest wait, after publishing stopped, for unacknowledged publishes to be retried
    /// and for every subscriber to reach the end of the history, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub settle_ms: u64,
    /// Seed of the random choices (cut positions); default: from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Rewrite the chaos region of this file (RELIABILITY.md) with the results.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// The `joint-broker` binary; default: the one next to this program.
    #[arg(long)]
    pub broker_bin: Option<PathBuf>,
    /// PostgreSQL's server programs.
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pub pg_bin: PathBuf,
    /// Run a broker sabotaged on purpose (needs a test build of joint-broker, with the
    /// `sabotage` feature): the checker must report it.
    #[arg(long, value_enum)]
    pub sabotage: Option<Sabotage>,
}

impl Args {
    /// How many brokers the lab starts.
    pub fn broker_count(&self) -> usize {
        let several = self.chosen_faults().iter().any(|f| f.needs_several_brokers());
        self.brokers.unwrap_or(if several { 3 } else { 1 }) as usize
    }

    /// The faults to run, in order, each once.
    pub fn chosen_faults(&self) -> Vec<Fault> {
        if self.faults.is_empty() {
            return Fault::ALL.to_vec();
        }
        let mut faults = self.faults.clone();
        faults.dedup();
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        <Args as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn every_fault_by_default_and_names_as_typed() {
        let args = Args::parse_from(["joint-chaos"]);
        assert_eq!(args.chosen_faults(), Fault::ALL.to_vec());
        let args = Args::parse_from(["joint-chaos", "--fault", "pg-restart-fast", "--sabotage", "skip_seq"]);
        assert_eq!(args.chosen_faults(), vec![Fault::PgRestartFast]);
        assert_eq!(Fault::PgRestartFast.name(), "pg-restart-fast");
        assert_eq!(args.sabotage.map(Sabotage::name).as_deref(), Some("skip_seq"));
        assert_eq!(args.broker_count(), 1);
    }

    #[test]
    fn the_multi_broker_fault_brings_three_brokers_unless_told() {
        let args = Args::parse_from(["joint-chaos", "--fault", "broker-kill-one"]);
        assert_eq!((args.chosen_faults(), args.broker_count()), (vec![Fault::BrokerKillOne], 3));
        let args = Args::parse_from(["joint-chaos", "--fault", "broker-kill-one", "--brokers", "2"]);
        assert_eq!(args.broker_count(), 2);
        let args = Args::parse_from(["joint-chaos", "--brokers", "3"]);
        assert_eq!(args.broker_count(), 3, "any fault may run against several brokers");
        assert!(Args::try_parse_from(["joint-chaos", "--brokers", "0"]).is_err());
    }
}
