//! The results: a progress line per run on stderr, and a table per fault written into the
//! chaos region of RELIABILITY.md.

use crate::args::{Args, Fault};
use crate::checker::Anomalies;
use crate::faults::RunResult;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// A run's progress line.
pub fn progress(run: u32, result: &RunResult) -> String {
    let a = &result.anomalies;
    let recovery = result.recovery.map_or("none".into(), |r| format!("{} ms", r.as_millis()));
    let mut line = format!(
        "joint-chaos: {} run {run}: {} acks, {} deliveries, recovery {recovery}; lost {}, lost from stream {}, \
         duplicated {}, reordered {}, unexpected {}",
        result.fault.name(),
        result.acks,
        result.deliveries,
        a.lost,
        a.lost_from_stream,
        a.duplicated,
        a.reordered,
        a.unexpected
    );
    let _ = write!(line, "; {} lagged; {}", result.lagged, result.injected);
    if let Some((before, during)) = result.freeze_rates {
        let _ = write!(line, "; others' deliveries/s before {before:.0}, during the freeze {during:.0}");
    }
    line
}

/// Every run of one fault, added up.
#[derive(Debug, Default)]
pub struct Summary {
    /// Runs.
    pub runs: u32,
    /// Acks.
    pub acks: u64,
    /// Deliveries.
    pub deliveries: u64,
    /// Publishes abandoned unacknowledged.
    pub abandoned: u64,
    /// Anomalies.
    pub anomalies: Anomalies,
    /// Recovery times of the runs that had one.
    pub recoveries: Vec<Duration>,
    /// Runs after which no ack came.
    pub unrecovered: u32,
    /// (before, during) rates of `subscriber-freeze` runs.
    pub freeze_rates: Vec<(f64, f64)>,
    /// `lagged` events subscribers got.
    pub lagged: u64,
}

/// The runs added up per fault, in the order of `faults`.
pub fn summarize(faults: &[Fault], results: &[RunResult]) -> Vec<(Fault, Summary)> {
    faults
        .iter()
        .map(|&fault| {
            let mut s = Summary::default();
            for r in results.iter().filter(|r| r.fault == fault) {
                s.runs += 1;
                s.acks += r.acks;
                s.deliveries += r.deliveries;
                s.abandoned += r.abandoned;
                s.anomalies += r.anomalies;
                match r.recovery {
                    Some(recovery) => s.recoveries.push(recovery),
                    None => s.unrecovered += 1,
                }
                s.freeze_rates.extend(r.freeze_rates);
                s.lagged += r.lagged;
            }
            s.recoveries.sort();
            (fault, s)
        })
        .collect()
}

fn millis(d: Option<&Duration>) -> String {
    d.map_or("–".into(), |d| format!("{} ms", d.as_millis()))
}

fn median<T: Copy>(sorted: &[T]) -> Option<T> {
    sorted.get(sorted.len() / 2).copied()
}

/// The table of faults and what their runs found; returns it with every anomaly added up.
fn table(summaries: &[(Fault, Summary)]) -> (String, Anomalies) {
    let mut out = String::new();
    out.push_str("| fault | runs | acks | deliveries | lost | lost from stream | duplicated | reordered | unexpected | recovery median | recovery max |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut total = Anomalies::default();
    for (fault, s) in summaries {
        let a = &s.anomalies;
        total += *a;
        let mut max = millis(s.recoveries.last());
        if s.unrecovered > 0 {
            let _ = write!(max, " ({} runs without an ack after the fault)", s.unrecovered);
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {max} |",
            fault.name(),
            s.runs,
            s.acks,
            s.deliveries,
            a.lost,
            a.lost_from_stream,
            a.duplicated,
            a.reordered,
            a.unexpected,
            millis(median(&s.recoveries).as_ref())
        );
    }
    out.push('\n');
    (out, total)
}

/// The region's Markdown: the chaos region for one broker, the nested `chaos-brokers`
/// region for several (`brokers` > 1).
pub fn render(
    command: &str,
    args: &Args,
    brokers: usize,
    seed: u64,
    elapsed: Duration,
    summaries: &[(Fault, Summary)],
) -> String {
    if brokers > 1 {
        return render_several(command, args, brokers, seed, elapsed, summaries);
    }
    let mut out = header("", command, seed, elapsed);
    let _ =
        writeln!(
        out,
        "Load: {} groups per run, each with {} publishers ({} messages/s each, up to {} in flight, {}-byte bodies, \
         every failed publish retried with its cid) and {} subscribers (each resuming after the last seq it saw), \
         through a proxy that can cut client connections; the broker reaches PostgreSQL through a second proxy. \
         Each run: {} ms of load, the fault, {} ms more after the first ack that follows it, then the checker reads \
         every group's whole history through the broker. PostgreSQL unreachable: {} ms (odd runs blackholed, even \
         runs refused and cut); subscriber frozen: {} ms.\n",
        args.groups, args.publishers, args.rate, args.window, args.body_size, args.subscribers, args.warmup_ms,
        args.after_ms, args.outage_ms, args.freeze_ms
    );
    let (rows, total) = table(summaries);
    out.push_str(&rows);
    for (fault, s) in summaries {
        if s.freeze_rates.is_empty() {
            continue;
        }
        let mut before: Vec<f64> = s.freeze_rates.iter().map(|r| r.0).collect();
        let mut during: Vec<f64> = s.freeze_rates.iter().map(|r| r.1).collect();
        before.sort_by(f64::total_cmp);
        during.sort_by(f64::total_cmp);
        let lagged = if s.lagged > 0 {
            format!("subscribers got `lagged` {} times in these runs and were fed from storage", s.lagged)
        } else {
            "its backlog fit in the socket buffers, so the broker never had to send `lagged`".to_owned()
        };
        let _ = writeln!(
            out,
            "{}: while one subscriber read nothing, each other subscriber received {:.0} messages/s (median over \
             runs; lowest run {:.0}), against {:.0} before the freeze; {lagged}; afterwards the frozen one had \
             every message (anything missing would count as lost from stream above).\n",
            fault.name(),
            median(&during).unwrap_or(0.0),
            during.first().copied().unwrap_or(0.0),
            median(&before).unwrap_or(0.0),
        );
    }
    out.push_str(
        "The checker is proven able to fail, in CI (`chaos/tests/chaos.rs`): against a broker built with the \
         test-only `sabotage` feature, acknowledging before the commit is reported as lost, a dropped delivery as \
         lost from stream and a gap, a skipped seq as a gap; a clean run, every fault once, and one of three \
         brokers killed under load report nothing.\n\n",
    );
    let abandoned: u64 = summaries.iter().map(|(_, s)| s.abandoned).sum();
    let _ = writeln!(
        out,
        "Publishes still unacknowledged when a run ended (outcome unknown, so no anomaly either way): {abandoned}. \
         Anomalies in all: {}.",
        total.total()
    );
    out
}

/// A region's first paragraph, after `lead`: the command, its seed, the machine, the date
/// and how long the run took.
fn header(lead: &str, command: &str, seed: u64, elapsed: Duration) -> String {
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    format!(
        "{lead}Command: `{command}` (seed {seed}). Machine: {}. Date: {date}; the run took {} min.\n\n",
        joint_bench::machine::describe(),
        elapsed.as_secs() / 60
    )
}

/// The nested region of runs against several brokers on one PostgreSQL.
fn render_several(
    command: &str,
    args: &Args,
    brokers: usize,
    seed: u64,
    elapsed: Duration,
    summaries: &[(Fault, Summary)],
) -> String {
    let mut out = header("**Several brokers.** ", command, seed, elapsed);
    let _ = writeln!(
        out,
        "{brokers} brokers on the one PostgreSQL, each behind a client proxy of its own. Load as above ({} groups, \
         {} publishers and {} subscribers per group, {} messages/s per publisher), every client given all {brokers} \
         addresses, its list starting at the next broker, so they spread evenly. `broker-kill-one` SIGKILLs one \
         broker ({} ms into the load); its clients move to the next address and resume (publishers retry with \
         their cids, subscribers resume after their last seq, on whichever broker they reach); it is started again \
         {} ms after every publisher was acknowledged again. The checker reads each group's history and checks \
         every subscriber of the whole cluster; recovery here is until the last publisher of the killed broker \
         was acknowledged again.\n",
        args.groups, args.publishers, args.subscribers, args.rate, args.warmup_ms, args.after_ms
    );
    let (rows, total) = table(summaries);
    out.push_str(&rows);
    let abandoned: u64 = summaries.iter().map(|(_, s)| s.abandoned).sum();
    let _ = writeln!(
        out,
        "Publishes still unacknowledged when a run ended: {abandoned}. Anomalies in all: {}.",
        total.total()
    );
    out
}

/// The region, nested at the end of the chaos region, that runs against several brokers
/// rewrite; a run against one broker carries it over.
const SEVERAL: &str = "chaos-brokers";

/// Replaces what lies between the chaos markers of `path` with `content`, keeping the
/// nested region of several brokers; with `several`, replaces only that nested region.
pub fn write_region(path: &Path, content: &str, several: bool) -> Result<()> {
    if several {
        return joint_bench::region::rewrite(path, SEVERAL, content);
    }
    let document = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (begin, end) = (format!("<!-- {SEVERAL}:begin -->"), format!("<!-- {SEVERAL}:end -->"));
    let kept = document
        .find(&begin)
        .and_then(|start| document[start..].find(&end).map(|len| &document[start..start + len + end.len()]));
    let content = match kept {
        Some(kept) => format!("{content}\n{kept}\n"),
        None => content.to_owned(),
    };
    joint_bench::region::rewrite(path, "chaos", &content)
}

#[cfg(test)]
mod tests {
    use super::write_region;

    #[test]
    fn a_one_broker_report_keeps_the_several_brokers_region_and_vice_versa() {
        let path = std::env::temp_dir().join(format!("chaos-region-{}.md", std::process::id()));
        let nested = "<!-- chaos-brokers:begin -->\nthree\n<!-- chaos-brokers:end -->";
        std::fs::write(&path, format!("# R\n<!-- chaos:begin -->\nold\n{nested}\n<!-- chaos:end -->\nrest\n")).unwrap();
        write_region(&path, "one broker\n", false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("# R\n<!-- chaos:begin -->\none broker\n\n{nested}\n<!-- chaos:end -->\nrest\n"));
        write_region(&path, "several\n", true).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("one broker\n")
                && text.contains("<!-- chaos-brokers:begin -->\nseveral\n<!-- chaos-brokers:end -->"),
            "{text}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
