//! Workload 8: workload 1's shape on 1, 2, then 3 brokers of one database, subscribers and
//! publishers spread over them in turn, so that most deliveries cross brokers (a message
//! committed on one broker reaches the subscribers on the others through PostgreSQL's
//! NOTIFY and a read of the batch). Reports the rates, the checker's verdict and the CPU
//! of each broker process and of PostgreSQL per delivered message, and says from those
//! figures where the design's limits lie.

use std::fmt::Write;

use anyhow::Result;

use super::fanout::{self, Round, Watched};
use super::Shape;
use crate::checker::Verdict;
use crate::peers::{JointPeer, Peer};
use crate::report::median;

/// The name of the region of BENCHMARKS.md this workload's section fills.
pub const REGION: &str = "multi-broker";

/// One broker of the cluster under test.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Where it listens.
    pub addr: String,
    /// Its pid, to charge it its CPU (`None`: not measured, e.g. a broker in this process).
    pub pid: Option<u32>,
}

/// The rounds run on the first `brokers` brokers.
#[derive(Debug, Clone)]
pub struct Step {
    /// How many brokers the sessions were spread over.
    pub brokers: usize,
    /// Each round's measurements; `cpu.broker` is the first broker's, `cpu.more_brokers`
    /// the others' in order.
    pub rounds: Vec<Round>,
}

impl Step {
    /// The sum of every round's verdict.
    pub fn verdict(&self) -> Verdict {
        self.rounds.iter().fold(Verdict::default(), |mut sum, round| {
            sum += round.verdict;
            sum
        })
    }

    fn median_of(&self, f: impl Fn(&Round) -> f64) -> f64 {
        median(&self.rounds.iter().map(f).collect::<Vec<_>>())
    }

    /// Median CPU seconds of each broker, first broker first.
    fn broker_cpu(&self) -> Vec<f64> {
        (0..self.brokers).map(|b| self.median_of(|r| broker_seconds(r, b))).collect()
    }

    /// Median CPU µs of each broker per delivered message (every delivery of the round).
    fn broker_micros(&self) -> Vec<f64> {
        (0..self.brokers).map(|b| self.median_of(|r| broker_seconds(r, b) * 1e6 / delivered(r))).collect()
    }

    fn postgres_micros_per_delivery(&self) -> f64 {
        self.median_of(|r| r.cpu.postgres * 1e6 / delivered(r))
    }

    fn postgres_micros_per_message(&self) -> f64 {
        self.median_of(postgres_per_message)
    }

    /// The lowest and highest of PostgreSQL's CPU µs per acked message over the rounds.
    fn postgres_range(&self) -> (f64, f64) {
        let values = self.rounds.iter().map(postgres_per_message);
        (values.clone().fold(f64::INFINITY, f64::min), values.fold(0.0, f64::max))
    }

    fn brokers_micros_per_delivery(&self) -> f64 {
        self.median_of(|r| (0..self.brokers).map(|b| broker_seconds(r, b)).sum::<f64>() * 1e6 / delivered(r))
    }

    fn measured(&self) -> bool {
        self.rounds.iter().all(|r| r.cpu.more_brokers.len() + 1 >= self.brokers)
    }
}

fn broker_seconds(round: &Round, broker: usize) -> f64 {
    match broker {
        0 => round.cpu.broker,
        b => round.cpu.more_brokers.get(b - 1).copied().unwrap_or(0.0),
    }
}

fn postgres_per_message(round: &Round) -> f64 {
    round.cpu.postgres * 1e6 / round.acked.max(1) as f64
}

fn delivered(round: &Round) -> f64 {
    round.verdict.delivered.max(1) as f64
}

/// Runs `rounds` rounds of `shape` on the first 1, 2, … `brokers.len()` brokers; `peer`'s
/// account is used on all of them. `postgres` is the cluster's postmaster, if measured.
pub async fn run(
    peer: &JointPeer,
    brokers: &[Broker],
    postgres: Option<u32>,
    shape: Shape,
    rounds: usize,
    tag: &str,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for count in 1..=brokers.len() {
        let used = &brokers[..count];
        let addrs: Vec<String> = used.iter().map(|b| b.addr.clone()).collect();
        let spread = Peer::Joint(peer.spread(&addrs));
        let pids: Option<Vec<u32>> = used.iter().map(|b| b.pid).collect();
        let watched = Watched {
            broker: pids.as_ref().map(|p| p[0]),
            postgres,
            metrics: None,
            more_brokers: pids.map(|p| p[1..].to_vec()).unwrap_or_default(),
        };
        let mut step = Step { brokers: count, rounds: Vec::new() };
        for round in 0..rounds {
            eprintln!("joint-bench: multi-broker: {count} broker(s), round {}/{rounds} ...", round + 1);
            let result = fanout::round(&spread, &watched, shape, &format!("{tag}b{count}r{round}")).await?;
            let v = result.verdict;
            eprintln!(
                "joint-bench:   {:.0} acked/s, {:.0} deliveries/s, lost {} dup {} reordered {}",
                result.acked_per_second,
                result.deliveries_per_second,
                v.lost,
                v.duplicated,
                v.reordered + v.foreign
            );
            step.rounds.push(result);
        }
        steps.push(step);
    }
    Ok(steps)
}

fn joined(values: &[f64], digits: usize) -> String {
    values.iter().map(|v| format!("{v:.digits$}")).collect::<Vec<_>>().join(" / ")
}

/// The report section (without its region markers): the table, then what the figures say;
/// `note` (the machine and its load, say) follows the introduction.
pub fn markdown(steps: &[Step], shape: Shape, note: &str) -> String {
    let mut out = String::new();
    let rounds = steps.first().map_or(0, |s| s.rounds.len());
    let _ = writeln!(
        out,
        "### {}\n\nWorkload 1's shape (G={} groups, S={} subscribers each, M={} messages of {} B per publisher, \
         window {}), its {} subscriber and {} publisher connections given to the brokers in turn, so that with n \
         brokers about (n−1)/n of the deliveries cross brokers: committed on one, told to the others by NOTIFY, \
         read back from PostgreSQL. One database, {rounds} round(s) per line, median. CPU per delivery divides \
         a process's CPU seconds by every delivery of the round; brokers are listed first to last.\n",
        super::super::args::WorkloadKind::MultiBroker.title(),
        shape.groups,
        shape.subscribers,
        shape.messages,
        shape.size,
        shape.window,
        shape.groups * shape.subscribers,
        shape.groups,
    );
    if !note.is_empty() {
        let _ = writeln!(out, "{note}\n");
    }
    out.push_str(
        "| brokers | acked pub/s | deliveries/s | end-to-end p50 / p99 ms | lost / dup / reordered \
         | CPU s each broker | CPU s PostgreSQL | CPU µs per delivery, each broker | brokers together \
         | PostgreSQL µs per delivery / per acked message |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for step in steps {
        let v = step.verdict();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.2} / {:.2} | {} / {} / {} | {} | {:.2} | {} | {:.2} | {:.2} / {:.2} |",
            step.brokers,
            step.median_of(|r| r.acked_per_second),
            step.median_of(|r| r.deliveries_per_second),
            step.median_of(|r| r.end_to_end.percentiles().p50) / 1000.0,
            step.median_of(|r| r.end_to_end.percentiles().p99) / 1000.0,
            v.lost,
            v.duplicated,
            v.reordered + v.foreign,
            joined(&step.broker_cpu(), 2),
            step.median_of(|r| r.cpu.postgres),
            joined(&step.broker_micros(), 2),
            step.brokers_micros_per_delivery(),
            step.postgres_micros_per_delivery(),
            step.postgres_micros_per_message(),
        );
    }
    out.push('\n');
    out.push_str(&limits(steps));
    out
}

/// What the measured costs say about the design's limits and the next step.
fn limits(steps: &[Step]) -> String {
    let (Some(one), Some(most)) = (steps.first(), steps.last()) else { return String::new() };
    if !(one.measured() && most.measured()) || most.brokers < 2 {
        return "CPU was not measured per broker in this run (no pids), so no limit is derived from it.\n".into();
    }
    let mut out = String::from("**Where this design's limits lie, from the figures above.**\n\n");
    let (pg1, pgn) = (one.postgres_micros_per_message(), most.postgres_micros_per_message());
    let (b1, bn) = (one.brokers_micros_per_delivery(), most.brokers_micros_per_delivery());
    let n = most.brokers;
    let all: Vec<String> = steps.iter().map(|s| format!("{:.1}", s.postgres_micros_per_message())).collect();
    let ((low1, high1), (lown, highn)) = (one.postgres_range(), most.postgres_range());
    let within_noise = lown <= high1 && low1 <= highn;
    let _ = writeln!(
        out,
        "- PostgreSQL: {} µs of CPU per acked message with 1 to {n} brokers ({pg1:.1} → {pgn:.1}, {:+.0}%; \
         rounds ranged {low1:.1}–{high1:.1} with one broker, {lown:.1}–{highn:.1} with {n}). {} What the cluster \
         adds to the database per message is the NOTIFY after each commit, its delivery to {} LISTEN \
         connection(s), and the other brokers each reading every committed batch their subscribers need. At \
         {:.1} µs a message (the highest median above) and this fan-out, one fully busy PostgreSQL core commits \
         and serves at most about {:.0} messages/s, however many brokers there are.",
        all.join(" / "),
        percent(pg1, pgn),
        if within_noise {
            "The ranges overlap: on this loaded machine the difference is within run-to-run noise, so this run \
             does not isolate that cost from PostgreSQL's own per-commit work, which dominates."
        } else if pgn > pg1 {
            "The ranges do not overlap: more brokers cost the database more per message."
        } else {
            "The ranges do not overlap, and more brokers cost the database less per message here (fewer, larger \
             commits under the spread load)."
        },
        n - 1,
        steps.iter().map(Step::postgres_micros_per_message).fold(0.0, f64::max),
        1e6 / steps.iter().map(Step::postgres_micros_per_message).fold(0.001, f64::max),
    );
    let _ = writeln!(
        out,
        "- Brokers: together {b1:.2} µs of CPU per delivery with one broker, {bn:.2} µs with {n} ({:+.0}%). \
         Fan-out work is split between them, but every broker decodes each remote batch it has subscribers for \
         once, so the brokers' total grows with their number while each one's share shrinks: a broker is what \
         scales out here.",
        percent(b1, bn),
    );
    let (share1, sharen) = (postgres_share(one), postgres_share(most));
    let _ = writeln!(
        out,
        "- PostgreSQL's share of all the CPU spent (brokers and database) went from {:.0}% with one broker to \
         {:.0}% with {n}. {}",
        share1 * 100.0,
        sharen * 100.0,
        if sharen >= share1 {
            "So adding brokers moves the bottleneck towards the one database."
        } else {
            "So at this load the brokers, not the database, grow the bill as brokers are added."
        },
    );
    out.push_str(
        "- Independently of CPU, each group has a single commit order: its seq is assigned in one transaction \
         at a time, so one group's rate is bounded by its commit latency times its batch size, whatever the \
         number of brokers; groups are spread, a hot group is not.\n",
    );
    out.push_str(
        "- This machine has 2 shared cores for every broker, PostgreSQL and the load generator at once, so the \
         rates above measure the machine; the CPU per message is the figure that carries over to a larger one.\n\n",
    );
    let _ = writeln!(
        out,
        "**Next step.** {}\n",
        if most.postgres_micros_per_delivery() > bn {
            "PostgreSQL costs more per delivery than all the brokers together: take the re-reads off it by \
             carrying the committed batch's bodies from the committing broker to the others (a broker-to-broker \
             stream, with PostgreSQL kept as the source of truth for gaps), and beyond one database's CPU, \
             partition groups over several primaries."
        } else {
            "The brokers together cost more per delivery than PostgreSQL: spreading subscribers of a group onto fewer \
             brokers (group affinity at connection time) would cut the remote batches each broker decodes; past \
             that, PostgreSQL's cost per message sets the ceiling above, and partitioning groups over several \
             primaries is what raises it."
        }
    );
    out
}

fn percent(from: f64, to: f64) -> f64 {
    if from > 0.0 {
        (to - from) / from * 100.0
    } else {
        0.0
    }
}

fn postgres_share(step: &Step) -> f64 {
    let pg = step.postgres_micros_per_delivery();
    let total = pg + step.brokers_micros_per_delivery();
    if total > 0.0 {
        pg / total
    } else {
        0.0
    }
}

/// The section wrapped in its region markers, as the full report carries it.
pub fn region(section: &str) -> String {
    format!("<!-- {REGION}:begin -->\n{section}<!-- {REGION}:end -->\n\n")
}
