//! The soak: a mixed workload against one Joint broker for half an hour or more, sampling
//! the broker's resident memory and open file descriptors, to show that neither grows once
//! the broker has warmed up. `scripts/soak` starts PostgreSQL and the broker and calls the
//! `joint-soak` binary, which calls [`run`].

pub mod actors;
pub mod report;
pub mod samples;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::try_join_all;

use crate::peers::JointPeer;
use actors::{Counters, Load};
use samples::{Sample, Series};

/// What a soak run does and watches.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The broker's address.
    pub addr: String,
    /// The broker's pid, whose RSS and descriptors are sampled.
    pub broker_pid: u32,
    /// The whole run, warm-up included.
    pub duration: Duration,
    /// The first part of the run, not judged.
    pub warm_up: Duration,
    /// Time between two samples.
    pub interval: Duration,
    /// The mixed workload's size.
    pub load: Load,
}

/// Runs the mixed workload for `plan.duration`, sampling the broker every
/// `plan.interval`; returns the samples and what the workload counted. Progress goes to
/// stderr, one line per sample.
pub async fn run(plan: &Plan) -> Result<(Series, Counters)> {
    rlimit::increase_nofile_limit(u64::MAX)?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let tag = format!("soak{stamp}");
    let peer = Arc::new(JointPeer::connect(&plan.addr, &tag).await.context("the soak's account")?);
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let deadline = started + plan.duration;
    let actors = actors::start(&peer, &plan.load, &tag, deadline, &counters).await?;

    let mut series = Series::new(plan.warm_up);
    let mut next = started;
    // Actors run until the deadline: one that stopped before it failed, and ends the run.
    while next < deadline && !actors.iter().any(|actor| actor.is_finished()) {
        let sample = Sample::take(plan.broker_pid, started.elapsed(), &counters)?;
        eprintln!("joint-soak: {}", sample.progress_line());
        series.push(sample);
        next += plan.interval;
        tokio::time::sleep_until(next.min(deadline).into()).await;
    }
    for result in try_join_all(actors).await.context("an actor of the workload panicked")? {
        result.context("an actor of the workload failed")?;
    }
    Ok((series, Arc::into_inner(counters).context("every actor stopped")?))
}
