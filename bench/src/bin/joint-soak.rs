//! `joint-soak`: the soak run against a Joint broker that `scripts/soak` started; see
//! `joint_bench::soak`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use joint_bench::soak::{self, actors::Load, report};

/// Runs a mixed workload against a Joint broker for a long time, samples the broker's RSS
/// and open descriptors, and judges whether they stay flat after the warm-up. Exits 1 when
/// they do not, or when any check of the workload found a gap, duplicate or disorder.
#[derive(Debug, Parser)]
#[command(name = "joint-soak", version)]
struct Args {
    /// The broker's address (host:port).
    #[arg(long)]
    joint: String,
    /// The broker's pid.
    #[arg(long)]
    joint_pid: u32,
    /// The whole run, in seconds, warm-up included.
    #[arg(long, default_value_t = 35 * 60)]
    seconds: u64,
    /// The warm-up, in seconds: not judged.
    #[arg(long, default_value_t = 5 * 60)]
    warm_up_seconds: u64,
    /// Seconds between two samples.
    #[arg(long, default_value_t = 10)]
    interval_seconds: u64,
    /// Groups, each with one steady publisher.
    #[arg(long, default_value_t = 10)]
    groups: usize,
    /// Steady subscribers per group.
    #[arg(long, default_value_t = 3)]
    subscribers: usize,
    /// Messages per second over all groups.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// Subscribers that disconnect and resume over and over.
    #[arg(long, default_value_t = 4)]
    churners: usize,
    /// History readers.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Rewrite the `soak` region of this Markdown file (RELIABILITY.md) with the report;
    /// without it the report goes to stdout.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The command to name in the report as the way to reproduce it.
    #[arg(long, default_value = "scripts/soak")]
    command: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.rate <= 0.0 || args.groups == 0 {
        bail!("--rate and --groups must be positive");
    }
    let plan = soak::Plan {
        addr: args.joint.clone(),
        broker_pid: args.joint_pid,
        duration: Duration::from_secs(args.seconds),
        warm_up: Duration::from_secs(args.warm_up_seconds),
        interval: Duration::from_secs(args.interval_seconds.max(1)),
        load: Load {
            groups: args.groups,
            subscribers: args.subscribers,
            rate: args.rate,
            size: args.size,
            churners: args.churners,
            readers: args.readers,
        },
    };
    let started = std::process::Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output()?;
    let context = report::Context {
        command: args.command.clone(),
        started: String::from_utf8_lossy(&started.stdout).trim().to_string(),
        machine: joint_bench::machine::describe(),
        // The verdict compares medians, which the churn of connections hardly moves: two
        // descriptors of slack, so that a leak of a few over the run already fails it.
        fd_allowance: 2,
    };
    let (series, counters) = soak::run(&plan).await?;
    let anomalies = counters.anomalies();
    let section = report::markdown(&plan, &series, &anomalies, &context);
    match &args.report {
        Some(path) => {
            joint_bench::region::rewrite(path, "soak", &section)?;
            eprintln!("joint-soak: wrote the soak section of {}", path.display());
        }
        None => print!("{section}"),
    }
    let verdict = series.verdict().context("the run was too short for a verdict")?;
    if !anomalies.is_empty() {
        bail!("{} anomalies: {}", anomalies.len(), anomalies[0]);
    }
    if !verdict.passes(context.fd_allowance) {
        bail!("the broker's RSS or descriptors grew after the warm-up: {verdict:?}");
    }
    Ok(())
}
