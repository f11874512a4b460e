//! Operator endpoints under `/v1/admin`: create, disable and enable accounts (CONTRACT.md §12).

use crate::error::{ApiError, Caller, ErrorJson};
use crate::extract::{Auth, JsonBody, Path};
use crate::model::{Login, Registration, User};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// Creates an account for someone (operators only); the caller stays signed in as themself.
#[utoipa::path(post, path = "/v1/admin/users", tag = "admin", request_body = Registration,
    responses(
        (status = 201, description = "Account created; its owner signs in with `/v1/login`", body = User),
        (status = 403, description = "`not_allowed`: the caller is not an operator", body = ErrorJson),
        (status = 409, description = "`login_taken`", body = ErrorJson),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(r): JsonBody<Registration>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    let user = state.pool.call(Caller::SignedIn, client.user_create(&r.login, &r.name, &r.password)).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Disables an account (operators only): its sessions end and it cannot sign in.
#[utoipa::path(post, path = "/v1/admin/users/{login}/disable", tag = "admin",
    params(("login" = Login, Path, description = "The account")),
    responses(
        (status = 204, description = "Disabled (also when it already was)"),
        (status = 403, description = "`not_allowed`: the caller is not an operator", body = ErrorJson),
        (status = 404, description = "`unknown_user`", body = ErrorJson),
    ))]
pub async fn disable(
    State(state): State<AppState>,
    auth: Auth,
    Path(login): Path<String>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.user_disable(&login)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enables a disabled account again (operators only); its old tokens stay dead.
#[utoipa::path(post, path = "/v1/admin/users/{login}/enable", tag = "admin",
    params(("login" = Login, Path, description = "The account")),
    responses(
        (status = 204, description = "Enabled (also when it already was)"),
        (status = 403, description = "`not_allowed`: the caller is not an operator", body = ErrorJson),
        (status = 404, description = "`unknown_user`", body = ErrorJson),
    ))]
pub async fn enable(
    State(state): State<AppState>,
    auth: Auth,
    Path(login): Path<String>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.user_enable(&login)).await?;
    Ok(StatusCode::NO_CONTENT)
}
