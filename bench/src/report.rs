//! The results as Markdown: per workload, one row per peer, each figure the median over the
//! rounds with the spread (lowest–highest) beside it.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;

use crate::args::WorkloadKind;
use crate::checker::Verdict;
use crate::latency::Latency;
use crate::plot;
use crate::workloads::fanout::Round;
use crate::workloads::history::{self, Filled, Pages};
use crate::workloads::idle::Idle;
use crate::workloads::login::{self, Logins};
use crate::workloads::Shape;

/// The rounds of one workload on one peer.
#[derive(Debug, Clone)]
pub struct Series {
    /// Which workload.
    pub workload: WorkloadKind,
    /// Its shape as run.
    pub shape: Shape,
    /// The peer's name.
    pub peer: &'static str,
    /// One entry per round that completed.
    pub rounds: Vec<Round>,
    /// Why the rounds that did not complete failed (e.g. a publish refused `unavailable`).
    pub failures: Vec<String>,
}

impl Series {
    /// Losses, duplicates and reorderings over all rounds.
    pub fn verdict(&self) -> Verdict {
        let mut total = Verdict::default();
        self.rounds.iter().for_each(|round| total += round.verdict);
        total
    }

    /// The slow subscriber's losses, duplicates and reorderings over all rounds (workload 5).
    pub fn slow_verdict(&self) -> Option<Verdict> {
        self.rounds.iter().filter_map(|round| round.slow).map(|slow| slow.verdict).reduce(|mut total, verdict| {
            total += verdict;
            total
        })
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// "median (lowest–highest)" with `decimals` digits; the median alone for one round.
fn cell(values: &[f64], decimals: usize) -> String {
    let median = median(values);
    if values.len() < 2 {
        return format!("{median:.decimals$}");
    }
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{median:.decimals$} ({low:.decimals$}–{high:.decimals$})")
}

/// The Markdown section of every series, grouped by workload in the order given.
pub fn markdown(series: &[Series]) -> String {
    let mut out = String::new();
    let mut workloads: Vec<WorkloadKind> = series.iter().map(|s| s.workload).collect();
    workloads.dedup();
    for workload in workloads {
        let rows: Vec<&Series> = series.iter().filter(|s| s.workload == workload).collect();
        let shape = rows[0].shape;
        let rounds = rows[0].rounds.len();
        let _ = writeln!(
            out,
            "### {}\n\n{}; {rounds} round(s), median (lowest–highest).\n",
            workload.title(),
            describe(shape)
        );
        if let Some(gate) = gate(workload) {
            let _ = writeln!(out, "{gate}\n");
        }
        out.push_str(
            "| peer | acked pub/s | deliveries/s | ack p50 / p99 / max ms | end-to-end p50 / p99 / max ms \
             | lost / dup / reordered | CPU s broker / PostgreSQL / generator | broker CPU µs per delivery \
             | messages per commit |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for series in &rows {
            let of = |f: &dyn Fn(&Round) -> f64| series.rounds.iter().map(f).collect::<Vec<f64>>();
            let ms = |values: Vec<f64>| cell(&values.iter().map(|us| us / 1000.0).collect::<Vec<_>>(), 2);
            let verdict = series.verdict();
            let batches: Vec<f64> = series.rounds.iter().filter_map(|r| r.mean_batch).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} / {} / {} | {} / {} / {} | {} / {} / {} | {} / {} / {} | {} | {} |",
                series.peer,
                cell(&of(&|r| r.acked_per_second), 0),
                cell(&of(&|r| r.deliveries_per_second), 0),
                ms(of(&|r| r.ack_latency.percentiles().p50)),
                ms(of(&|r| r.ack_latency.percentiles().p99)),
                ms(of(&|r| r.ack_latency.percentiles().max)),
                ms(of(&|r| r.end_to_end.percentiles().p50)),
                ms(of(&|r| r.end_to_end.percentiles().p99)),
                ms(of(&|r| r.end_to_end.percentiles().max)),
                verdict.lost,
                verdict.duplicated,
                verdict.reordered + verdict.foreign,
                cell(&of(&|r| r.cpu.broker), 2),
                cell(&of(&|r| r.cpu.postgres), 2),
                cell(&of(&|r| r.cpu.generator), 2),
                cell(&of(&|r| r.cpu_micros_per_delivery()), 2),
                if batches.is_empty() { "–".to_string() } else { cell(&batches, 1) },
            );
        }
        out.push('\n');
        for series in &rows {
            for failure in &series.failures {
                let _ = writeln!(out, "- {} failed a round: {failure}", series.peer);
            }
        }
        if rows.iter().any(|series| !series.failures.is_empty()) {
            out.push('\n');
        }
        if workload == WorkloadKind::SlowSubscriber {
            out.push_str(&slow_markdown(&rows));
        }
    }
    out
}

/// The shape in words.
fn describe(shape: Shape) -> String {
    let common = format!(
        "G={} groups, S={} subscribers per group, M={} messages of B={} bytes per publisher",
        shape.groups, shape.subscribers, shape.messages, shape.size
    );
    let mut text = match shape.rate {
        Some(rate) => format!(
            "{common}; open loop: each publisher sends {rate:.0} msg/s ({:.0} msg/s in total) on a fixed schedule \
             for {:.1} s whatever its acknowledgements, and latency counts from the scheduled send time (no \
             coordinated omission)",
            rate * shape.groups as f64,
            shape.messages as f64 / rate,
        ),
        None => format!("{common}, W={} unacknowledged at most", shape.window),
    };
    if let Some((from, to)) = shape.pause {
        let _ = write!(
            text,
            "; the first subscriber of the first group stops reading from t={:.1} s to t={:.1} s (its figures are \
             in the table below, the others' in this one)",
            from.as_secs_f64(),
            to.as_secs_f64()
        );
    }
    text
}

/// The gate for a fan-out workload, if it has one.
fn gate(workload: WorkloadKind) -> Option<&'static str> {
    match workload {
        WorkloadKind::FixedRate => Some("Gate (Joint): end-to-end p99 ≤ 10 ms."),
        WorkloadKind::SlowSubscriber => Some(
            "Gate (Joint): the other subscribers keep ≥ 90% of their throughput while the slow one does not read, \
             the broker's RSS stays bounded, and the slow one ends with every message in order.",
        ),
        WorkloadKind::Throughput => Some("Gate (Joint): ≥ 3 × Mosquitto's acked pub/s, 0 lost / dup / reordered."),
        WorkloadKind::OneAtATime => Some("Gate (Joint): end-to-end p50 ≤ 0.8 ms and p99 ≤ 2.5 ms."),
        WorkloadKind::Idle | WorkloadKind::History | WorkloadKind::Login | WorkloadKind::MultiBroker => None,
    }
}

/// Workload 5's own table (one row per round and peer) and what each peer did to the reader.
fn slow_markdown(rows: &[&Series]) -> String {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let mut out = String::from(
        "| peer | round | others' deliveries/s before the pause | during it | kept | slow subscriber delivered / lost \
         / dup / reordered | subscriptions lagged | broker RSS min / max MiB | broker RSS every second, MiB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for series in rows {
        for (r, round) in series.rounds.iter().enumerate() {
            let Some(slow) = round.slow else { continue };
            let v = slow.verdict;
            let rss: Vec<String> = round.rss.iter().map(|&bytes| format!("{:.0}", mib(bytes))).collect();
            let (low, high) = (round.rss.iter().min().copied(), round.rss.iter().max().copied());
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {:.1}% | {} / {} / {} / {} | {} | {} | {} |",
                series.peer,
                r + 1,
                slow.others_before,
                slow.others_during,
                slow.kept() * 100.0,
                v.delivered,
                v.lost,
                v.duplicated,
                v.reordered + v.foreign,
                round.lagged.map_or("–".to_string(), |lagged| format!("{lagged:.0}")),
                match (low, high) {
                    (Some(low), Some(high)) => format!("{:.1} / {:.1}", mib(low), mib(high)),
                    _ => "–".to_string(),
                },
                if rss.is_empty() { "–".to_string() } else { rss.join(" ") },
            );
        }
    }
    out.push_str(
        "\nWhat each peer does with the reader that stops reading (the lost column above is what happened):\n\n\
         - Joint: the subscriber's client stops reading its socket once 1,024 events wait unread, so the backlog \
         stays with the broker, which stops pushing live messages to that subscription (`lagged`, counted in \
         \"subscriptions lagged\" from its metrics) and feeds it from PostgreSQL when it reads on; nothing is \
         dropped and the broker keeps no per-subscriber queue beyond 256 messages.\n\
         - Mosquitto: `scripts/bench` sets `max_queued_messages 0` (no limit), so Mosquitto queues the whole \
         backlog in its memory (see its RSS); with the default limit of 1,000 it would drop QoS 1 messages \
         beyond it, and the lost column would show them.\n\
         - NATS: subscribers are core NATS subscriptions (as in the other workloads): nats-server buffers a \
         slow consumer's backlog up to its pending limit and then cuts the connection off, and async-nats drops \
         messages when its subscription buffer is full; either shows as lost deliveries. A JetStream consumer \
         would replay them, at the cost of acknowledging every delivery.\n\
         - Every peer: the kernel's socket buffers (on Linux up to the maximum of `tcp_rmem` plus `tcp_wmem`) \
         hold the first part of a backlog; a backlog smaller than them never reaches the broker, and then \
         Joint lags no subscription and Mosquitto's memory does not grow.\n\n",
    );
    out
}

/// Writes two SVG charts per fan-out workload into `dir` (acked publishes/s, and end-to-end
/// p50 and p99, medians over the rounds) and returns Markdown that shows them, linked as
/// `<last component of dir>/<file>`: put `dir` next to the report.
pub fn plots(series: &[Series], dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    let link = dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut workloads: Vec<WorkloadKind> = series.iter().map(|s| s.workload).collect();
    workloads.dedup();
    let mut out = String::new();
    for workload in workloads {
        let rows: Vec<&Series> = series.iter().filter(|s| s.workload == workload).collect();
        let slug = workload.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        let median_of = |s: &Series, f: &dyn Fn(&Round) -> f64| median(&s.rounds.iter().map(f).collect::<Vec<_>>());
        let throughput: Vec<(String, f64)> =
            rows.iter().map(|s| (s.peer.to_string(), median_of(s, &|r| r.acked_per_second))).collect();
        let mut latency = Vec::new();
        for s in &rows {
            latency.push((format!("{} p50", s.peer), median_of(s, &|r| r.end_to_end.percentiles().p50) / 1000.0));
            latency.push((format!("{} p99", s.peer), median_of(s, &|r| r.end_to_end.percentiles().p99) / 1000.0));
        }
        let mut charts = vec![
            (
                format!("{slug}-throughput.svg"),
                plot::bars(&format!("{}: acked publishes/s", workload.title()), "/s", &throughput),
            ),
            (
                format!("{slug}-latency.svg"),
                plot::bars(&format!("{}: end-to-end latency", workload.title()), "ms", &latency),
            ),
        ];
        if workload == WorkloadKind::SlowSubscriber {
            let mut kept = Vec::new();
            for s in &rows {
                let during = |r: &Round| r.slow.map_or(0.0, |slow| slow.others_during);
                let before = |r: &Round| r.slow.map_or(0.0, |slow| slow.others_before);
                kept.push((format!("{} before", s.peer), median_of(s, &before)));
                kept.push((format!("{} during", s.peer), median_of(s, &during)));
            }
            charts.push((
                format!("{slug}-others.svg"),
                plot::bars(&format!("{}: the others' deliveries/s", workload.title()), "/s", &kept),
            ));
        }
        for (file, svg) in charts {
            std::fs::write(dir.join(&file), svg)?;
            let _ = writeln!(out, "![{} {file}]({link}/{file})", workload.title());
        }
        out.push('\n');
    }
    Ok(out)
}

/// The Markdown section of the idle workload (Joint only, one round).
pub fn idle_markdown(idle: &Idle) -> String {
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    format!(
        "### {}\n\nJoint only, one round: {} connections, each signed in by the shared token, having fetched a \
         history page of 100 messages (256 KiB of bodies) and subscribed, then idle with the client's keep-alive.\n\n\
         \"RSS per connection\" divides all the memory added since before the first connection; \"one more \
         connection\" divides what the connections after the first {} (the warm-up) added.\n\n\
         | connections | broker RSS before | broker RSS with them | RSS per connection | one more connection | gate |\n\
         |---|---|---|---|---|---|\n\
         | {} | {:.1} MiB | {:.1} MiB | {:.2} KiB | {:.2} KiB | ≤ 8 KiB |\n\n",
        WorkloadKind::Idle.title(),
        idle.connections,
        idle.warm,
        idle.connections,
        mib(idle.rss_before),
        mib(idle.rss_after),
        idle.bytes_per_connection() / 1024.0,
        idle.marginal_bytes_per_connection() / 1024.0,
    )
}

/// "p50 / p99 / max" in milliseconds.
fn millis(latency: &Latency) -> String {
    let p = latency.percentiles();
    format!("{:.2} / {:.2} / {:.2}", p.p50 / 1000.0, p.p99 / 1000.0, p.max / 1000.0)
}

/// The Markdown section of the history workload (Joint only, one round).
pub fn history_markdown(filled: &Filled, pages: &Pages, load: &Round, load_shape: Shape) -> String {
    let e2e = load.end_to_end.percentiles();
    let v = load.verdict;
    format!(
        "### {}\n\nJoint only, one round. The group holds {} messages of 200 bytes, filled through the broker by \
         one publisher with {} publishes pipelined (every one a committed, acknowledged publish; {:.1} s, {:.0} \
         msg/s). Then {} readers, each on its own connection, fetch pages of {} at a random `before` back to back \
         while workload 2's load runs on other groups ({}). Every page is checked: exactly the {} messages before \
         `before`, in order, each with the body it was published with.\n\nGate: p99 of a page ≤ 5 ms.\n\n\
         | pages | pages/s | page p50 / p99 / max ms | wrong pages | load acked pub/s | load end-to-end p50 / p99 ms \
         | load lost / dup / reordered |\n|---|---|---|---|---|---|---|\n\
         | {} | {:.0} | {} | {} | {:.0} | {:.2} / {:.2} | {} / {} / {} |\n\n",
        WorkloadKind::History.title(),
        filled.messages,
        history::FILL_WINDOW,
        filled.seconds,
        filled.messages as f64 / filled.seconds.max(f64::MIN_POSITIVE),
        history::READERS,
        history::PAGE,
        describe(load_shape),
        history::PAGE,
        pages.pages,
        pages.pages as f64 / pages.seconds.max(f64::MIN_POSITIVE),
        millis(&pages.latency),
        pages.wrong,
        load.acked_per_second,
        e2e.p50 / 1000.0,
        e2e.p99 / 1000.0,
        v.lost,
        v.duplicated,
        v.reordered + v.foreign,
    )
}

/// The Markdown section of the login workload (Joint only, one round).
pub fn login_markdown(logins: &Logins) -> String {
    format!(
        "### {}\n\nJoint only, one round, at the broker's scrypt cost (`scripts/bench` runs it at the default: \
         N = 2^15, r = 8, p = 1). Steady: {} clients log in back to back for {:.1} s, each login on a fresh \
         connection (login is for anonymous connections). Burst: {} connected clients send `login` at once; \
         the hasher computes as many hashes at once as the broker has cores and queues a bounded number more \
         (`--hash-queue`, 64 by default), and answers the rest `unavailable` at once.\n\n\
         | steady logins/s | steady `unavailable` | steady login p50 / p99 / max ms | burst clients | succeeded | `unavailable` | other \
         errors | succeeded p50 / p99 / max ms | `unavailable` p50 / p99 / max ms |\n|---|---|---|---|---|---|---|---|---|\n\
         | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |\n\n",
        WorkloadKind::Login.title(),
        login::STEADY_CLIENTS,
        logins.seconds,
        login::BURST,
        logins.per_second(),
        logins.steady_unavailable,
        millis(&logins.steady_latency),
        login::BURST,
        logins.burst_ok,
        logins.burst_unavailable,
        logins.burst_other,
        millis(&logins.burst_ok_latency),
        millis(&logins.burst_unavailable_latency),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn a_cell_shows_the_spread() {
        assert_eq!(cell(&[10.0, 30.0, 20.0], 0), "20 (10–30)");
        assert_eq!(cell(&[1.5], 1), "1.5");
    }
}
