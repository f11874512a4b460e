//! One run: a fresh set of groups under load, one fault injected, then the checker.

use crate::args::Fault;
use crate::checker::{check, Anomalies, Stored};
use crate::lab::Lab;
use crate::load::Load;
use crate::proxy::Mode;
use anyhow::{bail, Result};
use joint_bench::payload::Stamp;
use joint_wire::Client;
use std::time::{Duration, Instant};

/// Times a fault is repeated within one run (`client-cut`, `pg-terminate`).
const REPEATS: u32 = 3;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The fault injected.
    pub fault: Fault,
    /// Acknowledged publishes.
    pub acks: u64,
    /// Deliveries to subscribers.
    pub deliveries: u64,
    /// Publishes abandoned unacknowledged at the end (outcome unknown; not an anomaly).
    pub abandoned: u64,
    /// What the checker found.
    pub anomalies: Anomalies,
    /// From the fault's end until the first ack after it; `None` when none came.
    pub recovery: Option<Duration>,
    /// For `subscriber-freeze`: the other subscribers' deliveries per second before the
    /// freeze and during it.
    pub freeze_rates: Option<(f64, f64)>,
    /// `lagged` events the subscribers got.
    pub lagged: u64,
    /// What the fault did, in a few words.
    pub injected: String,
}

/// What [`inject`] did.
struct Injected {
    note: String,
    freeze_rates: Option<(f64, f64)>,
}

/// Injects `fault` into the running lab; returns when it has ended.
async fn inject(lab: &mut Lab, fault: Fault, run: u32, load: &Load) -> Result<Injected> {
    let mut freeze_rates = None;
    let note = match fault {
        Fault::None => "nothing".to_owned(),
        Fault::BrokerKill => {
            lab.brokers[0].kill().await?;
            lab.brokers[0].restart().await?;
            "broker SIGKILLed and restarted".to_owned()
        }
        Fault::BrokerKillOne => {
            let count = lab.brokers.len();
            if count < 2 {
                bail!("broker-kill-one needs several brokers (--brokers 2 or more)");
            }
            // Started again after the load has gone on without it (`run_once`).
            let victim = (lab.rng.next_u64() % count as u64) as usize;
            lab.kill_one(victim).await?;
            format!("broker {victim} of {count} SIGKILLed, started again {} ms later", lab.args.after_ms)
        }
        Fault::PgRestartFast | Fault::PgRestartImmediate => {
            let mode = if fault == Fault::PgRestartFast { "fast" } else { "immediate" };
            let pg = &lab.pg;
            tokio::task::block_in_place(|| pg.stop(mode).and_then(|()| pg.start()))?;
            format!("PostgreSQL stopped -m {mode} and started")
        }
        Fault::PgUnreachable => {
            let mode = if run % 2 == 1 { Mode::Blackhole } else { Mode::Refuse };
            lab.pg_proxy.set_mode(mode);
            tokio::time::sleep(Duration::from_millis(lab.args.outage_ms)).await;
            lab.pg_proxy.set_mode(Mode::Forward);
            format!("PostgreSQL {mode:?} for {} ms", lab.args.outage_ms)
        }
        Fault::ClientCut => {
            let mut cut = Vec::new();
            for _ in 0..REPEATS {
                let rng = &mut lab.rng;
                let mut cuts = 0;
                for proxy in &lab.client_proxies {
                    cuts += proxy.cut_all(|| (rng.next_u64() % 512) as i64, Duration::from_secs(1));
                }
                cut.push(cuts);
                tokio::time::sleep(Duration::from_millis(1_200)).await;
            }
            format!("client connections cut mid-stream: {cut:?}")
        }
        Fault::PgTerminate => {
            let mut killed = Vec::new();
            for _ in 0..REPEATS {
                killed.push(lab.terminate_broker_backends().await?);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if killed.contains(&0) {
                bail!("pg_terminate_backend found no connection of the broker: {killed:?}");
            }
            format!("broker backends terminated: {killed:?}")
        }
        Fault::SubscriberFreeze => {
            let pause = Duration::from_millis(lab.args.freeze_ms);
            let start = Instant::now();
            let before = load.others_rate(start - Duration::from_millis(lab.args.warmup_ms), start);
            // The proxy stops forwarding to it: its socket's bytes back up to the broker.
            lab.victim_proxy.set_mode(Mode::Blackhole);
            tokio::time::sleep(pause).await;
            lab.victim_proxy.set_mode(Mode::Forward);
            freeze_rates = Some((before, load.others_rate(start, Instant::now())));
            format!("one subscriber read nothing for {} ms", lab.args.freeze_ms)
        }
    };
    Ok(Injected { note, freeze_rates })
}

/// The group's whole history, paged through the broker.
async fn history(client: &Client, group: &str, deadline: Instant) -> Result<Vec<Stored>> {
    let mut stored = Vec::new();
    loop {
        let after = stored.last().map_or(0, |s: &Stored| s.seq);
        match client.history(group, None, None, Some(after), Some(1000)).await {
            Ok(page) => {
                stored.extend(page.messages.iter().map(|m| Stored {
                    seq: m.seq,
                    key: Stamp::decode(m.body.as_bytes()).map(|s| (s.publisher, s.seq)),
                }));
                if !page.more {
                    return Ok(stored);
                }
            }
            // The broker may still be recovering: ask again.
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(err) => bail!("reading the history of {group}: {err}"),
        }
    }
}

/// One run of `fault`: groups, load, warm-up, fault, recovery, drain, check.
pub async fn run_once(lab: &mut Lab, fault: Fault, run: u32) -> Result<RunResult> {
    let groups = lab.new_groups(fault, run).await?;
    let mut load = Load::start(&lab.client_addrs(), &lab.victim_addrs(), &lab.token, &groups, lab.shape());
    let settle = Duration::from_millis(lab.args.settle_ms);
    let started = Instant::now();
    while load.acks() == 0 {
        if started.elapsed() > settle {
            bail!("no publish was acknowledged within {settle:?} of the start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(lab.args.warmup_ms)).await;
    let injected = inject(lab, fault, run, &load).await?;
    let ended = Instant::now();
    let mut recovery = None;
    while ended.elapsed() < settle {
        // With one broker of several killed, the others' publishers never stopped: what
        // counts is when the killed one's publishers, having moved, were acknowledged again.
        let recovered = match fault {
            Fault::BrokerKillOne => load.every_publisher_acked_since(ended),
            _ => load.first_ack_since(ended),
        };
        if let Some(first) = recovered {
            recovery = Some(first - ended);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(lab.args.after_ms)).await;
    lab.restart_killed().await?;
    let abandoned = load.stop_publishing(settle).await as u64;
    let deadline = Instant::now() + settle;
    let client = lab.direct_client().await?;
    let mut histories = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let stored = history(&client, group, deadline).await?;
        let last_seq = stored.last().map_or(0, |s| s.seq);
        while !load.caught_up(g, last_seq) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        histories.push(stored);
    }
    let records = load.finish().await;
    let mut anomalies = Anomalies::default();
    let (mut acks, mut deliveries, mut lagged) = (0, 0, 0);
    for (record, stored) in records.iter().zip(&histories) {
        anomalies += check(record, stored);
        lagged += record.lagged;
        acks += record.acks.len() as u64;
        deliveries += record.streams.iter().map(|s| s.len() as u64).sum::<u64>();
    }
    Ok(RunResult {
        fault,
        acks,
        deliveries,
        abandoned,
        anomalies,
        recovery,
        freeze_rates: injected.freeze_rates,
        lagged,
        injected: injected.note,
    })
}
