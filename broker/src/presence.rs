//! `presence` events. The hub reports every user whose count of signed-in connections
//! went between 0 and 1; a second after the last such change (the debounce) this task
//! compares the user's state with what it last announced and, when it differs, tells the
//! connections subscribed to a group other than `all` that the user is a member of. A user
//! who comes and goes within the second is never announced, and a state is announced only
//! once it has held for the whole second.

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

/// Announces presence changes until `shutdown`.
pub async fn announce(ctx: Arc<Ctx>, mut changes: Changes, shutdown: CancellationToken) {
    // Users announced online, with their logins (needed to announce them offline).
    let mut online: HashMap<UserId, String> = HashMap::new();
    // Users waiting out their debounce, with the deadline of their last change; a queued
    // deadline that is not the user's last is stale. One constant delay keeps `due` in order.
    let mut waiting: HashMap<UserId, Instant> = HashMap::new();
    let mut due: VecDeque<(Instant, UserId)> = VecDeque::new();
    loop {
        let next = due.front().map(|(at, _)| *at);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            change = changes.recv() => {
                let Some(user) = change else { return };
                let at = Instant::now() + DEBOUNCE;
                waiting.insert(user, at);
                due.push_back((at, user));
            }
            _ = sleep_until(next), if next.is_some() => {
                let Some((at, user)) = due.pop_front() else { continue };
                if waiting.get(&user) != Some(&at) {
                    continue;
                }
                waiting.remove(&user);
                let event = match ctx.hub.login_if_online(user) {
                    Some(login) if !online.contains_key(&user) => {
                        online.insert(user, login.clone());
                        Event::Presence { login, online: true }
                    }
                    None => match online.remove(&user) {
                        Some(login) => Event::Presence { login, online: false },
                        None => continue,
                    },
                    Some(_) => continue,
                };
                tell_subscribers(&ctx, user, &event).await;
            }
        }
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
