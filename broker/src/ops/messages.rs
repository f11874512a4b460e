//! publish, history and mark_read.

use super::{Effect, Outcome, Reply};
use crate::connection::outbox::Outbox;
use crate::error::BrokerError;
use crate::hub::Session;
use crate::names;
use crate::paging::{self, bigint};
use crate::server::Ctx;
use crate::store::{NewMessage, PageSource};
use joint_wire::message::{encode_ok, invalid, Event, HistoryOk, MarkReadOk, Message, SubscribeOk};
use joint_wire::{ErrorBody, ErrorCode};
use std::sync::Arc;

/// Longest cid, in bytes.
const MAX_CID_BYTES: usize = 64;

/// The requesting connection's outbox (open while its request is being carried out).
fn own_outbox(ctx: &Ctx, conn: u64) -> Result<Arc<Outbox>, BrokerError> {
    ctx.hub.outbox(conn).ok_or_else(|| BrokerError::Internal(anyhow::anyhow!("no outbox for {conn}")))
}

/// `publish`: validates a message and hands it to the committer, which answers with its
/// seq and `at` once it is committed; the connection reads on meanwhile.
pub async fn publish(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    conn: u64,
    group: String,
    body: String,
    cid: Option<String>,
) -> Result<Outcome, BrokerError> {
    let group = names::group_name("group", &group)?;
    check_message(&body, cid.as_deref(), ctx.settings.max_body)?;
    // Flood control ranks after the argument checks and before no_such_group, which the
    // committer decides: a refused publish never reaches it, so retrying it with the same
    // cid after `retry_after_ms` stores it once.
    ctx.publish_rate.take(me.account.id).await?.map_err(|wait| {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        ErrorBody::new(ErrorCode::RateLimited, "too many messages; wait before publishing again")
            .with_retry_after_ms(ms)
    })?;
    let outbox = own_outbox(ctx, conn)?;
    let promised = outbox.promise_reply(reply.id());
    ctx.committer.publish(NewMessage { group, sender: me.account.id, cid, body }, promised).await;
    Ok(Outcome::promised())
}

/// Checks a message to publish: a body of 1 to `max_body` bytes without U+0000, and a cid,
/// when given, of 1 to 64 bytes without U+0000.
pub fn check_message(body: &str, cid: Option<&str>, max_body: usize) -> Result<(), ErrorBody> {
    if body.is_empty() {
        return Err(invalid("body", "must not be empty"));
    }
    if body.contains('\0') {
        return Err(invalid("body", "must not contain U+0000"));
    }
    if body.len() > max_body {
        let msg = format!("the body is longer than the limit of {max_body} bytes");
        return Err(ErrorBody::new(ErrorCode::BodyTooLarge, msg).with_field("body"));
    }
    if let Some(cid) = cid {
        if cid.is_empty() || cid.len() > MAX_CID_BYTES {
            return Err(invalid("cid", "must be 1 to 64 bytes long"));
        }
        if cid.contains('\0') {
            return Err(invalid("cid", "must not contain U+0000"));
        }
    }
    Ok(())
}

/// `subscribe`: registers the subscription, answers, then feeds it from `after` + 1 on.
pub async fn subscribe(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    conn: u64,
    group: String,
    gid: Option<u64>,
    after: Option<u64>,
) -> Result<Outcome, BrokerError> {
    let group = names::group_name("group", &group)?;
    let outbox = own_outbox(ctx, conn)?;
    let (gid, last_seq) = ctx.store.subscription_start(me.account.id, &group, gid.map(bigint)).await?;
    if after.is_some_and(|after| after > last_seq as u64) {
        return Err(invalid("after", "is beyond the group's last_seq").into());
    }
    let quota = ctx.settings.max_subscriptions_per_connection as usize;
    if quota > 0 && ctx.subscriptions.count_other(conn, &group) >= quota {
        let msg = format!("the limit of {quota} subscriptions per connection is reached");
        return Err(BrokerError::refused(ErrorCode::QuotaExceeded, msg));
    }
    let next_seq = after.map_or(last_seq, bigint) + 1;
    // Registered first, checked again after: a removal that committed in between either
    // is seen by the check below or drops this subscription when its events go out.
    let sub = ctx.subscriptions.subscribe(gid, &group, conn, me.account.id, outbox, next_seq, last_seq);
    if let Err(err) = ctx.store.subscription_start(me.account.id, &group, Some(gid)).await {
        ctx.subscriptions.cancel(sub);
        return Err(err);
    }
    // Likewise a session that ended meanwhile: its subscriptions were dropped before this one.
    if ctx.hub.session(conn).map(|s| s.token) != Some(me.token) {
        ctx.subscriptions.cancel(sub);
        return Err(BrokerError::refused(ErrorCode::Unauthenticated, "the session ended"));
    }
    let ok = SubscribeOk { gid: gid as u64, last_seq: last_seq as u64 };
    Ok(reply.with(&ok, vec![Effect::CatchUp(sub)]))
}

/// `unsubscribe`: no `message` of the group follows the reply.
pub fn unsubscribe(ctx: &Ctx, reply: Reply, conn: u64, group: String) -> Result<Outcome, BrokerError> {
    let group = names::group_name("group", &group)?;
    ctx.subscriptions.unsubscribe(conn, &group);
    Ok(reply.ok(&joint_wire::message::Empty {}))
}

/// `history`: one page of messages, as many whole ones as fit in `max_frame`.
pub async fn history(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    group: String,
    gid: Option<u64>,
    window: (Option<u64>, Option<u64>, Option<u64>),
) -> Result<Outcome, BrokerError> {
    let (before, after, limit) = window;
    let group = names::group_name("group", &group)?;
    let window = paging::history_window(before, after, limit)?;
    let page = ctx.store.history(me.account.id, &group, gid.map(bigint), window).await?;
    match page.source {
        PageSource::Primary => ctx.metrics.history_primary.inc(),
        PageSource::Standby => ctx.metrics.history_standby.inc(),
    };
    Ok(fit_page(reply, ctx.settings.max_frame, page.messages, page.more, page.last_seq, after.is_some()))
}

/// Encodes a history page, dropping messages until it fits in `max_frame` (at least one
/// stays): the newest when the page was asked with `after`, the oldest otherwise, so that
/// paging on (`after` = last seq, or `before` = first seq) continues where it stopped.
fn fit_page(
    reply: Reply,
    max_frame: usize,
    mut messages: Vec<Message>,
    more: bool,
    last_seq: u64,
    keep_oldest: bool,
) -> Outcome {
    let mut more = more;
    loop {
        let body = HistoryOk { messages, more, last_seq };
        let encoded = encode_ok(reply.id(), &body);
        if encoded.len() <= max_frame || body.messages.len() <= 1 {
            return Outcome { reply: Some(encoded), effects: Vec::new(), order: None };
        }
        messages = body.messages;
        let keep = (messages.len() * max_frame / encoded.len()).clamp(1, messages.len() - 1);
        if keep_oldest {
            messages.truncate(keep);
        } else {
            messages.drain(..messages.len() - keep);
        }
        more = true;
    }
}

/// `mark_read`: moves the caller's read marker forward; the user's other connections get
/// `read` when it moved.
pub async fn mark_read(
    ctx: &Ctx,
    reply: Reply,
    me: &Session,
    conn: u64,
    group: String,
    seq: u64,
) -> Result<Outcome, BrokerError> {
    let group = names::group_name("group", &group)?;
    let marker = ctx.store.mark_read(me.account.id, &group, bigint(seq)).await?;
    let read_seq = marker.read_seq as u64;
    let effects = if marker.moved {
        let event = Event::Read { group, gid: marker.gid as u64, read_seq };
        vec![Effect::NotifyOtherConnections { user: me.account.id, except: conn, event }]
    } else {
        Vec::new()
    };
    super::announce(ctx, &effects).await;
    Ok(reply.with(&MarkReadOk { read_seq }, effects))
}
