//! `presence` events, across brokers. The hub reports every user whose count of signed-in
//! connections here went between 0 and 1; this task records it in PostgreSQL
//! (`online_users`) and tells the other brokers in a presence note. A second after the last
//! such change, here or on another broker (the debounce), each broker checks whether the
//! user is signed in anywhere, compares that with what it last announced and, when it
//! differs, tells its connections subscribed to a group other than `all` that the user is a
//! member of. A user who comes and goes within the second is never announced, and a state
//! is announced only once it has held for the whole second.
//!
//! Every `--cluster-heartbeat-ms` the task refreshes this broker's row in `brokers` and
//! rewrites its users' rows (repairing a write that failed); rows of a broker unseen for
//! `--cluster-stale-ms` (killed) are ignored, and deleted by the next heartbeat anywhere,
//! whose users are then checked again like any change.

use crate::cluster::note::presence_payloads;
use crate::hub::Hub;
use crate::server::Ctx;
use crate::store::UserId;
use joint_wire::message::Event;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a change of a user's presence must last to be announced.
pub const DEBOUNCE: Duration = Duration::from_secs(1);

/// The users whose presence may have changed, as the hub reports them.
pub type Changes = mpsc::UnboundedReceiver<UserId>;

/// The users whose presence changed on other brokers, as their notes tell.
pub type ChangesElsewhere = mpsc::UnboundedReceiver<Vec<UserId>>;

/// Records and announces presence changes until `shutdown`, then leaves the cluster.
pub async fn announce(
    ctx: Arc<Ctx>,
    mut changes: Changes,
    mut elsewhere: ChangesElsewhere,
    shutdown: CancellationToken,
) {
    let stale = Duration::from_millis(ctx.settings.cluster_stale_ms);
    let mut heartbeat = tokio::time::interval(Duration::from_millis(ctx.settings.cluster_heartbeat_ms.max(10)));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Users announced online, with their logins (needed to announce them offline).
    let mut online: HashMap<UserId, String> = HashMap::new();
    // Users waiting out their debounce, with the deadline of their last change; a queued
    // deadline that is not the user's last is stale. One constant delay keeps `due` in order.
    let mut waiting: HashMap<UserId, Instant> = HashMap::new();
    let mut due: VecDeque<(Instant, UserId)> = VecDeque::new();
    loop {
        let next = due.front().map(|(at, _)| *at);
        tokio::select! {
            _ = shutdown.cancelled() => return leave(&ctx).await,
            change = changes.recv() => {
                let Some(user) = change else { return };
                let mut users = vec![user];
                while let Ok(more) = changes.try_recv() {
                    users.push(more);
                }
                record(&ctx, &users).await;
                wait(&mut waiting, &mut due, &users);
            }
            Some(users) = elsewhere.recv() => wait(&mut waiting, &mut due, &users),
            _ = heartbeat.tick() => match ctx.store.heartbeat(&ctx.hub.online_users(), stale).await {
                Ok((forgotten, joined)) => {
                    if joined {
                        // New to the others (or forgotten by them): they check our users again.
                        tell_brokers(&ctx, &ctx.hub.online_users()).await;
                    }
                    if !forgotten.is_empty() {
                        tracing::info!(users = forgotten.len(), "a broker unseen too long was forgotten");
                        tell_brokers(&ctx, &forgotten).await;
                        wait(&mut waiting, &mut due, &forgotten);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cluster heartbeat failed; will retry"),
            },
            _ = sleep_until(next), if next.is_some() => {
                let Some((at, user)) = due.pop_front() else { continue };
                if waiting.get(&user) != Some(&at) {
                    continue;
                }
                waiting.remove(&user);
                let event = match online_anywhere(&ctx, user, stale).await {
                    Err(()) => continue,
                    Ok(Some(login)) if !online.contains_key(&user) => {
                        online.insert(user, login.clone());
                        Event::Presence { login, online: true }
                    }
                    Ok(None) => match online.remove(&user) {
                        Some(login) => Event::Presence { login, online: false },
                        None => continue,
                    },
                    Ok(Some(_)) => continue,
                };
                tell_subscribers(&ctx, user, &event).await;
            }
        }
    }
}

/// Starts (or restarts) the debounce of each of `users`.
fn wait(waiting: &mut HashMap<UserId, Instant>, due: &mut VecDeque<(Instant, UserId)>, users: &[UserId]) {
    let at = Instant::now() + DEBOUNCE;
    for user in users {
        waiting.insert(*user, at);
        due.push_back((at, *user));
    }
}

/// The user's login if they are signed in here or on another live broker; `Err` when that
/// could not be read (logged; the state is checked again at the user's next change).
async fn online_anywhere(ctx: &Ctx, user: UserId, stale: Duration) -> Result<Option<String>, ()> {
    if let Some(login) = ctx.hub.login_if_online(user) {
        return Ok(Some(login));
    }
    let checked = async {
        if ctx.store.online_anywhere(&[user], stale).await?.is_empty() {
            return Ok(None);
        }
        ctx.store.login_of(user).await
    };
    checked.await.map_err(|err: crate::error::BrokerError| {
        tracing::warn!(error = %err, "presence not checked: the database did not answer");
    })
}

/// Records in PostgreSQL whether each of `users` is signed in here now, and tells the
/// other brokers they may have changed.
async fn record(ctx: &Ctx, users: &[UserId]) {
    let (online, offline): (Vec<UserId>, Vec<UserId>) = users.iter().partition(|user| ctx.hub.online(**user));
    if let Err(err) = ctx.store.set_online(&online, &offline).await {
        tracing::warn!(error = %err, "presence not recorded; the next heartbeat repairs it");
    }
    tell_brokers(ctx, users).await;
}

async fn tell_brokers(ctx: &Ctx, users: &[UserId]) {
    if let Err(err) = ctx.store.notify(&presence_payloads(ctx.store.broker_id(), users)).await {
        tracing::warn!(error = %err, "a presence change was not told to the other brokers");
    }
}

/// At shutdown: this broker's users no longer count as online anywhere, at once.
async fn leave(ctx: &Ctx) {
    match ctx.store.leave_cluster().await {
        Ok(users) => tell_brokers(ctx, &users).await,
        Err(err) => tracing::warn!(error = %err, "leaving the cluster failed; the stale bound applies"),
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Sends `event` about `user` to the other users' connections subscribed to a group
/// (other than `all`) that `user` is a member of.
async fn tell_subscribers(ctx: &Ctx, user: UserId, event: &Event) {
    let gids = match ctx.store.shared_group_ids(user).await {
        Ok(gids) => gids,
        Err(err) => {
            tracing::warn!(error = %err, "presence not announced: the user's groups could not be read");
            return;
        }
    };
    let outboxes = ctx.subscriptions.subscribers_of(&gids, user);
    Hub::send_to(&outboxes, event);
}
