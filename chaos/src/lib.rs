#![warn(missing_docs)]
//! `joint-chaos`: fault injection with a Jepsen-style consistency checker.
//!
//! It starts a private PostgreSQL cluster, the real `joint-broker` binary (or several, on the
//! one database, with `--brokers`) and TCP proxies (clients ↔ each broker, brokers ↔
//! PostgreSQL), runs publishers and subscribers through them, each client given every
//! broker's address, injects one fault per run, and then checks every ack and delivery
//! against each group's whole history, across the whole cluster: lost, duplicated,
//! reordered or unexpected messages.

pub mod args;
pub mod checker;
pub mod cluster;
pub mod faults;
pub mod lab;
pub mod load;
pub mod proxy;
pub mod report;

use anyhow::Result;
use args::Args;
use faults::RunResult;
use std::time::Instant;

/// What a whole invocation found.
#[derive(Debug)]
pub struct Outcome {
    /// Every run, in the order they ran.
    pub results: Vec<RunResult>,
    /// The seed the random choices started from.
    pub seed: u64,
}

impl Outcome {
    /// Every anomaly of every run added up.
    pub fn anomalies(&self) -> checker::Anomalies {
        let mut total = checker::Anomalies::default();
        for result in &self.results {
            total += result.anomalies;
        }
        total
    }
}

/// Runs every chosen fault `--runs` times (round by round, so that an interrupted
/// invocation has covered every fault alike), printing a line per run on stderr and
/// rewriting the report after each round. `command` is how the report names this run.
pub async fn run(args: Args, command: &str) -> Result<Outcome> {
    // Dozens of client connections, proxied twice, in this one process.
    rlimit::increase_nofile_limit(u64::MAX)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    let faults = args.chosen_faults();
    let started = Instant::now();
    let mut lab = lab::Lab::start(args.clone(), seed).await?;
    let addrs: Vec<String> = lab.brokers.iter().map(|b| b.addr.to_string()).collect();
    eprintln!("joint-chaos: seed {seed}; brokers on {}, PostgreSQL on port {}", addrs.join(", "), lab.pg.port);
    let mut results = Vec::new();
    for run in 1..=args.runs {
        for &fault in &faults {
            let result = faults::run_once(&mut lab, fault, run).await?;
            eprintln!("{}", report::progress(run, &result));
            results.push(result);
        }
        if let Some(path) = &args.report {
            let summaries = report::summarize(&faults, &results);
            let several = lab.brokers.len() > 1;
            let text = report::render(command, &args, lab.brokers.len(), seed, started.elapsed(), &summaries);
            report::write_region(path, &text, several)?;
        }
    }
    let outcome = Outcome { results, seed };
    // A sabotaged broker's anomalies are expected; a real one's log is kept for a post-mortem.
    if outcome.anomalies().total() > 0 && args.sabotage.is_none() {
        let logs = lab.keep_broker_logs();
        eprintln!(
            "joint-chaos: anomalies found; reproduce with --seed {seed}; the brokers' logs are in {}",
            logs.display()
        );
    }
    Ok(outcome)
}
