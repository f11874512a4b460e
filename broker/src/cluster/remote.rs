//! What this broker does with the other brokers' notes: their messages reach its own
//! subscribers, read from PostgreSQL once per range and encoded once.

use super::note::{Events, Range};
use crate::connection;
use crate::error::BrokerError;
use crate::ops::Effect;
use crate::server::Ctx;
use crate::store::{GroupChange, UserId};
use crate::subscriptions::{catch_up, CatchUp, Outgoing};
use crate::token::TokenHash;
use joint_wire::message::{EndReason, Event, RemovedReason};
use std::collections::HashMap;

/// The most messages read from PostgreSQL at a time for one range.
const READ: i64 = 500;

/// Fans out the messages of `ranges` to this broker's subscribers. Each group's gate is
/// held meanwhile, so that a local batch committed before the remote one goes out first
/// (its ack before its echo, and commit order kept). Groups without subscribers here cost
/// nothing.
pub(super) async fn messages(ctx: &Ctx, ranges: &[Range]) {
    for range in ranges {
        if ctx.subscriptions.fan_out_position(range.gid).is_none() {
            continue;
        }
        let _gate = ctx.store.gate([range.gid]).await;
        if let Err(err) = fan_out_to(ctx, range.gid, range.last).await {
            tracing::warn!(error = %err, gid = range.gid, "remote messages not read; catching up from storage");
            // Seqs up to `last` are committed, and no unacknowledged local one among them
            // while the gate is held: safe to send the subscribers to storage.
            spawn_catch_ups(ctx, ctx.subscriptions.catch_up_to(range.gid, range.last));
        }
    }
}

/// Carries out another broker's change here: first the messages of its groups up to the
/// change (under the groups' gates, so that no local change or message of those groups
/// interleaves), then its effects, through the very function that applies local ones.
pub(super) async fn events(ctx: &Ctx, events: Events) {
    let _gates = ctx.store.gate(events.groups.iter().map(|(gid, _)| *gid)).await;
    for (gid, last_seq) in events.groups {
        if let Err(err) = fan_out_to(ctx, gid, last_seq).await {
            tracing::warn!(error = %err, gid, "messages before a remote change not read; catching up from storage");
            spawn_catch_ups(ctx, ctx.subscriptions.catch_up_to(gid, last_seq));
        }
    }
    connection::apply(ctx, None, events.effects.into_iter().map(Effect::from));
}

/// Fans out a group's messages from the last seq its fan-out has seen up to `last`, read
/// from PostgreSQL. Call with the group's gate held.
pub(super) async fn fan_out_to(ctx: &Ctx, gid: i64, last: i64) -> Result<(), BrokerError> {
    loop {
        let Some((name, seen)) = ctx.subscriptions.fan_out_position(gid) else { return Ok(()) };
        if seen >= last {
            return Ok(());
        }
        let messages = ctx.store.messages_from(gid, &name, seen + 1, (last - seen).min(READ)).await?;
        if messages.is_empty() {
            return Ok(());
        }
        let outgoing: Vec<Outgoing> = messages.into_iter().map(Outgoing::new).collect();
        ctx.metrics.remote_messages.inc_by(outgoing.len() as u64);
        spawn_catch_ups(ctx, ctx.subscriptions.fan_out(gid, &outgoing));
    }
}

/// Reads the `last_seq` of every group with subscribers here (one query) and sends the
/// subscriptions behind it to storage: what a lost note would otherwise have held back.
/// Only a group found behind has its gate taken, and only after the read: a local batch
/// committed before the read holds its gate until its acks and messages are out, so the
/// catch-up never overtakes an ack, and the groups that are up to date never wait.
pub(super) async fn check(ctx: &Ctx) -> Result<(), BrokerError> {
    let gids = ctx.subscriptions.gids();
    if gids.is_empty() {
        return Ok(());
    }
    for (gid, last_seq) in ctx.store.last_seqs_of(&gids).await? {
        if ctx.subscriptions.fan_out_position(gid).is_some_and(|(_, seen)| seen < last_seq) {
            let _gate = ctx.store.gate([gid]).await;
            spawn_catch_ups(ctx, ctx.subscriptions.catch_up_to(gid, last_seq));
        }
    }
    Ok(())
}

/// Brings this broker back in line after a time it could not hear the others (its
/// listening connection was new or lost): their notes of that time are gone, so sessions
/// that died elsewhere are ended here, and subscriptions whose membership or group is gone
/// are dropped, each told as a local change would tell it. Messages are [`check`]'s part.
pub(super) async fn resync(ctx: &Ctx) -> Result<(), BrokerError> {
    let dead = ctx.store.dead_tokens(&ctx.hub.tokens_in_use()).await?;
    let mut effects = Vec::new();
    for reason in [EndReason::Logout, EndReason::AccountDeleted, EndReason::Disabled] {
        let tokens: Vec<TokenHash> = dead.iter().filter(|(_, r)| *r == reason).map(|(token, _)| *token).collect();
        if !tokens.is_empty() {
            effects.push(Effect::EndSessions { tokens, reason });
        }
    }
    let names: HashMap<(UserId, i64), String> =
        ctx.subscriptions.subscribers().into_iter().map(|(user, gid, name)| ((user, gid), name)).collect();
    let pairs: Vec<(UserId, i64)> = names.keys().copied().collect();
    for (user, gid, deleted_at_seq) in ctx.store.lost_memberships(&pairs).await? {
        let Some(group) = names.get(&(user, gid)).cloned() else { continue };
        let event = match deleted_at_seq {
            Some(last_seq) => Event::GroupDeleted { group, gid: gid as u64, last_seq: last_seq as u64 },
            None => Event::GroupRemoved { group, gid: gid as u64, reason: RemovedReason::Removed },
        };
        effects.push(Effect::Notify(GroupChange { to: vec![user], event }));
    }
    if !effects.is_empty() {
        tracing::info!(
            changes = effects.len(),
            "applied what the other brokers changed while this one could not hear them"
        );
    }
    connection::apply(ctx, None, effects);
    Ok(())
}

fn spawn_catch_ups(ctx: &Ctx, subs: Vec<CatchUp>) {
    for sub in subs {
        tokio::spawn(catch_up(ctx.store.clone(), ctx.subscriptions.clone(), sub));
    }
}
