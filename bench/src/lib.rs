//! `joint-bench`: the same workloads against Joint, Mosquitto and NATS JetStream, side by
//! side. Each message carries its publisher, sequence and send time, so every subscriber
//! checks for lost, duplicated and reordered deliveries and measures end-to-end latency;
//! CPU seconds come from `/proc`. `scripts/bench` starts the brokers and calls this.

pub mod args;
pub mod checker;
pub mod latency;
pub mod machine;
pub mod metrics;
pub mod payload;
pub mod peers;
pub mod plot;
pub mod procstat;
pub mod region;
pub mod report;
pub mod soak;
pub mod workloads;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;

use args::{Args, WorkloadKind};
use checker::Verdict;
use peers::{JointPeer, MqttPeer, NatsPeer, Peer};
use report::Series;
use workloads::fanout::{self, Watched};

/// Runs every chosen workload on every given peer, interleaving the peers round by round so
/// that a change in the machine's load hits all of them alike, and writes the report.
/// Fails after writing it if any delivery was lost, duplicated or reordered.
pub async fn run(args: Args) -> Result<()> {
    // Hundreds of connections, both ends in this process: the default 1,024 is too few.
    rlimit::increase_nofile_limit(u64::MAX)?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let mut peers: Vec<(Peer, Watched)> = Vec::new();
    if let Some(addr) = &args.joint {
        let login = format!("bench{stamp}{}", std::process::id());
        let watched = Watched {
            broker: args.joint_pid,
            postgres: args.postgres_pid,
            metrics: args.joint_metrics.clone(),
            more_brokers: Vec::new(),
        };
        peers.push((Peer::Joint(JointPeer::connect(addr, &login).await?), watched));
    }
    if let Some(addr) = &args.mosquitto {
        peers.push((
            Peer::Mosquitto(MqttPeer::new(addr)?),
            Watched { broker: args.mosquitto_pid, ..Watched::default() },
        ));
    }
    if let Some(addr) = &args.nats {
        peers.push((
            Peer::Nats(NatsPeer::connect(addr).await?),
            Watched { broker: args.nats_pid, ..Watched::default() },
        ));
    }
    if args.workloads.contains(&WorkloadKind::Idle) && (args.joint.is_none() || args.joint_pid.is_none()) {
        bail!("the idle workload measures the Joint broker's memory: give --joint and --joint-pid");
    }
    let joint_only = [WorkloadKind::History, WorkloadKind::Login];
    if args.joint.is_none() && args.workloads.iter().any(|w| joint_only.contains(w)) {
        bail!("the history and login workloads measure Joint only: give --joint");
    }
    if peers.is_empty() {
        bail!("no peer to benchmark: give --joint, --mosquitto or --nats");
    }

    let mut series = Vec::new();
    let mut sections = String::new();
    let mut problems = Vec::new();
    for (w, &workload) in args.workloads.iter().enumerate() {
        let Some(shape) = workload.shape(args.scale) else {
            let tag = format!("b{stamp}w{w}");
            sections.push_str(&run_joint_only(&args, &peers, workload, &tag, &mut problems).await?);
            continue;
        };
        let first = series.len();
        for (peer, _) in &peers {
            series.push(Series { workload, shape, peer: peer.name(), rounds: Vec::new(), failures: Vec::new() });
        }
        let rounds = workload.rounds(args.rounds);
        for round in 0..rounds {
            for (p, (peer, watched)) in peers.iter().enumerate() {
                eprintln!("joint-bench: {} round {}/{} on {} ...", workload.title(), round + 1, rounds, peer.name());
                let tag = format!("b{stamp}w{w}r{round}p{p}");
                // A failed round (a publish refused `unavailable`, a dropped connection) is
                // reported and fails the run at the end; the other rounds and peers still run.
                let result = match fanout::round(peer, watched, shape, &tag).await {
                    Ok(result) => result,
                    Err(error) => {
                        let failure = format!("round {}: {error:#}", round + 1);
                        eprintln!("joint-bench:   failed: {failure}");
                        problems.push(format!("{} on {}: {failure}", workload.title(), peer.name()));
                        series[first + p].failures.push(failure);
                        continue;
                    }
                };
                let e2e = result.end_to_end.percentiles();
                eprintln!(
                    "joint-bench:   {:.0} acked/s, {:.0} deliveries/s, end-to-end p50 {:.2} ms p99 {:.2} ms, \
                     lost {} dup {} reordered {}",
                    result.acked_per_second,
                    result.deliveries_per_second,
                    e2e.p50 / 1000.0,
                    e2e.p99 / 1000.0,
                    result.verdict.lost,
                    result.verdict.duplicated,
                    result.verdict.reordered + result.verdict.foreign,
                );
                if let Some(slow) = result.slow {
                    eprintln!(
                        "joint-bench:   the others kept {:.1}% of their deliveries/s; the slow one: lost {} dup {} \
                         reordered {}; broker RSS at most {:.1} MiB",
                        slow.kept() * 100.0,
                        slow.verdict.lost,
                        slow.verdict.duplicated,
                        slow.verdict.reordered + slow.verdict.foreign,
                        result.rss.iter().max().copied().unwrap_or(0) as f64 / (1024.0 * 1024.0),
                    );
                }
                series[first + p].rounds.push(result);
            }
        }
    }
    let plots = match &args.plots {
        Some(dir) => report::plots(&series, dir)?,
        None => String::new(),
    };
    std::fs::write(&args.out, report::markdown(&series) + &plots + &sections)?;
    eprintln!("joint-bench: wrote {}", args.out.display());
    let wrong = |v: Verdict| v.lost + v.duplicated + v.reordered + v.foreign > 0;
    for s in &series {
        if wrong(s.verdict()) {
            problems.push(format!("{} on {}: {:?}", s.workload.title(), s.peer, s.verdict()));
        }
        // Only Joint promises the slow subscriber everything: what the others do to it is
        // reported, not a failure of the run.
        if let Some(slow) = s.slow_verdict().filter(|&v| s.peer == "Joint" && wrong(v)) {
            problems.push(format!("{} on {}, the slow subscriber: {slow:?}", s.workload.title(), s.peer));
        }
    }
    if !problems.is_empty() {
        bail!("deliveries went wrong: {}", problems.join("; "));
    }
    Ok(())
}

/// Runs a Joint-only workload (idle, history, login) and returns its report section; what
/// went wrong without ending the run goes to `problems`.
async fn run_joint_only(
    args: &Args,
    peers: &[(Peer, Watched)],
    workload: WorkloadKind,
    tag: &str,
    problems: &mut Vec<String>,
) -> Result<String> {
    let joint = peers.iter().find_map(|(peer, watched)| match peer {
        Peer::Joint(joint) => Some((peer, joint, watched)),
        _ => None,
    });
    let Some((peer, joint, watched)) = joint else {
        bail!("{} needs --joint", workload.title());
    };
    match workload {
        WorkloadKind::Idle => run_idle(args, peers, tag).await,
        WorkloadKind::History => {
            let section = run_history(args, peer, joint, watched, tag).await?;
            if let Some(problem) = section.1 {
                problems.push(problem);
            }
            Ok(section.0)
        }
        WorkloadKind::Login => {
            let steady = Duration::from_secs_f64((10.0 * args.scale).max(1.0));
            eprintln!("joint-bench: {} on Joint ...", workload.title());
            let logins = workloads::login::run(joint, steady).await?;
            eprintln!(
                "joint-bench:   {:.1} logins/s; {} at once: {} succeeded, {} unavailable, {} other errors",
                logins.per_second(),
                workloads::login::BURST,
                logins.burst_ok,
                logins.burst_unavailable,
                logins.burst_other
            );
            if logins.burst_other > 0 {
                problems.push(format!("{}: {} burst logins failed otherwise", workload.title(), logins.burst_other));
            }
            Ok(report::login_markdown(&logins))
        }
        WorkloadKind::MultiBroker => {
            let section = run_multi_broker(args, joint, watched, tag).await?;
            if let Some(problem) = section.1 {
                problems.push(problem);
            }
            Ok(section.0)
        }
        other => bail!("{} is not a Joint-only workload", other.title()),
    }
}

/// Fills the history group, then runs workload 2's load on Joint with the history readers
/// alongside; returns the report section and what went wrong, if anything.
async fn run_history(
    args: &Args,
    peer: &Peer,
    joint: &JointPeer,
    watched: &Watched,
    tag: &str,
) -> Result<(String, Option<String>)> {
    let messages = ((1_000_000.0 * args.scale).round() as u64).max(workloads::history::PAGE);
    eprintln!("joint-bench: {} on Joint: filling a group with {messages} messages ...", WorkloadKind::History.title());
    let filled = workloads::history::fill(joint, &format!("{tag}h"), messages).await?;
    eprintln!("joint-bench:   filled in {:.1} s; reading pages during workload 2's load ...", filled.seconds);
    let shape = WorkloadKind::FixedRate.shape(args.scale).context("workload 2 has a shape")?;
    let (stop_tx, stop) = watch::channel(false);
    let load = async {
        let round = fanout::round(peer, watched, shape, tag).await;
        stop_tx.send_replace(true);
        round
    };
    let (load, pages) = tokio::join!(load, workloads::history::read(joint, &filled, workloads::history::READERS, stop));
    let (load, pages) = (load?, pages?);
    let page = pages.latency.percentiles();
    eprintln!(
        "joint-bench:   {} pages, p50 {:.2} ms p99 {:.2} ms, {} wrong",
        pages.pages,
        page.p50 / 1000.0,
        page.p99 / 1000.0,
        pages.wrong
    );
    let v = load.verdict;
    let problem = (pages.wrong > 0 || v.lost + v.duplicated + v.reordered + v.foreign > 0)
        .then(|| format!("{}: {} wrong pages, load {v:?}", WorkloadKind::History.title(), pages.wrong));
    Ok((report::history_markdown(&filled, &pages, &load, shape), problem))
}

/// Runs workload 1's shape on 1, 2, … brokers (--joint, then each of --joint-more); returns
/// the report section in its region markers (also written into --rewrite-region's file)
/// and what went wrong, if anything.
async fn run_multi_broker(
    args: &Args,
    joint: &JointPeer,
    watched: &Watched,
    tag: &str,
) -> Result<(String, Option<String>)> {
    use workloads::multi_broker::{self, Broker};
    let first = Broker { addr: args.joint.clone().context("--joint")?, pid: args.joint_pid };
    let pids = args.joint_more_pids.iter().map(|&pid| Some(pid)).chain(std::iter::repeat(None));
    let more = args.joint_more.iter().zip(pids).map(|(addr, pid)| Broker { addr: addr.clone(), pid });
    let brokers: Vec<Broker> = std::iter::once(first).chain(more).collect();
    let shape = WorkloadKind::Throughput.shape(args.scale).context("workload 1 has a shape")?;
    let load = || {
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
    };
    let before = load();
    let steps = multi_broker::run(joint, &brokers, watched.postgres, shape, args.rounds, tag).await?;
    let note = format!(
        "Measured on {}; load average (1, 5, 15 min) {before} before and {} after this workload (a load above \
         the core count means other work competed for the cores).",
        machine::describe(),
        load(),
    );
    let section = multi_broker::markdown(&steps, shape, &note);
    if let Some(path) = &args.rewrite_region {
        region::rewrite(path, multi_broker::REGION, &section)?;
        eprintln!("joint-bench: rewrote the {} region of {}", multi_broker::REGION, path.display());
    }
    let wrong: Vec<String> = steps
        .iter()
        .map(|step| (step.brokers, step.verdict()))
        .filter(|(_, v)| v.lost + v.duplicated + v.reordered + v.foreign > 0)
        .map(|(brokers, v)| format!("{} with {brokers} broker(s): {v:?}", WorkloadKind::MultiBroker.title()))
        .collect();
    Ok((multi_broker::region(&section), (!wrong.is_empty()).then(|| wrong.join("; "))))
}

/// Runs the idle workload on the Joint peer and returns its report section.
async fn run_idle(args: &Args, peers: &[(Peer, Watched)], tag: &str) -> Result<String> {
    let joint = peers.iter().find_map(|(peer, watched)| match peer {
        Peer::Joint(joint) => Some((joint, watched.broker)),
        _ => None,
    });
    let Some((joint, Some(broker))) = joint else {
        bail!("the idle workload needs --joint and --joint-pid");
    };
    eprintln!("joint-bench: {} on Joint: {} connections ...", WorkloadKind::Idle.title(), args.idle_connections);
    let idle = workloads::idle::run(joint, broker, args.idle_connections, tag).await?;
    eprintln!(
        "joint-bench:   {:.2} KiB of broker RSS per connection, {:.2} KiB for one more",
        idle.bytes_per_connection() / 1024.0,
        idle.marginal_bytes_per_connection() / 1024.0
    );
    Ok(report::idle_markdown(&idle))
}
