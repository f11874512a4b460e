//! The results as Markdown: per workload, one row per peer, each figure the median over the
//! rounds with the spread (lowest–highest) beside it.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;

use crate::args::WorkloadKind;
use crate::checker::Verdict;
use crate::plot;
use crate::workloads::fanout::Round;
use crate::workloads::idle::Idle;
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
    /// One entry per round.
    pub rounds: Vec<Round>,
}

impl Series {
    /// Losses, duplicates and reorderings over all rounds.
    pub fn verdict(&self) -> Verdict {
        let mut total = Verdict::default();
        self.rounds.iter().for_each(|round| total += round.verdict);
        total
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
            "### {}\n\nG={} groups, S={} subscribers per group, M={} messages of B={} bytes per publisher, \
             W={} unacknowledged at most; {rounds} round(s), median (lowest–highest).\n",
            workload.title(),
            shape.groups,
            shape.subscribers,
            shape.messages,
            shape.size,
            shape.window,
        );
        out.push_str(
            "| peer | acked pub/s | deliveries/s | ack p50 / p99 / max ms | end-to-end p50 / p99 / max ms \
             | lost / dup / reordered | CPU s broker / PostgreSQL / generator | broker CPU µs per delivery \
             | messages per commit |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for series in rows {
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
    }
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
        let charts = [
            (
                format!("{slug}-throughput.svg"),
                plot::bars(&format!("{}: acked publishes/s", workload.title()), "/s", &throughput),
            ),
            (
                format!("{slug}-latency.svg"),
                plot::bars(&format!("{}: end-to-end latency", workload.title()), "ms", &latency),
            ),
        ];
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
