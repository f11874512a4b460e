//! The soak's Markdown: parameters, the verdict, a row per minute and anomalies, written
//! into the `soak` region of RELIABILITY.md.

use std::fmt::Write;

use super::samples::{mib, Series, Verdict, MAX_RSS_GROWTH};
use super::Plan;

/// What the report says besides the samples.
#[derive(Debug, Clone)]
pub struct Context {
    /// The command that reproduces the run.
    pub command: String,
    /// When the run started, as text.
    pub started: String,
    /// The machine, as text (CPU, cores, memory).
    pub machine: String,
    /// How many descriptors the churn may add to a sample.
    pub fd_allowance: u64,
}

/// The report section: parameters, the verdict, one row per minute, anomalies.
pub fn markdown(plan: &Plan, series: &Series, anomalies: &[String], context: &Context) -> String {
    let load = &plan.load;
    let mut out = String::new();
    let _ = writeln!(out, "Written by `{}`, started {}.", context.command, context.started);
    let _ = writeln!(out);
    let _ = writeln!(out, "- Machine: {}.", context.machine);
    let _ = writeln!(
        out,
        "- Run: {}, the first {} a warm-up that is not judged; a sample every {} s of the broker's \
         RSS (`VmRSS`) and open descriptors (`/proc/PID/fd`). A password check in flight holds scrypt's \
         memory (32 MiB at the default cost) while it runs, hence the odd high sample.",
        span(plan.duration),
        span(plan.warm_up),
        plan.interval.as_secs()
    );
    let _ = writeln!(
        out,
        "- Load, all at once: {} groups with one publisher each, {:.0} messages/s in total of {} B, one at a time \
         with a cid; {} steady subscribers per group; {} subscribers that connect, read 1-3 s, disconnect and \
         resume with `after`, over and over; {} history readers (5 pages/s each); a password login, rename and \
         logout every 2 s; a group created with two members, given 5 messages, a member removed and added back, \
         marked read and deleted every 3 s. Each group's seqs are checked gapless and in order by every \
         subscriber (across resumes too) and by every history page.",
        load.groups, load.rate, load.size, load.subscribers, load.churners, load.readers
    );
    let _ = writeln!(out);
    match series.verdict() {
        Some(verdict) => verdict_lines(&mut out, &verdict, context.fd_allowance),
        None => {
            let _ = writeln!(out, "**No verdict**: the run was too short to compare two minutes after the warm-up.");
        }
    }
    let _ = writeln!(out);
    if anomalies.is_empty() {
        let _ = writeln!(out, "Anomalies: none (no gap, duplicate or disorder seen by any check).");
    } else {
        let _ = writeln!(out, "**Anomalies: {}**", anomalies.len());
        for anomaly in anomalies.iter().take(20) {
            let _ = writeln!(out, "- {anomaly}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| minute | RSS MiB | fds | published | delivered | reconnects | history pages | logins | groups cycled |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut next_minute = 0;
    for (i, s) in series.samples.iter().enumerate() {
        let last = i + 1 == series.samples.len();
        if s.at.as_secs() < next_minute * 60 && !last {
            continue;
        }
        next_minute = s.at.as_secs() / 60 + 1;
        let _ = writeln!(
            out,
            "| {:.1} | {:.1} | {} | {} | {} | {} | {} | {} | {} |",
            s.at.as_secs_f64() / 60.0,
            mib(s.rss),
            s.fds,
            s.published,
            s.delivered,
            s.reconnects,
            s.pages,
            s.logins,
            s.groups_cycled
        );
    }
    out
}

/// A duration as "35 minutes", or "90 s" when it is not whole minutes.
fn span(duration: std::time::Duration) -> String {
    match duration.as_secs() {
        secs if secs % 60 == 0 => format!("{} minutes", secs / 60),
        secs => format!("{secs} s"),
    }
}

/// The verdict as a few lines of Markdown.
fn verdict_lines(out: &mut String, verdict: &Verdict, fd_allowance: u64) {
    let outcome = if verdict.passes(fd_allowance) { "**flat**" } else { "**NOT flat**" };
    let _ = writeln!(
        out,
        "Verdict: {outcome}. RSS, median of the first minute after the warm-up → of the last minute: \
         {:.1} → {:.1} MiB ({:+.2} %, limit {:.0} %; highest sample {:.1} MiB). Descriptors: {} → {} \
         (allowed: {} more, the connections the workload keeps opening and closing; range {}-{}).",
        mib(verdict.rss_start),
        mib(verdict.rss_end),
        verdict.rss_growth() * 100.0,
        MAX_RSS_GROWTH * 100.0,
        mib(verdict.rss_max),
        verdict.fds_start,
        verdict.fds_end,
        fd_allowance,
        verdict.fds_range.0,
        verdict.fds_range.1
    );
}
