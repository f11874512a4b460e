//! The HTTP routes, one module per area, and the router that joins them.

pub mod account;
pub mod admin;
pub mod groups;
pub mod messages;
pub mod stream;
pub mod users;

use crate::error::{ApiError, Caller, ErrorJson};
use crate::extract::Peer;
use crate::model::Health;
use crate::AppState;
use axum::extract::State;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};

/// Every route of the bridge.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/register", post(account::register))
        .route("/v1/login", post(account::login))
        .route("/v1/logout", post(account::logout))
        .route("/v1/me", get(account::me).patch(account::set_name).delete(account::delete_me))
        .route("/v1/me/password", post(account::passwd))
        .route("/v1/users", get(users::list))
        .route("/v1/users/{login}", get(users::one))
        .route("/v1/groups", get(groups::list).post(groups::create))
        .route("/v1/groups/{group}", delete(groups::delete))
        .route("/v1/groups/{group}/admin", put(groups::admin))
        .route("/v1/groups/{group}/members", get(groups::members).post(groups::add))
        .route("/v1/groups/{group}/members/{login}", delete(groups::remove))
        .route("/v1/groups/{group}/leave", post(groups::leave))
        .route("/v1/groups/{group}/messages", get(messages::history).post(messages::publish))
        .route("/v1/groups/{group}/messages/{seq}", delete(messages::delete))
        .route("/v1/groups/{group}/read", post(messages::read))
        .route("/v1/groups/{group}/stream", get(stream::stream))
        .route("/v1/admin/users", post(admin::create_user))
        .route("/v1/admin/users/{login}/disable", post(admin::disable))
        .route("/v1/admin/users/{login}/enable", post(admin::enable))
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .with_state(state)
}

/// Whether the bridge is up and reaches a broker (an anonymous connection's `ping`).
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses(
        (status = 200, description = "The bridge reaches a broker", body = Health),
        (status = 500, description = "`internal`", body = ErrorJson),
        (status = 503, description = "`unavailable`: no broker answers", body = ErrorJson),
    ))]
pub async fn health(State(state): State<AppState>, Peer(ip): Peer) -> Result<Json<Health>, ApiError> {
    let (client, _events) = state.pool.connect(ip).await?;
    state.pool.call(Caller::SignedIn, client.ping()).await?;
    Ok(Json(Health { status: "ok".into() }))
}

/// The OpenAPI 3 document of this API.
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}
