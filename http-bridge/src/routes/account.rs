//! Accounts and sessions: register, login, logout, `/v1/me`.

use crate::error::{ApiError, Caller, ErrorJson};
use crate::extract::{Auth, JsonBody, Peer};
use crate::model::{AccountDeletion, Credentials, NameChange, PasswordChange, Registration, Session, User};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use joint_wire::message::SessionOk;

/// The JSON of a new session; the broker always sends a token for register and login.
fn session_json(session: &SessionOk) -> Result<Session, ApiError> {
    let token = session.token.clone().ok_or_else(|| ApiError::internal(&"the broker sent no session token"))?;
    Ok(Session {
        token,
        user: session.user.clone().into(),
        groups: session.groups.iter().cloned().map(Into::into).collect(),
    })
}

/// Creates an account and signs it in.
#[utoipa::path(post, path = "/v1/register", tag = "account", request_body = Registration, security(()),
    responses(
        (status = 201, description = "Account created; use the token", body = Session),
        (status = 403, description = "`not_allowed`: registration is closed; or `account_disabled`: the login is a disabled account's", body = ErrorJson),
        (status = 409, description = "`login_taken`", body = ErrorJson),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Peer(ip): Peer,
    JsonBody(r): JsonBody<Registration>,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let (client, events) = state.pool.connect(ip).await?;
    let session = state.pool.call(Caller::SigningIn, client.register(&r.login, &r.name, &r.password)).await?;
    let json = session_json(&session)?;
    state.pool.adopt_session(&session, ip, client, events);
    Ok((StatusCode::CREATED, Json(json)))
}

/// Signs in with a password and returns a new session token.
#[utoipa::path(post, path = "/v1/login", tag = "account", request_body = Credentials, security(()),
    responses(
        (status = 200, description = "Signed in; use the token", body = Session),
        (status = 403, description = "`account_disabled`: an operator disabled the account", body = ErrorJson),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Peer(ip): Peer,
    JsonBody(c): JsonBody<Credentials>,
) -> Result<Json<Session>, ApiError> {
    let (client, events) = state.pool.connect(ip).await?;
    let session = state.pool.call(Caller::SigningIn, client.login(&c.login, &c.password)).await?;
    let json = session_json(&session)?;
    state.pool.adopt_session(&session, ip, client, events);
    Ok(Json(json))
}

/// Ends the session: the token stops working everywhere.
#[utoipa::path(post, path = "/v1/logout", tag = "account", responses((status = 204, description = "Signed out")))]
pub async fn logout(State(state): State<AppState>, auth: Auth) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.logout()).await?;
    state.pool.forget_token(&auth.token);
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/v1/me", tag = "account", responses((status = 200, description = "The account", body = User)))]
pub async fn me(State(state): State<AppState>, auth: Auth) -> Result<Json<User>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    Ok(Json(state.pool.call(Caller::SignedIn, client.me()).await?.into()))
}

/// Changes the display name.
#[utoipa::path(patch, path = "/v1/me", tag = "account", request_body = NameChange,
    responses((status = 200, description = "The account with its new name", body = User)))]
pub async fn set_name(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(change): JsonBody<NameChange>,
) -> Result<Json<User>, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    Ok(Json(state.pool.call(Caller::SignedIn, client.set_name(&change.name)).await?.into()))
}

/// Changes the password; the account's other sessions end, this one goes on.
#[utoipa::path(post, path = "/v1/me/password", tag = "account", request_body = PasswordChange,
    responses(
        (status = 204, description = "Password changed"),
        (status = 403, description = "`bad_credentials`: the old password is wrong", body = ErrorJson),
    ))]
pub async fn passwd(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(change): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.passwd(&change.old, &change.new)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the account; its login is retired, its messages stay.
#[utoipa::path(delete, path = "/v1/me", tag = "account", request_body = AccountDeletion,
    responses(
        (status = 204, description = "Account deleted"),
        (status = 403, description = "`bad_credentials`: the password is wrong", body = ErrorJson),
    ))]
pub async fn delete_me(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(deletion): JsonBody<AccountDeletion>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.shared(&auth.token, auth.ip).await?;
    state.pool.call(Caller::SignedIn, client.delete_account(&deletion.password)).await?;
    state.pool.forget_token(&auth.token);
    Ok(StatusCode::NO_CONTENT)
}
