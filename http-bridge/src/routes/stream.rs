//! `GET /v1/groups/{group}/stream`: a group's messages as Server-Sent Events.
//!
//! Each stream signs in a broker connection of its own and subscribes on it, so two
//! streams of one group under one token both get everything. The wire client resumes the
//! subscription by itself after a broker restart, or on the next broker of `--broker` when
//! its own goes away, after the last seq it handed on: the HTTP client sees no gap, no
//! duplicate and no change of `id`s (seqs are the group's, the same on every broker). After
//! a bridge restart the HTTP client resumes with `Last-Event-ID: GID:SEQ`.

use crate::error::{ApiError, Caller, ErrorJson};
use crate::extract::{unsigned, Auth, Path, Query};
use crate::model::{GroupName, Message, MessageDeleted};
use crate::pool::StreamSlot;
use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use joint_wire::message::RemovedReason;
use joint_wire::{Client, ClientEvent, Event, Events};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;

/// Where a new stream starts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Deliver the stored messages after this seq first (0 = the whole history); without
    /// it, only new messages. `Last-Event-ID` wins over it.
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    pub after: Option<i64>,
}

/// Live messages of a group: one `message` event each (`id: GID:SEQ`, data: the message
/// as JSON, a tombstone with `deleted: true`), a `message_deleted` event (data `{group, gid,
/// seq}`, no id) when a message already sent is deleted, keep-alive comments, and a final
/// `end` event (`{"reason": ...}`) when the group is deleted, the caller leaves or is
/// removed, or the session ends.
#[utoipa::path(get, path = "/v1/groups/{group}/stream", tag = "messages",
    params(
        ("group" = GroupName, Path, description = "The group's name"),
        ("Last-Event-ID" = Option<String>, Header, description = "`GID:SEQ` of the last event received: resume after it"),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 403, description = "`not_member`", body = ErrorJson),
        (status = 404, description = "`no_such_group` (also when `Last-Event-ID` names a deleted group's gid)", body = ErrorJson),
        (status = 409, description = "`quota_exceeded`: subscriptions per broker connection", body = ErrorJson),
        (status = 503, description = "`too_many_connections`: the token's streams are at their cap; or `unavailable`", body = ErrorJson),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let (gid, after) = match headers.get("last-event-id") {
        Some(value) => {
            let (gid, seq) = value.to_str().ok().and_then(parse_event_id).ok_or_else(|| {
                ApiError::invalid(Some("Last-Event-ID"), "Last-Event-ID must be GID:SEQ, as sent in `id:`")
            })?;
            (Some(gid), Some(seq))
        }
        None => (None, unsigned("after", q.after)?),
    };
    let slot = state.pool.stream_slot(&auth.token)?;
    let (client, events) = state.pool.open(&auth.token, auth.ip).await?;
    let subscribed = state.pool.call(Caller::SignedIn, client.subscribe(&group, gid, after)).await?;
    tracing::debug!(gid = subscribed.gid, "stream opened");
    let feed = Feed { _client: client, events, gid: subscribed.gid, _slot: slot, shutdown: state.shutdown.clone() };
    let events = futures::stream::unfold(Some(feed), |feed| async move {
        let mut feed = feed?;
        let (event, last) = feed.next().await?;
        Some((Ok(event), (!last).then_some(feed)))
    });
    let keep_alive = KeepAlive::new().interval(Duration::from_millis(state.settings.keep_alive_ms));
    Ok(Sse::new(events).keep_alive(keep_alive))
}

/// `GID:SEQ` of an event id.
fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (gid, seq) = id.trim().split_once(':')?;
    Some((gid.parse().ok()?, seq.parse().ok()?))
}

/// One stream's broker connection and subscription.
struct Feed {
    /// Kept so the connection lives as long as the stream.
    _client: Client,
    events: Events,
    gid: u64,
    /// Kept so the token's stream count drops when the stream does.
    _slot: StreamSlot,
    shutdown: CancellationToken,
}

impl Feed {
    /// The next SSE event and whether it is the last; `None` ends the stream without an
    /// `end` event (the bridge is stopping or the connection is gone: the client resumes).
    async fn next(&mut self) -> Option<(SseEvent, bool)> {
        loop {
            let event = tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                event = self.events.next() => event?,
            };
            let reason = match event {
                ClientEvent::Event(Event::Message(m)) if m.gid == self.gid => return Some((message(m), false)),
                ClientEvent::Event(Event::MessageDeleted { group, gid, seq }) if gid == self.gid => {
                    return Some((deleted(MessageDeleted { group, gid, seq }), false))
                }
                ClientEvent::Event(Event::GroupDeleted { gid, .. }) if gid == self.gid => "deleted",
                ClientEvent::Event(Event::GroupRemoved { gid, reason, .. }) if gid == self.gid => match reason {
                    RemovedReason::Removed => "removed",
                    RemovedReason::Left => "left",
                },
                ClientEvent::SubscriptionLost { gid, error, .. } if gid == self.gid => error.code.as_str(),
                ClientEvent::Event(Event::SessionEnded { .. })
                | ClientEvent::Reconnected { authenticated: false, .. } => "session_ended",
                _ => continue,
            };
            let data = serde_json::json!({ "reason": reason }).to_string();
            return Some((SseEvent::default().event("end").data(data), true));
        }
    }
}

/// A `message` event: `id: GID:SEQ`, the message as JSON.
fn message(m: joint_wire::message::Message) -> SseEvent {
    let id = format!("{}:{}", m.gid, m.seq);
    let json = serde_json::to_string(&Message::from(m)).unwrap_or_default();
    SseEvent::default().event("message").id(id).data(json)
}

/// A `message_deleted` event, without an id: resuming replays the tombstone itself.
fn deleted(d: MessageDeleted) -> SseEvent {
    SseEvent::default().event("message_deleted").data(serde_json::to_string(&d).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::parse_event_id;

    #[test]
    fn event_ids_are_gid_colon_seq() {
        assert_eq!(parse_event_id("7:42"), Some((7, 42)));
        assert_eq!(parse_event_id(" 7:0 "), Some((7, 0)));
        assert_eq!(parse_event_id("7"), None);
        assert_eq!(parse_event_id("7:-1"), None);
        assert_eq!(parse_event_id("a:1"), None);
    }
}
