//! `joint-bench`: the same workloads against Joint, Mosquitto and NATS JetStream, side by
//! side. Each message carries its publisher, sequence and send time, so every subscriber
//! checks for lost, duplicated and reordered deliveries and measures end-to-end latency;
//! CPU seconds come from `/proc`. `scripts/bench` starts the brokers and calls this.

pub mod args;
pub mod checker;
pub mod latency;
pub mod metrics;
pub mod payload;
pub mod peers;
pub mod plot;
pub mod procstat;
pub mod report;
pub mod workloads;

use anyhow::{bail, Result};

use args::Args;
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
        let watched =
            Watched { broker: args.joint_pid, postgres: args.postgres_pid, metrics: args.joint_metrics.clone() };
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
    if args.workloads.contains(&args::WorkloadKind::Idle) && (args.joint.is_none() || args.joint_pid.is_none()) {
        bail!("the idle workload measures the Joint broker's memory: give --joint and --joint-pid");
    }
    if peers.is_empty() {
        bail!("no peer to benchmark: give --joint, --mosquitto or --nats");
    }

    let mut series = Vec::new();
    let mut idle_section = String::new();
    for (w, &workload) in args.workloads.iter().enumerate() {
        let Some(shape) = workload.shape(args.scale) else {
            idle_section = run_idle(&args, &peers, &format!("b{stamp}w{w}")).await?;
            continue;
        };
        let first = series.len();
        for (peer, _) in &peers {
            series.push(Series { workload, shape, peer: peer.name(), rounds: Vec::new() });
        }
        for round in 0..args.rounds {
            for (p, (peer, watched)) in peers.iter().enumerate() {
                eprintln!(
                    "joint-bench: {} round {}/{} on {} ...",
                    workload.title(),
                    round + 1,
                    args.rounds,
                    peer.name()
                );
                let tag = format!("b{stamp}w{w}r{round}p{p}");
                let result = fanout::round(peer, watched, shape, &tag).await?;
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
                series[first + p].rounds.push(result);
            }
        }
    }
    let plots = match &args.plots {
        Some(dir) => report::plots(&series, dir)?,
        None => String::new(),
    };
    std::fs::write(&args.out, report::markdown(&series) + &plots + &idle_section)?;
    eprintln!("joint-bench: wrote {}", args.out.display());
    let bad: Vec<String> = series
        .iter()
        .filter(|s| {
            let v = s.verdict();
            v.lost + v.duplicated + v.reordered + v.foreign > 0
        })
        .map(|s| format!("{} on {}: {:?}", s.workload.title(), s.peer, s.verdict()))
        .collect();
    if !bad.is_empty() {
        bail!("deliveries went wrong: {}", bad.join("; "));
    }
    Ok(())
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
    eprintln!("joint-bench: {} on Joint: {} connections ...", args::WorkloadKind::Idle.title(), args.idle_connections);
    let idle = workloads::idle::run(joint, broker, args.idle_connections, tag).await?;
    eprintln!(
        "joint-bench:   {:.2} KiB of broker RSS per connection, {:.2} KiB for one more",
        idle.bytes_per_connection() / 1024.0,
        idle.marginal_bytes_per_connection() / 1024.0
    );
    Ok(report::idle_markdown(&idle))
}
