//! What this broker does with the other brokers' notes: their messages reach its own
//! subscribers, read from PostgreSQL once per range and encoded once.

use super::note::Range;
use crate::error::BrokerError;
use crate::server::Ctx;
use crate::subscriptions::{catch_up, CatchUp, Outgoing};

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

/// Reads the `last_seq` of every group with subscribers here (one query, under their
/// gates) and sends the subscriptions behind it to storage: what a lost note would
/// otherwise have held back.
pub(super) async fn check(ctx: &Ctx) -> Result<(), BrokerError> {
    let gids = ctx.subscriptions.gids();
    if gids.is_empty() {
        return Ok(());
    }
    let _gates = ctx.store.gate(gids.iter().copied()).await;
    for (gid, last_seq) in ctx.store.last_seqs_of(&gids).await? {
        spawn_catch_ups(ctx, ctx.subscriptions.catch_up_to(gid, last_seq));
    }
    Ok(())
}

fn spawn_catch_ups(ctx: &Ctx, subs: Vec<CatchUp>) {
    for sub in subs {
        tokio::spawn(catch_up(ctx.store.clone(), ctx.subscriptions.clone(), sub));
    }
}
