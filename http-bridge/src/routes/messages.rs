//! Publishing, history, deleting messages and read markers.

use crate::error::{ApiError, Caller, ErrorJson};
use crate::extract::{unsigned, Auth, Body, JsonBody, Path, Query};
use crate::links;
use crate::model::{Cid, GroupName, HistoryPage, MessageText, NewMessage, Published, ReadMark, ReadState};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

/// The header whose value is the publish's cid, so a retried POST is stored once.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Longest cid, in characters (the broker's limit is 64 bytes; a cid here is ASCII).
const MAX_CID: usize = 64;

/// Publishes a message: JSON `{"body", "cid"}`, or any other body (e.g. `text/plain`, or
/// what `curl --data-binary @file` sends) taken as the message text itself.
#[utoipa::path(post, path = "/v1/groups/{group}/messages", tag = "messages",
    params(
        ("group" = GroupName, Path, description = "The group's name"),
        ("Idempotency-Key" = Option<Cid>, Header, description = "The cid (over the body's): a retry with the same key is stored once"),
    ),
    request_body(content(
        (NewMessage = "application/json"),
        (MessageText = "text/plain"),
    )),
    responses(
        (status = 201, description = "Committed", body = Published),
        (status = 403, description = "`not_member`", body = ErrorJson),
        (status = 429, description = "`rate_limited`: the user's publish rate (flood control); retry with the same Idempotency-Key after `Retry-After`", body = ErrorJson),
        (status = 404, description = "`no_such_group`", body = ErrorJson),
    ))]
pub async fn publish(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    let (text, cid) = if body.media_type == "application/json" {
        let message: NewMessage = body.json()?;
        (message.body, message.cid)
    } else {
        let text = String::from_utf8(body.bytes.to_vec())
            .map_err(|_| ApiError::invalid(Some("body"), "the message is not valid UTF-8"))?;
        (text, None)
    };
    let key = match headers.get(IDEMPOTENCY_KEY) {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::invalid(Some("cid"), "the Idempotency-Key header must be visible ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    for cid in [&key, &cid].into_iter().flatten() {
        let visible = cid.bytes().all(|b| b.is_ascii_graphic());
        if cid.is_empty() || cid.len() > MAX_CID || !visible {
            return Err(ApiError::invalid(Some("cid"), "the cid must be 1 to 64 visible ASCII characters"));
        }
    }
    // The header wins: it is what HTTP tooling sets for retries.
    let cid = key.or(cid);
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let published = match cid {
        Some(cid) => state.pool.call(Caller::SignedIn, client.publish_with_cid(&group, &text, &cid)).await?,
        None => state.pool.call(Caller::SignedIn, client.publish(&group, &text)).await?,
    };
    Ok((StatusCode::CREATED, Json(Published { seq: published.seq, at: published.at })))
}

/// Which page of history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only messages with a smaller seq (the newest of them).
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    pub before: Option<i64>,
    /// Only messages with a greater seq (the oldest of them); at most the group's last_seq.
    #[param(minimum = 0)]
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    pub after: Option<i64>,
    /// At most this many (default 50; above 1000 is clamped).
    #[param(minimum = 1)]
    #[serde(default, deserialize_with = "crate::extract::whole_number")]
    pub limit: Option<i64>,
}

/// One page of a group's messages, ascending seq; without `before` and `after`, the newest.
#[utoipa::path(get, path = "/v1/groups/{group}/messages", tag = "messages",
    params(("group" = GroupName, Path, description = "The group's name"), HistoryQuery),
    responses(
        (status = 200, description = "One page; `Link` has `rel=\"prev\"` (older) and `rel=\"next\"` (newer) when they exist", body = HistoryPage),
        (status = 403, description = "`not_member`", body = ErrorJson),
        (status = 404, description = "`no_such_group`", body = ErrorJson),
    ))]
pub async fn history(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<(HeaderMap, Json<HistoryPage>), ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let (before, after) = (unsigned("before", q.before)?, unsigned("after", q.after)?);
    let page_limit = unsigned("limit", q.limit)?;
    let page = state.pool.call(Caller::SignedIn, client.history(&group, None, before, after, page_limit)).await?;
    let path = format!("/v1/groups/{}/messages", links::encode(&group));
    let limit = q.limit.map(|l| l.to_string());
    let mut rels = Vec::new();
    if let (Some(first), Some(last)) = (page.messages.first(), page.messages.last()) {
        if first.seq > 1 {
            rels.push((
                "prev",
                format!("{path}{}", links::query(&[("before", Some(first.seq.to_string())), ("limit", limit.clone())])),
            ));
        }
        if last.seq < page.last_seq {
            rels.push((
                "next",
                format!("{path}{}", links::query(&[("after", Some(last.seq.to_string())), ("limit", limit)])),
            ));
        }
    }
    let json = HistoryPage {
        messages: page.messages.into_iter().map(Into::into).collect(),
        more: page.more,
        last_seq: page.last_seq,
    };
    Ok((links::header(&rels), Json(json)))
}

/// Deletes a message (its sender, the group's admin or an operator): it stays in history
/// as a tombstone (`deleted: true`, empty body) and streams get a `message_deleted` event.
#[utoipa::path(delete, path = "/v1/groups/{group}/messages/{seq}", tag = "messages",
    params(
        ("group" = GroupName, Path, description = "The group's name"),
        ("seq" = i64, Path, minimum = 0, description = "The message's seq"),
    ),
    responses(
        (status = 204, description = "Deleted (also when it already was)"),
        (status = 400, description = "`invalid_argument`: no message has this seq (`field: seq`)", body = ErrorJson),
        (status = 403, description = "`not_member`, or `not_allowed`: neither the sender, the admin nor an operator", body = ErrorJson),
        (status = 404, description = "`no_such_group`", body = ErrorJson),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path((group, seq)): Path<(String, u64)>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.message_delete(&group, seq)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the caller's read marker forward.
#[utoipa::path(post, path = "/v1/groups/{group}/read", tag = "messages", request_body = ReadMark,
    params(("group" = GroupName, Path, description = "The group's name")),
    responses(
        (status = 200, description = "The marker after the call", body = ReadState),
        (status = 403, description = "`not_member`", body = ErrorJson),
        (status = 404, description = "`no_such_group`", body = ErrorJson),
    ))]
pub async fn read(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
    JsonBody(mark): JsonBody<ReadMark>,
) -> Result<Json<ReadState>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let seq = unsigned("seq", mark.seq)?.unwrap_or_default();
    let read_seq = state.pool.call(Caller::SignedIn, client.mark_read(&group, seq)).await?;
    Ok(Json(ReadState { read_seq }))
}
