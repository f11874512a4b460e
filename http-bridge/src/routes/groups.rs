//! Groups and their members.

use crate::error::{ApiError, Caller, ErrorJson};
use crate::extract::{unsigned, Auth, JsonBody, Path, Query};
use crate::links;
use crate::model::{Added, AdminChange, Group, GroupName, Login, MembersChange, NewGroup, Removed, UsersPage};
use crate::routes::users::LoginPage;
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

/// The caller's groups.
#[utoipa::path(get, path = "/v1/groups", tag = "groups",
    responses((status = 200, description = "The caller's groups", body = Vec<Group>)))]
pub async fn list(State(state): State<AppState>, auth: Auth) -> Result<Json<Vec<Group>>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let groups = state.pool.call(Caller::SignedIn, client.groups()).await?;
    Ok(Json(groups.into_iter().map(Into::into).collect()))
}

/// Creates a group; the caller is its admin.
#[utoipa::path(post, path = "/v1/groups", tag = "groups", request_body = NewGroup,
    responses(
        (status = 201, description = "The new group", body = Group),
        (status = 404, description = "`unknown_user`: some members do not exist", body = ErrorJson),
        (status = 409, description = "`group_exists`, or `quota_exceeded`: groups created per user or members per group", body = ErrorJson),
    ))]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(new): JsonBody<NewGroup>,
) -> Result<(StatusCode, Json<Group>), ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let group = state.pool.call(Caller::SignedIn, client.group_create(&new.name, &new.members)).await?;
    Ok((StatusCode::CREATED, Json(group.into())))
}

/// Deletes a group (admin only); its members' live streams end.
#[utoipa::path(delete, path = "/v1/groups/{group}", tag = "groups", params(("group" = GroupName, Path, description = "The group's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`not_member`, `not_admin` or `not_allowed` (`all`)", body = ErrorJson),
        (status = 404, description = "`no_such_group`", body = ErrorJson),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.group_delete(&group)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hands the group's administration to another member (admin only).
#[utoipa::path(put, path = "/v1/groups/{group}/admin", tag = "groups", request_body = AdminChange,
    params(("group" = GroupName, Path, description = "The group's name")),
    responses(
        (status = 200, description = "The group with its new admin", body = Group),
        (status = 403, description = "`not_member` (caller or target) or `not_admin`", body = ErrorJson),
        (status = 404, description = "`no_such_group` or `unknown_user`", body = ErrorJson),
    ))]
pub async fn admin(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
    JsonBody(change): JsonBody<AdminChange>,
) -> Result<Json<Group>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    Ok(Json(state.pool.call(Caller::SignedIn, client.group_admin(&group, &change.login)).await?.into()))
}

/// The group's members in login byte order, with presence.
#[utoipa::path(get, path = "/v1/groups/{group}/members", tag = "groups",
    params(("group" = GroupName, Path, description = "The group's name"), LoginPage),
    responses(
        (status = 200, description = "One page; `Link: rel=\"next\"` when more follow", body = UsersPage),
        (status = 403, description = "`not_member`", body = ErrorJson),
        (status = 404, description = "`no_such_group`", body = ErrorJson),
    ))]
pub async fn members(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
    Query(page): Query<LoginPage>,
) -> Result<(HeaderMap, Json<UsersPage>), ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let limit = unsigned("limit", page.limit)?;
    let members = state.pool.call(Caller::SignedIn, client.members(&group, page.after.as_deref(), limit)).await?;
    let path = format!("/v1/groups/{}/members", links::encode(&group));
    let link = page.next_link(&path, members.more, members.members.last().map(|u| u.login.as_str()));
    let users = members.members.into_iter().map(Into::into).collect();
    Ok((link, Json(UsersPage { users, more: members.more })))
}

/// Adds members (admin only).
#[utoipa::path(post, path = "/v1/groups/{group}/members", tag = "groups", request_body = MembersChange,
    params(("group" = GroupName, Path, description = "The group's name")),
    responses(
        (status = 200, description = "The logins that were not members before", body = Added),
        (status = 403, description = "`not_member`, `not_admin` or `not_allowed` (`all`)", body = ErrorJson),
        (status = 404, description = "`no_such_group` or `unknown_user` (with `logins`)", body = ErrorJson),
        (status = 409, description = "`quota_exceeded`: members per group", body = ErrorJson),
    ))]
pub async fn add(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
    JsonBody(change): JsonBody<MembersChange>,
) -> Result<Json<Added>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let added = state.pool.call(Caller::SignedIn, client.member_add(&group, &change.logins)).await?;
    Ok(Json(Added { added }))
}

/// Removes a member (admin only); their live streams of the group end.
#[utoipa::path(delete, path = "/v1/groups/{group}/members/{login}", tag = "groups",
    params(("group" = GroupName, Path, description = "The group's name"), ("login" = Login, Path, description = "The member")),
    responses(
        (status = 200, description = "The login, when it was a member", body = Removed),
        (status = 403, description = "`not_member`, `not_admin` or `not_allowed` (`all`)", body = ErrorJson),
        (status = 404, description = "`no_such_group` or `unknown_user`", body = ErrorJson),
        (status = 409, description = "`admin_cannot_leave`", body = ErrorJson),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path((group, login)): Path<(String, String)>,
) -> Result<Json<Removed>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let removed = state.pool.call(Caller::SignedIn, client.member_remove(&group, &[login])).await?;
    Ok(Json(Removed { removed }))
}

/// Leaves a group.
#[utoipa::path(post, path = "/v1/groups/{group}/leave", tag = "groups", params(("group" = GroupName, Path, description = "The group's name")),
    responses(
        (status = 204, description = "Left"),
        (status = 403, description = "`not_member` or `not_allowed` (`all`)", body = ErrorJson),
        (status = 404, description = "`no_such_group`", body = ErrorJson),
        (status = 409, description = "`admin_cannot_leave`", body = ErrorJson),
    ))]
pub async fn leave(
    State(state): State<AppState>,
    auth: Auth,
    Path(group): Path<String>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.leave(&group)).await?;
    Ok(StatusCode::NO_CONTENT)
}
